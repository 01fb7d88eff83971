"""Running tmux commands on one private server.

:class:`Tmux` owns the server's address (``-L name`` or ``-S path``), its configuration file and
the timeout; every command of the package goes through it.  The work of delivering commands is a
:class:`Transport`: :class:`SubprocessTransport` forks one tmux client per call; a persistent
control-mode connection can take its place without any caller noticing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from .debuglog import get_logger
from .errors import ServerNotFoundError, SessionNotFoundError, TmuxError, TmuxTimeoutError
from .settings import Settings

log = get_logger("pytest_tmuxorch.tmux")

CONFIG_FILE = Path(__file__).with_name("tmux.conf")
Command = Sequence[str]

_NO_SERVER = ("no server running", "error connecting to", "server exited unexpectedly")
_NO_SESSION = ("can't find session", "can't find window", "no sessions")


class Transport(Protocol):
    """How commands reach the server.  Implementations must be safe to use from several threads."""

    def execute(self, commands: Sequence[Command], timeout: float) -> list[list[str]]:
        """Run ``commands`` in order as one atomic chain; return each command's output lines.

        Raises :class:`TmuxError` (or a subclass) when a command fails; later commands then do
        not run.  Raises :class:`TmuxTimeoutError` when the server does not answer in time.
        """
        ...

    def wait_activity(self, pane_id: str, timeout: float, attempt: int) -> None:
        """Block until ``pane_id`` may have new output, or ``timeout`` seconds pass.

        Meant for loops of the form "execute (capture) -> check -> wait_activity" in one thread:
        output the pane wrote after that thread's last :meth:`execute` was answered is never
        missed (the wait returns at once); returning early is always allowed.  ``pane_id`` may
        be ``"*"``: any pane's output.  ``attempt`` counts the waits of one polling loop, so a
        polling transport can back off.
        """
        ...

    def close(self) -> None:
        """Release what the transport holds (processes, connections)."""
        ...


def escape_argument(arg: str) -> str:
    """Protect a trailing ';' that tmux would take as a command separator (SPEC 6.2)."""
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


def classify_error(message: str) -> TmuxError:
    """Map tmux's error text to the most precise exception."""
    lowered = message.lower()
    if any(marker in lowered for marker in _NO_SERVER):
        return ServerNotFoundError(message)
    if any(marker in lowered for marker in _NO_SESSION):
        return SessionNotFoundError(message)
    return TmuxError(message)


