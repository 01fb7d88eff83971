"""``tmuxorch capture --svg`` and ``--cast``: screenshots and live recordings from the console script."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from conftest import run_cli

from pytest_tmuxorch import Orchestrator
from pytest_tmuxorch.recording import load_cast

NAMES = ["master-0", "workers-0", "workers-1"]


def test_capture_svg_writes_a_picture_of_each_screen_next_to_its_text(
    cli_env: dict[str, str], orch: Orchestrator, tmp_path: Path
) -> None:
    pane = orch.worker(1)
    pane.send("printf '\\e[38;2;255;0;128mpink\\e[0m \\e[48;5;22mgreen\\e[0m\\n'")
    pane.wait_for("pink green")
    done = run_cli("capture", str(tmp_path / "snaps"), "--svg", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in (tmp_path / "snaps").iterdir()) == sorted(
        [f"{name}.svg" for name in NAMES] + [f"{name}.txt" for name in NAMES])
    assert done.stdout.splitlines() == [str(tmp_path / "snaps" / f"{name}.{kind}") for kind in ("txt", "svg") for name in NAMES]
    picture = (tmp_path / "snaps" / "workers-1.svg").read_text(encoding="utf-8")
    assert ElementTree.fromstring(picture).tag == "{http://www.w3.org/2000/svg}svg"
    assert "fill: #ff0080" in picture and 'fill="#005f00"' in picture
    assert "pink green" in (tmp_path / "snaps" / "workers-1.txt").read_text()


def test_capture_cast_records_live_and_starts_with_the_screen(
    cli_env: dict[str, str], orch: Orchestrator, tmp_path: Path
) -> None:
    pane = orch.worker(0)
    pane.send("echo already-there")
    pane.wait_for("already-there\n")
    pane.send("for n in $(seq 1 30); do echo tick-$n; sleep 0.1; done")
    pane.wait_for("tick-1\n")
    done = run_cli("capture", str(tmp_path / "rec"), "--cast", "--seconds", "1", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "recording 3 panes for 1s (Ctrl-C ends it early)\n"
    assert [line for line in done.stdout.splitlines() if line.endswith(".cast")] == [
        str(tmp_path / "rec" / f"{name}.cast") for name in NAMES]
    cast = load_cast(tmp_path / "rec" / "workers-0.cast")
    status = next(s for s in orch.status() if s.pane_id == pane.id)
    assert (cast.header["width"], cast.header["height"]) == (status.width, status.height)
    first = cast.events[0]
    assert first.time == 0 and first.data.startswith("\x1b[0m\x1b[H\x1b[2J") and "already-there" in first.data
    ticks = re.findall(r"tick-(\d+)\r\n", "".join(event.data for event in cast.events[1:]))
    assert len(ticks) >= 3 and [int(n) for n in ticks] == list(range(int(ticks[0]), int(ticks[0]) + len(ticks)))
    assert 0.5 < cast.events[-1].time <= 1.5
    pane.interrupt()


@pytest.mark.parametrize(("args", "message"), [
    (["--cast"], "capture: --cast records what the panes write from now on: give --seconds S "
                 "(a new process has no past output to save)"),
    (["--seconds", "2"], "capture: --seconds goes with --cast"),
    (["--cast", "--seconds", "0"], "capture: invalid --seconds '0': expected a positive number of seconds"),
])
def test_capture_cast_needs_a_duration(cli_env: dict[str, str], orch: Orchestrator, tmp_path: Path,
                                       args: list[str], message: str) -> None:
    done = run_cli("capture", str(tmp_path / "none"), *args, env=cli_env)
    assert (done.returncode, done.stderr, done.stdout) == (2, f"tmuxorch: {message}\n", "")
    assert not (tmp_path / "none").exists(), "bad usage leaves nothing behind"
