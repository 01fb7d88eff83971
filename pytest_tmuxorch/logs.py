"""Pane logging with ``pipe-pane`` into timestamped files, and whole-scrollback snapshots.

``pipe-pane -o`` is a toggle: we never use it: ``logs_on`` starts a pipe only where
``#{pane_pipe}`` says there is none, ``logs_off`` closes pipes only where there is one, so both
are idempotent.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from .layout import PaneStatus
from .tmux import Tmux
from .transport import Command

TSLOG_SCRIPT = Path(__file__).with_name("tslog.py")


def pane_file_name(status: PaneStatus, position: int, suffix: str) -> str:
    """``master-0.log``, ``workers-2.txt``: window name, then the 0-based position in it."""
    return f"{status.window}-{position}{suffix}"


def named_panes(statuses: list[PaneStatus], suffix: str) -> list[tuple[PaneStatus, str]]:
    """Pair each pane with its file name (positions counted per window)."""
    seen: dict[str, int] = {}
    named = []
    for status in statuses:
        position = seen.get(status.window, 0)
        seen[status.window] = position + 1
        named.append((status, pane_file_name(status, position, suffix)))
    return named


def piped_panes(tmux: Tmux, pane_ids: list[str]) -> set[str]:
    lines = tmux.run("list-panes", "-a", "-F", "#{pane_id} #{pane_pipe}")
    return {pane for pane, piped in (line.split(" ") for line in lines) if piped == "1" and pane in pane_ids}


def logs_on(tmux: Tmux, statuses: list[PaneStatus], directory: Path) -> list[Path]:
    """Start logging every pane not yet logged; return every pane's log file."""
    directory.mkdir(parents=True, exist_ok=True)
    already = piped_panes(tmux, [status.pane_id for status in statuses])
    commands: list[Command] = []
    paths = []
    for status, name in named_panes(statuses, ".log"):
        path = (directory / name).resolve()
        paths.append(path)
        if status.pane_id not in already:
            filter_command = shlex.join([sys.executable, "-u", str(TSLOG_SCRIPT), str(path)])
            commands.append(["pipe-pane", "-t", status.pane_id, f"exec {filter_command}"])
    tmux.chain(commands)
    return paths


def logs_off(tmux: Tmux, statuses: list[PaneStatus]) -> int:
    """Stop logging wherever it runs; return how many pipes were closed."""
    piped = piped_panes(tmux, [status.pane_id for status in statuses])
    tmux.chain([["pipe-pane", "-t", pane] for pane in sorted(piped)])
    return len(piped)


def capture(tmux: Tmux, statuses: list[PaneStatus], directory: Path) -> list[Path]:
    """Write each pane's whole scrollback to ``directory/<window>-<n>.txt``, in one tmux call."""
    directory.mkdir(parents=True, exist_ok=True)
    named = named_panes(statuses, ".txt")
    outputs = tmux.chain(
        [["capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", status.pane_id] for status, _ in named]
    )
    paths = []
    for (_, name), lines in zip(named, outputs, strict=True):
        while lines and not lines[-1].strip():
            lines.pop()
        path = directory / name
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        paths.append(path)
    return paths
