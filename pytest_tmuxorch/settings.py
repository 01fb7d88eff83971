"""Configuration: one frozen :class:`Settings`, the table of its fields, and one resolver.

Every field is described once in :data:`FIELDS` (type, environment variable, console flag, help).
:func:`resolve` builds Settings from values gathered anywhere (the environment, flags, pytest's
ini keys and command line, a marker), each tagged with where it came from, and validates them
once: a bad value raises :class:`UsageError` naming its source and the value, before anything
touches tmux.  The limits and names other modules check against live here too.
"""

from __future__ import annotations

import os

from ._record import record
from .errors import UsageError

# The console script reads its settings on every start: typing and re would cost more than the
# tmux call it makes.  Type checkers read the block below; at run time the records are
# tuples with named fields built from the same field table (see _record.py).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from pathlib import Path

LAYOUTS = ("tiled", "even-horizontal", "even-vertical")
REMAIN_ON_EXIT = ("on", "off", "failed")
TRANSPORTS = ("subprocess", "control")
MAX_WORKERS = 64
MAX_SIZE = 10000  # tmux's largest window, columns or rows
DEFAULT_SIZE = (240, 72)
MAX_SOCKET_PATH = 107  # bytes of a unix socket's sun_path, less its terminating NUL
NAME_RULE = "use letters, digits, '_' and '-' (no '.', ':', '/' or spaces: tmux would rewrite or split them)"
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

# Shell presets: a name maps to the command each pane runs.  The bash and sh presets read no rc
# file of the user or the system, get the fixed prompt '$ ' and the package's shell integration
# (shell/integration.*: OSC 133 marks around prompts and commands), so screens look the same on
# every machine and the library knows when the shell is ready.
_SHELL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shell")
_CLEAN_ENV = "env -u ENV -u BASH_ENV -u PROMPT_COMMAND -u PS0 -u PS1 -u PS2 HISTFILE=/dev/null"


def _preset(shell: str) -> str:
    import shlex

    script = shlex.quote(os.path.join(_SHELL_DIR, f"integration.{shell}"))
    if shell == "bash":  # PROMPT_COMMAND sources the integration at the first prompt (no rc file read)
        return f"exec {_CLEAN_ENV} PROMPT_COMMAND={shlex.quote('. ' + script)} bash --norc --noprofile -i"
    return f"exec {_CLEAN_ENV} ENV={script} sh -i"


SHELL_PRESETS = ("clean", "bash", "sh", "user")  # "user": tmux's default, your login shell, rc files and all


def clean_shell() -> str:
    """The clean shell preset for this machine: bash if there is one, else POSIX sh.  (A look
    along PATH: shutil.which would import compression modules on every start-up.)"""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", "bash")
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return "bash"
    return "sh"


class Field:
    """One setting: its name, type, default, environment variable and console flag (if any), help."""

    __slots__ = ("default", "env", "flag", "help", "kind", "name")

    def __init__(self, name: str, kind: type, default: object, env: str, flag: str, help: str) -> None:
        self.name, self.kind, self.default, self.env, self.flag, self.help = name, kind, default, env, flag, help

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


FIELDS = (
    Field("socket", str, "claude", "TMUX_SOCKET", "--socket", "server socket name (tmux -L)"),
    Field("socket_path", str, None, "TMUXORCH_SOCKET_PATH", "--socket-path", "socket path instead (tmux -S)"),
    Field("session", str, "agents", "TMUX_SESSION", "--session", "session name"),
    Field("master_window", str, "master", "MASTER_WINDOW", "", "name of the master window"),
    Field("workers_window", str, "workers", "WORKERS_WINDOW", "", "name of the workers window"),
    Field("workers", int, 4, "WORKERS", "--workers", f"worker panes (1-{MAX_WORKERS})"),
    Field("base_index", int, 1, "TMUX_BASE_INDEX", "", "window base index"),
    Field("pane_base_index", int, 1, "TMUX_PANE_BASE_INDEX", "", "pane base index"),
    Field("history_limit", int, 50000, "TMUX_HISTORY_LIMIT", "", "scrollback lines of each pane"),
    Field("remain_on_exit", str, "on", "TMUX_REMAIN_ON_EXIT", "", "keep dead panes: on, off or failed"),
    Field("allow_rename", str, "off", "TMUX_ALLOW_RENAME", "", "let programs rename windows: on or off"),
    Field("layout", str, "tiled", "WORKER_LAYOUT", "--layout", "workers layout: " + ", ".join(LAYOUTS)),
    Field("shell", str, "clean", "TMUXORCH_SHELL", "--shell", "what panes run: clean, bash, sh, user, or a command"),
    Field("timeout", float, 10.0, "TMUXORCH_TIMEOUT", "--tmux-timeout", "seconds for each tmux call and default wait"),
    Field("tasks_dir", str, None, "TMUXORCH_TASKS_DIR", "--tasks-dir", "task queue root"),
    Field("logs_dir", str, None, "TMUXORCH_LOGS_DIR", "--logs-dir", "snapshots and pane logs"),
    Field("transport", str, "control", "TMUXORCH_TRANSPORT", "--transport", "how commands reach tmux: " + ", ".join(TRANSPORTS)),
    Field("size", tuple, DEFAULT_SIZE, "TMUXORCH_SIZE", "--size", "size of the windows, COLSxROWS (each worker pane gets its share)"),
)
FIELD_BY_NAME = {field.name: field for field in FIELDS}
OPTIONAL = frozenset({"socket_path", "tasks_dir", "logs_dir"})  # None means "not set"


