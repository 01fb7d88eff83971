"""Deterministic interaction, written the way a user writes tests: no sleeps, no waits of their own.

Each test crosses a seam where control passes between the shell and a program (an interrupt, a
REPL's exit(), quitting a full-screen program) and goes on at once; the library must know when
the terminal is ready.  Every test runs over both transports (the ``orch`` fixture).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch.errors import TmuxorchError, UsageError, WaitTimeoutError

PYTHON = sys.executable


# --- the seams ----------------------------------------------------------------------------------


def test_interrupting_cat_then_running_a_command(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.send("cat")
    pane.send("-5")
    pane.wait_for("-5")
    pane.send_keys("C-c")
    result = pane.run("echo back")
    assert (result.exit_code, result.output) == (0, "back\n")


def test_c_c_right_after_starting_a_program_reaches_it(orch: Orchestrator) -> None:
    pane = orch.worker(1)
    pane.send("sleep 100")
    pane.send_keys("C-c")  # sleep may not have the terminal yet: the library waits until it has
    result = pane.run("echo x")
    assert result.output == "x\n"
    assert pane.current_command == "bash"


def test_a_command_sent_while_the_shell_comes_back_to_its_prompt_gets_the_c_c(
    orch: Orchestrator, tmp_path: Path
) -> None:
    # A slow prompt hook (1.5 s of the shell's own code) widens the moment between a command's end
    # and the next prompt, when the shell reads nothing: typed then, the line would wait as
    # typeahead, and the C-c meant for its program would reach the shell and throw the line away.
    pane = orch.worker(0)
    pane.run("PROMPT_COMMAND+='; t=${EPOCHREALTIME/./}; while ((${EPOCHREALTIME/./} - t < 1500000)); do :; done'")
    started = tmp_path / "started"
    pane.run("echo a")
    pane.send(f": > {started}; sleep 100")  # the shell itself makes the file, then starts sleep
    pane.send_keys("C-c")
    assert pane.wait_prompt() == 130
    assert started.exists()
    assert pane.run("echo x").output == "x\n"


def test_c_c_at_the_prompt_then_a_command(orch: Orchestrator) -> None:
    pane = orch.worker(1)
    for _ in range(100):  # a C-c that lands while bash draws its prompt ate the next key, about 1 in 500
        pane.send_keys("C-c")  # the shell itself handles it, and draws a new prompt
        assert pane.run("echo x").output == "x\n"


def test_interrupt_returns_the_interrupted_status(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.send("sleep 100; echo never")
    assert pane.interrupt() == 130
    assert pane.run("echo $?").output == "130\n"
    assert not re.search(r"^never$", pane.capture(), re.M)


def test_a_repl_exit_then_a_command(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.send(f"{PYTHON} -q")
    pane.wait_for(">>> ")
    pane.send("6 * 7")
    assert pane.wait_for(re.compile(r"^\d+$", re.M)) == "42"
    pane.send("exit()")
    assert pane.run("echo after the repl").output == "after the repl\n"


def test_send_after_a_repl_exit_reaches_the_shell(orch: Orchestrator, tmp_path: Path) -> None:
    pane = orch.worker(1)
    pane.send(f"{PYTHON} -q")
    pane.wait_for(">>> ")
    pane.send("exit()")
    pane.wait_prompt()
    pane.send(f"echo reached > {tmp_path / 'out'}")
    pane.wait_prompt()
    assert (tmp_path / "out").read_text() == "reached\n"


# A line editor that is slow to take in a line, as Python 3.13's REPL is (pure Python, redrawing
# after every key: about 20 ms of computing per key): the terminal is in cbreak mode (no echo,
# keys one by one, C-c still a signal) and the program echoes what it has read.  The work a line
# starts waits for the C-c that interrupts it.
SLOW_EDITOR = r"""
import os, signal, sys, termios, time, tty
fd = sys.stdin.fileno()
saved = termios.tcgetattr(fd)
tty.setcbreak(fd)
try:
    while True:
        sys.stdout.write("edit> "); sys.stdout.flush()
        line = ""
        try:
            while True:
                key = os.read(fd, 1).decode()
                redrawn = time.monotonic() + 0.02
                while time.monotonic() < redrawn:
                    pass
                if key in "\r\n":
                    sys.stdout.write("\r\n"); sys.stdout.flush()
                    break
                line += key; sys.stdout.write(key); sys.stdout.flush()
        except KeyboardInterrupt:
            sys.stdout.write("\r\nINTERRUPTED WHILE EDITING\r\n"); continue
        if line == "quit":
            break
        try:
            signal.pause()
        except KeyboardInterrupt:
            sys.stdout.write(f"{line} interrupted\r\n")
finally:
    termios.tcsetattr(fd, termios.TCSADRAIN, saved)
