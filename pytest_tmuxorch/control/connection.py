"""One control client process: writing requests to it, and the reader thread that answers them.

A :class:`Connection` belongs to a :class:`~pytest_tmuxorch.control.client.ControlTransport`
(its *owner*): the reader thread parses the client's stdout with
:class:`~pytest_tmuxorch.control.protocol.ControlParser`, answers the oldest pending request with
each reply block, and hands every other event to the owner.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import subprocess
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Protocol

from .._log import get_logger
from ..serverlock import ServerLock
from ..transport import Command
from .protocol import Block, ControlParser, Event, Exit, format_chain

log = get_logger("pytest_tmuxorch.control")


class Owner(Protocol):
    """What a connection reports to: every event but replies, and its end."""

    def dispatch(self, connection: Connection, event: Event) -> None: ...

    def connection_ended(self, connection: Connection) -> None: ...


class Lost(Exception):
    """Internal: the connection ended before this request was answered."""


class NotSent(Lost):
    """Internal: the connection ended before this request was written (safe to run elsewhere)."""


class Request:
    __slots__ = ("abandoned", "blocks", "commands", "done", "lost", "position")

    def __init__(self, commands: Sequence[Command]) -> None:
        self.commands = commands
        self.blocks: list[Block] = []
        self.done = threading.Event()
        self.lost: str | None = None
        self.abandoned = False
        self.position = 0


def terminate(process: subprocess.Popen[bytes], lock: ServerLock) -> None:
    """End a control client by killing it, and reap it.

    Never by EOF on its stdin, which the server reads itself: tmux 3.3a can crash when a client
    told to exit (EOF, or a detach) still has pane output queued and more comes (it drops that
    output, then reads it: fatal "not enough data").  A killed client is dropped whole, and its
    stdin is closed only after that (by the reader, at the end of the output).  Under the server
    lock: tmux tells every control client that this one went."""
    with lock:
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()


class Connection:
    """One control client process, the requests written to it and not yet answered."""

    _numbers = itertools.count(1)

    def __init__(self, argv: list[str], env: Mapping[str, str] | None, owner: Owner, lock: ServerLock) -> None:
        self.name = f"control-{next(self._numbers)}"
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, start_new_session=True,  # a Ctrl-C on the terminal must not kill it mid-call
        )
        self.pid = self.process.pid
        self._stdin = self.process.stdin
        self._stdin_fd = self._stdin.fileno() if self._stdin else -1
        self.pending: collections.deque[Request] = collections.deque()
        self.write_lock = threading.Lock()
        self.ready = threading.Event()  # set when the attach succeeded, or the connection ended
        self.alive = True
        self.retired = False
        self.failure = ""
        self._owner = weakref.ref(owner)
        self._server_lock = lock
        # An un-closed transport must not outlive the program: its client is killed at exit.
        self._finalizer = weakref.finalize(self, terminate, self.process, lock)
        self.reader = threading.Thread(target=self._read, name=f"tmuxorch-{self.name}", daemon=True)
        self.reader.start()

    # --- writing ------------------------------------------------------------------------------

    def send(self, commands: Sequence[Command]) -> Request:
        """Write ``commands`` as one chain; the reply arrives in the returned request."""
        line = format_chain(commands)
        request = Request(commands)
        with self.write_lock:
            if not self.alive:
                raise NotSent(self.failure or "connection closed")
            self.pending.append(request)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self._stdin_fd, view):]
            except OSError as err:
                self.pending.remove(request)
                self.alive = False
                raise NotSent(f"writing to the control client failed: {err}") from None
        return request

    def hang_up(self) -> None:
        """Stop writing; the client is killed once tmux answered every request written to it
        (at once when none waits; see :func:`terminate`).  Does not wait (safe from the reader
        thread)."""
        with self.write_lock:
            self.alive = False
            idle = not self.pending
        if idle:
            with contextlib.suppress(OSError):
                self.process.kill()

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
                    owner.dispatch(self, event)
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
            if (self.retired or not self.alive) and not self.pending:
                self.hang_up()  # (its last answer: it may end now)

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
            if self._stdin is not None:  # tmux has dropped the client: now its stdin may end
                with contextlib.suppress(OSError):
                    self._stdin.close()
        for request in pending:
            request.lost = reason
            request.done.set()
        self.ready.set()
        log.debug("%s (pid %d): ended: %s", self.name, self.pid, reason)
        owner = self._owner()
        if owner is not None:
            owner.connection_ended(self)

    # --- ending ---------------------------------------------------------------------------------

    def close(self) -> None:
        """End the client once the requests written to it are answered (at most 2 seconds),
        and wait for it and for the reader."""
        with self._server_lock:  # from the hang-up until the client has gone: see terminate()
            self.hang_up()
            if self.pending and threading.current_thread() is not self.reader:
                self.reader.join(timeout=2.0)  # the reader ends it after the last answer
            self._finalizer()
        if threading.current_thread() is not self.reader:
            self.reader.join(timeout=5.0)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None and not self.reader.is_alive():
                stream.close()
