"""The pytest plugin, seen from a user's test suite (pytester): fixtures, settings, reports, keep.

Inner runs are in-process (``runpytest``) unless processes or signals are involved; those live in
``test_plugin_processes.py``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch._proc import pid_alive, wait_pid_gone
from pytest_tmuxorch.fixtures import Live
from pytest_tmuxorch.servers import kept_path_for, kill_server_at
from pytest_tmuxorch.tmux import CONFIG_FILE

LIBTMUX_NAMES = {
    "server", "session", "session_params", "config_file", "home_path", "user_path", "zshrc",
    "clear_env", "TestServer", "control_mode",
}
OUR_FIXTURES = {"tmuxorch", "tmuxorch_settings", "tmuxorch_factory", "tmuxorch_server", "tmuxorch_tasks", "tmuxorch_session",
                "tmuxorch_snapshot"}

# An inner conftest: every orchestrator a test sees is written down, to check its teardown later.
RECORDER = """
import pytest
from pathlib import Path

@pytest.fixture
def record(request):
    def write(orch):
        pid = orch.tmux.server_pid()
        with open(Path(str(request.config.rootpath)) / "servers.txt", "a") as out:
            out.write(f"{orch.settings.socket_path} {pid}\\n")
    return write
"""


def recorded(pytester: pytest.Pytester) -> list[tuple[str, int]]:
    lines = (pytester.path / "servers.txt").read_text().split("\n")
    return [(path, int(pid)) for path, pid in (line.split(" ") for line in lines if line)]


def assert_all_gone(servers: list[tuple[str, int]]) -> None:
    for path, pid in servers:
        assert not pid_alive(pid), f"tmux server {pid} on {path} is still running"
        assert not Path(path).exists(), f"socket {path} left behind"


# --- fixtures: availability, docstrings, teardown ----------------------------------------------


def test_fixtures_are_listed_with_their_docstrings_and_never_take_libtmux_names(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    text = result.stdout.str()
    ours = re.search(r"-+ fixtures defined from pytest_tmuxorch\.fixtures -+\n(.*?)(\n-+ |\Z)", text, re.S)
    assert ours, text
    names = set(re.findall(r"^(\w+)(?: \[session scope\])? -- ", ours.group(1), re.M))
    assert names == OUR_FIXTURES
    assert not names & LIBTMUX_NAMES
    assert "A ready Orchestrator for this test: isolated tmux server" in text
    assert "A bare isolated tmux server" in text
    assert "One Orchestrator shared by every test of the run" in text
    assert "Make several orchestrators, or ones with custom settings" in text
    # libtmux's own plugin is loaded alongside, its fixtures untouched
    assert re.search(r"^session -- .*libtmux", text, re.M), text


def test_every_server_is_gone_after_its_test_whatever_happened(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECORDER + """
@pytest.fixture
def broken(tmuxorch, record):
    record(tmuxorch)
    raise RuntimeError("fixture broke after the orchestrator started")
""")
    pytester.makepyfile(test_life="""
import pytest

@pytest.mark.tmuxorch(workers=1)
def test_passes(tmuxorch, record):
    record(tmuxorch)
    assert tmuxorch.worker(0).run("echo $((6 * 7))").output.strip() == "42"

@pytest.mark.tmuxorch(workers=2)
def test_fails(tmuxorch, record):
    record(tmuxorch)
    assert False

@pytest.mark.tmuxorch(workers=1)
def test_fixture_error(broken):
    pass

@pytest.mark.tmuxorch(workers=1)
def test_factory(tmuxorch_factory, record):
    one, two = tmuxorch_factory(), tmuxorch_factory(workers=2, session="other")
    record(one)
    record(two)
    assert one.settings.socket_path != two.settings.socket_path
    assert one.settings.tasks_root != two.settings.tasks_root
    assert [len(one.workers), len(two.workers)] == [1, 2]
    two.tmux.run("new-session", "-d", "-s", "extra")  # a second session: the whole server must still go

def test_session_scoped_1(tmuxorch_session, record):
    record(tmuxorch_session)
    tmuxorch_session.worker(0).send("export SHARED=yes")

