"""Soak: the seams where control passes between a shell and a program, thousands of times.

    python benchmarks/soak.py                      # 10,000 cycles per transport, ~10 minutes
    python benchmarks/soak.py --cycles 1000 --baseline-cycles 100

Each cycle is what a user's test does, with no waits of its own: interrupt a program then run a
command; exit a Python REPL then run a command; quit ``less`` then run a command; three
back-to-back runs.  The cycles run as a pytest suite under ``pytest -n 2`` on one pane per xdist
worker (a failed cycle respawns its pane, so failures do not cascade), with the package installed
as a user gets it (``pip install .``, non-editable).  The same cycles also run, fewer of them, on
the previous release, and ``run("echo hi")`` is timed on both, interleaved, in the same run.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from install import installed, previous_release

TRANSPORTS = ("control", "subprocess")
PATTERNS = ("interrupt-then-run", "repl-exit-then-run", "full-screen-quit-then-run", "back-to-back-runs")

CYCLES = '''
import os, sys, pytest

PATTERNS = {patterns!r}
PYTHON = sys.executable


def interrupt_then_run(pane):
    pane.send("sleep 100")
    pane.send_keys("C-c")
    assert pane.run("echo x").output == "x\\n"
    pane.send("cat")
    pane.send("-5")
    pane.wait_for("-5")
    pane.send_keys("C-c")
    assert pane.run("echo back").output == "back\\n"


def repl_exit_then_run(pane):
    pane.send(PYTHON + " -q")
    pane.wait_for(">>> ")
    pane.send("exit()")
    assert pane.run("echo after").output == "after\\n"


def full_screen_quit_then_run(pane):
    pane.send("printf 'line-%s\\\\n' 1 2 3 | less")
    pane.wait_for("(END)")
    pane.send_keys("q")
    assert pane.run("echo out").output == "out\\n"


def back_to_back_runs(pane):
    for number in range(3):
        assert pane.run(f"echo {{number}}").output == f"{{number}}\\n"


@pytest.mark.parametrize("index", range(int(os.environ["SOAK_CYCLES"])))
def test_cycle(index, tmuxorch_session):
    pattern = PATTERNS[index % len(PATTERNS)]
    pane = tmuxorch_session.worker(0)
    try:
        globals()[pattern.replace("-", "_")](pane)
    except BaseException:
        tmuxorch_session.tmux.run("respawn-pane", "-k", "-t", pane.id)  # a fresh shell for the next cycle
        tmuxorch_session.wait_ready()
        raise
'''

ROUND_TRIP = '''
import statistics, sys, time
from pytest_tmuxorch import Orchestrator, Settings
try:
    from pytest_tmuxorch.servers import new_socket_path
except ImportError:
    from pytest_tmuxorch.sockets import new_socket_path
orch = Orchestrator(Settings(socket_path=new_socket_path(), workers=1, shell="bash", transport=sys.argv[1]))
orch.init()
pane = orch.worker(0)
for _ in range(10):
    pane.run("echo hi")
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    assert pane.run("echo hi").output == "hi\\n"
    times.append(time.perf_counter() - started)
orch.kill()
print(statistics.median(times))
'''


def soak(python: Path, transport: str, cycles: int, timeout: float) -> dict[str, int]:
    """Run ``cycles`` cycles under ``pytest -n 2``; return the failures per pattern."""
    with tempfile.TemporaryDirectory(prefix="tmuxorch-soak-") as work:
        Path(work, "test_soak.py").write_text(textwrap.dedent(CYCLES.format(patterns=PATTERNS)))
        Path(work, "pytest.ini").write_text("[pytest]\n")
        done = subprocess.run(
            [str(python), "-m", "pytest", "-n", "2", "-q", "--tb=no", "-rf", "-p", "no:cacheprovider",
             "-p", "no:randomly", f"--tmuxorch-transport={transport}", f"--tmuxorch-timeout={timeout}",
             "--tmuxorch-workers=1", "test_soak.py"],
            cwd=work, capture_output=True, text=True, env={**_environ(), "SOAK_CYCLES": str(cycles)},
        )
    failed = [int(index) for index in re.findall(r"^FAILED test_soak.py::test_cycle\[(\d+)\]", done.stdout, re.M)]
    passed = re.search(r"(\d+) passed", done.stdout)
    if len(failed) + (int(passed.group(1)) if passed else 0) != cycles:
        raise SystemExit(f"the soak run did not run every cycle:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return {pattern: sum(1 for index in failed if PATTERNS[index % len(PATTERNS)] == pattern) for pattern in PATTERNS}


def round_trip(python: Path, transport: str, runs: int) -> float:
    done = subprocess.run([str(python), "-c", ROUND_TRIP, transport, str(runs)], capture_output=True, text=True,
                          check=True, env=_environ())
    return float(done.stdout.split()[-1])


def _environ() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.startswith(("TMUX", "WORKER"))}


def measure(cycles: int, baseline_cycles: int, rounds: int = 5, runs: int = 100) -> list[str]:
    """The table rows (markdown) for this benchmark."""
    current, previous = installed(), installed(previous_release(), name="previous")
    lines = []
    for transport in TRANSPORTS:
        for name, python, count, timeout in (("this release", current, cycles, 10.0),
                                              ("previous release", previous, baseline_cycles, 3.0)):
            if not count:
                continue
            failures = soak(python, transport, count, timeout)
            total = sum(failures.values())
            detail = ", ".join(f"{pattern} {failed}" for pattern, failed in failures.items() if failed) or "none"
            lines.append(f"| soak, {transport} | {name} | {count} cycles | {total} failed "
                         f"({total * 10000 / count:.0f} per 10,000) | {detail} |")
    for transport in TRANSPORTS:
        samples: dict[str, list[float]] = {"previous release": [], "this release": []}
        for _ in range(rounds):  # interleaved, so machine noise hits both alike
            samples["previous release"].append(round_trip(previous, transport, runs))
            samples["this release"].append(round_trip(current, transport, runs))
        base = statistics.median(samples["previous release"])
        for name, values in samples.items():
            median = statistics.median(values)
            lines.append(f"| run(\"echo hi\") round trip, {transport} | {name} | {median * 1e3:.2f} ms "
                         f"| {median / base:.2f}x | median of {rounds} x {runs} runs |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=10_000, help="cycles per transport on this release")
    parser.add_argument("--baseline-cycles", type=int, default=200, help="cycles per transport on the previous one")
    args = parser.parse_args()
    print("| measurement | package | size | result | detail |\n|---|---|---|---|---|")
    for line in measure(args.cycles, args.baseline_cycles):
        print(line, flush=True)


if __name__ == "__main__":
    main()
