"""Faults done for real, while a task runs: ``tmuxorch kill``, ``tasks-stop``, the server or the
pane killed from outside, the worker loop SIGKILLed, its terminal hung up without a signal; a
full disk (a small tmpfs of the test's own), a read-only task queue; concurrent ``init`` and
``tasks-start``.  Each asserts that nothing runs twice at once, nothing is lost, no process is
left behind and no traceback is printed.

The probe task notices a second copy of itself: it holds a lock while it runs and writes DUP if
the lock is taken.  Its first attempt runs until something ends it; later attempts finish at once.
"""

from __future__ import annotations

import errno
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, run_cli, wait_until

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch._proc import end_session, pid_alive, session_members, start_time
from pytest_tmuxorch.tasks import Task, TaskQueue

FAULTS = ["kill", "tasks-stop", "kill-server", "kill-pane", "sigkill-loop"]


def probe(tmp_path: Path) -> str:
    runs = tmp_path / "runs"
    inner = f'echo "start $TMUXORCH_TASK_ATTEMPT" >> {runs}; [ "$TMUXORCH_TASK_ATTEMPT" -ge 2 ] || exec sleep 300'
    return (f"flock -n -E 99 {tmp_path / 'probe.lock'} sh -c {shlex.quote(inner)}; "
            f"[ $? -ne 99 ] || echo DUP >> {runs}")


def runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "runs"
    return path.read_text().splitlines() if path.exists() else []


def running(queue: TaskQueue, task_id: str) -> Task | None:
    """The task's record once it runs and its pid and start time are recorded."""
    if queue.find(task_id, quiet=True) != "running":
        return None
    task = queue.get(task_id)
    return task if task.pid_start is not None else None


@pytest.fixture
def leftovers() -> Iterator[list[Task]]:
    """Tasks whose processes are ended after the test whatever happened (a failing test must not
    leave its probe running)."""
    tasks: list[Task] = []
    yield tasks
    for task in tasks:
        end_session(task.pid or 0, task.pid_start or 0, 0, 10)


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


def pane_logs(settings: Settings) -> str:
    return "".join(path.read_text(errors="replace") for path in Path(settings.logs_dir or "").rglob("*.log"))


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_mid_task_never_runs_it_twice_at_once(
    fault: str, orch: Orchestrator, settings: Settings, cli_env: dict[str, str], tmp_path: Path,
    leftovers: list[Task],
) -> None:
    queue = orch.tasks
    orch.logs_on()  # what every pane shows, also the panes about to die
    assert run_cli("tasks-enqueue", "-i", "probe", "--", probe(tmp_path), env=cli_env).returncode == 0
    assert run_cli("tasks-start", env=cli_env).returncode == 0
    first = wait_until(lambda: running(queue, "probe"), what="the probe running")
    leftovers.append(first)
    assert first.pid is not None and first.pid_start is not None and first.worker_pid is not None
    wait_until(lambda: runs(tmp_path) == ["start 1"], what="the first attempt")
    outputs: list[str] = []
    if fault == "kill":
        done = run_cli("kill", env=cli_env)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0 and "killed session" in done.stdout, done
        assert "task probe was running: ended and returned to queue/ (attempt 1 counted)" in done.stderr, done
        assert queue.find("probe") == "queue"  # when kill returns, not later
    elif fault == "tasks-stop":
        done = run_cli("tasks-stop", env=cli_env)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0 and queue.find("probe") == "queue", done
    elif fault == "kill-server":
        subprocess.run(["tmux", "-S", settings.socket_path or "", "kill-server"], check=True, timeout=10)
        # tmux closes the panes one after another: a sibling loop whose pane is still open may
        # take the task up again (at least once, never at the same time) before its own hang-up.
        wait_until(lambda: queue.find("probe") in ("queue", "done") and not queue.live_workers(),
                   what="the loops gone, the task back in the queue (or finished by a sibling)")
    elif fault == "kill-pane":
        pane = orch.worker(int((first.worker or "w0")[1:]))
        subprocess.run(["tmux", "-S", settings.socket_path or "", "kill-pane", "-t", pane.id], check=True, timeout=10)
    else:
        os.kill(first.worker_pid, signal.SIGKILL)  # the loop this test started, by its pid
        wait_until(lambda: not pid_alive(first.worker_pid or 0), what="the loop gone")
        health = run_cli("tasks-health", env=cli_env)
        outputs.append(health.stdout + health.stderr)
        assert health.returncode == 1 and f"STILL RUNNING (pids {first.pid} " in health.stdout, health
        assert queue.find("probe") == "running", "the other loop took a task that still runs"
        fixed = run_cli("tasks-health", "--requeue", "--grace", "0.5", env=cli_env)
        outputs.append(fixed.stdout + fixed.stderr)
        assert fixed.returncode == 0 and f"requeued (after ending its processes {first.pid} " in fixed.stdout, fixed
    wait_until(lambda: not session_members(first.pid or 0, first.pid_start or 0), what="the first run's processes gone")
    if fault == "kill":
        wait_until(lambda: not queue.live_workers(), what="the old loops gone")
        assert queue.get("probe").attempt == 1 and queue.find("probe") == "queue"
    # kill, tasks-stop: the task is back in the queue; kill-server: unless a sibling finished it
    queued = queue.find("probe") == "queue"
    if fault in ("kill", "kill-server") and queued:
        assert run_cli("init", env=cli_env).returncode == 0
    if fault in ("kill", "tasks-stop") or (fault == "kill-server" and queued):
        assert run_cli("tasks-start", env=cli_env).returncode == 0
    # kill-pane, sigkill-loop: the other worker loop, still running, takes the task
    (finished,) = queue.wait(["probe"], timeout=20)
    assert finished.state == "done" and finished.attempt >= 2, finished
    if fault == "kill-server":  # a sibling may have started an attempt, then been stopped by its hang-up
        assert runs(tmp_path)[0] == "start 1" and runs(tmp_path)[-1] == f"start {finished.attempt}"
        assert "DUP" not in runs(tmp_path)
    else:
        assert finished.attempt == 2 and runs(tmp_path) == ["start 1", "start 2"]
    panes = orch.workers if orch.exists() else []  # kill-server, the task finished by a sibling: none
    no_traceback(*outputs, pane_logs(settings), *(pane.capture(history=True) for pane in panes))


