"""One pane: type into it, send keys, capture it, wait for what it shows, run commands in its shell.

Panes are always addressed by their ``%id`` (the user's base indexes break ``:0.0`` targets).

Input is safe by construction (see terminal.py): before anything is typed, the pane *settles*
(a command just started has taken the terminal, a signal key has been handled), and :meth:`Pane.run`
types only at a prompt the shell drew after the last input.  :meth:`Pane.wait_for` looks, by
default, only at what the pane wrote after the last input, past the echo of the typed line: old
text and the line just typed cannot satisfy it.  All of this needs the shell integration of the
``bash``/``sh`` presets; in a pane without it (``shell="user"``, any other command) input goes out
at once, ``wait_for`` reads the whole scrollback and ``run`` brackets the command with markers.
"""

from __future__ import annotations

import time

from . import terminal
from ._proc import foreground_group, foreground_programs, group_running, wait_until
from .errors import TmuxorchError, UsageError, WaitTimeoutError
from .inputs import deliver, output_start, wait_panes_ready
from .keys import SIGNAL_KEYS, key_commands, keystroke_commands, paste_commands
from .output import Renderer
from .runs import RunResult, run_integrated, run_with_markers
from .terminal import Pending, Typed, last_typed, look
from .tmux import Tmux

TYPE_CHECKING = False  # typing and re cost the console script's start-up (run-one makes panes)
if TYPE_CHECKING:
    import re
    from collections.abc import Callable

    import libtmux

    from .recording import Recording
    from .screen import Screen

    Pattern = str | re.Pattern[str]
WHERE = ("output", "screen", "history")
# A wait_for check that takes this much CPU time or more (the output since the input runs to
# megabytes) runs at most once per CHECK_SPACING times its cost: a fifth of the time, at most.
SLOW_CHECK = 0.0005
CHECK_SPACING = 5

__all__ = ["Pane", "RunResult", "deliver", "wait_panes_ready"]


