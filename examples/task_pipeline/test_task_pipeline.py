"""A task-queue pipeline: fan out work to the worker panes, synchronise stages with barriers.

The task queue lives in the test's tmp_path; `tasks.start()` starts a worker loop in each worker
pane.  Tasks run inside the panes, where `tmux` talks to the test's private server, so a task can
signal a barrier with `tmux wait-for -S NAME`, or wait for one with `tmux wait-for NAME`.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.tmuxorch(workers=2)
def test_produce_then_merge(tmuxorch, tmp_path: Path):
    tasks = tmuxorch.tasks
    tasks.start()

    # stage 1: two producers in parallel; each signals its own barrier when its file is written
    producers = [
        tasks.enqueue(f"printf 'part %s\\n' {n} > {tmp_path}/part{n}.txt && tmux wait-for -S produced-{n}",
                      id=f"produce-{n}")
        for n in (1, 2)
    ]
    for n in (1, 2):
        tmuxorch.barrier_wait(f"produced-{n}", timeout=20)  # a signal sent before we wait is not lost
    assert sorted(p.name for p in tmp_path.glob("part*.txt")) == ["part1.txt", "part2.txt"]

    # stage 2: the merge task is queued now, but holds until the test says go
    merge = tasks.enqueue(["sh", "-c", "tmux wait-for go && cat part1.txt part2.txt"], cwd=tmp_path,
                          env={"STAGE": "merge"}, id="merge")
    assert tasks.get(merge.id).state in ("queue", "running")  # not finished: it waits for "go"
    tmuxorch.barrier_signal("go")

    finished = tasks.wait([merge.id, *(p.id for p in producers)], timeout=20)
    assert [(task.id, task.state, task.exit_status) for task in finished] == [
        ("merge", "done", 0), ("produce-1", "done", 0), ("produce-2", "done", 0),
    ]
    assert tasks.tail(merge.id) == "part 1\npart 2\n"
    assert [task.id for task in tasks.list("all")] == ["merge", "produce-1", "produce-2"]


@pytest.mark.tmuxorch(workers=2)
def test_failed_task_is_reported_and_retried(tmuxorch, tmp_path: Path):
    tasks = tmuxorch.tasks
    flag = tmp_path / "second-attempt"
    task = tasks.enqueue(f"if [ -e {flag} ]; then echo recovered; else touch {flag}; echo boom >&2; exit 3; fi")
    tasks.start()

    (first,) = tasks.wait([task.id], timeout=20)
    assert (first.state, first.exit_status) == ("failed", 3)
    assert tasks.tail(task.id, err=True) == "boom\n"

    tasks.retry(task.id)
    (second,) = tasks.wait([task.id], timeout=20)
    assert (second.state, second.exit_status) == ("done", 0)
    assert tasks.tail(task.id) == "recovered\n"
