"""Window and pane sizes: resize a pane or the whole session while programs run in it.

Facts about tmux 3.3a this relies on:

* ``new-session -d -x C -y R`` sets the session's ``default-size``, which later windows take; with
  the status line off (the package's tmux.conf) a window's size is its panes' area.
* ``resize-window -x -y`` also sets the window's ``window-size`` option to ``manual``: no client,
  not even a terminal attached later, changes that window's size again.  A control client that
  never set a size (ours) never changes any window's size.
* ``resize-pane -x -y`` moves the borders the layout allows and silently does nothing about the
  rest (a pane in a column of panes cannot get narrower than its window alone): the size asked for
  is checked after the resize, in the same atomic chain.
* The program in the pane gets ``SIGWINCH`` and redraws on its own time: wait for its screen
  (``wait_for(..., where="screen")``, ``wait_stable``), not for the resize.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import TmuxorchError, UsageError
from .settings import problem

if TYPE_CHECKING:
    from .settings import Settings
    from .tmux import Tmux

_SIZE = "#{pane_width} #{pane_height}"


def check_size(columns: int, rows: int) -> tuple[int, int]:
    """``(columns, rows)`` when they make a size tmux can have, else :class:`UsageError`."""
    why = problem("size", (columns, rows))
    if why:
        raise UsageError(f"invalid size {columns!r}x{rows!r}: {why}")
    return columns, rows


def resize_pane(tmux: Tmux, pane_id: str, columns: int, rows: int, label: str = "") -> tuple[int, int]:
    """Make pane ``pane_id`` ``columns`` x ``rows``: its window when it is alone there, else its
    borders.  Returns the size; raises :class:`TmuxorchError` when the layout could not give it."""
    check_size(columns, rows)
    (alone,) = tmux.run("display-message", "-p", "-t", pane_id, "#{window_panes}")
    verb = "resize-window" if alone == "1" else "resize-pane"
    _, (size,) = tmux.chain([
        [verb, "-t", pane_id, "-x", str(columns), "-y", str(rows)],
        ["display-message", "-p", "-t", pane_id, _SIZE],
    ])  # fmt: skip
    width, height = (int(part) for part in size.split(" "))
    if (width, height) != (columns, rows):
        raise TmuxorchError(
            f"{label or pane_id}: the layout of its window gave {width}x{height}, not {columns}x{rows} "
            f"(the other panes need the rest: resize the whole window with Orchestrator.resize)"
        )
    return width, height


def resize_session(tmux: Tmux, settings: Settings, columns: int, rows: int) -> None:
    """Make both windows ``columns`` x ``rows``, in one atomic chain; tmux scales the workers'
    layout in proportion (each keeps its share), and windows created later get the same size."""
    from .layout import session_target, window_target

    check_size(columns, rows)
    size = ["-x", str(columns), "-y", str(rows)]
    workers = window_target(settings, settings.workers_window)
    tmux.chain([
        ["set-option", "-t", session_target(settings) + ":", "default-size", f"{columns}x{rows}"],
        ["resize-window", "-t", window_target(settings, settings.master_window), *size],
        ["resize-window", "-t", workers, *size],
    ])  # fmt: skip
