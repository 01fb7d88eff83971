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
under its file's flock, so two settlers never both move it; a settler waits for that lock
rather than skip the file (the holder may have looked before a dependency finished).

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
from .files import lock, read_fd, rewrite, same_file
from .names import id_of, queued_name
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


def dependency_state(queue: TaskQueue, task_id: str, unfinished: set[str] | None = None) -> str:
    """``done``, ``failed``, ``pending`` (queued, waiting or running) or ``gone``.

    ``unfinished``: IDs seen in ``queue/`` and ``waiting/`` by a listing the caller made, taken
    as pending without a look (safe for :func:`settle`: a task that finishes after the listing
    is settled by whoever files it)."""
    if unfinished is not None and task_id in unfinished:
        return "pending"
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


_AFTER: dict[tuple[str, int], list[str]] = {}  # (name, inode) of a waiting file -> its dependencies


def settle(queue: TaskQueue) -> list[tuple[str, str]]:
    """Move the waiting tasks whose dependencies have finished: to ``queue/`` or ``failed/``.
    Returns (ID, new state) for each task moved.

    Cheap when nothing can move: a listing of ``waiting/``, each file's dependencies read once
    per process (a waiting file never changes), each dependency looked up once per pass."""
    moved: list[tuple[str, str]] = []
    while True:
        try:
            with os.scandir(queue.dir("waiting")) as entries:
                waiting = sorted((entry.name, entry.inode()) for entry in entries)
        except FileNotFoundError:
            return moved
        present = set(waiting)
        for key in [key for key in _AFTER if key not in present]:
            del _AFTER[key]
        states: dict[str, str] = {}
        unfinished = {name for name, _ in waiting} | {id_of(name) for name in queue.names("queue")} if waiting else set()
        now = []
        for name, inode in waiting:
            after = _AFTER.get((name, inode))
            if after is not None:
                for dependency in after:
                    if dependency not in states:
                        states[dependency] = dependency_state(queue, dependency, unfinished)
                if all(states[dependency] == "pending" for dependency in after) and after:
                    continue  # nothing to do yet: no need to lock and read it
            state = _settle_one(queue, name, inode)
            if state is not None:
                now.append((name, state))
        if any(state == "queue" for _, state in now):
            queue.changed()
        moved += now
        if not any(state == "failed" for _, state in now):  # a failure may fail the tasks waiting for it
            return moved


def _settle_one(queue: TaskQueue, name: str, inode: int) -> str | None:
    path = queue.path("waiting", name)
    fd = lock(path)  # waits for another settler: it may have decided before our dependency finished
    if fd is None:
        return None  # gone
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
        _AFTER[(name, inode)] = task.after
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
