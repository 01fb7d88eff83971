"""Drive interactive programs in a pane: type a line, wait for the answer, repeat.

`pane.send(text)` types text literally and presses Enter; `pane.send_keys("C-d")` sends key
names; `pane.wait_for(pattern)` waits until the pane prints the pattern after what you typed (or
raises a TimeoutError that shows the screen); `pane.wait_prompt()` waits until the shell is back
and returns the program's exit status.  No sleeps, and no waiting for the shell's prompt by hand.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

TODO = Path(__file__).with_name("todo.py")
PYTHON = shlex.quote(sys.executable)


@pytest.fixture
def todo(tmuxorch):
    """The to-do program running in worker 0, at its first prompt."""
    pane = tmuxorch.worker(0)
    pane.send(f"{PYTHON} {shlex.quote(str(TODO))}")
    pane.wait_for(re.compile(r"^todo> $", re.MULTILINE))
    return pane


@pytest.mark.tmuxorch(workers=1)
def test_add_complete_and_list(todo):
    todo.send("add buy milk")
    todo.wait_for("added #1")
    todo.send("add write tests; run them")  # typed literally: the ';' reaches the program
    todo.wait_for("added #2")
    todo.send("done 1")
    todo.wait_for("done #1")
    todo.send("list")
    screen = todo.wait_for(re.compile(r"1\. \[x\] buy milk\n2\. \[ \] write tests; run them\n2 item\(s\)"))
    assert "write tests; run them" in screen

    todo.send("frobnicate")
    todo.wait_for("error: cannot 'frobnicate'")
    todo.send("quit")
    todo.wait_for("bye")
    assert todo.wait_prompt() == 0  # back at the shell: its exit status


@pytest.mark.tmuxorch(workers=1)
def test_end_of_input_with_ctrl_d(todo):
    todo.send_keys("C-d")
    todo.wait_for("bye (end of input)")
    assert todo.run("echo still here").output == "still here\n"  # run() waits for the shell itself


@pytest.mark.tmuxorch(workers=1)
def test_python_repl(tmuxorch):
    repl = tmuxorch.worker(0)
    repl.send(f"PYTHON_BASIC_REPL=1 {PYTHON} -q")
    repl.wait_for(re.compile(r"^>>> $", re.MULTILINE))
    repl.send("sum(n * n for n in range(10))")
    repl.wait_for(re.compile(r"^285$", re.MULTILINE))
    repl.send("def greet(name):")
    repl.wait_for("... ")
    repl.send("    return f'hello {name}'")
    repl.send("")
    repl.send("greet('tmux')")
    repl.wait_for("'hello tmux'")
    repl.send("exit()")
    assert repl.run("echo back in the shell").output == "back in the shell\n"  # typed at the shell's prompt
