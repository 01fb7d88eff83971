"""A persistent control-mode client (``tmux -C``) as a :class:`~pytest_tmuxorch.transport.Transport`.

One ``tmux -N ... -C attach-session -t =<session>`` process per transport, started lazily on the
first command that may use it once the server and the session exist.  Commands are written to its
stdin as lines of tmux's command language; one reader thread parses its stdout
(:mod:`.protocol`) and hands each reply to the caller waiting for it, in the order the commands
were written (tmux answers a control client's commands in order), or keeps it for later
(:meth:`ControlTransport.post`: input, whose reply is read with its output).  ``%output``
notifications wake :meth:`ControlTransport.wait_activity` at once instead of polling.

Facts about tmux 3.3a this relies on:

* An empty line, or end of file on stdin, makes the client exit (``%exit``).  ``-N`` stops the
  client from starting a server when none runs.
* A control client that never set a size (no ``refresh-client -C``) does not change any window's
  size, whatever ``window-size`` is; it does count in ``session_attached``.
* Killing the attached session or the server answers the pending commands, then ``%exit``.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence

from .._log import get_logger
from ..errors import ControlConnectionError, TmuxError, TmuxTimeoutError
from ..serverlock import ServerLock, starting
from ..streams import PaneStream, layout_sizes
from ..transport import Answered, Command, Reply, SubprocessTransport, classify_error, show
from .connection import Connection, Lost, NotSent, Request
from .protocol import Block, Event, Notification, Output, control_safe, ends_session, read_only

log = get_logger("pytest_tmuxorch.control")


# How long wait_activity blocks at most without an event: changes that come with no %output
# (a pane's process dying, output of a pane outside the session) are still seen this often.
WAIT_CAP = 0.05
# After a failed attempt to connect, calls use one process each for this long before retrying
# (a chain that creates a session retries at once).
RETRY_DELAY = 1.0
# Notifications after which any pane's text may have changed without %output.
_LAYOUT_EVENTS = frozenset({
    "layout-change", "window-close", "unlinked-window-close", "pane-mode-changed", "window-pane-changed",
})


class ControlTransport:
    """Commands over one persistent ``tmux -C`` client; one process per call when it cannot be used.

    * Lazy: the client starts on the first command that may use it, once the socket exists; it
      attaches to ``=session`` with ``-N`` (it never starts a server nor creates a session).
    * Routing: only commands listed as safe (:func:`control_safe`) use the connection; a chain with
      any other command, or any call while no connection can be made, runs through
      :class:`~pytest_tmuxorch.tmux.SubprocessTransport`.
    * Thread safe: writes are serialised under a lock; one reader thread hands replies to the
      callers in the order their commands were written; each caller waits with its own deadline.
    * Failure: when the client exits (session or server killed, process killed), pending calls
      that only read are retried by the fallback, the others raise :class:`ControlConnectionError`;
      later calls reconnect (or fall back while that fails, retrying after :data:`RETRY_DELAY`).
    * :meth:`close` kills the client (never EOF on its stdin: see
      :func:`~pytest_tmuxorch.control.connection.terminate`) and waits for it; an un-closed client
      is killed at interpreter exit (finaliser), and in any case ends when the Python process
      dies (EOF on its stdin) or the server exits.  The transport stays usable after close() and
      reconnects on demand.
    """

    def __init__(
        self,
        base_argv: Sequence[str],
        session: str,
        socket_file: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._base_argv = list(base_argv)
        self._session = session
        self._socket_file = socket_file
        environ = dict(os.environ if env is None else env)
        environ.pop("TMUX", None)  # we address the server by socket; never look "nested"
        self._env = environ
        self._fallback = SubprocessTransport(base_argv, env)
        self._server_lock = ServerLock.of(socket_file)  # a client connects under it: see serverlock.py
        self._connection: Connection | None = None  # the one new calls use
        self._live: set[Connection] = set()  # started and not ended: the current one, retired ones
        self._connect_lock = threading.Lock()
        weakref.finalize(self, _close_all, self._live)
        self._retry_at = 0.0
        self._local = threading.local()
        # Activity bookkeeping (under _cond): a stream position counts the events the reader saw;
        # each pane remembers the position of its last %output.
        self._cond = threading.Condition()
        self._position = 0
        self._pane_position: dict[str, int] = {}
        self._streams: dict[str, PaneStream] = {}
        # Whether a client feeds the streams, and which: when it ends, they stop listening (a gap).
        self._listening = False
        self._listener: Connection | None = None
        self._output_position = 0
        self._layout_position = 0

    def __repr__(self) -> str:
        connection = self._connection
        state = f"pid {connection.pid}" if connection and connection.alive else "not connected"
        return f"ControlTransport(session={self._session!r}, {state})"

    @property
    def connected_pid(self) -> int | None:
        """The control client's process id while it is connected (for tests and diagnostics)."""
        connection = self._connection
        return connection.pid if connection is not None and connection.alive else None

    # --- Transport ------------------------------------------------------------------------------

    def execute(self, commands: Sequence[Command], timeout: float) -> list[list[str]]:
        if not commands:
            return []
        deadline = time.monotonic() + timeout
        start = self._position
        # Over the connection; a dead connection is replaced once (reads only, if it died after
        # the write), then one process per call.
        for _ in range(2 if control_safe(commands) else 0):
            connection = self._usable_connection(deadline)
            if connection is None:
                break
            try:
                return self._call(connection, commands, timeout, deadline)
            except NotSent as lost:
                log.debug("%s was not sent: %s", show(commands), lost)
            except Lost as lost:
                if not read_only(commands):
                    raise _lost_after_writing(lost, commands) from None
                log.debug("retrying %s: %s", show(commands), lost)  # on a new connection, else below
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TmuxTimeoutError(f"tmux did not answer within {timeout:g}s: {show(commands)}")
        outputs = self._fallback.execute(commands, remaining)
        self._local.baseline = self._local.reply = start
        if starting(commands):
            self._retry_at = 0.0  # the session may exist now
        return outputs

    def wait_activity(self, pane_id: str, timeout: float, attempt: int) -> None:
        """Return when ``pane_id`` wrote output since this thread's last :meth:`execute` (or last
        wait) was answered, else after ``timeout`` or :data:`WAIT_CAP` seconds.

        ``pane_id`` may be ``"*"``: output of any pane.  Layout changes and closed windows wake
        every waiter.  Nothing is missed: tmux writes a pane's ``%output`` into the stream in
        the order it reads the pane, so output that a capture answered before it did not contain
        comes after that capture's reply, and its position is above this thread's baseline.
        """
        connection = self._connection
        if connection is None or not connection.alive:
            self._fallback.wait_activity(pane_id, timeout, attempt)
            return
        baseline = getattr(self._local, "baseline", 0)
        deadline = time.monotonic() + max(0.0, min(timeout, WAIT_CAP))
        with self._cond:
            while self._activity(pane_id) <= baseline and connection.alive:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._local.baseline = self._position

    def stream(self, pane_id: str) -> PaneStream:
        """Everything ``pane_id`` wrote while a control client of this transport was attached
        (created empty on first use: output comes only once a command has connected it)."""
        stream = self._streams.get(pane_id)
        if stream is None:
            with self._cond:
                stream = self._streams.setdefault(pane_id, PaneStream(listening=self._listening))
        return stream

    def anchor(self, pane_id: str) -> int:
        return self.stream(pane_id).offset_after(getattr(self._local, "reply", 0))

    def close(self) -> None:
        """End every control client this transport started and wait for them."""
        with self._connect_lock:
            self._connection = None
            self._retry_at = 0.0
        _close_all(self._live)

    # --- internals ------------------------------------------------------------------------------

    def _activity(self, pane_id: str) -> int:
        if pane_id == "*":
            return max(self._output_position, self._layout_position)
        return max(self._pane_position.get(pane_id, 0), self._layout_position)

    def post(self, commands: Sequence[Command], timeout: float) -> Reply:
        """As :meth:`execute`, but over the connection it returns once the chain is written: the
        answer is read when :meth:`Posted.result` asks for it (by then it is usually here)."""
        deadline = time.monotonic() + timeout
        # (an empty chain would be an empty line, which ends the client: execute() answers it)
        if commands and control_safe(commands) and not ends_session(commands):
            connection = self._usable_connection(deadline)
            if connection is not None:
                self._local.baseline = self._position  # what the panes write from now on is new
                try:
                    return Posted(self, connection.send(commands), commands, timeout, deadline)
                except NotSent as lost:
                    log.debug("%s was not sent: %s", show(commands), lost)
        outputs = self.execute(commands, max(0.0, deadline - time.monotonic()))
        position = getattr(self._local, "reply", 0)
        return Answered(outputs, lambda pane_id: self.stream(pane_id).offset_after(position), position)

    def _call(self, connection: Connection, commands: Sequence[Command], timeout: float, deadline: float) -> list[list[str]]:
        request = connection.send(commands)
        _wait_answer(request, commands, timeout, deadline)
        self._local.baseline = self._local.reply = request.position
        if ends_session(commands):
            self._retire(connection)
        return _outputs(request, commands)

    def _usable_connection(self, deadline: float) -> Connection | None:
        connection = self._connection
        if connection is not None and connection.alive and not connection.retired:
            return connection
        if connection is None and (time.monotonic() < self._retry_at or not self._server_there()):
            return None  # (decided without the locks below: nothing to connect or to close)
        # The server lock first, always: a caller may hold it already (see serverlock.py), and a
        # client must be half made (connecting) or ended (detaching) only under it.
        with self._server_lock, self._connect_lock:
            connection = self._connection
            if connection is not None and connection.alive and not connection.retired:
                return connection
            if connection is not None:
                self._connection = None
                connection.close()
            if time.monotonic() < self._retry_at or not self._server_there():
                return None
            return self._connect(deadline)

    def _server_there(self) -> bool:
        return self._socket_file is None or os.path.exists(self._socket_file)

    def _connect(self, deadline: float) -> Connection | None:
        argv = [self._base_argv[0], "-N", *self._base_argv[1:], "-C", "attach-session", "-t", f"={self._session}"]
        started = time.monotonic()
        # What the panes wrote while no client listened is not in their streams: a gap, marked
        # before the new client's first byte, after the old client's last answer.
        self._mark_gaps(None, listening=True)
        try:
            connection = Connection(argv, self._env, self, self._server_lock)
            self._live.add(connection)
        except OSError as err:
            log.debug("cannot start a control client: %s", err)
            self._retry_at = started + RETRY_DELAY
            self._mark_gaps(None, listening=False)
            return None
        with self._cond:
            self._listener = connection
        connection.ready.wait(max(0.0, min(deadline - started, 5.0)))  # the attach answered: whole
        if not connection.alive or not connection.ready.is_set() or connection.failure:
            log.debug("control client did not attach: %s", connection.failure or "no answer in time")
            self._mark_gaps(connection, listening=False)
            connection.close()
            self._retry_at = time.monotonic() + RETRY_DELAY
            return None
        log.debug("%s (pid %d) attached to =%s in %.1f ms", connection.name, connection.pid,
                  self._session, (time.monotonic() - started) * 1e3)
        self._connection = connection
        return connection

    def _mark_gaps(self, ended: Connection | None, listening: bool) -> None:
        """Mark a gap in every stream: a new client starts (``listening``), or the one they listen
        through (``ended``) stopped.  A client that ended after a newer one started marks none:
        the newer one's gap covers it, and its answers all came before."""
        with self._cond:
            if not listening and ended is not self._listener:
                return
            self._position += 1
            self._listening, self._listener = listening, None
            for stream in list(self._streams.values()):
                stream.gap(self._position, listening)

    def _retire(self, connection: Connection) -> None:
        """After a command that may have ended our session: new calls use a new client; this one
        ends now (under the server lock the command ran under) or, while other threads still
        wait on it, once their calls are answered."""
        with self._connect_lock:
            if self._connection is connection:
                self._connection = None
        with connection.write_lock:
            connection.retired = True
            idle = not connection.pending
        if idle:
            connection.close()

    # Called by the reader thread.

    def dispatch(self, connection: Connection, event: Event) -> None:
        if isinstance(event, Block):
            connection.on_block(event, self._position)
            return
        with self._cond:
            self._position += 1
            if isinstance(event, Output):
                self._pane_position[event.pane_id] = self._position
                self._output_position = self._position
                self.stream(event.pane_id).feed(event.data, self._position, time.monotonic())
            elif isinstance(event, Notification) and event.name in _LAYOUT_EVENTS:
                self._layout_position = self._position
                if event.name == "layout-change":  # pane sizes, for recordings' "r" events
                    now = time.monotonic()
                    for pane_id, (columns, rows) in layout_sizes(event.args).items():
                        self.stream(pane_id).resized(columns, rows, now)
            else:
                return
            self._cond.notify_all()

    def connection_ended(self, connection: Connection) -> None:
        self._live.discard(connection)
        self._mark_gaps(connection, listening=False)
        with self._cond:
            self._position += 1
            self._layout_position = self._position
            self._cond.notify_all()


