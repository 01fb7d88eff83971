"""Isolation: the user's config, server and environment never leak in; attach really attaches."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import REPO, run_cli, wait_until

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch._proc import pid_alive
from pytest_tmuxorch.servers import kill_server_at, new_socket_path
from pytest_tmuxorch.tmux import Tmux
from pytest_tmuxorch.transport import SubprocessTransport


def test_users_tmux_conf_changes_nothing(cli_env: dict[str, str], settings: Settings) -> None:
    home = Path(os.environ["HOME"])
    assert "base-index 5" in (home / ".tmux.conf").read_text()  # the hostile config is in place
    xdg = home / ".config" / "tmux"
    xdg.mkdir(parents=True, exist_ok=True)
    (xdg / "tmux.conf").write_text("set -g pane-base-index 7\nset -g remain-on-exit off\n")
    assert run_cli("init", "2", env=cli_env).returncode == 0
    orch = Orchestrator(settings)
    statuses = orch.status()
    assert [(s.window_index, s.pane_index) for s in statuses] == [(1, 1), (2, 1), (2, 2)]
    assert orch.tmux.run("show-options", "-gv", "prefix") == ["C-b"]
    assert orch.tmux.run("show-options", "-gv", "history-limit") == ["50000"]
    assert orch.tmux.run("show-options", "-gv", "remain-on-exit") == ["on"]
    assert orch.tmux.run("show-window-options", "-gv", "allow-rename") == ["off"]
    bindings = "\n".join(orch.tmux.run("list-keys", "-T", "prefix"))
    assert "detach-client" in bindings


def test_history_limit_is_in_force_for_every_window(settings: Settings) -> None:
    with Orchestrator(settings.replace(history_limit=1234, base_index=0, pane_base_index=3)) as orch:
        limits = orch.tmux.run("list-panes", "-s", "-t", "=agents", "-F", "#{history_limit}")
        assert limits == ["1234"] * 3
        assert [s.pane_index for s in orch.status()] == [3, 3, 4]
        assert orch.worker(0).id == orch.status()[1].pane_id
        orch.run_one(1, "echo second")
        orch.worker(1).wait_for("second")


def test_named_socket_lives_under_tmux_tmpdir(settings: Settings) -> None:
    name = f"txo-test-{os.getpid()}"
    orch = Orchestrator(settings.replace(socket_path=None, socket=name, workers=1))
    try:
        orch.init()
        expected = Path(os.environ["TMUX_TMPDIR"], f"tmux-{os.getuid()}", name)
        assert orch.tmux.socket_file == str(expected) and expected.is_socket()
    finally:
        orch.kill()
    assert not expected.exists()


def test_kill_leaves_the_server_when_other_sessions_remain(settings: Settings) -> None:
    first = Orchestrator(settings.replace(session="one", workers=1))
    second = Orchestrator(settings.replace(session="two", workers=1))
    first.init()
    second.init()
    assert first.kill()
    assert second.exists() and not first.exists()
    assert second.kill()
    assert not second.tmux.server_running()


HEAVY = ("pytest", "_pytest", "libtmux", "filelock", "json", "argparse", "subprocess", "typing", "threading")


@pytest.mark.parametrize("argv", [["status"], ["status", "--json"], ["run-one", "0", "echo", "quick"],
                                  ["--session", "agents", "run-all", "echo", "hi"], ["run-master", "--", "-n"]])
def test_common_commands_start_without_heavy_imports(orch: Orchestrator, cli_env: dict[str, str], argv: list[str]) -> None:
    """argparse, subprocess, typing and friends cost more than the command: the quick parser and
    the lean start-up path leave them out (json only once --json asks for it)."""
    code = (
        "import sys\nfrom pytest_tmuxorch.cli import main\n"
        f"status = main({argv!r})\n"
        f"print(status, sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    env = {key: value for key, value in cli_env.items() if key != "TMUXORCH_TRANSPORT"}  # the script's own default
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30)
    wanted = ["json"] if "--json" in argv else []
    assert done.stdout.strip().splitlines()[-1] == f"0 {wanted}", done


def test_the_installed_console_script_is_the_lean_one(orch: Orchestrator, cli_env: dict[str, str]) -> None:
    """The script installed beside the interpreter is ours, not a wrapper generated from an entry
    point (pip's imports re, enum, functools and collections first)."""
    ours = REPO / "scripts" / "tmuxorch"
    installed = Path(sys.executable).parent / "tmuxorch"
    assert installed.read_text().split("\n", 1)[1] == ours.read_text().split("\n", 1)[1]
    env = {key: value for key, value in cli_env.items() if key != "TMUXORCH_TRANSPORT"}

    def imported(*argv: str) -> set[str]:
        done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, env=env,
                              timeout=30)
        assert done.returncode == 0, done
        return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}

    # beyond what the interpreter imports anyway (an editable install's import finder imports re)
    added = imported(str(installed), "status") - imported("-c", "pass")
    assert "pytest_tmuxorch.cli" in added
    assert not added & {"re", "enum", "argparse", "subprocess", "typing"}, sorted(added)


def test_help_and_errors_still_come_from_argparse(cli_env: dict[str, str]) -> None:
    done = run_cli("status", "--bogus", env=cli_env)
    assert (done.returncode, done.stderr.strip()) == (2, "tmuxorch: unrecognized arguments: --bogus")
    done = run_cli("run-one", "--help", env=cli_env)
    assert done.returncode == 0 and "worker index, 0-based" in done.stdout


