"""Text rules of the task queue: how values are escaped on one line, which IDs, names and
commands are valid, and how a duration reads.  :mod:`.store` builds the task format on them."""

from __future__ import annotations

import os
import re
import time

from ..errors import UsageError

MAX_ID = 128
Command = list[str] | str

_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.,+@=-]*$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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


_ESCAPED = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")  # what _needs_escape is true for


def escape(value: str) -> str:
    """One line of text that :func:`unescape` turns back into ``value``, exactly."""
    if not _ESCAPED.search(value):
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
    if not ENV_NAME_RE.match(name):
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


PRIORITY_LIMIT = 999_999  # priorities run from -PRIORITY_LIMIT to PRIORITY_LIMIT


def _number(value: object, kind: type[int] | type[float]) -> object:
    """``value``, or the number a string spells (as given when it spells none)."""
    if isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            return value
    return value


def check_priority(value: object) -> int:
    """A valid priority (a whole number, higher runs first) or :class:`UsageError`."""
    number = _number(value, int)
    if isinstance(number, bool) or not isinstance(number, int) or abs(number) > PRIORITY_LIMIT:
        raise UsageError(f"invalid priority {value!r}: expected a whole number from {-PRIORITY_LIMIT} to {PRIORITY_LIMIT}")
    return number


def check_retries(value: object) -> int:
    """A valid number of retries (a whole number >= 0) or :class:`UsageError`."""
    number = _number(value, int)
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 1000:
        raise UsageError(f"invalid retries {value!r}: expected a whole number from 0 to 1000")
    return number


def check_timeout(value: object) -> float | None:
    """A valid time limit in seconds (a positive number), None for no limit, or :class:`UsageError`."""
    if value is None:
        return None
    number = _number(value, float)
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 < number < 1e9:
        raise UsageError(f"invalid timeout {value!r}: expected a positive number of seconds")
    return float(number)


def state_word(state: str | None) -> str:
    """How a state reads in a message: ``queued``, ``waiting``, ``running``, ``done``..."""
    return {"queue": "queued", "waiting": "waiting for its dependencies", "running": "running", "done": "done",
            "failed": "failed", "quarantine": "quarantined (malformed)"}.get(state or "", "unknown")


def duration(seconds: float | None, decimals: int = 2) -> str:
    """A duration for people: ``0.52s`` (``decimals`` under a minute), ``3m07s``, ``2h05m``;
    ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.{decimals}f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"
