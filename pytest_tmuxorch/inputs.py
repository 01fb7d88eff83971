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
from ._proc import wait_until
from .errors import TmuxorchError, WaitTimeoutError
from .output import skip_lines
from .terminal import Typed, foreground_job, last_typed, look, look_command, parse_look, remember

TYPE_CHECKING = False  # typing costs the console script's start-up (run-one types through here)
if TYPE_CHECKING:
    from collections.abc import Callable

    from .streams import Mark
    from .tmux import Tmux
    from .transport import Command


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
    atomic chain once every pane has settled; remember it as each pane's last input."""
    timeout = tmux.timeout if timeout is None else timeout
    for pane_id in pane_ids:
        settle(tmux, pane_id, timeout)
    # Who holds each terminal is read now, before the input goes out (it may start a job at once);
    # the rest of the look is taken in the same chain as the input.
    jobs = [foreground_job(_shell_pid(tmux, pane_id)) for pane_id in pane_ids]
    chain: list[Command] = []
    looks: list[int] = []
    for pane_id in pane_ids:
        looks.append(len(chain))
        chain += [look_command(pane_id), *build(pane_id)]
    outputs = tmux.chain(chain)
    sent = time.monotonic()
    for pane_id, index, job in zip(pane_ids, looks, jobs, strict=True):
        before = parse_look(outputs[index], job)
        at_prompt = kind == "line" and before.at_prompt and tmux.settings.integration is not None
        anchor = tmux.transport.anchor(pane_id)
        remember(tmux, pane_id, Typed("command" if at_prompt else kind, before.line if anchor is None else anchor,
                                      before, lines, signal, sent))


def _shell_pid(tmux: Tmux, pane_id: str) -> int:
    typed = last_typed(tmux, pane_id)
    return typed.before.shell_pid if typed is not None else look(tmux, pane_id).shell_pid


def settle(tmux: Tmux, pane_id: str, timeout: float) -> None:
    """Wait until the pane has taken in the last input, when more input could be lost otherwise."""
    typed = last_typed(tmux, pane_id)
    if typed is None or tmux.settings.integration is None or not terminal.needs_settling(typed):
        return
    stream = tmux.transport.stream(pane_id)

    def check() -> bool | None:
        now = look(tmux, pane_id)
        if now.shell_pid != typed.before.shell_pid:
            return True  # another shell now: the input went to one that is gone
        if stream is not None:
            output_since = stream.end > typed.anchor
        else:
            output_since = (now.line, now.column) != (typed.before.line, typed.before.column)
        return True if terminal.settled(typed, now, output_since) else None

    wait_until(check, timeout, lambda: WaitTimeoutError(
        f"pane {pane_id}: the terminal did not take in the last input within {timeout:g}s"),
        lambda remaining, attempt: tmux.transport.wait_activity(pane_id, remaining, attempt))
    remember(tmux, pane_id, typed._replace(settled=True))


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
            if title.startswith(terminal.TITLE) if integrated else (x, y) != ("0", "0"):
                waiting.discard(pane_id)
        return True if not waiting else None

    def expired() -> Exception:
        return WaitTimeoutError(f"panes {', '.join(sorted(waiting))} not ready within {timeout:g}s")

    wait_until(check, timeout, expired, lambda r, a: tmux.transport.wait_activity("*", r, a))
