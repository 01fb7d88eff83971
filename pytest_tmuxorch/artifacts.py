"""Evidence of what the panes showed: each pane's screen, its SVG screenshot and its asciicast
recording, written as files named after the test and the pane.  Plain functions (no pytest): the
plugin's report hook and the console script call them.

A recording needs the control transport (its client keeps every pane's output as it comes); with
the subprocess transport a fresh process has seen nothing, so no ``.cast`` is written.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import UsageError
from .recording import pane_recording

if TYPE_CHECKING:
    from .layout import PaneStatus
    from .orchestrator import Orchestrator
    from .screen import Screen
    from .tmux import Tmux

class PaneEvidence(NamedTuple):
    """One pane as a report shows it: its name (``master``, ``worker 0``), status and screen
    (None, with ``problem`` saying why, when it could not be read), and the files written."""

    name: str
    status: PaneStatus
    screen: Screen | None
    problem: str = ""
    svg: Path | None = None
    cast: Path | None = None
    cast_problem: str = ""


def pane_name(orch: Orchestrator, status: PaneStatus) -> str:
    """``master``, ``worker 0`` (0-based), or ``<window> pane <index>`` for other panes."""
    name = status.window if status.worker is None else f"worker {status.worker}"
    if status.worker is None and status.pane_index != orch.settings.pane_base_index:
        name += f" pane {status.pane_index}"
    return name


def collect(orch: Orchestrator) -> list[PaneEvidence]:
    """Every pane's status and screen, now (raises what ``status`` raises)."""
    from .screen import capture_screen

    evidence = []
    for status in orch.status():
        try:
            evidence.append(PaneEvidence(pane_name(orch, status), status, capture_screen(orch.tmux, status.pane_id)))
        except Exception as err:  # a pane that vanished: the others are still evidence
            evidence.append(PaneEvidence(pane_name(orch, status), status, None, f"could not capture the pane: {err}"))
    return evidence


def start_recordings(tmux: Tmux, pane_ids: list[str]) -> None:
    """Give each pane's recording a first frame: its screen now, drawn, so that a replay shows
    what was there before the first byte it holds.  One tmux call; nothing without a stream."""
    import time

    from .recording import screen_frame

    streams = [tmux.transport.stream(pane_id) for pane_id in pane_ids]
    if not pane_ids or any(stream is None for stream in streams):
        return
    commands: list[list[str]] = []
    for pane_id in pane_ids:
        commands += [["display-message", "-p", "-t", pane_id, "#{cursor_x} #{cursor_y} #{cursor_flag}"],
                     ["capture-pane", "-p", "-e", "-N", "-t", pane_id]]
    outputs = tmux.chain(commands)
    now = time.monotonic()
    for number, (pane_id, stream) in enumerate(zip(pane_ids, streams, strict=True)):
        x, y, visible = (int(part) for part in outputs[2 * number][0].split(" "))
        anchor = tmux.transport.anchor(pane_id)
        if stream is not None and anchor is not None:
            stream.set_frame(anchor, now, screen_frame(outputs[2 * number + 1], (x, y), visible == 1))


def write(
    orch: Orchestrator, evidence: list[PaneEvidence], directory: Path, prefix: str, *,
    svg: bool = True, cast: bool = True, markers: list[tuple[float, str]] | None = None,
) -> list[PaneEvidence]:
    """Write ``<directory>/<prefix>-<pane>.svg`` and ``.cast`` for each pane; return the evidence
    with the paths (a file that could not be written is left out and its problem told)."""
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    for item in evidence:
        stem = directory / file_stem(f"{prefix}-{item.name}")
        title = f"{prefix}: {item.name} ({item.status.pane_id})"
        svg_path = cast_path = None
        cast_problem = ""
        if svg and item.screen is not None:
            svg_path = stem.with_name(stem.name + ".svg")
            svg_path.write_text(item.screen.to_svg(title=title), encoding="utf-8")
        if cast:
            try:
                recording = pane_recording(orch.tmux, item.status.pane_id, title, markers)
                cast_path = recording.dump(stem.with_name(stem.name + ".cast"))
            except UsageError as err:
                cast_problem = str(err)
        done.append(item._replace(svg=svg_path, cast=cast_path, cast_problem=cast_problem))
    return done


def capture_svgs(orch: Orchestrator, directory: Path) -> list[Path]:
    """Each pane's visible screen as ``directory/<window>-<n>.svg`` (the names of ``capture``)."""
    from .logs import named_panes
    from .screen import capture_screen

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for status, name in named_panes(orch.status(), ".svg"):
        path = directory / name
        title = f"{orch.settings.session}: {name.removesuffix('.svg')} ({status.pane_id})"
        path.write_text(capture_screen(orch.tmux, status.pane_id).to_svg(title=title), encoding="utf-8")
        paths.append(path)
    return paths


def record_live(orch: Orchestrator, directory: Path, seconds: float) -> list[Path]:
    """Record every pane for ``seconds`` with a control client of its own (whatever transport
    ``orch`` uses), then write ``directory/<window>-<n>.cast``: each starts with the screen as it
    was.  Ctrl-C ends the recording early; the files are still written."""
    import time

    from .logs import named_panes
    from .orchestrator import Orchestrator

    listener = Orchestrator(orch.settings.replace(transport="control"))
    try:
        named = named_panes(listener.status(), ".cast")  # connects, and tells the streams each size
        start_recordings(listener.tmux, [status.pane_id for status, _ in named])
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(seconds)
        directory.mkdir(parents=True, exist_ok=True)
        title = listener.settings.session
        return [pane_recording(listener.tmux, status.pane_id, f"{title}: {name.removesuffix('.cast')}")
                .dump(directory / name) for status, name in named]
    finally:
        listener.close()


def file_stem(text: str, limit: int = 120) -> str:
    """``text`` as a file name: ``tests/test_a.py::test_b[x y]`` -> ``tests-test_a.py-test_b[x-y]``;
    long names keep their start and a digest of the whole."""
    stem = re.sub(r"\s+|::|/", "-", text)
    stem = re.sub(r"[^\w.\[\]=+-]+", "_", stem).strip("._-") or "pane"
    if len(stem) > limit:
        import hashlib

        stem = f"{stem[: limit - 13]}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    return stem
