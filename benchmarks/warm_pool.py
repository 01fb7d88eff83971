"""Would a warm pool pay?  The next test's server provisioned in the background while this one runs.

    python benchmarks/warm_pool.py [--tests 100] [--rounds 9]

A warm pool keeps isolation (every test still gets a fresh private server, never reused): while a
test runs, a thread builds the server the next test will get.  This measures whether that takes
the provisioning off the critical path, on a suite of short tests that each run a command in a
pane, under ``pytest -n 0`` and ``pytest -n 2``, with the package installed as a user gets it.
The pool is a conftest that overrides the ``tmuxorch`` fixture: a prototype that lives here and
not in the package, because it does not pay under ``-n 2`` on two cores (the background build
competes with the other worker for the CPU).  Each row is a whole pytest run, the variants
interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from install import installed

TESTS = '''
import pytest

@pytest.mark.parametrize("n", range({tests}))
def test_short(tmuxorch, n):
    assert tmuxorch.worker(0).run(f"echo {{n}}").output == f"{{n}}\\n"
'''

# The prototype: the server of the next test is built by a thread while this test runs.
POOL = '''
import threading
import pytest
from pytest_tmuxorch.fixtures import Live, new_test_socket_path
from pytest_tmuxorch.orchestrator import Orchestrator
from pytest_tmuxorch.plugin import RUN_SETTINGS

_next = {}

def _build(config, tmp_path):
    settings = config.stash[RUN_SETTINGS].replace(
        socket_path=new_test_socket_path(config), tasks_dir=str(tmp_path / "tasks"), logs_dir=str(tmp_path / "logs"))
    orch = Orchestrator(settings)
    orch.init()
    return orch

def _start(config, tmp_path):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("orch", _build(config, tmp_path)))
    thread.start()
    _next["job"] = (thread, box)

@pytest.fixture
def tmuxorch(request, tmp_path_factory):
    config = request.config
    if "job" not in _next:
        _start(config, tmp_path_factory.mktemp("pool"))
    thread, box = _next.pop("job")
    thread.join()
    orch = box["orch"]
    _start(config, tmp_path_factory.mktemp("pool"))  # the next test's, while this one runs
    live = Live(orch, "tmuxorch")
    request.addfinalizer(live.finish)
    return orch

def pytest_sessionfinish(session):
    job = _next.pop("job", None)
    if job:
        job[0].join()
        Live(job[1]["orch"], "spare").finish()
'''


def one_run(python: Path, work: Path, workers: str, pool: bool) -> float:
    (work / "conftest.py").write_text(POOL if pool else "")
    started = time.perf_counter()
    done = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", workers,
                           "--tmuxorch-workers=2", "test_pool.py"], cwd=work, capture_output=True, text=True)
    spent = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the run failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    python = installed()
    print("| pytest | fixture | median s | ratio |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="tmuxorch-pool-") as work:
        Path(work, "test_pool.py").write_text(TESTS.format(tests=args.tests))
        for workers in ("0", "2"):
            samples: dict[str, list[float]] = {"built on demand (the fixture)": [], "warm pool (prototype)": []}
            for _ in range(args.rounds):
                samples["built on demand (the fixture)"].append(one_run(python, Path(work), workers, False))
                samples["warm pool (prototype)"].append(one_run(python, Path(work), workers, True))
            base = statistics.median(samples["built on demand (the fixture)"])
            for name, values in samples.items():
                median = statistics.median(values)
                print(f"| -n {workers}, {args.tests} tests | {name} | {median:.2f} | {median / base:.2f} |", flush=True)


if __name__ == "__main__":
    main()