def test_session_scoped_2(tmuxorch_session):
    assert tmuxorch_session.worker(0).run("echo $SHARED").output.strip() == "yes"

@pytest.mark.tmuxorch(workers=1)
def test_tasks_fixture(tmuxorch_tasks, tmp_path):
    task = tmuxorch_tasks.enqueue(["echo", "from a task"], env={"K": "V"})
    tmuxorch_tasks.start()
    (done,) = tmuxorch_tasks.wait([task.id], timeout=20)
    assert (done.state, tmuxorch_tasks.tail(task.id)) == ("done", "from a task\\n")
    assert tmuxorch_tasks.root == tmp_path / "tasks"

def test_bare_server(tmuxorch_server, tmp_path):
    tmuxorch_server.run("new-session", "-d", "-s", "demo")
    pid = tmuxorch_server.server_pid()
    import pathlib
    with open(pathlib.Path(__file__).parent / "servers.txt", "a") as out:
        out.write(f"{tmuxorch_server.settings.socket_path} {pid}\\n")
    # the product's config, never ~/.tmux.conf (pytester's HOME has one setting base-index 5)
    assert tmuxorch_server.run("show-options", "-gv", "base-index") == ["0"]
    assert tmuxorch_server.run("show-options", "-gv", "status") == ["off"]
""")
    (pytester.path / ".tmux.conf").write_text("set -g base-index 5\nset -g status on\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=1, errors=1)
    servers = recorded(pytester)
    assert len(servers) == 7
    assert len({path for path, _ in servers}) == 7
    assert_all_gone(servers)


def test_overriding_tmuxorch_settings_customises_and_stays_isolated(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
import pytest
from pytest_tmuxorch import Settings

@pytest.fixture
def tmuxorch_settings(tmp_path):
    return Settings(workers=1, session="custom", tasks_dir=str(tmp_path / "q"))  # no socket_path given
""")
    pytester.makepyfile("""
import os

def test_custom(tmuxorch, tmp_path):
    assert tmuxorch.settings.socket_path.startswith(os.environ["TMUXORCH_RUNTIME_DIR"] + "/")
    assert (len(tmuxorch.workers), tmuxorch.settings.session) == (1, "custom")
    assert tmuxorch.settings.tasks_root == tmp_path / "q"
""")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_clean_shell_no_rc_files_no_user_tmux_conf(pytester: pytest.Pytester) -> None:
    home = pytester.path  # pytester's HOME
    for rc in (".bashrc", ".bash_profile", ".profile"):
        (home / rc).write_text("echo RC-FILE-READ\nPS1='custom> '\n")
    (home / ".tmux.conf").write_text("set -g pane-base-index 7\nset -g history-limit 3\n")
    pytester.makepyfile("""
import pytest

@pytest.mark.tmuxorch(workers=2)
def test_clean(tmuxorch):
    for pane in [tmuxorch.master, *tmuxorch.workers]:
        assert pane.capture() == "$ \\n"
    result = tmuxorch.worker(1).run("[[ $PS1 == *custom* ]] || echo ours; echo ${BASH_ENV:-none}; shopt -q login_shell || echo not-login")
    assert result.output.split() == ["ours", "none", "not-login"]
    assert [s.pane_index for s in tmuxorch.status()] == [1, 1, 2]
    assert tmuxorch.tmux.run("show-options", "-gv", "history-limit") == ["50000"]
    assert tmuxorch.worker(0).run("echo $TMUX").output.startswith(tmuxorch.settings.socket_path + ",")
""")
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)
    assert "RC-FILE-READ" not in result.stdout.str()


# --- settings: precedence, validation, header ---------------------------------------------------


SHOW_SETTINGS = """
import pytest

def show(settings):
    return f"{settings.workers} {settings.layout} {settings.shell} {settings.timeout:g}"

def test_run_level(tmuxorch_settings):
    print("RUN", show(tmuxorch_settings))
    assert tmuxorch_settings.session == "agents"

@pytest.mark.tmuxorch(workers=1, timeout=2.5)
def test_marked(tmuxorch_settings, tmp_path):
    print("MARKED", show(tmuxorch_settings))
    assert tmuxorch_settings.tasks_root == tmp_path / "tasks"
    assert tmuxorch_settings.logs_root == tmp_path / "logs"
"""


