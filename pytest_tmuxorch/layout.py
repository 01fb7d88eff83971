"""The master + workers layout: create it in one atomic tmux call, find its panes, map indexes.

Worker indexes are 0-based positions in the workers window, whatever ``pane-base-index`` is;
panes are then addressed by ``%id``.
"""

from __future__ import annotations

import os
import time

from ._record import record
from .errors import ServerNotFoundError, SessionNotFoundError, UsageError
from .settings import LAYOUTS, MAX_WORKERS, Settings
from .tmux import Tmux

TYPE_CHECKING = False  # typing costs the console script's start-up (see settings.py)
if TYPE_CHECKING:
    from typing import Any, NamedTuple

    from .transport import Command

_FIELDS = (
    "window_name", "window_index", "pane_index", "pane_id", "pane_pid",
    "pane_current_command", "pane_dead", "pane_dead_status", "pane_width", "pane_height",
)
_FORMAT = "\t".join(f"#{{{name}}}" for name in _FIELDS)


if TYPE_CHECKING:
    class _Status(NamedTuple):
        window: str
        window_index: int
        pane_index: int
        pane_id: str
        pid: int
        command: str
        dead: bool
        exit_status: int | None
        width: int
        height: int
        worker: int | None  # 0-based worker index, None for the master window
else:
    _Status = record("_Status", "window window_index pane_index pane_id pid command dead exit_status width "
                                    "height worker")


class PaneStatus(_Status):
    """One row of ``status``: where a pane is, what runs in it, whether it is dead."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


def session_target(settings: Settings) -> str:
    """An exact session target (a plain name would match any session it is a prefix of)."""
    return f"={settings.session}"


def window_target(settings: Settings, window: str) -> str:
    return f"={settings.session}:={window}"


def server_options(settings: Settings) -> list[Command]:
    """Options that must be in force before any window exists (history-limit only applies to
    windows created after it is set)."""
    options: list[Command] = [
        ["set-option", "-g", "base-index", str(settings.base_index)],
        ["set-option", "-g", "pane-base-index", str(settings.pane_base_index)],
        ["set-option", "-g", "history-limit", str(settings.history_limit)],
        ["set-option", "-g", "remain-on-exit", settings.remain_on_exit],
        ["set-option", "-g", "allow-rename", settings.allow_rename],
    ]
    if settings.shell_command:
        # tmux runs default-command through "$default-shell -c": with bash there, $BASH_ENV would
        # be read before our clean shell even starts.  POSIX sh -c reads no startup file.
        options.append(["set-option", "-g", "default-shell", "/bin/sh"])
        options.append(["set-option", "-g", "default-command", settings.shell_command])
    return options


def create_commands(settings: Settings, workers: int) -> list[Command]:
    """One chain that starts the server if needed and builds master + ``workers`` panes."""
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"invalid number of workers {workers!r}: must be a whole number from 1 to {MAX_WORKERS}")
    workers_window = window_target(settings, settings.workers_window)
    commands: list[Command] = [["start-server"], *server_options(settings)]
    commands += [
        ["new-session", "-d", "-s", settings.session, "-n", settings.master_window,
         "-x", str(settings.size[0]), "-y", str(settings.size[1])],
        ["new-window", "-d", "-t", session_target(settings) + ":", "-n", settings.workers_window],
    ]
    for _ in range(workers - 1):
        commands += [
            ["split-window", "-d", "-t", workers_window],
            ["select-layout", "-t", workers_window, "tiled"],
        ]
    commands.append(["select-layout", "-t", workers_window, settings.layout])
    return commands


def session_exists(tmux: Tmux, settings: Settings) -> bool:
    if not os.path.exists(tmux.socket_file):
        return False
    try:
        tmux.run("has-session", "-t", session_target(settings))
    except (ServerNotFoundError, SessionNotFoundError):
        return False
    return True


def pane_statuses(tmux: Tmux, settings: Settings) -> list[PaneStatus]:
    """Every pane of the session: master window first, workers in pane order."""
    rows = _pane_rows(tmux, settings)
    if any(row[6] == "1" and not row[7] for row in rows):
        # tmux 3.3a sometimes misses a pane's SIGCHLD and leaves it a zombie with no exit status;
        # any other child exiting makes the server reap every zombie.
        tmux.run("run-shell", "true")
        rows = _pane_rows(tmux, settings)
    rows.sort(key=lambda row: (int(row[1]), int(row[2])))
    worker_number = 0
    statuses = []
    for row in rows:
        is_worker = row[0] == settings.workers_window
        statuses.append(
            PaneStatus(
                window=row[0], window_index=int(row[1]), pane_index=int(row[2]), pane_id=row[3],
                pid=int(row[4] or 0), command=row[5], dead=row[6] == "1",
                exit_status=int(row[7]) if row[6] == "1" and row[7] else None,
                width=int(row[8]), height=int(row[9]), worker=worker_number if is_worker else None,
            )
        )
        worker_number += is_worker
    _note_sizes(tmux, statuses)
    return statuses


def _note_sizes(tmux: Tmux, statuses: list[PaneStatus]) -> None:
    """Tell each pane's output stream (control transport only) the size seen: a recording's
    first size, whatever resizes the control client's notifications tell later."""
    now = time.monotonic()
    for status in statuses:
        stream = tmux.transport.stream(status.pane_id)
        if stream is not None:
            stream.resized(status.width, status.height, now)


def _pane_rows(tmux: Tmux, settings: Settings) -> list[list[str]]:
    return [line.split("\t") for line in tmux.run("list-panes", "-s", "-t", session_target(settings), "-F", _FORMAT)]


def select_layout(tmux: Tmux, settings: Settings, layout: str) -> None:
    if layout not in LAYOUTS:
        raise UsageError(f"invalid layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    tmux.run("select-layout", "-t", window_target(settings, settings.workers_window), layout)
