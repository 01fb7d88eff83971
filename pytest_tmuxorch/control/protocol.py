"""The tmux control-mode protocol, as pure functions and data: no processes, no threads.

:class:`ControlParser` turns a control client's stdout into events (command replies, pane
output, notifications); :func:`format_chain` turns commands into one line of tmux's command
language; :func:`control_safe` says which commands may travel over a control connection.

Facts about tmux 3.3a this relies on (checked on a private server, see tests/test_control.py):

* Each command of a ``;`` chain answers with its own ``%begin``/``%end`` block (each with its own
  number).  A failing command answers ``%error`` and the rest of the chain does not run; a parse
  error answers one ``%error`` block for the whole line.  Commands not sent by this client (hooks,
  the ``attach-session`` given on the command line) answer with flags 0 and are ignored.
  ``if-shell``/``run-shell -C``/``source-file`` insert extra blocks: such commands never go over
  the connection (see :func:`control_safe`).
* ``%output`` data escapes bytes below 0x20 and the backslash as ``\\ooo`` octal; all else is raw.
* Inside double quotes, the parser turns ``\\"``, ``\\\\``, ``\\$``, ``\\~``, ``\\n``, ``\\r``,
  ``\\t`` and ``\\ooo`` into the character; ``$`` would expand a variable and a leading ``~`` the
  home directory; ``;``, ``#``, ``{`` and ``}`` are plain characters there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .._log import get_logger
from ..errors import TmuxError
from ..transport import Command

log = get_logger("pytest_tmuxorch.control")


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
_NOT_OCTAL = re.compile(rb"\\(?![0-3][0-7]{2})")  # a backslash that starts no escape


def unescape_output(raw: bytes) -> bytes:
    """Undo ``%output`` escaping: ``\\ooo`` is one byte; anything else is as sent."""
    if b"\\" not in raw:
        return raw
    if not _NOT_OCTAL.search(raw):
        # As tmux sends it (every backslash starts an escape): Python's own escape decoder, in
        # C, reads exactly these (bytes as Latin-1 characters, back to the same bytes).
        return raw.decode("unicode_escape").encode("latin-1")
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
# Inside double quotes: the escapes above, other control characters as octal.
_QUOTED = {code: f"\\{code:03o}" for code in [*range(32), 127]} | {ord(char): text for char, text in _ESCAPES.items()}


def quote_argument(arg: str) -> str:
    """``arg`` as one token of tmux's command language that parses back to exactly ``arg``.

    Plain words stay as they are; anything else goes in double quotes with ``"``, ``\\``, ``$``,
    ``~`` and control characters escaped (a newline would end the command line).  No ``;`` is
    special inside quotes, so a trailing ``;`` needs nothing more (unlike an argv argument).
    """
    if "\0" in arg:
        raise ValueError(f"embedded null byte in tmux argument {arg[:40]!r}")
    if _PLAIN.fullmatch(arg):
        return arg
    return '"' + arg.translate(_QUOTED) + '"'


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
    "new-session", "new", "kill-server",
})
# Commands safe only with one of these flags: display-message prints (-p) instead of showing a
# message on the client; wait-for signals (-S) or unlocks (-U) instead of blocking; new-session
# stays detached (-d) instead of attaching the control client.
_NEEDS_FLAG = {"display-message": "p", "display": "p", "wait-for": "SU", "wait": "SU", "new-session": "d", "new": "d"}
# Commands that may end the control client's session: the connection is retired after them.
ENDS_SESSION = frozenset({"kill-session", "kill-window", "killw", "kill-pane", "killp", "kill-server"})


def ends_session(commands: Sequence[Command]) -> bool:
    """True when ``commands`` may end the control client's session (:data:`ENDS_SESSION`)."""
    return any(command[0] in ENDS_SESSION for command in commands)


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
