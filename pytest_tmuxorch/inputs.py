"""Sending input to panes safely, and finding where the output it caused starts.

:func:`deliver` waits until each pane has taken in its previous input (:func:`settle`, by the
rules in terminal.py), then sends the new input to every pane in one atomic tmux chain, looking at
each pane in the same chain (what it showed just before), and remembers it as the pane's last
input.  :func:`output_start` finds, in a pane's stream, where the output caused by that input
begins.  :func:`wait_panes_ready` waits for new panes' first prompts.
"""

from __future__ import annotations

import time

from . import terminal
from ._proc import foreground_group, group_running, running, wait_until
from .errors import TmuxorchError, WaitTimeoutError
from .output import skip_lines
from .terminal import (
    Pending,
    Typed,
    foreground_job,
    last_typed,
    look,
    look_command,
    look_from_title,
    parse_look,
    remember,
)

TYPE_CHECKING = False  # typing costs the console script's start-up (run-one types through here)
if TYPE_CHECKING:
    from collections.abc import Callable

    from .streams import Mark, PaneStream
    from .tmux import Tmux
    from .transport import Command, Reply


def output_start(tmux: Tmux, typed: Typed, marks: list[Mark], data: bytes) -> int | None:
    """Where the output of ``typed`` starts in the stream (None: not yet), ``data`` being the stream
    from ``typed.anchor`` on: after the command-start mark of a shell command (for sh, which has
    none, after the echo of its line), after the echo of a line typed into a program, right at
    the input for keys and text without Enter."""
    if typed.kind == "command" and tmux.settings.integration == "bash":
        return next((mark.offset for mark in marks if mark.kind == "C"), None)
    if typed.kind in ("command", "line"):
        if data.count(b"\n") < typed.lines:
            return None  # the echo of the typed line is not complete yet
        return typed.anchor + skip_lines(data, typed.lines)
    return typed.anchor


def deliver(tmux: Tmux, pane_ids: list[str], build: Callable[[str], list[Command]], *, kind: str, lines: int,
            signal: bool = False, timeout: float | None = None) -> None:
    """Send input to each pane in ``pane_ids`` (``build(pane_id)`` gives its tmux commands), in one
    atomic chain once every pane has settled for it; remember it as each pane's last input.
    ``signal``: the input holds a key the terminal turns into a signal."""
    timeout = tmux.timeout if timeout is None else timeout
    earlier = [settle(tmux, pane_id, timeout, signal) for pane_id in pane_ids]
    # Who holds each terminal is read now, before the input goes out (it may start a job at once).
    # The rest of the look is the title the stream showed when the input went in (the control
    # client gets every byte a pane wrote before a command's reply ahead of that reply), or,
    # without a stream, a look taken in the same chain as the input.
    pids = [_shell_pid(tmux, pane_id, typed) for pane_id, typed in zip(pane_ids, earlier, strict=True)]
    jobs = [foreground_job(pid) for pid in pids]
    streams = [tmux.transport.stream(pane_id) if pid else None for pane_id, pid in zip(pane_ids, pids, strict=True)]
    chain: list[Command] = []
    looks: list[int | None] = []
    for pane_id, stream in zip(pane_ids, streams, strict=True):
        looks.append(None if stream is not None and stream.title_at(stream.end) is not None else len(chain))
        chain += ([] if looks[-1] is None else [look_command(pane_id)]) + build(pane_id)
    # Over a connection the chain is only written here: its answer (where the output starts, the
    # title then) is read when the pane's last input is next asked for, usually while waiting
    # for the output the input causes, which comes after that answer.
    sent = _Sent(tmux, tmux.post(chain), kind, lines, signal)
    for pane_id, index, job, pid, stream, previous in zip(pane_ids, looks, jobs, pids, streams, earlier, strict=True):
        facts = (pane_id, index, job, pid, stream, previous)
        remember(tmux, pane_id, Pending(sent.reply.answered, sent.typed, facts)
                 if index is None and not sent.reply.answered() else sent.typed(*facts))


