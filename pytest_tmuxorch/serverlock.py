"""One lock per tmux server, taken by every process of ours that talks to it.

tmux before 3.7 crashes (a NULL pointer in ``control_write``) when it sends a notification meant
for every control client while a control client is still introducing itself: the client's flags
arrive before its control state exists.  A client introduces itself in several writes (each one
that passes a file descriptor ends a write), and the server reads and acts between them, so the
window is there on every connect.  The notifications that reach every control client come from:
a session created, closed or renamed; a client detached (a control client ending is one); the
current window or pane changing; copy mode entered or left.  tmux 3.7 fixed this ("Do not
notify clients if not fully initialized").

So a control client connects under this lock, and whatever can make such a notification (the
commands in :data:`NOTIFYING`, and ending a control client) runs under it too.  It orders our
own processes and threads only: tmux commands from other programs are not covered.
"""

from __future__ import annotations

import _thread  # not threading: the console script's start-up cannot afford it
import fcntl
import os

from ._log import get_logger
from ._proc import wait_until

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

log = get_logger("pytest_tmuxorch.serverlock")

SUFFIX = ".txo-lock"  # beside the socket: <socket>.txo-lock
# Waiting longer than this for another process means it is stuck: go on without the lock rather
# than hang (the crash needs a connect and a notification in the same few microseconds).
WAIT = 10.0

NOTIFYING = frozenset({
    "new-session", "new", "kill-session", "rename-session", "rename", "kill-server",
    "new-window", "neww", "kill-window", "killw", "select-window", "selectw", "next-window", "next",
    "previous-window", "prev", "last-window", "last", "respawn-window", "respawnw",
    "split-window", "splitw", "kill-pane", "killp", "select-pane", "selectp", "last-pane", "lastp",
    "swap-pane", "swapp", "break-pane", "breakp", "join-pane", "joinp", "move-pane", "movep",
    "rotate-window", "rotatew", "respawn-pane", "respawnp", "copy-mode",
    "detach-client", "detach", "switch-client", "switchc",
})


STARTING = frozenset({"new-session", "new", "start-server", "start"})


def notifying(commands: Sequence[Sequence[str]]) -> bool:
    """True when running ``commands`` can make tmux notify every control client."""
    return any(command and command[0] in NOTIFYING for command in commands)


def starting(commands: Sequence[Sequence[str]]) -> bool:
    """True when ``commands`` can start a server."""
    return any(command and command[0] in STARTING for command in commands)


class ServerLock:
    """The lock of the server at one socket: reentrant within a thread, exclusive between the
    threads of a process (a lock) and between processes (``flock`` on ``<socket>.txo-lock``)."""

    _all: dict[str, ServerLock] = {}
    _all_lock = _thread.allocate_lock()

    def __init__(self, socket_file: str) -> None:
        self.socket_file = socket_file  # "": within this process only
        self._thread_lock = _thread.RLock()
        self._depth = 0
        self._fd = -1

    @classmethod
    def of(cls, socket_file: str | os.PathLike[str] | None) -> ServerLock:
        """The one lock object of this process for the server at ``socket_file``."""
        key = os.fspath(socket_file) if socket_file is not None else ""
        with cls._all_lock:
            lock = cls._all.get(key)
            if lock is None:
                lock = cls._all[key] = cls(key)
            return lock

    def enter(self, starting: bool = False) -> None:
        """Take the lock.  Its file is made only while a server is there or ``starting`` one: a
        lock taken after the server has gone (a client ending late) must leave nothing behind."""
        self._thread_lock.acquire()
        if self._depth == 0:
            self._fd = self._take(starting)
        self._depth += 1

    def leave(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd >= 0:
            if not os.path.exists(self.socket_file):
                remove_lock_file(self.socket_file)  # the server went while we held it
            os.close(self._fd)  # releases the flock
            self._fd = -1
        self._thread_lock.release()

    def __enter__(self) -> ServerLock:
        self.enter()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.leave()

    def _take(self, starting: bool) -> int:
        if not self.socket_file:
            return -1
        path = self.socket_file + SUFFIX
        create = starting or os.path.exists(self.socket_file)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0), 0o600)
        except OSError as err:  # no server there (or no directory): nothing to protect
            log.debug("no server lock at %s: %s", path, err)
            return -1

        waiting: list[bool] = []

        def locked() -> bool | None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waiting:
                    waiting.append(True)
                    log.debug("waiting for the server lock %s: another process holds it", path)
                return None
            return True

        try:
            wait_until(locked, WAIT, lambda: TimeoutError(f"{path} held for over {WAIT:g}s"))
        except (TimeoutError, OSError) as err:
            log.debug("going on without the server lock: %s", err)
            os.close(fd)
            return -1
        return fd


def remove_lock_file(socket_file: str) -> None:
    """Remove the lock file of a server that is gone."""
    try:
        os.unlink(socket_file + SUFFIX)
    except OSError:
        pass
