"""Named barriers on tmux's ``wait-for`` channels, with a timeout tmux itself does not have.

A ``wait-for`` client that is killed leaves a stale registration behind that swallows the next
signal.  So a timed-out wait does not simply kill its client: each waiter registers
itself in a server user option; on timeout, if no other registered waiter is alive, it wakes its
own client with a signal (nobody else is waiting, so nothing is lost or remembered); otherwise it
kills its client, and the last waiter to leave clears the stale ones the same way.  Waiters that
bypass tmuxorch (a raw ``tmux wait-for`` in a pane) are invisible to that count.

These are signal barriers, with tmux's latch semantics; barriers where N parties meet are in
:mod:`.parties`.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess

from ._proc import pid_alive
from .errors import ServerNotFoundError, TmuxError, TmuxTimeoutError, UsageError
from .tmux import Tmux
from .transport import classify_error

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_OPTION_PREFIX = "@tmuxorch-waiter-"
# Run right after a ``wait-for`` in its chain: kill-server releases waiters with status 0 too, but
# only after it destroyed every session, so this prints nothing then (exit-empty: a live server
# has a session).
ALIVE_CHECK = ["list-sessions", "-F", "#{session_id}"]


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise UsageError(f"invalid barrier name {name!r}: use letters, digits, '_', '.', '-'")
    return name


def signal(tmux: Tmux, name: str) -> None:
    """Wake every waiter of ``name``; with none waiting, the signal is remembered once."""
    tmux.run("wait-for", "-S", check_name(name))


def wait(tmux: Tmux, name: str, timeout: float | None = None) -> None:
    """Block until ``name`` is signalled; raise :class:`TmuxTimeoutError` after ``timeout`` s."""
    check_name(name)
    timeout = tmux.timeout if timeout is None else timeout
    option = f"{_OPTION_PREFIX}{name}-{os.urandom(4).hex()}"
    try:
        # Register and wait in one chain: the server runs both in the same pass, so whoever sees
        # the registration knows the wait is in place.
        waiter = subprocess.Popen(
            [*tmux.base_argv(), "set-option", "-s", option, str(os.getpid()), ";", "wait-for", name, ";",
             *ALIVE_CHECK], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            out, err = waiter.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            if _give_up(tmux, name, option, waiter):
                raise TmuxTimeoutError(f"barrier {name!r} was not signalled within {timeout:g}s") from None
            out, err = waiter.communicate()
        if waiter.returncode != 0:
            raise classify_error(f"barrier {name!r}: {err.decode(errors='replace').strip()}")
        if not out.strip():
            raise ServerNotFoundError(f"barrier {name!r}: the tmux server exited while waiting")
    finally:
        _unregister(tmux, option)


def _give_up(tmux: Tmux, name: str, option: str, waiter: subprocess.Popen[bytes]) -> bool:
    """Leave the wait without leaving a stale registration.  False if the signal came after all."""
    if waiter.poll() is not None:
        return waiter.returncode != 0
    if _other_live_waiters(tmux, name, option):
        waiter.kill()  # stale, but harmless while live waiters remain: the last one clears it
    else:
        tmux.run("wait-for", "-S", name)  # only our own client (and stale ones) wait: wake them
    waiter.communicate(timeout=tmux.timeout)
    return True


def _registrations(tmux: Tmux, name: str) -> dict[str, int]:
    """The waiters registered for ``name``: option -> pid (live or not)."""
    prefix = f"{_OPTION_PREFIX}{name}-"
    found = {}
    for line in tmux.run("show-options", "-s"):
        option, _, value = line.partition(" ")
        pid = value.strip().strip('"')
        if option.startswith(prefix) and len(option) == len(prefix) + 8 and pid.isdigit():
            found[option] = int(pid)
    return found


def waiter_pids(tmux: Tmux, name: str) -> list[int]:
    """The processes waiting for ``name`` through tmuxorch (raw ``tmux wait-for`` clients are not seen)."""
    return sorted(pid for pid in _registrations(tmux, name).values() if pid_alive(pid))


def _other_live_waiters(tmux: Tmux, name: str, own_option: str) -> bool:
    return any(option != own_option and pid_alive(pid) for option, pid in _registrations(tmux, name).items())


def _unregister(tmux: Tmux, option: str) -> None:
    with contextlib.suppress(TmuxError):  # the server is gone: so is the option
        tmux.run("set-option", "-s", "-u", option)
