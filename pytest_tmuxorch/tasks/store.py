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
    RUN=attempt=1 worker=w0 started=1769249700.2 ended=1769249700.9 exit=1

Options given at enqueue time come after ``ENV``: ``AFTER=<ID>`` (one line per dependency),
``PRIORITY=``, ``TIMEOUT=`` (seconds), ``RETRIES=``.  How it ended: ``EXIT=``/``SIGNAL=``, and
``CANCELLED=1``, ``TIMED_OUT=1`` or ``DEPENDENCY_FAILED=<ID>``; each attempt that ran to an end
adds a ``RUN=`` line (``attempt``, ``worker``, ``started``, ``ended``, then ``exit``, ``signal``,
``timed_out=1`` or ``cancelled=1``).

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

import shlex
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import MalformedTaskError, UsageError
from .text import (
    ENV_NAME_RE,
    MAX_ID,
    PRIORITY_LIMIT,
    Command,
    check_command,
    check_env_name,
    check_id,
    escape,
    new_id,
    parse_env_assignment,
    state_word,
    unescape,
)

__all__ = [
    "HEADER", "MAX_ID", "STATES", "Command", "MalformedTaskError", "Run", "Task", "check_command", "check_env_name",
    "check_id", "escape", "new_id", "parse", "parse_env_assignment", "serialize", "state_word", "unescape",
]

HEADER = "# tmuxorch task"
STATES = ("queue", "waiting", "running", "done", "failed")


def _outcome(cancelled: bool, dependency_failed: str | None, timed_out: bool, signal: int | None,
             exit_status: int | None) -> str:
    if cancelled:
        return "cancelled"
    if dependency_failed is not None:
        return "dependency failed"
    if timed_out:
        return "timed out"
    if signal is not None:
        return f"signal {signal}"
    if exit_status is not None:
        return f"exit {exit_status}"
    return ""


@dataclass
class Run:
    """One attempt of a task that ran to an end: when, where, and how it ended."""

    attempt: int
    worker: str | None = None
    started: float | None = None
    ended: float | None = None
    exit_status: int | None = None
    signal: int | None = None
    timed_out: bool = False
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and self.signal is None and not self.timed_out and not self.cancelled

    @property
    def outcome(self) -> str:
        return _outcome(self.cancelled, None, self.timed_out, self.signal, self.exit_status)

    @property
    def runtime(self) -> float | None:
        return self.ended - self.started if self.started is not None and self.ended is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "worker": self.worker, "started": self.started, "ended": self.ended,
                "runtime": self.runtime, "exit_status": self.exit_status, "signal": self.signal,
                "timed_out": self.timed_out, "cancelled": self.cancelled, "outcome": self.outcome}

    def line(self) -> str:
        words = [f"attempt={self.attempt}"]
        for key, value in (("worker", self.worker), ("started", self.started), ("ended", self.ended),
                           ("exit", self.exit_status), ("signal", self.signal)):
            if value is not None:
                words.append(f"{key}={value if isinstance(value, str) else repr(value)}")
        words += [f"{key}=1" for key, value in (("timed_out", self.timed_out), ("cancelled", self.cancelled)) if value]
        return " ".join(words)

    @classmethod
    def from_line(cls, text: str) -> Run:
        """The inverse of :meth:`line`; ValueError on anything else."""
        kinds: dict[str, Any] = {"attempt": int, "worker": str, "started": float, "ended": float, "exit": int,
                                 "signal": int, "timed_out": bool, "cancelled": bool}
        names = {"exit": "exit_status"}
        values: dict[str, Any] = {}
        for word in text.split(" "):
            key, sep, raw = word.partition("=")
            if not sep or key not in kinds or names.get(key, key) in values:
                raise ValueError(f"bad or repeated field {word[:40]!r}")
            if kinds[key] is bool:
                if raw != "1":
                    raise ValueError(f"{key} must be 1, got {raw!r}")
                values[key] = True
            else:
                values[names.get(key, key)] = check_id(raw, "worker ID") if key == "worker" else kinds[key](raw)
        if "attempt" not in values:
            raise ValueError("no attempt=")
        return cls(**values)


