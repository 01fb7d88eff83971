"""``tmuxorch watch``: a live view drawn in a real pane of the test's own orchestrator, plain
frames when stdout is not a terminal, and what a frame says."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import REPO, run_cli

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch.watch import Frame, PaneRow, RunningRow, plain, runtime


def watch_command(settings: Settings, *args: str) -> str:
    env = {"TMUXORCH_SOCKET_PATH": settings.socket_path or "", "TMUX_SESSION": settings.session,
           "TMUXORCH_TASKS_DIR": settings.tasks_dir or ""}
    words = [f"{key}={shlex.quote(value)}" for key, value in env.items()]
    return " ".join([*words, shlex.quote(sys.executable), "-m", "pytest_tmuxorch", "watch", *args])


@pytest.fixture
def busy(orch: Orchestrator) -> Iterator[list[str]]:
    """Both workers running a long task, one more task queued: their IDs."""
    queue = orch.tasks
    ids = [queue.enqueue(["sleep", "60"], id=f"long-{n}").id for n in range(3)]
    queue.start()
    yield ids
    queue.stop()


def test_watch_draws_the_session_in_a_pane_and_quits_on_ctrl_c(
        orch: Orchestrator, settings: Settings, busy: list[str]) -> None:
    pane = orch.master
    pane.send(watch_command(settings, "--interval", "0.2"))
    workers = orch.workers
    pane.wait_for(re.compile(rf"(?s)master +{pane.id} +python +alive .*worker 0 +{workers[0].id} +python3? +alive "
                             rf"+\[w0\] .*worker 1 +{workers[1].id} .*queued 1  running 2  done 0  failed 0"),
                  where="screen", timeout=30)
    pane.wait_for(re.compile(r"(?s)0/3 finished.*long-\d +w\d +\d+\.\ds +sleep 60"), where="screen", timeout=20)
    shown = pane.capture()
    assert "\x1b" not in shown and "Ctrl-C to quit" in shown
    assert sum(f"long-{n}" in shown for n in range(3)) == 2, "the running tasks, not the queued one"
    assert pane.interrupt(timeout=20) == 0, "Ctrl-C is how watch ends: a clean exit"
    history = pane.capture(history=True)
    assert "Traceback" not in history and "KeyboardInterrupt" not in history


def test_watch_shows_a_dead_pane_with_its_exit_status(orch: Orchestrator, settings: Settings) -> None:
    orch.worker(1).send("exit 3")
    pane = orch.master
    pane.send(watch_command(settings, "--interval", "0.2"))
    pane.wait_for(re.compile(r"worker 1 +%\d+ +\S+ +dead \(3\)"), where="screen", timeout=30)
    assert pane.interrupt(timeout=20) == 0


def test_plain_frames_when_stdout_is_not_a_terminal(orch: Orchestrator, cli_env: dict[str, str]) -> None:
    once = run_cli("watch", "--once", env=cli_env)
    assert once.returncode == 0 and once.stderr == "", once
    assert "\x1b" not in once.stdout
    lines = once.stdout.splitlines()
    assert lines[0].startswith("tmuxorch watch: session 'agents' on ")
    assert re.match(r"^PANE +ID +COMMAND +STATE +LAST LINE$", lines[2])
    assert re.search(r"^master +%\d+ +bash +alive +\$$", once.stdout, re.M), once.stdout
    assert re.search(r"^worker 1 +%\d+ +bash +alive", once.stdout, re.M)
    assert "tasks: queued 0  running 0  done 0  failed 0  quarantine 0" in once.stdout
    assert "[" + "#" * 30 + "] 0/0 finished, queue empty" in once.stdout

    # Without --once: one frame after the other, until interrupted.
    process = subprocess.Popen([sys.executable, "-m", "pytest_tmuxorch", "watch", "--interval", "0.1"], env=cli_env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert process.stdout is not None
        headers = 0
        for line in process.stdout:
            headers += line.startswith("tmuxorch watch: ")
            if headers == 2:
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert headers == 2 and process.returncode == 0 and err == "", err


def test_watch_errors_are_one_line(cli_env: dict[str, str]) -> None:
    done = run_cli("watch", "--once", env=cli_env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "no tmux server on socket" in done.stderr, done
    bad = run_cli("watch", "--interval", "0", env=cli_env)
    assert bad.returncode == 2 and "watch: invalid --interval '0'" in bad.stderr and bad.stderr.count("\n") == 1


def test_a_frame_in_plain_text() -> None:
    frame = Frame(
        session="s", address="/tmp/sock", taken=0.0,
        panes=[PaneRow("master", "%0", "bash", False, None, "$ make"),
               PaneRow("worker 0", "%1", "python3", True, 3, "x" * 200)],
        counts={"queue": 1, "running": 1, "done": 2, "failed": 0, "quarantine": 0},
        running=[RunningRow("t1", "w0", 75.0, "sleep 100")],
    )
    text = plain(frame, width=60)
    assert "worker 0  %1  python3  dead (3)  xxx" in text
    assert all(len(line) <= 60 for line in text.splitlines()) and "…" in text
    assert "tasks: queued 1  running 1  done 2  failed 0  quarantine 0" in text
    assert "[" + "#" * 15 + "." * 15 + "] 2/4 finished" in text
    assert re.search(r"^t1 +w0 +1m15s +sleep 100$", text, re.M)
    assert [runtime(None), runtime(4.25), runtime(185), runtime(7300)] == ["-", "4.2s", "3m05s", "2h01m"]
