"""A persistent control-mode client (``tmux -C``) as a :class:`~pytest_tmuxorch.tmux.Transport`.

One ``tmux -N ... -C attach-session -t =<session>`` process per transport, started lazily on the
first command that may use it once the server and the session exist.  Commands are written to its
stdin as lines of tmux's command language; one reader thread parses its stdout and hands each
reply to the caller waiting for it, in the order the commands were written (tmux answers a control
client's commands in order).  ``%output`` notifications wake :meth:`ControlTransport.wait_activity`
at once instead of polling.

Two layers:

* :class:`ControlParser` and friends: the pure protocol (no processes, no threads), tested on text.
* :class:`ControlTransport`: the connection, its reader thread, routing and fallback.

Facts about tmux 3.3a this relies on (checked on a private server, see tests/test_control.py):

* Each command of a ``;`` chain answers with its own ``%begin``/``%end`` block (each with its own
  number).  A failing command answers ``%error`` and the rest of the chain does not run; a parse
  error answers one ``%error`` block for the whole line.  Commands not sent by this client (hooks,
  the ``attach-session`` given on the command line) answer with flags 0 and are ignored.
  ``if-shell``/``run-shell -C``/``source-file`` insert extra blocks: such commands never go over
  the connection (see :func:`control_safe`).
* An empty line, or end of file on stdin, makes the client exit (``%exit``).  ``-N`` stops the
  client from starting a server when none runs.
* A control client that never set a size (no ``refresh-client -C``) does not change any window's
  size, whatever ``window-size`` is; it does count in ``session_attached``.
* Killing the attached session or the server answers the pending commands, then ``%exit``.
* ``%output`` data escapes bytes below 0x20 and the backslash as ``\\ooo`` octal; all else is raw.
* Inside double quotes, the parser turns ``\\"``, ``\\\\``, ``\\$``, ``\\~``, ``\\n``, ``\\r``,
  ``\\t`` and ``\\ooo`` into the character; ``$`` would expand a variable and a leading ``~`` the
  home directory; ``;``, ``#``, ``{`` and ``}`` are plain characters there.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import re
import subprocess
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .errors import TmuxError, TmuxTimeoutError
from .tmux import Command, SubprocessTransport, classify_error

log = logging.getLogger("pytest_tmuxorch.control")

# ---------------------------------------------------------------------------------------------
# The protocol: pure parsing and formatting.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A command's reply: the lines between ``%begin`` and ``%end`` (or ``%error``)."""

    time: int
    number: int
    flags: int
    lines: tuple[str, ...]
    error: bool = False

    @property
    def from_client(self) -> bool:
        """True when the command was sent by this client (not a hook, not the attach command)."""
        return bool(self.flags & 1)


@dataclass(frozen=True)
class Output:
    """``%output %pane data`` (or ``%extended-output``): bytes a pane's program wrote.

    ``raw`` is the escaped form from the wire; :attr:`data` decodes it on demand, since most
    readers only need to know *that* a pane wrote something.
    """

    pane_id: str
    raw: bytes

    @property
    def data(self) -> bytes:
        return unescape_output(self.raw)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Exit:
    """``%exit [reason]``: the client is leaving (detached, session or server gone, EOF)."""

    reason: str


@dataclass(frozen=True)
class Notification:
    """Any other ``%name args`` line outside a block (``%layout-change``, ``%sessions-changed``...)."""

    name: str
    args: str


Event = Block | Output | Exit | Notification

_OCTAL = re.compile(rb"\\([0-3][0-7]{2})")


def unescape_output(raw: bytes) -> bytes:
    """Undo ``%output`` escaping: ``\\ooo`` is one byte; anything else is as sent."""
    if b"\\" not in raw:
        return raw
    return _OCTAL.sub(lambda match: bytes((int(match.group(1), 8),)), raw)


