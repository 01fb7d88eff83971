"""Bad input to the console script, for real: each is one line on stderr, exit status 2 (bad usage)
or 1 (operational failure), no traceback, and nothing left behind (no server, no directory, no
file).  ``BAD_INPUTS`` is also the table of the reliability report (issue #9)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

from pytest_tmuxorch import Orchestrator, Settings


@pytest.fixture(params=["subprocess"])
def transport(request: pytest.FixtureRequest) -> str:
    """Most of these never reach tmux: one transport is enough."""
    return str(request.param)


def assert_one_line(done: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    assert done.returncode == status, done
    assert done.stderr.startswith("tmuxorch: ") and done.stderr.count("\n") == 1, done.stderr
    assert text in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for directories)."""
    return {str(path): None if path.is_dir() else path.read_bytes() for path in sorted(root.rglob("*"))}


# (arguments, environment changes, exit status, text of the message).  In arguments and values,
# {file} is an existing regular file, {queue} an initialised task queue, {long} a path too long
# for a unix socket.
BAD_INPUTS: list[tuple[list[str], dict[str, str], int, str]] = [
    (["init", "-3"], {}, 2, "init: invalid N '-3': expected a whole number from 1 to 64"),
    (["init", "0"], {}, 2, "init: invalid N '0'"),
    (["init", "65"], {}, 2, "init: invalid N '65'"),
    (["--tmux-timeout", "-5", "status"], {}, 2, "invalid --tmux-timeout '-5': must be a positive number"),
    (["status", "--tmux-timeout=abc"], {}, 2, "invalid --tmux-timeout 'abc'"),
    (["status"], {"TMUXORCH_TIMEOUT": "0"}, 2, "invalid TMUXORCH_TIMEOUT '0'"),
    (["--session", "x.y", "init", "1"], {}, 2, "invalid --session 'x.y'"),
    (["init", "1", "--session", "a:b"], {}, 2, "invalid --session 'a:b'"),
    (["init", "1"], {"MASTER_WINDOW": "m.1"}, 2, "invalid MASTER_WINDOW 'm.1'"),
    (["init", "1"], {"WORKERS_WINDOW": "w:1"}, 2, "invalid WORKERS_WINDOW 'w:1'"),
    (["init", "1"], {"MASTER_WINDOW": "same", "WORKERS_WINDOW": "same"}, 2, "master and workers are both 'same'"),
    (["--socket", "a/b", "init"], {"TMUXORCH_SOCKET_PATH": ""}, 2, "invalid --socket 'a/b'"),
    (["-S", "/nonexistent/dir/sock", "init", "1"], {}, 2, "no such directory '/nonexistent/dir'"),
    (["-S", "{file}", "init", "1"], {}, 2, "exists and is not a socket (tmux would delete it)"),
    (["-S", "{long}", "init", "1"], {}, 2, "must be 1 to 107 bytes"),
    (["--layout", "grid", "init"], {}, 2, "invalid --layout 'grid'"),
    (["--transport", "pigeon", "status"], {}, 2, "invalid --transport 'pigeon'"),
    (["no-such-command"], {}, 2, "invalid choice: 'no-such-command'"),
    (["status"], {}, 1, "no tmux server on socket"),
    (["run-one", "0", "echo hi"], {}, 1, "no tmux server on socket"),
    (["barrier-wait", "b", "--timeout", "-5"], {}, 2, "barrier-wait: invalid --timeout '-5'"),
    (["tasks-clean", "--keep", "abc"], {}, 2, "tasks-clean: invalid --keep 'abc': expected a whole number >= 0"),
    (["tasks-clean", "--hours", "-1"], {}, 2, "tasks-clean: invalid --hours '-1'"),
    (["tasks-clean"], {}, 2, "one of the arguments --hours --keep is required"),
    (["tasks-tail", "x", "-n", "-2"], {}, 2, "tasks-tail: invalid --lines '-2'"),
    (["tasks-wait", "--timeout", "0"], {}, 2, "tasks-wait: invalid --timeout '0'"),
    (["tasks-enqueue", "-d", "{file}", "--", "true"], {}, 2, "not a directory"),
    (["tasks-enqueue", "-d", "/no/such/dir", "--", "true"], {}, 2, "no such directory"),
    (["tasks-enqueue", "-i", "../x", "--", "true"], {}, 2, "invalid task ID '../x'"),
    (["tasks-enqueue", "-e", "1X=y", "--", "true"], {}, 2, "invalid environment variable name '1X'"),
    (["tasks-enqueue"], {}, 2, "no command given"),
    (["tasks-list", "bogus"], {}, 2, "unknown state 'bogus'"),
    (["tasks-cancel", "nope"], {}, 2, "no task 'nope'"),
    (["tasks-retry", "nope"], {}, 2, "no task 'nope'"),
    (["worker", "/nonexistent/qq", "w0"], {}, 2, "no task queue at '/nonexistent/qq'"),
    (["worker", "{queue}", "../w"], {}, 2, "invalid worker ID '../w'"),
    (["tasks-init"], {"TMUXORCH_TASKS_DIR": "{file}/tasks"}, 1, "Not a directory"),
    (["tasks-enqueue", "--", "true"], {"TMUXORCH_TASKS_DIR": "{file}/tasks"}, 1, "Not a directory"),
]


