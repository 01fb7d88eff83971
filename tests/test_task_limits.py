"""Time limits, retries and priorities of tasks, with worker loops in real panes; and the bad
values of the options, refused as one-line usage errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli, wait_until

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch._proc import pid_alive
from pytest_tmuxorch.errors import UsageError
from pytest_tmuxorch.loops import PaneQueue
from pytest_tmuxorch.tasks import TaskQueue


@pytest.fixture
def transport() -> str:
    """The queue does not talk to tmux but to start its loops: one transport is enough here."""
    return "control"


@pytest.fixture
def single(settings: Settings) -> Iterator[PaneQueue]:
    """The queue of an orchestrator with one worker pane: tasks run one at a time, in claim order."""
    orchestrator = Orchestrator(settings.replace(workers=1))
    orchestrator.init()
    yield orchestrator.tasks
    try:
        orchestrator.tasks.stop()
    finally:
        orchestrator.kill()
        orchestrator.close()


def one_line_error(done: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    assert done.returncode == status, done
    assert done.stderr.startswith("tmuxorch: ") and done.stderr.count("\n") == 1 and text in done.stderr, done.stderr


def test_a_timeout_ends_the_whole_process_group(queue: PaneQueue, cli_env: dict[str, str], tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (f"trap '' TERM; sleep 300 & echo $! >> {pids}; sh -c 'trap \"\" TERM; sleep 300' & echo $! >> {pids}; "
              f"echo $$ >> {pids}; wait")
    done = run_cli("tasks-enqueue", "-i", "slow", "--timeout", "0.5", "--", script, env=cli_env)
    assert done.returncode == 0, done
    queue.start()
    wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 3, what="three pids")
    started = [int(pid) for pid in pids.read_text().split()]
    (task,) = queue.wait(["slow"], timeout=20)  # TERM is ignored: SIGKILL after the 2 s grace
    assert task.state == "failed" and task.timed_out and task.outcome == "timed out" and task.exit_code == 124
    assert task.signal == 9 and task.runtime is not None and 0.5 <= task.runtime < 10
    assert not any(pid_alive(pid) for pid in started), "a process of the timed-out task is left"
    assert [(run.attempt, run.timed_out) for run in task.runs] == [(1, True)]
    listed = run_cli("tasks-list", "failed", env=cli_env).stdout
    assert "timed out after" in listed and "(limit 0.5s)" in listed, listed
    waited = run_cli("tasks-wait", "slow", env=cli_env)
    assert waited.returncode == 1 and "failed: slow timed out after" in waited.stdout, waited


def test_a_task_within_its_timeout_is_untouched(queue: PaneQueue) -> None:
    task = queue.enqueue("sleep 0.1; echo fine", timeout=30)
    queue.start()
    (done,) = queue.wait([task.id], timeout=20)
    assert done.state == "done" and not done.timed_out and done.timeout == 30.0


def test_retries_run_a_failing_task_again_and_count(queue: PaneQueue, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    flaky = queue.enqueue(f'echo x >> {counter}; [ "$TMUXORCH_TASK_ATTEMPT" -ge 3 ] || exit 7', retries=2)
    hopeless = queue.enqueue("echo try >&2; exit 4", retries=1)
    queue.start()
    done = {task.id: task for task in queue.wait([flaky.id, hopeless.id], timeout=20)}
    good = done[flaky.id]
    assert good.state == "done" and good.attempt == 3 and len(counter.read_text().split()) == 3
    assert [(run.attempt, run.exit_status) for run in good.runs] == [(1, 7), (2, 7), (3, 0)]
    assert all(run.worker in ("w0", "w1") and run.runtime is not None for run in good.runs)
    bad = done[hopeless.id]
    assert bad.state == "failed" and bad.attempt == 2 and bad.exit_status == 4
    assert [(run.attempt, run.exit_status) for run in bad.runs] == [(1, 4), (2, 4)]
    assert queue.tail(hopeless.id, err=True) == "try\n"  # the last attempt's log, not both
    screens = "".join(pane.capture(history=True) for pane in queue._workers())
    assert f"RETRY {hopeless.id} exit 4" in screens and "(0 retries left)" in screens


def test_priorities_higher_first_then_first_in_first_out(single: PaneQueue, tmp_path: Path) -> None:
    log = tmp_path / "order"
    for task_id, priority in [("zz", 0), ("b5", 5), ("aa", 0), ("d10", 10), ("e5", 5), ("low", -1), ("mm", 0)]:
        single.enqueue(f"echo {task_id} >> {log}", id=task_id, priority=priority)
    single.start()
    single.wait(timeout=20)
    assert log.read_text().split() == ["d10", "b5", "e5", "zz", "aa", "mm", "low"]


def test_a_later_task_of_higher_priority_runs_next(single: PaneQueue, tmp_path: Path) -> None:
    log, go = tmp_path / "order", tmp_path / "go"
    first = single.enqueue(f"while [ ! -e {go} ]; do sleep 0.02; done; echo first >> {log}")
    rest = single.enqueue_many([f"echo {n} >> {log}" for n in range(5)])
    single.start()
    wait_until(lambda: single.find(first.id) == "running", what="the first task running")
    urgent = single.enqueue(f"echo urgent >> {log}", priority=1)
    go.touch()
    single.wait([urgent.id, *(task.id for task in rest)], timeout=20)
    assert log.read_text().split() == ["first", "urgent", "0", "1", "2", "3", "4"]


def test_stopped_and_retried_tasks_keep_their_place_in_line(single: PaneQueue, tmp_path: Path) -> None:
    log = tmp_path / "order"
    flaky = single.enqueue(f'echo flaky >> {log}; [ "$TMUXORCH_TASK_ATTEMPT" -ge 2 ]', retries=1)
    later = single.enqueue(f"echo later >> {log}")
    single.start()
    single.wait([flaky.id, later.id], timeout=20)
    assert log.read_text().split() == ["flaky", "flaky", "later"]  # the retry went first


@pytest.mark.parametrize(("args", "message"), [
    (["--timeout", "-1"], "invalid --timeout '-1': expected a positive number of seconds"),
    (["--timeout", "0"], "invalid --timeout '0'"),
    (["--timeout", "soon"], "invalid --timeout 'soon'"),
    (["--retries", "-1"], "invalid --retries '-1': expected a whole number from 0 to 1000"),
    (["--retries", "2.5"], "invalid --retries '2.5'"),
    (["--priority", "high"], "invalid --priority 'high': expected a whole number from -999999 to 999999"),
    (["--priority", "1000000"], "invalid --priority '1000000'"),
])
def test_bad_option_values_are_one_line_usage_errors(args: list[str], message: str, cli_env: dict[str, str],
                                                     settings: Settings) -> None:
    one_line_error(run_cli("tasks-enqueue", *args, "--", "true", env=cli_env), 2, message)
    assert not Path(settings.tasks_dir or "").exists()  # nothing created


def test_bad_option_values_from_python(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "tasks")
    for kwargs, message in [({"timeout": -1}, "invalid timeout"), ({"timeout": float("nan")}, "invalid timeout"),
                            ({"retries": -1}, "invalid retries"), ({"retries": True}, "invalid retries"),
                            ({"priority": 1.5}, "invalid priority"), ({"priority": 10**7}, "invalid priority")]:
        with pytest.raises(UsageError, match=message):
            queue.enqueue("true", **kwargs)  # type: ignore[arg-type]
    assert not queue.root.exists()
    task = queue.enqueue(["true"], timeout=2, retries=3, priority=-4)
    listed = json.loads(json.dumps(queue.get(task.id).as_dict()))
    assert (listed["timeout"], listed["retries"], listed["priority"]) == (2.0, 3, -4)
