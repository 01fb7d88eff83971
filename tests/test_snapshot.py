"""Golden screen snapshots, as a user's suite sees them (pytester): created with --snapshot-update,
matched, failing with a readable diff on a changed colour or text, pictures kept in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_tmuxorch.screen import Screen
from pytest_tmuxorch.snapshot import ScreenExtension

INNER_TEST = r"""
import re
from pathlib import Path

import pytest

SHOWN = (Path(__file__).parent / "shown.txt").read_text().strip()


@pytest.mark.tmuxorch(workers=1)
def test_menu(tmuxorch, tmuxorch_snapshot):
    pane = tmuxorch.worker(0)
    pane.send(f"clear; printf '{SHOWN}\\n'; echo EN''D")
    pane.wait_for(re.compile(r"^END\n\$ $", re.M))
    assert pane.screen() == tmuxorch_snapshot


def test_amber_snapshots_live_alongside(snapshot):
    assert {"plain": "data"} == snapshot
"""

SNAPSHOTS = Path("__screens__", "test_menu_screen")


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("NO_COLOR", "1")  # syrupy's diff without colour codes, for matching
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # else syrupy leaves cleanup to a controller
    pytester.makepyfile(test_menu_screen=INNER_TEST)  # no conftest: the plugin has the fixture
    show(pytester, r"\e[31mmenu\e[0m item")
    return pytester


def show(pytester: pytest.Pytester, printf_format: str) -> None:
    (pytester.path / "shown.txt").write_text(printf_format + "\n")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *args)


def test_created_then_matched_then_a_changed_colour_fails_readably(suite: pytest.Pytester) -> None:
    run(suite, "--snapshot-update").assert_outcomes(passed=2)
    stored = suite.path / SNAPSHOTS / "test_menu.screen"
    text = stored.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("# tmuxorch screen: ") and lines[1:3] == ["menu item", "END"]
    assert "row 0 col 0-3: fg=red" in lines
    picture = (suite.path / SNAPSHOTS / "test_menu.screen.svg").read_text(encoding="utf-8")
    assert picture.startswith("<svg") and ">menu<" in picture and "fill: #cc555a" in picture  # the theme's red

    result = run(suite)
    result.assert_outcomes(passed=2)
    assert stored.read_text(encoding="utf-8") == text

    show(suite, r"\e[32mmenu\e[0m item")
    result = run(suite)
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "text: the same" in output
    assert "styles changed in 4 cells (snapshot -> received):" in output
    assert "row 0 col 0-3 'menu': fg=red -> fg=green" in output
    assert stored.read_text(encoding="utf-8") == text, "a failure never rewrites the snapshot"
    assert "unused" not in output.lower()


def test_changed_text_shows_the_rows(suite: pytest.Pytester) -> None:
    run(suite, "--snapshot-update").assert_outcomes(passed=2)
    show(suite, r"\e[31mmenu\e[0m items\n\e[1mnew\e[0m line")
    result = run(suite)
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "- row 0: menu item\n" in output and "+ row 0: menu items\n" in output
    assert "+ row 1: new line\n" in output
    assert "row 1 col 0-2 'new': default -> bold" in output


def test_update_rewrites_the_picture_and_deleting_a_test_deletes_both(suite: pytest.Pytester) -> None:
    run(suite, "--snapshot-update").assert_outcomes(passed=2)
    picture = suite.path / SNAPSHOTS / "test_menu.screen.svg"
    show(suite, r"\e[32mmenu\e[0m item")
    run(suite, "--snapshot-update").assert_outcomes(passed=2)
    assert "row 0 col 0-3: fg=green" in (suite.path / SNAPSHOTS / "test_menu.screen").read_text(encoding="utf-8")
    assert "fill: #cc555a" not in picture.read_text(encoding="utf-8")
    assert "fill: #98a84b" in picture.read_text(encoding="utf-8")  # the theme's green

    suite.makepyfile(test_menu_screen=INNER_TEST.replace("def test_menu(", "def test_renamed_menu("))
    result = run(suite, "--snapshot-update")
    result.assert_outcomes(passed=2)
    assert not (suite.path / SNAPSHOTS / "test_menu.screen").exists()
    assert not picture.exists(), "the picture goes with its snapshot"
    assert (suite.path / SNAPSHOTS / "test_renamed_menu.screen.svg").exists()
    assert list((suite.path / "__snapshots__").glob("*.ambr")), "the amber snapshot of the other test is kept"


def test_anything_but_a_screen_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["pytest_tmuxorch.snapshot"]\n')  # the old way still loads
    pytester.makepyfile("def test_text(tmuxorch_snapshot):\n    assert 'text' == tmuxorch_snapshot\n")
    result = run(pytester, "--snapshot-update")
    result.assert_outcomes(failed=1)
    assert "screen snapshots compare Screen objects (from pane.screen()), not str" in result.stdout.str()


def test_without_syrupy_the_fixture_says_what_to_install(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_menu(tmuxorch_snapshot):\n    pass\n")
    result = run(pytester, "-p", "no:syrupy")
    result.assert_outcomes(errors=1)
    assert "tmuxorch_snapshot needs syrupy and its pytest plugin: pip install 'pytest-tmuxorch[snapshot]'\n" in result.stdout.str()


def test_syrupys_own_fixture_takes_the_extension(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makepyfile(test_plain=INNER_TEST.replace("tmuxorch_snapshot", "snapshot").replace(
        "== snapshot", "== snapshot(extension_class=ScreenExtension)").replace(
        "import pytest\n", "import pytest\nfrom pytest_tmuxorch.snapshot import ScreenExtension\n"))
    show(pytester, r"\e[34mblue\e[0m")
    run(pytester, "--snapshot-update", "-k", "menu").assert_outcomes(passed=1)
    assert (pytester.path / "__screens__" / "test_plain" / "test_menu.screen").is_file()
    run(pytester, "-k", "menu").assert_outcomes(passed=1)


def test_comparing_two_screens_explains_the_difference(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
from pytest_tmuxorch import Screen

def test_screens():
    before = Screen.from_ansi("\\x1b[31mmenu\\x1b[0m item", 12, 2)
    after = Screen.from_ansi("\\x1b[32mmenu\\x1b[0m items", 12, 2)
    assert after == before
""")
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E   *assert Screen(12x2, cursor=(0, 0), text='menu items\\n') == Screen(12x2, cursor=(0, 0), text='menu item\\n')",
        "E  * text (- right, + left):",
        "E  * - row 0: menu item",
        "E  * + row 0: menu items",
        "E  * styles changed in 4 cells (right -> left):",
        "E  *   row 0 col 0-3 'menu': fg=red -> fg=green",
    ])


def test_the_stored_text_reads_back_as_the_same_screen() -> None:
    screen = Screen.from_ansi("\x1b[31ma\x1b[1mb\x1b[0mce\nsame", 6, 3)
    assert Screen.from_snapshot_text(str(ScreenExtension().serialize(screen))) == screen
