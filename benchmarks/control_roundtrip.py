"""Round trips through the two transports, side by side in the same run.

    python benchmarks/control_roundtrip.py [--rounds N]

One orchestrator session (master + 2 workers, clean bash); worker 0 is driven through the
one-process-per-call transport and worker 1 through the control-mode transport.  Rounds
interleave the transports, so machine noise hits both alike.  Prints median, spread
(interquartile range) and the ratio subprocess / control per operation.
"""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch.panes import Pane
from pytest_tmuxorch.servers import kill_server_at

_counter = itertools.count()


def send_wait_for(pane: Pane) -> None:
    """Type a command, wait for its output line (not the echo of the typed line)."""
    token = f"x{next(_counter)}y"
    pane.send(f"echo {token[0]}''{token[1:]}")
    pane.wait_for(re.compile(f"^{token}$", re.MULTILINE))


def run_echo(pane: Pane) -> None:
    if pane.run("echo hi").output != "hi\n":
        raise RuntimeError("unexpected output")


def summary(samples: list[float]) -> tuple[float, float]:
    quartiles = statistics.quantiles(samples, n=4)
    return statistics.median(samples), quartiles[2] - quartiles[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    socket = str(Path(tempfile.mkdtemp(prefix="txo-ctl-", dir="/tmp")) / "s")
    settings = Settings(socket_path=socket, shell="bash", workers=2, timeout=10)
    plain = Orchestrator(settings)
    control = Orchestrator(settings.replace(transport="control"))
    try:
        plain.init()
        panes = {"subprocess": plain.worker(0), "control": control.worker(1)}
        operations: dict[str, Callable[[Pane], object]] = {
            "capture": lambda pane: pane.capture(),
            "send + wait_for": send_wait_for,
            'run("echo hi")': run_echo,
        }
        samples: dict[tuple[str, str], list[float]] = {(op, name): [] for op in operations for name in panes}
        for action in operations.values():  # warm up (connects the control client)
            for pane in panes.values():
                action(pane)
        for _ in range(rounds):
            for op, action in operations.items():
                for name, pane in panes.items():
                    started = time.perf_counter()
                    action(pane)
                    samples[(op, name)].append(time.perf_counter() - started)
            for pane in panes.values():
                pane.send_keys("C-l")  # keep the screens short
        print(f"{'operation':<18} {'subprocess ms':>16} {'control ms':>16} {'ratio':>7}")
        for op in operations:
            sub_median, sub_iqr = summary(samples[(op, "subprocess")])
            ctl_median, ctl_iqr = summary(samples[(op, "control")])
            print(f"{op:<18} {sub_median * 1e3:8.3f} ±{sub_iqr * 1e3:6.3f} {ctl_median * 1e3:8.3f} ±{ctl_iqr * 1e3:6.3f}"
                  f" {sub_median / ctl_median:6.1f}x")
        print(f"({rounds} rounds, medians ± interquartile range)")
    finally:
        control.close()
        plain.kill()
        plain.close()
        kill_server_at(socket)


if __name__ == "__main__":
    main()