class Pane:
    """A handle on one pane of the private server; cheap to create: what it remembers of the pane
    (the last input) lives with the server connection, shared by every handle."""

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

    @property
    def integrated(self) -> bool:
        """True when the pane's shell has the package's integration (the library knows its state)."""
        return self.tmux.settings.integration is not None

    # --- input ---------------------------------------------------------------------------------

    def send(self, text: str, enter: bool = True, *, timeout: float | None = None) -> None:
        """Paste ``text`` literally, then press Enter (unless ``enter=False``).

        Safe for shells and line-reading programs: quotes, ``$``, ``;``, a leading ``-``, tabs,
        unicode and the word ``C-c`` arrive as written.  Waits first (up to ``timeout``) until the
        pane has taken in the previous input (see the module docstring).
        """
        deliver(self.tmux, [self.id], lambda pane: paste_commands(pane, text, enter),
                kind="line" if enter else "text", lines=text.count("\n") + 1, timeout=timeout)

    def type(self, text: str, enter: bool = True, *, timeout: float | None = None) -> None:
        """Type ``text`` key by key (``send-keys -l``), then Enter: for full-screen programs that
        treat a paste differently from typing (vim's ``:wq``, ``/search``)."""
        deliver(self.tmux, [self.id], lambda pane: keystroke_commands(pane, text, enter),
                kind="line" if enter else "text", lines=text.count("\n") + 1, timeout=timeout)

    def send_keys(self, *keys: str, timeout: float | None = None) -> None:
        """Send tmux key names (``C-c``, ``Enter``, ``Up``...), to this pane only.

        A key the terminal turns into a signal (``C-c``, ``C-\\``, ``C-z``) reaches the program just
        started, never the shell before that program took the terminal; the next input waits until
        the terminal has handled it.
        """
        if not keys:
            raise UsageError("send_keys needs at least one key name")
        deliver(self.tmux, [self.id], lambda pane: key_commands(pane, keys), kind="keys", lines=0,
                signal=bool(SIGNAL_KEYS & set(keys)), timeout=timeout)

    def interrupt(self, timeout: float | None = None) -> int | None:
        """Press C-c, then wait until the shell is back at its prompt; return the exit status of the
        interrupted command (130 for most).  Without shell integration: only C-c, returns None."""
        self.send_keys("C-c", timeout=timeout)
        return self.wait_prompt(timeout) if self.integrated else None

    def resize(self, columns: int, rows: int) -> None:
        """Make this pane ``columns`` x ``rows`` while its program runs (it gets SIGWINCH): the
        whole window when the pane is alone in it, else its borders; raises
        :class:`TmuxorchError` when the other panes of its window leave no room for that size."""
        from .geometry import resize_pane

        resize_pane(self.tmux, self.id, columns, rows, self.label)

    # --- state ---------------------------------------------------------------------------------

    @property
    def current_command(self) -> str:
        """The name of the program in the foreground of the pane (the shell at its prompt): of a
        pipeline, its first live process."""
        programs = foreground_programs(look(self.tmux, self.id).shell_pid)
        return programs[0] if programs else "?"

    def wait_prompt(self, timeout: float | None = None) -> int:
        """Wait until the shell shows a prompt drawn after the last input, holding the terminal
        itself; return the exit status of the command before it.  Needs the shell integration."""
        self._need_integration("wait_prompt")
        timeout = self._timeout(timeout)
        typed = last_typed(self.tmux, self.id)
        seen = [look(self.tmux, self.id)]

        def at_prompt() -> int | None:
            seen[0] = now = look(self.tmux, self.id)
            if now.dead:
                raise TmuxorchError(f"{self.label}: the pane's shell has exited")
            return now.status if terminal.new_prompt(typed, now) and now.status is not None else None

        def expired() -> Exception:
            holder = (foreground_programs(seen[0].shell_pid) or ["?"])[0]
            return WaitTimeoutError(
                f"{self.label}: the shell did not come back to its prompt within {timeout:g}s "
                f"({holder!r} holds the terminal)", self.capture())

        return wait_until(at_prompt, timeout, expired, self._pause)

    def wait_command(self, name: str, timeout: float | None = None) -> None:
        """Wait until a program called ``name`` runs in the foreground (``"vim"`` once it started,
        ``"less"`` in ``seq 100 | less``)."""
        timeout = self._timeout(timeout)
        shell_pid = look(self.tmux, self.id).shell_pid
        wait_until(lambda: True if name in foreground_programs(shell_pid) else None, timeout,
                   lambda: WaitTimeoutError(f"{self.label}: {name!r} was not in the foreground within "
                                            f"{timeout:g}s (it is {self.current_command!r})", self.capture()),
                   self._pause)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the pane's program has drawn its first prompt (keys typed earlier are lost)."""
        wait_panes_ready(self.tmux, [self.id], timeout)

    # --- output --------------------------------------------------------------------------------

    def capture(self, history: bool = False) -> str:
        """The pane's text: the visible screen, or the whole scrollback with ``history=True``.

        Wrapped lines are joined; trailing blank lines are dropped.
        """
        args = ["capture-pane", "-p", "-J", "-t", self.id]
        if history:
            args += ["-S", "-", "-E", "-"]
        return _joined(self.tmux.run(*args))

    def screen(self) -> Screen:
        """The visible screen as data: text, cursor, size and the style of every cell."""
        from .screen import capture_screen

        return capture_screen(self.tmux, self.id)

    def recording(self) -> Recording:
        """Everything the pane wrote while the control client listened, as an asciicast v2
        recording (``.dump(path)`` writes it); :class:`UsageError` with the subprocess transport."""
        from .recording import pane_recording

        return pane_recording(self.tmux, self.id, self.label)

    def wait_for(self, pattern: Pattern, timeout: float | None = None, *, where: str = "output",
                 history: bool = False) -> str:
        """Wait until the pane shows ``pattern`` (a plain string, or a compiled regex); return the
        matched text.  Raises :class:`WaitTimeoutError` (a ``TimeoutError``) showing the screen.

        ``where``: ``"output"`` (default) what the pane wrote after the last input sent through
        the library, past the echo of the typed line; ``"screen"`` the visible screen (for
        full-screen programs); ``"history"`` the whole scrollback (also ``history=True``).
        """
        where = "history" if history else where
        if where not in WHERE:
            raise UsageError(f"invalid where {where!r}: choose one of {', '.join(WHERE)}")
        timeout = self._timeout(timeout)
        read = self._output_reader() if where == "output" else lambda: self.capture(history=where == "history")
        began = cost = 0.0  # when the last check began, and the CPU time it took

        def check() -> str | None:
            nonlocal began, cost
            began, cpu = time.perf_counter(), time.thread_time()
            text = read()
            if isinstance(pattern, str):
                found = pattern if pattern in text else None
            else:
                match = pattern.search(text)
                found = match.group(0) if match else None
            cost = time.thread_time() - cpu
            return found

        def pause(remaining: float, attempt: int) -> None:
            self._pause(remaining, attempt)
            # A pane that prints a lot wakes this on every chunk, and a check reads all the output
            # since the input: a slow one runs at most once per CHECK_SPACING times its own cost.
            wait = min(cost * CHECK_SPACING - (time.perf_counter() - began), remaining, 0.05)
            if cost >= SLOW_CHECK and wait > 0:
                time.sleep(wait)

        def expired() -> Exception:
            shown = pattern if isinstance(pattern, str) else pattern.pattern
            return WaitTimeoutError(f"{self.label}: {shown!r} did not appear within {timeout:g}s", self.capture())

        return wait_until(check, timeout, expired, pause)

    def wait_stable(self, quiet: float = 0.3, timeout: float | None = None) -> str:
        """Wait until the screen has not changed for ``quiet`` seconds while the foreground program
        sat idle (waiting for input or a timer, not running: a program still starting up is not
        done drawing); return the screen."""
        timeout = self._timeout(timeout)
        shell_pid = look(self.tmux, self.id).shell_pid
        last: str | None = None
        since = 0.0

        def still() -> str | None:
            nonlocal last, since
            text, now = self.capture(), time.monotonic()
            if text != last or group_running(foreground_group(shell_pid)):
                last, since = text, now
                return None
            return text if now - since >= quiet else None

        return wait_until(still, timeout + quiet, lambda: WaitTimeoutError(
            f"{self.label}: the screen kept changing for {timeout:g}s", self.capture()),
            lambda remaining, attempt: time.sleep(min(quiet / 4, remaining)))

    def run(self, command: str, timeout: float | None = None) -> RunResult:
        """Run ``command`` in the pane's shell and wait for it to finish: its exit status, output
        and duration.  With the integration, waits first for the shell's prompt (never typing into
        a program still running or exiting), and keeps ``$?`` for the next command."""
        if not command.strip():
            raise UsageError("run needs a command")
        timeout = self._timeout(timeout)
        if not self.integrated:
            return run_with_markers(self, command, timeout)
        return run_integrated(self, command, timeout)

    # --- helpers ---------------------------------------------------------------------------------

    def _output_reader(self) -> Callable[[], str]:
        """A function that returns what the pane wrote after the last input (see wait_for)."""
        stream = self.tmux.transport.stream(self.id)
        entry = self.tmux.last_input.get(self.id)
        pending = entry if isinstance(entry, Pending) and stream is not None else None
        typed = None if pending is not None else last_typed(self.tmux, self.id)
        if pending is None and typed is None:
            return lambda: self.capture(history=True)
        if stream is None:
            assert typed is not None  # (no stream, so nothing was posted)
            known = typed
            return lambda: _joined(self._lines_after(known))
        renderer = Renderer()
        start: int | None = None  # where the output starts, once the stream shows it

        def text() -> str:
            nonlocal typed, start
            if typed is None:
                if pending is None or not pending.answered():
                    return ""  # the input's answer is on its way, its output after it
                typed = pending.typed(self.tmux, self.id)
            if stream.missing(typed.answered_at):  # the client stopped listening since: as dropped
                return self.capture(history=True)
            if start is None:
                start = output_start(self.tmux, typed, stream.marks_after(typed.anchor), stream.read(typed.anchor))
                if start is None:
                    return ""
            try:  # (only what came since the last complete line is read and rendered again)
                return renderer.text(stream.read(start + renderer.consumed))
            except LookupError:  # dropped: too much output since
                return self.capture(history=True)

        return text

    def _lines_after(self, typed: Typed) -> list[str]:
        """The scrollback from the line the input was typed on, less its echo (no stream)."""
        history = look(self.tmux, self.id).history
        first = max(typed.before.line - history, -history)
        lines = self.tmux.run("capture-pane", "-p", "-J", "-t", self.id, "-S", str(first), "-E", "-")
        return lines[typed.lines:] if typed.kind in ("command", "line") else lines

    def _need_integration(self, what: str) -> None:
        if not self.integrated:
            raise UsageError(f"{self.label}: {what} needs the shell integration of the bash or sh shell "
                             f"(this pane runs {self.tmux.settings.shell!r}); wait_for its prompt instead")

    def _timeout(self, timeout: float | None) -> float:
        return self.tmux.timeout if timeout is None else timeout

    def _pause(self, remaining: float, attempt: int) -> None:
        self.tmux.transport.wait_activity(self.id, remaining, attempt)


def _joined(lines: list[str]) -> str:
    """Captured lines as text: trailing blank lines dropped, each line ending with a newline."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "".join(line + "\n" for line in lines)
