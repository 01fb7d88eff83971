"""The benchmark kit: a row of contenders measured interleaved, and what every row needs.

Rounds interleave the contenders of a row, so machine noise hits them alike; each result is the
median with its interquartile range (IQR), and the ratio to the row's first contender.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pytest_tmuxorch import Settings  # noqa: E402
from pytest_tmuxorch.servers import new_socket_path  # noqa: E402

SHELL = "sh"  # the same clean shell for every contender
SHELL_COMMAND = Settings(shell=SHELL).shell_command
TRANSPORTS = ("subprocess", "control")

Case = Callable[[], float]


class Row:
    """One table row: a named measurement and its contenders (the first is the baseline)."""

    def __init__(self, title: str, cases: dict[str, Case], note: str = "") -> None:
        self.title, self.cases, self.note = title, cases, note
        self.samples: dict[str, list[float]] = {name: [] for name in cases}

    def measure(self, rounds: int) -> None:
        for _ in range(rounds):
            for name, case in self.cases.items():
                self.samples[name].append(case())

    def lines(self) -> list[str]:
        base = statistics.median(next(iter(self.samples.values())))
        out = []
        for name, values in self.samples.items():
            median = statistics.median(values)
            quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [median] * 3
            out.append(f"| {self.title} | {name} | {ms(median)} | {ms(quartiles[2] - quartiles[0])} "
                       f"| {len(values)} | {median / base:.2f} |")
        return out


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}" if seconds < 0.1 else f"{seconds * 1e3:.0f}"


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def cpu_timed(function: Callable[[], object]) -> float:
    """The CPU time this process (every thread of it) spent in ``function``."""
    started = time.process_time()
    function()
    return time.process_time() - started


def settings(workers: int = 4, transport: str = "subprocess") -> Settings:
    return Settings(socket_path=new_socket_path(), shell=SHELL, workers=workers, transport=transport)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    return (f"{datetime.date.today()}, {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, {tmux}, load average at the start {load}")
