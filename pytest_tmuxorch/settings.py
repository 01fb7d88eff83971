"""Configuration: one frozen :class:`Settings`, read from the environment and overridden by flags.

Every value is validated here, once; a bad value raises :class:`UsageError` naming where it came
from (the variable or the flag) and the value, before anything touches tmux.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .errors import UsageError

LAYOUTS = ("tiled", "even-horizontal", "even-vertical")
REMAIN_ON_EXIT = ("on", "off", "failed")
TRANSPORTS = ("subprocess", "control")
DEFAULT_TRANSPORT = "control"  # a persistent connection: 10x faster round trips for long-lived use
MAX_WORKERS = 64
MAX_SOCKET_PATH = 107  # bytes of sun_path, less its terminating NUL (SPEC 6.10)

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

# Shell presets: a name maps to the command each pane runs.  "clean" shells read no rc file and
# get a fixed prompt, so screens look the same on every machine (SPEC 6.11).
_CLEAN_ENV = "env -u ENV -u BASH_ENV -u PROMPT_COMMAND -u PS0 HISTFILE=/dev/null PS1='$ ' PS2='> '"
SHELL_PRESETS = {
    "clean": "",  # bash when installed, else sh: resolved when used (see Settings.shell_command)
    "bash": f"exec {_CLEAN_ENV} bash --norc --noprofile -i",
    "sh": f"exec {_CLEAN_ENV} sh -i",
    "user": "",  # tmux's default: the user's login shell, rc files and all
}


def clean_shell() -> str:
    """The clean shell preset for this machine: bash if there is one, else POSIX sh."""
    import shutil

    return "bash" if shutil.which("bash") else "sh"


class _Fields(NamedTuple):
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
    transport: str = DEFAULT_TRANSPORT


class Settings(_Fields):
    """Everything an orchestrator needs to know; immutable, validated on creation.

    Built with keywords: ``Settings(socket_path=..., workers=2)``.  (A typed named tuple rather
    than a dataclass: the console script's start-up cannot afford importing dataclasses.)
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Settings:
        self = super().__new__(cls, *args, **kwargs)
        self._validate()
        return self

    def _validate(self) -> None:
        _check_name("socket", self.socket)
        if self.socket_path is not None:
            _check_socket_path(self.socket_path)
        for name in ("session", "master_window", "workers_window"):
            _check_name(name, getattr(self, name))
        if self.master_window == self.workers_window:
            raise UsageError(f"invalid window names: master and workers are both {self.master_window!r}")
        _check_range("workers", self.workers, 1, MAX_WORKERS)
        _check_range("base_index", self.base_index, 0, 1000)
        _check_range("pane_base_index", self.pane_base_index, 0, 1000)
        _check_range("history_limit", self.history_limit, 0, 10_000_000)
        _check_choice("remain_on_exit", self.remain_on_exit, REMAIN_ON_EXIT)
        _check_choice("allow_rename", self.allow_rename, ("on", "off"))
        _check_choice("layout", self.layout, LAYOUTS)
        _check_choice("transport", self.transport, TRANSPORTS)
        if not self.shell.strip() and self.shell != "":
            raise UsageError("invalid shell: empty")
        if not self.timeout > 0:
            raise UsageError(f"invalid timeout {self.timeout!r}: must be a positive number of seconds")

    @property
    def shell_command(self) -> str:
        """The command each pane runs ("" means tmux's default, the user's shell)."""
        shell = clean_shell() if self.shell == "clean" else self.shell
        return SHELL_PRESETS.get(shell, shell)

    @property
    def tasks_root(self) -> Path:
        """Directory of the task queue (SPEC 4): ``var/tmux/<session>/tasks`` unless configured."""
        return Path(self.tasks_dir) if self.tasks_dir else Path("var/tmux", self.session, "tasks")

    @property
    def logs_root(self) -> Path:
        """Directory for snapshots and pane logs: ``logs/tmux/<session>`` unless configured."""
        return Path(self.logs_dir) if self.logs_dir else Path("logs/tmux", self.session)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - set(self._fields)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        return Settings(**{**self._asdict(), **changes})


# Environment variable -> (field, parser).  SPEC 2 names, plus TMUXORCH_* for what goes beyond it.
ENV_VARS: dict[str, tuple[str, type]] = {
    "TMUX_SOCKET": ("socket", str),
    "TMUXORCH_SOCKET_PATH": ("socket_path", str),
    "TMUX_SESSION": ("session", str),
    "MASTER_WINDOW": ("master_window", str),
    "WORKERS_WINDOW": ("workers_window", str),
    "WORKERS": ("workers", int),
    "TMUX_BASE_INDEX": ("base_index", int),
    "TMUX_PANE_BASE_INDEX": ("pane_base_index", int),
    "TMUX_HISTORY_LIMIT": ("history_limit", int),
    "TMUX_REMAIN_ON_EXIT": ("remain_on_exit", str),
    "TMUX_ALLOW_RENAME": ("allow_rename", str),
    "WORKER_LAYOUT": ("layout", str),
    "TMUXORCH_SHELL": ("shell", str),
    "TMUXORCH_TIMEOUT": ("timeout", float),
    "TMUXORCH_TASKS_DIR": ("tasks_dir", str),
    "TMUXORCH_LOGS_DIR": ("logs_dir", str),
    "TMUXORCH_TRANSPORT": ("transport", str),
}
FIELD_TO_ENV = {field_name: var for var, (field_name, _) in ENV_VARS.items()}


def parse_value(source: str, value: str, kind: type) -> Any:
    """Turn a string from ``source`` (a variable or flag name) into ``kind``, or raise UsageError."""
    if kind is str:
        return value
    try:
        return kind(value.strip())
    except ValueError:
        raise UsageError(f"invalid {source}={value!r}: expected {_KIND_WORDS[kind]}") from None


_KIND_WORDS = {int: "a whole number", float: "a number"}


def from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``environ`` (default ``os.environ``), then ``overrides`` (None values ignored).

    Errors name the variable or field that held the bad value.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, tuple[str, Any]] = {}
    for var, (name, kind) in ENV_VARS.items():
        raw = environ.get(var)
        if raw is not None and raw != "":
            values[name] = (var, parse_value(var, raw, kind))
    for name, value in overrides.items():
        if value is not None:
            values[name] = (f"--{name.replace('_', '-')}", value)
    try:
        return Settings(**{name: value for name, (_, value) in values.items()})
    except UsageError as err:
        raise _name_source(err, values) from None


def _name_source(err: UsageError, values: dict[str, tuple[str, Any]]) -> UsageError:
    """Rewrite 'invalid <field> ...' as 'invalid <VARIABLE or --flag> ...' when we know it."""
    text = str(err)
    for name, (source, _) in values.items():
        prefix = f"invalid {name} "
        if text.startswith(prefix):
            return UsageError(f"invalid {source} " + text[len(prefix):])
    return err


def _check_name(what: str, value: str) -> None:
    if not isinstance(value, str) or not _NAME_RE.match(value) or len(value) > 64:
        raise UsageError(
            f"invalid {what} {value!r}: use letters, digits, '_', '.', '-' (no '/', ':' or spaces)"
        )


def _check_socket_path(path: str) -> None:
    if not path or len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise UsageError(
            f"invalid socket_path {path!r}: must be 1 to {MAX_SOCKET_PATH} bytes (unix socket limit)"
        )


def _check_range(what: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"invalid {what} {value!r}: must be a whole number from {low} to {high}")


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"invalid {what} {value!r}: choose one of {', '.join(choices)}")
