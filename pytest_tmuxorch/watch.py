"""A live view of a session for people: every pane and the task queue (``tmuxorch watch``).

:func:`take` reads one :class:`Frame`: each pane (label, id, command, alive or dead with its exit
status, the last line of its screen, all screens in one tmux call) and the queue, through the
queue's public reading methods (``counts()``, ``list("running")``).  :func:`plain` turns a frame
into text; :func:`rich_view` into a `rich` renderable (rich is imported there and only there, so
nothing else of the console script pays for it).  :func:`watch` redraws in place with rich's
live display on a terminal, and prints plain frames one after the other otherwise.
"""

from __future__ import annotations

import sys
import time
from typing import IO, TYPE_CHECKING, NamedTuple

from .errors import TmuxError
from .tasks.text import duration

if TYPE_CHECKING:
    from rich.console import RenderableType

    from .orchestrator import Orchestrator

QUEUE_STATES = ("queue", "running", "done", "failed", "quarantine")


class PaneRow(NamedTuple):
    label: str  # master, worker 0, worker 1...
    pane_id: str
    command: str
    dead: bool
    exit_status: int | None
    last_line: str  # the last non-blank line of the visible screen

    @property
    def state(self) -> str:
        if not self.dead:
            return "alive"
        return "dead" if self.exit_status is None else f"dead ({self.exit_status})"


class RunningRow(NamedTuple):
    task_id: str
    worker: str
    runtime: float | None  # seconds since it started (None: not recorded yet)
    command: str


class Frame(NamedTuple):
    """What the view shows at one moment."""

    session: str
    address: str
    taken: float  # time.time() when it was read
    panes: list[PaneRow]
    counts: dict[str, int]  # tasks per state (queue, running, done, failed, quarantine)
    running: list[RunningRow]

    @property
    def progress(self) -> tuple[int, int]:
        """(finished, total) toward an empty queue: done + failed out of every task known."""
        finished = self.counts.get("done", 0) + self.counts.get("failed", 0)
        return finished, finished + self.counts.get("queue", 0) + self.counts.get("running", 0)


def take(orch: Orchestrator) -> Frame:
    """Read the session's panes and queue now."""
    statuses = orch.status()
    try:
        screens = orch.tmux.chain([["capture-pane", "-p", "-J", "-t", s.pane_id] for s in statuses])
    except TmuxError:  # a pane closed meanwhile: read the others one by one
        screens = [_screen(orch, s.pane_id) for s in statuses]
    panes = [
        PaneRow("master" if s.worker is None else f"worker {s.worker}", s.pane_id, s.command, s.dead,
                s.exit_status, _last_line(screen))
        for s, screen in zip(statuses, screens, strict=True)
    ]
    queue = orch.tasks
    now = time.time()
    running = [
        RunningRow(task.id, task.worker or "-", None if task.started is None else max(0.0, now - task.started),
                   task.command_text)
        for task in queue.list("running")
    ]
    return Frame(orch.settings.session, orch.address, now, panes, queue.counts(), running)


def _screen(orch: Orchestrator, pane_id: str) -> list[str]:
    try:
        return orch.tmux.run("capture-pane", "-p", "-J", "-t", pane_id)
    except TmuxError:
        return []


def _last_line(lines: list[str]) -> str:
    for line in reversed(lines):
        if line.strip():
            return line.rstrip()
    return ""


def runtime(seconds: float | None) -> str:
    """``4.2s``, ``3m05s``, ``2h07m``; ``-`` when unknown."""
    return duration(seconds, decimals=1)


def counts_line(frame: Frame) -> str:
    return "  ".join(f"{'queued' if state == 'queue' else state} {frame.counts.get(state, 0)}" for state in QUEUE_STATES)


def progress_line(frame: Frame, width: int = 30) -> str:
    finished, total = frame.progress
    filled = width if total == 0 else width * finished // total
    return f"[{'#' * filled}{'.' * (width - filled)}] {finished}/{total} finished" + (
        ", queue empty" if frame.counts.get("queue", 0) == 0 and frame.counts.get("running", 0) == 0 else "")