class ControlParser:
    """Turns the lines of a control client's stdout into :data:`Event` objects.

    Holds only the block being read: inside a block every line is output (even one starting with
    ``%``) until ``%end``/``%error`` with the *same* time, number and flags as its ``%begin``.
    """

    def __init__(self) -> None:
        self._guard: bytes | None = None  # b"<time> <number> <flags>" of the open block
        self._lines: list[str] = []
        self._buffer = b""

    @property
    def in_block(self) -> bool:
        return self._guard is not None

    def feed(self, data: bytes) -> list[Event]:
        """Parse a chunk of the stream (any size, lines may be split across chunks)."""
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        return [event for event in map(self.feed_line, lines) if event is not None]

    def feed_line(self, line: bytes) -> Event | None:
        """Parse one line (without its newline); return the event it completes, if any."""
        if self._guard is not None:
            keyword, _, guard = line.partition(b" ")
            if guard == self._guard and keyword in (b"%end", b"%error"):
                return self._close_block(keyword == b"%error")
            self._lines.append(line.decode("utf-8", errors="replace"))
            return None
        if not line.startswith(b"%"):
            log.debug("unexpected line outside a block: %r", line[:200])
            return Notification("", line.decode("utf-8", errors="replace"))
        name, _, rest = line[1:].partition(b" ")
        if name == b"output":
            pane, _, raw = rest.partition(b" ")
            return Output(pane.decode("ascii", errors="replace"), raw)
        if name == b"extended-output":
            pane, _, tail = rest.partition(b" ")
            return Output(pane.decode("ascii", errors="replace"), tail.partition(b" : ")[2])
        if name == b"begin" and _parse_guard(rest) is not None:
            self._guard, self._lines = rest, []
            return None
        if name == b"exit":
            return Exit(rest.decode("utf-8", errors="replace"))
        return Notification(name.decode("utf-8", errors="replace"), rest.decode("utf-8", errors="replace"))

    def _close_block(self, error: bool) -> Block:
        guard, lines = self._guard, self._lines
        self._guard, self._lines = None, []
        numbers = _parse_guard(guard or b"")
        if numbers is None:  # pragma: no cover - checked when the block was opened
            raise ValueError(f"bad guard {guard!r}")
        return Block(*numbers, tuple(lines), error)


def _parse_guard(text: bytes) -> tuple[int, int, int] | None:
    parts = text.split(b" ")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


