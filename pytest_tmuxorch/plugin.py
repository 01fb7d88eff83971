"""pytest plugin entry point (``pytest11``): options, ini keys, the marker, report hooks.

Settings for a test come from one function, :func:`resolve_settings`, in a fixed order:
``@pytest.mark.tmuxorch(...)`` > ``--tmuxorch-*`` > ``tmuxorch_*`` ini keys > the defaults of
:class:`~pytest_tmuxorch.settings.Settings`.  The environment variables of the console script
(``WORKERS``, ``WORKER_LAYOUT``, ...) are deliberately *not* read here: a test suite behaves the
same whatever the shell it is started from exports.

The fixtures live in :mod:`pytest_tmuxorch.fixtures` (loaded through ``pytest_plugins``).  Every
orchestrator a fixture starts is registered on the test item (:data:`LIVE`), so that
:func:`pytest_runtest_makereport`, which runs *before* fixture teardown, can attach each pane's
screen to the report of a failed test, and mark its server to be kept with ``--tmuxorch-keep``.

Kept servers are renamed ``kept-<socket name>`` in the runtime directory: orphan reaping only ever
touches names of the ``<owner pid>.<start time>-<n>-<hex>`` form, so a kept server lives until
the user kills it (the attach and kill commands are printed); once it is dead, the next run
removes its stale socket file.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import TmuxorchError, UsageError
from .settings import ENV_VARS, MAX_SOCKET_PATH, Settings, clean_shell

if TYPE_CHECKING:
    from .orchestrator import Orchestrator

pytest_plugins = ["pytest_tmuxorch.fixtures"]

log = logging.getLogger("pytest_tmuxorch.plugin")

MARKER = "tmuxorch"
KEPT_PREFIX = "kept-"
KEPT_SECTION = "tmuxorch: kept server"
SCREEN_TAIL_LINES = 60
TASK_TAIL_LINES = 40

# Field name -> the type its values must have (the console script's table covers every field).
KINDS: dict[str, type] = {name: kind for name, kind in ENV_VARS.values()}
# The plugin owns isolation: a test may choose anything but where its server lives.
MARKER_FIELDS = tuple(name for name in KINDS if name not in ("socket", "socket_path"))


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
    Option("transport", "NAME", "how commands reach tmux: subprocess or control (default: subprocess)"),
)
KEEP_HELP = (
    "keep the tmux server of a failed test alive (renamed kept-*, never reaped) and print the command "
    "that attaches to it"
)

RUN_SETTINGS = pytest.StashKey["Settings"]()
KEEP = pytest.StashKey[bool]()
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(workers=4, layout='tiled', shell='bash', timeout=10.0, ...): settings of the orchestrators "
        f"of this test (any Settings field but socket/socket_path); overrides --tmuxorch-* and tmuxorch_* ini keys",
    )
    try:
        config.stash[RUN_SETTINGS] = resolve_settings(config)
        config.stash[KEEP] = keep_failed(config)
    except UsageError as err:
        raise pytest.UsageError(str(err)) from None
    config.stash[REAPED] = {}
    config.stash[SESSION_LIVE] = []


def resolve_settings(
    config: pytest.Config, marker: pytest.Mark | None = None, defaults: Mapping[str, Any] | None = None
) -> Settings:
    """The settings in force: ``marker`` > command line > ini > ``defaults`` > Settings' own defaults.

    Raises :class:`UsageError` naming where the bad value came from, e.g.
    ``invalid workers 'x' from marker tmuxorch: must be a whole number from 1 to 64``.
    """
    chosen: dict[str, tuple[str, Any]] = {name: ("the plugin's defaults", value) for name, value in (defaults or {}).items()}
    for option in OPTIONS:
        raw = config.getini(option.ini)
        if isinstance(raw, str) and raw.strip():
            source = f"ini key {option.ini}"
            chosen[option.name] = (source, _parse(option.name, raw.strip(), source))
    for option in OPTIONS:
        raw = config.getoption(option.ini)
        if raw is not None:
            chosen[option.name] = (option.flag, _parse(option.name, str(raw), option.flag))
    if marker is not None:
        source = f"marker {MARKER}"
        if marker.args:
            raise UsageError(f"{source} takes keyword arguments only, got {marker.args!r}")
        for name, value in marker.kwargs.items():
            if name not in MARKER_FIELDS:
                raise UsageError(f"unknown setting {name!r} in {source}: use {', '.join(MARKER_FIELDS)}")
            chosen[name] = (source, _check_type(name, value, source))
    try:
        return Settings(**{name: value for name, (_, value) in chosen.items()})
    except UsageError as err:
        raise _name_source(str(err), chosen) from None


def _parse(name: str, raw: str, source: str) -> Any:
    kind = KINDS[name]
    if kind is str:
        return raw
    try:
        return kind(raw)
    except ValueError:
        raise UsageError(f"invalid {name} {raw!r} from {source}: expected {_WORDS[kind]}") from None


_WORDS = {int: "a whole number", float: "a number of seconds", str: "a string"}


def _check_type(name: str, value: Any, source: str) -> Any:
    """Reject values of the wrong type before Settings sees them (a marker holds Python values)."""
    kind = KINDS[name]
    if isinstance(value, os.PathLike) and kind is str:
        return os.fspath(value)
    if value is None and name in ("tasks_dir", "logs_dir"):
        return None
    wanted: tuple[type, ...] = (int, float) if kind is float else (kind,)
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise UsageError(f"invalid {name} {value!r} from {source}: expected {_WORDS[kind]}")
    return value


def _name_source(text: str, chosen: Mapping[str, tuple[str, Any]]) -> UsageError:
    """Settings says ``invalid workers 0: ...``: add where the 0 came from."""
    for name, (source, value) in chosen.items():
        for head in (f"invalid {name} {value!r}", f"invalid {name}"):
            if text.startswith(head) and text[len(head):len(head) + 1] in (":", " ", ""):
                return UsageError(f"{head} from {source}{text[len(head):]}")
    sources = sorted({source for source, _ in chosen.values()})
    return UsageError(f"{text} (settings from {', '.join(sources) or 'the defaults'})")


def keep_failed(config: pytest.Config) -> bool:
    """``--tmuxorch-keep`` > ``tmuxorch_keep`` ini key > off."""
    flag = config.getoption("tmuxorch_keep")
    if flag is not None:
        return bool(flag)
    try:
        return bool(config.getini("tmuxorch_keep"))
    except (ValueError, pytest.UsageError):
        raise UsageError("invalid keep from ini key tmuxorch_keep: expected true or false") from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    if RUN_SETTINGS not in config.stash:
        return []
    settings = config.stash[RUN_SETTINGS]
    shell = f"clean({clean_shell()})" if settings.shell == "clean" else settings.shell
    lines = [
        f"tmuxorch: workers={settings.workers} layout={settings.layout} shell={shell} "
        f"timeout={settings.timeout:g}s transport={settings.transport} "
        f"keep={'on' if config.stash[KEEP] else 'off'} (a tmuxorch marker overrides these per test)"
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
    are kept servers; the stale socket files of kept servers that have since died are removed.
    Never fails the run: a runtime directory that cannot be used is reported by the fixtures.
    """
    from .sockets import reap_orphans

    done = config.stash.setdefault(REAPED, {})
    try:
        directory = checked_runtime_dir()
    except (UsageError, OSError) as err:
        log.debug("not reaping: %s", err)
        return []
    if str(directory) in done:
        return []
    try:
        reaped = reap_orphans(directory)
        _remove_dead_kept(directory)
    except (OSError, TmuxorchError) as err:
        log.debug("reaping %s: %s", directory, err)
        reaped = []
    done[str(directory)] = reaped
    return reaped