class _Sent:
    """An input :func:`deliver` wrote, and what it takes to record it once tmux answered."""

    def __init__(self, tmux: Tmux, reply: Reply, kind: str, lines: int, signal: bool) -> None:
        self.when = time.monotonic()
        self.tmux, self.reply, self.kind, self.lines, self.signal = tmux, reply, kind, lines, signal

    def typed(self, pane_id: str, index: int | None, job: bool, pid: int, stream: PaneStream | None,
              previous: Typed | None) -> Typed:
        """The input as sent to ``pane_id``: where its output starts, and the pane just before it
        from the look taken in the chain (at ``index``) or the title the stream showed then."""
        tmux = self.tmux
        outputs = self.reply.result()
        anchor, answered_at = self.reply.anchor(pane_id), self.reply.position()
        if index is not None:
            before = parse_look(outputs[index], job)
        elif stream is not None and anchor is not None and (title := stream.title_at(anchor, answered_at)) is not None:
            before = look_from_title(title, job, pid)
        else:
            before = look(tmux, pane_id)._replace(job=job)  # the stream lost track meanwhile (rare)
        integrated = tmux.settings.integration is not None
        command = self.kind == "line" and before.at_prompt and integrated
        starting = self.when if command else (previous.starting if previous is not None else None)
        return Typed("command" if command else self.kind, before.line if anchor is None else anchor,
                     before, self.lines, self.signal and integrated, self.when, starting, command,
                     answered_at)


def _shell_pid(tmux: Tmux, pane_id: str, typed: Typed | None = None) -> int:
    """The pane's shell, as the last input (``typed``, else the one on record) found it (a look
    the first time)."""
    typed = typed or last_typed(tmux, pane_id)
    return typed.before.shell_pid if typed is not None and typed.before.shell_pid else look(tmux, pane_id).shell_pid


def settle(tmux: Tmux, pane_id: str, timeout: float, signal: bool) -> Typed | None:
    """Wait until input sent now to ``pane_id`` cannot be lost (the rules in terminal.py);
    ``signal``: it holds a signal key.  Returns the last input, as far as it is now settled."""
    settled = _settle_last_input(tmux, pane_id, timeout, signal)
    if signal and tmux.settings.integration is not None:
        _until_shell_reads(tmux, pane_id, settled)
    return settled


def _until_shell_reads(tmux: Tmux, pane_id: str, typed: Typed | None) -> None:
    """Before a signal key: wait until the shell, if it is at its prompt, sleeps in its read
    (:func:`terminal.shell_reading`); at most :data:`~terminal.SIGNAL_GRACE`, then the key goes
    anyway.  From the stream's title and ``/proc`` where it can (no tmux call)."""
    stream = tmux.transport.stream(pane_id)
    pid = _shell_pid(tmux, pane_id, typed)
    began = time.monotonic()

    def check() -> bool | None:
        title = stream.title_at(stream.end) if stream is not None else None
        now = look_from_title(title, foreground_job(pid), pid) if title is not None else look(tmux, pane_id)
        late = time.monotonic() - began > terminal.SIGNAL_GRACE
        return True if terminal.shell_reading(now, not running(now.shell_pid)) or late else None

    wait_until(check, terminal.SIGNAL_GRACE * 2, lambda: AssertionError("check() ends the wait after the grace"))


