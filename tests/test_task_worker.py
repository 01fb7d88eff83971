"""The worker loop, run for real as a subprocess (``python -m pytest_tmuxorch worker``): what it
runs and how, result recording, malformed files, duplicates, stop, cancel, and crash recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until

from pytest_tmuxorch._proc import pid_alive
from pytest_tmuxorch.tasks import TaskQueue


class Loops:
    """Worker loop processes started by a test; each stopped (SIGINT, then SIGKILL) by its pid."""

    def __init__(self, queue: TaskQueue, tmp_path: Path) -> None:
        self.queue = queue
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, worker_id: str = "w0", *extra: str) -> subprocess.Popen[str]:
        log = open(self.tmp_path / f"{worker_id}-{len(self.procs)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_tmuxorch", "worker", str(self.queue.root), worker_id, *extra],
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def output(self, index: int = 0) -> str:
        return "".join(path.read_text() for path in sorted(self.tmp_path.glob(f"*-{index}.log")))

    def live(self, worker_id: str = "w0") -> bool:
        return any(info["worker"] == worker_id for info in self.queue.live_workers())

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def queue(tmp_path: Path) -> TaskQueue:
    q = TaskQueue(tmp_path / "tasks", timeout=20)
    q.init()
    return q


@pytest.fixture
def loops(queue: TaskQueue, tmp_path: Path) -> Iterator[Loops]:
    started = Loops(queue, tmp_path)
    yield started
    started.stop_all()


def test_runs_argv_exactly_and_shell_lines_with_a_shell(queue: TaskQueue, loops: Loops) -> None:
    argv = queue.enqueue(["printf", "[%s]\n", "$HOME", "a  b", "'q'", "x|y"])
    shell = queue.enqueue("echo a | tr a b; echo $((1+2))")
    loops.start()
    done = queue.wait([argv.id, shell.id])
    assert [t.state for t in done] == ["done", "done"]
    assert queue.tail(argv.id) == "[$HOME]\n[a  b]\n['q']\n[x|y]\n"
    assert queue.tail(shell.id) == "b\n3\n"


def test_env_cwd_exit_status_signal_and_stderr(queue: TaskQueue, loops: Loops, tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    env_task = queue.enqueue('echo "$K|$TMUXORCH_TASK_ID|$TMUXORCH_TASK_ATTEMPT"; pwd', cwd=tmp_path / "here",
                             env={"K": "v=1 \"q\""})
    failing = queue.enqueue("echo bad >&2; exit 7")
    killed = queue.enqueue("kill -TERM $$")
    missing = queue.enqueue(["/no/such/program"])
    loops.start()
    results = {t.id: t for t in queue.wait([env_task.id, failing.id, killed.id, missing.id])}
    assert queue.tail(env_task.id) == f"v=1 \"q\"|{env_task.id}|1\n{tmp_path / 'here'}\n"
    ok = results[env_task.id]
    assert ok.state == "done" and ok.exit_status == 0 and ok.attempt == 1 and ok.worker == "w0"
    assert ok.started is not None and ok.ended is not None and ok.ended >= ok.started and ok.pid
    assert results[failing.id].state == "failed" and results[failing.id].exit_status == 7
    assert queue.tail(failing.id, err=True) == "bad\n"
    assert results[killed.id].signal == signal.SIGTERM and results[killed.id].exit_status is None
    assert results[missing.id].state == "failed" and results[missing.id].exit_status == 127
    assert "No such file" in queue.tail(missing.id, err=True)
    wait_until(lambda: "FAIL" in loops.output() and "ok" in loops.output(), what="pane lines")
    out = loops.output()
    assert f"run  {env_task.id}" in out and f"FAIL {failing.id} exit 7" in out


def test_tasks_run_in_fifo_order(queue: TaskQueue, loops: Loops, tmp_path: Path) -> None:
    order = tmp_path / "order"
    tasks = [queue.enqueue(f"echo {n} >> {order}") for n in range(20)]
    loops.start()
    queue.wait([t.id for t in tasks])
    assert order.read_text().split() == [str(n) for n in range(20)]


def test_malformed_files_are_quarantined_never_run(queue: TaskQueue, loops: Loops, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    Path(queue.path("queue", "aaa-half")).write_text(f"ID=aaa-half\nMODE=shell\nCMD=touch {marker}\nEXIT=x\n")
    Path(queue.path("queue", "aab-cut")).write_text(f"ID=aab-cut\nMODE=shell\nCMD=touch {marker}")
    Path(queue.path("queue", ".hidden")).write_text(f"ID=.hidden\nMODE=shell\nCMD=touch {marker}\n")
    Path(queue.path("queue", "aac-other")).write_text(f"ID=zzz\nMODE=shell\nCMD=touch {marker}\n")
    good = queue.enqueue("echo fine")
    loops.start()
    queue.wait([good.id])
    wait_until(lambda: len(os.listdir(queue.dir("quarantine"))) == 4, what="quarantine")
    assert sorted(os.listdir(queue.dir("quarantine"))) == [".hidden", "aaa-half", "aab-cut", "aac-other"]
    assert not marker.exists()
    assert os.listdir(queue.dir("queue")) == [] and os.listdir(queue.dir("running")) == []
    log = "\n".join(queue.quarantine_log())
    assert "'aaa-half'" in log and "EXIT" in log and "'aab-cut'" in log and "does not match" in log
    assert "MALFORMED aaa-half" in loops.output()
    assert [line for line in queue.health().quarantined if "aab-cut" in line]


def test_a_second_loop_for_the_same_worker_exits_at_once(queue: TaskQueue, loops: Loops) -> None:
    loops.start("w0")
    wait_until(lambda: loops.live("w0"), what="w0 live")
    second = loops.start("w0")
    assert second.wait(timeout=10) == 1
    assert "already running" in loops.output(1)
    assert [w["worker"] for w in queue.live_workers()] == ["w0"]
    assert queue.live_workers()[0]["pid"] == loops.procs[0].pid


def test_sigint_while_idle_stops_the_loop(queue: TaskQueue, loops: Loops) -> None:
    proc = loops.start()
    wait_until(lambda: loops.live(), what="live")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert not loops.live()
    assert "stopped after 0 tasks" in loops.output()


def test_stop_during_a_task_returns_it_to_the_queue_with_its_attempt(queue: TaskQueue, loops: Loops, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = queue.enqueue(f'[ "$TMUXORCH_TASK_ATTEMPT" -ge 2 ] && exit 0; echo $$ > {pidfile}; exec sleep 60')
    proc = loops.start()
    wait_until(pidfile.exists, what="task started")
    pid = int(wait_until(lambda: pidfile.read_text().strip(), what="pid written"))
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    assert not pid_alive(pid)
    back = queue.get(task.id)
    assert back.state == "queue" and back.attempt == 1 and back.exit_status is None and back.worker is None
    loops.start()
    finished = queue.wait([task.id])[0]
    assert finished.state == "done" and finished.attempt == 2


def test_nothing_is_claimed_while_a_stop_is_under_way(queue: TaskQueue, loops: Loops) -> None:
    """tasks-stop raises a flag before its C-c: a task one loop puts back must not be taken (and
    its attempt counted again) by a loop whose C-c has not arrived yet."""
    Path(queue.stopping_flag).touch()
    task = queue.enqueue("true")
    loops.start()  # its first look at the queue finds the task, and the flag
    wait_until(lambda: "tasks-stop under way: claiming nothing" in loops.output(), what="the loop holding back")
    assert queue.get(task.id).state == "queue"
    Path(queue.stopping_flag).unlink()
    assert queue.wait([task.id])[0].state == "done"


def test_cancel_a_running_task_kills_its_whole_process_group(queue: TaskQueue, loops: Loops, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (f"trap '' TERM; sleep 300 & echo $! >> {pids}; sh -c 'sleep 300' & echo $! >> {pids}; "
              f"echo $$ >> {pids}; wait")
    task = queue.enqueue(script)
    loops.start("w0", "--grace", "0.5")
    wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 3, what="three pids")
    started = [int(p) for p in pids.read_text().split()]
    assert all(pid_alive(pid) for pid in started)
    cancelled = queue.cancel(task.id, grace=0.5)
    assert cancelled.state == "failed" and cancelled.cancelled
    wait_until(lambda: not any(pid_alive(pid) for pid in started), timeout=10, what="all task processes gone")
    assert not os.listdir(queue.dir("cancel"))
    after = queue.enqueue("echo still working")
    assert queue.wait([after.id])[0].state == "done"


def test_sigkilled_worker_leaves_a_stale_task_that_requeue_recovers(queue: TaskQueue, loops: Loops, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = queue.enqueue(f'[ "$TMUXORCH_TASK_ATTEMPT" -ge 2 ] && echo second && exit 0; echo $$ > {pidfile}; exec sleep 60')
    proc = loops.start()
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="task pid"))
    assert queue.health().stale == []
    proc.kill()
    proc.wait()
    try:
        health = queue.health()
        assert [t.id for t in health.stale] == [task.id] and not health.ok
        assert health.stale[0].worker_pid == proc.pid
        assert queue.health(requeue=True).requeued == [task.id]
        assert queue.get(task.id).state == "queue"
        loops.start()
        finished = queue.wait([task.id])[0]
        assert finished.state == "done" and finished.attempt == 2
        assert queue.tail(task.id) == "second\n"
    finally:
        if pid_alive(pid):  # the orphan of the killed loop: we started it, we end it
            os.kill(pid, signal.SIGKILL)


def test_idle_worker_picks_up_new_work_promptly(queue: TaskQueue, loops: Loops) -> None:
    loops.start()
    wait_until(lambda: loops.live(), what="live")
    delays = []
    for _ in range(5):
        task = queue.enqueue("true")
        record = queue.wait([task.id])[0]
        assert record.started is not None and record.created is not None
        delays.append(record.started - record.created)
    assert sorted(delays)[2] < 0.5, delays