@pytest.mark.parametrize(
    ("ini", "args", "run", "marked"),
    [
        ("", [], "4 tiled clean 10", "1 tiled clean 2.5"),
        ("tmuxorch_workers = 3\ntmuxorch_layout = even-vertical\ntmuxorch_shell = sh\n", [],
         "3 even-vertical sh 10", "1 even-vertical sh 2.5"),
        ("tmuxorch_workers = 3\ntmuxorch_layout = even-vertical\n",
         ["--tmuxorch-workers=2", "--tmuxorch-timeout", "7", "--tmuxorch-shell=sh"],
         "2 even-vertical sh 7", "1 even-vertical sh 2.5"),
    ],
    ids=["defaults", "ini", "cli-over-ini"],
)
def test_settings_precedence_marker_cli_ini_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ini: str, args: list[str], run: str, marked: str
) -> None:
    # the console script's variables never reach a test suite's settings
    for name, value in {"WORKERS": "7", "WORKER_LAYOUT": "even-horizontal", "TMUXORCH_SHELL": "user",
                        "TMUXORCH_TIMEOUT": "99", "TMUX_SESSION": "leaked"}.items():
        monkeypatch.setenv(name, value)
    pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-s", *args)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*RUN {run}", f"*MARKED {marked}"])
    workers, layout, shell, timeout = run.split()
    shell = "clean(bash)" if shell == "clean" else shell
    result.stdout.fnmatch_lines([
        f"tmuxorch: workers={workers} layout={layout} shell={shell} timeout={timeout}s transport=control keep=off*"
    ])


