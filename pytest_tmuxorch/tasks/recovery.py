"""Recovering from trouble: cancelling and retrying tasks, and the tasks of dead workers.

A running task's worker holds the lock of its file in ``running/``: a lock anyone can take means
the worker is dead.  Cancelling a running task asks its worker (a request file in ``cancel/``),
which signals the task's process group while it still holds the task, so the group cannot have
been reused.

A dead worker's task may still run (its loop was SIGKILLed).  Its processes are those of its
session, proven by the leader's pid and start time in the task file (see
:func:`~pytest_tmuxorch._proc.session_members`).  ``health`` reports them; requeueing (or
cancelling) such a task first ends them, and leaves the task where it is if they survive: a
task is run at least once after a crash, never twice at the same time.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from .._proc import end_session, env_session_leaders, session_members, start_time, wait_until
from ..errors import MalformedTaskError, TaskStateError, TmuxTimeoutError, UsageError
from .deps import dependency_state, destination, settle_quietly
from .files import read_fd, same_file, try_lock
from .store import Task, parse, state_word

if TYPE_CHECKING:
    from .queue import TaskQueue

log = get_logger("pytest_tmuxorch.tasks")

SPARE_LIMIT = 10_000  # emptied task files kept in spare/ for enqueue to reuse


def _poll(remaining: float, attempt: int) -> None:
    """Between looks at the queue's directories: every 20 ms."""
    time.sleep(min(0.02, remaining))


@dataclass
class Health:
    """What ``tasks-health`` reports."""

    counts: dict[str, int]
    workers: list[dict[str, Any]]
    stale: list[Task] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    alive: dict[str, list[int]] = field(default_factory=dict)  # stale tasks still running: their pids
    ended: dict[str, list[int]] = field(default_factory=dict)  # processes ended before requeueing

    @property
    def ok(self) -> bool:
        """False when a stale task is still in running/ (for CI exit statuses)."""
        return not [task for task in self.stale if task.id not in self.requeued]

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts, "workers": self.workers, "ok": self.ok,
            "stale": [task.as_dict() for task in self.stale], "requeued": self.requeued,
            "alive": self.alive, "ended": self.ended,
            "quarantined": self.quarantined, "malformed": self.malformed,
        }


def _sessions(queue: TaskQueue, task: Task) -> list[tuple[int, int]]:
    """(session id, leader start time) of a task: as recorded, or, when its loop died before
    recording them, found by the task's environment: its queue, ID and attempt, which no other
    live process can share (the same task never runs twice at once)."""
    if task.pid is not None and task.pid_start is not None:
        return [(task.pid, task.pid_start)]
    entries = [f"TMUXORCH_TASK_QUEUE={queue.root}".encode(), f"TMUXORCH_TASK_ID={task.id}".encode(),
               f"TMUXORCH_TASK_ATTEMPT={task.attempt}".encode()]
    return [(leader, start_time(leader) or 0) for leader in env_session_leaders(entries)]


def task_processes(queue: TaskQueue, task: Task) -> list[int]:
    """The processes of a running task whose worker is gone (empty: nothing of it runs)."""
    return sorted(pid for sid, start in _sessions(queue, task) for pid in session_members(sid, start))


def end_task(queue: TaskQueue, task: Task, grace: float, timeout: float) -> list[int]:
    """End the processes of a task whose worker is gone (SIGTERM, SIGKILL after ``grace``);
    return those that survived."""
    return sorted(pid for sid, start in _sessions(queue, task) for pid in end_session(sid, start, grace, timeout))


def cancel(queue: TaskQueue, task_id: str, grace: float = 2.0, timeout: float | None = None) -> Task:
    """Cancel a queued, waiting or running task; it ends in ``failed/`` marked cancelled, and
    the tasks waiting for it fail too.

    A running task's worker terminates its whole process group (SIGTERM, then SIGKILL after
    ``grace`` seconds).  Finished tasks raise :class:`TaskStateError`, unknown ones
    :class:`TaskNotFoundError`.
    """
    queue.find(task_id)  # an unknown ID creates nothing
    queue.init()
    timeout = queue.timeout if timeout is None else timeout
    started = time.monotonic()

    def cancelled() -> Task | None:
        state = queue.find(task_id)
        if state in ("done", "failed", "quarantine"):
            raise TaskStateError(f"task {task_id!r} is already {state_word(state)}; nothing to cancel")
        if state in ("queue", "waiting") and _cancel_queued(queue, task_id, state):
            return queue.get(task_id)
        if state == "running":
            return _cancel_running(queue, task_id, grace, timeout + grace - (time.monotonic() - started))
        return None  # a worker is claiming it right now: look again

    task = wait_until(cancelled, timeout + grace,
                      lambda: TmuxTimeoutError(f"could not cancel task {task_id!r} within {timeout:g}s"))
    settle_quietly(queue)  # the tasks waiting for it fail
    return task


