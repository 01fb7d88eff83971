"""The tasks-* commands for real: console script in a subprocess, worker loops in real tmux panes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli, wait_until

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch._proc import pid_alive
from pytest_tmuxorch.cli.tasks import TASK_COMMANDS
from pytest_tmuxorch.tasks import TaskQueue


def one_line_error(done: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    assert done.returncode == status, done
    assert done.stderr.startswith("tmuxorch: ") and done.stderr.count("\n") == 1, done.stderr
    assert text in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.fixture
def four(settings: Settings) -> Iterator[Orchestrator]:
    """An orchestrator with 4 worker panes on the test's private socket."""
    orchestrator = Orchestrator(settings.replace(workers=4))
    orchestrator.init()
    yield orchestrator
    try:
        orchestrator.tasks.stop()
    finally:
        orchestrator.kill()
        orchestrator.close()


@pytest.fixture
def stopped(orch: Orchestrator) -> Iterator[Orchestrator]:
    """The 2-worker orchestrator; its worker loops stopped after the test, whatever happened."""
    yield orch
    orch.tasks.stop()


@pytest.mark.parametrize("name", [spec[0] for spec in TASK_COMMANDS])
def test_every_task_command_has_help(name: str, cli_env: dict[str, str]) -> None:
    done = run_cli(name, "--help", env=cli_env)
    assert done.returncode == 0 and "usage: tmuxorch" in done.stdout and name in done.stdout


def test_enqueue_list_paths_json_without_tmux(cli_env: dict[str, str], settings: Settings, tmp_path: Path) -> None:
    done = run_cli("tasks-enqueue", "-i", "one", "-d", str(tmp_path), "-e", "A=1=2", "-e", "B=x y", "--",
                   "printf", "%s\n", "a b", env=cli_env)
    assert done.returncode == 0 and done.stdout == "one\n", done
    shell = run_cli("tasks-enqueue", "--", "echo a | tr a b", env=cli_env).stdout.strip()
    listed = json.loads(run_cli("tasks-list", "queue", "--json", env=cli_env).stdout)
    assert [(t["id"], t["command"], t["shell"]) for t in listed] == [
        (shell, "echo a | tr a b", True), ("one", ["printf", "%s\n", "a b"], False)
    ] or [(t["id"], t["command"], t["shell"]) for t in listed] == [
        ("one", ["printf", "%s\n", "a b"], False), (shell, "echo a | tr a b", True)
    ]
    one = next(t for t in listed if t["id"] == "one")
    assert one["env"] == {"A": "1=2", "B": "x y"} and one["cwd"] == str(tmp_path)
    table = run_cli("tasks-list", env=cli_env).stdout
    assert table.splitlines()[0].split()[:3] == ["ID", "STATE", "TRY"] and "one" in table and "queue" in table
    paths = json.loads(run_cli("tasks-paths", "--json", env=cli_env).stdout)
    assert paths["queue"] == str(Path(settings.tasks_dir or "") / "queue")
    assert str(Path(settings.tasks_dir or "") / "done") in run_cli("tasks-paths", env=cli_env).stdout


def test_bad_inputs_are_one_line_errors(cli_env: dict[str, str], settings: Settings) -> None:
    one_line_error(run_cli("tasks-enqueue", "-e", "NOEQUALS", "--", "true", env=cli_env), 2, "expected KEY=VALUE")
    one_line_error(run_cli("tasks-enqueue", "-e", "1BAD=x", "--", "true", env=cli_env), 2, "invalid environment variable name")
    one_line_error(run_cli("tasks-enqueue", "-i", "../../evil", "--", "true", env=cli_env), 2, "invalid task ID")
    one_line_error(run_cli("tasks-enqueue", "-i", ".hidden", "--", "true", env=cli_env), 2, "invalid task ID")
    one_line_error(run_cli("tasks-enqueue", "-d", "/no/such/dir", "--", "true", env=cli_env), 2, "no such directory")
    one_line_error(run_cli("tasks-enqueue", env=cli_env), 2, "no command given")
    one_line_error(run_cli("tasks-enqueue", "--stdin", "--", "x", env=cli_env, stdin="true\n"), 2, "--stdin")
    assert run_cli("tasks-enqueue", "-i", "dup", "--", "true", env=cli_env).returncode == 0
    one_line_error(run_cli("tasks-enqueue", "-i", "dup", "--", "true", env=cli_env), 2, "already used")
    one_line_error(run_cli("tasks-list", "finished", env=cli_env), 2, "unknown state 'finished'")
    for command in ("tasks-cancel", "tasks-retry", "tasks-tail"):
        one_line_error(run_cli(command, "nope", env=cli_env), 2, "no task 'nope'")
        one_line_error(run_cli(command, "../x", env=cli_env), 2, "invalid task ID")
    one_line_error(run_cli("tasks-wait", "nope", env=cli_env), 2, "no task 'nope'")
    one_line_error(run_cli("tasks-retry", "dup", env=cli_env), 1, "only failed tasks can be retried")
    one_line_error(run_cli("tasks-clean", env=cli_env), 2, "one of the arguments --hours --keep is required")
    one_line_error(run_cli("tasks-clean", "--hours", "1", "--keep", "2", env=cli_env), 2, "not allowed with")
    one_line_error(run_cli("tasks-tail", "dup", "-n", "x", env=cli_env), 2, "invalid --lines 'x'")
    assert not (Path(settings.tasks_dir or "").parent / "evil").exists()