if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any, NamedTuple

    class _Fields(NamedTuple):  # the same names and defaults as FIELDS (tests/test_settings.py checks)
        socket: str = "claude"
        socket_path: str | None = None
        session: str = "agents"
        master_window: str = "master"
        workers_window: str = "workers"
        workers: int = 4
        base_index: int = 1
        pane_base_index: int = 1
        history_limit: int = 50000
        remain_on_exit: str = "on"
        allow_rename: str = "off"
        layout: str = "tiled"
        shell: str = "clean"
        timeout: float = 10.0
        tasks_dir: str | None = None
        logs_dir: str | None = None
        transport: str = "control"  # a persistent connection: 10x faster round trips for long-lived use
        size: tuple[int, int] = DEFAULT_SIZE  # (columns, rows) of both windows

    class Given(NamedTuple):
        value: Any
        source: str
        text: bool = True
else:
    _Fields = record("_Fields", " ".join(field.name for field in FIELDS), defaults=tuple(field.default for field in FIELDS))
    Given = record("Given", "value source text", defaults=(True,))


class Settings(_Fields):
    """Everything an orchestrator needs to know; immutable, validated on creation.

    Built with keywords: ``Settings(socket_path=..., workers=2)``.  (A named tuple rather than a
    dataclass: the console script's start-up cannot afford importing dataclasses.)
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Settings:
        self = super().__new__(cls, *args, **kwargs)
        for name, value in zip(self._fields, self, strict=True):
            why = problem(name, value)
            if why:
                raise UsageError(f"invalid {name} {value!r}: {why}")
        if self.master_window == self.workers_window:
            raise UsageError(f"invalid window names: master and workers are both {self.master_window!r}")
        return self

    @property
    def integration(self) -> str | None:
        """The shell integration the panes' shells have: "bash", "sh", or None (the user's shell
        or any other command: the library cannot know when it is ready)."""
        shell = clean_shell() if self.shell == "clean" else self.shell
        return shell if shell in ("bash", "sh") else None

    @property
    def shell_command(self) -> str:
        """The command each pane runs ("" means tmux's default, the user's shell)."""
        if self.integration:
            return _preset(self.integration)
        return "" if self.shell == "user" else self.shell

    @property
    def tasks_root(self) -> Path:
        """Directory of the task queue: ``var/tmux/<session>/tasks`` unless configured."""
        from pathlib import Path

        return Path(self.tasks_dir) if self.tasks_dir else Path("var/tmux", self.session, "tasks")

    @property
    def logs_root(self) -> Path:
        """Directory for snapshots and pane logs: ``logs/tmux/<session>`` unless configured."""
        from pathlib import Path

        return Path(self.logs_dir) if self.logs_dir else Path("logs/tmux", self.session)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - set(self._fields)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        return Settings(**{**self._asdict(), **changes})


# --- validation: one rule per field ------------------------------------------------------------


def problem(name: str, value: Any) -> str:
    """Why ``value`` is not a valid ``name`` setting ("" when it is)."""
    if value is None and name in OPTIONAL:
        return ""
    kind = FIELD_BY_NAME[name].kind
    if kind is tuple:
        return _size(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "expected a number of seconds"
    elif isinstance(value, bool) or not isinstance(value, kind):
        return "expected a whole number" if kind is int else "expected a string"
    rule = _RULES.get(name)
    return rule(value) if rule else ""


def _word(value: str, extra: str, longest: int) -> bool:
    """``value`` is 1 to ``longest`` ASCII letters, digits, '_' and ``extra``, not starting with
    one of ``extra``."""
    allowed = _WORD | frozenset(extra)
    return 0 < len(value) <= longest and value[0] in _WORD and all(char in allowed for char in value)


def _name(value: str) -> str:
    return "" if _word(value, "-", 64) else NAME_RULE


def _size(value: Any) -> str:
    if not (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in value)):
        return "expected (columns, rows), two whole numbers"
    if not all(1 <= n <= MAX_SIZE for n in value):
        return f"columns and rows must be from 1 to {MAX_SIZE}"
    return ""


def parse_size(text: str) -> tuple[int, int] | None:
    """``"120x40"`` as ``(120, 40)``; None when it is not of that form."""
    columns, sep, rows = text.strip().lower().partition("x")
    columns, rows = columns.strip(), rows.strip()
    if not sep or not (columns.isascii() and columns.isdigit() and rows.isascii() and rows.isdigit()):
        return None
    return int(columns), int(rows)


def show_value(value: Any) -> str:
    """A setting's value as the environment and flags spell it (a size as ``COLSxROWS``)."""
    if isinstance(value, tuple):
        return "x".join(str(part) for part in value)
    return str(value)


