"""The ``tasks-wait`` progress bar: rich's, on stderr, only when stderr is a terminal (rich is
imported then and only then: the console script must start fast)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

Report = Callable[[dict[str, int]], None]


def describe(counts: dict[str, int]) -> str:
    """``3 running, 10 queued, 2 waiting, 1 failed`` (the states that have tasks)."""
    parts = [(counts.get("running", 0), "running"), (counts.get("queue", 0), "queued"),
             (counts.get("waiting", 0), "waiting"), (counts.get("failed", 0), "failed")]
    return ", ".join(f"{count} {word}" for count, word in parts if count) or "nothing left"


@contextlib.contextmanager
def progress_bar(label: str = "tasks") -> Iterator[Report | None]:
    """A function to call with :meth:`TaskQueue.wait`'s progress counts, drawing a bar toward an
    empty queue; None (draw nothing) when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[states]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), refresh_per_second=8) as bar:
        job = bar.add_task(label, total=None, states="")

        def report(counts: dict[str, int]) -> None:
            total = counts.get("total", 0)
            bar.update(job, total=total, completed=total - counts.get("left", 0), states=describe(counts))

        yield report
