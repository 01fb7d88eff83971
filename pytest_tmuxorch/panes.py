"""One pane: type into it literally, send key names, capture it, wait for output, run commands.

Panes are always addressed by their ``%id`` (the user's base indexes break ``:0.0`` targets).  Text is delivered through a paste
buffer, bracketed when the program asked for it, so it arrives byte for byte (tabs, quotes, ``$``,
a leading ``-``, a trailing ``;``, the word ``C-c``, unicode) and never through
``synchronize-panes``: typing into one pane cannot leak into its neighbours.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
from typing import TYPE_CHECKING, NamedTuple

from ._proc import wait_until
from .errors import TmuxorchError, UsageError, WaitTimeoutError
from .tmux import Tmux
from .transport import Command

if TYPE_CHECKING:
    import libtmux

Pattern = str | re.Pattern[str]
_buffer_numbers = itertools.count()


def typing_commands(pane_id: str, text: str, enter: bool = True) -> list[Command]:
    """The tmux commands that type ``text`` (then Enter) into ``pane_id``, bypassing key lookup."""
    buffer = f"tmuxorch-{os.getpid()}-{next(_buffer_numbers)}"
    commands: list[Command] = []
    if text:
        commands += [
            ["set-buffer", "-b", buffer, "--", text],
            ["paste-buffer", "-p", "-d", "-b", buffer, "-t", pane_id],
        ]
    if enter:  # a bare carriage return, pasted unbracketed, is the Enter key
        commands += [
            ["set-buffer", "-b", buffer, "--", "\r"],
            ["paste-buffer", "-d", "-b", buffer, "-t", pane_id],
        ]
    return commands


def key_commands(pane_id: str, keys: tuple[str, ...]) -> list[Command]:
    """send-keys with ``synchronize-panes`` forced off for this pane while the keys go out."""
    return [
        ["set-option", "-p", "-t", pane_id, "synchronize-panes", "off"],
        ["send-keys", "-t", pane_id, *keys],
        ["set-option", "-p", "-u", "-t", pane_id, "synchronize-panes"],
    ]


class RunResult(NamedTuple):
    """What :meth:`Pane.run` saw: the command's exit status and everything it printed."""

    command: str
    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Pane:
    """A handle on one pane of the private server; cheap to create, holds no state but its id."""

    def __init__(self, tmux: Tmux, pane_id: str, label: str = "") -> None:
        if not pane_id.startswith("%"):
            raise UsageError(f"invalid pane id {pane_id!r}: expected %N")
        self.tmux = tmux
        self.id = pane_id
        self.label = label or pane_id

    def __repr__(self) -> str:
        return f"Pane({self.label} {self.id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pane) and other.id == self.id and other.tmux is self.tmux

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def libtmux(self) -> libtmux.Pane:
        """This pane as a :class:`libtmux.Pane`, on the same private server."""
        import libtmux

        return libtmux.Pane.from_pane_id(self.tmux.libtmux, self.id)

    def send(self, text: str, enter: bool = True) -> None:
        """Type ``text`` literally, then Enter (unless ``enter=False``)."""
        self.tmux.chain(typing_commands(self.id, text, enter))

    def send_keys(self, *keys: str) -> None:
        """Send tmux key names (``C-c``, ``Enter``, ``Up``...), to this pane only."""
        if not keys:
            raise UsageError("send_keys needs at least one key name")
        self.tmux.chain(key_commands(self.id, keys))

    def capture(self, history: bool = False) -> str:
        """The pane's text: the visible screen, or the whole scrollback with ``history=True``.

        Wrapped lines are joined; trailing blank lines are dropped.
        """
        args = ["capture-pane", "-p", "-J", "-t", self.id]
        if history:
            args += ["-S", "-", "-E", "-"]
        lines = self.tmux.run(*args)
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(lines) + ("\n" if lines else "")

    def wait_for(self, pattern: Pattern, timeout: float | None = None, history: bool = False) -> str:
        """Wait until the pane shows ``pattern`` (a plain string, or a compiled regex); return the
        matched text.  Raises :class:`WaitTimeoutError` (a ``TimeoutError``) showing the screen."""
        timeout = self.tmux.timeout if timeout is None else timeout
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))

        def check() -> str | None:
            found = regex.search(self.capture(history=history))
            return found.group(0) if found else None

        def expired() -> Exception:
            shown = pattern if isinstance(pattern, str) else pattern.pattern
            return WaitTimeoutError(
                f"{self.label}: {shown!r} did not appear within {timeout:g}s",
                self.capture(),
            )

        return wait_until(check, timeout, expired, self._sleep)

    def _sleep(self, remaining: float, attempt: int) -> None:
        self.tmux.transport.wait_activity(self.id, remaining, attempt)

    def run(self, command: str, timeout: float | None = None) -> RunResult:
        """Run ``command`` in the pane's (POSIX) shell and wait for it to finish.

        Returns its exit status and output.  Markers around the command are printed by
        ``printf`` from pieces, so the echo of the typed line can never be mistaken for them.
        """
        timeout = self.tmux.timeout if timeout is None else timeout
        token = f"__TXO{os.urandom(6).hex()}"
        line = (
            f"printf '%s%s\\n' {token} S; eval {shlex.quote(command)}; "
            f"printf '\\n%s%s:%d\\n' {token} E \"$?\""
        )
        self.send(line)
        ended = re.compile(re.escape(token) + r"E:(\d+)$", re.MULTILINE)
        self.wait_for(ended, timeout=timeout)
        return _parse_run(command, token, self.capture(history=True))

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the pane's program has drawn something (its prompt): keys typed earlier
        could be lost."""
        wait_panes_ready(self.tmux, [self.id], timeout)


def _parse_run(command: str, token: str, text: str) -> RunResult:
    text = "\n" + text
    start = text.rfind(f"\n{token}S\n")
    ends = list(re.finditer(re.escape(token) + r"E:(\d+)$", text, re.MULTILINE))
    end_match = ends[-1] if ends else None
    if start < 0 or end_match is None or end_match.start() < start:
        raise TmuxorchError(f"could not find the output of {command!r} in the pane's history")
    output = text[start + len(token) + 3 : end_match.start()]
    return RunResult(command, int(end_match.group(1)), output[:-1] if output.endswith("\n") else output)


def wait_panes_ready(tmux: Tmux, pane_ids: list[str], timeout: float | None = None) -> None:
    """Wait until every pane in ``pane_ids`` shows output (its cursor left the top-left corner)."""
    timeout = tmux.timeout if timeout is None else timeout
    waiting = set(pane_ids)
    fields = "#{pane_id} #{cursor_x} #{cursor_y} #{pane_dead}"

    def check() -> bool | None:
        for line in tmux.run("list-panes", "-a", "-F", fields):
            pane_id, x, y, dead = line.split(" ")
            if pane_id in waiting and dead == "1":
                raise TmuxorchError(f"pane {pane_id} has exited: its shell is not there to type into")
            if pane_id in waiting and (x, y) != ("0", "0"):
                waiting.discard(pane_id)
        return True if not waiting else None

    def expired() -> Exception:
        return WaitTimeoutError(f"panes {', '.join(sorted(waiting))} not ready within {timeout:g}s")

    wait_until(check, timeout, expired, lambda r, a: tmux.transport.wait_activity("*", r, a))
