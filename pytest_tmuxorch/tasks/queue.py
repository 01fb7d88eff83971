"""The filesystem queue: enqueue, claim, finish, cancel, retry, list, health, clean, wait.

Layout under the root (``var/tmux/<session>/tasks`` unless configured)::

    queue/ running/ done/ failed/   one task file per task, named by its ID
    logs/                           <ID>.out and <ID>.err of each task
    tmp/                            files being written (renamed into place when complete)
    cancel/                         cancel requests for running tasks (read by their worker)
    workers/                        <worker>.lock: held (flock) by each live worker loop
    quarantine/                     malformed files found in queue/, never run
    quarantine.log                  one line per quarantined file: when, name, why
    enqueue.lock                    filelock taken only to enqueue a task with a chosen ID
    start.lock                      filelock held by ``tasks-start`` while it starts loops

Protocol, and why it is safe:

- *Enqueue* writes the whole file in ``tmp/`` (same filesystem) and renames it into ``queue/``:
  a worker never sees half a task.  Generated IDs are unique without any lock (time, then pid);
  a chosen ID takes ``enqueue.lock`` so two enqueuers cannot both find it free.
- *Claim*: a worker opens ``queue/<ID>``, takes ``flock(LOCK_EX|LOCK_NB)`` on it, reads it and
  renames it into ``running/`` (the rename decides: exactly one worker wins).  It keeps that
  descriptor, and so the lock, until the task is filed: from the claim on, ``running/<ID>`` is an
  inode locked by its live worker, and a lock that anyone can take means the worker is dead (the
  kernel drops flock locks with their process; PID reuse cannot fake a held lock).  The worker
  records its name and start time by rewriting that same inode in place; readers that catch it
  mid-write see a cut file and read again.
- *Finish*: the result is written into the same inode, which is renamed into ``done/`` or
  ``failed/``; the lock is dropped after the rename.  A task costs one create (enqueue), one
  rename to claim and one to finish, besides its two log files.
- *Cancel* of a running task drops a request in ``cancel/``; the worker, which has not reaped
  its child yet (so the process group ID cannot have been reused), sends SIGTERM to the group,
  then SIGKILL after a grace period, and files the task in ``failed/`` as cancelled.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from .._proc import wait_until
from ..errors import MalformedTaskError, TaskNotFoundError, TaskStateError, TmuxTimeoutError, UsageError
from .files import write_new
from .store import STATES, Command, Task, check_command, check_env_name, check_id, new_id, parse, serialize

if TYPE_CHECKING:
    from .recovery import Health

log = get_logger("pytest_tmuxorch.tasks")

LIST_STATES = (*STATES, "all")
DIRS = ("queue", "running", "done", "failed", "logs", "tmp", "cancel", "workers", "quarantine")


class TaskQueue:
    """A task queue: the files under ``root``, and every operation on them but running tasks.

    ``TaskQueue("some/dir")`` needs no tmux; an orchestrator's ``tasks`` is one that can also
    start and stop worker loops in its panes.  ``timeout`` is the default of every wait.
    """

    def __init__(self, root: str | os.PathLike[str], timeout: float = 10.0) -> None:
        self.root = Path(root).absolute()
        self.timeout = timeout
        self._ready = False

    def __repr__(self) -> str:
        return f"TaskQueue({str(self.root)!r})"

    # --- layout ---------------------------------------------------------------------------------

    def dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def path(self, state: str, task_id: str) -> str:
        return os.path.join(self.root, state, task_id)

    @property
    def stopping_flag(self) -> str:
        """While this file exists, worker loops claim nothing (``stop`` is under way)."""
        return os.path.join(self.root, "stopping")

    def init(self) -> dict[str, Path]:
        """Create the directories (idempotent); return :meth:`paths`."""
        if not self._ready:
            for name in DIRS:
                os.makedirs(self.dir(name), exist_ok=True)
            self._ready = True
        return self.paths()

    def paths(self) -> dict[str, Path]:
        """The root and each directory of the queue."""
        return {"root": self.root, **{name: self.root / name for name in DIRS}}

    def names(self, state: str) -> builtins.list[str]:
        try:
            return sorted(os.listdir(self.dir(state)))
        except FileNotFoundError:
            return []

    # --- enqueue --------------------------------------------------------------------------------

    def _new_task(self, command: Command, cwd: str | os.PathLike[str] | None, env: dict[str, str] | None,
                  task_id: str | None) -> Task:
        command = check_command(command)
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
        return Task(
            id=check_id(task_id) if task_id is not None else new_id(), command=command, cwd=where,
            env=clean_env, created=time.time(), state="queue",
        )

    def _publish(self, tasks: builtins.list[Task]) -> None:
        """Write every task in tmp/, then rename each into queue/: if one cannot be written (a
        full disk), none is queued and no temporary file is left."""
        temps: builtins.list[str] = []
        try:
            for task in tasks:
                temp = self.path("tmp", f"{task.id}.{os.getpid()}.new")
                write_new(temp, serialize(task))
                temps.append(temp)
        except BaseException:
            for temp in temps:
                os.unlink(temp)
            raise
        for temp, task in zip(temps, tasks, strict=True):
            os.rename(temp, self.path("queue", task.id))

    def enqueue(self, command: Command, cwd: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None, id: str | None = None) -> Task:
        """Add one task; returns it.  A list is an exact argv; a str a ``/bin/sh -c`` command line.

        ``cwd`` defaults to the current directory; ``env`` is added to the worker's environment;
        ``id`` must be a safe file name not used by any task yet (default: a fresh one).
        """
        task = self._new_task(command, cwd, env, id)  # bad input creates nothing
        self.init()
        if id is None:
            self._publish([task])
        else:
            from filelock import FileLock

            with FileLock(self.dir("enqueue.lock"), timeout=self.timeout):
                if self.find(task.id, quiet=True) is not None:
                    raise UsageError(f"task ID {task.id!r} is already used")
                self._publish([task])
        log.debug("enqueued %s: %s", task.id, task.command_text)
        return task

    def enqueue_many(self, commands: Iterable[Command], cwd: str | os.PathLike[str] | None = None,
                     env: dict[str, str] | None = None) -> builtins.list[Task]:
        """Add many tasks (all validated first, then each published atomically); IDs in order."""
        tasks = [self._new_task(command, cwd, env, None) for command in commands]
        self.init()
        self._publish(tasks)
        return tasks

    # --- reading --------------------------------------------------------------------------------

    def find(self, task_id: str, quiet: bool = False) -> str | None:
        """The state a task is in (the latest, if caught in the middle of a move).

        Unknown IDs return None with ``quiet``, else raise :class:`TaskNotFoundError`.
        """
        check_id(task_id)
        for _ in range(2):  # two passes: a task moving backwards (retry, requeue) is caught
            for state in ("done", "failed", "running", "queue"):
                if os.path.exists(self.path(state, task_id)):
                    return state
        if os.path.exists(self.path("quarantine", task_id)):
            return "quarantine"
        if quiet:
            return None
        raise TaskNotFoundError(f"no task {task_id!r} in {self.root}")

    def read(self, state: str, task_id: str) -> Task:
        """Parse one task file; :class:`MalformedTaskError` or FileNotFoundError."""
        path = self.path(state, task_id)
        for attempt in range(50):
            with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
                text = handle.read()
            try:
                task = parse(text, path)
                break
            except MalformedTaskError:
                if state != "running" or attempt == 49:
                    raise
                time.sleep(0.001)  # its worker is rewriting it: read again
        if task.id != task_id:
            raise MalformedTaskError(f"malformed task file {path}: ID={task.id!r} but the file is named {task_id!r}")
        task.state = state
        return task

    def get(self, task_id: str) -> Task:
        """The current record of a task, wherever it is."""
        for _ in range(5):
            state = self.find(task_id)
            if state == "quarantine":
                raise TaskStateError(f"task {task_id!r} is malformed and was moved to {self.dir('quarantine')}")
            try:
                return self.read(state or "queue", task_id)
            except FileNotFoundError:
                continue  # it moved while we looked: look again
        raise TaskStateError(f"task {task_id!r} keeps moving; try again")

    def list(self, state: str = "all") -> builtins.list[Task]:
        """Tasks in ``state`` (queue, running, done, failed, or all), oldest ID first.

        Malformed files are listed with ``error`` set and an empty command.
        """
        if state not in LIST_STATES:
            raise UsageError(f"unknown state {state!r}: choose one of {', '.join(LIST_STATES)}")
        states = STATES if state == "all" else (state,)
        found: dict[str, Task] = {}
        for current in states:
            for name in self.names(current):
                try:
                    task = self.read(current, name)
                except FileNotFoundError:
                    continue
                except MalformedTaskError as err:
                    task = Task(id=name, command="", error=str(err), state=current)
                found[name] = task  # a later state wins over an earlier copy
        return sorted(found.values(), key=lambda task: task.id)

    def counts(self) -> dict[str, int]:
        return {state: len(self.names(state)) for state in (*STATES, "quarantine")}

    def tail(self, task_id: str, err: bool = False, lines: int = 100) -> str:
        """The last ``lines`` lines of a task's stdout (stderr with ``err``); '' before it runs."""
        if lines < 0:
            raise UsageError(f"invalid number of lines {lines!r}")
        self.find(task_id)
        path = self.path("logs", f"{task_id}.{'err' if err else 'out'}")
        try:
            with open(path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - max(65536, lines * 512)))
                data = handle.read()
        except FileNotFoundError:
            return ""
        text = data.decode(errors="replace")
        if lines == 0:
            return ""
        kept = text.splitlines(keepends=True)[-lines:]
        return "".join(kept)

    # --- moving tasks ---------------------------------------------------------------------------

    def write_state(self, task: Task, state: str, tag: str) -> None:
        """Write ``task`` as a new file in ``state`` (via tmp/ and a rename; ``tag`` names the
        temporary file after the operation)."""
        task.state = state
        temp = self.path("tmp", f"{task.id}.{os.getpid()}.{tag}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        write_new(temp, serialize(task))
        os.rename(temp, self.path(state, task.id))

    def cancel(self, task_id: str, grace: float = 2.0, timeout: float | None = None) -> Task:
        """Cancel a queued or running task; it ends in ``failed/`` marked cancelled.

        A running task's worker terminates its whole process group (SIGTERM, then SIGKILL after
        ``grace`` seconds).  Finished tasks raise :class:`TaskStateError`, unknown ones
        :class:`TaskNotFoundError`.
        """
        from .recovery import cancel

        return cancel(self, task_id, grace, timeout)

    def health(self, requeue: bool = False, grace: float = 2.0) -> Health:
        """Counts per state, live workers, stale running tasks (with ``requeue``: what still runs
        of them ended, SIGKILL ``grace`` seconds after SIGTERM, then requeued), and malformed
        files waiting in queue/ or already quarantined."""
        from .recovery import health

        return health(self, requeue, grace)

    def live_workers(self) -> builtins.list[dict[str, Any]]:
        """The worker loops running now: those holding their ``workers/<id>.lock``."""
        from .recovery import live_workers

        return live_workers(self)

    def retry(self, task_id: str) -> Task:
        """Put a failed (or cancelled) task back in ``queue/``: results cleared, attempt kept."""
        from .recovery import retry

        return retry(self, task_id)

    def quarantine_log(self) -> builtins.list[str]:
        """One line per file moved to ``quarantine/``: when, its name, and why."""
        try:
            with open(self.dir("quarantine.log"), encoding="utf-8", errors="replace") as handle:
                return [line.rstrip("\n") for line in handle if line.strip()]
        except FileNotFoundError:
            return []

    def quarantine(self, state: str, name: str, reason: str) -> str:
        """Move a malformed file out of ``state`` into ``quarantine/`` and log why."""
        target = self.path("quarantine", name)
        if os.path.exists(target):
            target = f"{target}.{time.time_ns()}"
        os.rename(self.path(state, name), target)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        reason = reason.replace("\n", " ")
        with open(self.dir("quarantine.log"), "a", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(f"{stamp} {os.path.basename(target)!r}: {reason}\n")
        return target

    def clean(self, keep: int | None = None, hours: float | None = None, dry_run: bool = False) -> builtins.list[Task]:
        """Remove finished tasks (done and failed) and their logs: those ended more than ``hours``
        ago, or all but the newest ``keep``.  Exactly one of them.  Returns what went (or would)."""
        if (keep is None) == (hours is None):
            raise UsageError("clean needs exactly one of keep=N or hours=H")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
            raise UsageError(f"invalid keep {keep!r}: expected a whole number >= 0")
        if hours is not None and not hours >= 0:
            raise UsageError(f"invalid hours {hours!r}: expected a number >= 0")
        finished = [task for task in self.list("all") if task.state in ("done", "failed")]
        finished.sort(key=lambda task: (task.ended or task.created or 0.0, task.id), reverse=True)
        if keep is not None:
            going = finished[keep:]
        else:
            cutoff = time.time() - (hours or 0.0) * 3600
            going = [task for task in finished if (task.ended or task.created or 0.0) < cutoff]
        if not dry_run:
            for task in going:
                for path in (self.path(task.state or "done", task.id), self.path("logs", f"{task.id}.out"),
                             self.path("logs", f"{task.id}.err")):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
        return sorted(going, key=lambda task: task.id)

    # --- waiting --------------------------------------------------------------------------------

    def wait(self, ids: Sequence[str] | None = None, timeout: float | None = None,
             progress: Callable[[dict[str, int]], None] | None = None) -> builtins.list[Task]:
        """Block until the tasks ``ids`` are finished (done or failed), or with no IDs until
        nothing is queued or running; return their records (all finished tasks, with no IDs).

        Raises :class:`TmuxTimeoutError` (a ``TimeoutError``) after ``timeout`` seconds (default:
        the settings' timeout).  ``progress`` is called with counts now and then.
        """
        timeout = self.timeout if timeout is None else timeout
        if not timeout > 0:
            raise UsageError(f"invalid timeout {timeout!r}: expected a positive number of seconds")
        wanted = list(dict.fromkeys(ids or ()))
        for task_id in wanted:
            if self.find(task_id) == "quarantine":
                raise TaskStateError(f"task {task_id!r} is malformed and was quarantined")
        left = 0
        last_report = 0.0

        def finished() -> bool | None:
            nonlocal left, last_report
            if wanted:
                wanted[:] = [task_id for task_id in wanted if not self._is_finished(task_id)]
                left = len(wanted)
            else:
                counts = self.counts()
                left = counts["queue"] + counts["running"]
            if not left:
                return True
            if progress is not None and time.monotonic() - last_report > 0.2:
                progress(self.counts())
                last_report = time.monotonic()
            return None

        wait_until(finished, timeout, lambda: TmuxTimeoutError(
            f"timed out after {timeout:g}s waiting for tasks: {left} not finished"))
        if ids:
            return [self._finished(task_id) for task_id in dict.fromkeys(ids)]
        return [task for task in self.list("all") if task.state in ("done", "failed")]

    def _is_finished(self, task_id: str) -> bool:
        return os.path.exists(self.path("done", task_id)) or os.path.exists(self.path("failed", task_id))

    def _finished(self, task_id: str) -> Task:
        for state in ("failed", "done"):
            with contextlib.suppress(FileNotFoundError):
                return self.read(state, task_id)
        return self.get(task_id)