# Unquoted words that parse as themselves: no quotes, '$', '~', '#', braces, ';' or spaces, and
# no leading '%' ("%end", "%if" are directives anywhere) except pane ids.
_PLAIN = re.compile(r"[A-Za-z0-9_@:.,/+-][A-Za-z0-9_%@:.,/+-]*|%[0-9]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "$": "\\$", "~": "\\~", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote_argument(arg: str) -> str:
    """``arg`` as one token of tmux's command language that parses back to exactly ``arg``.

    Plain words stay as they are; anything else goes in double quotes with ``"``, ``\\``, ``$``,
    ``~`` and control characters escaped (a newline would end the command line).  No ``;`` is
    special inside quotes, so a trailing ``;`` needs nothing more (unlike argv, SPEC 6.2).
    """
    if "\0" in arg:
        raise ValueError(f"embedded null byte in tmux argument {arg[:40]!r}")
    if _PLAIN.fullmatch(arg):
        return arg
    out = []
    for char in arg:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char < " " or char == "\x7f":
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def format_command(command: Command) -> str:
    """One command as text: its name, then each argument quoted."""
    if not command or not command[0]:
        raise TmuxError(f"empty tmux command: {list(command)!r}")
    return " ".join(quote_argument(arg) for arg in command)


def format_chain(commands: Sequence[Command]) -> bytes:
    """Several commands as one control-mode line, separated by `` ; `` so they run as one chain."""
    line = " ; ".join(format_command(command) for command in commands)
    return line.encode("utf-8", errors="surrogateescape") + b"\n"


# ---------------------------------------------------------------------------------------------
# Which commands may go over the connection.
# ---------------------------------------------------------------------------------------------

# Commands answering with exactly one block, that never block the client's command queue, never
# run other tmux commands and do not depend on which client runs them.  Everything else
# (start-server, kill-server, run-shell, if-shell, source-file, a blocking wait-for,
# switch-client, attach-session, load-buffer -, ...) runs one tmux process per call instead.
_READ_ONLY = frozenset({
    "capture-pane", "capturep", "display-message", "display", "has-session", "has",
    "list-panes", "lsp", "list-windows", "lsw", "list-sessions", "ls", "list-buffers", "lsb",
    "list-clients", "lsc", "show-buffer", "showb", "show-options", "show", "show-window-options",
    "showw", "show-environment", "showenv", "show-hooks",
})
_WRITING = frozenset({
    "send-keys", "send", "set-buffer", "setb", "paste-buffer", "pasteb", "delete-buffer",
    "deleteb", "set-option", "set", "set-window-option", "setw", "set-environment", "setenv",
    "set-hook", "select-layout", "selectl", "select-pane", "selectp", "select-window", "selectw",
    "resize-pane", "resizep", "resize-window", "resizew", "new-window", "neww", "split-window",
    "splitw", "kill-pane", "killp", "kill-window", "killw", "kill-session", "pipe-pane", "pipep",
    "respawn-pane", "respawnp", "respawn-window", "respawnw", "rename-window", "renamew",
    "rename-session", "rename", "clear-history", "clearhist", "swap-pane", "swapp",
    "move-window", "movew", "break-pane", "breakp", "join-pane", "joinp", "wait-for", "wait",
    "new-session", "new",
})
# Commands safe only with one of these flags: display-message prints (-p) instead of showing a
# message on the client; wait-for signals (-S) or unlocks (-U) instead of blocking; new-session
# stays detached (-d) instead of attaching the control client.
_NEEDS_FLAG = {"display-message": "p", "display": "p", "wait-for": "SU", "wait": "SU", "new-session": "d", "new": "d"}
# Commands that may end the control client's session: the connection is retired after them.
_ENDS_SESSION = frozenset({"kill-session", "kill-window", "killw", "kill-pane", "killp"})


def _flags(command: Command) -> str:
    """The letters of every ``-xyz`` argument before ``--`` (over-inclusive, which is safe here)."""
    letters = []
    for arg in command[1:]:
        if arg == "--":
            break
        if arg.startswith("-") and len(arg) > 1:
            letters.append(arg[1:])
    return "".join(letters)


def control_safe(commands: Sequence[Command]) -> bool:
    """True when every command may run over the control connection (see the tables above)."""
    for command in commands:
        if not command:
            return False
        name = command[0]
        if name not in _READ_ONLY and name not in _WRITING:
            return False
        needed = _NEEDS_FLAG.get(name)
        if needed and not any(letter in _flags(command) for letter in needed):
            return False
    return True


def read_only(commands: Sequence[Command]) -> bool:
    """True when running ``commands`` twice is harmless (so a lost reply can be retried)."""
    return all(command and command[0] in _READ_ONLY for command in commands)


# ---------------------------------------------------------------------------------------------
# The connection.
# ---------------------------------------------------------------------------------------------


class ControlConnectionError(TmuxError):
    """The control connection closed before a command that changes things was answered: it may
    or may not have run, so it is not retried."""


class _Lost(Exception):
    """Internal: the connection ended before this request was answered."""


class _NotSent(_Lost):
    """Internal: the connection ended before this request was written (safe to run elsewhere)."""


class _Request:
    __slots__ = ("abandoned", "blocks", "commands", "done", "lost", "position")

    def __init__(self, commands: Sequence[Command]) -> None:
        self.commands = commands
        self.blocks: list[Block] = []
        self.done = threading.Event()
        self.lost: str | None = None
        self.abandoned = False
        self.position = 0


def _terminate(process: subprocess.Popen[bytes], stdin: IO[bytes] | None) -> None:
    """End a control client: EOF on its stdin makes it exit; kill it if it does not."""
    try:
        if stdin is not None:
            stdin.close()
    except OSError:
        pass
    try:
        process.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _Connection:
    """One control client process, the requests written to it and not yet answered."""

    _numbers = itertools.count(1)

    def __init__(self, argv: list[str], env: Mapping[str, str] | None, owner: ControlTransport) -> None:
        self.name = f"control-{next(self._numbers)}"
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, start_new_session=True,  # a Ctrl-C on the terminal must not kill it mid-call
        )
        self.pid = self.process.pid
        self._stdin = self.process.stdin
        self._stdin_fd = self._stdin.fileno() if self._stdin else -1
        self.pending: collections.deque[_Request] = collections.deque()
        self.write_lock = threading.Lock()
        self.ready = threading.Event()  # set when the attach succeeded, or the connection ended
        self.alive = True
        self.retired = False
        self.failure = ""
        self._owner = weakref.ref(owner)
        # An un-closed transport must not outlive the program: close its stdin at exit.
        self._finalizer = weakref.finalize(self, _terminate, self.process, self._stdin)
        self.reader = threading.Thread(target=self._read, name=f"tmuxorch-{self.name}", daemon=True)
        self.reader.start()

    # --- writing ------------------------------------------------------------------------------

    def send(self, commands: Sequence[Command]) -> _Request:
        """Write ``commands`` as one chain; the reply arrives in the returned request."""
        line = format_chain(commands)
        request = _Request(commands)
        with self.write_lock:
            if not self.alive:
                raise _NotSent(self.failure or "connection closed")
            self.pending.append(request)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self._stdin_fd, view):]
            except OSError as err:
                self.pending.remove(request)
                self.alive = False
                raise _NotSent(f"writing to the control client failed: {err}") from None
        return request

    def hang_up(self) -> None:
        """Stop writing and close stdin: the client exits once tmux answered what it read.
        Does not wait (safe from the reader thread)."""
        with self.write_lock:
            self.alive = False
            stdin, self._stdin = self._stdin, None
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()

    # --- reading (the reader thread) ------------------------------------------------------------

    def _read(self) -> None:
        parser = ControlParser()
        stdout = self.process.stdout
        reason = "the control client closed its output"
        try:
            if stdout is None:  # pragma: no cover - always a pipe
                return
            for raw in iter(stdout.readline, b""):
                event = parser.feed_line(raw[:-1] if raw.endswith(b"\n") else raw)
                if event is None:
                    continue
                if isinstance(event, Exit):
                    reason = f"the control client exited ({event.reason or 'no reason given'})"
                owner = self._owner()
                if owner is not None:
                    owner._dispatch(self, event)
        except Exception as err:  # the reader must always fail the pending calls
            reason = f"reading from the control client failed: {err!r}"
            log.exception("%s: reader failed", self.name)
        finally:
            self._ended(reason)

    def on_block(self, block: Block, position: int) -> None:
        if not block.from_client:
            if not self.ready.is_set():  # the attach-session from the command line
                if block.error:
                    self.failure = "; ".join(block.lines) or "attach failed"
                else:
                    self.ready.set()
            return
        if not self.pending:
            log.debug("%s: reply with no request waiting: %s", self.name, block)
            return
        request = self.pending[0]
        request.blocks.append(block)
        if block.error or len(request.blocks) == len(request.commands):
            self.pending.popleft()
            request.position = position
            request.done.set()
            if self.retired and not self.pending:
                self.hang_up()

    def _ended(self, reason: str) -> None:
        stderr = b""
        try:
            self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                stderr = self.process.stderr.read()
        message = stderr.decode(errors="replace").strip()
        if not self.ready.is_set() and not self.failure:
            self.failure = message.splitlines()[-1] if message else reason
        with self.write_lock:
            self.alive = False
            pending, self.pending = list(self.pending), collections.deque()
        for request in pending:
            request.lost = reason
            request.done.set()
        self.ready.set()
        log.debug("%s (pid %d): ended: %s", self.name, self.pid, reason)
        owner = self._owner()
        if owner is not None:
            owner._connection_ended(self)

    # --- ending ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close stdin (the client exits), wait for it (kill it if needed) and for the reader."""
        self.hang_up()
        self._finalizer()
        if threading.current_thread() is not self.reader:
            self.reader.join(timeout=5.0)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None and not self.reader.is_alive():
                stream.close()


