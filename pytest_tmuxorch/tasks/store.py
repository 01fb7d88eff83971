"""The on-disk task format: one text file of ``KEY=value`` lines per task.

Example (an argv task that ran and failed)::

    # tmuxorch task
    ID=20260124-101500.123456789-0004242
    MODE=argv
    CMD=printf '%s\\n' 'a b' "it's"
    CWD=/home/me/project
    ENV=DEBUG=1
    ENV=GREETING=hello\\nworld
    CREATED=1769249700.123456
    ATTEMPT=1
    WORKER=w0
    WORKER_PID=4242
    STARTED=1769249700.2
    PID=4250
    PID_START=81234567
    ENDED=1769249700.9
    EXIT=1

Values are escaped so that each stays on one line and any string round-trips exactly:
``\\`` becomes ``\\\\``, newline ``\\n``, carriage return ``\\r``, tab ``\\t``, and every other
control or invisible line-breaking character (C0, DEL, C1, U+2028/9, lone surrogates) ``\\xHH``
or ``\\uHHHH``.  Everything else, unicode included, is written as it is, so files stay readable.

``MODE=argv`` tasks store their words as ``shlex.join(argv)`` (``shlex.split`` gives them back
exactly); ``MODE=shell`` tasks store the command line as typed, run by ``/bin/sh -c``.

Parsing is strict: an unknown key, a repeated key, a bad escape, a missing ``ID``/``CMD`` or a bad
number raises :class:`MalformedTaskError` naming the line; a task is never half-read.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import MalformedTaskError, UsageError

HEADER = "# tmuxorch task"
MAX_ID = 128
STATES = ("queue", "running", "done", "failed")

_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.,+@=-]*$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNESCAPE_RE = re.compile(r"\\(?:(n)|(r)|(t)|(\\)|x([0-9a-f]{2})|u([0-9a-f]{4})|(.|$))")
_SIMPLE = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


_last_ns = 0  # the last ID's time: IDs of one process strictly increase


def new_id() -> str:
    """A fresh ID, unique across processes and sortable by creation time (fixed width).

    ``YYYYMMDD-HHMMSS.nnnnnnnnn-PPPPPPP``: UTC time to the nanosecond (strictly increasing within
    a process), then the process ID.
    """
    global _last_ns
    now = max(time.time_ns(), _last_ns + 1)
    _last_ns = now
    seconds, nanos = divmod(now, 1_000_000_000)
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(seconds))}.{nanos:09d}-{os.getpid():07d}"


def _needs_escape(ch: str) -> bool:
    code = ord(ch)
    return (
        ch in _SIMPLE or code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029)
        or 0xD800 <= code <= 0xDFFF
    )


def escape(value: str) -> str:
    """One line of text that :func:`unescape` turns back into ``value``, exactly."""
    if not any(_needs_escape(ch) for ch in value):
        return value
    out = []
    for ch in value:
        if ch in _SIMPLE:
            out.append(_SIMPLE[ch])
        elif _needs_escape(ch):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def unescape(text: str) -> str:
    """The inverse of :func:`escape`; raises ValueError on an unknown or cut escape."""
    if "\\" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        n, r, t, backslash, hex2, hex4, bad = match.groups()
        if bad is not None:
            raise ValueError(f"bad escape {match.group(0)!r}")
        if n:
            return "\n"
        if r:
            return "\r"
        if t:
            return "\t"
        if backslash:
            return "\\"
        return chr(int(hex2 or hex4, 16))

    return _UNESCAPE_RE.sub(one, text)


def check_id(task_id: str, what: str = "task ID") -> str:
    """``task_id`` if it is a safe file name, else :class:`UsageError`."""
    if (
        not isinstance(task_id, str) or not task_id or len(task_id) > MAX_ID
        or not _ID_RE.match(task_id) or ".." in task_id
    ):
        raise UsageError(
            f"invalid {what} {task_id!r}: use 1 to {MAX_ID} letters, digits and _ . , + @ = -, "
            "not starting with '.' or '-', without '..' or '/'"
        )
    return task_id


def check_env_name(name: str) -> str:
    if not _ENV_NAME_RE.match(name):
        raise UsageError(f"invalid environment variable name {name!r}: use letters, digits and '_', not starting with a digit")
    return name


def parse_env_assignment(text: str) -> tuple[str, str]:
    """``KEY=VAL`` -> (KEY, VAL); a clear :class:`UsageError` without '=' or with a bad name."""
    name, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f"invalid environment assignment {text!r}: expected KEY=VALUE")
    check_env_name(name)
    if "\0" in value:
        raise UsageError(f"invalid value for {name}: contains a NUL byte")
    return name, value


Command = list[str] | str


@dataclass
class Task:
    """One task: what to run, where, with what environment; and, once run, how it went.

    ``command`` is a list (an exact argv, no shell) or a str (a ``/bin/sh -c`` command line).
    ``state`` is where the file was found (queue, running, done, failed); it is not stored.
    """

    id: str
    command: Command
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    created: float | None = None
    attempt: int = 0
    worker: str | None = None
    worker_pid: int | None = None
    started: float | None = None
    pid: int | None = None
    pid_start: int | None = None  # the leader's start time (clock ticks): proves its session is the task's
    ended: float | None = None
    exit_status: int | None = None
    signal: int | None = None
    cancelled: bool = False
    error: str | None = None
    state: str | None = field(default=None, compare=False)

    @property
    def is_shell(self) -> bool:
        return isinstance(self.command, str)

    @property
    def command_text(self) -> str:
        """The command as one readable line (argv tasks shell-quoted)."""
        return self.command if isinstance(self.command, str) else shlex.join(self.command)

    @property
    def argv(self) -> list[str]:
        """What the worker executes."""
        return ["/bin/sh", "-c", self.command] if isinstance(self.command, str) else list(self.command)

    @property
    def ok(self) -> bool:
        """True for a task that ran and exited 0."""
        return self.exit_status == 0 and not self.cancelled and self.signal is None

    @property
    def outcome(self) -> str:
        """A short word for how it ended: ``exit N``, ``signal N``, ``cancelled``, or ''."""
        if self.cancelled:
            return "cancelled"
        if self.signal is not None:
            return f"signal {self.signal}"
        if self.exit_status is not None:
            return f"exit {self.exit_status}"
        return ""

    def reset(self) -> Task:
        """A copy ready to go back to the queue: runtime results cleared, attempt kept."""
        return replace(
            self, worker=None, worker_pid=None, started=None, pid=None, pid_start=None, ended=None,
            exit_status=None, signal=None, cancelled=False, error=None, state="queue",
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "state": self.state, "command": self.command, "shell": self.is_shell,
            "cwd": self.cwd, "env": dict(self.env), "created": self.created, "attempt": self.attempt,
            "worker": self.worker, "worker_pid": self.worker_pid, "started": self.started,
            "pid": self.pid, "pid_start": self.pid_start, "ended": self.ended, "exit_status": self.exit_status,
            "signal": self.signal, "cancelled": self.cancelled, "error": self.error,
        }


def serialize(task: Task) -> str:
    """The file text of ``task`` (see the module docstring)."""
    lines = [HEADER, f"ID={task.id}"]
    if isinstance(task.command, str):
        lines += ["MODE=shell", f"CMD={escape(task.command)}"]
    else:
        lines += ["MODE=argv", f"CMD={escape(shlex.join(task.command))}"]
    if task.cwd is not None:
        lines.append(f"CWD={escape(task.cwd)}")
    lines += [f"ENV={name}={escape(value)}" for name, value in task.env.items()]
    for key, value in (
        ("CREATED", task.created), ("ATTEMPT", task.attempt), ("WORKER", task.worker),
        ("WORKER_PID", task.worker_pid), ("STARTED", task.started), ("PID", task.pid), ("PID_START", task.pid_start),
        ("ENDED", task.ended), ("EXIT", task.exit_status), ("SIGNAL", task.signal),
    ):
        if value is not None:
            lines.append(f"{key}={escape(str(value)) if isinstance(value, str) else repr(value)}")
    if task.cancelled:
        lines.append("CANCELLED=1")
    if task.error is not None:
        lines.append(f"ERROR={escape(task.error)}")
    return "\n".join(lines) + "\n"


_INTS = {"ATTEMPT": "attempt", "WORKER_PID": "worker_pid", "PID": "pid", "PID_START": "pid_start", "EXIT": "exit_status", "SIGNAL": "signal"}
_FLOATS = {"CREATED": "created", "STARTED": "started", "ENDED": "ended"}
_STRINGS = {"CWD": "cwd", "WORKER": "worker", "ERROR": "error"}
_KEYS = {"ID", "MODE", "CMD", "ENV", "CANCELLED", *_INTS, *_FLOATS, *_STRINGS}


def parse(text: str, source: str = "task file") -> Task:
    """Read back what :func:`serialize` wrote; :class:`MalformedTaskError` on anything else."""

    def bad(number: int, why: str) -> MalformedTaskError:
        return MalformedTaskError(f"malformed {source}, line {number}: {why}")

    if not text.endswith("\n"):
        keys = {line.partition("=")[0] for line in text.split("\n")}
        missing = [key for key in ("ID", "MODE", "CMD") if key not in keys]
        why = f"no {missing[0]}= line (and no final newline)" if missing else "cut short (no final newline)"
        raise MalformedTaskError(f"malformed {source}: {'empty file' if not text else why}")
    seen: set[str] = set()
    values: dict[str, Any] = {}
    env: dict[str, str] = {}
    for number, line in enumerate(text[:-1].split("\n"), 1):
        if line.startswith("#") or not line:
            continue
        key, sep, raw = line.partition("=")
        if not sep or key not in _KEYS:
            raise bad(number, f"expected KEY=value with a known key, got {line[:60]!r}")
        if key in seen and key != "ENV":
            raise bad(number, f"{key} given twice")
        seen.add(key)
        try:
            value = unescape(raw)
        except ValueError as err:
            raise bad(number, str(err)) from None
        try:
            if key == "ENV":
                name, sep, env_value = value.partition("=")
                if not sep or not _ENV_NAME_RE.match(name) or name in env:
                    raise ValueError(f"bad or repeated ENV entry {value[:60]!r}")
                env[name] = env_value
            elif key in _INTS:
                values[_INTS[key]] = int(value)
            elif key in _FLOATS:
                values[_FLOATS[key]] = float(value)
            elif key in _STRINGS:
                values[_STRINGS[key]] = value
            elif key == "CANCELLED":
                if value not in ("0", "1"):
                    raise ValueError(f"CANCELLED must be 0 or 1, got {value!r}")
                values["cancelled"] = value == "1"
            else:
                values[key] = value
        except ValueError as err:
            raise bad(number, f"{key}: {err}") from None
    for key in ("ID", "MODE", "CMD"):
        if key not in values:
            raise MalformedTaskError(f"malformed {source}: no {key}= line")
    try:
        check_id(values["ID"])
    except UsageError as err:
        raise MalformedTaskError(f"malformed {source}: {err}") from None
    command: Command
    if values["MODE"] == "shell":
        command = values["CMD"]
    elif values["MODE"] == "argv":
        try:
            command = shlex.split(values["CMD"])
        except ValueError as err:
            raise MalformedTaskError(f"malformed {source}: CMD is not a quoted argv ({err})") from None
    else:
        raise MalformedTaskError(f"malformed {source}: MODE must be argv or shell, got {values['MODE']!r}")
    if not command or (isinstance(command, str) and not command.strip()) or "\0" in "".join(command):
        raise MalformedTaskError(f"malformed {source}: empty command or NUL in CMD")
    values.pop("MODE")
    values.pop("CMD")
    return Task(id=values.pop("ID"), command=command, env=env, **values)


def check_command(command: object) -> Command:
    """A valid command (non-empty argv list of str, or non-blank str) or :class:`UsageError`."""
    if isinstance(command, str):
        if not command.strip():
            raise UsageError("empty command")
        if "\0" in command:
            raise UsageError("invalid command: contains a NUL byte")
        return command
    if isinstance(command, (list, tuple)) and command and all(isinstance(word, str) for word in command):
        if any("\0" in word for word in command):
            raise UsageError("invalid command: contains a NUL byte")
        return list(command)
    raise UsageError(f"invalid command {command!r}: expected a non-empty list of strings (argv) or a str (shell line)")


def state_word(state: str | None) -> str:
    """How a state reads in a message: ``queued``, ``running``, ``done``..."""
    return {"queue": "queued", "running": "running", "done": "done", "failed": "failed",
            "quarantine": "quarantined (malformed)"}.get(state or "", "unknown")