def _settle_last_input(tmux: Tmux, pane_id: str, timeout: float, signal: bool) -> Typed | None:
    typed = last_typed(tmux, pane_id)
    if typed is None or tmux.settings.integration is None:
        return typed
    editing = typed.kind == "command"  # the shell may still be in its line editor
    starting = signal and typed.starting is not None  # the command's program may not run yet
    # A line typed into a program may not be read yet: a signal key would interrupt the reading.
    reading = signal and typed.kind == "line" and not typed.shell and \
        time.monotonic() - typed.when <= terminal.BUILTIN_GRACE
    stream = tmux.transport.stream(pane_id)
    if not (typed.signal or editing or starting or reading or _maybe_between(typed, stream)):
        return typed

    def check() -> bool | None:
        marks = "".join(mark.kind for mark in stream.marks_after(typed.anchor)) if stream is not None else None
        if editing and not starting and not typed.signal and marks and ("C" in marks or "D" in marks) \
                and not _maybe_between(typed, stream):
            return True  # the stream answers: no need to ask tmux
        now = look(tmux, pane_id)
        if now.shell_pid != typed.before.shell_pid:
            return True  # another shell now: the input went to one that is gone
        if editing and not terminal.left_readline(typed, now, marks):
            return None
        if starting and not terminal.program_started(typed, now):
            return None
        if reading and not terminal.line_taken(typed, now, _echoed(typed, now, stream), _idle(now)):
            return None
        if typed.signal:
            output_since = stream.end > typed.anchor if stream is not None else \
                (now.line, now.column) != (typed.before.line, typed.before.column)
            if not terminal.signal_handled(typed, now, output_since, _idle(now)):
                return None
        return None if terminal.between_commands(typed, now) else True

    wait_until(check, timeout, lambda: WaitTimeoutError(
        f"pane {pane_id}: the terminal did not take in the last input within {timeout:g}s"),
        lambda remaining, attempt: tmux.transport.wait_activity(pane_id, remaining, attempt))
    settled = typed._replace(kind="line" if editing else typed.kind, signal=False,
                             starting=None if starting else typed.starting)
    remember(tmux, pane_id, settled)
    return settled


def _maybe_between(typed: Typed, stream: PaneStream | None) -> bool:
    """Could the shell be between the command line ``typed`` and what follows it
    (:func:`terminal.between_commands`)?  Answered from the stream's title and ``/proc`` where
    it can be (no tmux call); True means: look.  Without a stream, it looks only within
    :data:`~terminal.BUILTIN_GRACE` of the command line: a polling client sees ``run`` return at a
    new prompt, so only a line sent with ``send`` can be followed by input while prompt hooks run."""
    if not typed.shell:
        return False
    title = stream.title_at(stream.end) if stream is not None else None
    if title is None:
        return time.monotonic() - typed.when <= terminal.BUILTIN_GRACE
    pid = typed.before.shell_pid  # who holds the terminal is read last: /proc costs more than the title
    return terminal.between_commands(typed, look_from_title(title, False, pid)) and not foreground_job(pid)


def _echoed(typed: Typed, now: terminal.Look, stream: PaneStream | None) -> bool:
    """Has the pane shown the whole echo of the line ``typed`` (its newlines included)?"""
    if stream is None:
        return now.line >= typed.before.line + typed.lines
    try:
        return stream.read(typed.anchor).count(b"\n") >= typed.lines
    except LookupError:  # the stream no longer holds it: long since shown
        return True


def _idle(now: terminal.Look) -> bool:
    """Every process of the foreground job is asleep (waiting for input or a timer)."""
    return not group_running(foreground_group(now.shell_pid)) if now.job else True


def wait_panes_ready(tmux: Tmux, pane_ids: list[str], timeout: float | None = None) -> None:
    """Wait until every pane in ``pane_ids`` shows its first prompt: with the shell integration,
    the prompt's title; without, any output (the cursor left the top-left corner)."""
    timeout = tmux.timeout if timeout is None else timeout
    waiting = set(pane_ids)
    integrated = tmux.settings.integration is not None
    fields = "#{pane_id}\t#{cursor_x}\t#{cursor_y}\t#{pane_dead}\t#{pane_title}"

    def check() -> bool | None:
        for line in tmux.run("list-panes", "-a", "-F", fields):
            pane_id, x, y, dead, title = line.split("\t", 4)
            if pane_id not in waiting:
                continue
            if dead == "1":
                raise TmuxorchError(f"pane {pane_id} has exited: its shell is not there to type into")
            if terminal.title_state(title)[0] is not None if integrated else (x, y) != ("0", "0"):
                waiting.discard(pane_id)
        return True if not waiting else None

    def expired() -> Exception:
        return WaitTimeoutError(f"panes {', '.join(sorted(waiting))} not ready within {timeout:g}s")

    wait_until(check, timeout, expired, lambda r, a: tmux.transport.wait_activity("*", r, a))
