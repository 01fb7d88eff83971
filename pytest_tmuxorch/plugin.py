"""pytest plugin entry point (``pytest11``): options, ini keys, the marker and report hooks only.

Settings for a test come from :func:`resolve_settings`, in a fixed order:
``@pytest.mark.tmuxorch(...)`` > ``--tmuxorch-*`` > ``tmuxorch_*`` ini keys > the defaults of
:class:`~pytest_tmuxorch.settings.Settings`.  The environment variables of the console script
(``WORKERS``, ``WORKER_LAYOUT``, ...) are deliberately *not* read here: a test suite behaves the
same whatever the shell it is started from exports.

The fixtures live in :mod:`pytest_tmuxorch.fixtures`; what a failure report shows is built by
:mod:`pytest_tmuxorch.report`; servers are reaped and kept by :mod:`pytest_tmuxorch.servers`.
Every orchestrator a fixture starts is registered on its test item (:data:`LIVE`), so that
:func:`pytest_runtest_makereport`, which runs *before* fixture teardown, can attach each pane's
screen to the report of a failed test and mark its server to be kept with ``--tmuxorch-keep``.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._log import get_logger
from .errors import TmuxorchError, UsageError
from .settings import FIELD_BY_NAME, Given, Settings, clean_shell, resolve, show_value

if TYPE_CHECKING:
    from .fixtures import Live

pytest_plugins = ["pytest_tmuxorch.fixtures"]

log = get_logger("pytest_tmuxorch.plugin")

MARKER = "tmuxorch"
KEPT_SECTION = "tmuxorch: kept server"
# The plugin owns isolation: a test may choose anything but where its server lives.
MARKER_FIELDS = tuple(name for name in FIELD_BY_NAME if name not in ("socket", "socket_path"))


@dataclass(frozen=True)
class Option:
    """One run-level setting: ``--tmuxorch-<name>`` on the command line, ``tmuxorch_<name>`` in ini."""

    name: str
    metavar: str
    help: str

    @property
    def flag(self) -> str:
        return f"--tmuxorch-{self.name}"

    @property
    def ini(self) -> str:
        return f"tmuxorch_{self.name}"


OPTIONS = (
    Option("workers", "N", "worker panes of each orchestrator (default: 4)"),
    Option("layout", "NAME", "layout of the workers window: tiled, even-horizontal or even-vertical (default: tiled)"),
    Option("shell", "SHELL", "what the panes run: clean (bash if installed, else sh), bash or sh (all with no rc "
                             "files and the prompt '$ '), user (your login shell), or a command (default: clean)"),
    Option("timeout", "SECONDS", "seconds allowed for each tmux call and for waits without a timeout (default: 10)"),
    Option("transport", "NAME", "how commands reach tmux: subprocess or control (default: control)"),
    Option("size", "COLSxROWS", "size of each orchestrator's windows, e.g. 120x40 (default: 240x72)"),
)
KEEP_HELP = (
    "keep the tmux server of a failed test alive (renamed kept-*, never reaped) and print the command "
    "that attaches to it"
)
RECORD_MODES = ("failed", "always", "off")
RECORD_HELP = (
    "when to write each pane's asciicast recording (.cast, control transport only): failed (the "
    "tests that fail, default), always, or off"
)
ARTIFACTS_HELP = (
    "directory for the screenshots (.svg) and recordings (.cast) of failed tests, one folder per "
    "test (default: tmuxorch-artifacts under pytest's basetemp)"
)
ARTIFACTS_PROPERTY = "tmuxorch_artifacts"  # in report.user_properties: where a test's files went

RUN_SETTINGS = pytest.StashKey[Settings]()
KEEP = pytest.StashKey[bool]()
RECORD = pytest.StashKey[str]()
ARTIFACTS = pytest.StashKey["Path | None"]()
REAPED = pytest.StashKey[dict[str, list[str]]]()
SESSION_LIVE = pytest.StashKey[list["Live"]]()
LIVE = pytest.StashKey[list["Live"]]()


# --- options and configuration -----------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tmuxorch", "tmuxorch: isolated tmux servers with worker panes")
    for option in OPTIONS:
        group.addoption(option.flag, dest=option.ini, metavar=option.metavar, default=None, help=option.help)
        parser.addini(option.ini, option.help, type="string", default="")
    group.addoption("--tmuxorch-keep", dest="tmuxorch_keep", action="store_true", default=None, help=KEEP_HELP)
    parser.addini("tmuxorch_keep", KEEP_HELP, type="bool", default=False)
    group.addoption("--tmuxorch-record", dest="tmuxorch_record", metavar="WHEN", default=None, help=RECORD_HELP)
    parser.addini("tmuxorch_record", RECORD_HELP, type="string", default="")
    group.addoption("--tmuxorch-artifacts", dest="tmuxorch_artifacts", metavar="DIR", default=None, help=ARTIFACTS_HELP)
    parser.addini("tmuxorch_artifacts", ARTIFACTS_HELP, type="string", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(workers=4, layout='tiled', shell='bash', timeout=10.0, ..., size=(240, 72)): settings of the orchestrators "
        f"of this test (any Settings field but socket/socket_path); overrides --tmuxorch-* and tmuxorch_* ini keys",
    )
    try:
        config.stash[RUN_SETTINGS] = resolve_settings(config)
        config.stash[KEEP] = keep_failed(config)
        config.stash[RECORD] = record_mode(config)
        config.stash[ARTIFACTS] = artifacts_option(config)
    except UsageError as err:
        raise pytest.UsageError(str(err)) from None
    config.stash[REAPED] = {}
    config.stash[SESSION_LIVE] = []


def resolve_settings(
    config: pytest.Config, marker: pytest.Mark | None = None, defaults: Mapping[str, Any] | None = None
) -> Settings:
    """The settings in force: ``marker`` > command line > ini > ``defaults`` > Settings' own defaults.

    Raises :class:`UsageError` naming where the bad value came from, e.g.
    ``invalid workers 'x' from marker tmuxorch: expected a whole number``.
    """
    given: dict[str, Given] = {}
    for option in OPTIONS:
        raw = config.getini(option.ini)
        if isinstance(raw, str) and raw.strip():
            given[option.name] = Given(raw.strip(), f"from ini key {option.ini}")
    for option in OPTIONS:
        raw = config.getoption(option.ini)
        if raw is not None:
            given[option.name] = Given(str(raw), f"from {option.flag}")
    if marker is not None:
        source = f"marker {MARKER}"
        if marker.args:
            raise UsageError(f"{source} takes keyword arguments only, got {marker.args!r}")
        for name, value in marker.kwargs.items():
            if name not in MARKER_FIELDS:
                raise UsageError(f"unknown setting {name!r} in {source}: use {', '.join(MARKER_FIELDS)}")
            given[name] = Given(value, f"from {source}", text=False)  # a marker holds Python values
    return resolve(given, Settings(**defaults) if defaults else None)


def keep_failed(config: pytest.Config) -> bool:
    """``--tmuxorch-keep`` > ``tmuxorch_keep`` ini key > off."""
    flag = config.getoption("tmuxorch_keep")
    if flag is not None:
        return bool(flag)
    try:
        return bool(config.getini("tmuxorch_keep"))
    except (ValueError, pytest.UsageError):
        raise UsageError("invalid keep from ini key tmuxorch_keep: expected true or false") from None


def record_mode(config: pytest.Config) -> str:
    """``--tmuxorch-record`` > ``tmuxorch_record`` ini key > ``failed``."""
    flag = config.getoption("tmuxorch_record")
    if flag is not None:
        value = str(flag)
        label = f"invalid --tmuxorch-record {value!r}"
    else:
        value = str(config.getini("tmuxorch_record")).strip()
        if not value:
            return "failed"
        label = f"invalid record {value!r} from ini key tmuxorch_record"
    if value not in RECORD_MODES:
        raise UsageError(f"{label}: choose one of {', '.join(RECORD_MODES)}")
    return value


def artifacts_option(config: pytest.Config) -> Path | None:
    """``--tmuxorch-artifacts`` (relative to where pytest was started) > ``tmuxorch_artifacts``
    ini key (relative to the ini file) > None: a folder under basetemp, made on first use."""
    flag, ini = config.getoption("tmuxorch_artifacts"), str(config.getini("tmuxorch_artifacts")).strip()
    if flag is not None:
        if not str(flag).strip():
            raise UsageError("invalid --tmuxorch-artifacts '': expected a directory")
        return config.invocation_params.dir / Path(flag)
    if ini:
        return (config.inipath.parent if config.inipath else config.rootpath) / Path(ini)
    return None


def artifacts_dir(config: pytest.Config) -> Path:
    """Where failed tests' files go (the default is made under basetemp on first use)."""
    chosen = config.stash.get(ARTIFACTS, None)
    if chosen is not None:
        return chosen
    factory = getattr(config, "_tmp_path_factory", None)  # pytest's own, as tmp_path uses it
    if factory is not None:
        return Path(factory.getbasetemp()) / "tmuxorch-artifacts"
    import tempfile

    return Path(tempfile.gettempdir()) / "tmuxorch-artifacts"


