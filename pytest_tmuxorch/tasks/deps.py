"""Dependencies between tasks (``after=[IDs]``, ``tasks-enqueue --after``).

A task with dependencies that have not all finished is written to ``waiting/``, where no worker
looks.  :func:`settle` moves each waiting task on once its dependencies allow: to ``queue/`` when
all of them are in ``done/``, to ``failed/`` marked ``DEPENDENCY_FAILED=<ID>`` (without running)
when one is in ``failed/`` (it failed, timed out or was cancelled) or has vanished.  Failures
cascade: a task waiting for a task that failed that way fails too.

Who calls :func:`settle`: a worker after filing a task, ``cancel`` after cancelling one,
``enqueue`` after publishing a waiting task, ``retry``, and an idle worker now and then.  Each
changes the state first and looks at ``waiting/`` after, so of two that race (a dependency
finishing while its dependent is enqueued), the later one sees both.  A waiting task is moved
under its file's flock (like a claim), so two settlers never both move it.

Dependencies must exist when a task is enqueued and IDs are never reused while a task has them,
so there can be no cycle.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import MalformedTaskError, UsageError
from .files import read_fd, rewrite, same_file, try_lock
from .names import queued_name
from .store import Task, check_id, parse, serialize

if TYPE_CHECKING:
    from .queue import TaskQueue


def check_dependencies(queue: TaskQueue, after: Iterable[str]) -> list[str]:
    """The IDs of ``after``, each that of an existing task (duplicates dropped), else
    :class:`UsageError`: a task can only wait for tasks enqueued before it."""
    ids: list[str] = []
    for dependency in after:
        if not isinstance(dependency, str):
            raise UsageError(f"invalid dependency {dependency!r}: expected a task ID")
        check_id(dependency, "task ID in after")
        if dependency in ids:
            continue
        state = queue.find(dependency, quiet=True)
        if state is None:
            raise UsageError(f"unknown dependency {dependency!r}: no such task in {queue.root}")
        if state == "quarantine":
            raise UsageError(f"dependency {dependency!r} is malformed (quarantined)")
        ids.append(dependency)
    return ids


def dependency_state(queue: TaskQueue, task_id: str) -> str:
    """``done``, ``failed``, ``pending`` (queued, waiting or running) or ``gone``."""
    for _ in range(2):  # a task caught between two states is found on the second pass
        if os.path.exists(queue.path("done", task_id)):
            return "done"
        if os.path.exists(queue.path("failed", task_id)):
            return "failed"
        # in the order a task moves through them, so a task moving on is seen where it arrives
        if os.path.exists(queue.path("waiting", task_id)) or queue.queued(task_id) is not None \
                or os.path.exists(queue.path("running", task_id)):
            return "pending"
    return "gone"


def destination(queue: TaskQueue, task: Task) -> str:
    """Where a task goes when it is (re)queued: ``queue`` when every dependency is done, else
    ``waiting``."""
    if all(dependency_state(queue, dependency) == "done" for dependency in task.after):
        return "queue"
    return "waiting"


def settle(queue: TaskQueue) -> list[tuple[str, str]]:
    """Move the waiting tasks whose dependencies have finished: to ``queue/`` or ``failed/``.
    Returns (ID, new state) for each task moved."""
    moved: list[tuple[str, str]] = []
    while True:
        try:
            names = sorted(os.listdir(queue.dir("waiting")))
        except FileNotFoundError:
            return moved
        now = [(name, state) for name in names if (state := _settle_one(queue, name)) is not None]
        if any(state == "queue" for _, state in now):
            queue.changed()
        moved += now
        if not any(state == "failed" for _, state in now):  # a failure may fail the tasks waiting for it
            return moved


def _settle_one(queue: TaskQueue, name: str) -> str | None:
    path = queue.path("waiting", name)
    fd = try_lock(path, write=True)
    if fd is None:
        return None  # gone, or another settler (or a cancel) holds it
    try:
        if not same_file(fd, path):
            return None
        try:
            task = parse(read_fd(fd), path)
            check_id(name)
            if task.id != name:
                raise MalformedTaskError(f"malformed task file {path}: ID={task.id!r} but the file is named {name!r}")
        except (MalformedTaskError, UsageError) as err:
            queue.quarantine("waiting", name, str(err))
            return None
        states = {dependency: dependency_state(queue, dependency) for dependency in task.after}
        failed = next((dependency for dependency, state in states.items() if state in ("failed", "gone")), None)
        if failed is not None:
            task.dependency_failed, task.ended = failed, time.time()
            task.error = f"dependency {failed!r} {'failed' if states[failed] == 'failed' else 'is gone'}; not run"
            rewrite(fd, serialize(task))
            os.rename(path, queue.path("failed", task.id))
            return "failed"
        if all(state == "done" for state in states.values()):
            os.rename(path, queue.path("queue", queued_name(task)))
            return "queue"
        return None
    finally:
        os.close(fd)


def settle_quietly(queue: TaskQueue) -> None:
    """:func:`settle` for callers that must go on whatever happens (a worker loop)."""
    with contextlib.suppress(OSError):
        settle(queue)
