"""Running a command in a pane's shell to completion: its exit status, output and duration.

With the shell integration, :func:`run_integrated` types the command at a fresh prompt and reads
the result from the marks: the exit status from the command-end mark (D), the output from the
control client's stream between the command-start mark (C; for sh, the end of the echoed line)
and D, raw and whole (tabs kept, however long: not limited by the scrollback).  Without a stream
(the subprocess transport) the output is read from the scrollback between the line the command
was typed on and the next prompt, as the screen shows it (tabs expanded), and a command whose
output outgrew ``history_limit`` is an error that says so.

Without the integration, :func:`run_with_markers` brackets the command with markers printed by
``printf`` from pieces (so the echo of the typed line can never match them), each on a line of its
own (the shell may draw its prompt after the typed line's echo), and keeps ``$?``.
"""

from __future__ import annotations

import os

from . import terminal
from ._proc import wait_until
from ._record import record
from .errors import TmuxorchError, WaitTimeoutError
from .inputs import deliver, output_start
from .keys import paste_commands
from .output import render
from .terminal import Look, Typed, last_typed, look

TYPE_CHECKING = False  # typing costs the console script's start-up (see settings.py)
if TYPE_CHECKING:
    from typing import NamedTuple

    from .panes import Pane
    from .streams import PaneStream

    class _Result(NamedTuple):
        command: str
        exit_code: int
        output: str
        duration: float | None = None  # seconds, from its start mark to its end mark (None: unknown)
else:
    _Result = record("_Result", "command exit_code output duration", defaults=(None,))


class RunResult(_Result):
    """What :meth:`Pane.run` saw: the command's exit status, everything it printed, and how long it
    ran (``duration``: seconds from its start mark to its end mark; None when unknown)."""

    __slots__ = ()

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __eq__(self, other: object) -> bool:  # two runs that did the same are equal, however long they took
        return isinstance(other, RunResult) and self[:3] == other[:3]

    def __hash__(self) -> int:
        return hash(self[:3])


def run_integrated(pane: Pane, command: str, timeout: float) -> RunResult:
    """Run ``command`` at the shell's next prompt; see the module docstring."""
    budget = Budget(timeout)
    pane.wait_prompt(budget.left())
    deliver(pane.tmux, [pane.id], lambda pane_id: paste_commands(pane_id, command),
            kind="line", lines=command.count("\n") + 1, timeout=budget.left())
    typed = last_typed(pane.tmux, pane.id)
    if typed is None or typed.kind != "command":
        raise TmuxorchError(f"{pane.label}: the shell left its prompt before {command!r} was typed")
    stream = pane.tmux.transport.stream(pane.id)
    if stream is not None:
        return _from_stream(pane, command, typed, stream, budget)
    return _from_scrollback(pane, command, typed, budget)


def _from_stream(pane: Pane, command: str, typed: Typed, stream: PaneStream, budget: Budget) -> RunResult:
    def lost() -> TmuxorchError:
        return TmuxorchError(f"{pane.label}: the output of {command!r} was lost: the control client stopped "
                             "listening while it ran (it may still run; wait_prompt waits for its end)")

    start: int | None = None  # where the output starts, once the stream shows it (found once: a
    # command that prints a lot wakes this often, and the stream is not read again each time)

    def ended() -> tuple[int, int, int] | None:
        nonlocal start
        marks = stream.marks_after(typed.anchor)
        if start is None:
            start = output_start(pane.tmux, typed, marks, stream.read(typed.anchor))
        if start is not None:
            for mark in marks:
                if mark.kind == "D" and mark.offset > start and mark.status is not None:
                    return start, mark.offset, mark.status
        if stream.missing(typed.answered_at):
            raise lost()
        return None

    start, end, status = wait_until(ended, budget.left(), lambda: _expired(pane, command, budget), pane._pause)
    if stream.missing(typed.answered_at, end):
        raise lost()
    try:
        data = stream.read(start, end)
    except LookupError as err:
        raise TmuxorchError(f"{pane.label}: the output of {command!r} is incomplete: {err}") from None
    began, finished = stream.time_at(start - 1), stream.time_at(end - 1)  # the last bytes of C and D
    duration = finished - began if began is not None and finished is not None else None
    return RunResult(command, status, render(data), duration)


def _from_scrollback(pane: Pane, command: str, typed: Typed, budget: Budget) -> RunResult:
    def ended() -> Look | None:
        now = look(pane.tmux, pane.id)
        return now if terminal.new_prompt(typed, now) and now.status is not None else None

    now = wait_until(ended, budget.left(), lambda: _expired(pane, command, budget), pane._pause)
    first, last = typed.before.line - now.history, now.row
    width, lines = pane.tmux.chain([["display-message", "-p", "-t", pane.id, "#{pane_width}"],
                                    ["capture-pane", "-p", "-J", "-t", pane.id, "-S", str(first), "-E", str(last)]])
    echo = command.split("\n", 1)[0].rstrip()
    if first < -now.history or not lines or not lines[0].rstrip().endswith(echo):
        limit = pane.tmux.settings.history_limit
        raise TmuxorchError(f"{pane.label}: the output of {command!r} is not in the scrollback any more: it "
                            f"outgrew history_limit ({limit} lines), or the command cleared the screen's history "
                            "(clear); the control transport keeps it whole")
    body, prompt = lines[typed.lines:-1], lines[-1].rstrip()
    tail = prompt[:-1] if prompt.endswith("$") else prompt  # output that did not end with a newline
    if not tail and body and len(body[-1]) == int(width[0]) and body[-1].endswith(" "):
        tail = body.pop().rstrip()  # bash started its prompt on a new line by filling this one
    output = "".join(line + "\n" for line in body) + tail
    return RunResult(command, now.status if now.status is not None else -1, output)


def _expired(pane: Pane, command: str, budget: Budget) -> Exception:
    return WaitTimeoutError(f"{pane.label}: {command!r} did not finish within {budget.total:g}s", pane.capture())


def run_with_markers(pane: Pane, command: str, timeout: float) -> RunResult:
    """Run ``command`` in a shell without integration; see the module docstring."""
    import re
    import shlex

    token = f"__TXO{os.urandom(6).hex()}"
    keep, restore = "__tmuxorch_status=$?", '(exit "$__tmuxorch_status")'  # $? survives the markers
    line = (
        f"{keep}; printf '\\n%s%s\\n' {token} S; {restore}; eval {shlex.quote(command)}; "
        f"{keep}; printf '\\n%s%s:%d\\n' {token} E \"$__tmuxorch_status\"; {restore}"
    )
    pane.send(line)
    ended = re.compile(re.escape(token) + r"E:(\d+)$", re.MULTILINE)
    pane.wait_for(ended, timeout=timeout, where="history")
    text = "\n" + pane.capture(history=True)
    start = text.rfind(f"\n{token}S\n")
    ends = list(ended.finditer(text))
    if start < 0 or not ends or ends[-1].start() < start:
        limit = pane.tmux.settings.history_limit
        raise TmuxorchError(f"{pane.label}: could not find the output of {command!r} in the scrollback: it "
                            f"outgrew history_limit ({limit} lines)")
    output = text[start + len(token) + 3: ends[-1].start()]
    return RunResult(command, int(ends[-1].group(1)), output[:-1] if output.endswith("\n") else output)


class Budget:
    """One timeout shared by the steps of an operation."""

    def __init__(self, total: float) -> None:
        import time

        self.total = total
        self._clock = time.monotonic
        self._deadline = self._clock() + total

    def left(self) -> float:
        return max(0.0, self._deadline - self._clock())
