"""How commands reach tmux: the :class:`Transport` protocol, and the one-process-per-call transport.

A transport runs a chain of tmux commands atomically and returns each command's output lines;
it also tells a polling loop when a pane may have new output.  :class:`SubprocessTransport` forks
one tmux client per call; the control-mode client (:mod:`.control.client`) keeps one connection.
"""

from __future__ import annotations

import os
import select
import time

from ._log import get_logger
from .errors import ServerNotFoundError, SessionNotFoundError, TmuxError, TmuxTimeoutError

TYPE_CHECKING = False  # typing, subprocess and friends would cost the console script's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Protocol

    from .streams import PaneStream

    Command = Sequence[str]  # a tmux command and its arguments
else:
    Protocol = object
    Command = "Sequence[str]"  # for annotations only, which are never evaluated at run time

log = get_logger("pytest_tmuxorch.transport")

_NO_SERVER = ("no server running", "error connecting to", "server exited unexpectedly")
# "no current target": a server with no session yet (one that another client is starting)
_NO_SESSION = ("can't find session", "can't find window", "no sessions", "no current target")


class Transport(Protocol):
    """How commands reach the server.  Implementations must be safe to use from several threads."""

    def execute(self, commands: Sequence[Command], timeout: float) -> list[list[str]]:
        """Run ``commands`` in order as one atomic chain; return each command's output lines.

        Raises :class:`TmuxError` (or a subclass) when a command fails; later commands then do
        not run.  Raises :class:`TmuxTimeoutError` when the server does not answer in time.
        """
        ...

    def post(self, commands: Sequence[Command], timeout: float) -> Reply:
        """Run ``commands`` as :meth:`execute` does, but return as soon as they are written where
        the transport can (a connection that answers in order): for input, whose answer matters
        only at the next look at the pane.  :meth:`Reply.result` waits for the answer (within
        ``timeout`` of now) and raises as :meth:`execute` would."""
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

    def stream(self, pane_id: str) -> PaneStream | None:
        """Everything ``pane_id`` wrote while this transport listened, or None when it cannot
        listen (then callers read the pane's screen instead)."""
        ...

    def anchor(self, pane_id: str) -> int | None:
        """The offset in :meth:`stream` of the first byte ``pane_id`` wrote after this thread's last
        :meth:`execute` was answered (None without a stream)."""
        ...

    def close(self) -> None:
        """Release what the transport holds (processes, connections)."""
        ...


class Reply(Protocol):
    """The answer to a chain :meth:`Transport.post` wrote: it may still be on its way."""

    def answered(self) -> bool:
        """True once the answer is here (:meth:`result` does not wait)."""
        ...

    def result(self) -> list[list[str]]:
        """Each command's output lines, once tmux answered; raises as :meth:`Transport.execute`."""
        ...

    def anchor(self, pane_id: str) -> int | None:
        """:meth:`Transport.anchor` for this chain: where ``pane_id``'s output after it starts."""
        ...

    def position(self) -> int:
        """The control client's event number when the answer came (0 without a client): see
        :meth:`~pytest_tmuxorch.streams.PaneStream.missing`."""
        ...


class Answered:
    """A :class:`Reply` read before ``post`` returned (the chain ran as :meth:`Transport.execute`)."""

    __slots__ = ("_anchor", "_outputs", "_position")

    def __init__(self, outputs: list[list[str]], anchor: Callable[[str], int | None] | None = None,
                 position: int = 0) -> None:
        self._outputs = outputs
        self._anchor = anchor
        self._position = position

    def answered(self) -> bool:
        return True

    def result(self) -> list[list[str]]:
        return self._outputs

    def anchor(self, pane_id: str) -> int | None:
        return self._anchor(pane_id) if self._anchor is not None else None

    def position(self) -> int:
        return self._position


def escape_argument(arg: str) -> str:
    """Protect a trailing ';' that tmux would take as a command separator, even inside one
    argument of its argv."""
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


