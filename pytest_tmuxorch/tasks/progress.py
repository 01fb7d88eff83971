"""How far a queue is from empty: :func:`overview` for live views (``tmuxorch watch``), plain
data cheap enough to take several times a second (it lists each state's directory and reads
only the running tasks' files); and :func:`wait_for`, the wait behind ``tasks-wait``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._proc import wait_until
from ..errors import TaskStateError, TmuxTimeoutError, UsageError
from .names import id_of
from .store import STATES, Task

UNFINISHED = ("queue", "waiting", "running")

if TYPE_CHECKING:
    from .queue import TaskQueue


@dataclass
class Overview:
    """``counts``: tasks per state (queue, waiting, running, done, failed, quarantine);
    ``running``: the running tasks, oldest first, each with ``runtime`` = seconds so far;
    ``workers``: the live worker loops (``{"worker": "w0", "pid": 4242}``); ``taken``: when."""

    counts: dict[str, int]
    running: list[tuple[Task, float]] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    taken: float = 0.0

    @property
    def total(self) -> int:
        """Every task the queue holds (quarantined files aside)."""
        return sum(self.counts.get(state, 0) for state in STATES)

    @property
    def finished(self) -> int:
        return self.counts.get("done", 0) + self.counts.get("failed", 0)

    @property
    def left(self) -> int:
        """Tasks not finished yet: the distance to an empty queue."""
        return self.total - self.finished

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts), "total": self.total, "finished": self.finished, "left": self.left,
            "workers": self.workers, "taken": self.taken,
            "running": [{"id": task.id, "worker": task.worker, "attempt": task.attempt, "started": task.started,
                         "runtime": runtime, "timeout": task.timeout, "command": task.command_text}
                        for task, runtime in self.running],
        }


def overview(queue: TaskQueue) -> Overview:
    """The state of ``queue`` now (see :class:`Overview`)."""
    counts = queue.counts()
    now = time.time()
    running = [(task, max(0.0, now - task.started) if task.started else 0.0)
               for task in queue.list("running") if not task.error]
    running.sort(key=lambda item: item[0].started or now)
    return Overview(counts=counts, running=running, workers=queue.live_workers(), taken=now)


def wait_for(queue: TaskQueue, ids: Sequence[str] | None, timeout: float,
             progress: Callable[[dict[str, int]], None] | None = None) -> None:
    """Block until the tasks ``ids`` are finished, or with no IDs until nothing is queued,
    waiting or running (see :meth:`TaskQueue.wait`).  Each look lists a few directories (the
    unfinished ones, or done/ and failed/ for many IDs), so it is cheap enough to take every
    20 ms at most, and the end of the last task is noticed soon."""
    if not timeout > 0:
        raise UsageError(f"invalid timeout {timeout!r}: expected a positive number of seconds")
    wanted = list(dict.fromkeys(ids or ()))
    if wanted:
        known = {id_of(name): state for state in (*STATES, "quarantine") for name in queue.names(state)}
        for task_id in wanted:  # find: a second look (a task moving), TaskNotFoundError for an unknown ID
            if (known.get(task_id) or queue.find(task_id)) == "quarantine":
                raise TaskStateError(f"task {task_id!r} is malformed and was quarantined")
    total, left = len(wanted), 0
    last_report = 0.0

    def finished() -> bool | None:
        nonlocal left, last_report
        if len(wanted) > 16:
            ended = {*_listing(queue, "done"), *_listing(queue, "failed")}
            wanted[:] = [task_id for task_id in wanted if task_id not in ended]
        elif wanted:
            wanted[:] = [task_id for task_id in wanted if not queue._is_finished(task_id)]
        left = len(wanted) if ids else sum(len(_listing(queue, state)) for state in UNFINISHED)
        if progress is not None and (not left or time.monotonic() - last_report > 0.2):
            counts = queue.counts()
            progress(dict(counts, total=total or sum(counts[state] for state in STATES), left=left))
            last_report = time.monotonic()
        return True if not left else None

    def pause(remaining: float, attempt: int) -> None:
        time.sleep(max(0.0, min(0.001 * 1.5**attempt, 0.02, remaining)))

    wait_until(finished, timeout, lambda: TmuxTimeoutError(
        f"timed out after {timeout:g}s waiting for tasks: {left} not finished"), pause)


def _listing(queue: TaskQueue, state: str) -> list[str]:
    try:
        return os.listdir(queue.dir(state))
    except FileNotFoundError:
        return []
