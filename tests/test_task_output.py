"""What a task leaves to read: log files created only by output, ``tasks-tail --follow``,
``tasks-list`` columns and JSON, the ``tasks-wait`` progress bar on a terminal, and the queue's
overview for live views.  Worker loops run in the panes of a real server."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli, wait_until

from pytest_tmuxorch import Orchestrator
from pytest_tmuxorch.loops import PaneQueue
from pytest_tmuxorch.tasks import TaskQueue


@pytest.fixture
def transport() -> str:
    """The queue does not talk to tmux but to start its loops: one transport is enough here."""
    return "control"


def read_line(proc: subprocess.Popen[bytes], timeout: float = 15) -> bytes:
    """One line of ``proc``'s stdout, waiting at most ``timeout`` seconds for it."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no output in time"
    return proc.stdout.readline()


def follow(cli_env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "pytest_tmuxorch", "tasks-tail", *args], env=cli_env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_logs_exist_only_for_streams_that_were_written(queue: PaneQueue) -> None:
    silent = queue.enqueue("true")
    errors = queue.enqueue("echo oops >&2")
    both = queue.enqueue("echo out; echo err >&2")
    queue.start()
    queue.wait([silent.id, errors.id, both.id], timeout=20)
    assert sorted(os.listdir(queue.dir("logs"))) == sorted(
        [f"{errors.id}.err", f"{both.id}.out", f"{both.id}.err"])
    assert queue.tail(silent.id) == "" and queue.tail(silent.id, err=True) == ""
    assert queue.tail(errors.id, err=True) == "oops\n" and queue.tail(errors.id) == ""
    assert (queue.tail(both.id), queue.tail(both.id, err=True)) == ("out\n", "err\n")


def test_output_of_processes_a_task_leaves_behind_still_reaches_its_log(queue: PaneQueue, tmp_path: Path) -> None:
    go = tmp_path / "go"
    task = queue.enqueue(f"(while [ ! -e {go} ]; do sleep 0.02; done; echo late) & echo early")
    queue.start()
    (done,) = queue.wait([task.id], timeout=20)
    assert done.state == "done" and queue.tail(task.id) == "early\n"
    go.touch()  # the child writes after its task was filed: the worker still relays it
    wait_until(lambda: queue.tail(task.id) == "early\nlate\n", what="the late line in the log")
    after = queue.enqueue("echo next")  # and the worker goes on working
    assert queue.wait([after.id], timeout=20)[0].state == "done"


def test_follow_prints_as_the_task_writes_and_ends_with_its_status(queue: PaneQueue, cli_env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    go = tmp_path / "go"
    task = queue.enqueue(f"echo first; while [ ! -e {go} ]; do sleep 0.02; done; echo second; exit 5")
    proc = follow(cli_env, task.id, "--follow")  # before the task even runs
    try:
        queue.start()
        assert read_line(proc) == b"first\n"
        assert queue.find(task.id) == "running"  # printed while the task runs
        go.touch()
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out, err) == (5, b"second\n", b"")
    again = run_cli("tasks-tail", task.id, "--follow", "-n", "1", env=cli_env)  # finished: at once
    assert (again.returncode, again.stdout) == (5, "second\n")


def test_follow_stderr_across_retries_and_signals(queue: PaneQueue, cli_env: dict[str, str]) -> None:
    retried = queue.enqueue('echo "attempt $TMUXORCH_TASK_ATTEMPT" >&2; [ "$TMUXORCH_TASK_ATTEMPT" -ge 2 ]', retries=1)
    killed = queue.enqueue("echo bye >&2; kill -TERM $$")
    queue.start()
    first = run_cli("tasks-tail", retried.id, "--err", "--follow", env=cli_env, timeout=30)
    assert first.returncode == 0 and first.stdout.endswith("attempt 2\n"), first
    second = run_cli("tasks-tail", killed.id, "--err", "--follow", env=cli_env, timeout=30)
    assert (second.returncode, second.stdout) == (128 + 15, "bye\n")
    python = list(queue.follow(retried.id, err=True, timeout=10))
    assert b"".join(python) == b"attempt 2\n"


def test_follow_gives_up_after_its_timeout(queue: PaneQueue, cli_env: dict[str, str]) -> None:
    task = queue.enqueue("sleep 300")
    done = run_cli("tasks-tail", task.id, "--follow", "--timeout", "0.3", env=cli_env)
    assert done.returncode == 1 and "timed out after 0.3s following task" in done.stderr, done
    bad = run_cli("tasks-tail", task.id, "--timeout", "1", env=cli_env)
    assert bad.returncode == 2 and "--timeout needs --follow" in bad.stderr, bad
    assert run_cli("tasks-tail", "nope", "--follow", env=cli_env).returncode == 2
    assert queue.cancel(task.id).cancelled