def _remove_dead_kept(directory: Path) -> None:
    from .tmux import Tmux

    for entry in directory.glob(f"{KEPT_PREFIX}*"):
        if entry.is_socket() and not Tmux(Settings(socket_path=str(entry), timeout=5)).server_running():
            entry.unlink(missing_ok=True)
            log.debug("removed the socket of a dead kept server %s", entry)


def checked_runtime_dir() -> Path:
    """The sockets' directory (created if needed), or a clear error when it is too long to use."""
    from .sockets import runtime_dir

    configured = os.environ.get("TMUXORCH_RUNTIME_DIR", "")
    # A socket name there is about 40 bytes: <pid>.<start time>-<n>-<hex>.
    if len(os.fsencode(configured)) > MAX_SOCKET_PATH - 40:
        raise UsageError(
            f"TMUXORCH_RUNTIME_DIR is {len(os.fsencode(configured))} bytes long: tmux sockets in it would "
            f"exceed the unix socket limit of {MAX_SOCKET_PATH} bytes; set it to a short directory (or unset it)"
        )
    try:
        return runtime_dir()
    except OSError as err:
        raise UsageError(
            f"cannot use the tmux runtime directory {configured or '(default)'}: {err.strerror}; "
            "set TMUXORCH_RUNTIME_DIR to a short, writable directory"
        ) from None


# --- live orchestrators, failure reports, --tmuxorch-keep --------------------------------------


@dataclass
class Live:
    """An orchestrator started by a fixture, as the report hooks see it."""

    orchestrator: Orchestrator
    label: str
    keep: bool = False
    kept_path: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def socket_path(self) -> str:
        return self.orchestrator.settings.socket_path or ""


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
    if report.failed and report.when in ("setup", "call"):
        lives = live_orchestrators(item)
        for live in lives:
            report.sections.extend(failure_sections(live))
        keep: bool = item.config.stash.get(KEEP, False)
        for live in lives if keep else []:
            report.sections.append((KEPT_SECTION, mark_kept(live)))
    return report


