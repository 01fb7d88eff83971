"""What a pane's terminal is doing, and what was last typed into it: the ground for every wait.

A shell with the package's integration (the ``bash`` and ``sh`` presets) sets the pane title to
``tmuxorch;<prompts drawn>;<last exit status>`` as it draws its prompt, and (bash) to
``tmuxorch;run`` when a command starts and ``tmuxorch;end`` when it ended (until the prompt is
drawn: the user's prompt hooks run between); its output carries the OSC 133 marks (see streams.py).
The kernel tells who holds the terminal: field ``tpgid`` of ``/proc/<shell pid>/stat`` is the
foreground process group, the shell's own pid while it reads its prompt, a job's while one runs.

:func:`look` reads both (one tmux command, one ``/proc`` read).  :class:`Typed` is the last input
the library sent to a pane: where its output starts and what state it left the terminal in; it is
kept on the :class:`~pytest_tmuxorch.tmux.Tmux`, so every handle on the pane shares it.

The rules that make input safe, found by driving real programs thousands of times (see
ARCHITECTURE.md); :func:`~pytest_tmuxorch.inputs.settle` applies them before any input goes out:

* After a command line, the next input waits until the shell has left its line editor
  (:func:`left_readline`): a paste before that is still bracketed for the editor, and the
  command would read the bracket markers with it.
* A key that the terminal turns into a signal (C-c) waits until the command's program holds the
  terminal and runs its own code (:func:`program_started`): sent earlier, it reaches the shell,
  or the child the shell forked while it still runs the shell's code, and is lost.
* A signal key after a line typed into a program waits until the program has read that line and
  gone on to the work it starts (:func:`line_taken`): a line editor that is slow to read a line
  (Python 3.13's REPL) would take the key as an interrupt of the editing instead.
* A signal key for the shell at its prompt waits until the shell sleeps in its read
  (:func:`shell_reading`): sent while readline still draws the prompt, bash handles it only at
  the next key, which is lost.
* After such a key, the next input waits until the signal was handled (:func:`signal_handled`):
  a dying program still reads a line typed before it is gone.
* After a command line, while no job holds the terminal and the shell is not at a prompt, the
  next input waits for one or the other (:func:`between_commands`): the shell is forking, or
  back from the command but not yet reading (its prompt hooks run, for as long as they take); a
  line typed then would reach it as typeahead, taken for input to a program, and a signal key
  would reach the shell's line editor.
* ``run`` types only at a prompt the shell drew after the last input (:func:`new_prompt`).
"""

from __future__ import annotations

import time

from ._proc import foreground_group, group_members, pid_alive, read_proc
from ._record import record

TYPE_CHECKING = False  # typing costs the console script's start-up (run-one types through here)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NamedTuple

    from .tmux import Tmux
    from .transport import Command

TITLE = "tmuxorch;"
# A command may run this long without taking the terminal before input goes to it anyway: a shell
# builtin reading input (``read x``) never hands the terminal to anyone.
BUILTIN_GRACE = 1.0
# How long input waits for the terminal to show that it handled a signal key, at most: a program
# that ignores the signal in silence shows nothing.
SIGNAL_GRACE = 1.0
_FIELDS = "#{pane_pid}\t#{pane_dead}\t#{history_size}\t#{cursor_y}\t#{cursor_x}\t#{pane_title}"


if TYPE_CHECKING:
    class _Look(NamedTuple):
        prompt: int | None  # the number of the prompt the integrated shell shows (None: not at one)
        status: int | None  # with ``prompt``: the exit status of the command before it
        running: bool  # the integration says a command runs
        ended: bool  # the integration says a command ended and the prompt is not drawn yet
        job: bool  # a process group other than the shell's holds the terminal
        dead: bool
        history: int  # lines of history above the screen
        row: int  # the cursor's row and column on the screen
        column: int
        shell_pid: int  # the pane's first process: the shell

    class _Typed(NamedTuple):
        kind: str  # "command": a line typed at the shell's prompt; "line": a line typed into a
        # program; "text": typed without Enter; "keys": key names
        anchor: int  # where output after it starts: a stream offset (control) or an absolute line
        before: Look  # the pane as it was just before
        lines: int  # lines its echo takes on the screen
        signal: bool  # a key the terminal turns into a signal (C-c, C-\, C-z), not yet seen handled
        when: float  # time.monotonic() when it was sent
        starting: float | None = None  # when a command line was typed whose program has not yet
        # been seen running (or ended): this input's, or an earlier one's
        shell: bool = False  # a command line typed at the shell's prompt (kept once it settles)
        answered_at: int = 0  # the control client's event number when tmux answered it (0: no
        # client): output after it may be missing when the stream says so (PaneStream.missing)
