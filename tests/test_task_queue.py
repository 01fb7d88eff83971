"""The queue's filesystem operations, without tmux and without workers: enqueue, list, cancel,
retry, clean, tail, health of stale tasks, wait deadlines, and bad input."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from pytest_tmuxorch.errors import TaskNotFoundError, TaskStateError, TmuxTimeoutError, UsageError
from pytest_tmuxorch.tasks import Task, TaskQueue, new_id, serialize
from pytest_tmuxorch.tasks.names import id_of


@pytest.fixture
def queue(tmp_path: Path) -> TaskQueue:
    q = TaskQueue(tmp_path / "tasks", timeout=5)
    q.init()
    return q


def finish(q: TaskQueue, task: Task, state: str, exit_status: int = 0, ended: float | None = None) -> None:
    """Play the worker's part for one task: file it in done/ or failed/."""
    task.exit_status, task.ended, task.attempt = exit_status, ended or time.time(), task.attempt + 1
    Path(q.path(state, task.id)).write_text(serialize(task))
    os.unlink(q.path("queue", q.file_name("queue", task.id)))


def test_init_creates_the_layout_and_paths_name_it(queue: TaskQueue) -> None:
    paths = queue.paths()
    for name in ("queue", "running", "done", "failed", "logs", "quarantine"):
        assert paths[name].is_dir()
        assert paths[name] == queue.root / name


def test_enqueue_writes_a_complete_file_in_queue(queue: TaskQueue, tmp_path: Path) -> None:
    task = queue.enqueue(["echo", "a b"], cwd=tmp_path, env={"K": "V=1"})
    assert os.listdir(queue.dir("queue")) == [queue.queued(task.id)]
    assert queue.queued(task.id).endswith(f"~{task.id}")
    assert os.listdir(queue.dir("tmp")) == []
    back = queue.get(task.id)
    assert back.command == ["echo", "a b"] and back.cwd == str(tmp_path) and back.env == {"K": "V=1"}
    assert back.state == "queue" and back.attempt == 0
    shell = queue.enqueue("echo a | tr a b")
    assert queue.get(shell.id).command == "echo a | tr a b"
    assert queue.get(shell.id).cwd == os.getcwd()


def test_generated_ids_are_unique_and_sort_in_creation_order() -> None:
    made = [new_id() for _ in range(2000)]
    assert len(set(made)) == len(made)
    assert sorted(made) == made
    assert len({len(one) for one in made}) == 1


def test_given_id_must_be_safe_and_unused(queue: TaskQueue) -> None:
    queue.enqueue("true", id="build")
    with pytest.raises(UsageError, match="already used"):
        queue.enqueue("true", id="build")
    for bad in ("../escape", "a/b", ".hidden", "x\ny", "nul\0", "a" * 200):
        with pytest.raises(UsageError, match="invalid task ID"):
            queue.enqueue("true", id=bad)
    assert not (queue.root.parent / "escape").exists()
    assert [id_of(name) for name in os.listdir(queue.dir("queue"))] == ["build"]