@dataclass
class Task:
    """One task: what to run, where, with what environment; and, once run, how it went.

    ``command`` is a list (an exact argv, no shell) or a str (a ``/bin/sh -c`` command line).
    ``after`` lists the IDs it waits for; ``priority`` orders the queue (higher first);
    ``timeout`` limits each attempt (seconds); ``retries`` is how many more times a failing task
    runs.  ``state`` is where the file was found (queue, waiting, running, done, failed); it is
    not stored.
    """

    id: str
    command: Command
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)
    priority: int = 0
    timeout: float | None = None
    retries: int = 0
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
    timed_out: bool = False
    dependency_failed: str | None = None  # the dependency that failed (or was cancelled)
    runs: list[Run] = field(default_factory=list)
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
        return (self.exit_status == 0 and not self.cancelled and self.signal is None and not self.timed_out
                and self.dependency_failed is None)

    @property
    def outcome(self) -> str:
        """A short phrase for how it ended: ``exit N``, ``signal N``, ``timed out``, ``cancelled``,
        ``dependency failed``, or ''."""
        return _outcome(self.cancelled, self.dependency_failed, self.timed_out, self.signal, self.exit_status)

    @property
    def exit_code(self) -> int | None:
        """The task's exit status as a command's (``tasks-tail --follow`` ends with it): its exit
        status, 128 + N after signal N, 124 timed out (as ``timeout(1)``), 1 cancelled or its
        dependency failed; None while it has not ended."""
        if self.cancelled or self.dependency_failed is not None:
            return 1
        if self.timed_out:
            return 124
        if self.signal is not None:
            return 128 + self.signal
        return self.exit_status

    @property
    def runtime(self) -> float | None:
        """Seconds the (last) attempt ran, once it ended."""
        return self.ended - self.started if self.started is not None and self.ended is not None else None

    @property
    def failures(self) -> int:
        """Attempts that ended in failure (what ``retries`` counts against)."""
        return sum(1 for run in self.runs if not run.ok and not run.cancelled)

    def reset(self) -> Task:
        """A copy ready to go back to the queue: runtime results cleared, attempt and runs kept."""
        return replace(
            self, worker=None, worker_pid=None, started=None, pid=None, pid_start=None, ended=None,
            exit_status=None, signal=None, cancelled=False, timed_out=False, dependency_failed=None, error=None,
            runs=list(self.runs), state="queue",
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "state": self.state, "command": self.command, "shell": self.is_shell,
            "cwd": self.cwd, "env": dict(self.env), "after": list(self.after), "priority": self.priority,
            "timeout": self.timeout, "retries": self.retries, "created": self.created, "attempt": self.attempt,
            "worker": self.worker, "worker_pid": self.worker_pid, "started": self.started,
            "pid": self.pid, "pid_start": self.pid_start, "ended": self.ended, "runtime": self.runtime,
            "exit_status": self.exit_status, "signal": self.signal, "cancelled": self.cancelled,
            "timed_out": self.timed_out, "dependency_failed": self.dependency_failed, "outcome": self.outcome,
            "exit_code": self.exit_code, "runs": [run.as_dict() for run in self.runs], "error": self.error,
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
    lines += [f"AFTER={dependency}" for dependency in task.after]
    for key, value in (
        ("PRIORITY", task.priority or None), ("TIMEOUT", task.timeout), ("RETRIES", task.retries or None),
        ("CREATED", task.created), ("ATTEMPT", task.attempt), ("WORKER", task.worker),
        ("WORKER_PID", task.worker_pid), ("STARTED", task.started), ("PID", task.pid), ("PID_START", task.pid_start),
        ("ENDED", task.ended), ("EXIT", task.exit_status), ("SIGNAL", task.signal),
        ("DEPENDENCY_FAILED", task.dependency_failed),
    ):
        if value is not None:
            lines.append(f"{key}={escape(str(value)) if isinstance(value, str) else repr(value)}")
    lines += [f"{key}=1" for key, value in (("CANCELLED", task.cancelled), ("TIMED_OUT", task.timed_out)) if value]
    lines += [f"RUN={run.line()}" for run in task.runs]
    if task.error is not None:
        lines.append(f"ERROR={escape(task.error)}")
    return "\n".join(lines) + "\n"


_INTS = {"ATTEMPT": "attempt", "WORKER_PID": "worker_pid", "PID": "pid", "PID_START": "pid_start", "EXIT": "exit_status",
         "SIGNAL": "signal", "PRIORITY": "priority", "RETRIES": "retries"}
_FLOATS = {"CREATED": "created", "STARTED": "started", "ENDED": "ended", "TIMEOUT": "timeout"}
_STRINGS = {"CWD": "cwd", "WORKER": "worker", "ERROR": "error", "DEPENDENCY_FAILED": "dependency_failed"}
_FLAGS = {"CANCELLED": "cancelled", "TIMED_OUT": "timed_out"}
_REPEATED = {"ENV", "AFTER", "RUN"}
_KEYS = {"ID", "MODE", "CMD", *_REPEATED, *_FLAGS, *_INTS, *_FLOATS, *_STRINGS}


def _check_value(key: str, value: Any) -> None:
    if key == "PRIORITY" and abs(value) > PRIORITY_LIMIT:
        raise ValueError(f"out of range: {value}")
    if key == "RETRIES" and value < 0:
        raise ValueError(f"negative: {value}")
    if key == "TIMEOUT" and not value > 0:
        raise ValueError(f"not positive: {value}")


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
    after: list[str] = []
    runs: list[Run] = []
    for number, line in enumerate(text[:-1].split("\n"), 1):
        if line.startswith("#") or not line:
            continue
        key, sep, raw = line.partition("=")
        if not sep or key not in _KEYS:
            raise bad(number, f"expected KEY=value with a known key, got {line[:60]!r}")
        if key in seen and key not in _REPEATED:
            raise bad(number, f"{key} given twice")
        seen.add(key)
        try:
            value = unescape(raw)
        except ValueError as err:
            raise bad(number, str(err)) from None
        try:
            if key == "ENV":
                name, sep, env_value = value.partition("=")
                if not sep or not ENV_NAME_RE.match(name) or name in env:
                    raise ValueError(f"bad or repeated ENV entry {value[:60]!r}")
                env[name] = env_value
            elif key == "AFTER":
                if value in after:
                    raise ValueError(f"{value!r} given twice")
                after.append(check_id(value))
            elif key == "RUN":
                runs.append(Run.from_line(value))
            elif key in _INTS:
                values[_INTS[key]] = int(value)
                _check_value(key, values[_INTS[key]])
            elif key in _FLOATS:
                values[_FLOATS[key]] = float(value)
                _check_value(key, values[_FLOATS[key]])
            elif key in _STRINGS:
                values[_STRINGS[key]] = value
            elif key in _FLAGS:
                if value not in ("0", "1"):
                    raise ValueError(f"{key} must be 0 or 1, got {value!r}")
                values[_FLAGS[key]] = value == "1"
            else:
                values[key] = value
        except (ValueError, UsageError) as err:
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
    return Task(id=values.pop("ID"), command=command, env=env, after=after, runs=runs, **values)
