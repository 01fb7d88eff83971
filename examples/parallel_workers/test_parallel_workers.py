"""Parallel workers: type one command into every worker pane at once, then check each pane.

Each test gets its own private tmux server (never yours), with a master window and N worker
panes running a clean shell; it is torn down after the test.  When a test fails, every pane's
screen is printed in the report.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

PYTHON = shlex.quote(sys.executable)


@pytest.mark.tmuxorch(workers=3, layout="even-horizontal")
def test_every_worker_runs_the_command(tmuxorch):
    tmuxorch.run_all("echo \"$TMUX_PANE says $((6 * 7))\"")  # typed into all workers at once, not the master

    for pane in tmuxorch.workers:
        # anchored at the start of a line: the echoed command line itself does not match
        pane.wait_for(re.compile(rf"^{pane.id} says 42$", re.MULTILINE), timeout=10)
    assert "says" not in tmuxorch.master.capture()


@pytest.mark.tmuxorch(workers=4)
def test_split_work_across_workers_and_collect_it(tmuxorch, tmp_path: Path):
    # each worker sums its quarter of 1..400 000 into a file, all four at the same time
    for index in range(4):
        low, high = index * 100_000 + 1, (index + 1) * 100_000
        out = tmp_path / f"part{index}"
        tmuxorch.run_one(index, f"{PYTHON} -c 'print(sum(range({low}, {high + 1})))' > {out} && echo finished-{index}")

    for index, pane in enumerate(tmuxorch.workers):
        pane.wait_for(re.compile(rf"^finished-{index}$", re.MULTILINE), timeout=20)
    total = sum(int((tmp_path / f"part{index}").read_text()) for index in range(4))
    assert total == 400_000 * 400_001 // 2


@pytest.mark.tmuxorch(workers=2)
def test_run_waits_and_reports_the_exit_status(tmuxorch):
    ok = tmuxorch.worker(0).run("printf '%s\\n' one two three | wc -l")
    assert ok.exit_code == 0 and ok.output.strip() == "3"

    failed = tmuxorch.worker(1).run("ls /no/such/directory")
    assert failed.exit_code != 0
    assert "No such file or directory" in failed.output
