"""The plugin across processes: xdist, SIGKILL and SIGINT, concurrent runs, long paths.

Runs that are killed, interrupted or held open are plain ``subprocess.Popen`` pytest runs, killed
by their pid; each test that reaps uses a private runtime directory, so other tests' servers (and
other runs on this machine) are never in its way.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_tmuxorch._proc import pid_alive
from pytest_tmuxorch.servers import kill_server_at
from pytest_tmuxorch.settings import MAX_SOCKET_PATH

# A test that starts an orchestrator, says where its server is, then waits to be released (or killed).
HOLD = """
import os, time
from pathlib import Path
import pytest

@pytest.mark.tmuxorch(workers=1)
def test_hold(tmuxorch):
    info = Path(os.environ["TXO_INFO"])
    info.with_suffix(".tmp").write_text(f"{tmuxorch.settings.socket_path} {tmuxorch.tmux.server_pid()}")
    os.replace(info.with_suffix(".tmp"), info)
    release = Path(os.environ["TXO_RELEASE"])
    deadline = time.monotonic() + 60
    while not release.exists():
        assert time.monotonic() < deadline, "never released"
        time.sleep(0.01)
"""


@pytest.fixture
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private, short TMUXORCH_RUNTIME_DIR for this test's runs; whatever is left is killed."""
    path = Path(tempfile.mkdtemp(prefix="txo-", dir="/tmp"))
    monkeypatch.setenv("TMUXORCH_RUNTIME_DIR", str(path))
    yield path
    for entry in path.iterdir():
        kill_server_at(str(entry))
    shutil.rmtree(path, ignore_errors=True)


class Holder:
    """A pytest run of HOLD in a subprocess, with the socket and pid of its server once it has one."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(test_hold=HOLD)
        self.info = pytester.path / "info.txt"
        self.release = pytester.path / "release"
        env = {**os.environ, "TXO_INFO": str(self.info), "TXO_RELEASE": str(self.release)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_hold.py"],
            cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        deadline = time.monotonic() + 30
        while not self.info.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the held run never started its server:\n{self.proc.communicate()[0]}")
            time.sleep(0.01)
        socket, pid = self.info.read_text().split()
        self.socket, self.pid = socket, int(pid)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)  # reaped: a zombie would still look like a live owner

    def finish(self, timeout: float = 30) -> str:
        out, _ = self.proc.communicate(timeout=timeout)
        return out


def test_sigkilled_run_leaves_a_server_that_the_next_run_reaps(pytester: pytest.Pytester, runtime_dir: Path) -> None:
    holder = Holder(pytester)
    assert Path(holder.socket).parent == runtime_dir
    holder.kill()  # SIGKILL: no teardown, no finalizer
    assert holder.proc.returncode == -signal.SIGKILL
    assert pid_alive(holder.pid) and Path(holder.socket).is_socket()  # the leak is real...
    pytester.makepyfile(test_next="def test_next(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_next.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"tmuxorch: reaped 1 orphaned tmux server(s) in {runtime_dir}"])
    assert not pid_alive(holder.pid)  # ... and the next run's start reaped it
    assert not Path(holder.socket).exists()


def test_interrupted_run_tears_its_servers_down(pytester: pytest.Pytester, runtime_dir: Path) -> None:
    holder = Holder(pytester)
    holder.proc.send_signal(signal.SIGINT)  # Ctrl-C: KeyboardInterrupt in the test
    out = holder.finish()
    assert holder.proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out
    assert not pid_alive(holder.pid)
    assert not Path(holder.socket).exists()
    assert list(runtime_dir.iterdir()) == []


def test_a_concurrent_runs_servers_survive_reaping(pytester: pytest.Pytester, runtime_dir: Path) -> None:
    holder = Holder(pytester)
    try:
        pytester.makepyfile(test_other="""
import pytest

@pytest.mark.tmuxorch(workers=1)
def test_other(tmuxorch):
    assert tmuxorch.worker(0).run("echo other").output == "other\\n"
""")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_other.py")
        result.assert_outcomes(passed=1)
        assert "reaped" not in result.stdout.str()
        assert pid_alive(holder.pid) and Path(holder.socket).is_socket()
    finally:
        holder.release.touch()
    out = holder.finish()
    assert holder.proc.returncode == 0, out
    assert not pid_alive(holder.pid)
    assert list(runtime_dir.iterdir()) == []


def test_xdist_hundred_tests_two_workers_no_collision(pytester: pytest.Pytester, runtime_dir: Path) -> None:
    pytester.makepyfile(test_many="""
import os
from pathlib import Path
import pytest

@pytest.mark.tmuxorch(workers=1)
@pytest.mark.parametrize("n", range(100))
def test_many(tmuxorch, n):
    result = tmuxorch.worker(0).run(f"echo $(({n} * 2)) $TMUX")
    doubled, tmux_env = result.output.split()
    assert int(doubled) == 2 * n
    assert tmux_env.startswith(tmuxorch.settings.socket_path + ",")  # the pane's own private server
    record = Path(__file__).parent / "records" / str(n)
    record.write_text(f"{os.environ['PYTEST_XDIST_WORKER']} {tmuxorch.settings.socket_path} {tmuxorch.tmux.server_pid()}")
""")
    (pytester.path / "records").mkdir()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-q")
    result.assert_outcomes(passed=100)
    records = [path.read_text().split() for path in (pytester.path / "records").iterdir()]
    assert len(records) == 100
    assert {worker for worker, _, _ in records} == {"gw0", "gw1"}
    assert len({socket for _, socket, _ in records}) == 100
    for _, socket, pid in records:
        assert not pid_alive(int(pid)) and not Path(socket).exists()
    assert list(runtime_dir.iterdir()) == []


def test_long_basetemp_keeps_sockets_short(pytester: pytest.Pytester) -> None:
    basetemp = pytester.path / ("b" * 80) / ("c" * 80) / ("d" * 80)
    basetemp.parent.mkdir(parents=True)
    pytester.makepyfile(f"""
import pytest

@pytest.mark.tmuxorch(workers=1)
def test_long(tmuxorch, tmp_path):
    assert len(str(tmp_path)) > 250
    assert len(tmuxorch.settings.socket_path) <= {MAX_SOCKET_PATH}
    assert tmuxorch.settings.tasks_root.parent == tmp_path
    assert tmuxorch.worker(0).run("echo fine").output == "fine\\n"
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--basetemp={basetemp}")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("length", [90, 300], ids=["too-long-for-a-socket", "too-long-for-a-file-name"])
def test_long_runtime_dir_is_a_clear_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, length: int) -> None:
    long_dir = "/tmp/" + "r" * (length - 5)
    monkeypatch.setenv("TMUXORCH_RUNTIME_DIR", long_dir)
    pytester.makepyfile("""
def test_needs_tmux(tmuxorch):
    pass

def test_does_not(tmp_path):
    pass
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)  # only the test that needs a server is affected
    result.stdout.fnmatch_lines([
        f"TMUXORCH_RUNTIME_DIR is {length} bytes long: tmux sockets in it would exceed the unix socket limit "
        f"of {MAX_SOCKET_PATH} bytes; set it to a short directory (or unset it)"
    ])
    assert not re.search("File name too long|Traceback", result.stdout.str())
    assert not os.path.exists(long_dir)  # refused before anything was created