class SubprocessTransport:
    """One tmux client process per call: simple, robust, about 1-2 ms per call."""

    def __init__(self, base_argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self._base_argv = list(base_argv)
        self._env = dict(env) if env is not None else None

    def execute(self, commands: Sequence[Command], timeout: float) -> list[list[str]]:
        separator = f"__tmuxorch_sep_{os.urandom(8).hex()}__"
        argv = list(self._base_argv)
        for number, command in enumerate(commands):
            if number:
                argv += [";", "display-message", "-p", separator, ";"]
            argv += [escape_argument(arg) for arg in command]
        stdout = self._run(argv, timeout)
        return _split_outputs(stdout, separator, len(commands))

    def _run(self, argv: list[str], timeout: float) -> str:
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv, capture_output=True, timeout=timeout, env=self._env, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise TmuxTimeoutError(f"tmux did not answer within {timeout:g}s: {_show(argv)}") from None
        except FileNotFoundError:
            raise TmuxError("tmux is not installed (no 'tmux' on PATH)") from None
        log.debug("%.1f ms rc=%d %s", (time.monotonic() - started) * 1e3, done.returncode, _show(argv))
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
            raise classify_error(f"{message.splitlines()[-1]} (in: {_show(argv)})")
        return done.stdout.decode(errors="replace")

    def wait_activity(self, pane_id: str, timeout: float, attempt: int) -> None:
        # No push notifications here: poll at a short, growing interval (1 ms up to 30 ms).
        time.sleep(max(0.0, min(0.001 * 1.5**attempt, 0.03, timeout)))

    def close(self) -> None:
        pass


def _split_outputs(stdout: str, separator: str, count: int) -> list[list[str]]:
    outputs: list[list[str]] = [[]]
    lines = stdout.split("\n")  # only \n ends a line: str.splitlines would also split on \r, \x1c...
    if lines[-1] == "":
        lines.pop()
    for line in lines:
        if line == separator:
            outputs.append([])
        else:
            outputs[-1].append(line)
    outputs += [[] for _ in range(count - len(outputs))]
    return outputs[:count] if count else []


def _show(argv: Sequence[str]) -> str:
    text = " ".join(argv)
    return text if len(text) < 200 else text[:197] + "..."


class Tmux:
    """The one way into the orchestrator's private tmux server."""

    def __init__(self, settings: Settings, transport: Transport | None = None) -> None:
        self.settings = settings
        self.timeout = settings.timeout
        self.transport: Transport = transport or self._default_transport()

    def _default_transport(self) -> Transport:
        """The transport ``settings.transport`` names; control mode is imported only when used."""
        if self.settings.transport == "control":
            from .control import ControlTransport

            return ControlTransport(self.base_argv(), self.settings.session, self.socket_file)
        return SubprocessTransport(self.base_argv())

    def base_argv(self) -> list[str]:
        """``tmux -S path`` or ``tmux -L name``, always with the product's own config file."""
        socket_path = self.settings.socket_path
        address = ["-S", socket_path] if socket_path else ["-L", self.settings.socket]
        return ["tmux", *address, "-f", str(CONFIG_FILE)]

    @property
    def socket_file(self) -> Path:
        """Where the server's socket lives (tmux's rule for ``-L``: $TMUX_TMPDIR/tmux-UID/name)."""
        if self.settings.socket_path:
            return Path(self.settings.socket_path)
        tmpdir = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return Path(tmpdir, f"tmux-{os.getuid()}", self.settings.socket)

    def run(self, *args: str, timeout: float | None = None) -> list[str]:
        """Run one tmux command; return its output lines."""
        return self.transport.execute([args], timeout or self.timeout)[0]

    def chain(self, commands: Sequence[Command], timeout: float | None = None) -> list[list[str]]:
        """Run several commands as one atomic chain; return each one's output lines."""
        if not commands:
            return []
        return self.transport.execute(commands, timeout or self.timeout)

    def server_running(self) -> bool:
        """True when a server answers on the socket."""
        if not self.socket_file.is_socket():
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
        gone; return its pid (None if no server answered).

        ``kill-server`` returns before the server has exited (SPEC 6.9): wait for its pid to go.
        A server that outlives the wait is killed by that pid: it is the one on our socket.
        """
        timeout = timeout or self.timeout
        pid = self.server_pid()
        with contextlib.suppress(ServerNotFoundError):
            self.run("kill-server")
        self.transport.close()
        if pid is not None:
            try:
                wait_pid_gone(pid, timeout)
            except TmuxTimeoutError:
                log.debug("tmux server %d survived kill-server: sending SIGKILL", pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                wait_pid_gone(pid, timeout)
        self.remove_socket()
        return pid

    def remove_socket(self) -> None:
        """tmux leaves its socket file behind when the server exits: remove it if nobody listens."""
        if self.socket_file.is_socket() and not self.server_running():
            self.socket_file.unlink(missing_ok=True)

    def close(self) -> None:
        self.transport.close()


def proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces and ')'):
    ``[0]`` is the state, ``[19]`` the start time.  None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    """True while a process with this id exists (zombies of our own count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = proc_stat(pid)
    return fields is None or fields[0] != b"Z"


def wait_pid_gone(pid: int, timeout: float) -> None:
    """Wait until ``pid`` has exited; raise :class:`TmuxTimeoutError` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while pid_alive(pid):
        if time.monotonic() > deadline:
            raise TmuxTimeoutError(f"process {pid} still alive after {timeout:g}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
