"""Per-test cost of the ``tmuxorch`` fixture next to libtmux's own ``session`` fixture.

Writes a test file with ``--tests`` trivial tests for each fixture (interleaved, so both see the
same machine load), runs it ``--runs`` times with pytest in a subprocess, and reads each test's
setup + call + teardown time (a conftest records each report's precise duration).  ``tmuxorch`` here means master + 4 worker
panes with every shell ready, and teardown waits until the server process is gone; libtmux's
``session`` creates one session with one window and does not wait for its shell.

    python benchmarks/fixture_overhead.py [--runs 3] [--tests 20]

Both run under a private HOME (no rc files) and TMUX_TMPDIR, so no real tmux server is touched.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

TEST_FILE = '''
import pytest

@pytest.mark.parametrize("n", range({tests}))
@pytest.mark.parametrize("kind", ["tmuxorch", "libtmux"])
def test_fixture(request, kind, n):
    if kind == "tmuxorch":
        orch = request.getfixturevalue("tmuxorch")
        assert len(orch.workers) == 4
    else:
        session = request.getfixturevalue("session")
        assert session.session_id
'''
# Precise durations: pytest's --durations output is rounded to 10 ms.
CONFTEST = '''
import os

def pytest_runtest_logreport(report):
    with open(os.environ["TXO_BENCH_OUT"], "a") as out:
        out.write(f"{report.nodeid} {report.when} {report.duration!r}\\n")
'''
LINE = re.compile(r"^\S+::test_fixture\[(tmuxorch|libtmux)-(\d+)\] (setup|call|teardown) (\S+)$")


def one_run(directory: Path, env: dict[str, str]) -> dict[str, list[float]]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
         "--tmuxorch-workers=4", "test_overhead.py"],
        cwd=directory, env=env, capture_output=True, text=True, timeout=600,
    )
    if done.returncode != 0:
        sys.exit(f"benchmark run failed:\n{done.stdout}\n{done.stderr}")
    per_test: dict[tuple[str, str], float] = defaultdict(float)
    out = Path(env["TXO_BENCH_OUT"])
    for line in out.read_text().splitlines():
        match = LINE.match(line)
        if match:
            kind, number, _, seconds = match.groups()
            per_test[(kind, number)] += float(seconds)
    out.unlink()
    times: dict[str, list[float]] = defaultdict(list)
    for (kind, _), seconds in per_test.items():
        times[kind].append(seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tests", type=int, default=20, help="tests per fixture in each run")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="txo-bench-", dir="/tmp"))
    try:
        (root / "home").mkdir()
        (root / "test_overhead.py").write_text(TEST_FILE.format(tests=args.tests))
        (root / "conftest.py").write_text(CONFTEST)
        env = {**os.environ, "HOME": str(root / "home"), "TMUX_TMPDIR": str(root),
               "TMUXORCH_RUNTIME_DIR": str(root / "rt"), "TXO_BENCH_OUT": str(root / "durations.txt")}
        env.pop("TMUX", None)
        times: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.runs):
            for kind, values in one_run(root, env).items():
                times[kind] += values
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for kind in ("tmuxorch", "libtmux"):
        values = times[kind]
        print(f"{kind:9} n={len(values):3}  mean {statistics.mean(values) * 1e3:6.1f} ms  "
              f"median {statistics.median(values) * 1e3:6.1f} ms  (setup + call + teardown per test)")
    ratio = statistics.median(times["tmuxorch"]) / statistics.median(times["libtmux"])
    print(f"ratio tmuxorch / libtmux session (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