else:
    _Look = record("_Look", "prompt status running ended job dead history row column shell_pid")
    _Typed = record("_Typed", "kind anchor before lines signal when starting shell answered_at",
                    defaults=(None, False, 0))


class Look(_Look):
    """One look at a pane."""

    __slots__ = ()

    @property
    def at_prompt(self) -> bool:
        return self.prompt is not None and not self.job and not self.dead

    @property
    def line(self) -> int:
        """The cursor's absolute line: counted from the top of the history."""
        return self.history + self.row


def look_command(pane_id: str) -> Command:
    """The tmux command whose output :func:`parse_look` reads (to put in a chain)."""
    return ["display-message", "-p", "-t", pane_id, _FIELDS]


def parse_look(output: list[str], job: bool | None = None) -> Look:
    """The :class:`Look` that :func:`look_command` printed; ``job``: who held the terminal then,
    when the caller read it before (``/proc`` is read now otherwise)."""
    parts = (output[0] if output else "").split("\t", 5)
    pid, dead, history, row, column, title = parts + [""] * (6 - len(parts))
    shell_pid = int(pid) if pid.isdigit() else 0
    return Look(*title_state(title), foreground_job(shell_pid) if job is None else job, dead == "1",
                _number(history), _number(row), _number(column), shell_pid)


def title_state(title: str) -> tuple[int | None, int | None, bool, bool]:
    """(prompt, status, running, ended) from the pane title the integration sets."""
    if title.startswith(TITLE):
        fields = title[len(TITLE):].split(";")
        if fields in (["run"], ["end"]):
            return None, None, fields == ["run"], fields == ["end"]
        if len(fields) == 2 and fields[0].isdigit() and fields[1].lstrip("-").isdigit():
            return int(fields[0]), int(fields[1]), False, False
    return None, None, False, False


def look_from_title(title: str, job: bool, shell_pid: int) -> Look:
    """A look built from the title the control client's stream shows (no tmux call; the
    cursor's place is not known: zeros)."""
    return Look(*title_state(title), job, False, 0, 0, 0, shell_pid)


def _number(text: str) -> int:
    return int(text) if text.isdigit() else 0


def look(tmux: Tmux, pane_id: str) -> Look:
    """Read the pane's state."""
    return parse_look(tmux.run(*look_command(pane_id)))


def foreground_job(shell_pid: int) -> bool:
    """True when a job holds the shell's terminal: a process group other than the shell's is in
    the foreground, and runs a program of its own.  A child the shell forked takes the terminal
    *before* it executes the command; until then it runs the shell's code (same command line),
    and a signal key would reach the shell's handlers instead of the command."""
    group = foreground_group(shell_pid) if shell_pid else 0
    if group <= 0 or group == shell_pid:
        return False
    members = [group] if pid_alive(group) else group_members(group)
    return bool(members) and read_proc(members[0], "cmdline") != read_proc(shell_pid, "cmdline")


class Typed(_Typed):
    """The last input the library sent to a pane."""

    __slots__ = ()


class Pending:
    """Input written to a pane whose answer from tmux may not be read yet (see
    :meth:`~pytest_tmuxorch.tmux.Tmux.post`).  :meth:`typed` waits for the answer and makes the
    :class:`Typed` with ``finish(*facts)``; it raises what the answer raised."""

    __slots__ = ("_facts", "_finish", "_typed", "answered")

    def __init__(self, answered: Callable[[], bool], finish: Callable[..., Typed], facts: tuple[Any, ...]) -> None:
        self.answered = answered
        self._finish = finish
        self._facts = facts
        self._typed: Typed | None = None

    def typed(self, tmux: Tmux, pane_id: str) -> Typed:
        if self._typed is None:
            try:
                self._typed = self._finish(*self._facts)
            except Exception:  # the input failed: told once, then forgotten (an interrupt keeps it)
                if tmux.last_input.get(pane_id) is self:
                    tmux.last_input.pop(pane_id, None)
                raise
            if tmux.last_input.get(pane_id) is self:
                tmux.last_input[pane_id] = self._typed
        return self._typed


