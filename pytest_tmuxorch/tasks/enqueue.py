"""Adding tasks: everything checked first (bad input creates nothing), then each task written
whole in ``tmp/`` and renamed into ``queue/`` (or ``waiting/``): all of them or none.

A task is written into a spare file (the emptied file of a task ``clean`` removed) when
``spare/`` has one, into a new file otherwise.  On ext4 an inode allocation is the dearest thing
a task does: after many deletions (a queue cleaned between batches, a busy disk) each one scans
past every inode freed in the last minutes (``recently_deleted``), 0.2 to 0.5 ms here, against
0.02 ms to rename a spare and write into it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..errors import UsageError
from .deps import check_dependencies, destination, settle_quietly
from .files import reuse, write_new
from .names import queued_name
from .store import Command, Task, check_command, check_env_name, check_id, new_id, serialize
from .text import check_priority, check_retries, check_timeout

if TYPE_CHECKING:
    from .queue import TaskQueue

log = get_logger("pytest_tmuxorch.tasks")


def enqueue(queue: TaskQueue, commands: list[Command], cwd: str | os.PathLike[str] | None,
            env: dict[str, str] | None, task_id: str | None, after: Iterable[str] | None, priority: int,
            timeout: float | None, retries: int) -> list[Task]:
    """See :meth:`TaskQueue.enqueue` (one command, maybe a chosen ``task_id``) and
    :meth:`TaskQueue.enqueue_many` (generated IDs, in order)."""
    where, clean_env, options = _options(queue, cwd, env, after, priority, timeout, retries)
    tasks = [Task(id=check_id(task_id) if task_id is not None else new_id(), command=check_command(command),
                  cwd=where, env=dict(clean_env), created=time.time(), state="queue",
                  **dict(options, after=list(options["after"])))
             for command in commands]
    queue.init()
    if task_id is None:
        _publish(queue, tasks)
    else:
        from filelock import FileLock

        with FileLock(queue.dir("enqueue.lock"), timeout=queue.timeout):
            if queue.find(task_id, quiet=True) is not None:
                raise UsageError(f"task ID {task_id!r} is already used")
            _publish(queue, tasks)
    for task in tasks[:1]:
        log.debug("enqueued %s%s: %s", task.id, f" and {len(tasks) - 1} more" if len(tasks) > 1 else "",
                  task.command_text)
    return tasks


def _options(queue: TaskQueue, cwd: str | os.PathLike[str] | None, env: dict[str, str] | None,
             after: Iterable[str] | None, priority: int, timeout: float | None,
             retries: int) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Check what the tasks of one enqueue share."""
    where = os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd()
    if "\0" in where or not os.path.isdir(where):
        why = "not a directory" if os.path.exists(where) else "no such directory"
        raise UsageError(f"invalid working directory {os.fspath(cwd or where)!r}: {why}")
    clean_env: dict[str, str] = {}
    for name, value in (env or {}).items():
        check_env_name(name)
        if not isinstance(value, str) or "\0" in value:
            raise UsageError(f"invalid value for environment variable {name}: expected a str without NUL")
        clean_env[name] = value
    if isinstance(after, str):
        raise UsageError(f"invalid after {after!r}: expected a list of task IDs")
    options = {"priority": check_priority(priority), "timeout": check_timeout(timeout),
               "retries": check_retries(retries), "after": check_dependencies(queue, after or ())}
    return where, clean_env, options


def _publish(queue: TaskQueue, tasks: list[Task]) -> None:
    """Write every task in tmp/, then rename each into queue/ (waiting/ while a dependency has
    not finished): if one cannot be written (a full disk), none is queued and no temporary file
    is left."""
    where: dict[tuple[str, ...], str] = {(): "queue"}  # the tasks of one enqueue share their dependencies
    for task in tasks:
        if tuple(task.after) not in where:
            where[tuple(task.after)] = destination(queue, task)
        task.state = where[tuple(task.after)]
    spares = os.listdir(queue.dir("spare"))
    temps: list[str] = []
    try:
        for task in tasks:
            temp = queue.path("tmp", f"{task.id}.{os.getpid()}.new")
            text = serialize(task)
            reused = False
            while spares and not reused:  # False: another enqueuer took that one
                reused = reuse(queue.path("spare", spares.pop()), temp, text)
            if not reused:
                write_new(temp, text)
            temps.append(temp)
    except BaseException:
        for temp in temps:
            os.unlink(temp)
        raise
    for temp, task in zip(temps, tasks, strict=True):
        os.rename(temp, queue.path("queue", queued_name(task)) if task.state == "queue" else
                  queue.path("waiting", task.id))
    if any(task.state == "queue" for task in tasks):
        queue.changed()
    if any(task.state == "waiting" for task in tasks):
        settle_quietly(queue)  # (an idle worker settles it later if this fails)
