"""The fixtures of pytest-tmuxorch: thin wrappers over the plain functions and the factory below.

Every server lives on a fresh socket from :func:`~pytest_tmuxorch.servers.new_socket_path`
(unique per test and per xdist worker, short whatever ``--basetemp`` is), starts with the
product's own tmux config (never ``~/.tmux.conf``), and is killed after its test, whatever
happened; an orchestrator is registered on its test item *before* it starts, so a failed start
still gets its panes into the report and its server torn down.
"""

from __future__ import annotations

import itertools
import os
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._log import get_logger
from .errors import TmuxorchError, UsageError
from .plugin import LIVE, RECORD, SESSION_LIVE, reap_once, resolve_settings
from .servers import keep_server, kept_path_for, kill_server_at, new_socket_path, runtime_dir
from .settings import Settings

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

    from .loops import PaneQueue
    from .orchestrator import Orchestrator
    from .tmux import Tmux

log = get_logger("pytest_tmuxorch.fixtures")


@dataclass
class Live:
    """An orchestrator started by a fixture, as the report hooks and its teardown see it."""

    orchestrator: Orchestrator
    label: str
    kept_path: str | None = None  # set when --tmuxorch-keep keeps this server after a failure

    @property
    def socket_path(self) -> str:
        return self.orchestrator.settings.socket_path or ""

    def mark_kept(self) -> str:
        """Keep this server after the test (its socket renamed ``kept-*`` at teardown); return
        what to tell the user."""
        self.kept_path = kept = kept_path_for(self.socket_path)
        attach = shlex.join(self.orchestrator.attach_argv(socket_path=kept))
        lines = [
            f"{self.label}: server kept on {kept}",
            f"attach: {attach}",
            f"kill:   tmux -S {shlex.quote(kept)} kill-server; rm -f {shlex.quote(kept)}",
        ]
        if kept == self.socket_path:
            lines.append("socket name too long to rename: the next pytest run will reap this server")
        return "\n".join(lines) + "\n"

    def finish(self) -> None:
        """Tear down after the test: kill the server, or keep it (``--tmuxorch-keep``).

        The kill goes over the orchestrator's own connection (no new tmux process); whatever goes
        wrong there, the server is killed by its socket as a last resort."""
        if self.kept_path:
            self.orchestrator.close()
            keep_server(self.socket_path, self.kept_path)
            return
        if not self.socket_path:
            self.orchestrator.close()
            return
        try:
            pid = self.orchestrator.tmux.kill_server()
        except (TmuxorchError, OSError) as err:
            log.debug("killing tmux server %s: %s", self.socket_path, err)
            pid = None
        finally:
            self.orchestrator.close()
        if os.path.exists(self.socket_path):
            pid = kill_server_at(self.socket_path, timeout=self.orchestrator.settings.timeout)
        log.debug("killed tmux server %s on %s", pid, self.socket_path)


# --- plain functions ---------------------------------------------------------------------------


def new_test_socket_path(config: pytest.Config) -> str:
    """A fresh socket path for one server; reaps dead runs' servers first (once per process)."""
    reap_once(config)
    return new_socket_path(runtime_dir())


def settings_for(node: pytest.Item | pytest.Session, directory: Path, marker: pytest.Mark | None) -> Settings:
    """Resolved settings (marker > CLI > ini > defaults) with a fresh socket and files in ``directory``."""
    defaults = {"tasks_dir": str(directory / "tasks"), "logs_dir": str(directory / "logs")}
    settings = resolve_settings(node.config, marker, defaults)
    return settings.replace(socket_path=new_test_socket_path(node.config))


def start_orchestrator(
    settings: Settings, label: str, lives: list[Live], addfinalizer: Callable[[Callable[[], None]], None],
    init: bool = True, record: bool = True,
) -> Orchestrator:
    """An orchestrator on ``settings``, registered in ``lives`` and torn down by the finalizer;
    with ``init``, the session is created and every shell is ready before this returns, and with
    ``record`` too, each pane's recording starts with its screen then (control transport only)."""
    from .orchestrator import Orchestrator

    orchestrator = Orchestrator(settings)
    live = Live(orchestrator, label)
    lives.append(live)

    def teardown() -> None:
        try:
            live.finish()
        finally:
            lives.remove(live)

    addfinalizer(teardown)
    if init:
        orchestrator.init()
        if record and settings.transport == "control":
            from .artifacts import start_recordings

            start_recordings(orchestrator.tmux, [status.pane_id for status in orchestrator.status()])
    return orchestrator


class OrchestratorFactory:
    """Makes orchestrators for one test, each on its own private server, all torn down after it.

    ``factory(**changes)`` takes any :class:`Settings` field but the socket; files of the n-th
    orchestrator go under ``<tmp_path>/tmuxorch-<n>/``.  ``init=False`` returns it unstarted.
    """

    def __init__(
        self, base: Settings, directory: Path, config: pytest.Config, lives: list[Live],
        addfinalizer: Callable[[Callable[[], None]], None],
    ) -> None:
        self.base = base
        self.directory = directory
        self.config = config
        self.created: list[Orchestrator] = []
        self._lives = lives
        self._addfinalizer = addfinalizer
        self._numbers = itertools.count()

    def __call__(self, *, init: bool = True, **changes: Any) -> Orchestrator:
        if {"socket", "socket_path"} & changes.keys():
            raise UsageError("tmuxorch_factory chooses the socket itself: do not pass socket or socket_path")
        number = next(self._numbers)
        directory = self.directory / f"tmuxorch-{number}"
        settings = self.base.replace(
            **{"tasks_dir": str(directory / "tasks"), "logs_dir": str(directory / "logs"), **changes},
            socket_path=new_test_socket_path(self.config),
        )
        orchestrator = start_orchestrator(settings, f"tmuxorch_factory[{number}]", self._lives, self._addfinalizer, init,
                                          recording(self.config))
        self.created.append(orchestrator)
        return orchestrator