class Posted:
    """The answer to a chain written over a connection (see :meth:`ControlTransport.post`)."""

    __slots__ = ("_commands", "_deadline", "_error", "_outputs", "_request", "_timeout", "_transport")

    def __init__(self, transport: ControlTransport, request: Request, commands: Sequence[Command],
                 timeout: float, deadline: float) -> None:
        self._transport = transport
        self._request = request
        self._commands = commands
        self._timeout = timeout
        self._deadline = deadline
        self._outputs: list[list[str]] | None = None
        self._error: Exception | None = None

    def answered(self) -> bool:
        return self._request.done.is_set()

    def result(self) -> list[list[str]]:
        if self._outputs is None and self._error is None:
            try:
                _wait_answer(self._request, self._commands, self._timeout, self._deadline)
                self._outputs = _outputs(self._request, self._commands)
            except Lost as lost:  # written, so it may have run: never run it again
                self._error = _lost_after_writing(lost, self._commands)
            except TmuxError as err:
                self._error = err
        if self._error is not None:
            raise self._error
        assert self._outputs is not None
        return self._outputs

    def anchor(self, pane_id: str) -> int | None:
        return self._transport.stream(pane_id).offset_after(self._request.position)

    def position(self) -> int:
        return self._request.position


def _wait_answer(request: Request, commands: Sequence[Command], timeout: float, deadline: float) -> None:
    """Wait until ``request`` is answered; raises :class:`TmuxTimeoutError`, or ``Lost`` when the
    connection ended first."""
    if not request.done.is_set() and not request.done.wait(max(0.0, deadline - time.monotonic())):
        request.abandoned = True
        raise TmuxTimeoutError(f"tmux did not answer within {timeout:g}s: {show(commands)}")
    if request.lost is not None:
        raise Lost(request.lost)


def _lost_after_writing(lost: Lost, commands: Sequence[Command]) -> ControlConnectionError:
    """The error for commands written to a client that ended before tmux answered them."""
    return ControlConnectionError(f"{lost} before tmux answered; it may or may not have run: {show(commands)}")


def _outputs(request: Request, commands: Sequence[Command]) -> list[list[str]]:
    """Each command's output lines from an answered request; raises the error tmux answered."""
    last = request.blocks[-1]
    if last.error:
        failed = commands[len(request.blocks) - 1] if len(request.blocks) <= len(commands) else commands[-1]
        message = last.lines[-1] if last.lines else "command failed"
        message = message.removeprefix("parse error: ")  # as one-process-per-call words it
        raise classify_error(f"{message} (in: {show([failed])})")
    return [list(block.lines) for block in request.blocks]


def _close_all(live: set[Connection]) -> None:
    for connection in list(live):
        connection.close()
        live.discard(connection)
