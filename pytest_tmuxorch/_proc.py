"""Processes and deadlines: ``/proc`` helpers, pid liveness, and the one deadline loop.

Every wait of the package goes through :func:`wait_until`, so each has a timeout and says what
it waited for when it gives up.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces and ')'):
    ``[0]`` is the state, ``[2]`` the process group, ``[3]`` the session, ``[5]`` the
    terminal's foreground process group, ``[19]`` the start time.  None when there is no such
    process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (None if it does not exist): with the pid,
    it names one process whatever pids get reused."""
    fields = proc_stat(pid)
    try:
        return int(fields[19]) if fields is not None else None
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True while a process with this id exists (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = proc_stat(pid)
    return fields is None or fields[0] != b"Z"


def backoff(remaining: float, attempt: int) -> None:
    """The default pause between two looks: 1 ms, growing to 50 ms, never past the deadline."""
    time.sleep(max(0.0, min(0.001 * 1.5**attempt, 0.05, remaining)))


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    on_timeout: Callable[[], Exception],
    pause: Callable[[float, int], None] = backoff,
) -> T:
    """Call ``check`` until it returns something other than None, and return that.

    Between tries, ``pause(remaining seconds, attempt number)``; once ``timeout`` seconds have
    passed, raise ``on_timeout()``.  ``check`` always runs at least once.
    """
    deadline = time.monotonic() + timeout
    for attempt in itertools.count():
        found = check()
        if found is not None:
            return found
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise on_timeout()
        pause(remaining, attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def wait_pid_gone(pid: int, timeout: float) -> None:
    """Wait until ``pid`` has exited; raise :class:`TmuxTimeoutError` after ``timeout`` seconds."""
    from .errors import TmuxTimeoutError

    wait_until(
        lambda: None if pid_alive(pid) else True, timeout,
        lambda: TmuxTimeoutError(f"process {pid} still alive after {timeout:g}s"),
    )


def kill_and_wait(pid: int, timeout: float) -> None:
    """SIGKILL ``pid`` (ours: the caller proved it) and wait until it is gone."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_pid_gone(pid, timeout)