def test_list_shows_runtime_result_attempts_and_dependencies(queue: PaneQueue, cli_env: dict[str, str]) -> None:
    queue.enqueue("sleep 0.2; exit 2", id="first")
    queue.enqueue("true", id="second", after=["first"], priority=3)
    queue.start()
    queue.wait(["first", "second"], timeout=20)
    table = run_cli("tasks-list", env=cli_env).stdout.splitlines()
    assert table[0].split() == ["ID", "STATE", "TRY", "PRI", "WORKER", "STARTED", "RUNTIME", "RESULT", "AFTER", "COMMAND"]
    first = next(line for line in table if line.startswith("first"))
    assert re.search(r"first\s+failed\s+1\s+0\s+w\d\s+\S+\s+0\.[2-9]\d*s\s+exit 2\s+-\s+sleep", first), first
    second = next(line for line in table if line.startswith("second"))
    assert re.search(r"second\s+failed\s+0\s+3\s+-\s+-\s+-\s+dependency first failed\s+first\s+true", second), second
    listed = {task["id"]: task for task in json.loads(run_cli("tasks-list", "--json", env=cli_env).stdout)}
    assert listed["first"]["runtime"] >= 0.2 and listed["first"]["exit_code"] == 2
    assert listed["first"]["runs"][0]["exit_status"] == 2 and listed["first"]["runs"][0]["worker"] in ("w0", "w1")
    assert listed["second"]["after"] == ["first"] and listed["second"]["dependency_failed"] == "first"
    assert {"priority", "timeout", "retries", "timed_out", "attempt", "outcome"} <= set(listed["second"])


def test_overview_counts_and_running_tasks(queue: PaneQueue, tmp_path: Path) -> None:
    go = tmp_path / "go"
    running = queue.enqueue(f"while [ ! -e {go} ]; do sleep 0.02; done")
    queue.enqueue("true", after=[running.id])
    queue.start()
    wait_until(lambda: queue.find(running.id) == "running", what="running")
    view = queue.overview()
    assert (view.counts["running"], view.counts["waiting"], view.total, view.finished, view.left) == (1, 1, 2, 0, 2)
    assert [task.id for task, _ in view.running] == [running.id] and view.running[0][1] >= 0
    assert sorted(worker["worker"] for worker in view.workers) == ["w0", "w1"]
    assert view.as_dict()["running"][0]["worker"] in ("w0", "w1")
    go.touch()
    queue.wait(timeout=20)
    assert queue.overview().left == 0 and queue.overview().finished == 2


def test_wait_draws_a_progress_bar_on_a_terminal_only(orch: Orchestrator, cli_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    go = tmp_path / "go"
    queue = orch.tasks
    queue.enqueue_many(["true", "true", f"while [ ! -e {go} ]; do sleep 0.02; done"])
    queue.start()
    try:
        words = " ".join(f"{key}={value!r}" for key, value in cli_env.items() if key.startswith(("TMUX", "HOME")))
        orch.master.send(f"env {words} {sys.executable} -m pytest_tmuxorch tasks-wait --timeout 60; echo waited $?")
        bar = re.compile(r"^tasks [━╸╺ ]+ 2/3 1 running \d+:\d\d:\d\d", re.M)
        orch.master.wait_for(bar, timeout=20)
        go.touch()
        orch.master.wait_for(re.compile(r"^waited 0$", re.M), timeout=20)
        assert re.search(r"3/3", orch.master.capture(history=True))
    finally:
        queue.stop()
    plain = run_cli("tasks-wait", env=cli_env)  # not a terminal: no bar, nothing drawn
    assert plain.returncode == 0 and plain.stderr == "" and plain.stdout == "3 tasks finished: 3 ok, 0 failed\n"


def test_waiting_without_a_terminal_never_imports_rich(cli_env: dict[str, str], tmp_path: Path) -> None:
    TaskQueue(tmp_path / "tasks").init()
    code = ("import sys; from pytest_tmuxorch.cli.entry import main\n"
            "status = main(['tasks-wait', '--timeout', '5'])\n"
            "print(status, sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n")
    env = dict(cli_env, TMUXORCH_TASKS_DIR=str(tmp_path / "tasks"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30)
    assert done.stdout.splitlines()[-1] == "0 []", done
