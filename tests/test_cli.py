"""The console script, run for real in a subprocess: every session subcommand and its errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli, wait_until

from pytest_tmuxorch import Orchestrator, Settings

SESSION_COMMANDS = [
    "init", "attach", "run-all", "run-one", "run-master", "status", "kill", "capture",
    "logs-on", "logs-off", "layout", "barrier-wait", "barrier-signal", "barrier-status", "watch",
]


def assert_one_line_error(done: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    assert done.returncode == status, done
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("tmuxorch: "), done.stderr
    assert text in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_help_lists_every_command_and_each_has_help(cli_env: dict[str, str]) -> None:
    top = run_cli("--help", env=cli_env)
    assert top.returncode == 0
    for name in SESSION_COMMANDS:
        assert name in top.stdout
        sub = run_cli(name, "--help", env=cli_env)
        assert sub.returncode == 0 and f"usage: tmuxorch {name}" in sub.stdout, name


def test_python_dash_m_and_console_script_agree(cli_env: dict[str, str]) -> None:
    script = Path(sys.executable).with_name("tmuxorch")
    via_script = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=cli_env, timeout=30)
    assert via_script.returncode == 0
    assert via_script.stdout == run_cli("--version", env=cli_env).stdout


def test_session_lifecycle(cli_env: dict[str, str], settings: Settings) -> None:
    created = run_cli("init", "3", env=cli_env)
    assert created.returncode == 0 and "created session 'agents' with master + 3 workers" in created.stdout
    ids_before = [s.pane_id for s in Orchestrator(settings).status()]
    again = run_cli("init", "5", env=cli_env)
    assert again.returncode == 0 and "already exists" in again.stdout
    assert [s.pane_id for s in Orchestrator(settings).status()] == ids_before

    table = run_cli("status", env=cli_env)
    assert table.returncode == 0
    assert re.search(r"^1:master\s+1\s+-\s+%\d+\s+\d+\s+bash\s+alive\s+\d+x\d+$", table.stdout, re.M), table.stdout
    rows = json.loads(run_cli("status", "--json", env=cli_env).stdout)
    assert [row["worker"] for row in rows] == [None, 0, 1, 2]
    assert [row["pane_index"] for row in rows] == [1, 1, 2, 3]
    assert {"window", "pane_id", "pid", "command", "dead", "exit_status", "width", "height"} <= set(rows[0])

    assert run_cli("run-all", "echo", "all-$((1+1))", env=cli_env).returncode == 0
    assert run_cli("run-one", "2", "--", "-n", "ignored", env=cli_env).returncode == 0
    assert run_cli("run-one", "1", "echo 'one;'", env=cli_env).returncode == 0
    assert run_cli("run-master", "echo master-$((3*3))", env=cli_env).returncode == 0
    orch = Orchestrator(settings)
    for pane in orch.workers:
        pane.wait_for(re.compile(r"^all-2$", re.M))
    orch.worker(1).wait_for(re.compile(r"^one;$", re.M))
    orch.master.wait_for(re.compile(r"^master-9$", re.M))
    orch.worker(2).wait_for(re.compile(r"-n: command not found"))
    assert "all-2" not in orch.master.capture()

    killed = run_cli("kill", env=cli_env)
    assert killed.returncode == 0 and "killed session" in killed.stdout
    assert not Path(settings.socket_path or "").exists(), "the server's socket is removed with it"
    again = run_cli("kill", env=cli_env)
    assert again.returncode == 0 and "nothing to kill" in again.stderr


@pytest.mark.parametrize(
    ("env_change", "args", "status", "text"),
    [
        ({"WORKERS": "abc"}, ["init"], 2, "invalid WORKERS 'abc'"),
        ({"WORKERS": "0"}, ["init"], 2, "invalid WORKERS '0'"),
        ({"WORKER_LAYOUT": "spiral"}, ["init"], 2, "invalid WORKER_LAYOUT 'spiral'"),
        ({"TMUX_SOCKET": "a/b", "TMUXORCH_SOCKET_PATH": ""}, ["init"], 2, "invalid TMUX_SOCKET 'a/b'"),
        ({}, ["--socket", "x/y", "init"], 2, "invalid --socket 'x/y'"),
        ({}, ["--layout", "grid", "init"], 2, "invalid --layout 'grid'"),
        ({}, ["init", "0"], 2, "invalid N '0'"),
        ({}, ["init", "many"], 2, "invalid N 'many'"),
        ({}, ["--tmux-timeout", "soon", "status"], 2, "invalid --tmux-timeout 'soon'"),
        ({}, ["no-such-command"], 2, "invalid choice: 'no-such-command'"),
        ({}, ["status"], 1, "no tmux server on socket"),
        ({}, ["run-all", "echo hi"], 1, "no tmux server on socket"),
        ({}, ["capture"], 1, "no tmux server on socket"),
        ({}, ["attach"], 1, "no tmux server on socket"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    cli_env: dict[str, str], settings: Settings, env_change: dict[str, str], args: list[str], status: int, text: str,
) -> None:
    done = run_cli(*args, env={**cli_env, **env_change})
    assert_one_line_error(done, status, text)
    assert not Path(settings.socket_path or "").exists(), "no server was started"


def test_errors_against_a_running_session(cli_env: dict[str, str], orch: Orchestrator) -> None:
    assert_one_line_error(run_cli("run-one", "2", "echo x", env=cli_env), 2, "invalid worker index 2: the session has 2 workers (0-1)")
    assert_one_line_error(run_cli("run-one", "-1", "echo x", env=cli_env), 2, "invalid worker index -1")
    assert_one_line_error(run_cli("run-one", "first", "echo x", env=cli_env), 2, "invalid worker index 'first'")
    assert_one_line_error(run_cli("run-all", env=cli_env), 2, "no command given")
    assert_one_line_error(run_cli("--session", "other", "status", env=cli_env), 1, "no session 'other' on tmux socket")
    assert_one_line_error(run_cli("layout", "spiral", env=cli_env), 2, "invalid layout 'spiral'")
    assert_one_line_error(run_cli("barrier-wait", "bad/name", env=cli_env), 2, "invalid barrier name 'bad/name'")
    assert_one_line_error(run_cli("barrier-wait", "b", "--timeout", "-3", env=cli_env), 2, "invalid --timeout '-3'")
    assert len(orch.status()) == 3


@pytest.mark.parametrize("layout", ["tiled", "even-horizontal", "even-vertical"])
def test_layouts(cli_env: dict[str, str], settings: Settings, layout: str) -> None:
    assert run_cli("--layout", layout, "init", "3", env=cli_env).returncode == 0
    workers = [s for s in Orchestrator(settings).status() if s.worker is not None]
    heights, widths = {s.height for s in workers}, {s.width for s in workers}
    if layout == "even-horizontal":  # side by side: full height
        assert len(heights) == 1 and sum(s.width for s in workers) + 2 == 240
    elif layout == "even-vertical":  # stacked: full width
        assert widths == {240}
    else:  # tiled: a grid, not a single row or column
        assert len(heights) > 1 or len(widths) > 1
        assert max(s.width for s in workers) < 240 or max(s.height for s in workers) < 72
    assert run_cli("layout", "even-vertical", env=cli_env).returncode == 0
    assert {s.width for s in Orchestrator(settings).status() if s.worker is not None} == {240}


def test_capture_writes_whole_scrollback(cli_env: dict[str, str], orch: Orchestrator, tmp_path: Path) -> None:
    orch.worker(1).run("seq 1 3000")
    orch.master.run("echo on-master")
    done = run_cli("capture", str(tmp_path / "snaps"), env=cli_env)
    assert done.returncode == 0
    names = sorted(Path(line).name for line in done.stdout.split())
    assert names == ["master-0.txt", "workers-0.txt", "workers-1.txt"]
    lines = (tmp_path / "snaps" / "workers-1.txt").read_text().splitlines()
    assert [line for line in lines if line.isdigit()] == [str(n) for n in range(1, 3001)]
    assert "on-master" in (tmp_path / "snaps" / "master-0.txt").read_text()


def test_capture_defaults_to_the_logs_dir(cli_env: dict[str, str], orch: Orchestrator, settings: Settings) -> None:
    assert run_cli("capture", env=cli_env).returncode == 0
    assert (Path(settings.logs_dir or "") / "snapshots" / "workers-0.txt").exists()


STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (.*)$")


def wait_lines(path: Path, wanted: str, timeout: float = 10) -> list[str]:
    def logged() -> list[str] | None:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return lines if any(line.endswith(" " + wanted) for line in lines) else None

    return wait_until(logged, timeout, what=f"{wanted!r} logged in {path}")


def test_logs_on_off_idempotent_with_utc_timestamps(cli_env: dict[str, str], orch: Orchestrator, settings: Settings) -> None:
    first = run_cli("logs-on", env=cli_env)
    second = run_cli("logs-on", env=cli_env)
    assert first.returncode == second.returncode == 0 and first.stdout == second.stdout
    log = Path(settings.logs_dir or "") / "pipes" / "workers-0.log"
    before = time.time()
    orch.run_one(0, "echo logged-$((2+3))")
    lines = wait_lines(log, "logged-5")
    assert lines.count(next(line for line in lines if line.endswith(" logged-5"))) == 1, "logged once, not twice"
    for line in lines:
        assert STAMPED.match(line), line
    stamp = next(line for line in lines if line.endswith(" logged-5"))[:23]
    logged_at = time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert abs(logged_at - before) < 60, "the timestamp is UTC"
    assert "pipes closed" in run_cli("logs-off", env=cli_env).stdout
    again = run_cli("logs-off", env=cli_env)
    assert again.returncode == 0 and "(0 pipes closed)" in again.stdout
    orch.worker(0).run("echo after-off")
    assert "after-off" not in log.read_text()


def test_barrier_wait_and_signal(cli_env: dict[str, str], orch: Orchestrator) -> None:
    waiter = subprocess.Popen(
        [sys.executable, "-m", "pytest_tmuxorch", "barrier-wait", "phase1", "--timeout", "20"],
        env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_until(lambda: waiter.poll() is not None
                   or any("@tmuxorch-waiter-phase1" in line for line in orch.tmux.run("show-options", "-s")),
                   timeout=10, what="the waiter registered")
        assert waiter.poll() is None, "the waiter ended before it registered"
        assert run_cli("barrier-signal", "phase1", env=cli_env).returncode == 0
        assert waiter.wait(timeout=10) == 0
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()


def test_barrier_wait_times_out_with_one_line(cli_env: dict[str, str], orch: Orchestrator) -> None:
    done = run_cli("barrier-wait", "never", "--timeout", "0.3", env=cli_env)
    assert_one_line_error(done, 1, "barrier 'never' was not signalled within 0.3s")