def _range(low: int, high: int) -> Any:
    return lambda value: "" if low <= value <= high else f"must be a whole number from {low} to {high}"


def _choice(choices: tuple[str, ...]) -> Any:
    return lambda value: "" if value in choices else f"choose one of {', '.join(choices)}"


def _socket_path(value: str) -> str:
    size = len(os.fsencode(value))
    return "" if 0 < size <= MAX_SOCKET_PATH else f"must be 1 to {MAX_SOCKET_PATH} bytes (the unix socket limit)"


_RULES: dict[str, Any] = {
    "socket": lambda value: "" if _word(value, ".-", 100) else "use letters, digits, '_', '.', '-' (no '/' or spaces)",
    "socket_path": _socket_path,
    "session": _name,
    "master_window": _name,
    "workers_window": _name,
    "workers": _range(1, MAX_WORKERS),
    "base_index": _range(0, 1000),
    "pane_base_index": _range(0, 1000),
    "history_limit": _range(0, 10_000_000),
    "remain_on_exit": _choice(REMAIN_ON_EXIT),
    "allow_rename": _choice(("on", "off")),
    "layout": _choice(LAYOUTS),
    "shell": lambda value: "" if value.strip() else "empty",
    "timeout": lambda value: "" if value > 0 else "must be a positive number of seconds",
    "tasks_dir": lambda value: "" if value and "\0" not in value else "empty or contains a NUL byte",
    "logs_dir": lambda value: "" if value and "\0" not in value else "empty or contains a NUL byte",
    "transport": _choice(TRANSPORTS),
}


# --- the resolver ------------------------------------------------------------------------------


# Given(value, source, text=True): a value for one field and where it came from (see above).
# ``source`` names the value in messages: an environment variable or a flag names it by itself
# (``invalid WORKERS 'abc'``); any other source is told after the field (``invalid workers 'abc'
# from marker tmuxorch``), so it is written as ``from ...``.  ``text``: the value is text to parse
# as the field's type (from the environment, a flag, an ini file); otherwise it must already have
# the right type (a Python value, as in a marker).


def resolve(given: Mapping[str, Given], base: Settings | None = None) -> Settings:
    """Settings from ``base`` (default: the defaults) with ``given`` applied.

    Text values are parsed as the field's type; others must already have it.  The first bad
    value raises :class:`UsageError` naming its source.
    """
    values = (base or Settings())._asdict()
    for name, (value, source, text) in given.items():
        if name not in FIELD_BY_NAME:
            raise UsageError(f"unknown setting {name!r}{_suffix(source)}: use {', '.join(FIELD_BY_NAME)}")
        if isinstance(value, os.PathLike) and FIELD_BY_NAME[name].kind is str:
            value = os.fspath(value)
        if isinstance(value, list) and FIELD_BY_NAME[name].kind is tuple:
            value = tuple(value)  # size=[120, 40] in a marker reads like size=(120, 40)
        parsed, why = _parse(name, value) if text else (value, "")
        why = why or problem(name, parsed)
        if why:
            raise UsageError(f"invalid {_label(name, source)} {value!r}{_suffix(source)}: {why}")
        values[name] = parsed
    return Settings(**values)


def _parse(name: str, value: Any) -> tuple[Any, str]:
    kind = FIELD_BY_NAME[name].kind
    if not isinstance(value, str) or kind is str:
        return value, ""
    if kind is tuple:
        size = parse_size(value)
        return (size, "") if size else (value, "expected COLSxROWS, e.g. 120x40")
    try:
        return kind(value.strip()), ""
    except ValueError:
        return value, "expected a whole number" if kind is int else "expected a number of seconds"


def _label(name: str, source: str) -> str:
    return name if source.startswith("from ") else source


def _suffix(source: str) -> str:
    return f" {source}" if source.startswith("from ") else ""


def from_env(environ: Mapping[str, str] | None = None, **flags: Any) -> Settings:
    """Settings from ``environ`` (default ``os.environ``), then ``flags`` (None values ignored):
    what the console script and ``Orchestrator()`` use.  Errors name the variable or the flag."""
    environ = os.environ if environ is None else environ
    given = {field.name: Given(environ[field.env], field.env) for field in FIELDS if environ.get(field.env)}
    for name, value in flags.items():
        if value is not None:
            flag = FIELD_BY_NAME[name].flag if name in FIELD_BY_NAME else ""
            given[name] = Given(value, flag or f"--{name.replace('_', '-')}")
    return resolve(given)