def recording(config: pytest.Config) -> bool:
    """Whether recordings may be written (``--tmuxorch-record`` is not ``off``)."""
    return config.stash.get(RECORD, "failed") != "off"


def _failing_usage(build: Callable[[], Settings]) -> Settings:
    """Bad settings fail the test with their one-line message (no traceback into the plugin)."""
    try:
        return build()
    except UsageError as err:
        message = str(err)
    pytest.fail(message, pytrace=False)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def tmuxorch_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings of this test's orchestrators: @pytest.mark.tmuxorch(...) > --tmuxorch-* > tmuxorch_* ini > defaults.

    A fresh private socket (unique per test and xdist worker), the task queue in tmp_path/'tasks'
    and logs in tmp_path/'logs'.  Override this fixture to change the settings of a whole module;
    a server started on this socket by hand is killed after the test.
    """
    node = request.node
    settings = _failing_usage(lambda: settings_for(node, tmp_path, node.get_closest_marker("tmuxorch")))
    yield settings
    if settings.socket_path and Path(settings.socket_path).exists():
        kill_server_at(settings.socket_path)


@pytest.fixture
def tmuxorch(request: pytest.FixtureRequest, tmuxorch_settings: Settings) -> Orchestrator:
    """A ready Orchestrator for this test: isolated tmux server, master + N worker panes, shells ready.

    Configure it with @pytest.mark.tmuxorch(workers=2, layout="even-vertical", shell="bash"),
    --tmuxorch-* options or tmuxorch_* ini keys.  Panes run a clean shell (no rc files, prompt '$ ').
    Torn down after the test whatever happened; on failure every pane's screen is in the report.
    """
    settings = tmuxorch_settings
    if not settings.socket_path:  # an overridden tmuxorch_settings must never reach a shared server
        settings = settings.replace(socket_path=new_test_socket_path(request.config))
    lives = request.node.stash.setdefault(LIVE, [])
    return start_orchestrator(settings, "tmuxorch", lives, request.addfinalizer, record=recording(request.config))


@pytest.fixture
def tmuxorch_factory(request: pytest.FixtureRequest, tmuxorch_settings: Settings, tmp_path: Path) -> OrchestratorFactory:
    """Make several orchestrators, or ones with custom settings: tmuxorch_factory(workers=1, session="b").

    Each call returns a ready Orchestrator on its own private server (init=False: not started),
    based on this test's settings; all are torn down after the test.
    """
    lives = request.node.stash.setdefault(LIVE, [])
    return OrchestratorFactory(tmuxorch_settings, tmp_path, request.config, lives, request.addfinalizer)


@pytest.fixture
def tmuxorch_server(request: pytest.FixtureRequest, tmuxorch_settings: Settings) -> Iterator[Tmux]:
    """A bare isolated tmux server: a Tmux runner on a fresh private socket, no session yet.

    The server starts with the first command that creates a session, e.g.
    tmuxorch_server.run("new-session", "-d", "-s", "demo"); it reads the product's tmux config,
    never ~/.tmux.conf.  It is killed after the test (and its socket removed).
    """
    from .orchestrator import Orchestrator

    settings = _failing_usage(lambda: tmuxorch_settings.replace(socket_path=new_test_socket_path(request.config)))
    live = Live(Orchestrator(settings), "tmuxorch_server")
    yield live.orchestrator.tmux
    live.finish()


@pytest.fixture
def tmuxorch_tasks(tmuxorch: Orchestrator) -> PaneQueue:
    """The task queue of the tmuxorch orchestrator, rooted in the test's tmp_path/'tasks'.

    enqueue(["echo", "hi"], env={...}, cwd=...), start(), wait([ids], timeout=...), list("all"),
    tail(id), cancel/retry/health/clean: see the README.
    """
    return tmuxorch.tasks


@pytest.fixture(scope="session")
def tmuxorch_session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Orchestrator:
    """One Orchestrator shared by every test of the run (one per xdist worker): started once.

    Settings from --tmuxorch-* and tmuxorch_* ini keys (markers do not apply); tests see each
    other's panes, so leave them as you found them.  Killed at the end of the session.
    """
    session = request.session
    directory = tmp_path_factory.mktemp("tmuxorch-session")
    settings = _failing_usage(lambda: settings_for(session, directory, None))
    lives = session.config.stash.setdefault(SESSION_LIVE, [])
    return start_orchestrator(settings, "tmuxorch_session", lives, request.addfinalizer, record=recording(session.config))


@pytest.fixture
def tmuxorch_snapshot(request: pytest.FixtureRequest) -> SnapshotAssertion:
    """syrupy's ``snapshot``, storing screens as text and styles with an SVG picture alongside:
    ``assert pane.screen() == tmuxorch_snapshot``; ``pytest --snapshot-update`` writes them.

    Needs syrupy (``pip install 'pytest-tmuxorch[snapshot]'``); loaded only by the tests using it.
    """
    if not request.config.pluginmanager.hasplugin("syrupy"):
        pytest.fail("tmuxorch_snapshot needs syrupy and its pytest plugin: pip install 'pytest-tmuxorch[snapshot]'",
                    pytrace=False)
    from .snapshot import ScreenExtension

    snapshot: SnapshotAssertion = request.getfixturevalue("snapshot")
    return snapshot.use_extension(ScreenExtension)
