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

import contextlib
import fcntl
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TmuxorchError, TmuxTimeoutError, UsageError
from .store import (
    STATES,
    Command,
    MalformedTaskError,
    Task,
    check_command,
    check_env_name,
    check_id,
    parse,
    serialize,
)

if TYPE_CHECKING:
    from ..orchestrator import Orchestrator

log = logging.getLogger("pytest_tmuxorch.tasks")

LIST_STATES = (*STATES, "all")
DIRS = ("queue", "running", "done", "failed", "logs", "tmp", "cancel", "workers", "quarantine")
POLL = 0.02  # seconds between looks at a directory when waiting


class TaskNotFoundError(UsageError):
    """No task with this ID in any state."""


class TaskStateError(TmuxorchError):
    """The task exists but is in a state where the operation makes no sense."""


# --- IDs ----------------------------------------------------------------------------------------

_last_ns = 0


def new_id() -> str:
    """A fresh ID, unique across processes and sortable by creation time (fixed width).

    ``YYYYMMDD-HHMMSS.nnnnnnnnn-PPPPPPP``: UTC time to the nanosecond (strictly increasing within
    a process), then the process ID.
    """
    global _last_ns
    now = max(time.time_ns(), _last_ns + 1)
    _last_ns = now
    seconds, nanos = divmod(now, 1_000_000_000)
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(seconds))}.{nanos:09d}-{os.getpid():07d}"


# --- small file helpers ---------------------------------------------------------------------------


def write_new(path: str, text: str, lock: bool = False) -> int | None:
    """Create ``path`` (must not exist) with ``text``; with ``lock``, keep it open, flocked, and
    return the descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, text.encode())
    except BaseException:
        os.close(fd)
        raise
    if lock:
        return fd
    os.close(fd)
    return None


def try_lock(path: str, write: bool = False) -> int | None:
    """Open ``path`` (read-write with ``write``) and take its flock without waiting: the
    descriptor, or None if someone holds it or it does not exist."""
    try:
        fd = os.open(path, os.O_RDWR if write else os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def rewrite(fd: int, text: str) -> None:
    """Replace the content of the open file ``fd`` in place (readers may see it cut: they retry)."""
    data = text.encode("utf-8", errors="surrogateescape")
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def same_file(fd: int, path: str) -> bool:
    """True while ``path`` still names the file open as ``fd``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (own.st_ino, own.st_dev)


def read_fd(fd: int) -> str:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="surrogateescape")