def failure_sections(live: Live) -> list[tuple[str, str]]:
    """One report section per pane (its screen), then the log tails of the running tasks."""
    orch = live.orchestrator
    title = live.label
    try:
        statuses = orch.status()
    except Exception as err:  # whatever broke, the real failure must still be reported
        return [(f"{title}: panes", f"could not list the panes: {err}")]
    from .panes import Pane

    sections = []
    for status in statuses:
        name = status.window if status.worker is None else f"worker {status.worker}"
        if status.worker is None and status.pane_index != orch.settings.pane_base_index:
            name += f" pane {status.pane_index}"
        try:
            screen = Pane(orch.tmux, status.pane_id).capture()
        except Exception as err:
            screen = f"could not capture the pane: {err}\n"
        state = f" [dead, exit status {status.exit_status}]" if status.dead else ""
        sections.append((f"{title}: {name} ({status.pane_id}, {status.command}){state}", _tail(screen, SCREEN_TAIL_LINES)))
    return sections + task_sections(live)


def task_sections(live: Live) -> list[tuple[str, str]]:
    """The tail of each running task's stdout and stderr; nothing when there is no queue."""
    orch = live.orchestrator
    if not orch.settings.tasks_root.is_dir():
        return []
    try:
        queue = orch.tasks
        sections = []
        for task in queue.list("running"):
            for err, stream in ((False, "stdout"), (True, "stderr")):
                text = str(queue.tail(task.id, err=err))
                if text.strip():
                    sections.append((f"{live.label}: task {task.id} {stream}", _tail(text, TASK_TAIL_LINES)))
        return sections
    except Exception as err:  # a missing or broken queue never breaks the report
        return [(f"{live.label}: tasks", f"could not read the task queue: {err!r}")]


def _tail(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text``, runs of blank lines squeezed (a dead pane's screen is
    mostly empty)."""
    kept: list[str] = []
    blanks: list[str] = []
    for line in text.strip("\n").split("\n"):
        if not line.strip():
            blanks.append("")
            continue
        kept += blanks if len(blanks) <= 2 else [f"[... {len(blanks)} blank lines ...]"]
        blanks = []
        kept.append(line)
    cut = len(kept) - lines
    head = [f"[... {cut} lines above ...]"] if cut > 0 else []
    return "\n".join(head + kept[-lines:]) + "\n"


def kept_path_for(socket_path: str) -> str:
    path = Path(socket_path)
    return str(path.with_name(KEPT_PREFIX + path.name))


def mark_kept(live: Live) -> str:
    """Keep this server after the test (renamed ``kept-*`` at teardown); return what to tell the user."""
    kept = kept_path_for(live.socket_path)
    if len(os.fsencode(kept)) > MAX_SOCKET_PATH:
        kept = live.socket_path  # renaming would make it unreachable: keep the name, the next run may reap it
        live.notes.append("socket name too long to rename: the next pytest run will reap this server")
    live.keep, live.kept_path = True, kept
    from .orchestrator import Orchestrator

    attach = shlex.join(Orchestrator(live.orchestrator.settings.replace(socket_path=kept)).attach_argv())
    lines = [
        f"{live.label}: server kept on {kept}",
        f"attach: {attach}",
        f"kill:   tmux -S {shlex.quote(kept)} kill-server; rm -f {shlex.quote(kept)}",
        *live.notes,
    ]
    return "\n".join(lines) + "\n"


def finish(live: Live) -> None:
    """Tear an orchestrator down after its test: kill its server, or keep it (``--tmuxorch-keep``)."""
    orch = live.orchestrator
    if live.keep and live.kept_path:
        orch.close()
        if live.kept_path != live.socket_path:
            try:
                os.rename(live.socket_path, live.kept_path)
            except OSError as err:
                log.debug("could not rename %s: %s", live.socket_path, err)
        log.debug("kept tmux server %s", live.kept_path)
        return
    shut_down(orch)


def shut_down(orch: Orchestrator) -> None:
    """Kill the orchestrator's whole server (every session on it), wait for it, remove its socket.

    Never raises for a server that is already gone; one that ignores ``kill-server`` is killed
    by its pid (see :meth:`~pytest_tmuxorch.tmux.Tmux.kill_server`).
    """
    from .sockets import kill_server_at

    path = orch.settings.socket_path
    if not path:
        return
    pid = None
    try:
        orch.close()
    finally:
        pid = kill_server_at(path, timeout=orch.settings.timeout)
    log.debug("killed tmux server %s on %s", pid, path)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the kept servers, with the commands that attach to them, at the end of the run."""
    seen: dict[str, None] = {}
    for kind in ("failed", "error"):
        for report in terminalreporter.stats.get(kind, []):
            for name, content in getattr(report, "sections", []):
                if name == KEPT_SECTION:
                    seen.setdefault(f"{report.nodeid}\n{content}", None)
    if seen:
        terminalreporter.write_sep("=", "tmuxorch kept servers")
        for text in seen:
            for line in text.rstrip("\n").split("\n"):
                terminalreporter.write_line(line)