def test_filesystem_trouble_is_a_one_line_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    env = dict(cli_env, TMUXORCH_TASKS_DIR=str(tmp_path / "file" / "tasks"))
    one_line_error(run_cli("tasks-init", env=env), 1, "Not a directory")
    one_line_error(run_cli("tasks-enqueue", "--", "true", env=env), 1, "Not a directory")


def test_the_whole_flow_in_panes(stopped: Orchestrator, cli_env: dict[str, str]) -> None:
    ids = run_cli("tasks-enqueue", "--stdin", env=cli_env,
                  stdin="echo a | tr a b\n\necho oops >&2; exit 4\nprintf 'x\\ny\\nz\\n'\n").stdout.split()
    assert len(ids) == 3 and ids == sorted(ids)
    started = run_cli("tasks-start", env=cli_env)
    assert started.returncode == 0 and "started worker loops: w0 w1" in started.stdout, started
    again = run_cli("tasks-start", env=cli_env)
    assert again.returncode == 0 and "nothing started" in again.stdout
    waited = run_cli("tasks-wait", *ids, "--timeout", "20", env=cli_env)
    assert waited.returncode == 1 and "1 failed" in waited.stdout and f"failed: {ids[1]} exit 4" in waited.stdout
    assert run_cli("tasks-wait", ids[0], ids[2], env=cli_env).returncode == 0
    assert run_cli("tasks-tail", ids[0], env=cli_env).stdout == "b\n"
    assert run_cli("tasks-tail", ids[1], "--err", env=cli_env).stdout == "oops\n"
    assert run_cli("tasks-tail", ids[2], "-n", "2", env=cli_env).stdout == "y\nz\n"
    health = run_cli("tasks-health", "--json", env=cli_env)
    report = json.loads(health.stdout)
    assert health.returncode == 0 and report["ok"] and report["counts"]["done"] == 2 and report["counts"]["failed"] == 1
    assert sorted(w["worker"] for w in report["workers"]) == ["w0", "w1"]
    screens = "".join(pane.capture(history=True) for pane in stopped.workers)
    assert f"run  {ids[0]}" in screens and f"FAIL {ids[1]} exit 4" in screens
    retried = run_cli("tasks-retry", ids[1], env=cli_env)
    assert retried.returncode == 0 and "requeued" in retried.stdout
    assert run_cli("tasks-wait", "--timeout", "20", env=cli_env).returncode == 1  # it fails again
    dry = run_cli("tasks-clean", "--keep", "1", "--dry-run", env=cli_env)
    assert dry.returncode == 0 and "would remove 2 finished tasks" in dry.stdout
    assert len(json.loads(run_cli("tasks-list", "--json", env=cli_env).stdout)) == 3
    cleaned = run_cli("tasks-clean", "--keep", "0", env=cli_env)
    assert cleaned.returncode == 0 and "removed 3 finished tasks" in cleaned.stdout
    assert "no tasks" in run_cli("tasks-list", env=cli_env).stdout
    assert run_cli("tasks-wait", env=cli_env).returncode == 0
    stop = run_cli("tasks-stop", env=cli_env)
    assert stop.returncode == 0 and "stopped worker loops: w0 w1" in stop.stdout
    assert json.loads(run_cli("tasks-health", "--json", env=cli_env).stdout)["workers"] == []


def test_wait_timeout_is_one_line(cli_env: dict[str, str]) -> None:
    task = run_cli("tasks-enqueue", "--", "true", env=cli_env).stdout.strip()
    one_line_error(run_cli("tasks-wait", task, "--timeout", "0.3", env=cli_env), 1, "timed out after 0.3s")
    one_line_error(run_cli("tasks-wait", "--timeout", "0.3", env=cli_env), 1, "timed out")


def test_stop_during_a_long_task_then_start_finishes_it(stopped: Orchestrator, cli_env: dict[str, str], tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = run_cli("tasks-enqueue", "--",
                   f'[ "$TMUXORCH_TASK_ATTEMPT" -ge 2 ] && echo finished && exit 0; echo $$ > {pidfile}; exec sleep 60',
                   env=cli_env).stdout.strip()
    assert run_cli("tasks-start", env=cli_env).returncode == 0
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="task running"))
    stop = run_cli("tasks-stop", env=cli_env)
    assert stop.returncode == 0, stop
    assert not pid_alive(pid)
    queued = json.loads(run_cli("tasks-list", "queue", "--json", env=cli_env).stdout)
    assert [(t["id"], t["attempt"]) for t in queued] == [(task, 1)]
    assert run_cli("tasks-start", env=cli_env).returncode == 0
    assert run_cli("tasks-wait", task, env=cli_env).returncode == 0
    done = json.loads(run_cli("tasks-list", "done", "--json", env=cli_env).stdout)
    assert [(t["id"], t["attempt"]) for t in done] == [(task, 2)]
    assert run_cli("tasks-tail", task, env=cli_env).stdout == "finished\n"


