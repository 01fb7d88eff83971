"""Wall time of console-script calls next to ``python -c pass``, measured in the same run.

    python benchmarks/cli_latency.py [--rounds N]

Prints median and spread (interquartile range) per command and the ratio to the baseline.
Rounds interleave the commands, so machine noise hits all of them alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def summary(samples: list[float]) -> tuple[float, float]:
    quartiles = statistics.quantiles(samples, n=4)
    return statistics.median(samples), quartiles[2] - quartiles[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    workdir = Path(tempfile.mkdtemp(prefix="txo-bench-", dir="/tmp"))
    env = dict(os.environ, TMUXORCH_SOCKET_PATH=str(workdir / "s"), TMUXORCH_SHELL="sh",
               TMUXORCH_TASKS_DIR=str(workdir / "tasks"))
    tmuxorch = [sys.executable, "-m", "pytest_tmuxorch"]
    kill = [*tmuxorch, "kill"]
    cases: dict[str, Callable[[], float]] = {
        "python -c pass": lambda: timed([sys.executable, "-c", "pass"], env),
        "tmux list-panes": lambda: timed(["tmux", "-S", env["TMUXORCH_SOCKET_PATH"], "list-panes", "-a"], env),
        "tmuxorch status": lambda: timed([*tmuxorch, "status"], env),
        "tmuxorch init 4 (+kill)": lambda: init_then_kill(),
    }

    def init_then_kill() -> float:
        subprocess.run(kill, env=env, capture_output=True, check=True)
        spent = timed([*tmuxorch, "init", "4"], env)
        return spent

    samples: dict[str, list[float]] = {name: [] for name in cases}
    try:
        subprocess.run([*tmuxorch, "init", "4"], env=env, capture_output=True, check=True)
        for _ in range(rounds):
            for name, case in cases.items():
                samples[name].append(case())
    finally:
        subprocess.run(kill, env=env, capture_output=True)
    base, _ = summary(samples["python -c pass"])
    print(f"{'command':28} {'median ms':>10} {'IQR ms':>8} {'x python -c pass':>17}")
    for name, values in samples.items():
        median, spread = summary(values)
        print(f"{name:28} {median * 1e3:10.1f} {spread * 1e3:8.1f} {median / base:17.2f}")


if __name__ == "__main__":
    main()
