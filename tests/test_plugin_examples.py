"""The example suites in examples/ pass as a user would run them (a pytest subprocess each)."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SUITES = {"parallel_workers": 3, "task_pipeline": 2, "interactive_cli": 3}


def test_every_example_is_listed_here_and_has_a_readme() -> None:
    found = {path.name for path in EXAMPLES.iterdir() if path.is_dir() and not path.name.startswith((".", "_"))}
    assert found == set(SUITES)
    for name in SUITES:
        readme = (EXAMPLES / name / "README.md").read_text()
        assert f"pytest examples/{name}" in readme


@pytest.mark.parametrize("name", sorted(SUITES))
def test_example_suite_passes(pytester: pytest.Pytester, name: str) -> None:
    result = pytester.runpytest_subprocess(str(EXAMPLES / name), "-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=SUITES[name])
