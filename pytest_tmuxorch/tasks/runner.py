"""Running one claimed task to its end: spawn, relay its output, supervise, file the result.

A task runs in its own session and process group (``posix_spawn`` with ``setsid``) with stdin
from ``/dev/null`` and its stdout and stderr on two pipes.  The worker relays each pipe into
``logs/<ID>.out`` / ``.err`` and creates that file on the stream's first byte: a task that
writes nothing costs no file (a file creation is the dearest thing a task does on a disk).
Processes the task leaves behind keep their pipes: the worker goes on relaying them (into the
same log) while it runs other tasks, until they close them or the loop stops.

While a task runs the worker sleeps in ``poll()`` on a pidfd of the child, the pipes, its wake-up
fd and its terminal: a finished task is noticed at once; a cancel request (``cancel/<ID>``) is
looked for every 100 ms; a time limit (``timeout``) ends the task like a cancel (SIGTERM to its
session, SIGKILL after the grace period) and files it as timed out.  A failed attempt of a task
with retries left goes back to ``queue/`` (its place in line kept) instead of ``failed/``.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import select
import shutil
import signal
import time
from typing import TYPE_CHECKING

from .._proc import end_session, start_time
from .deps import settle_quietly
from .files import rewrite, write_all
from .names import queued_name
from .store import Run, Task, escape, serialize

if TYPE_CHECKING:
    from .queue import TaskQueue

CANCEL_CHECK = 0.1  # seconds between looks for a cancel request while a task runs
KILL_WAIT = 5.0  # seconds a task's processes get to vanish after SIGKILL
# Signals a task starts with at their default action, whatever the loop (Python ignores SIGPIPE
# and SIGXFSZ) or the pane's shell set.
_DEFAULT_SIGNALS = tuple(
    sig for sig in signal.Signals if 0 < sig < 32 and sig not in (signal.SIGKILL, signal.SIGSTOP)
)
_NO_SPLICE = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV)


class Stream:
    """One output stream of a task: the read end of its pipe, and its log file, created when the
    first byte arrives.  ``error`` says why output was lost (the log could not be written: the
    pipe is then closed, and the task's next write fails)."""

    def __init__(self, task_id: str, path: str) -> None:
        self.task_id, self.path = task_id, path
        self.fd, self.write_fd = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self.fd, False)
        self.log = -1
        self.splice = hasattr(os, "splice")
        self.error: str | None = None
        self.leftover = False  # the task has ended: a file under its name may be a newer attempt's

    def close_write_end(self) -> None:
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def write(self, data: bytes) -> None:
        """Write into the log ourselves (the worker's own message, when the command cannot start)."""
        try:
            self._open_log()
            write_all(self.log, data)
        except OSError as err:
            self.error = f"{err.strerror or err}: {self.path}"

    def _open_log(self) -> None:
        if self.log < 0:
            exclusive = os.O_EXCL if self.leftover else os.O_TRUNC
            self.log = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | exclusive, 0o644)

    def pump(self) -> bool:
        """Move what the pipe holds into the log; False once the stream has ended (every writer
        gone, or the log cannot be written), its descriptors closed."""
        try:
            while True:
                if self.log < 0 or not self.splice:
                    data = os.read(self.fd, 1 << 16)
                    if not data:
                        return self.close()
                    self._open_log()
                    write_all(self.log, data)
                    continue
                try:
                    moved = os.splice(self.fd, self.log, 1 << 20, flags=os.SPLICE_F_NONBLOCK)
                except BlockingIOError:
                    raise
                except OSError as err:
                    if err.errno not in _NO_SPLICE:
                        raise
                    self.splice = False
                    continue
                if not moved:
                    return self.close()
        except BlockingIOError:
            return True
        except OSError as err:
            if not (self.leftover and err.errno == errno.EEXIST):
                self.error = f"{err.strerror or err}: {self.path}"
            return self.close()

    def close(self) -> bool:
        for fd in (self.fd, self.log, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.log = self.write_fd = -1
        return False


def spawn(argv: list[str], cwd: str | None, env: dict[str, str], home: tuple[str, int], stdin: int, out: int,
          err: int) -> int:
    """Start ``argv`` in a new session (its own process group); return its pid.  ``posix_spawn``
    (vfork-fast) from inside ``cwd``: the loop is single-threaded, so changing directory around
    the call is safe (``home`` is where it is, its path and a descriptor to return there)."""
    if cwd == home[0]:
        cwd = None
    if cwd is not None:
        os.chdir(cwd)
    try:
        program = argv[0]
        if "/" not in program:
            found = shutil.which(program, path=env.get("PATH", os.defpath))
            if found is None:
                raise FileNotFoundError(errno.ENOENT, "command not found", program)
            program = found
        return os.posix_spawn(
            program, argv, env, setsid=True, setsigmask=(), setsigdef=_DEFAULT_SIGNALS,
            file_actions=[(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, out, 1),
                          (os.POSIX_SPAWN_DUP2, err, 2)],
        )
    finally:
        if cwd is not None:
            os.fchdir(home[1])


def exited(pid: int) -> bool:
    """True when child ``pid`` has exited (it stays unreaped)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


class Runner:
    """The part of a worker loop that runs a claimed task (see :class:`~.worker.Worker`)."""

    queue: TaskQueue
    id: str
    pid: int
    grace: float
    stopping: bool
    base_env: dict[str, str]
    devnull: int
    home: str  # the loop's working directory, where tasks whose CWD it is start without a chdir
    home_fd: int
    ran: int
    leftovers: list[Stream]  # streams of ended tasks whose leftover processes still hold them

    def say(self, text: str) -> None:
        raise NotImplementedError

    def _watch(self, poller: select.poll) -> None:
        raise NotImplementedError

    def _woken(self, events: list[tuple[int, int]]) -> None:
        raise NotImplementedError

    def _pump(self, events: list[tuple[int, int]], streams: list[Stream], poller: select.poll) -> None:
        """Relay the streams that have something, forget those that ended."""
        ready = {fd for fd, _ in events}
        for stream in [stream for stream in streams if stream.fd in ready]:
            fd = stream.fd
            if not stream.pump():
                poller.unregister(fd)
                streams.remove(stream)
                if stream.error:
                    self.say(f"output of {stream.task_id} lost: {stream.error}")

    def execute(self, task: Task, lock_fd: int) -> None:
        queue = self.queue
        text = escape(task.command_text)
        self.say(f"run  {task.id} {text[:70]}{'...' if len(text) > 70 else ''}")
        env = dict(self.base_env)
        env.update(task.env)
        env.update(TMUXORCH_TASK_ID=task.id, TMUXORCH_TASK_ATTEMPT=str(task.attempt), TMUXORCH_WORKER=self.id,
                   TMUXORCH_TASK_QUEUE=str(queue.root))
        for stream in [s for s in self.leftovers if s.task_id == task.id]:  # an earlier attempt's
            self.leftovers.remove(stream)
            stream.close()
        if task.attempt > 1:  # a new attempt starts new logs
            for err in (False, True):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(queue.log_path(task.id, err))
        streams: list[Stream] = []
        pid = None
        try:
            streams += [Stream(task.id, queue.log_path(task.id)), Stream(task.id, queue.log_path(task.id, err=True))]
            pid = spawn(task.argv, task.cwd, env, (self.home, self.home_fd), self.devnull, streams[0].write_fd,
                        streams[1].write_fd)
        except OSError as error:
            task.error = f"cannot run {task.command_text!r}: {error}"
            if len(streams) == 2:  # the command could not start (else: no pipes for its output)
                streams[1].write(f"tmuxorch worker {self.id}: {task.error}\n".encode(errors="backslashreplace"))
                task.error = str(error)
                task.exit_status = 126 if isinstance(error, PermissionError) else 127
        finally:
            for stream in streams:
                stream.close_write_end()
        outcome, survivors = "exited", list[int]()
        if pid is not None:
            task.pid, task.pid_start = pid, start_time(pid)
            try:  # recorded now, so that a task whose loop gets SIGKILLed can be found and ended
                rewrite(lock_fd, serialize(task))
            except OSError as error:
                self.say(f"cannot record the pid of {task.id}: {error}")
            outcome, survivors = self._supervise(task, pid, list(streams))
            returncode = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])  # reaped only now
            if returncode < 0:
                task.signal = -returncode
            else:
                task.exit_status = returncode
        lost = []
        for stream in streams:
            if stream.fd >= 0 and stream.pump():  # its processes outlive it: keep relaying them
                stream.leftover = True
                self.leftovers.append(stream)
            if stream.error:
                lost.append(stream.error)
        if lost and not task.error:
            task.error = f"output lost: {'; '.join(lost)}"
        self._file(task, lock_fd, outcome, survivors)

    def _supervise(self, task: Task, pid: int, streams: list[Stream]) -> tuple[str, list[int]]:
        """Wait for the child (without reaping it), relaying its output; returns how it ended
        (``exited``, ``stopped``, ``cancelled``, ``timed out``) and the pids that survived SIGKILL."""
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # pragma: no cover - kernels before 5.3
            pidfd = None
        deadline = time.monotonic() + task.timeout if task.timeout else math.inf
        cancel_path, next_cancel_check = self.queue.path("cancel", task.id), 0.0
        try:
            poller = select.poll()
            if pidfd is not None:
                poller.register(pidfd, select.POLLIN)
            self._watch(poller)
            watched = streams + self.leftovers
            for stream in watched:
                poller.register(stream.fd, select.POLLIN)
            while True:
                wait = min(CANCEL_CHECK if pidfd is not None else 0.005, deadline - time.monotonic())
                events = poller.poll(max(0, math.ceil(wait * 1000)))
                self._pump(events, watched, poller)
                if any(fd == pidfd for fd, _ in events) if pidfd is not None else exited(pid):
                    return "exited", []
                self._woken(events)
                how = "stopped" if self.stopping else ""
                if not how and time.monotonic() >= next_cancel_check:
                    next_cancel_check = time.monotonic() + CANCEL_CHECK
                    how = "cancelled" if os.path.exists(cancel_path) else ""
                if not how and time.monotonic() >= deadline:
                    how = "timed out"
                if how:
                    self.say(f"stopping: terminating {task.id}" if how == "stopped" else
                             f"cancel {task.id}: terminating its process group" if how == "cancelled" else
                             f"{task.id} ran past its {task.timeout or 0:g}s limit: terminating it")
                    return how, self._terminate(task, pid)
        finally:
            self.leftovers[:] = [stream for stream in self.leftovers if stream.fd >= 0]
            if pidfd is not None:
                os.close(pidfd)

    def _terminate(self, task: Task, pid: int) -> list[int]:
        """SIGTERM to every process of the task's session, SIGKILL after the grace period.  The
        leader is not reaped yet, so ``pid`` is still this task's session ID.  Processes that
        survive even SIGKILL are told in ``task.error``: the task is then not requeued."""
        left = end_session(pid, task.pid_start or start_time(pid) or 0, self.grace, KILL_WAIT)
        if left:
            task.error = f"processes {' '.join(map(str, left))} of the task survived SIGKILL"
            self.say(f"{task.id}: {task.error}")
        return left

    def _file(self, task: Task, lock_fd: int, outcome: str, survivors: list[int]) -> None:
        """Put the task where it belongs now: back in queue/ (stopped, or failed with retries
        left), or in done/ or failed/."""
        queue = self.queue
        if outcome == "stopped" and not survivors:
            self._requeue(task.reset(), lock_fd)
            self.say(f"back to queue {task.id} (worker stopping; attempt {task.attempt} kept)")
            return
        task.ended = time.time()
        task.cancelled, task.timed_out = outcome == "cancelled", outcome == "timed out"
        task.runs.append(Run(attempt=task.attempt, worker=self.id, started=task.started, ended=task.ended,
                             exit_status=task.exit_status, signal=task.signal, timed_out=task.timed_out,
                             cancelled=task.cancelled))
        took = task.ended - (task.started or task.ended)
        self.ran += 1
        if not task.ok and outcome in ("exited", "timed out") and not survivors and task.failures <= task.retries:
            left = task.retries - task.failures
            self._requeue(task.reset(), lock_fd)
            self.say(f"RETRY {task.id} {task.outcome} in {took:.2f}s ({left} retr{'y' if left == 1 else 'ies'} left)")
            return
        state = "done" if task.ok else "failed"
        rewrite(lock_fd, serialize(task))
        task.state = state
        os.rename(queue.path("running", task.id), queue.path(state, task.id))
        if task.cancelled:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(queue.path("cancel", task.id))
        word = "ok  " if state == "done" else "FAIL"
        self.say(f"{word} {task.id} {task.outcome} in {took:.2f}s")
        settle_quietly(queue)  # the tasks waiting for this one

    def _requeue(self, task: Task, lock_fd: int) -> None:
        rewrite(lock_fd, serialize(task))
        os.rename(self.queue.path("running", task.id), self.queue.path("queue", queued_name(task)))
        self.queue.changed()