def _cancel_queued(queue: TaskQueue, task_id: str, state: str = "queue") -> bool:
    """Take a task out of queue/ (or waiting/) before any worker does; False if a worker (or a
    settler) got it first."""
    name = queue.queued(task_id) if state == "queue" else task_id
    if name is None:
        return False
    fd = try_lock(queue.path(state, name))
    if fd is None:
        return False
    try:
        holding = queue.path("tmp", f"{task_id}.{os.getpid()}.cancelling")
        try:
            os.rename(queue.path(state, name), holding)
        except FileNotFoundError:
            return False
        try:
            task = parse(read_fd(fd), holding)
        except MalformedTaskError:
            task = Task(id=task_id, command="", error="malformed task file, cancelled")
        task.cancelled, task.ended = True, time.time()
        queue.write_state(task, "failed", "cancelled")
        os.unlink(holding)
        log.debug("cancelled queued task %s", task_id)
        return True
    finally:
        os.close(fd)


def _cancel_running(queue: TaskQueue, task_id: str, grace: float, remaining: float) -> Task:
    request = queue.path("cancel", task_id)
    with open(request, "w") as handle:
        handle.write(f"{os.getpid()} {time.time()!r}\n")
    def filed() -> Task | None:
        state = queue.find(task_id, quiet=True)
        if state == "failed":
            return queue.get(task_id)
        if state == "done":
            raise TaskStateError(f"task {task_id!r} finished (exit 0) before it could be cancelled")
        if state == "queue" and _cancel_queued(queue, task_id):  # its worker was stopped meanwhile (or retries it)
            return queue.get(task_id)
        if state == "running" and _cancel_stale(queue, task_id, grace):
            return queue.get(task_id)
        return None

    try:
        return wait_until(filed, max(0.0, remaining), lambda: TmuxTimeoutError(
            f"task {task_id!r} was not cancelled in time (is its worker stuck?)"), _poll)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(request)


def _cancel_stale(queue: TaskQueue, task_id: str, grace: float) -> bool:
    """A running task whose worker is dead: end what is left of it, file it as cancelled."""
    running = queue.path("running", task_id)
    fd = try_lock(running)
    if fd is None:
        return False
    try:
        if not same_file(fd, running):
            return False
        task = parse(read_fd(fd), running)
        alive = task_processes(queue, task)
        left = end_task(queue, task, grace, queue.timeout) if alive else []
        if left:
            raise TaskStateError(f"task {task_id!r}: its worker is gone and its processes {_pids(left)} "
                                 "survived SIGKILL; not cancelled")
        task.cancelled, task.ended = True, time.time()
        task.error = "cancelled after its worker died" + (f"; ended its processes {_pids(alive)}" if alive else "")
        queue.write_state(task, "failed", "cancelled")
        os.unlink(running)
        return True
    finally:
        os.close(fd)

def _pids(pids: list[int]) -> str:
    return " ".join(map(str, pids))


def _stale(queue: TaskQueue, requeue: bool, grace: float, health: Health) -> None:
    """Find the running tasks of dead workers; with ``requeue``, end what runs of them and put
    them back in queue/ (a task whose processes survive stays where it is)."""
    for name in queue.names("running"):
        running = queue.path("running", name)
        fd = try_lock(running)
        if fd is None:
            continue  # locked by its live worker (or gone)
        try:
            if not same_file(fd, running):
                continue  # filed by its worker meanwhile
            try:
                task = parse(read_fd(fd), running)
            except MalformedTaskError as err:
                task = Task(id=name, command="", error=str(err))
            task.state = "running"
            health.stale.append(task)
            alive = task_processes(queue, task) if not task.error else []
            if requeue and not task.error:
                left = end_task(queue, task, grace, queue.timeout) if alive else []
                if left:
                    health.alive[name] = left
                    continue
                if alive:
                    health.ended[name] = alive
                queue.write_state(task.reset(), "queue", "requeue")
                os.unlink(running)
                health.requeued.append(name)
                log.debug("requeued stale task %s", name)
            elif alive:
                health.alive[name] = alive
        finally:
            os.close(fd)

def live_workers(queue: TaskQueue) -> list[dict[str, Any]]:
    """The worker loops running now: those holding their ``workers/<id>.lock``."""
    live = []
    for name in queue.names("workers"):
        if not name.endswith(".lock"):
            continue
        path = queue.path("workers", name)
        fd = try_lock(path)
        if fd is not None:
            os.close(fd)
            continue
        try:
            info = Path(path).read_text().split()
        except OSError:
            info = []
        live.append({"worker": name[:-5], "pid": int(info[0]) if info[:1] and info[0].isdigit() else None})
    return live