# ---------------------------------------------------------------------------------------------
# The transport.
# ---------------------------------------------------------------------------------------------

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
_CREATES = frozenset({"new-session", "new", "start-server", "start"})


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
    * :meth:`close` ends the client and waits for it; an un-closed client ends at interpreter exit
      (finaliser), and in any case when the Python process dies (EOF on its stdin) or the server
      exits.  The transport stays usable after close() and reconnects on demand.
    """

    def __init__(
        self,
        base_argv: Sequence[str],
        session: str,
        socket_file: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._base_argv = list(base_argv)
        self._session = session
        self._socket_file = socket_file
        environ = dict(os.environ if env is None else env)
        environ.pop("TMUX", None)  # we address the server by socket; never look "nested"
        self._env = environ
        self._fallback = SubprocessTransport(base_argv, env)
        self._connection: _Connection | None = None  # the one new calls use
        self._live: set[_Connection] = set()  # started and not ended: the current one, retired ones
        self._connect_lock = threading.Lock()
        weakref.finalize(self, _close_all, self._live)
        self._retry_at = 0.0
        self._local = threading.local()
        # Activity bookkeeping (under _cond): a stream position counts the events the reader saw;
        # each pane remembers the position of its last %output.
        self._cond = threading.Condition()
        self._position = 0
        self._pane_position: dict[str, int] = {}
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
            except _NotSent as lost:
                log.debug("%s was not sent: %s", _show(commands), lost)
            except _Lost as lost:
                if not read_only(commands):
                    raise ControlConnectionError(
                        f"{lost} before tmux answered; it may or may not have run: {_show(commands)}"
                    ) from None
                log.debug("retrying %s: %s", _show(commands), lost)  # on a new connection, else below
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TmuxTimeoutError(f"tmux did not answer within {timeout:g}s: {_show(commands)}")
        outputs = self._fallback.execute(commands, remaining)
        self._local.baseline = start
        if any(command[0] in _CREATES for command in commands):
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

    def _call(self, connection: _Connection, commands: Sequence[Command], timeout: float, deadline: float) -> list[list[str]]:
        request = connection.send(commands)
        if not request.done.wait(max(0.0, deadline - time.monotonic())):
            request.abandoned = True
            raise TmuxTimeoutError(f"tmux did not answer within {timeout:g}s: {_show(commands)}")
        if request.lost is not None:
            raise _Lost(request.lost)
        self._local.baseline = request.position
        if any(command[0] in _ENDS_SESSION for command in commands):
            self._retire(connection)
        last = request.blocks[-1]
        if last.error:
            failed = commands[len(request.blocks) - 1] if len(request.blocks) <= len(commands) else commands[-1]
            message = last.lines[-1] if last.lines else "command failed"
            message = message.removeprefix("parse error: ")  # as one-process-per-call words it
            raise classify_error(f"{message} (in: {_show([failed])})")
        return [list(block.lines) for block in request.blocks]

    def _usable_connection(self, deadline: float) -> _Connection | None:
        connection = self._connection
        if connection is not None and connection.alive and not connection.retired:
            return connection
        with self._connect_lock:
            connection = self._connection
            if connection is not None and connection.alive and not connection.retired:
                return connection
            if connection is not None:
                self._connection = None
                connection.close()
            if time.monotonic() < self._retry_at:
                return None
            if self._socket_file is not None and not self._socket_file.exists():
                return None
            return self._connect(deadline)

    def _connect(self, deadline: float) -> _Connection | None:
        argv = [self._base_argv[0], "-N", *self._base_argv[1:], "-C", "attach-session", "-t", f"={self._session}"]
        started = time.monotonic()
        try:
            connection = _Connection(argv, self._env, self)
            self._live.add(connection)
        except OSError as err:
            log.debug("cannot start a control client: %s", err)
            self._retry_at = started + RETRY_DELAY
            return None
        connection.ready.wait(max(0.0, min(deadline - started, 5.0)))
        if not connection.alive or not connection.ready.is_set() or connection.failure:
            log.debug("control client did not attach: %s", connection.failure or "no answer in time")
            connection.close()
            self._retry_at = time.monotonic() + RETRY_DELAY
            return None
        log.debug("%s (pid %d) attached to =%s in %.1f ms", connection.name, connection.pid,
                  self._session, (time.monotonic() - started) * 1e3)
        self._connection = connection
        return connection

    def _retire(self, connection: _Connection) -> None:
        """After a command that may have ended our session: new calls use a new client; this one
        is hung up once its pending calls are answered."""
        with self._connect_lock:
            if self._connection is connection:
                self._connection = None
        with connection.write_lock:
            connection.retired = True
            idle = not connection.pending
        if idle:
            connection.hang_up()

    # Called by the reader thread.

    def _dispatch(self, connection: _Connection, event: Event) -> None:
        if isinstance(event, Block):
            connection.on_block(event, self._position)
            return
        with self._cond:
            self._position += 1
            if isinstance(event, Output):
                self._pane_position[event.pane_id] = self._position
                self._output_position = self._position
            elif isinstance(event, Notification) and event.name in _LAYOUT_EVENTS:
                self._layout_position = self._position
            else:
                return
            self._cond.notify_all()

    def _connection_ended(self, connection: _Connection) -> None:
        self._live.discard(connection)
        with self._cond:
            self._position += 1
            self._layout_position = self._position
            self._cond.notify_all()


def _close_all(live: set[_Connection]) -> None:
    for connection in list(live):
        connection.close()
        live.discard(connection)


def _show(commands: Sequence[Command]) -> str:
    text = " ; ".join(" ".join(command) for command in commands)
    return text if len(text) < 200 else text[:197] + "..."
