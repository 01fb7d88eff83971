"""A failed test's evidence, as a user's suite sees it (pytester): each pane's SVG screenshot and
asciicast recording written and listed in the report, pytest-html embedding the screenshots, the
options that choose when and where, and a report that shows each screen once, without padding."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from pytest_tmuxorch.recording import load_cast

FAILING = r"""
import re
import pytest

@pytest.mark.tmuxorch(workers=2)
def test_fails(tmuxorch):
    tmuxorch.worker(0).send("printf '\\e[1;31mred-alert\\e[0m padded   \\n'")
    tmuxorch.worker(0).wait_for("padded")
    tmuxorch.worker(1).send("echo only-on-worker-one")
    tmuxorch.worker(1).wait_for("only-on-worker-one\n")
    tmuxorch.worker(1).wait_for("never-shown", timeout=0.3)
"""

PASSING = """
def test_passes(tmuxorch):
    tmuxorch.worker(0).run("echo all-good")
"""

SVG = "{http://www.w3.org/2000/svg}svg"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_a_failed_tests_screenshots_and_recordings_are_written_and_listed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=FAILING)
    result = run(pytester, "--tmuxorch-artifacts=evidence")
    result.assert_outcomes(failed=1)
    folder = pytester.path / "evidence" / "test_suite.py-test_fails"
    assert files(folder) == [f"tmuxorch-{pane}.{kind}" for pane in ("master", "worker-0", "worker-1") for kind in ("cast", "svg")]
    out = result.stdout.str()
    for path in sorted(folder.iterdir()):
        kind = "screenshot" if path.suffix == ".svg" else "recording"
        assert f"{kind}: {path}\n" in out, "each file is listed in its pane's section"
    assert f"tmuxorch: screenshots and recordings of 1 test(s) in {folder.parent}" in out

    picture = (folder / "tmuxorch-worker-0.svg").read_text(encoding="utf-8")
    assert ElementTree.fromstring(picture).tag == SVG
    assert "red-alert" in picture.replace("&#160;", " ") and "font-weight: bold" in picture
    cast = load_cast(folder / "tmuxorch-worker-0.cast")
    assert (cast.header["version"], cast.header["width"], cast.header["title"]) == (2, 240, "tmuxorch: worker 0 (%1)")
    assert cast.header["height"] in (35, 36), "two workers, one above the other, in 240x72"
    assert "\x1b[1m\x1b[31mred-alert" in cast.output or "\x1b[1;31mred-alert" in cast.output
    assert cast.events[0].data.startswith("\x1b[0m\x1b[H\x1b[2J$ "), "it starts with the screen the test began with"
    assert cast.events[-1].code == "m" and cast.events[-1].data == "test_suite.py::test_fails failed"


def test_the_report_shows_each_screen_once_without_padding(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=FAILING)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    failure = out.partition("short test summary info")[0]  # on CI pytest repeats the whole error there
    assert failure.count("$ echo only-on-worker-one\n") == 1, "in the error, not again in worker 1's section"
    result.stdout.fnmatch_lines([
        "E   *WaitTimeoutError: worker 1: 'never-shown' did not appear within 0.3s",
        "*- tmuxorch: worker 0 (%*, bash) -*",
        "*red-alert padded",
        "*- tmuxorch: worker 1 (%*, bash) -*",
        "[[]the screen is shown in the error above[]]",
        "screenshot: *tmuxorch-artifacts*test_suite.py-test_fails*tmuxorch-worker-1.svg",
    ])
    sections = re.findall(r"\n-+ tmuxorch: [^\n]* -+\n(.*?)(?=\n[-=]+ )", out, re.S)
    assert len(sections) == 3 and "red-alert padded\n" in sections[1]
    assert not [line for section in sections for line in section.split("\n") if line != line.rstrip()], "no padding"


def test_default_folder_is_under_basetemp_and_printed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=FAILING)
    result = run(pytester, f"--basetemp={pytester.path / 'bt'}")
    result.assert_outcomes(failed=1)
    folder = pytester.path / "bt" / "tmuxorch-artifacts"
    assert (folder / "test_suite.py-test_fails" / "tmuxorch-worker-1.svg").is_file()
    assert f"tmuxorch: screenshots and recordings of 1 test(s) in {folder}" in result.stdout.str()


def test_record_always_off_and_ini_keys(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=FAILING, test_good=PASSING)
    run(pytester, "--tmuxorch-record=always", "--tmuxorch-artifacts=all").assert_outcomes(passed=1, failed=1)
    assert files(pytester.path / "all" / "test_good.py-test_passes") == ["tmuxorch-master.cast", "tmuxorch-worker-0.cast",
                                                                         "tmuxorch-worker-1.cast", "tmuxorch-worker-2.cast",
                                                                         "tmuxorch-worker-3.cast"], "no screenshots of a pass"
    good = load_cast(pytester.path / "all" / "test_good.py-test_passes" / "tmuxorch-worker-0.cast")
    ended = [number for number, event in enumerate(good.events) if event.code == "m"]
    assert [good.events[number].data for number in ended] == ["test_good.py::test_passes passed"]
    shown = "".join(event.data for event in good.events[:ended[0]] if event.code == "o")
    # The typed line and its output come before the marker; the prompt bash draws after the
    # command may come after it: the test can end while bash still draws it.
    assert shown.count("all-good\r\n") == 2, shown

    result = run(pytester, "--tmuxorch-record=off", "--tmuxorch-artifacts=none")
    result.assert_outcomes(passed=1, failed=1)
    assert [name for name in files(pytester.path / "none" / "test_suite.py-test_fails")] == [
        "tmuxorch-master.svg", "tmuxorch-worker-0.svg", "tmuxorch-worker-1.svg"]
    assert not (pytester.path / "none" / "test_good.py-test_passes").exists()
    assert "recording:" not in result.stdout.str()

    pytester.makeini("[pytest]\ntmuxorch_record = always\ntmuxorch_artifacts = from-ini\n")
    run(pytester, "-k", "passes", f"--rootdir={pytester.path}").assert_outcomes(passed=1)
    assert (pytester.path / "from-ini" / "test_good.py-test_passes" / "tmuxorch-master.cast").is_file()


@pytest.mark.parametrize(("args", "ini", "message"), [
    (["--tmuxorch-record=sometimes"], "", "invalid --tmuxorch-record 'sometimes': choose one of failed, always, off"),
    ([], "tmuxorch_record = never", "invalid record 'never' from ini key tmuxorch_record: choose one of failed, always, off"),
    (["--tmuxorch-artifacts="], "", "invalid --tmuxorch-artifacts '': expected a directory"),
])
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], ini: str, message: str) -> None:
    pytester.makepyfile("def test_x(): pass")
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_without_the_control_transport_the_screenshots_are_still_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=FAILING)
    result = run(pytester, "--tmuxorch-transport=subprocess", "--tmuxorch-artifacts=ev")
    result.assert_outcomes(failed=1)
    assert files(pytester.path / "ev" / "test_suite.py-test_fails") == [
        "tmuxorch-master.svg", "tmuxorch-worker-0.svg", "tmuxorch-worker-1.svg"]
    result.stdout.fnmatch_lines(["screenshot: *tmuxorch-worker-0.svg",
                                 "no recording: the subprocess transport keeps no output (use transport='control')"])


def test_pytest_html_embeds_the_screenshots(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=FAILING)
    result = run(pytester, "--html=report.html", "--self-contained-html", "--tmuxorch-artifacts=ev")
    result.assert_outcomes(failed=1)
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    embedded = re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", page)
    assert len(embedded) == 3, "one picture per pane"
    pictures = [base64.b64decode(data).decode("utf-8") for data in embedded]
    assert pictures[1] == (pytester.path / "ev" / "test_suite.py-test_fails" / "tmuxorch-worker-0.svg").read_text(encoding="utf-8")
    assert all(ElementTree.fromstring(picture).tag == SVG for picture in pictures)
    assert "tmuxorch: worker 1" in page


def test_the_readme_picture_is_made_by_the_example_script(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(repo / "examples" / "failure_screenshot.py"), str(tmp_path / "shot.svg")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    made, committed = (path.read_text(encoding="utf-8") for path in (tmp_path / "shot.svg", repo / "docs" / "failure.svg"))
    assert ElementTree.fromstring(made).tag == SVG
    assert "lexer.c:42:" in made.replace("&#160;", " ") and "tmuxorch: worker 0 (%1)" in made.replace("&#160;", " ")
    assert len(made.splitlines()) == len(committed.splitlines()), "run examples/failure_screenshot.py to update docs/failure.svg"
