"""Processes and deadlines: ``/proc`` helpers, pid liveness, and the one deadline loop.

Every wait of the package goes through :func:`wait_until`, so each has a timeout and says what
it waited for when it gives up.
"""

from __future__ import annotations

import itertools
import os
import time

TYPE_CHECKING = False  # typing costs the console script's start-up; mypy reads the block anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")


def proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces and ')'):
    ``[0]`` is the state, ``[2]`` the process group, ``[3]`` the session, ``[5]`` the
    terminal's foreground process group, ``[19]`` the start time.  None when there is no such
    process."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)  # not open(): read once per task
    except OSError:
        return None
    try:
        return os.read(fd, 4096).rsplit(b")", 1)[-1].split()
    except OSError:
        return None
    finally:
        os.close(fd)


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


def foreground_group(pid: int) -> int:
    """The foreground process group of ``pid``'s terminal (0 when unknown)."""
    fields = proc_stat(pid)
    try:
        return int(fields[5]) if fields is not None else 0
    except (IndexError, ValueError):
        return 0


def group_members(group: int) -> list[int]:
    """The live processes of process group ``group``, its leader first."""
    first = [group] if pid_alive(group) else []
    members = []
    for name in os.listdir("/proc"):
        member = proc_stat(int(name)) if name.isdigit() and int(name) != group else None
        if member and member[0] != b"Z" and member[2] == str(group).encode():
            members.append(int(name))
    return first + sorted(members)


def running(pid: int) -> bool:
    """True while ``pid`` is running or waiting for a CPU (state R) or for the disk (state D): it
    is still working, not waiting for input or a timer."""
    return (proc_stat(pid) or [b"?"])[0] in (b"R", b"D")


def group_running(group: int) -> bool:
    """True while a process of ``group`` is :func:`running`."""
    return any(running(member) for member in group_members(group))


def foreground_programs(pid: int) -> list[str]:
    """The names of the live processes in the foreground of ``pid``'s terminal (its process group
    leader first), e.g. ``["less"]`` once ``seq`` has left ``seq | less``; [] when unknown."""
    group = foreground_group(pid)
    return [read_proc(member, "comm").decode(errors="replace").strip() for member in group_members(group)] if group > 0 else []


def read_proc(pid: int, name: str) -> bytes:
    """``/proc/<pid>/<name>`` (b"" when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


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
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_pid_gone(pid, timeout)


# --- a task's session: find its processes, prove them, end them --------------------------------
# A task runs in its own session (setsid): its leader's pid is the session id of every process it
# starts.  Linux does not reuse a pid while a session or process group with that id exists, so
# the processes in session ``sid`` that started no earlier than the recorded leader are the
# task's, unless the leader is gone and the pid was reused: a live process ``sid`` with another
# start time means the task's session is over.


def session_members(sid: int, leader_start: int) -> list[int]:
    """The live processes (zombies excluded) of the session ``sid`` whose leader started at
    ``leader_start`` (clock ticks since boot, :func:`start_time`)."""
    leader = start_time(sid)
    if leader is not None and leader != leader_start:
        return []  # pid reused: the task's session ended
    members = []
    for name in os.listdir("/proc"):
        fields = proc_stat(int(name)) if name.isdigit() else None
        try:
            if fields and fields[0] != b"Z" and int(fields[3]) == sid and int(fields[19]) >= leader_start:
                members.append(int(name))
        except (IndexError, ValueError):
            continue
    return members


def env_session_leaders(entries: list[bytes]) -> list[int]:
    """Session leaders (pid == session id) whose environment holds every ``KEY=value`` of
    ``entries``: how a task is found when its pid was never recorded."""
    found = []
    for name in os.listdir("/proc"):
        fields = proc_stat(int(name)) if name.isdigit() else None
        if not fields or fields[0] == b"Z" or fields[3] != name.encode():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
        except OSError:
            continue
        if all(entry in environ for entry in entries):
            found.append(int(name))
    return found


def signal_member(pid: int, sid: int, leader_start: int, sig: int) -> None:
    """Send ``sig`` to ``pid`` if it is in the session (see :func:`session_members`).  Through a
    pidfd, checked after it is opened: the process signalled is the one proven, even if ``pid``
    is reused meanwhile."""
    import signal

    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return  # gone already
    try:
        fields = proc_stat(pid)
        if fields and int(fields[3]) == sid and int(fields[19]) >= leader_start:
            signal.pidfd_send_signal(pidfd, sig)
    except (OSError, IndexError, ValueError):
        pass  # exited meanwhile
    finally:
        os.close(pidfd)


def end_session(sid: int, leader_start: int, grace: float, timeout: float) -> list[int]:
    """End a task's session: SIGTERM to each of its processes, SIGKILL to those left after
    ``grace`` seconds, then wait up to ``timeout`` seconds.  Returns the pids still alive (none,
    unless something cannot be killed: another user's process, or one stuck in the kernel)."""
    import signal

    def left() -> list[int]:
        return session_members(sid, leader_start)

    def gone(seconds: float) -> bool:
        try:
            return wait_until(lambda: None if left() else True, seconds, lambda: TimeoutError())
        except TimeoutError:
            return False

    for sig, seconds in ((signal.SIGTERM, grace), (signal.SIGKILL, timeout)):
        for pid in left():
            signal_member(pid, sid, leader_start, sig)
        if gone(seconds):
            return []
    return left()