def classify_error(message: str) -> TmuxError:
    """Map tmux's error text to the most precise exception."""
    lowered = message.lower()
    if any(marker in lowered for marker in _NO_SERVER):
        return ServerNotFoundError(message)
    if any(marker in lowered for marker in _NO_SESSION):
        return SessionNotFoundError(message)
    return TmuxError(message)


def show(commands: Sequence[Command]) -> str:
    """A chain as one short line, for messages."""
    text = " ; ".join(" ".join(command) for command in commands)
    return text if len(text) < 200 else text[:197] + "..."


class SubprocessTransport:
    """One tmux client process per call: simple, robust, about 1-2 ms per call."""

    def __init__(self, base_argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self._base_argv = list(base_argv)
        self._env = dict(env) if env is not None else None

    def execute(self, commands: Sequence[Command], timeout: float) -> list[list[str]]:
        if not commands:
            return []  # (tmux with no command would start a session and attach to it)
        separator = f"__tmuxorch_sep_{os.urandom(8).hex()}__"
        argv = list(self._base_argv)
        for number, command in enumerate(commands):
            if number:
                argv += [";", "display-message", "-p", separator, ";"]
            argv += [escape_argument(arg) for arg in command]
        stdout = self._run(argv, commands, timeout)
        return _split_outputs(stdout, separator, len(commands))

    def post(self, commands: Sequence[Command], timeout: float) -> Reply:
        return Answered(self.execute(commands, timeout))

    def _run(self, argv: list[str], commands: Sequence[Command], timeout: float) -> str:
        started = time.monotonic()
        try:
            done = run_captured(argv, timeout, self._env)
        except FileNotFoundError:
            raise TmuxError("tmux is not installed (no 'tmux' on PATH)") from None
        if done is None:
            raise TmuxTimeoutError(f"tmux did not answer within {timeout:g}s: {show(commands)}")
        status, stdout, stderr = done
        log.debug("%.1f ms rc=%d %s", (time.monotonic() - started) * 1e3, status, show(commands))
        if status != 0:
            message = stderr.decode(errors="replace").strip() or f"exit status {status}"
            raise classify_error(f"{message.splitlines()[-1]} (in: {show(commands)})")
        return stdout.decode(errors="replace")

    def wait_activity(self, pane_id: str, timeout: float, attempt: int) -> None:
        # No push notifications here: poll at a short, growing interval (1 ms up to 30 ms).
        time.sleep(max(0.0, min(0.001 * 1.5**attempt, 0.03, timeout)))

    def stream(self, pane_id: str) -> PaneStream | None:
        return None

    def anchor(self, pane_id: str) -> int | None:
        return None

    def close(self) -> None:
        pass


def run_captured(argv: list[str], timeout: float, env: Mapping[str, str] | None = None) -> tuple[int, bytes, bytes] | None:
    """Run ``argv`` (found on PATH) with stdin from /dev/null; return its exit status, stdout and
    stderr, or None when it did not end within ``timeout`` seconds (it is killed then).

    ``posix_spawn`` and two pipes rather than :mod:`subprocess`, whose import alone costs more
    than a tmux call: this runs on the console script's start-up path.
    """
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ if env is None else env, file_actions=[
            (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, out_write, 1),
            (os.POSIX_SPAWN_DUP2, err_write, 2)])
    except BaseException:
        os.close(out_read)
        os.close(err_read)
        raise
    finally:
        for fd in (out_write, err_write, devnull):
            os.close(fd)
    chunks: dict[int, list[bytes]] = {out_read: [], err_read: []}
    poller = select.poll()
    for fd in chunks:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    try:
        open_pipes = len(chunks)
        while open_pipes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(pid, 9)  # SIGKILL; its number is the same everywhere
                os.waitpid(pid, 0)
                return None
            for fd, _ in poller.poll(remaining * 1000):
                data = os.read(fd, 65536)
                if data:
                    chunks[fd].append(data)
                else:
                    poller.unregister(fd)
                    open_pipes -= 1
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        os.close(out_read)
        os.close(err_read)
    return status, b"".join(chunks[out_read]), b"".join(chunks[err_read])


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
