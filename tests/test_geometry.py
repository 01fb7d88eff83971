"""Window size as a setting, and resizing panes and the whole session while programs run in them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import wait_until

from pytest_tmuxorch import Orchestrator, Screen, Settings
from pytest_tmuxorch.errors import TmuxorchError, UsageError
from pytest_tmuxorch.panes import Pane
from pytest_tmuxorch.settings import from_env


def wait_screen(pane: Pane, ready: Callable[[Screen], bool], what: str) -> Screen:
    found = wait_until(lambda: [screen for screen in [pane.screen()] if ready(screen)], 10, what=what)
    return found[0]


def sizes(orch: Orchestrator) -> dict[str, tuple[int, int]]:
    return {status.pane_id: (status.width, status.height) for status in orch.status()}


def test_size_setting_from_the_environment_flags_and_python() -> None:
    assert Settings().size == (240, 72), "the size of today stays the default"
    assert from_env({"TMUXORCH_SIZE": "120x40"}).size == (120, 40)
    assert from_env({"TMUXORCH_SIZE": "120x40"}, size="80X24").size == (80, 24)
    assert Settings(size=(100, 30)).replace(workers=2).size == (100, 30)
    for env, message in [("120", "invalid TMUXORCH_SIZE '120': expected COLSxROWS, e.g. 120x40"),
                         ("0x40", "invalid TMUXORCH_SIZE '0x40': columns and rows must be from 1 to 10000"),
                         ("120x99999", "columns and rows must be from 1 to 10000")]:
        with pytest.raises(UsageError, match=message):
            from_env({"TMUXORCH_SIZE": env})
    for bad in [(120,), (120, 40.0), "120x40", (True, 4)]:
        with pytest.raises(UsageError, match="invalid size"):
            Settings(size=bad)  # type: ignore[arg-type]


def test_a_session_is_created_at_the_size_asked(settings: Settings) -> None:
    with Orchestrator(settings.replace(size=(100, 30), workers=2, layout="even-horizontal")) as orch:
        statuses = orch.status()
        assert [(s.width, s.height) for s in statuses if s.worker is None] == [(100, 30)]
        workers = [(s.width, s.height) for s in statuses if s.worker is not None]
        assert sum(width for width, _ in workers) + 1 == 100 and {height for _, height in workers} == {30}
        assert orch.master.screen().size == (100, 30)


def test_vim_redraws_when_its_pane_is_resized(orch: Orchestrator, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("".join(f"line {n}\n" for n in range(1, 200)))
    pane = orch.master
    pane.send(f"cd {tmp_path} && vim -u NONE -i NONE -N -n -c 'set laststatus=2' notes.txt")
    pane.wait_command("vim")
    before = wait_screen(pane, lambda s: s.lines[0] == "line 1" and s.lines[-2].startswith("notes.txt"),
                         "vim to draw its status line")
    assert before.size == (240, 72) and before.style(70, 0).reverse

    pane.resize(90, 20)
    after = wait_screen(pane, lambda s: s.size == (90, 20) and s.lines[18].startswith("notes.txt"),
                        "vim to redraw at 90x20")
    assert after.lines[:18] == tuple(f"line {n}" for n in range(1, 19)), "the text fills the new height"
    assert after.style(18, 0).reverse, "the status line moved up with the bottom of the window"

    orch.resize(120, 50)  # the whole session, vim still running
    grown = wait_screen(pane, lambda s: s.size == (120, 50) and s.lines[48].startswith("notes.txt"),
                        "vim to redraw at 120x50")
    assert grown.lines[47] == "line 48" and grown.style(48, 0).reverse
    pane.type(":q", enter=True)
    pane.wait_prompt()


def test_resizing_the_session_keeps_the_workers_shares(orch: Orchestrator) -> None:
    before = sizes(orch)
    orch.resize(100, 30)
    after = sizes(orch)
    master, *workers = (after[status.pane_id] for status in orch.status())
    assert master == (100, 30)
    assert sorted(height for _, height in workers) == [14, 15] and {width for width, _ in workers} == {100}, "tiled: stacked"
    assert len(after) == len(before)
    assert orch.worker(0).screen().size == workers[0], "the screen is read at the new size"


def test_a_worker_pane_is_resized_within_its_window(orch: Orchestrator) -> None:
    top, bottom = orch.workers  # two tiled panes: one above the other, full width
    top.resize(240, 20)
    assert sizes(orch)[top.id] == (240, 20)
    assert sizes(orch)[bottom.id] == (240, 72 - 20 - 1), "the neighbour takes the rest"
    with pytest.raises(TmuxorchError, match=r"worker 0: the layout of its window gave 240x20, not 60x20"):
        top.resize(60, 20)
    assert top.screen().size == (240, 20)


def test_bad_sizes_are_usage_errors(orch: Orchestrator) -> None:
    with pytest.raises(UsageError, match="invalid size 0x5: columns and rows must be from 1 to 10000"):
        orch.worker(0).resize(0, 5)
    with pytest.raises(UsageError, match="invalid size 100x'30'"):
        orch.resize(100, "30")  # type: ignore[arg-type]
    assert orch.master.screen().size == (240, 72), "nothing was changed"


def test_marker_and_option_set_the_size(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest

@pytest.mark.tmuxorch(workers=1, size=(100, 30))
def test_marked(tmuxorch):
    assert tmuxorch.master.screen().size == (100, 30)
    assert tmuxorch.worker(0).screen().size == (100, 30)

@pytest.mark.tmuxorch(workers=1)
def test_option(tmuxorch):
    assert tmuxorch.master.screen().size == (90, 25)

@pytest.mark.tmuxorch(size="wide")
def test_bad(tmuxorch):
    pass
""")
    result = pytester.runpytest("-p", "no:cacheprovider", "--tmuxorch-size=90x25")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*invalid size 'wide' from marker tmuxorch: expected (columns, rows), two whole numbers*"])
    result.stdout.fnmatch_lines(["*size=90x25*"])
    bad = pytester.runpytest("-p", "no:cacheprovider", "--tmuxorch-size=90")
    assert "invalid size '90' from --tmuxorch-size: expected COLSxROWS, e.g. 120x40" in bad.stderr.str()