def terminal_clients(orch: Orchestrator, field: str = "#{session_name}") -> list[str]:
    """Clients with a terminal (our own control-mode connection is attached too)."""
    lines = orch.tmux.run("list-clients", "-F", f"#{{?client_control_mode,,{field}}}")
    return [line for line in lines if line]


def test_attach_really_attaches(settings: Settings, cli_env: dict[str, str]) -> None:
    """Run `tmuxorch attach` in a pane of a second private server: it has a real terminal there."""
    with Orchestrator(settings.replace(workers=1)) as orch:
        outer = Orchestrator(Settings(socket_path=new_socket_path(), session="outer", shell="bash", workers=1))
        try:
            outer.init()
            env_words = " ".join(f"{k}={v!r}" for k, v in cli_env.items() if k.startswith(("TMUX", "HOME")))
            outer.worker(0).send(f"cd {REPO} && env {env_words} {sys.executable} -m pytest_tmuxorch attach")

            wait_until(lambda: terminal_clients(orch) == ["agents"], what="a client on the orchestrator's server")
            orch.tmux.run("detach-client", "-t", terminal_clients(orch, "#{client_name}")[0])
            outer.worker(0).wait_for("[detached", timeout=10)
        finally:
            outer.kill()
            kill_server_at(outer.settings.socket_path or "")


def test_attach_inside_the_same_server_switches_client(settings: Settings) -> None:
    with Orchestrator(settings.replace(workers=1)) as orch:
        other = Orchestrator(settings.replace(session="other", workers=1))
        other.init()
        outer = Orchestrator(Settings(socket_path=new_socket_path(), session="outer", shell="bash", workers=1))
        try:
            outer.init()
            outer.worker(0).send(f"{' '.join(orch.attach_argv())}")
            wait_until(lambda: bool(terminal_clients(orch)), what="the client")
            # From inside the orchestrator's own server, attach switches that client instead.
            script = f"cd {REPO} && TMUXORCH_SOCKET_PATH={settings.socket_path} TMUX_SESSION=other {sys.executable} -m pytest_tmuxorch attach"
            orch.worker(0).send(script)
            wait_until(lambda: terminal_clients(orch) == ["other"], what="switch-client")
            orch.tmux.run("detach-client", "-t", terminal_clients(orch, "#{client_name}")[0])
        finally:
            outer.kill()
            other.kill()


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_clean_shells_ignore_rc_files_and_env(settings: Settings, shell: str, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path(os.environ["HOME"])
    (home / ".bashrc").write_text("echo BASHRC-WAS-READ\n")
    (home / ".profile").write_text("echo PROFILE-WAS-READ\n")
    envfile = home / "envfile"
    envfile.write_text("echo ENV-WAS-READ\n")
    monkeypatch.setenv("ENV", str(envfile))
    monkeypatch.setenv("BASH_ENV", str(envfile))
    monkeypatch.setenv("PROMPT_COMMAND", "echo PROMPT-COMMAND-RAN")
    with Orchestrator(settings.replace(shell=shell, workers=1)) as orch:
        result = orch.worker(0).run("echo ready")
        text = orch.worker(0).capture(history=True)
        assert result.output == "ready\n"
        assert text.startswith("$ ")
        for leak in ("BASHRC-WAS-READ", "PROFILE-WAS-READ", "ENV-WAS-READ", "PROMPT-COMMAND-RAN"):
            assert leak not in text


class DropsKillServer:
    """A real transport that loses ``kill-server``: the server outlives the command."""

    def __init__(self, inner: SubprocessTransport) -> None:
        self.inner = inner

    def execute(self, commands: Sequence[Sequence[str]], timeout: float) -> list[list[str]]:
        kept = [command for command in commands if list(command) != ["kill-server"]]
        outputs = self.inner.execute(kept, timeout) if kept else []
        return outputs + [[] for _ in range(len(commands) - len(kept))]

    def wait_activity(self, pane_id: str, timeout: float, attempt: int) -> None:
        self.inner.wait_activity(pane_id, timeout, attempt)

    def close(self) -> None:
        self.inner.close()


def test_a_server_that_outlives_kill_server_is_killed_by_its_pid(settings: Settings) -> None:
    with Orchestrator(settings.replace(workers=1)):
        tmux = Tmux(settings, DropsKillServer(SubprocessTransport(Tmux(settings).base_argv())))
        pid = tmux.server_pid()
        assert pid is not None
        assert tmux.kill_server(timeout=0.5) == pid
        assert not pid_alive(pid)
        assert not Path(settings.socket_path or "").exists()


def test_libtmux_object_model_on_the_private_server(orch: Orchestrator) -> None:
    server = orch.libtmux
    assert [session.session_name for session in server.sessions] == [orch.settings.session]
    pane = orch.worker(1)
    assert pane.libtmux.pane_id == pane.id
    pane.libtmux.send_keys("echo via-libtmux-$((40 + 2))")
    pane.wait_for("via-libtmux-42")
    window = server.sessions[0].new_window(window_name="extra", attach=False)
    assert "extra" in {status.window for status in orch.status()}
    window.kill()
    assert "extra" not in {status.window for status in orch.status()}