@pytest.mark.parametrize(("args", "env_change", "status", "text"), BAD_INPUTS,
                         ids=[" ".join(args) or "-" for args, *_ in BAD_INPUTS])
def test_bad_input_is_one_line_and_leaves_nothing(
    args: list[str], env_change: dict[str, str], status: int, text: str,
    cli_env: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    place = {"file": str(tmp_path / "file"), "queue": str(tmp_path / "queue"), "long": "/tmp/" + "s" * 110}
    (tmp_path / "file").write_text("precious\n")
    for name in ("queue", "queue/queue"):
        (tmp_path / name).mkdir()
    before = tree(tmp_path)
    env = {**cli_env, **{key: value.format(**place) for key, value in env_change.items()}}
    assert_one_line(run_cli(*[arg.format(**place) for arg in args], env=env), status, text)
    assert tree(tmp_path) == before, "something was created or changed"
    assert not os.path.lexists(settings.socket_path or ""), "a server was started"
    assert not os.path.exists("/nonexistent")


def test_bad_input_against_a_session(orch: Orchestrator, cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_one_line(run_cli("capture", str(tmp_path / "file"), env=cli_env), 2, "is not a directory")
    assert_one_line(run_cli("capture", "/proc/x", env=cli_env), 1, "cannot write the snapshots to /proc/x")
    env = dict(cli_env, TMUXORCH_LOGS_DIR=str(tmp_path / "file" / "logs"))
    assert_one_line(run_cli("logs-on", env=env), 1, "Not a directory")
    assert_one_line(run_cli("--session", "other", "status", env=cli_env), 1, "no session 'other'")
    assert (tmp_path / "file").read_text() == "x"
    assert len(orch.status()) == 3


def test_a_shell_that_cannot_start_leaves_no_session(cli_env: dict[str, str], settings: Settings) -> None:
    done = run_cli("--shell", "/no/such/shell", "init", "1", env=cli_env)
    assert_one_line(done, 1, "has exited")
    assert not os.path.lexists(settings.socket_path or ""), "the session (and its server) was left behind"


def test_malformed_task_file_without_cmd_is_named_as_such(cli_env: dict[str, str], settings: Settings) -> None:
    queue_dir = Path(settings.tasks_dir or "") / "queue"
    assert run_cli("tasks-init", env=cli_env).returncode == 0
    (queue_dir / "nocmd").write_text("ID=nocmd\nMODE=shell")
    done = run_cli("tasks-health", env=cli_env)
    assert done.returncode == 0 and "no CMD= line" in done.stdout and "cut short" not in done.stdout, done


@pytest.fixture
def help_texts(cli_env: dict[str, str]) -> Iterator[dict[str, str]]:
    from pytest_tmuxorch.cli.commands import all_commands

    yield {name: run_cli(name, "--help", env=cli_env).stdout for name, *_ in all_commands()}


def test_subcommand_help_is_about_the_subcommand(help_texts: dict[str, str], cli_env: dict[str, str]) -> None:
    for name, text in help_texts.items():
        assert text.startswith(f"usage: tmuxorch {name} [-h]"), text
        assert "--socket-path" not in text and "$TMUX_SESSION" not in text, f"{name} lists the settings"
        assert "see 'tmuxorch --help'" in text, name
    assert "[100]" in help_texts["tasks-tail"] and "[$WORKERS, 4]" in help_texts["init"]
    assert "[--tmux-timeout, 10]" in help_texts["barrier-wait"]
    assert "--socket-path" in run_cli("--help", env=cli_env).stdout
    # the settings are still accepted after the subcommand
    done = run_cli("tasks-paths", "--tasks-dir", "/tmp/elsewhere", "--json", env=cli_env)
    assert done.returncode == 0 and "/tmp/elsewhere/queue" in done.stdout, done