def test_a_terminal_that_hangs_up_without_a_signal_stops_the_loop(tmp_path: Path, leftovers: list[Task]) -> None:
    """The pane's shell may not forward SIGHUP (or be gone): the loop watches its terminal."""
    queue = TaskQueue(tmp_path / "tasks")
    queue.enqueue(probe(tmp_path), id="probe")
    master, slave = os.openpty()
    loop = subprocess.Popen([sys.executable, "-m", "pytest_tmuxorch", "worker", str(queue.root), "w0"],
                            stdout=slave, stderr=slave, start_new_session=True, cwd=REPO)  # not its controlling tty
    os.close(slave)
    try:
        first = wait_until(lambda: running(queue, "probe"), what="the probe running")
        leftovers.append(first)
        seen = os.read(master, 65536).decode(errors="replace")
        os.close(master)  # the terminal hangs up: no SIGHUP reaches the loop (another session)
        assert loop.wait(timeout=15) == 0
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
    assert queue.find("probe") == "queue" and queue.get("probe").attempt == 1
    assert not session_members(first.pid or 0, first.pid_start or 0)
    no_traceback(seen)


def test_a_loop_whose_terminal_is_gone_starts_no_task(tmp_path: Path) -> None:
    """A loop looks at its terminal before it starts a task it claimed: the server may have been
    killed while a sibling loop puts a task back.  (That window cannot be hit on purpose from
    outside; here the terminal is gone from the start.)  The task stays queued, unrun."""
    queue = TaskQueue(tmp_path / "tasks")
    marker = tmp_path / "ran"
    queue.enqueue(f"touch {marker}", id="t")
    master, slave = os.openpty()
    os.close(master)  # hung up before the loop even starts
    loop = subprocess.Popen([sys.executable, "-m", "pytest_tmuxorch", "worker", str(queue.root), "w0"],
                            stdout=slave, stderr=slave, start_new_session=True, cwd=REPO)
    os.close(slave)
    assert loop.wait(timeout=15) == 0
    assert queue.find("t") == "queue" and queue.get("t").attempt == 0 and not marker.exists()


GHOST = "ghost"  # the same in every test running at once: the queue in the environment tells them apart