@pytest.mark.parametrize(
    ("ini", "args", "message"),
    [
        ("", ["--tmuxorch-workers=abc"], "invalid workers 'abc' from --tmuxorch-workers: expected a whole number"),
        ("", ["--tmuxorch-workers=0"], "invalid workers '0' from --tmuxorch-workers: must be a whole number from 1 to 64"),
        ("", ["--tmuxorch-timeout=soon"], "invalid timeout 'soon' from --tmuxorch-timeout: expected a number of seconds"),
        ("", ["--tmuxorch-transport=pigeon"], "invalid transport 'pigeon' from --tmuxorch-transport: choose one of*"),
        ("tmuxorch_layout = diagonal", [], "invalid layout 'diagonal' from ini key tmuxorch_layout: choose one of*"),
        ("tmuxorch_timeout = -1", [], "invalid timeout '-1' from ini key tmuxorch_timeout: must be a positive*"),
        ("tmuxorch_keep = perhaps", [], "invalid keep from ini key tmuxorch_keep: expected true or false"),
    ],
)
def test_bad_cli_and_ini_values_are_usage_errors_naming_their_source(
    pytester: pytest.Pytester, ini: str, args: list[str], message: str
) -> None:
    pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("workers='x'", "invalid workers 'x' from marker tmuxorch: expected a whole number"),
        ("workers=99", "invalid workers 99 from marker tmuxorch: must be a whole number from 1 to 64"),
        ("layout='diagonal'", "invalid layout 'diagonal' from marker tmuxorch: choose one of tiled, *"),
        ("timeout='soon'", "invalid timeout 'soon' from marker tmuxorch: expected a number of seconds"),
        ("shell=3", "invalid shell 3 from marker tmuxorch: expected a string"),
        ("socket_path='/tmp/x'", "unknown setting 'socket_path' in marker tmuxorch: use session, *"),
        ("2", "marker tmuxorch takes keyword arguments only, got (2,)"),
    ],
)
def test_bad_marker_values_fail_the_test_naming_the_marker(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(f"""
import pytest

@pytest.mark.tmuxorch({marker})
def test_x(tmuxorch):
    pass
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_x*", message])
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.tmuxorch(workers=4, layout='tiled', shell='bash', timeout=10.0, ..., size=(240, 72)):*"])
    pytester.makepyfile("""
import pytest

@pytest.mark.tmuxorch(workers=1)
def test_x():
    pass
""")
    pytester.runpytest("--strict-markers", "-p", "no:cacheprovider").assert_outcomes(passed=1)


# --- failure reports ------------------------------------------------------------------------------


def test_failed_test_report_shows_every_pane_and_running_task_logs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest

@pytest.mark.tmuxorch(workers=2)
def test_fails(tmuxorch, tmuxorch_factory):
    tmuxorch.run_master("echo on-the-master")
    tmuxorch.worker(1).send("printf 'left-on-%s\\\\n' worker-one")
    tmuxorch.worker(1).wait_for("left-on-worker-one")
    other = tmuxorch_factory(workers=1)
    other.worker(0).send("echo from-the-factory")
    other.worker(0).wait_for("from-the-factory\\n")
    tmuxorch.tasks.start()
    task = tmuxorch.tasks.enqueue("echo task-is-talking; echo task-complains >&2; sleep 60")
    import time
    deadline = time.monotonic() + 10
    while "task-complains" not in tmuxorch.tasks.tail(task.id, err=True):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert False, "the real failure"

@pytest.mark.tmuxorch(workers=1, shell="exit 3")
def test_setup_fails(tmuxorch):
    pass
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, errors=1)
    out = result.stdout.str()
    assert "AssertionError: the real failure" in out
    result.stdout.fnmatch_lines([
        "*- tmuxorch: master (%*, bash) -*",
        "*echo on-the-master",
        "on-the-master",
        "*- tmuxorch: worker 0 (%*) -*",
        "*- tmuxorch: worker 1 (%*) -*",
        "left-on-worker-one",
        "*- tmuxorch: task * stdout -*",
        "task-is-talking",
        "*- tmuxorch: task * stderr -*",
        "task-complains",
        "*- tmuxorch_factory[[]0[]]: master (%*, bash) -*",
        "*- tmuxorch_factory[[]0[]]: worker 0 (%*, bash) -*",
        "from-the-factory",
    ])
    # a start that fails: the dead panes are reported in the setup error
    result.stdout.fnmatch_lines(["*ERROR at setup of test_setup_fails*", "*pane %* exited*",
                                 "*- tmuxorch: worker 0 (%*) [[]dead, exit status 3[]] -*"])


# --- --tmuxorch-keep ------------------------------------------------------------------------------


def test_keep_leaves_failed_servers_alive_and_prints_how_to_attach(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECORDER)
    pytester.makepyfile("""
import pytest

@pytest.mark.tmuxorch(workers=1, session="inspect-me")
def test_fails(tmuxorch, record):
    record(tmuxorch)
    tmuxorch.worker(0).send("echo look-here")
    tmuxorch.worker(0).wait_for("look-here\\n")
    assert False

@pytest.mark.tmuxorch(workers=1)
def test_passes(tmuxorch, record):
    record(tmuxorch)
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tmuxorch-keep")
    kept: list[str] = []
    try:
        result.assert_outcomes(passed=1, failed=1)
        out = result.stdout.str()
        kept = re.findall(r"^tmuxorch: server kept on (\S+)$", out, re.M)
        assert len(set(kept)) == 1
        (failed_socket, failed_pid), passed = recorded(pytester)
        assert_all_gone([passed])
        assert kept[0] == str(Path(failed_socket).with_name("kept-" + Path(failed_socket).name))
        assert not Path(failed_socket).exists()
        attach = f"tmux -S {kept[0]} -f {CONFIG_FILE} attach-session -t =inspect-me"
        result.stdout.fnmatch_lines(["*= tmuxorch kept servers =*", "test_keep*.py::test_fails", f"*attach: {attach}"])
        # the pytest process that owned it is gone, yet a later run does not reap a kept server
        pytester.makepyfile(test_later="def test_later(): pass")
        pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_later.py").assert_outcomes(passed=1)
        assert pid_alive(failed_pid)
        kept_view = Orchestrator(Settings(socket_path=kept[0], session="inspect-me"))
        assert "look-here" in kept_view.worker(0).capture()
        kept_view.close()
    finally:
        for path in kept:
            kill_server_at(path)
    assert not any(Path(path).exists() for path in kept)


def test_keep_from_ini_and_stale_kept_socket_removed_by_next_run(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntmuxorch_keep = true\n")
    pytester.makepyfile("""
import pytest

@pytest.mark.tmuxorch(workers=1)
def test_fails(tmuxorch):
    assert False
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    kept = re.findall(r"^tmuxorch: server kept on (\S+)$", result.stdout.str(), re.M)
    try:
        assert len(set(kept)) == 1
        result.stdout.fnmatch_lines(["tmuxorch: *keep=on*"])
        tmux = Orchestrator(Settings(socket_path=kept[0])).tmux
        pid = tmux.server_pid()
        assert pid is not None
        tmux.run("kill-server")  # the user kills it as told, but only with tmux: the file stays
        wait_pid_gone(pid, 10)
    except BaseException:
        for path in kept:
            kill_server_at(path)
        raise
    assert Path(kept[0]).is_socket()  # tmux cannot unlink a socket it no longer knows the name of
    pytester.makeini("[pytest]\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "nothing")
    assert not Path(kept[0]).exists()


# --- libtmux's plugin, side by side ------------------------------------------------------------------


def test_coexists_with_libtmux_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import os
import pytest

@pytest.mark.tmuxorch(workers=1)
def test_both(session, server, tmuxorch):
    window = session.new_window(window_name="libtmux-side")
    assert window.window_name == "libtmux-side"
    assert tmuxorch.worker(0).run("echo orchestrated").output.strip() == "orchestrated"
    assert server.socket_name.startswith("libtmux_test")
    assert tmuxorch.settings.socket_path.startswith(os.environ["TMUXORCH_RUNTIME_DIR"] + "/")
    assert not any(s.session_name == "agents" for s in server.sessions)
    assert [s.window for s in tmuxorch.status()] == ["master", "workers"]
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_report_header_names_the_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider", "--tmuxorch-workers=2", "--tmuxorch-layout=even-horizontal")
    result.stdout.fnmatch_lines([
        "tmuxorch: workers=2 layout=even-horizontal shell=clean(bash) timeout=10s transport=control keep=off size=240x72 "
        "(a tmuxorch marker overrides these per test)"
    ])
    assert os.environ["TMUXORCH_RUNTIME_DIR"]  # the suite's private runtime dir is what the runs use


# --- the plain functions under the fixtures ------------------------------------------------------------


def test_start_and_finish_register_and_log(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    from pytest_tmuxorch.fixtures import start_orchestrator

    caplog.set_level(logging.DEBUG, logger="pytest_tmuxorch.fixtures")
    lives: list[Live] = []
    finalizers: list[Callable[[], None]] = []
    orch = start_orchestrator(settings.replace(workers=1), "unit", lives, finalizers.append)
    pid = orch.tmux.server_pid()
    assert pid is not None and [live.orchestrator for live in lives] == [orch]
    finalizers.pop()()
    assert lives == [] and not pid_alive(pid) and not Path(orch.settings.socket_path or "").exists()
    assert f"killed tmux server {pid} on {settings.socket_path}" in caplog.text


def test_a_kept_server_is_renamed_and_logged(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    from pytest_tmuxorch.fixtures import start_orchestrator

    caplog.set_level(logging.DEBUG, logger="pytest_tmuxorch.servers")
    lives: list[Live] = []
    finalizers: list[Callable[[], None]] = []
    orch = start_orchestrator(settings.replace(workers=1), "unit", lives, finalizers.append)
    message = lives[0].mark_kept()
    kept = kept_path_for(settings.socket_path or "")
    try:
        assert message.splitlines()[0] == f"unit: server kept on {kept}"
        finalizers.pop()()
        assert not Path(settings.socket_path or "").exists() and Path(kept).is_socket()
        assert Orchestrator(settings.replace(socket_path=kept)).exists()
        assert f"kept tmux server {kept}" in caplog.text
    finally:
        kill_server_at(kept)
    assert orch.settings.socket_path == settings.socket_path
