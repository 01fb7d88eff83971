"""What a pane's terminal is doing, and what was last typed into it: the ground for every wait.

A shell with the package's integration (the ``bash`` and ``sh`` presets) sets the pane title to
``tmuxorch;<prompts drawn>;<last exit status>`` when it draws its prompt, and (bash) to
``tmuxorch;run`` when a command starts; its output stream carries the OSC 133 marks.  The kernel
tells who holds the terminal: field ``tpgid`` of ``/proc/<shell pid>/stat`` is the foreground
process group, the shell's own pid when the shell reads its prompt, a job's while one runs.

:func:`look` reads both in one tmux call; :class:`Typed` remembers the last input sent through
the library to each pane (where its output starts, and what it was), kept on the :class:`Tmux`
so that every handle on the pane shares it.
"""

from __future__ import annotations

from typing import NamedTuple

from ._proc import pid_alive, proc_stat
from .tmux import Tmux

TITLE = "tmuxorch;"
_FORMAT = "#{pane_pid}\t#{pane_dead}\t#{history_size}\t#{cursor_y}\t#{pane_current_command}\t#{pane_title}"


class Look(NamedTuple):
    """One look at a pane."""

    prompt: int | None  # the number of the prompt the integrated shell shows; None while not at it
    status: int | None  # with ``prompt``: the exit status of the command before it
    running: bool  # the integration says a command runs
    job: bool  # a process group other than the shell's holds the terminal
    dead: bool
    command: str  # the foreground program's name, as tmux sees it
    line: int  # absolute line of the cursor (history lines above it + its row)
    shell_pid: int


def look(tmux: Tmux, pane_id: str) -> Look:
    """Read the pane's state: one tmux call and one ``/proc`` read."""
    pid, dead, history, row, command, title = tmux.run("display-message", "-p", "-t", pane_id, _FORMAT)[0].split("\t", 5)
    shell_pid = int(pid or 0)
    prompt = status = None
    running = False
    if title.startswith(TITLE):
        fields = title[len(TITLE):].split(";")
        if fields == ["run"]:
            running = True
        elif len(fields) == 2 and fields[0].isdigit() and fields[1].lstrip("-").isdigit():
            prompt, status = int(fields[0]), int(fields[1])
    return Look(prompt, status, running, foreground_job(shell_pid), dead == "1", command,
                int(history or 0) + int(row or 0), shell_pid)


def foreground_job(shell_pid: int) -> bool:
    """True when a live process group other than the shell's is in the foreground of its terminal."""
    fields = proc_stat(shell_pid) if shell_pid else None
    if fields is None or len(fields) < 6:
        return False
    foreground = int(fields[5])
    return foreground > 0 and foreground != shell_pid and pid_alive(foreground)


class Typed(NamedTuple):
    """The last input the library sent to a pane."""

    kind: str  # "command" (a line typed at the shell's prompt), "line" (a line typed into a
    # program), "text" (typed without Enter), "keys" (key names)
    anchor: int  # where output after it starts: a stream offset (control) or an absolute line
    prompt: int | None  # the prompt the shell showed when it was sent (None: not at a prompt)
    lines: int  # lines its echo takes on the screen
    signal: bool  # it holds a key that the terminal turns into a signal (C-c, C-\, C-z)
    when: float  # time.monotonic() when it was sent


def last_typed(tmux: Tmux, pane_id: str) -> Typed | None:
    """The last input the library sent to ``pane_id`` through this server connection."""
    typed = tmux.last_input.get(pane_id)
    return typed if isinstance(typed, Typed) else None


def remember(tmux: Tmux, pane_id: str, typed: Typed) -> None:
    tmux.last_input[pane_id] = typed
