"""Worker loops in panes: the task queue of a session, which can start and stop its loops.

:class:`PaneQueue` is a :class:`~pytest_tmuxorch.tasks.queue.TaskQueue` bound to the worker panes
of an orchestrator: ``start`` types ``tmuxorch worker <root> w<N>`` into every worker pane that
has no live loop, ``stop`` interrupts them, ``shutdown`` stops them before the session is
killed.  The queue itself knows nothing of panes.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import time
from collections.abc import Callable

from ._log import get_logger
from ._proc import wait_until
from .errors import TmuxorchError, TmuxTimeoutError
from .inputs import deliver
from .keys import key_commands, paste_commands
from .panes import Pane
from .tasks.queue import TaskQueue
from .tmux import Tmux

log = get_logger("pytest_tmuxorch.tasks")


class PaneQueue(TaskQueue):
    """The task queue of a session: files under ``root``, loops in the panes ``workers()`` lists."""

    def __init__(self, root: str | os.PathLike[str], tmux: Tmux, workers: Callable[[], list[Pane]]) -> None:
        super().__init__(root, tmux.timeout)
        self.tmux = tmux
        self._workers = workers

    def worker_command(self, worker_id: str) -> str:
        """What is typed into a worker pane: this Python, never a PATH lookup."""
        return shlex.join([sys.executable, "-m", "pytest_tmuxorch", "worker", str(self.root), worker_id])

    def start(self, timeout: float | None = None) -> list[str]:
        """Start a worker loop in every worker pane that has none; wait until they run.

        Returns the IDs of the loops started (empty when all were running already).  Concurrent
        starts take turns (a lock in the queue's root): one starts the loops, the others find
        them running.
        """
        from filelock import FileLock, Timeout

        self.init()
        timeout = self.timeout if timeout is None else timeout
        try:
            with FileLock(self.dir("start.lock"), timeout=timeout):
                return self._start(timeout)
        except Timeout:
            raise TmuxTimeoutError(f"another tasks-start held {self.dir('start.lock')} for {timeout:g}s") from None

    def _start(self, timeout: float) -> list[str]:
        with contextlib.suppress(FileNotFoundError):  # left by a stop that did not finish
            os.unlink(self.stopping_flag)
        live = self._live_ids()
        missing = [(f"w{index}", pane) for index, pane in enumerate(self._workers()) if f"w{index}" not in live]
        loop_command = {pane.id: self.worker_command(worker_id) for worker_id, pane in missing}
        deliver(self.tmux, list(loop_command), lambda pane_id: paste_commands(pane_id, loop_command[pane_id]),
                kind="line", lines=1, timeout=timeout)
        wanted = {worker_id for worker_id, _ in missing}
        self._wait_loops(lambda live_ids: wanted <= live_ids, timeout, "start")
        return [worker_id for worker_id, _ in missing]

    def stop(self, timeout: float | None = None) -> list[str]:
        """Stop every worker loop (C-c in their panes); a task they were running goes back to
        ``queue/``.  Waits until the loops have exited; returns their IDs."""
        timeout = self.timeout if timeout is None else timeout
        live = self._live_ids()
        if not live:
            return []
        panes = [pane.id for index, pane in enumerate(self._workers()) if f"w{index}" in live]
        # First stop all claims: the loops do not get their C-c at the same instant, and a task
        # one loop puts back must not be claimed (its attempt counted again) by another.
        self.init()
        with open(self.stopping_flag, "w"):
            pass
        try:
            deliver(self.tmux, panes, lambda pane_id: key_commands(pane_id, ("C-c",)), kind="keys", lines=0,
                    signal=True, timeout=timeout)
            self._wait_loops(lambda live_ids: not (live & live_ids), timeout, "stop")
        finally:
            os.unlink(self.stopping_flag)
        return sorted(live)

    def shutdown(self, timeout: float | None = None) -> tuple[list[str], list[str]]:
        """Before the session is killed: stop its live loops, so that their running tasks are
        ended and go back to ``queue/`` (attempt counted) rather than being orphaned.  Returns
        (the loops stopped, the tasks put back).  Creates nothing; never raises a tmux error
        (a loop that does not stop in time still ends its task on the SIGHUP of the kill)."""
        if not os.path.isdir(self.dir("workers")) or not self._live_ids():
            return [], []
        running = self.names("running")
        try:
            stopped = self.stop(timeout)
        except TmuxorchError as err:
            log.debug("stopping the worker loops of %s before a kill: %s", self.root, err)
            stopped = []
        return stopped, [name for name in running if self.find(name, quiet=True) == "queue"]

    def _live_ids(self) -> set[str]:
        return {info["worker"] for info in self.live_workers()}

    def _wait_loops(self, done: Callable[[set[str]], bool], timeout: float, what: str) -> None:
        def expired() -> Exception:
            running = ", ".join(sorted(self._live_ids())) or "none"
            return TmuxTimeoutError(f"worker loops did not {what} within {timeout:g}s (running: {running})")

        wait_until(lambda: True if done(self._live_ids()) else None, timeout, expired,
                   lambda remaining, attempt: time.sleep(min(0.02, remaining)))
