"""Shared test fixtures.

Every test runs against real tmux servers on private sockets.  The whole run happens under a
private ``TMUX_TMPDIR`` and ``HOME``; a stand-in for the user's own tmux server runs on the default
socket there, and must come out of the suite untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch.loops import PaneQueue
from pytest_tmuxorch.servers import kill_server_at, new_socket_path

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 15, what: str = "condition", interval: float = 0.01) -> T:
    """Poll ``check`` until it returns something truthy and return that; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session", autouse=True)
def users_own_tmux() -> Iterator[dict[str, str]]:
    """A private TMUX_TMPDIR and HOME (with a hostile ~/.tmux.conf), and a 'user' server on the
    default socket there.  After the run it must have the same pid, sessions and options."""
    root = Path(tempfile.mkdtemp(prefix="txo-user-", dir="/tmp"))
    home = root / "home"
    home.mkdir()
    (home / ".tmux.conf").write_text("set -g base-index 5\nset -g pane-base-index 5\nset -g prefix C-a\nunbind C-b\nset -g history-limit 7\n")
    saved = {key: os.environ.get(key) for key in ("TMUX_TMPDIR", "HOME", "TMUX", "TMUXORCH_RUNTIME_DIR")}
    os.environ.update(TMUX_TMPDIR=str(root), HOME=str(home), TMUXORCH_RUNTIME_DIR=str(root / "rt"))
    os.environ.pop("TMUX", None)
    user = ["tmux"]  # the user's default server: no -L, no -S, reads ~/.tmux.conf
    subprocess.run([*user, "new-session", "-d", "-s", "mine", "sleep 100000"], check=True)
    before = _fingerprint(user)
    try:
        yield {"root": str(root), "home": str(home)}
    finally:
        after = _fingerprint(user)
        kill_server_at(str(root / f"tmux-{os.getuid()}" / "default"))
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        leftovers = sorted(p.name for p in (root / "rt").glob("*")) if (root / "rt").exists() else []
        shutil.rmtree(root, ignore_errors=True)
        assert after == before, f"the user's own tmux server was changed:\n{before}\n{after}"
        assert not leftovers, f"tmux sockets left behind: {leftovers}"


def _fingerprint(tmux: list[str]) -> str:
    out = subprocess.run(
        [*tmux, "display-message", "-p", "#{pid} #{session_name}",
         ";", "list-windows", "-a", "-F", "#{window_id} #{window_index} #{window_name}",
         ";", "show-options", "-g", "base-index", ";", "show-options", "-g", "prefix",
         ";", "list-clients", "-F", "#{client_name}"],
        capture_output=True, text=True, timeout=10,
    )
    return out.stdout + out.stderr


@pytest.fixture
def socket_path() -> Iterator[str]:
    """A fresh private socket path; whatever server ends up on it is killed afterwards."""
    path = new_socket_path()
    yield path
    kill_server_at(path)


TRANSPORTS = os.environ.get("TMUXORCH_TEST_TRANSPORTS", "subprocess,control").split(",")


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Every test that talks to tmux runs over both transports (set TMUXORCH_TEST_TRANSPORTS to narrow)."""
    return str(request.param)


@pytest.fixture
def settings(socket_path: str, tmp_path: Path, transport: str) -> Settings:
    """Settings for a test orchestrator: private socket, clean bash, files under tmp_path."""
    return Settings(
        socket_path=socket_path, shell="bash", workers=2, timeout=10.0, transport=transport,
        tasks_dir=str(tmp_path / "tasks"), logs_dir=str(tmp_path / "logs"),
    )


@pytest.fixture
def orch(settings: Settings) -> Iterator[Orchestrator]:
    """A ready orchestrator (master + 2 workers, shells ready), torn down afterwards."""
    orchestrator = Orchestrator(settings)
    orchestrator.init()
    yield orchestrator
    orchestrator.kill()
    orchestrator.close()


@pytest.fixture
def queue(orch: Orchestrator) -> Iterator[PaneQueue]:
    """The orchestrator's task queue; its loops stopped after the test, whatever happened."""
    yield orch.tasks
    orch.tasks.stop()


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for running the console script against the test's private server."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TMUX_", "TMUXORCH_", "WORKER"))}
    env.update(
        TMUXORCH_SOCKET_PATH=settings.socket_path or "", TMUXORCH_SHELL="bash",
        TMUXORCH_LOGS_DIR=settings.logs_dir or "", TMUXORCH_TASKS_DIR=settings.tasks_dir or "",
        TMUX_TMPDIR=os.environ["TMUX_TMPDIR"], TMUXORCH_RUNTIME_DIR=os.environ["TMUXORCH_RUNTIME_DIR"],
        TMUXORCH_TRANSPORT=settings.transport,
    )
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 30, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real console script in a subprocess (``python -m pytest_tmuxorch``)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_tmuxorch", *args], env=env, capture_output=True, text=True,
        timeout=timeout, input=stdin, cwd=REPO,
    )