@dataclass
class Health:
    """What ``tasks-health`` reports."""

    counts: dict[str, int]
    workers: list[dict[str, Any]]
    stale: list[Task] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when a stale task is still in running/ (for CI exit statuses)."""
        return not [task for task in self.stale if task.id not in self.requeued]

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts, "workers": self.workers, "ok": self.ok,
            "stale": [task.as_dict() for task in self.stale], "requeued": self.requeued,
            "quarantined": self.quarantined, "malformed": self.malformed,
        }


class TaskQueue:
    """The task queue of a session (SPEC 4).

    ``TaskQueue(orch)`` follows the orchestrator's settings (root ``settings.tasks_root``) and can
    start and stop worker loops in its panes; ``TaskQueue("some/dir")`` works on the files alone
    (enqueue, list, cancel, ... need no tmux).
    """

    def __init__(self, source: Orchestrator | str | os.PathLike[str], timeout: float | None = None) -> None:
        if isinstance(source, (str, os.PathLike)):
            self.orch: Orchestrator | None = None
            root = Path(source)
            self.timeout = 10.0 if timeout is None else timeout
        else:
            self.orch = source
            root = source.settings.tasks_root
            self.timeout = source.settings.timeout if timeout is None else timeout
        self.root = root.absolute()
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

    def _names(self, state: str) -> list[str]:
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
            raise UsageError(f"invalid working directory {os.fspath(cwd or where)!r}: no such directory")
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

    def _publish(self, task: Task) -> None:
        temp = self.path("tmp", f"{task.id}.{os.getpid()}.new")
        write_new(temp, serialize(task))
        os.rename(temp, self.path("queue", task.id))

    def enqueue(self, command: Command, cwd: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None, id: str | None = None) -> Task:
        """Add one task; returns it.  A list is an exact argv; a str a ``/bin/sh -c`` command line.

        ``cwd`` defaults to the current directory; ``env`` is added to the worker's environment;
        ``id`` must be a safe file name not used by any task yet (default: a fresh one).
        """
        self.init()
        task = self._new_task(command, cwd, env, id)
        if id is None:
            self._publish(task)
        else:
            from filelock import FileLock

            with FileLock(self.dir("enqueue.lock"), timeout=self.timeout):
                if self.find(task.id, quiet=True) is not None:
                    raise UsageError(f"task ID {task.id!r} is already used")
                self._publish(task)
        log.debug("enqueued %s: %s", task.id, task.command_text)
        return task

    def enqueue_many(self, commands: Iterable[Command], cwd: str | os.PathLike[str] | None = None,
                     env: dict[str, str] | None = None) -> list[Task]:
        """Add many tasks (all validated first, then each published atomically); IDs in order."""
        self.init()
        tasks = [self._new_task(command, cwd, env, None) for command in commands]
        for task in tasks:
            self._publish(task)
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

    def list_tasks(self, state: str = "all") -> list[Task]:
        """Tasks in ``state`` (queue, running, done, failed, or all), oldest ID first.

        Malformed files are listed with ``error`` set and an empty command.
        """
        if state not in LIST_STATES:
            raise UsageError(f"unknown state {state!r}: choose one of {', '.join(LIST_STATES)}")
        states = STATES if state == "all" else (state,)
        found: dict[str, Task] = {}
        for current in states:
            for name in self._names(current):
                try:
                    task = self.read(current, name)
                except FileNotFoundError:
                    continue
                except MalformedTaskError as err:
                    task = Task(id=name, command="", error=str(err), state=current)
                found[name] = task  # a later state wins over an earlier copy
        return sorted(found.values(), key=lambda task: task.id)

    def counts(self) -> dict[str, int]:
        return {state: len(self._names(state)) for state in (*STATES, "quarantine")}

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

    def _file(self, task: Task, state: str, tag: str) -> None:
        """Write ``task`` as a new file in ``state`` (via tmp/ and a rename)."""
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
        self.init()
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout + grace
        while True:
            state = self.find(task_id)
            if state in ("done", "failed", "quarantine"):
                raise TaskStateError(f"task {task_id!r} is already {_state_word(state)}; nothing to cancel")
            if state == "queue" and self._cancel_queued(task_id):
                return self.get(task_id)
            if state == "running":
                return self._cancel_running(task_id, deadline)
            if time.monotonic() > deadline:
                raise TmuxTimeoutError(f"could not cancel task {task_id!r} within {timeout:g}s")
            time.sleep(0.001)  # a worker is claiming it right now: look again

    def _cancel_queued(self, task_id: str) -> bool:
        """Take a task out of queue/ before any worker does; False if a worker got it first."""
        fd = try_lock(self.path("queue", task_id))
        if fd is None:
            return False
        try:
            holding = self.path("tmp", f"{task_id}.{os.getpid()}.cancelling")
            try:
                os.rename(self.path("queue", task_id), holding)
            except FileNotFoundError:
                return False
            try:
                task = parse(read_fd(fd), holding)
            except MalformedTaskError:
                task = Task(id=task_id, command="", error="malformed task file, cancelled")
            task.cancelled, task.ended = True, time.time()
            self._file(task, "failed", "cancelled")
            os.unlink(holding)
            log.debug("cancelled queued task %s", task_id)
            return True
        finally:
            os.close(fd)

    def _cancel_running(self, task_id: str, deadline: float) -> Task:
        request = self.path("cancel", task_id)
        with open(request, "w") as handle:
            handle.write(f"{os.getpid()} {time.time()!r}\n")
        try:
            while True:
                state = self.find(task_id, quiet=True)
                if state == "failed":
                    return self.get(task_id)
                if state == "done":
                    raise TaskStateError(f"task {task_id!r} finished (exit 0) before it could be cancelled")
                if state == "queue":  # its worker was stopped meanwhile: cancel it there
                    if self._cancel_queued(task_id):
                        return self.get(task_id)
                elif state == "running" and self._cancel_stale(task_id):
                    return self.get(task_id)
                if time.monotonic() > deadline:
                    raise TmuxTimeoutError(f"task {task_id!r} was not cancelled in time (is its worker stuck?)")
                time.sleep(POLL)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(request)

    def _cancel_stale(self, task_id: str) -> bool:
        """A running task whose worker is dead: file it as cancelled (its processes, if any are
        left, are not signalled: nothing proves their process group is still theirs)."""
        running = self.path("running", task_id)
        fd = try_lock(running)
        if fd is None:
            return False
        try:
            if not same_file(fd, running):
                return False
            task = parse(read_fd(fd), running)
            task.cancelled, task.ended = True, time.time()
            task.error = "cancelled after its worker died; its processes were not signalled"
            self._file(task, "failed", "cancelled")
            os.unlink(running)
            return True
        finally:
            os.close(fd)

    def retry(self, task_id: str) -> Task:
        """Put a failed (or cancelled) task back in ``queue/``: results cleared, attempt kept."""
        self.init()
        state = self.find(task_id)
        if state != "failed":
            raise TaskStateError(f"task {task_id!r} is {_state_word(state)}; only failed tasks can be retried")
        holding = self.path("tmp", f"{task_id}.{os.getpid()}.retrying")
        try:
            os.rename(self.path("failed", task_id), holding)
        except FileNotFoundError:
            raise TaskStateError(f"task {task_id!r} was moved meanwhile (retried by someone else?)") from None
        try:
            with open(holding, encoding="utf-8", errors="surrogateescape", newline="") as handle:
                task = parse(handle.read(), holding).reset()
        except MalformedTaskError:
            os.rename(holding, self.path("failed", task_id))
            raise
        self._file(task, "queue", "retry")
        os.unlink(holding)
        log.debug("retried %s", task_id)
        return task

    def requeue_stale(self) -> list[str]:
        """Put every stale running task back in ``queue/`` (attempt kept); return their IDs."""
        return self.health(requeue=True).requeued

    def _stale(self, requeue: bool) -> tuple[list[Task], list[str]]:
        stale, requeued = [], []
        for name in self._names("running"):
            running = self.path("running", name)
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
                stale.append(task)
                if requeue and not task.error:
                    self._file(task.reset(), "queue", "requeue")
                    os.unlink(running)
                    requeued.append(name)
                    log.debug("requeued stale task %s", name)
            finally:
                os.close(fd)
        return stale, requeued

    def live_workers(self) -> list[dict[str, Any]]:
        """The worker loops running now: those holding their ``workers/<id>.lock``."""
        live = []
        for name in self._names("workers"):
            if not name.endswith(".lock"):
                continue
            path = self.path("workers", name)
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

    def health(self, requeue: bool = False) -> Health:
        """Counts per state, live workers, stale running tasks (requeued with ``requeue``), and
        malformed files waiting in queue/ or already quarantined."""
        if requeue:
            self.init()
        stale, requeued = self._stale(requeue)
        malformed = []
        for name in self._names("queue"):
            try:
                self.read("queue", name)
            except FileNotFoundError:
                continue
            except MalformedTaskError as err:
                malformed.append(str(err))
        return Health(
            counts=self.counts(), workers=self.live_workers(), stale=stale, requeued=requeued,
            quarantined=self.quarantine_log(), malformed=malformed,
        )

    def quarantine_log(self) -> list[str]:
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

    def clean(self, keep: int | None = None, hours: float | None = None, dry_run: bool = False) -> list[Task]:
        """Remove finished tasks (done and failed) and their logs: those ended more than ``hours``
        ago, or all but the newest ``keep``.  Exactly one of them.  Returns what went (or would)."""
        if (keep is None) == (hours is None):
            raise UsageError("clean needs exactly one of keep=N or hours=H")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
            raise UsageError(f"invalid keep {keep!r}: expected a whole number >= 0")
        if hours is not None and not hours >= 0:
            raise UsageError(f"invalid hours {hours!r}: expected a number >= 0")
        finished = [task for task in self.list_tasks("all") if task.state in ("done", "failed")]
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
             progress: Callable[[dict[str, int]], None] | None = None) -> list[Task]:
        """Block until the tasks ``ids`` are finished (done or failed), or with no IDs until
        nothing is queued or running; return their records (all finished tasks, with no IDs).

        Raises :class:`TmuxTimeoutError` (a ``TimeoutError``) after ``timeout`` seconds (default:
        the settings' timeout).  ``progress`` is called with counts now and then.
        """
        timeout = self.timeout if timeout is None else timeout
        if not timeout > 0:
            raise UsageError(f"invalid timeout {timeout!r}: expected a positive number of seconds")
        deadline = time.monotonic() + timeout
        pending = list(dict.fromkeys(ids)) if ids else None
        if pending is not None:
            for task_id in pending:
                if self.find(task_id) == "quarantine":
                    raise TaskStateError(f"task {task_id!r} is malformed and was quarantined")
        delay = 0.002
        last_report = 0.0
        while True:
            if pending is None:
                counts = self.counts()
                finished = not counts["queue"] and not counts["running"]
                left = counts["queue"] + counts["running"]
            else:
                pending = [task_id for task_id in pending
                           if not os.path.exists(self.path("done", task_id))
                           and not os.path.exists(self.path("failed", task_id))]
                finished = not pending
                left = len(pending)
            if finished:
                break
            now = time.monotonic()
            if progress is not None and now - last_report > 0.2:
                progress(self.counts() if pending is not None else counts)
                last_report = now
            if now > deadline:
                raise TmuxTimeoutError(f"timed out after {timeout:g}s waiting for tasks: {left} not finished")
            time.sleep(min(delay, max(0.0, deadline - now)))
            delay = min(delay * 1.5, 0.05)
        if ids:
            return [self._finished(task_id) for task_id in dict.fromkeys(ids)]
        return [task for task in self.list_tasks("all") if task.state in ("done", "failed")]

    def _finished(self, task_id: str) -> Task:
        for state in ("failed", "done"):
            with contextlib.suppress(FileNotFoundError):
                return self.read(state, task_id)
        return self.get(task_id)

    # --- worker loops in panes ------------------------------------------------------------------

    def worker_ids(self) -> list[str]:
        if self.orch is None:
            raise UsageError("this task queue has no orchestrator: worker loops need tmux panes")
        return [f"w{index}" for index in range(len(self.orch.workers))]

    def worker_command(self, worker_id: str) -> str:
        """What is typed into a worker pane: this Python, never a PATH lookup."""
        import shlex

        return shlex.join([sys.executable, "-m", "pytest_tmuxorch", "worker", str(self.root), worker_id])

    def start(self, timeout: float | None = None) -> list[str]:
        """Start a worker loop in every worker pane that has none; wait until they run.

        Returns the IDs of the loops started (empty when all were running already).
        """
        if self.orch is None:
            raise UsageError("this task queue has no orchestrator: worker loops need tmux panes")
        from ..panes import typing_commands

        self.init()
        with contextlib.suppress(FileNotFoundError):  # left by a stop that did not finish
            os.unlink(self.stopping_flag)
        timeout = self.timeout if timeout is None else timeout
        panes = self.orch.workers
        live = {info["worker"] for info in self.live_workers()}
        missing = [(f"w{index}", pane) for index, pane in enumerate(panes) if f"w{index}" not in live]
        commands = []
        for worker_id, pane in missing:
            commands += typing_commands(pane.id, self.worker_command(worker_id))
        self.orch.tmux.chain(commands)
        wanted = {worker_id for worker_id, _ in missing}
        self._wait_workers(lambda live_ids: wanted <= live_ids, timeout, "start")
        return [worker_id for worker_id, _ in missing]

    def stop(self, timeout: float | None = None) -> list[str]:
        """Stop every worker loop (C-c in their panes); a task they were running goes back to
        ``queue/``.  Waits until the loops have exited; returns their IDs."""
        if self.orch is None:
            raise UsageError("this task queue has no orchestrator: worker loops need tmux panes")
        from ..panes import key_commands

        timeout = self.timeout if timeout is None else timeout
        live = {info["worker"] for info in self.live_workers()}
        panes = self.orch.workers
        commands = []
        for index, pane in enumerate(panes):
            if f"w{index}" in live:
                commands += key_commands(pane.id, ("C-c",))
        # First stop all claims: the loops do not get their C-c at the same instant, and a task
        # one loop puts back must not be claimed (its attempt counted again) by another.
        self.init()
        with open(self.stopping_flag, "w"):
            pass
        try:
            self.orch.tmux.chain(commands)
            self._wait_workers(lambda live_ids: not (live & live_ids), timeout, "stop")
        finally:
            os.unlink(self.stopping_flag)
        return sorted(live)

    def _wait_workers(self, done: Callable[[set[str]], bool], timeout: float, what: str) -> None:
        from ..panes import wait_until

        def live_ids() -> set[str]:
            return {info["worker"] for info in self.live_workers()}

        def expired() -> Exception:
            running = ", ".join(sorted(live_ids())) or "none"
            return TmuxTimeoutError(f"worker loops did not {what} within {timeout:g}s (running: {running})")

        wait_until(lambda: True if done(live_ids()) else None, timeout,
                   lambda remaining, attempt: time.sleep(min(POLL, remaining)), expired)


    list = list_tasks  # the spec's name; defined last so ``list[...]`` above means the builtin

def _state_word(state: str | None) -> str:
    return {"queue": "queued", "running": "running", "done": "done", "failed": "failed",
            "quarantine": "quarantined (malformed)"}.get(state or "", "unknown")