def health(queue: TaskQueue, requeue: bool = False, grace: float = 2.0) -> Health:
    """Counts per state, live workers, stale running tasks (with ``requeue``: their processes
    ended, then requeued), and malformed files waiting in queue/ or already quarantined."""
    if requeue and queue.root.is_dir():
        queue.init()
    report = Health(counts={}, workers=[])
    _stale(queue, requeue, grace, report)
    if requeue:
        settle_quietly(queue)  # waiting tasks whose dependencies finished while no one looked
    malformed = []
    for name in queue.names("queue"):
        try:
            queue.read_name("queue", name)
        except FileNotFoundError:
            continue
        except MalformedTaskError as err:
            malformed.append(str(err))
    report.counts, report.workers = queue.counts(), live_workers(queue)
    report.quarantined, report.malformed = queue.quarantine_log(), malformed
    return report


def retry(queue: TaskQueue, task_id: str) -> Task:
    """Put a failed (or cancelled) task back in ``queue/`` (``waiting/`` while a dependency has
    not finished): results cleared, attempt kept.  A task whose dependency failed can be retried
    once that dependency is retried."""
    state = queue.find(task_id)
    if state != "failed":
        raise TaskStateError(f"task {task_id!r} is {state_word(state)}; only failed tasks can be retried")
    for dependency in queue.read("failed", task_id).after:
        if dependency_state(queue, dependency) in ("failed", "gone"):
            raise TaskStateError(f"task {task_id!r} depends on {dependency!r}, which failed: retry that first")
    queue.init()
    holding = queue.path("tmp", f"{task_id}.{os.getpid()}.retrying")
    try:
        os.rename(queue.path("failed", task_id), holding)
    except FileNotFoundError:
        raise TaskStateError(f"task {task_id!r} was moved meanwhile (retried by someone else?)") from None
    try:
        with open(holding, encoding="utf-8", errors="surrogateescape", newline="") as handle:
            task = parse(handle.read(), holding).reset()
    except MalformedTaskError:
        os.rename(holding, queue.path("failed", task_id))
        raise
    queue.write_state(task, destination(queue, task), "retry")
    os.unlink(holding)
    log.debug("retried %s", task_id)
    if task.state == "waiting":
        settle_quietly(queue)
    return task


def clean(queue: TaskQueue, keep: int | None = None, hours: float | None = None, dry_run: bool = False) -> list[Task]:
    """Remove finished tasks (done and failed) and their logs: those ended more than ``hours``
    ago, or all but the newest ``keep``.  Exactly one of them.  Returns what went (or would).
    A finished task that a waiting task depends on stays.  The task files go, emptied, to
    ``spare/`` (up to :data:`SPARE_LIMIT`), where enqueue reuses them."""
    if (keep is None) == (hours is None):
        raise UsageError("clean needs exactly one of keep=N or hours=H")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
        raise UsageError(f"invalid keep {keep!r}: expected a whole number >= 0")
    if hours is not None and not hours >= 0:
        raise UsageError(f"invalid hours {hours!r}: expected a number >= 0")
    tasks = queue.list("all")
    needed = {dependency for task in tasks if task.state == "waiting" for dependency in task.after}
    finished = [task for task in tasks if task.state in ("done", "failed") and task.id not in needed]
    finished.sort(key=lambda task: (task.ended or task.created or 0.0, task.id), reverse=True)
    if keep is not None:
        going = finished[keep:]
    else:
        cutoff = time.time() - (hours or 0.0) * 3600
        going = [task for task in finished if (task.ended or task.created or 0.0) < cutoff]
    if not dry_run:
        room = max(0, SPARE_LIMIT - len(queue.names("spare"))) if going else 0
        for task in going:
            path = queue.path(task.state or "done", task.id)
            with contextlib.suppress(FileNotFoundError):
                if room:  # kept, emptied, for the next enqueue: no inode to free now and allocate then
                    os.truncate(path, 0)
                    os.rename(path, queue.path("spare", f"{task.id}.{time.time_ns()}"))
                    room -= 1
                else:
                    os.unlink(path)
            for log in (queue.log_path(task.id), queue.log_path(task.id, err=True)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(log)  # never reused: a worker may still relay a leftover process into it
        with contextlib.suppress(FileNotFoundError):
            if os.stat(queue.changes_file).st_size > 65536:  # only its size changing matters to the workers
                os.truncate(queue.changes_file, 0)
    return sorted(going, key=lambda task: task.id)
