"""Where private servers' sockets live, and reaping the ones whose owner died.

Every socket the plugin creates is ``<runtime dir>/<owner pid>.<owner start time>-<n>-<rand>``:
short (unix socket paths are limited to about 107 bytes, SPEC 6.10) and self-describing, so a
later run can tell a socket whose owning process is gone (kill that server) from one of a
concurrent run (leave it).  The start time makes PID reuse harmless.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from pathlib import Path

from .debuglog import get_logger
from .errors import UsageError
from .settings import MAX_SOCKET_PATH

log = get_logger("pytest_tmuxorch.sockets")
_counter = itertools.count()
_NAME_RE = re.compile(r"^(\d+)\.(\d+)-\d+-[0-9a-f]+$")


def runtime_dir() -> Path:
    """``$TMUXORCH_RUNTIME_DIR``, else ``/tmp/tmuxorch-<uid>`` (short on purpose), mode 0700."""
    configured = os.environ.get("TMUXORCH_RUNTIME_DIR")
    base = Path(configured) if configured else Path("/tmp" if Path("/tmp").is_dir() else tempfile.gettempdir(), f"tmuxorch-{os.getuid()}")
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return base


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (None if it does not exist)."""
    from .tmux import proc_stat

    fields = proc_stat(pid)
    try:
        return int(fields[19]) if fields is not None else None
    except (IndexError, ValueError):
        return None


def owner_tag(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}.{process_start_time(pid) or 0}"


def new_socket_path(directory: Path | None = None) -> str:
    """A fresh socket path owned by this process; a clear error when it would be too long."""
    directory = directory or runtime_dir()
    path = str(directory / f"{owner_tag()}-{next(_counter)}-{os.urandom(3).hex()}")
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise UsageError(
            f"socket path {path!r} is {len(os.fsencode(path))} bytes, over the unix limit of "
            f"{MAX_SOCKET_PATH}: set TMUXORCH_RUNTIME_DIR to a shorter directory"
        )
    return path


def owner_alive(name: str) -> bool:
    """Whether the process that created socket ``name`` still runs (same pid *and* start time)."""
    match = _NAME_RE.match(name)
    if not match:
        return True  # not ours: never touch it
    pid, started = int(match.group(1)), int(match.group(2))
    return process_start_time(pid) == started


def reap_orphans(directory: Path | None = None) -> list[str]:
    """Kill the servers of sockets whose owner is dead, remove the sockets; return their paths."""
    directory = directory or runtime_dir()
    reaped = []
    for entry in sorted(directory.iterdir()):
        if not _NAME_RE.match(entry.name) or owner_alive(entry.name):
            continue
        kill_server_at(str(entry))
        reaped.append(str(entry))
        log.debug("reaped orphan tmux server %s", entry)
    return reaped


def kill_server_at(path: str, timeout: float = 10.0) -> int | None:
    """Kill the server listening on socket ``path`` (if any), wait for it, remove the socket;
    return the server's pid (None when there was none)."""
    from .settings import Settings
    from .tmux import Tmux

    tmux = Tmux(Settings(socket_path=path, timeout=timeout, transport="subprocess"))
    try:
        return tmux.kill_server()
    except Exception as err:  # a broken socket must not stop the reaping of the others
        log.debug("killing server at %s: %s", path, err)
        return None
    finally:
        Path(path).unlink(missing_ok=True)


__all__ = ["kill_server_at", "new_socket_path", "owner_alive", "reap_orphans", "runtime_dir"]
