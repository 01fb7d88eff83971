"""Dependencies between tasks (``--after``): chains, diamonds, a failed or cancelled dependency,
and the bad input that is refused up front.  Worker loops run in the panes of a real server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli, wait_until

from pytest_tmuxorch.errors import TaskStateError, UsageError
from pytest_tmuxorch.loops import PaneQueue
from pytest_tmuxorch.tasks import TaskQueue


@pytest.fixture
def transport() -> str:
    """The queue does not talk to tmux but to start its loops: one transport is enough here."""
    return "control"


def one_line_error(done: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    assert done.returncode == status, done
    assert done.stderr.startswith("tmuxorch: ") and done.stderr.count("\n") == 1 and text in done.stderr, done.stderr


def record(log: Path, name: str) -> str:
    """A shell line that appends ``name`` to ``log`` (the order tasks ran in)."""
    return f"echo {name} >> {log}"


def test_a_chain_runs_in_order_and_waits_in_waiting(queue: PaneQueue, tmp_path: Path) -> None:
    log, go = tmp_path / "order", tmp_path / "go"
    first = queue.enqueue(f"while [ ! -e {go} ]; do sleep 0.02; done; {record(log, 'a')}", id="a")
    second = queue.enqueue(record(log, "b"), id="b", after=["a"])
    third = queue.enqueue(record(log, "c"), id="c", after=["b"])
    assert [queue.find(task_id) for task_id in "abc"] == ["queue", "waiting", "waiting"]
    queue.start()
    wait_until(lambda: queue.find("a") == "running", what="a running")
    assert [task.id for task in queue.list("waiting")] == ["b", "c"]  # both workers idle: b and c wait
    go.touch()
    done = {task.id: task for task in queue.wait([first.id, second.id, third.id], timeout=20)}
    assert log.read_text().split() == ["a", "b", "c"]
    assert all(task.state == "done" for task in done.values())
    assert done["b"].started and done["a"].ended and done["b"].started >= done["a"].ended
    assert done["c"].started and done["b"].ended and done["c"].started >= done["b"].ended
    assert done["c"].after == ["b"]


def test_a_diamond_waits_for_both_sides(queue: PaneQueue, cli_env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "order"

    def enqueue(*args: str) -> str:
        done = run_cli("tasks-enqueue", *args, env=cli_env)
        assert done.returncode == 0, done
        return done.stdout.strip()

    enqueue("-i", "top", "--", f"sleep 0.2; {record(log, 'top')}")
    enqueue("-i", "left", "--after", "top", "--", f"sleep 0.3; {record(log, 'left')}")
    enqueue("-i", "right", "--after", "top", "--", record(log, "right"))
    enqueue("-i", "bottom", "--after", "left,right", "--after", "top", "--", record(log, "bottom"))
    queue.start()
    assert run_cli("tasks-wait", "--timeout", "30", env=cli_env).returncode == 0
    order = log.read_text().split()
    assert order[0] == "top" and order[-1] == "bottom" and sorted(order[1:3]) == ["left", "right"]
    tasks = {task["id"]: task for task in json.loads(run_cli("tasks-list", "--json", env=cli_env).stdout)}
    assert tasks["bottom"]["after"] == ["left", "right", "top"]
    assert tasks["bottom"]["started"] >= max(tasks["left"]["ended"], tasks["right"]["ended"])
    assert {task["state"] for task in tasks.values()} == {"done"}


def test_a_failed_dependency_fails_its_dependents_without_running_them(queue: PaneQueue, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    queue.enqueue("exit 3", id="broken")
    queue.enqueue(f"touch {ran}-b", id="b", after=["broken"])
    queue.enqueue(f"touch {ran}-c", id="c", after=["b"])
    queue.enqueue(f"touch {ran}-d", id="d")
    queue.start()
    done = {task.id: task for task in queue.wait(["broken", "b", "c", "d"], timeout=20)}
    assert (done["broken"].state, done["broken"].exit_status) == ("failed", 3)
    for task_id, failed in (("b", "broken"), ("c", "b")):
        task = done[task_id]
        assert task.state == "failed" and task.dependency_failed == failed and task.outcome == "dependency failed"
        assert task.attempt == 0 and task.runs == [] and task.started is None
        assert not Path(f"{ran}-{task_id}").exists()
    assert done["d"].state == "done"
    with pytest.raises(TaskStateError, match="depends on 'broken', which failed: retry that first"):
        queue.retry("b")
    # a dependency that already failed: the new task fails at once, never queued
    late = queue.enqueue(f"touch {ran}-late", after=["broken"])
    assert queue.get(late.id).state == "failed" and queue.get(late.id).dependency_failed == "broken"


def test_cancelling_a_dependency_fails_what_waits_for_it(queue: PaneQueue, cli_env: dict[str, str], tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    queue.enqueue("sleep 300", id="long")
    queue.enqueue(f"touch {ran}", id="next", after=["long"])
    queue.start()
    wait_until(lambda: queue.find("long") == "running", what="long running")
    assert run_cli("tasks-cancel", "long", "--grace", "0.2", env=cli_env).returncode == 0
    after = queue.get("next")  # failed by the cancel itself, not later
    assert after.state == "failed" and after.dependency_failed == "long" and not ran.exists()
    waited = run_cli("tasks-wait", "next", env=cli_env)
    assert waited.returncode == 1 and "failed: next dependency long failed" in waited.stdout, waited
    # a waiting task can be cancelled too
    queue.stop()
    queue.enqueue("true", id="gate")
    queue.enqueue("true", id="held", after=["gate"])
    assert queue.find("held") == "waiting"
    assert queue.cancel("held").cancelled and queue.find("held") == "failed"


def test_a_retried_dependency_lets_its_dependents_be_retried(queue: PaneQueue, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    queue.enqueue(f"[ -e {flag} ]", id="flaky")
    queue.enqueue("echo downstream", id="down", after=["flaky"])
    queue.start()
    assert [task.state for task in queue.wait(["flaky", "down"], timeout=20)] == ["failed", "failed"]
    flag.touch()
    queue.retry("flaky")
    assert queue.retry("down").state in ("waiting", "queue")
    assert [task.state for task in queue.wait(["flaky", "down"], timeout=20)] == ["done", "done"]
    assert queue.tail("down") == "downstream\n"


def test_clean_keeps_what_a_waiting_task_needs(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "tasks")
    needed = queue.enqueue("true", id="needed")
    other = queue.enqueue("true", id="other")
    for task in (needed, other):  # play the worker: both done
        task.attempt, task.exit_status, task.ended = 1, 0, 1.0
        queue.write_state(task, "done", "test")
        os.unlink(queue.path("queue", queue.file_name("queue", task.id)))
    queue.enqueue("true", id="gate")
    queue.enqueue("true", id="waits", after=["needed", "gate"])
    assert queue.find("waits") == "waiting"
    assert [task.id for task in queue.clean(keep=0)] == ["other"]
    assert queue.find("needed") == "done"


def test_bad_dependencies_are_refused_and_create_nothing(cli_env: dict[str, str], tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "tasks")
    queue.enqueue("true", id="known")
    with pytest.raises(UsageError, match="unknown dependency 'nope'"):
        queue.enqueue("true", after=["known", "nope"])
    with pytest.raises(UsageError, match=r"invalid task ID in after '\.\./x'"):
        queue.enqueue("true", after=["../x"])
    with pytest.raises(UsageError, match="expected a list of task IDs"):
        queue.enqueue("true", after="known")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="unknown dependency 'self'"):
        queue.enqueue("true", id="self", after=["self"])  # no cycles: a dependency exists already
    assert [task.id for task in queue.list()] == ["known"]
    env = dict(cli_env, TMUXORCH_TASKS_DIR=str(queue.root))
    one_line_error(run_cli("tasks-enqueue", "--after", "nope", "--", "true", env=env), 2, "unknown dependency 'nope'")
    one_line_error(run_cli("tasks-enqueue", "--after", "known,,x", "--", "true", env=env), 2, "an empty task ID")
    one_line_error(run_cli("tasks-enqueue", "--stdin", "--after", "gone", env=env, stdin="true\n"), 2,
                   "unknown dependency 'gone'")
    assert [task.id for task in queue.list()] == ["known"]