def start_stranger(queue_root: Path) -> subprocess.Popen[bytes]:
    """A process in a session of its own that no task started, with the environment a task of
    ``queue_root`` would have."""
    env = dict(os.environ, TMUXORCH_TASK_QUEUE=str(queue_root.absolute()), TMUXORCH_TASK_ID=GHOST,
               TMUXORCH_TASK_ATTEMPT="1")
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True, env=env)
    environ = Path(f"/proc/{proc.pid}/environ")  # until it execs, the child has our environment
    wait_until(lambda: b"TMUXORCH_TASK_QUEUE=" in environ.read_bytes(), what="the stranger's exec")
    return proc


@pytest.fixture
def stranger(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_stranger(tmp_path / "tasks")
    yield proc
    proc.kill()
    proc.wait()


def stale(queue: TaskQueue, task_id: str, **fields: int) -> None:
    """A task in running/ whose worker is gone (no one holds its lock)."""
    queue.init()
    queue.write_state(Task(id=task_id, command="sleep 300", attempt=1, worker="w9", **fields), "running", "fake")


def test_requeue_never_signals_a_process_it_cannot_prove_is_the_tasks(
    tmp_path: Path, stranger: subprocess.Popen[bytes],
) -> None:
    queue = TaskQueue(tmp_path / "tasks")
    started = start_time(stranger.pid) or 0
    stale(queue, "reused", pid=stranger.pid, pid_start=started - 1)  # same pid, another process
    stale(queue, "member", pid=os.getpid(), pid_start=start_time(os.getpid()) or 0)  # not a session leader
    health = queue.health()
    assert {task.id for task in health.stale} == {"reused", "member"} and health.alive == {}
    assert sorted(queue.health(requeue=True, grace=0.1).requeued) == ["member", "reused"]
    assert stranger.poll() is None and pid_alive(os.getpid())


def test_a_task_whose_pid_was_never_recorded_is_found_by_its_environment(
    tmp_path: Path, stranger: subprocess.Popen[bytes],
) -> None:
    """The loop was SIGKILLed between spawning the task and recording its pid."""
    queue = TaskQueue(tmp_path / "tasks")
    stale(queue, GHOST)
    assert queue.health().alive == {GHOST: [stranger.pid]}
    health = queue.health(requeue=True, grace=0.1)
    assert health.requeued == [GHOST] and health.ended == {GHOST: [stranger.pid]}
    assert stranger.wait(timeout=10) == -signal.SIGTERM


def test_the_same_task_id_in_another_queue_is_never_taken_for_it(tmp_path: Path) -> None:
    other = start_stranger(tmp_path / "another-queue")  # ID and attempt alike, another queue
    try:
        queue = TaskQueue(tmp_path / "tasks")
        stale(queue, GHOST)
        assert queue.health().alive == {}
        assert queue.health(requeue=True, grace=0.1).requeued == [GHOST]
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


# --- the disk: full, read-only ---------------------------------------------------------------


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs of this test's own, unmounted afterwards."""
    where = tmp_path / "disk"
    where.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
                              capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        pytest.skip("no mount command here: cannot make a small disk to fill")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    yield where
    subprocess.run(["umount", str(where)], check=True, timeout=10)  # fails if a process was left holding it


def fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as err:
        assert err.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_a_full_disk_loses_nothing_and_leaves_no_temporary_file(disk: Path, cli_env: dict[str, str]) -> None:
    env = dict(cli_env, TMUXORCH_TASKS_DIR=str(disk / "tasks"))
    queue = TaskQueue(disk / "tasks")
    before = queue.enqueue_many([f"echo {n}" for n in range(3)])
    fill(disk)
    for args, stdin in ((["--", "true"], None), (["-i", "named", "--", "true"], None), (["--stdin"], "true\ntrue\n")):
        done = run_cli("tasks-enqueue", *args, env=env, stdin=stdin)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done
        assert "No space left on device" in done.stderr and str(disk / "tasks" / "tmp") in done.stderr, done
        no_traceback(done.stderr)
    assert os.listdir(queue.dir("tmp")) == [] and len(queue.names("queue")) == 3
    with open(disk / "loop.out", "w") as out:  # a worker loop on the full disk: it still files every task
        loop = subprocess.Popen([sys.executable, "-m", "pytest_tmuxorch", "worker", str(queue.root), "w0"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        finished = queue.wait([task.id for task in before], timeout=20)
        assert {task.state for task in finished} <= {"done", "failed"} and queue.names("running") == []
        (disk / "filler").unlink()
        after = queue.enqueue("echo room again")
        assert queue.wait([after.id], timeout=20)[0].state == "done"
    finally:
        loop.send_signal(signal.SIGINT)
        assert loop.wait(timeout=15) == 0
    no_traceback((disk / "loop.out").read_text())


def test_a_read_only_queue_changes_nothing_and_says_so(disk: Path, cli_env: dict[str, str]) -> None:
    env = dict(cli_env, TMUXORCH_TASKS_DIR=str(disk / "tasks"))
    queue = TaskQueue(disk / "tasks")
    waiting = queue.enqueue("true", id="waiting")
    queue.write_state(Task(id="broken", command="false", attempt=1, exit_status=1), "failed", "t")
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True, timeout=10)
    before = {str(path): path.read_bytes() if path.is_file() else None for path in disk.rglob("*")}
    for args, status in [
        (["tasks-enqueue", "--", "true"], 1), (["tasks-cancel", waiting.id], 1), (["tasks-retry", "broken"], 1),
        (["tasks-clean", "--keep", "0"], 1), (["worker", str(queue.root), "w0"], 1), (["tasks-start"], 1),
        (["tasks-list"], 0), (["tasks-health", "--requeue"], 0), (["tasks-tail", "broken"], 0),
    ]:
        done = run_cli(*args, env=env)
        assert done.returncode == status, done
        if status:
            assert done.stderr.count("\n") == 1 and "Read-only file system" in done.stderr, done
        no_traceback(done.stdout + done.stderr)
    assert {str(path): path.read_bytes() if path.is_file() else None for path in disk.rglob("*")} == before


# --- concurrency ------------------------------------------------------------------------------


def run_at_once(env: dict[str, str], *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen([sys.executable, "-m", "pytest_tmuxorch", *args], env=env, cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for args in commands]
    done = []
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return done


def test_concurrent_inits_all_succeed_with_one_session(cli_env: dict[str, str], settings: Settings) -> None:
    results = run_at_once(cli_env, *[["init", "2"]] * 3)
    assert [done.returncode for done in results] == [0, 0, 0], [done.stderr for done in results]
    assert sum("created session" in done.stdout for done in results) == 1, results
    orch = Orchestrator(settings)
    try:
        assert orch.tmux.run("list-sessions", "-F", "#{session_name}") == [settings.session]
        assert len(orch.workers) == 2
        orch.wait_ready()
    finally:
        orch.kill()
        orch.close()


def test_a_server_another_init_is_still_starting_counts_as_no_session(
    cli_env: dict[str, str], settings: Settings
) -> None:
    # The moment a concurrent init's server is up but its session not yet made: tmux answers
    # "no current target" to anything that names a session.
    socket = settings.socket_path or ""
    subprocess.run(["tmux", "-S", socket, "-f", "/dev/null", "start-server", ";", "set", "-g", "exit-empty", "off"],
                   check=True)
    orch = Orchestrator(settings)
    try:
        assert not orch.exists()
        done = run_cli("status", env=cli_env)
        assert (done.returncode, done.stderr) == (1, f"tmuxorch: no session 'agents' on tmux socket {socket!r} "
                                                     "(run 'tmuxorch init')\n"), done
        done = run_cli("init", "1", env=cli_env)
        assert done.returncode == 0 and "created session" in done.stdout, done
        assert len(orch.workers) == 1
    finally:
        orch.tmux.kill_server()
        orch.close()


def test_concurrent_task_starts_start_one_loop_per_pane(orch: Orchestrator, cli_env: dict[str, str]) -> None:
    results = run_at_once(cli_env, *[["tasks-start"]] * 4)
    assert [done.returncode for done in results] == [0] * 4, results
    started = [done.stdout for done in results if "started worker loops" in done.stdout]
    assert started == ["started worker loops: w0 w1\n"], results
    assert sorted(info["worker"] for info in orch.tasks.live_workers()) == ["w0", "w1"]
    for pane in orch.workers:
        assert pane.capture(history=True).count("pytest_tmuxorch worker") == 1, pane.capture(history=True)
    orch.kill()
    assert not orch.tasks.live_workers()
