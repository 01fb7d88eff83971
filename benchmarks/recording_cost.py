"""What recording costs: per-test overhead and ``run()`` round trip, recording on versus off.

    python benchmarks/recording_cost.py [--rounds 3] [--tests 8] [--runs 200]

Per test: a test file of ``--tests`` tests, each taking the ``tmuxorch`` fixture (master + 2
workers, control transport) and doing one ``run("echo hi")``, is run by pytest in a subprocess
with ``--tmuxorch-record=off`` (the baseline), ``failed`` (the default: each pane's recording gets
its first frame when the fixture starts, nothing is written for a pass) and ``always`` (a .cast per
pane written after every test); then the same tests failing, ``off`` (screenshots only) against
``failed`` (screenshots and recordings).  A conftest times each test's whole protocol (setup,
call, report hooks, teardown); the first test of each run is left out (it also pays for the
plugin's start-up).  Modes are interleaved round by round, so machine load hits all.

Round trip: two orchestrators in this process, one started as the fixture does with recording on
(first frames taken, a cast built and written at the end), one with it off; ``run("echo hi")``
alternates between them.  Prints medians, interquartile ranges and ratios against the baseline
measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

TESTS = '''
import pytest

@pytest.mark.tmuxorch(workers=2, transport="control")
@pytest.mark.parametrize("n", range({tests}))
def test_one_run(tmuxorch, n):
    assert tmuxorch.worker(0).run("echo hi").output == "hi\\n"
    assert {fail}, "failing on purpose"
'''
CONFTEST = '''
import os, time
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        with open(os.environ["TXO_BENCH_OUT"], "a") as out:
            out.write(f"{time.perf_counter() - start!r}\\n")
'''


def summary(samples: list[float]) -> tuple[float, float]:
    quartiles = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return statistics.median(samples), quartiles[2] - quartiles[0]


def per_test(root: Path, env: dict[str, str], test_file: str, mode: str) -> list[float]:
    out = root / "durations.txt"
    out.unlink(missing_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:html", "-q",
         f"--tmuxorch-record={mode}", f"--tmuxorch-artifacts={root / 'artifacts' / mode}", test_file],
        cwd=root, env={**env, "TXO_BENCH_OUT": str(out)}, capture_output=True, text=True, timeout=900,
    )
    return [float(line) for line in out.read_text().split()][1:]  # the first test also starts things up


def run_round_trips(root: Path, runs: int) -> dict[str, list[float]]:
    from pytest_tmuxorch import Orchestrator, Settings
    from pytest_tmuxorch.artifacts import start_recordings

    times: dict[str, list[float]] = defaultdict(list)
    orchs = {mode: Orchestrator(Settings(socket_path=str(root / f"rt-{mode}"), workers=2, transport="control"))
             for mode in ("off", "on")}
    try:
        for mode, orch in orchs.items():
            orch.init()
            for _ in range(20 if mode == "on" else 0):  # the last one stays: the recording starts there
                started = time.perf_counter()
                start_recordings(orch.tmux, [status.pane_id for status in orch.status()])
                times["first frames, 3 panes (once per test)"].append(time.perf_counter() - started)
        panes = {mode: orch.worker(0) for mode, orch in orchs.items()}
        for _ in range(runs):
            for mode, pane in panes.items():
                started = time.perf_counter()
                pane.run("echo hi")
                times[mode].append(time.perf_counter() - started)
        for _ in range(10):
            started = time.perf_counter()
            size = panes["on"].recording().dump(root / "on.cast").stat().st_size
            times[f"build + write one pane's .cast after {runs} runs ({size // 1024} KiB)"].append(time.perf_counter() - started)
    finally:
        for orch in orchs.values():
            orch.kill()
            orch.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="pytest runs per mode")
    parser.add_argument("--tests", type=int, default=8, help="tests in each pytest run")
    parser.add_argument("--runs", type=int, default=200, help="run() calls per orchestrator")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="txo-rec-", dir="/tmp"))
    try:
        (root / "home").mkdir()
        (root / "conftest.py").write_text(CONFTEST)
        (root / "test_pass.py").write_text(TESTS.format(tests=args.tests, fail="True"))
        (root / "test_fail.py").write_text(TESTS.format(tests=args.tests, fail="False"))
        env = {**os.environ, "HOME": str(root / "home"), "TMUX_TMPDIR": str(root), "TMUXORCH_RUNTIME_DIR": str(root / "rt")}
        env.pop("TMUX", None)
        os.environ.update(TMUX_TMPDIR=env["TMUX_TMPDIR"], HOME=env["HOME"], TMUXORCH_RUNTIME_DIR=env["TMUXORCH_RUNTIME_DIR"])
        os.environ.pop("TMUX", None)
        cases = [("passing", "test_pass.py", mode) for mode in ("off", "failed", "always")]
        cases += [("failing", "test_fail.py", mode) for mode in ("off", "failed")]
        times: dict[tuple[str, str], list[float]] = defaultdict(list)
        for _ in range(args.rounds):
            for kind, test_file, mode in cases:
                times[(kind, mode)] += per_test(root, env, test_file, mode)
        trips = run_round_trips(root, args.runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"per test (whole protocol; master + 2 workers, control transport; {args.rounds} x {args.tests} tests per mode)")
    for kind, baseline in (("passing", "off"), ("failing", "off")):
        base, _ = summary(times[(kind, baseline)])
        for (case_kind, mode), samples in times.items():
            if case_kind == kind:
                median, spread = summary(samples)
                print(f"  {kind} --tmuxorch-record={mode:7} median {median * 1e3:7.1f} ms  IQR {spread * 1e3:6.1f} ms  "
                      f"ratio {median / base:.3f}  (+{(median - base) * 1e3:.1f} ms)")
    print(f"run('echo hi') round trip ({args.runs} each, alternating)")
    base, _ = summary(trips["off"])
    for name, samples in trips.items():
        median, spread = summary(samples)
        ratio = f"ratio {median / base:.3f}" if name in ("off", "on") else "once"
        print(f"  {name:50} median {median * 1e3:7.2f} ms  IQR {spread * 1e3:6.2f} ms  {ratio}")


if __name__ == "__main__":
    main()