def pytest_report_header(config: pytest.Config) -> list[str]:
    if RUN_SETTINGS not in config.stash:
        return []
    settings = config.stash[RUN_SETTINGS]
    shell = f"clean({clean_shell()})" if settings.shell == "clean" else settings.shell
    lines = [
        f"tmuxorch: workers={settings.workers} layout={settings.layout} shell={shell} "
        f"timeout={settings.timeout:g}s transport={settings.transport} "
        f"keep={'on' if config.stash[KEEP] else 'off'} size={show_value(settings.size)} "
        f"(a tmuxorch marker overrides these per test)"
    ]
    for directory, reaped in config.stash[REAPED].items():
        if reaped:
            lines.append(f"tmuxorch: reaped {len(reaped)} orphaned tmux server(s) in {directory}")
    return lines


# --- orphan reaping ----------------------------------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    reap_once(session.config)


def reap_once(config: pytest.Config) -> list[str]:
    """Reap, once per process and runtime directory, the servers whose owning process is dead.

    Servers of live processes (a concurrent run, the other xdist workers) are never touched, nor
    are kept servers.  Never fails the run: a runtime directory that cannot be used is reported
    by the fixtures.
    """
    from .servers import reap_orphans, runtime_dir

    done = config.stash.setdefault(REAPED, {})
    try:
        directory = runtime_dir()
    except UsageError as err:
        log.debug("not reaping: %s", err)
        return []
    if str(directory) in done:
        return []
    try:
        reaped = reap_orphans(directory)
    except (OSError, TmuxorchError) as err:
        log.debug("reaping %s: %s", directory, err)
        reaped = []
    done[str(directory)] = reaped
    return reaped


