"""One private tmux server: its address, its configuration file, running commands, killing it.

:class:`Tmux` owns the server's address (``-L name`` or ``-S path``), its configuration file and
the timeout; every command of the package goes through it.  The work of delivering commands is a
:class:`~pytest_tmuxorch.transport.Transport`, passed in or chosen from the settings.
"""

from __future__ import annotations

import os
import stat

from ._log import get_logger
from ._proc import kill_and_wait, wait_pid_gone
from .errors import ServerNotFoundError, SessionNotFoundError, TmuxTimeoutError, UsageError
from .serverlock import ServerLock, notifying, remove_lock_file, starting
from .settings import Settings
from .transport import Answered, Command, Reply, SubprocessTransport, Transport

TYPE_CHECKING = False  # typing and pathlib would cost the console script's start-up
if TYPE_CHECKING:
    from collections.abc import Sequence

    import libtmux

log = get_logger("pytest_tmuxorch.tmux")

CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tmux.conf")


class Tmux:
    """The one way into the orchestrator's private tmux server."""

    def __init__(self, settings: Settings, transport: Transport | None = None) -> None:
        self.settings = settings
        self.timeout = settings.timeout
        self.transport: Transport = transport or self._default_transport()
        self._libtmux: libtmux.Server | None = None
        # The last input typed into each pane, by pane id: kept here for the layers above (see
        # terminal.py), so that every handle on a pane shares it.
        self.last_input: dict[str, object] = {}

    def _default_transport(self) -> Transport:
        """The transport ``settings.transport`` names; control mode is imported only when used."""
        if self.settings.transport == "control":
            from .control.client import ControlTransport

            return ControlTransport(self.base_argv(), self.settings.session, self.socket_file)
        return SubprocessTransport(self.base_argv())

    def base_argv(self) -> list[str]:
        """``tmux -S path`` or ``tmux -L name``, always with the product's own config file."""
        socket_path = self.settings.socket_path
        address = ["-S", socket_path] if socket_path else ["-L", self.settings.socket]
        return ["tmux", *address, "-f", CONFIG_FILE]

    @property
    def socket_file(self) -> str:
        """Where the server's socket lives (tmux's rule for ``-L``: $TMUX_TMPDIR/tmux-UID/name)."""
        if self.settings.socket_path:
            return self.settings.socket_path
        tmpdir = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return os.path.join(tmpdir, f"tmux-{os.getuid()}", self.settings.socket)

    def check_socket_path(self) -> None:
        """Before a server is started: its socket's directory must exist, and nothing but a socket
        may be at its path (tmux deletes whatever is there)."""
        path = self.socket_file
        parent = os.path.dirname(path) or "."
        if self.settings.socket_path and not os.path.isdir(parent):
            raise UsageError(f"cannot create the tmux socket {path!r}: no such directory {parent!r}")
        if os.path.lexists(path) and not is_socket(path):
            raise UsageError(f"{path!r} exists and is not a socket (tmux would delete it): choose another socket")

    @property
    def libtmux(self) -> libtmux.Server:
        """A :class:`libtmux.Server` on this same private server (same socket, same config file),
        for everything libtmux's object model offers; it never addresses the user's own server."""
        if self._libtmux is None:
            import libtmux

            path = self.settings.socket_path
            self._libtmux = libtmux.Server(
                socket_name=None if path else self.settings.socket, socket_path=path, config_file=CONFIG_FILE
            )
        return self._libtmux

    def run(self, *args: str, timeout: float | None = None) -> list[str]:
        """Run one tmux command; return its output lines."""
        return self.chain([args], timeout)[0]

    def chain(self, commands: Sequence[Command], timeout: float | None = None) -> list[list[str]]:
        """Run several commands as one atomic chain; return each one's output lines."""
        if not commands:
            return []
        if not notifying(commands):
            return self.transport.execute(commands, timeout or self.timeout)
        lock = ServerLock.of(self.socket_file)  # tmux must not notify a connecting client: see there
        lock.enter(starting(commands))
        try:
            return self.transport.execute(commands, timeout or self.timeout)
        finally:
            lock.leave()

    def post(self, commands: Sequence[Command], timeout: float | None = None) -> Reply:
        """Write a chain and return before its answer where the transport can (see
        :meth:`Transport.post`): for input into panes."""
        if notifying(commands):
            return Answered(self.chain(commands, timeout))
        return self.transport.post(commands, timeout or self.timeout)

    def server_running(self) -> bool:
        """True when a server answers on the socket."""
        if not is_socket(self.socket_file):
            return False
        try:
            self.run("list-sessions", "-F", "#{session_id}")
        except ServerNotFoundError:
            return False
        except SessionNotFoundError:
            return True
        return True

    def server_pid(self) -> int | None:
        """The server's process id, or None when no server answers."""
        try:
            return int(self.run("display-message", "-p", "#{pid}")[0])
        except (ServerNotFoundError, SessionNotFoundError, IndexError, ValueError):
            return None

    def kill_server(self, timeout: float | None = None) -> int | None:
        """Kill this server (only this one: always addressed by our socket) and wait until it is
        gone; return its pid (None if no server answered).  One tmux call, which learns the pid
        and kills, then a wait for that pid (see :meth:`wait_gone`)."""
        timeout = timeout or self.timeout
        try:
            pid: int | None = int(self.chain([["display-message", "-p", "#{pid}"], ["kill-server"]])[0][0])
        except (ServerNotFoundError, SessionNotFoundError, IndexError, ValueError):
            pid = None
        self.transport.close()
        if pid is not None:
            self.wait_gone(pid, timeout)
        self.remove_socket(gone=pid is not None)
        return pid

    def wait_gone(self, pid: int, timeout: float | None = None) -> None:
        """Wait until the server ``pid`` has exited: ``kill-server`` returns before it has.  One
        that outlives the wait is killed by that pid: it is the one on our socket."""
        timeout = timeout or self.timeout
        try:
            wait_pid_gone(pid, timeout)
        except TmuxTimeoutError:
            log.debug("tmux server %d survived kill-server: sending SIGKILL", pid)
            kill_and_wait(pid, timeout)

    def remove_socket(self, gone: bool = False) -> None:
        """tmux leaves its socket file behind when the server exits: remove it if nobody listens
        (``gone``: the server is known to have exited)."""
        if is_socket(self.socket_file):
            if not gone and self.server_running():
                return
            try:
                os.unlink(self.socket_file)
            except FileNotFoundError:
                pass
        remove_lock_file(self.socket_file)  # and the lock beside it (see serverlock.py)

    def close(self) -> None:
        self.transport.close()


def is_socket(path: str) -> bool:
    """True when ``path`` is a unix socket (not following a link)."""
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False
