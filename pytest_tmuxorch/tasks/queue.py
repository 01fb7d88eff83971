"""The filesystem queue: find, list, move; enqueue, cancel, retry, health, logs, waits and
dependencies live in their own modules.

Layout under the root (``var/tmux/<session>/tasks`` unless configured)::

    queue/                          tasks ready to run, named <KEY>~<ID> in claim order (see .names)
    waiting/ running/ done/ failed/ one task file per task, named by its ID
    logs/                           <ID>.out and <ID>.err of each task: created by the first byte
    tmp/                            files being written (renamed into place when complete)
    spare/                          the (emptied) files of removed tasks, rewritten by enqueue
    cancel/                         cancel requests for running tasks (read by their worker)
    workers/                        <worker>.lock: held (flock) by each live worker loop
    quarantine/                     malformed files found in queue/, never run
    quarantine.log                  one line per quarantined file: when, name, why
    queue.changes                   a byte is appended whenever tasks enter queue/ (see below)
    enqueue.lock                    filelock taken only to enqueue a task with a chosen ID
    start.lock                      filelock held by ``tasks-start`` while it starts loops

Protocol, and why it is safe:

- *Enqueue* writes the whole file in ``tmp/`` (same filesystem) and renames it into ``queue/``
  (or ``waiting/`` while a dependency has not finished): a worker never sees half a task.
  Generated IDs are unique without any lock (time, then pid); a chosen ID takes ``enqueue.lock``
  so two enqueuers cannot both find it free.  Then a byte is appended to ``queue.changes``: a
  worker working through its listing of ``queue/`` lists it again when that file grew, so a task
  of higher priority is taken next, without a listing per claim.
- *Claim*: a worker opens the first name of ``queue/``, takes ``flock(LOCK_EX|LOCK_NB)`` on it,
  reads it and renames it into ``running/<ID>`` (the rename decides: exactly one worker wins).
  It keeps that descriptor, and so the lock, until the task is filed: from the claim on,
  ``running/<ID>`` is an inode locked by its live worker, and a lock that anyone can take means
  the worker is dead (the kernel drops flock locks with their process; PID reuse cannot fake a
  held lock).  The worker records its name and start time by rewriting that same inode in
  place; readers that catch it mid-write see a cut file and read again.
- *Finish*: the result is written into the same inode, which is renamed into ``done/`` or
  ``failed/`` (or back into ``queue/`` for another attempt); the lock is dropped after the
  rename.  A task costs three renames (enqueue, claim, finish) and one file creation, or none
  when ``spare/`` holds the emptied file of a task ``clean`` removed (see :mod:`.enqueue`); its
  logs are created only if it writes (its worker relays its output from pipes).  A read that
  finds another ID, or a cut file, where the name no longer leads counts as "moved".
- *Dependencies*: a task in ``waiting/`` moves to ``queue/`` once all of its dependencies are
  in ``done/``, or to ``failed/`` ("dependency failed") once one is in ``failed/``.  Whoever
  files a task (a worker, a cancel) or enqueues a waiting one looks at ``waiting/`` afterwards,
  so of two that race, the later sees both facts (see :mod:`.deps`).
- *Cancel* of a running task drops a request in ``cancel/``; the worker, which has not reaped
  its child yet (so the process group ID cannot have been reused), sends SIGTERM to the group,
  then SIGKILL after a grace period, and files the task in ``failed/`` as cancelled.  A time
  limit (``timeout``) ends it the same way.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..errors import MalformedTaskError, TaskNotFoundError, TaskStateError, UsageError
from .files import read_fd, same_file, write_new
from .names import id_of, queued_name
from .store import STATES, Command, Task, check_id, parse, serialize

if TYPE_CHECKING:
    from .progress import Overview
    from .recovery import Health

log = get_logger("pytest_tmuxorch.tasks")

LIST_STATES = (*STATES, "all")
DIRS = ("queue", "waiting", "running", "done", "failed", "logs", "tmp", "spare", "cancel", "workers", "quarantine")


class TaskQueue:
    """A task queue: the files under ``root``, and every operation on them but running tasks.

    ``TaskQueue("some/dir")`` needs no tmux; an orchestrator's ``tasks`` is one that can also
    start and stop worker loops in its panes.  ``timeout`` is the default of every wait.
    """

    def __init__(self, root: str | os.PathLike[str], timeout: float = 10.0) -> None:
        self.root = Path(root).absolute()
        self._root = str(self.root).rstrip("/")  # paths are built often: a str, joined with f-strings
        self.timeout = timeout
        self._ready = False

    def __repr__(self) -> str:
        return f"TaskQueue({str(self.root)!r})"

    # --- layout ---------------------------------------------------------------------------------

    def dir(self, name: str) -> str:
        return f"{self._root}/{name}"

    def path(self, state: str, name: str) -> str:
        """The path of the file ``name`` in ``state`` (in ``queue/``, names are ``<KEY>~<ID>``)."""
        return f"{self._root}/{state}/{name}"

    def log_path(self, task_id: str, err: bool = False) -> str:
        return f"{self._root}/logs/{task_id}.{'err' if err else 'out'}"

    @property
    def stopping_flag(self) -> str:
        """While this file exists, worker loops claim nothing (``stop`` is under way)."""
        return f"{self._root}/stopping"

    @property
    def changes_file(self) -> str:
        """Grows by a byte whenever tasks enter ``queue/``: workers then list it again."""
        return f"{self._root}/queue.changes"

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
        """The file names in ``state``, sorted (for ``queue/``: in claim order)."""
        try:
            return sorted(os.listdir(self.dir(state)))
        except FileNotFoundError:
            return []

    def queued(self, task_id: str) -> str | None:
        """The name of the task's file in ``queue/``, or None when it is not there."""
        suffix = f"~{task_id}"
        try:
            with os.scandir(self.dir("queue")) as entries:
                for entry in entries:
                    if entry.name.endswith(suffix) or entry.name == task_id:
                        return entry.name
        except FileNotFoundError:
            pass
        return None

    def file_name(self, state: str, task_id: str) -> str:
        """The name of the task's file in ``state`` (FileNotFoundError if it is not there)."""
        name = self.queued(task_id) if state == "queue" else task_id
        if name is None:
            raise FileNotFoundError(2, "no such task in queue/", self.path("queue", task_id))
        return name

    def changed(self) -> None:
        """Tell the workers that ``queue/`` has new names (best effort: a worker lists it again
        anyway once its listing is used up)."""
        with contextlib.suppress(OSError):
            fd = os.open(self.changes_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, b".")
            finally:
                os.close(fd)

    # --- enqueue --------------------------------------------------------------------------------

    def enqueue(self, command: Command, cwd: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None, id: str | None = None, after: Iterable[str] | None = None,
                priority: int = 0, timeout: float | None = None, retries: int = 0) -> Task:
        """Add one task; returns it.  A list is an exact argv; a str a ``/bin/sh -c`` command line.

        ``cwd`` defaults to the current directory; ``env`` is added to the worker's environment;
        ``id`` must be a safe file name not used by any task yet (default: a fresh one).
        ``after``: IDs of existing tasks that must be done first (if one fails, so does this
        one, without running); ``priority``: higher runs first (default 0); ``timeout``: seconds
        an attempt may run before its process group is ended; ``retries``: how many more times
        a failing task runs.
        """
        from .enqueue import enqueue

        return enqueue(self, [command], cwd, env, id, after, priority, timeout, retries)[0]

    def enqueue_many(self, commands: Iterable[Command], cwd: str | os.PathLike[str] | None = None,
                     env: dict[str, str] | None = None, after: Iterable[str] | None = None, priority: int = 0,
                     timeout: float | None = None, retries: int = 0) -> builtins.list[Task]:
        """Add many tasks (all validated first, then each published atomically); IDs in order."""
        from .enqueue import enqueue

        return enqueue(self, list(commands), cwd, env, None, after, priority, timeout, retries)

    # --- reading --------------------------------------------------------------------------------

    def find(self, task_id: str, quiet: bool = False) -> str | None:
        """The state a task is in (the latest, if caught in the middle of a move).

        Unknown IDs return None with ``quiet``, else raise :class:`TaskNotFoundError`.
        """
        check_id(task_id)
        for _ in range(2):  # two passes: a task moving backwards (retry, requeue) is caught
            for state in ("done", "failed", "running", "waiting"):
                if os.path.exists(self.path(state, task_id)):
                    return state
            if self.queued(task_id) is not None:
                return "queue"
        if os.path.exists(self.path("quarantine", task_id)):
            return "quarantine"
        if quiet:
            return None
        raise TaskNotFoundError(f"no task {task_id!r} in {self.root}")

    def read(self, state: str, task_id: str) -> Task:
        """Parse one task file; :class:`MalformedTaskError` or FileNotFoundError."""
        return self.read_name(state, self.file_name(state, task_id))

    def read_name(self, state: str, name: str) -> Task:
        """Parse the file ``name`` of ``state``; :class:`MalformedTaskError` or FileNotFoundError."""
        path = self.path(state, name)
        for attempt in range(50):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                text = read_fd(fd)
                try:
                    task = parse(text, path)
                    if task.id != id_of(name):
                        raise MalformedTaskError(
                            f"malformed task file {path}: ID={task.id!r} but the file is named {name!r}")
                    break
                except MalformedTaskError:
                    if not same_file(fd, path):  # moved on meanwhile, maybe reused as a spare
                        raise FileNotFoundError(2, "moved while read", path) from None
                    if state not in ("running", "waiting") or attempt == 49:
                        raise
            finally:
                os.close(fd)
            time.sleep(0.001)  # its worker (or a settler) is rewriting it: read again
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
        """Tasks in ``state`` (queue, waiting, running, done, failed, or all), oldest ID first.

        Malformed files are listed with ``error`` set and an empty command.
        """
        if state not in LIST_STATES:
            raise UsageError(f"unknown state {state!r}: choose one of {', '.join(LIST_STATES)}")
        states = STATES if state == "all" else (state,)
        found: dict[str, Task] = {}
        for current in states:
            for name in self.names(current):
                try:
                    task = self.read_name(current, name)
                except FileNotFoundError:
                    continue
                except MalformedTaskError as err:
                    task = Task(id=id_of(name), command="", error=str(err), state=current)
                found[task.id] = task  # a later state wins over an earlier copy
        return sorted(found.values(), key=lambda task: task.id)

    def counts(self) -> dict[str, int]:
        return {state: len(self.names(state)) for state in (*STATES, "quarantine")}

    def overview(self) -> Overview:
        """What a live view shows: counts per state, the running tasks with their runtime so far,
        the live worker loops, and how far the queue is from empty (see :mod:`.progress`)."""
        from .progress import overview

        return overview(self)

    def tail(self, task_id: str, err: bool = False, lines: int = 100) -> str:
        """The last ``lines`` lines of a task's stdout (stderr with ``err``); '' before it wrote any."""
        from .logs import tail

        return tail(self, task_id, err, lines)

    def follow(self, task_id: str, err: bool = False, lines: int | None = None,
               timeout: float | None = None) -> Iterator[bytes]:
        """A task's stdout (stderr with ``err``) as it is written, like ``tail -f``: the last
        ``lines`` lines so far (all with None), then each new piece, until the task has finished
        and all it wrote is read (``get(task_id).exit_code`` tells how it ended).  A new attempt
        starts a new log, which is followed too.  :class:`TmuxTimeoutError` after ``timeout``
        seconds (default: no limit)."""
        from .logs import follow

        return follow(self, task_id, err, lines, timeout)

    # --- moving tasks ---------------------------------------------------------------------------

    def write_state(self, task: Task, state: str, tag: str) -> None:
        """Write ``task`` as a new file in ``state`` (via tmp/ and a rename; ``tag`` names the
        temporary file after the operation)."""
        task.state = state
        temp = self.path("tmp", f"{task.id}.{os.getpid()}.{tag}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        write_new(temp, serialize(task))
        os.rename(temp, self.path(state, queued_name(task) if state == "queue" else task.id))
        if state == "queue":
            self.changed()

    def cancel(self, task_id: str, grace: float = 2.0, timeout: float | None = None) -> Task:
        """Cancel a queued, waiting or running task; it ends in ``failed/`` marked cancelled, and
        the tasks waiting for it fail too ("dependency failed").

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
        with contextlib.suppress(FileNotFoundError), open(self.dir("quarantine.log"), encoding="utf-8",
                                                                   errors="replace") as handle:
            return [line.rstrip("\n") for line in handle if line.strip()]
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
        ago, or all but the newest ``keep``.  Exactly one of them.  Returns what went (or would).
        A finished task that a waiting task depends on stays."""
        from .recovery import clean

        return clean(self, keep, hours, dry_run)

    # --- waiting --------------------------------------------------------------------------------

    def wait(self, ids: Sequence[str] | None = None, timeout: float | None = None,
             progress: Callable[[dict[str, int]], None] | None = None) -> builtins.list[Task]:
        """Block until the tasks ``ids`` are finished (done or failed), or with no IDs until
        nothing is queued, waiting or running; return their records (all finished tasks, with no
        IDs).

        Raises :class:`TmuxTimeoutError` (a ``TimeoutError``) after ``timeout`` seconds (default:
        the settings' timeout).  ``progress`` is called now and then with the counts per state,
        plus ``total`` and ``left``: the tasks waited for, and those of them not finished yet.
        """
        self.wait_quietly(ids, timeout, progress)
        if ids:
            return [self._finished(task_id) for task_id in dict.fromkeys(ids)]
        return [task for task in self.list("all") if task.state in ("done", "failed")]

    def wait_quietly(self, ids: Sequence[str] | None = None, timeout: float | None = None,
                     progress: Callable[[dict[str, int]], None] | None = None) -> None:
        """:meth:`wait` without reading the records back (cheaper for a large queue)."""
        from .progress import wait_for

        wait_for(self, ids, self.timeout if timeout is None else timeout, progress)

    def _is_finished(self, task_id: str) -> bool:
        return os.path.exists(self.path("done", task_id)) or os.path.exists(self.path("failed", task_id))

    def _finished(self, task_id: str) -> Task:
        for state in ("failed", "done"):
            with contextlib.suppress(FileNotFoundError):
                return self.read(state, task_id)
        return self.get(task_id)