def _table(rows: list[list[str]], width: int) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(size) for cell, size in zip(row, widths, strict=True)).rstrip() for row in rows]
    return [line if len(line) <= width else line[: width - 1] + "…" for line in lines]


def header(frame: Frame) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(frame.taken))
    return f"tmuxorch watch: session {frame.session!r} on {frame.address} at {clock}"


def plain(frame: Frame, width: int = 100) -> str:
    """The frame as plain text (no escape sequences), lines cut at ``width``."""
    panes = [["PANE", "ID", "COMMAND", "STATE", "LAST LINE"]]
    panes += [[p.label, p.pane_id, p.command, p.state, p.last_line] for p in frame.panes]
    lines = [header(frame), "", *_table(panes, width), "", f"tasks: {counts_line(frame)}", progress_line(frame)]
    if frame.running:
        running = [["RUNNING", "WORKER", "RUNTIME", "COMMAND"]]
        running += [[r.task_id, r.worker, runtime(r.runtime), r.command] for r in frame.running]
        lines += ["", *_table(running, width)]
    return "\n".join(lines) + "\n"


def rich_view(frame: Frame, footer: str = "") -> RenderableType:
    """The frame as a rich renderable: a table of panes, the queue's counts, a progress bar and
    the running tasks."""
    from rich import box
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    panes = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, title_justify="left")
    panes.add_column("PANE", no_wrap=True)
    panes.add_column("ID", no_wrap=True)
    panes.add_column("COMMAND", no_wrap=True, max_width=16, overflow="ellipsis")
    panes.add_column("STATE", no_wrap=True)
    panes.add_column("LAST LINE", no_wrap=True, overflow="ellipsis", ratio=1)
    for p in frame.panes:
        state = Text(p.state, style="green" if not p.dead else "red" if p.exit_status else "yellow")
        panes.add_row(p.label, p.pane_id, p.command, state, Text(p.last_line, style="dim"))
    finished, total = frame.progress
    bar = Table.grid(expand=True, padding=(0, 1))
    bar.add_column(ratio=1)
    bar.add_column(no_wrap=True)
    bar.add_row(ProgressBar(total=max(total, 1), completed=finished if total else 1),
                Text(progress_line(frame).split("] ", 1)[1]))
    parts: list[RenderableType] = [
        Text(header(frame), style="bold"), panes, Text(f"tasks: {counts_line(frame)}"), bar]
    if frame.running:
        running = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
        running.add_column("RUNNING", no_wrap=True)
        running.add_column("WORKER", no_wrap=True)
        running.add_column("RUNTIME", no_wrap=True, justify="right")
        running.add_column("COMMAND", no_wrap=True, overflow="ellipsis", ratio=1)
        for r in frame.running:
            running.add_row(r.task_id, r.worker, runtime(r.runtime), r.command)
        parts.append(running)
    if footer:
        parts.append(Text(footer, style="dim"))
    return Group(*parts)


def watch(orch: Orchestrator, interval: float = 1.0, once: bool = False, out: IO[str] | None = None) -> None:
    """Show the session until interrupted (Ctrl-C ends it quietly), or once with ``once``: redrawn
    in place on a terminal, plain frames one after the other otherwise."""
    out = sys.stdout if out is None else out
    frame = take(orch)  # a missing session fails here, before anything is drawn
    try:
        if not out.isatty():
            _plain_frames(orch, frame, interval, once, out)
        else:
            _live(orch, frame, interval, once, out)
    except KeyboardInterrupt:
        pass


def _plain_frames(orch: Orchestrator, frame: Frame, interval: float, once: bool, out: IO[str]) -> None:
    while True:
        out.write(plain(frame))
        out.flush()
        if once:
            return
        time.sleep(interval)
        out.write("\n")
        frame = take(orch)


def _live(orch: Orchestrator, frame: Frame, interval: float, once: bool, out: IO[str]) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console(file=out)
    if once:
        console.print(rich_view(frame))
        return
    footer = f"every {interval:g}s; Ctrl-C to quit"
    with Live(rich_view(frame, footer), console=console, auto_refresh=False, redirect_stdout=False,
              redirect_stderr=False) as live:
        while True:
            time.sleep(interval)
            live.update(rich_view(take(orch), footer), refresh=True)
