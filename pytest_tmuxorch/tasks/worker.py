"""The worker loop: ``tmuxorch worker <tasks_dir> <worker_id>``, one per worker pane.

It holds ``workers/<id>.lock`` for its whole life (a second loop with the same ID exits at
once), claims the oldest task of ``queue/`` (see :mod:`.queue` for the lock protocol), runs it in
its own session and process group with the task's CWD and ENV (added to its own environment;
``TMUXORCH_TASK_ID``, ``TMUXORCH_TASK_ATTEMPT`` and ``TMUXORCH_WORKER`` are set too), stdin from
``/dev/null``, stdout and stderr to ``logs/<ID>.out`` / ``.err``, and files the result in ``done/``
(exit 0) or ``failed/``.  One short line in the pane says what starts and how it ended.

While idle it looks at ``queue/`` every ``idle_poll`` seconds (20 ms: a listdir of an empty
directory; no measurable CPU).  While a task runs it sleeps in ``poll()`` on a pidfd of the child,
so a finished task is noticed at once, and every 100 ms checks ``cancel/`` for a cancel request.

SIGINT (``tasks-stop`` types C-c), SIGTERM and SIGHUP stop the loop, and so does its terminal
hanging up (the pane or the server killed, whatever the shell does with SIGHUP): every process
of the running task's session gets SIGTERM, then SIGKILL after ``grace`` seconds, and the task
goes back to ``queue/`` with its attempt count kept.  The child is reaped only after that, so the
session signalled is always the task's own (no PID-reuse accident).  Writing to a terminal that
is gone never stops the loop half-way: :meth:`Worker.say` never raises.

The task's pid and its start time are written into its running file as soon as it is spawned:
if the loop itself is killed (SIGKILL), ``tasks-health`` can still prove which processes are the
task's and end them before the task is requeued.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import shutil
import signal
import sys
import time
from typing import TextIO

from .._proc import end_session, start_time
from ..errors import MalformedTaskError, UsageError
from .files import read_fd, rewrite, try_lock
from .queue import TaskQueue
from .store import Task, check_id, escape, parse, serialize

CANCEL_CHECK = 0.1  # seconds between looks for a cancel request while a task runs
KILL_WAIT = 5.0  # seconds a task's processes get to vanish after SIGKILL
# Signals a task starts with at their default action, whatever the loop (Python ignores SIGPIPE
# and SIGXFSZ) or the pane's shell set.
_DEFAULT_SIGNALS = tuple(
    sig for sig in signal.Signals if 0 < sig < 32 and sig not in (signal.SIGKILL, signal.SIGSTOP)
)


class Worker:
    """One worker loop over the queue at ``root``."""

    def __init__(self, root: str, worker_id: str, out: TextIO | None = None,
                 idle_poll: float = 0.02, grace: float = 2.0) -> None:
        self.queue = TaskQueue(root)
        self.id = check_id(worker_id, "worker ID")
        self.out = out or sys.stdout
        self.idle_poll = idle_poll
        self.grace = grace
        self.stopping = False
        self.base_env = dict(os.environ)
        self.pid = os.getpid()
        self.ran = 0
        self.wake_fd = -1
        self.pending: list[str] = []
        self.held_back = False  # the stopping flag was seen (said once per stop)
        self.devnull = -1
        self.home_fd = -1
        self.tty_fd = -1  # the pane's terminal: its hang-up stops the loop

    def say(self, text: str) -> None:
        """One line in the pane.  Never raises: a terminal that is gone (EIO, EPIPE) stops the
        loop as SIGHUP would, and later lines go nowhere."""
        try:
            self.out.write(f"[{self.id}] {text}\n")
            self.out.flush()
        except (OSError, ValueError) as err:
            if getattr(err, "errno", None) in (errno.EIO, errno.EPIPE):
                self.stopping = True
            self.out = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the loop
            if self.tty_fd >= 0:  # what Python prints at exit must not fail either
                null = os.open(os.devnull, os.O_WRONLY)
                for fd in (1, 2):
                    os.dup2(null, fd)
                os.close(null)

    # --- life cycle -----------------------------------------------------------------------------

    def run(self) -> int:
        """The loop; returns the exit status (1 when another loop holds this worker ID)."""
        queue = self.queue
        queue.init()
        lock_fd = os.open(queue.path("workers", f"{self.id}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            self.say(f"a worker loop {self.id} is already running on {queue.root}; not starting another")
            return 1
        os.ftruncate(lock_fd, 0)
        with contextlib.suppress(OSError):  # only informative (tasks-health shows it): a full disk is no reason to stop
            os.write(lock_fd, f"{self.pid} {time.time()!r}\n".encode())
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        self.wake_fd = wake_r
        self.devnull = os.open(os.devnull, os.O_RDONLY)
        self.home_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        with contextlib.suppress(AttributeError, OSError, ValueError):
            self.tty_fd = self.out.fileno() if os.isatty(self.out.fileno()) else -1
        _no_fd_leaks()
        self.say(f"waiting for tasks in {queue.root} (pid {self.pid}; C-c stops)")
        try:
            self._loop()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for fd in (wake_r, wake_w, self.devnull, self.home_fd, lock_fd):
                os.close(fd)
        self.say(f"stopped after {self.ran} task{'s' if self.ran != 1 else ''}")
        return 0

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _watch(self, poller: select.poll) -> None:
        """Wake ``poller`` on a signal, and when the terminal hangs up."""
        poller.register(self.wake_fd, select.POLLIN)
        if self.tty_fd >= 0:
            poller.register(self.tty_fd, 0)  # POLLHUP and POLLERR are always reported

    def _woken(self, events: list[tuple[int, int]]) -> None:
        if any(fd == self.tty_fd and mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for fd, mask in events):
            self.stopping = True  # the pane or its server is gone, SIGHUP or not
        self._drain()

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_fd, 512):
                pass

    def _loop(self) -> None:
        idle = select.poll()
        self._watch(idle)
        idle_ms = max(1, int(self.idle_poll * 1000))
        while not self.stopping:
            try:
                claimed = self.claim()
            except OSError as err:
                self.say(f"error while claiming: {err}")
                claimed = None
                self._woken(idle.poll(1000))
            if claimed is None:
                self._woken(idle.poll(idle_ms))
                continue
            task, lock_fd = claimed
            try:
                self.execute(task, lock_fd)
            except OSError as err:  # the queue's directories changed under us: say so, go on
                self.say(f"error while running {task.id}: {err}")
            finally:
                os.close(lock_fd)

    # --- claim ----------------------------------------------------------------------------------

    def claim(self) -> tuple[Task, int] | None:
        """Take the oldest task in queue/; return it with the descriptor that holds its lock.

        The queue is listed only when the names of the last listing are used up: under load, a
        claim costs a failed open() per task another worker took, not a listing of the queue.
        """
        queue = self.queue
        queue_dir = queue.dir("queue")
        if os.path.exists(queue.stopping_flag):
            if not self.held_back:
                self.say("tasks-stop under way: claiming nothing")
                self.held_back = True
            return None
        self.held_back = False
        while True:
            if not self.pending:
                self.pending = sorted(os.listdir(queue_dir), reverse=True)
                if not self.pending:
                    return None  # the queue is empty: idle
            name = self.pending.pop()
            path = os.path.join(queue_dir, name)
            fd = try_lock(path, write=True)
            if fd is None:
                continue
            try:
                text = read_fd(fd)
            except OSError as err:
                text = f"unreadable: {err}"
            running = queue.path("running", name)
            try:
                os.rename(path, running)
            except FileNotFoundError:
                os.close(fd)
                continue  # another worker won
            try:
                check_id(name)
                task = parse(text, f"task file {name!r}")
                if task.id != name:
                    raise MalformedTaskError(f"malformed task file {name!r}: ID={task.id!r} does not match its name")
            except (MalformedTaskError, UsageError) as err:
                target = queue.quarantine("running", name, str(err))
                os.close(fd)
                self.say(f"MALFORMED {escape(name)[:60]} moved to {target}: {err}")
                continue
            task.attempt += 1
            task.worker, task.worker_pid, task.started, task.state = self.id, self.pid, time.time(), "running"
            try:
                rewrite(fd, serialize(task))
            except OSError:  # a full disk: put it back as it was
                with contextlib.suppress(OSError):
                    rewrite(fd, text)
                    os.rename(running, path)
                os.close(fd)
                raise
            return task, fd

    # --- run ------------------------------------------------------------------------------------

    def execute(self, task: Task, lock_fd: int) -> None:
        queue = self.queue
        text = escape(task.command_text)
        self.say(f"run  {task.id} {text[:70]}{'...' if len(text) > 70 else ''}")
        env = dict(self.base_env)
        env.update(task.env)
        env.update(TMUXORCH_TASK_ID=task.id, TMUXORCH_TASK_ATTEMPT=str(task.attempt), TMUXORCH_WORKER=self.id)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        logs: list[int] = []
        pid = None
        try:
            for kind in ("out", "err"):
                logs.append(os.open(queue.path("logs", f"{task.id}.{kind}"), flags, 0o644))
            pid = self.spawn(task.argv, task.cwd, env, logs[0], logs[1])
        except OSError as error:
            task.error = f"cannot run {task.command_text!r}: {error}"
            if len(logs) == 2:  # the command could not start (else: its log files could not be opened)
                with contextlib.suppress(OSError):
                    os.write(logs[1], f"tmuxorch worker {self.id}: {task.error}\n".encode(errors="backslashreplace"))
                task.error = str(error)
                task.exit_status = 126 if isinstance(error, PermissionError) else 127
        finally:
            for fd in logs:
                os.close(fd)
        stopped = cancelled = False
        if pid is not None:
            task.pid, task.pid_start = pid, start_time(pid)
            try:  # recorded now, so that a task whose loop gets SIGKILLed can be found and ended
                rewrite(lock_fd, serialize(task))
            except OSError as error:
                self.say(f"cannot record the pid of {task.id}: {error}")
            stopped, cancelled = self._supervise(task, pid)
            returncode = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])  # reaped only now
            if returncode < 0:
                task.signal = -returncode
            else:
                task.exit_status = returncode
        if stopped and not task.error:
            rewrite(lock_fd, serialize(task.reset()))
            os.rename(queue.path("running", task.id), queue.path("queue", task.id))
            self.say(f"back to queue {task.id} (worker stopping; attempt {task.attempt} kept)")
            return
        task.ended = time.time()
        task.cancelled = cancelled
        state = "done" if task.ok else "failed"
        rewrite(lock_fd, serialize(task))
        task.state = state
        os.rename(queue.path("running", task.id), queue.path(state, task.id))
        if cancelled:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(queue.path("cancel", task.id))
        self.ran += 1
        took = task.ended - (task.started or task.ended)
        word = "ok  " if state == "done" else "FAIL"
        self.say(f"{word} {task.id} {task.outcome} in {took:.2f}s")

    def spawn(self, argv: list[str], cwd: str | None, env: dict[str, str], out: int, err: int) -> int:
        """Start ``argv`` in a new session (its own process group) with stdin from /dev/null;
        return its pid.  ``posix_spawn`` (vfork-fast) from inside ``cwd``: the loop is
        single-threaded, so changing directory around the call is safe."""
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
                file_actions=[(os.POSIX_SPAWN_DUP2, self.devnull, 0), (os.POSIX_SPAWN_DUP2, out, 1),
                              (os.POSIX_SPAWN_DUP2, err, 2)],
            )
        finally:
            if cwd is not None:
                os.fchdir(self.home_fd)

    def _supervise(self, task: Task, pid: int) -> tuple[bool, bool]:
        """Wait for the child (without reaping it); returns (stopped, cancelled)."""
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # pragma: no cover - kernels before 5.3
            pidfd = None
        try:
            poller = select.poll()
            if pidfd is not None:
                poller.register(pidfd, select.POLLIN)
            self._watch(poller)
            cancel_path = self.queue.path("cancel", task.id)
            timeout_ms = int(CANCEL_CHECK * 1000) if pidfd is not None else 5
            while True:
                events = poller.poll(timeout_ms)
                if pidfd is None:
                    if _exited(pid):
                        return False, False
                elif any(fd == pidfd for fd, _ in events):
                    return False, False
                if events:
                    self._woken(events)
                if self.stopping:
                    self.say(f"stopping: terminating {task.id}")
                    self._terminate(task, pid)
                    return True, False
                if os.path.exists(cancel_path):
                    self.say(f"cancel {task.id}: terminating its process group")
                    self._terminate(task, pid)
                    return False, True
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _terminate(self, task: Task, pid: int) -> None:
        """SIGTERM to every process of the task's session, SIGKILL after the grace period.  The
        leader is not reaped yet, so ``pid`` is still this task's session ID.  Processes that
        survive even SIGKILL are told in ``task.error``: the task is then not requeued."""
        left = end_session(pid, task.pid_start or start_time(pid) or 0, self.grace, KILL_WAIT)
        if left:
            task.error = f"processes {' '.join(map(str, left))} of the task survived SIGKILL"
            self.say(f"{task.id}: {task.error}")


def _no_fd_leaks() -> None:
    """Tasks get stdin, stdout and stderr only: whatever else this process inherited is made
    close-on-exec (posix_spawn, unlike Popen, closes nothing itself)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


def _exited(pid: int) -> bool:
    """True when child ``pid`` has exited (it stays unreaped)."""
    result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return result is not None


def main(root: str, worker_id: str, idle_poll: float = 0.02, grace: float = 2.0) -> int:
    """Entry point of ``tmuxorch worker``: a loop on an existing queue (a typo must not create one)."""
    if not os.path.isdir(os.path.join(root, "queue")):
        raise UsageError(f"no task queue at {root!r} (no queue/ directory there; 'tmuxorch tasks-init' creates one)")
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    return Worker(root, worker_id, idle_poll=idle_poll, grace=grace).run()

