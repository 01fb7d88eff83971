"""The worker loop: ``tmuxorch worker <tasks_dir> <worker_id>``, one per worker pane.

It holds ``workers/<id>.lock`` for its whole life (a second loop with the same ID exits at
once), claims the first task of ``queue/`` (highest priority, then first in; see :mod:`.names`
and :mod:`.queue` for the lock protocol) and runs it (:mod:`.runner`) in its own session and
process group with the task's CWD and ENV (added to its own environment;
``TMUXORCH_TASK_ID``, ``TMUXORCH_TASK_ATTEMPT`` and ``TMUXORCH_WORKER`` are set too), stdin from
``/dev/null``, its output relayed to ``logs/<ID>.out`` / ``.err``, and files the result in
``done/`` (exit 0) or ``failed/``.  One short line in the pane says what starts and how it ended.

While idle it looks at ``queue/`` every ``idle_poll`` seconds (20 ms: a listdir of an empty
directory; no measurable CPU), and at ``waiting/`` every second (in case a settler died).

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
import signal
import sys
import time
from typing import TextIO

from ..errors import MalformedTaskError, UsageError
from .deps import settle_quietly
from .files import read_fd, rewrite, try_lock
from .names import claim_order, id_of
from .queue import TaskQueue
from .runner import Runner, Stream
from .store import Task, check_id, escape, parse, serialize

SETTLE_EVERY = 1.0  # seconds between an idle loop's looks at waiting/


class Worker(Runner):
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
        self.home = ""
        self.tty_fd = -1  # the pane's terminal: its hang-up stops the loop
        self.leftovers: list[Stream] = []
        self.changes_seen = -1  # the size of queue.changes when queue/ was last listed
        self.settled = 0.0

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
        # Signals are ours before the lock makes the loop visible: a C-c sent to a live loop stops it.
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        fds = [wake_r, wake_w]
        try:
            lock_fd = os.open(queue.path("workers", f"{self.id}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
            fds.append(lock_fd)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.say(f"a worker loop {self.id} is already running on {queue.root}; not starting another")
                return 1
            os.ftruncate(lock_fd, 0)
            with contextlib.suppress(OSError):  # only informative (tasks-health shows it): a full disk is no reason to stop
                os.write(lock_fd, f"{self.pid} {time.time()!r}\n".encode())
            self.wake_fd = wake_r
            self.devnull = os.open(os.devnull, os.O_RDONLY)
            self.home_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
            fds += [self.devnull, self.home_fd]
            self.home = os.getcwd()
            with contextlib.suppress(AttributeError, OSError, ValueError):
                self.tty_fd = self.out.fileno() if os.isatty(self.out.fileno()) else -1
            _no_fd_leaks()
            self.say(f"waiting for tasks in {queue.root} (pid {self.pid}; C-c stops)")
            self._loop()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for fd in fds:
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

    def _told_to_stop(self) -> bool:
        """Has a signal or a hang-up come since the loop last looked?  The pane's terminal may
        hang up while a claim runs: the task must not start in a loop whose pane is gone (its
        siblings are stopping too, and one of them may be putting this very task back)."""
        if not self.stopping:
            poller = select.poll()
            self._watch(poller)
            self._woken(poller.poll(0))
        return self.stopping

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_fd, 512):
                pass

    def _loop(self) -> None:
        idle_ms = max(1, int(self.idle_poll * 1000))
        try:
            while not self.stopping:
                try:
                    claimed = self.claim()
                except OSError as err:
                    self.say(f"error while claiming: {err}")
                    claimed = None
                    self._idle(1000)
                if claimed is None:
                    self._idle(idle_ms)
                    continue
                task, lock_fd = claimed
                try:
                    if self._told_to_stop():  # meanwhile: the task goes back unrun, its attempt not counted
                        task.attempt -= 1
                        self._requeue(task.reset(), lock_fd)
                        break
                    self.execute(task, lock_fd)
                except OSError as err:  # the queue's directories changed under us: say so, go on
                    self.say(f"error while running {task.id}: {err}")
                finally:
                    os.close(lock_fd)
        finally:
            for stream in self.leftovers:
                stream.close()

    def _idle(self, ms: int) -> None:
        """Sleep ``ms`` milliseconds, or until a signal or a hang-up; relay leftover output meanwhile."""
        poller = select.poll()
        self._watch(poller)
        for stream in self.leftovers:
            poller.register(stream.fd, select.POLLIN)
        events = poller.poll(ms)
        self._pump(events, self.leftovers, poller)
        self._woken(events)

    def _changes(self) -> int:
        try:
            return os.stat(self.queue.changes_file).st_size
        except FileNotFoundError:
            return 0

    # --- claim ----------------------------------------------------------------------------------

    def claim(self) -> tuple[Task, int] | None:
        """Take the first task of queue/; return it with the descriptor that holds its lock.

        The queue is listed when the names of the last listing are used up, or when tasks were
        put into it since (``queue.changes`` grew): under load, a claim costs a stat, and a
        failed open() per task another worker took, not a listing of the queue.
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
            if self.pending and self._changes() != self.changes_seen:
                self.pending = []
            if not self.pending:
                self.changes_seen = self._changes()  # before listing: a later change is seen next time
                self.pending = sorted(os.listdir(queue_dir), key=claim_order, reverse=True)
                if not self.pending:
                    if time.monotonic() - self.settled > SETTLE_EVERY:
                        self.settled = time.monotonic()
                        settle_quietly(queue)
                    return None  # the queue is empty: idle
            name = self.pending.pop()
            task_id = id_of(name)
            path = os.path.join(queue_dir, name)
            fd = try_lock(path, write=True)
            if fd is None:
                continue
            try:
                check_id(task_id)
            except UsageError as err:  # no ID to file it under: out of the queue at once, still locked
                with contextlib.suppress(FileNotFoundError):
                    target = queue.quarantine("queue", name, str(err))
                    self.say(f"MALFORMED {escape(name)[:60]} moved to {target}: {err}")
                os.close(fd)
                continue
            try:
                text = read_fd(fd)
            except OSError as err:
                text = f"unreadable: {err}"
            running = queue.path("running", task_id)
            try:
                os.rename(path, running)
            except FileNotFoundError:
                os.close(fd)
                continue  # another worker won
            try:
                task = parse(text, f"task file {name!r}")
                if task.id != task_id:
                    raise MalformedTaskError(f"malformed task file {name!r}: ID={task.id!r} does not match its name")
            except MalformedTaskError as err:
                target = queue.quarantine("running", task_id, str(err))
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


def _no_fd_leaks() -> None:
    """Tasks get stdin, stdout and stderr only: whatever else this process inherited is made
    close-on-exec (posix_spawn, unlike Popen, closes nothing itself)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


def main(root: str, worker_id: str, idle_poll: float = 0.02, grace: float = 2.0) -> int:
    """Entry point of ``tmuxorch worker``: a loop on an existing queue (a typo must not create one)."""
    if not os.path.isdir(os.path.join(root, "queue")):
        raise UsageError(f"no task queue at {root!r} (no queue/ directory there; 'tmuxorch tasks-init' creates one)")
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    return Worker(root, worker_id, idle_poll=idle_poll, grace=grace).run()