def test_an_id_used_by_a_finished_task_is_taken(queue: TaskQueue) -> None:
    task = queue.enqueue("true", id="once")
    finish(queue, task, "done")
    with pytest.raises(UsageError, match="already used"):
        queue.enqueue("true", id="once")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"command": []}, "invalid command"),
        ({"command": "   "}, "empty command"),
        ({"command": ["a", 3]}, "invalid command"),
        ({"command": "true", "env": {"1BAD": "x"}}, "invalid environment variable name"),
        ({"command": "true", "env": {"A-B": "x"}}, "invalid environment variable name"),
        ({"command": "true", "cwd": "/no/such/dir"}, "no such directory"),
    ],
)
def test_bad_enqueue_input_is_a_usage_error(queue: TaskQueue, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        queue.enqueue(**kwargs)  # type: ignore[arg-type]
    assert os.listdir(queue.dir("queue")) == []


def test_enqueue_many_keeps_order(queue: TaskQueue) -> None:
    tasks = queue.enqueue_many([f"echo {n}" for n in range(50)])
    assert [task.id for task in queue.list("queue")] == [task.id for task in tasks]
    assert [task.command for task in queue.list("queue")] == [f"echo {n}" for n in range(50)]


def test_list_by_state_and_unknown_state(queue: TaskQueue) -> None:
    a, b, c = (queue.enqueue(f"echo {n}") for n in range(3))
    finish(queue, a, "done")
    finish(queue, b, "failed", exit_status=3)
    assert [t.id for t in queue.list("queue")] == [c.id]
    assert [(t.id, t.state) for t in queue.list("all")] == [(a.id, "done"), (b.id, "failed"), (c.id, "queue")]
    assert queue.list("failed")[0].exit_status == 3
    with pytest.raises(UsageError, match="unknown state 'finished'"):
        queue.list("finished")


def test_malformed_file_in_queue_is_listed_and_reported_by_health(queue: TaskQueue) -> None:
    Path(queue.path("queue", "broken")).write_text("ID=broken\nCMD=touch /tmp/never\n")
    listed = queue.list("queue")
    assert [t.id for t in listed] == ["broken"] and listed[0].error and "no MODE" in listed[0].error
    health = queue.health()
    assert any("broken" in line for line in health.malformed)


def test_cancel_a_queued_task(queue: TaskQueue) -> None:
    task = queue.enqueue("sleep 100")
    cancelled = queue.cancel(task.id)
    assert cancelled.state == "failed" and cancelled.cancelled and cancelled.outcome == "cancelled"
    assert os.listdir(queue.dir("queue")) == []
    with pytest.raises(TaskStateError, match="already failed"):
        queue.cancel(task.id)


def test_cancel_unknown_or_finished_task(queue: TaskQueue) -> None:
    with pytest.raises(TaskNotFoundError, match="no task 'nope'"):
        queue.cancel("nope")
    with pytest.raises(UsageError, match="invalid task ID"):
        queue.cancel("../../etc/passwd")
    task = queue.enqueue("true")
    finish(queue, task, "done")
    with pytest.raises(TaskStateError, match="already done"):
        queue.cancel(task.id)


def test_retry_puts_a_failed_task_back_with_results_cleared(queue: TaskQueue) -> None:
    task = queue.enqueue("false")
    finish(queue, task, "failed", exit_status=1)
    again = queue.retry(task.id)
    assert again.state == "queue" and again.attempt == 1 and again.exit_status is None and again.ended is None
    assert queue.get(task.id).state == "queue"
    with pytest.raises(TaskStateError, match="only failed tasks"):
        queue.retry(task.id)
    with pytest.raises(TaskNotFoundError):
        queue.retry("missing")


def test_retry_of_a_done_task_is_refused(queue: TaskQueue) -> None:
    task = queue.enqueue("true")
    finish(queue, task, "done")
    with pytest.raises(TaskStateError, match="is done"):
        queue.retry(task.id)


def test_clean_keep_hours_and_dry_run(queue: TaskQueue) -> None:
    now = time.time()
    old = [queue.enqueue(f"echo {n}") for n in range(3)]
    for n, task in enumerate(old):
        finish(queue, task, "done" if n else "failed", exit_status=0 if n else 1, ended=now - 10 * 3600 + n)
        Path(queue.path("logs", f"{task.id}.out")).write_text("x\n")
    fresh = queue.enqueue("echo fresh")
    finish(queue, fresh, "done", ended=now)
    waiting = queue.enqueue("echo waiting")
    would = queue.clean(hours=2, dry_run=True)
    assert [t.id for t in would] == [t.id for t in old]
    assert len(queue.list("all")) == 5
    assert [t.id for t in queue.clean(keep=2)] == [old[0].id, old[1].id]
    assert not Path(queue.path("logs", f"{old[0].id}.out")).exists()
    assert Path(queue.path("logs", f"{old[2].id}.out")).exists()
    assert [t.id for t in queue.clean(hours=2)] == [old[2].id]
    assert [t.id for t in queue.list("all")] == [fresh.id, waiting.id]
    with pytest.raises(UsageError, match="exactly one"):
        queue.clean()
    with pytest.raises(UsageError, match="exactly one"):
        queue.clean(keep=1, hours=1)
    with pytest.raises(UsageError, match="invalid keep"):
        queue.clean(keep=-1)


def test_tail_last_lines_and_unknown_id(queue: TaskQueue) -> None:
    task = queue.enqueue("true")
    assert queue.tail(task.id) == ""
    Path(queue.path("logs", f"{task.id}.out")).write_text("".join(f"line {n}\n" for n in range(300)))
    Path(queue.path("logs", f"{task.id}.err")).write_text("oops\n")
    assert queue.tail(task.id) == "".join(f"line {n}\n" for n in range(200, 300))
    assert queue.tail(task.id, lines=2) == "line 298\nline 299\n"
    assert queue.tail(task.id, err=True) == "oops\n"
    with pytest.raises(TaskNotFoundError):
        queue.tail("nope")


def test_health_finds_a_running_task_whose_lock_nobody_holds(queue: TaskQueue) -> None:
    task = queue.enqueue("echo hi")
    locked = queue.enqueue("echo held")
    for one in (task, locked):
        one.worker, one.worker_pid, one.attempt = "w9", 999999, 1
        Path(queue.path("running", one.id)).write_text(serialize(one))
        os.unlink(queue.path("queue", queue.file_name("queue", one.id)))
    holder = os.open(queue.path("running", locked.id), os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as a live worker would
    try:
        health = queue.health()
        assert [t.id for t in health.stale] == [task.id] and not health.ok
        assert health.counts["running"] == 2
        fixed = queue.health(requeue=True)
        assert fixed.requeued == [task.id] and fixed.ok
        back = queue.get(task.id)
        assert back.state == "queue" and back.attempt == 1 and back.worker is None
        assert queue.get(locked.id).state == "running"
    finally:
        os.close(holder)


def test_wait_has_a_deadline_and_knows_unknown_ids(queue: TaskQueue) -> None:
    task = queue.enqueue("true")
    started = time.monotonic()
    with pytest.raises(TmuxTimeoutError, match="1 not finished"):
        queue.wait([task.id], timeout=0.3)
    assert time.monotonic() - started < 3
    with pytest.raises(TimeoutError):
        queue.wait(timeout=0.2)
    with pytest.raises(TaskNotFoundError):
        queue.wait(["nope"], timeout=1)
    finish(queue, task, "done")
    assert [t.id for t in queue.wait([task.id], timeout=1)] == [task.id]
    assert [t.state for t in queue.wait(timeout=1)] == ["done"]


def test_clean_keeps_emptied_files_that_enqueue_reuses(queue: TaskQueue) -> None:
    old = queue.enqueue_many([f"echo {n}" for n in range(3)])
    for task in old:
        finish(queue, task, "done")
    Path(queue.log_path(old[0].id)).write_text("out\n")
    inodes = {os.stat(queue.path("done", task.id)).st_ino for task in old}
    assert len(queue.clean(keep=0)) == 3
    spares = os.listdir(queue.dir("spare"))
    assert len(spares) == 3 and all(os.path.getsize(queue.path("spare", name)) == 0 for name in spares)
    assert not os.path.exists(queue.log_path(old[0].id))  # logs are removed, never reused
    new = queue.enqueue_many(["echo a", "echo b", "echo c", "echo d"])
    assert os.listdir(queue.dir("spare")) == [] and os.listdir(queue.dir("tmp")) == []
    reused = {os.stat(queue.path("queue", queue.file_name("queue", task.id))).st_ino for task in new}
    assert inodes < reused  # three files reused, one created
    assert [task.command for task in queue.list("queue")] == ["echo a", "echo b", "echo c", "echo d"]
    assert queue.get(new[0].id).state == "queue" and queue.list("done") == []
