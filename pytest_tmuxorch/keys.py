"""The tmux commands that deliver input to a pane: pasted text, keystrokes, key names.

* **Pasted text** (:func:`paste_commands`) goes through a named buffer (``set-buffer`` +
  ``paste-buffer -p``, bracketed when the program asked for it), and Enter is a pasted carriage
  return: no key-name lookup (``C-c`` stays text), no option parsing (``-n`` stays text), tabs not
  taken as completion by readline.  Safe for shells and line-reading programs.
* **Keystrokes** (:func:`keystroke_commands`) go through ``send-keys -l``: each character arrives
  as if typed, never as a paste, which is what full-screen programs expect (vim's ``:wq``).
* **Key names** (:func:`key_commands`) go through ``send-keys``: ``C-c``, ``Enter``, ``Up``...

Typing never goes through ``synchronize-panes``: key commands force it off for their pane within
the same chain, so input for one pane cannot leak into its neighbours.
"""

from __future__ import annotations

import itertools
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .transport import Command

# Keys the terminal turns into a signal for the foreground program (ISIG): when the kernel
# handles one, it also throws away input that is waiting to be read.
SIGNAL_KEYS = frozenset({"C-c", "C-\\", "C-z", "^C", "^\\", "^Z"})
_buffer_numbers = itertools.count()


def paste_commands(pane_id: str, text: str, enter: bool = True) -> list[Command]:
    """Paste ``text`` (then Enter) into ``pane_id``, bypassing key lookup."""
    buffer = f"tmuxorch-{os.getpid()}-{next(_buffer_numbers)}"
    if enter and text.isprintable():
        # Only printable characters: nothing a line editor would take for a key of its own (a tab,
        # an escape), so one plain paste with the carriage return at its end is the same as typing
        # it, in two tmux commands instead of four.
        return [["set-buffer", "-b", buffer, "--", text + "\r"], ["paste-buffer", "-d", "-b", buffer, "-t", pane_id]]
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


def keystroke_commands(pane_id: str, text: str, enter: bool = True) -> list[Command]:
    """Type ``text`` into ``pane_id`` key by key (``send-keys -l``), then Enter."""
    keys: list[Command] = [["send-keys", "-l", "-t", pane_id, "--", text]] if text else []
    return _unsynchronized(pane_id, [*keys, *([["send-keys", "-t", pane_id, "Enter"]] if enter else [])])


def key_commands(pane_id: str, keys: tuple[str, ...]) -> list[Command]:
    """``send-keys`` with tmux key names, to this pane only."""
    return _unsynchronized(pane_id, [["send-keys", "-t", pane_id, *keys]])


def _unsynchronized(pane_id: str, commands: list[Command]) -> list[Command]:
    """``commands`` with ``synchronize-panes`` forced off for ``pane_id`` while they run."""
    return [
        ["set-option", "-p", "-t", pane_id, "synchronize-panes", "off"],
        *commands,
        ["set-option", "-p", "-u", "-t", pane_id, "synchronize-panes"],
    ]