def test_sigkilled_loop_stale_health_requeue(stopped: Orchestrator, cli_env: dict[str, str], tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = run_cli("tasks-enqueue", "-i", "crashy", "--",
                   f'[ "$TMUXORCH_TASK_ATTEMPT" -ge 2 ] && echo recovered && exit 0; echo $$ > {pidfile}; exec sleep 60',
                   env=cli_env).stdout.strip()
    queue = stopped.tasks
    queue.start()
    orphan = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="task running"))
    try:
        owner = json.loads(run_cli("tasks-list", "running", "--json", env=cli_env).stdout)[0]["worker_pid"]
        assert owner in [w["pid"] for w in queue.live_workers()]
        os.kill(owner, signal.SIGKILL)  # the loop this test started, by its pid
        wait_until(lambda: owner not in [w["pid"] for w in queue.live_workers()], what="loop gone")
        health = run_cli("tasks-health", env=cli_env)
        assert health.returncode == 1 and f"stale: {task}" in health.stdout, health
        assert f"STILL RUNNING (pids {orphan})" in health.stdout, health  # the task outlived its loop
        fixed = run_cli("tasks-health", "--requeue", env=cli_env)
        assert fixed.returncode == 0 and f"requeued (after ending its processes {orphan})" in fixed.stdout, fixed
        assert not pid_alive(orphan)  # ended before the task could run again
        assert run_cli("tasks-health", env=cli_env).returncode == 0
        assert queue.start() != []  # only the killed loop's pane needs a new one
        assert run_cli("tasks-wait", task, env=cli_env).returncode == 0
        assert run_cli("tasks-tail", task, env=cli_env).stdout == "recovered\n"
    finally:
        if pid_alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_cancel_running_task_with_children(stopped: Orchestrator, cli_env: dict[str, str], tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    task = run_cli("tasks-enqueue", "--",
                   f"sleep 300 & echo $! >> {pids}; (sleep 300; true) & echo $! >> {pids}; echo $$ >> {pids}; wait",
                   env=cli_env).stdout.strip()
    stopped.tasks.start()
    wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 3, what="children started")
    started = [int(pid) for pid in pids.read_text().split()]
    done = run_cli("tasks-cancel", task, env=cli_env)
    assert done.returncode == 0 and f"cancelled {task}" in done.stdout, done
    wait_until(lambda: not any(pid_alive(pid) for pid in started), timeout=10, what="no process of the task left")
    record = json.loads(run_cli("tasks-list", "failed", "--json", env=cli_env).stdout)[0]
    assert record["id"] == task and record["cancelled"] is True
    one_line_error(run_cli("tasks-cancel", task, env=cli_env), 1, "already failed")
    stopped.tasks.stop()
    queued = run_cli("tasks-enqueue", "--", "true", env=cli_env).stdout.strip()
    assert run_cli("tasks-cancel", queued, env=cli_env).returncode == 0
    assert json.loads(run_cli("tasks-list", "queue", "--json", env=cli_env).stdout) == []


def test_python_api(stopped: Orchestrator, tmp_path: Path) -> None:
    queue = stopped.tasks
    assert isinstance(queue, TaskQueue) and queue.root == Path(stopped.settings.tasks_dir or "").absolute()
    task = queue.enqueue(["sh", "-c", 'echo "$K" > out.txt'], cwd=tmp_path, env={"K": "V"})
    assert queue.start() == ["w0", "w1"]
    assert queue.start() == []
    (finished,) = queue.wait([task.id], timeout=20)
    assert finished.ok and finished.state == "done"
    assert (tmp_path / "out.txt").read_text() == "V\n"
    assert [t.id for t in queue.list("done")] == [task.id]
    assert queue.stop() == ["w0", "w1"]
    assert queue.live_workers() == []


def test_eight_enqueuers_four_workers_every_task_runs_once(four: Orchestrator, tmp_path: Path, cli_env: dict[str, str]) -> None:
    shared = tmp_path / "ran"
    line = f'echo "$TMUXORCH_TASK_ID" >> {shared}\n'
    four.tasks.start()
    procs = [
        subprocess.Popen([sys.executable, "-m", "pytest_tmuxorch", "tasks-enqueue", "--stdin"], env=cli_env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    outputs = [proc.communicate(line * 250, timeout=60) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    enqueued = [task_id for out, _ in outputs for task_id in out.split()]
    assert len(enqueued) == 2000 and len(set(enqueued)) == 2000
    finished = four.tasks.wait(enqueued, timeout=120)
    assert all(task.state == "done" for task in finished)
    ran = Counter(shared.read_text().split())
    duplicates = {task_id: n for task_id, n in ran.items() if n > 1}
    missing = set(enqueued) - set(ran)
    assert not duplicates and not missing, (len(duplicates), len(missing))
    assert {task.worker for task in finished} == {"w0", "w1", "w2", "w3"}