"""


def test_c_c_after_a_line_reaches_its_work_not_a_slow_line_editor(orch: Orchestrator, tmp_path: Path) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(SLOW_EDITOR)
    pane = orch.worker(0)
    pane.send(f"{PYTHON} {editor}")
    pane.wait_for("edit> ")
    for word in ("work", "more-work"):
        pane.send(word)
        pane.send_keys("C-c")  # meant for the work the line starts, not for the editor still reading it
        assert pane.wait_for(re.compile(r"\w[\w-]* interrupted|INTERRUPTED WHILE EDITING")) == f"{word} interrupted"
    pane.send("quit")
    assert pane.run("echo back").output == "back\n"


def test_quitting_a_full_screen_program_then_a_command(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.send("seq 1 1000 | less")
    pane.wait_command("less")
    pane.wait_for(re.compile(r"^:$", re.M), where="screen")  # less's prompt: it has drawn its page
    pane.send_keys("q")
    assert pane.run("echo out of less").output == "out of less\n"


def test_vim_gets_keystrokes_for_its_commands(orch: Orchestrator, tmp_path: Path) -> None:
    pane = orch.worker(1)
    target = tmp_path / "notes.txt"
    pane.send(f"vim -u NONE -N {target}")
    pane.wait_for(str(target.name), where="screen")  # vim drew its screen: it reads keys now
    pane.type("iwritten by keystrokes", enter=False)
    pane.send_keys("Escape")
    pane.type(":wq")
    assert pane.wait_prompt() == 0
    assert target.read_text() == "written by keystrokes\n"


# --- waits that cannot be fooled ------------------------------------------------------------------


def test_wait_for_is_not_satisfied_by_the_echo_of_the_typed_line(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.send("read -r word; echo got-$word")  # the echo contains "got-" but the output has none yet
    with pytest.raises(WaitTimeoutError):
        pane.wait_for("got-", timeout=0.5)
    pane.send("it")
    assert pane.wait_for(re.compile(r"got-\w+")) == "got-it"


def test_wait_for_is_not_satisfied_by_old_screen_text(orch: Orchestrator) -> None:
    pane = orch.worker(1)
    pane.run("echo OLD-TEXT")
    pane.send("cat")
    with pytest.raises(WaitTimeoutError):
        pane.wait_for("OLD-TEXT", timeout=0.3)
    assert pane.wait_for("OLD-TEXT", where="screen") == "OLD-TEXT"  # the whole screen has it
    pane.send_keys("C-d")
    pane.wait_prompt()


def test_wait_for_after_a_flood(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.send("yes FLOOD | head -100000 | tail -3")
    assert pane.wait_for(re.compile(r"(FLOOD\n){3}")) == "FLOOD\n" * 3
    pane.wait_prompt()


def test_where_is_checked(orch: Orchestrator) -> None:
    with pytest.raises(UsageError, match="invalid where 'everywhere'"):
        orch.worker(0).wait_for("x", where="everywhere")


# --- run() from the integration -------------------------------------------------------------------


def test_run_keeps_the_exit_status_for_the_next_command(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    assert pane.run("false").exit_code == 1
    assert pane.run("echo $?").output == "1\n"


def test_run_says_how_long_the_command_took(orch: Orchestrator) -> None:
    result = orch.worker(1).run("sleep 0.3")
    if orch.settings.transport == "control":
        assert result.duration is not None and 0.2 < result.duration < 5  # as the marks arrived: a little jitter
    else:
        assert result.duration is None  # the scrollback has no times


def test_run_output_is_raw_and_whole_over_the_stream(settings: Settings) -> None:
    with Orchestrator(settings.replace(history_limit=100, workers=1)) as orch:
        pane = orch.worker(0)
        if settings.transport == "control":
            result = pane.run("seq 1 5000; printf 'a\\tb\\n'")
            assert result.output == "".join(f"{n}\n" for n in range(1, 5001)) + "a\tb\n"
        else:
            with pytest.raises(TmuxorchError, match=r"outgrew history_limit \(100 lines\)"):
                pane.run("seq 1 5000")


def test_run_waits_for_a_running_program_and_says_who_holds_the_terminal(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.send("cat")
    with pytest.raises(WaitTimeoutError, match="'cat' holds the terminal"):
        pane.run("echo never typed", timeout=0.5)
    pane.send_keys("C-d")
    assert pane.run("echo typed now").output == "typed now\n"


def test_wait_command_and_current_command(orch: Orchestrator) -> None:
    pane = orch.worker(1)
    assert pane.current_command == "bash"
    pane.send("sleep 100")
    pane.wait_command("sleep")
    assert pane.current_command == "sleep"
    pane.interrupt()
    with pytest.raises(WaitTimeoutError, match="'vim' was not in the foreground"):
        pane.wait_command("vim", timeout=0.2)


def test_wait_stable_for_a_full_screen_program(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.send("seq 1 1000 | less")
    screen = pane.wait_stable()
    assert screen.splitlines()[0] == "1" and screen.rstrip().endswith(":")
    pane.send_keys("q")
    pane.wait_prompt()


# --- the sh integration, and panes without one ------------------------------------------------------


def test_sh_integration(settings: Settings) -> None:
    with Orchestrator(settings.replace(shell="sh", workers=1)) as orch:
        pane = orch.worker(0)
        assert pane.run("echo in sh; false").exit_code == 1
        assert pane.run("echo $?").output == "1\n"
        pane.send("sleep 100")
        assert pane.interrupt() == 130
        assert pane.run("printf 'a\\nb'").output == "a\nb"


def test_a_pane_without_integration_falls_back(settings: Settings) -> None:
    shell = "env PS1='plain$ ' sh -i"  # any command: no integration
    with Orchestrator(settings.replace(shell=shell, workers=1)) as orch:
        pane = orch.worker(0)
        assert not pane.integrated
        result = pane.run("echo fallback; false")
        assert (result.exit_code, result.output) == (1, "fallback\n")
        assert pane.run("echo $?").output == "1\n"  # markers around the command keep $?
        pane.send("echo plain-text")  # may be typed before sh drew its prompt: the output can follow it
        assert pane.wait_for(re.compile(r"plain-text$", re.M)) == "plain-text"
        with pytest.raises(UsageError, match="needs the shell integration"):
            pane.wait_prompt()
        assert pane.interrupt() is None