# --- failure reports and --tmuxorch-keep -------------------------------------------------------


def live_orchestrators(item: pytest.Item) -> list[Live]:
    """The orchestrators this test can see: its own, and the session's when it uses it."""
    own: list[Live] = item.stash.get(LIVE, [])
    shared: list[Live] = []
    if "tmuxorch_session" in getattr(item, "fixturenames", ()):
        shared = item.config.stash.get(SESSION_LIVE, [])
    return own + shared


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    failed = report.failed and report.when in ("setup", "call")
    mode = item.config.stash.get(RECORD, "failed")
    lives = live_orchestrators(item)
    if not lives or not (failed or (mode == "always" and report.when == "call")):
        return report
    from .artifacts import file_stem

    directory = artifacts_dir(item.config) / file_stem(item.nodeid)
    markers = [(time.monotonic(), f"{item.nodeid} {report.outcome}")]
    if failed:
        from .report import failure_sections

        error = call.excinfo.value if call.excinfo is not None else None
        pictures = []
        for live in lives:
            sections, evidence = failure_sections(live.orchestrator, live.label, error, directory, mode != "off", markers)
            report.sections.extend(sections)
            pictures += [(f"{live.label}: {pane.name}", pane.svg) for pane in evidence if pane.svg is not None]
        if item.config.pluginmanager.hasplugin("html"):
            add_html_extras(report, pictures)
        keep: bool = item.config.stash.get(KEEP, False)
        for live in lives if keep else []:
            report.sections.append((KEPT_SECTION, live.mark_kept()))
    else:
        record_passed(lives, directory, markers)
    if directory.is_dir():
        report.user_properties.append((ARTIFACTS_PROPERTY, str(directory)))
    return report


def record_passed(lives: list[Live], directory: Path, markers: list[tuple[float, str]]) -> None:
    """``--tmuxorch-record=always``: the recordings of a test that did not fail (no screenshots)."""
    from .artifacts import PaneEvidence, file_stem, pane_name, write

    for live in lives:
        orch = live.orchestrator
        try:
            panes = [PaneEvidence(pane_name(orch, status), status, None) for status in orch.status()]
            write(orch, panes, directory, file_stem(live.label), svg=False, markers=markers)
        except (OSError, TmuxorchError) as err:  # a test that passed does not fail for its recording
            log.debug("could not write the recordings of %s: %s", live.label, err)


def add_html_extras(report: pytest.TestReport, pictures: list[tuple[str, Path]]) -> None:
    """Embed the screenshots in pytest-html's report (its ``extras`` API, version 4)."""
    import base64
    import importlib

    extras = importlib.import_module("pytest_html.extras")
    found = list(getattr(report, "extras", []))
    for name, path in pictures:
        found.append(extras.svg(base64.b64encode(path.read_bytes()).decode("ascii"), name=name))
    report.extras = found  # type: ignore[attr-defined]


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> list[str] | None:
    """``assert screen_a == screen_b``: what differs, rows of text then cells' styles."""
    from .screen import Screen, describe_difference

    if op != "==" or not isinstance(left, Screen) or not isinstance(right, Screen):
        return None
    return [f"{left!r} == {right!r}", *describe_difference(right, left, names=("right", "left"))]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots and recordings went; list the kept servers, with the commands
    that attach to them, at the end of the run."""
    seen: dict[str, None] = {}
    folders: dict[str, set[str]] = {}
    for kind in ("failed", "error", "passed"):
        for report in terminalreporter.stats.get(kind, []):
            for name, value in getattr(report, "user_properties", []):
                if name == ARTIFACTS_PROPERTY:
                    folders.setdefault(str(Path(value).parent), set()).add(report.nodeid)
            for name, content in getattr(report, "sections", []) if kind != "passed" else []:
                if name == KEPT_SECTION:
                    seen.setdefault(f"{report.nodeid}\n{content}", None)
    for folder, tests in folders.items():
        terminalreporter.write_line(f"tmuxorch: screenshots and recordings of {len(tests)} test(s) in {folder}")
    if seen:
        terminalreporter.write_sep("=", "tmuxorch kept servers")
        for text in seen:
            for line in text.rstrip("\n").split("\n"):
                terminalreporter.write_line(line)