def last_typed(tmux: Tmux, pane_id: str, now: Look | None = None) -> Typed | None:
    """The last input the library sent to ``pane_id`` through this server connection; None when
    ``now`` shows another shell in the pane (respawned: what was typed went to a shell now gone).
    Waits for the answer to input still on its way (:class:`Pending`) and raises its error."""
    typed = tmux.last_input.get(pane_id)
    if isinstance(typed, Pending):
        typed = typed.typed(tmux, pane_id)
    if not isinstance(typed, Typed) or (now is not None and now.shell_pid != typed.before.shell_pid):
        return None
    return typed


def remember(tmux: Tmux, pane_id: str, typed: Typed | Pending) -> None:
    tmux.last_input[pane_id] = typed


def left_readline(typed: Typed, now: Look, marks: str | None) -> bool:
    """Has the shell taken the command line ``typed`` (or an earlier one) and left its line
    editor?  Until then a paste is still bracketed for it, and would reach the command with the
    bracket markers.  ``marks``: the letters of the OSC 133 marks seen since ``typed`` (None
    without a stream): C or D says so; else the title (bash's ``run``), a new prompt, a job, or
    :data:`BUILTIN_GRACE` gone by (the command may have set the title itself)."""
    if marks is not None and ("C" in marks or "D" in marks):
        return True
    late = time.monotonic() - typed.when > BUILTIN_GRACE
    return now.running or now.ended or now.job or new_prompt(typed, now) or now.dead or late


def program_started(typed: Typed, now: Look) -> bool:
    """Has the command line ``typed.starting`` started its program (a job holds the terminal and
    runs its own code), or ended?  A builtin that reads input never hands the terminal over:
    after :data:`BUILTIN_GRACE` it counts as started."""
    grace = typed.starting is not None and time.monotonic() - typed.starting > BUILTIN_GRACE
    return now.job or new_prompt(typed, now) or now.dead or grace


def line_taken(typed: Typed, now: Look, echoed: bool, idle: bool) -> bool:
    """Has the program read the line ``typed`` and gone on to the work it starts?  A line editor
    echoes a line as it reads it (the terminal echoes at once for a program that reads whole
    lines), so: the whole line echoed, and every process of the job asleep again (``idle``); or
    the program is gone.  A program that does not echo, or computes at once, is never seen so:
    after :data:`BUILTIN_GRACE` since the line, it counts as taken."""
    late = time.monotonic() - typed.when > BUILTIN_GRACE
    return (echoed and idle) or not now.job or now.dead or late


def signal_handled(typed: Typed, now: Look, output_since: bool, idle: bool) -> bool:
    """Has the terminal handled the signal key ``typed``?  Either the program died of it and the
    shell drew its prompt, or it survived: the terminal showed something since the key and every
    process of the job is asleep again, waiting for input (a dying program would still read a
    line typed now).  Sent to the shell at its prompt, it is handled once the shell drew a new
    one.  After :data:`SIGNAL_GRACE` without a sign, it counts as handled."""
    to_shell = typed.before.at_prompt
    if now.dead or (new_prompt(typed, now) and (not to_shell or (now.prompt or 0) > (typed.before.prompt or 0))):
        return True
    if now.job and output_since and idle:
        return True
    return time.monotonic() - typed.when > SIGNAL_GRACE


def shell_reading(now: Look, asleep: bool) -> bool:
    """May a signal key go to the terminal now, as far as the shell goes?  At its prompt, only
    once the shell sleeps in its read (``asleep``): bash takes a SIGINT that lands while readline
    still draws the prompt only when the next key comes, and that key is lost."""
    return not now.at_prompt or asleep


def between_commands(typed: Typed, now: Look) -> bool:
    """Is the shell between the command line ``typed`` and what follows it: no job holds the
    terminal, and either the command ended and the prompt is not drawn yet (the prompt hooks
    run), or a command runs (the shell forks its program, or runs a builtin)?  A builtin may read
    input (``read x``): after :data:`BUILTIN_GRACE` since ``typed`` a running command no longer
    holds input back."""
    if not typed.shell or now.job or now.dead:
        return False
    return now.ended or (now.running and time.monotonic() - typed.when <= BUILTIN_GRACE)


def new_prompt(typed: Typed | None, now: Look) -> bool:
    """True when the shell is at a prompt it drew after ``typed`` was sent."""
    if not now.at_prompt:
        return False
    if typed is None or now.prompt is None or now.shell_pid != typed.before.shell_pid:
        return True
    before = typed.before
    if typed.kind == "command" or before.job or before.prompt is None:
        # The prompt seen before was the one the input went to (or a stale one: sh keeps the
        # title of its last prompt while a job runs): only a later one is new.
        return before.prompt is None or now.prompt > before.prompt
    return True
