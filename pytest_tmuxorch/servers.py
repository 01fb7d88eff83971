"""Private servers' lifecycle, without pytest: socket paths, reaping the dead, keeping, shutting down.

Every socket the fixtures create is ``<runtime dir>/<owner pid>.<owner start time>-<n>-<rand>``:
short (unix socket paths are limited to 107 bytes, whatever ``--basetemp`` is) and
self-describing, so a later run can tell a socket whose owning process is gone (kill that
server) from one of a concurrent run (leave it).  The start time makes pid reuse harmless.

A kept server (``--tmuxorch-keep``) is renamed ``kept-<name>``: reaping only ever touches names
of the form above, so it lives until the user kills it; once it is dead, the next run removes
its stale socket file.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

from ._log import get_logger
from ._proc import start_time
from .errors import TmuxorchError, UsageError
from .serverlock import SUFFIX as LOCK_SUFFIX
from .serverlock import remove_lock_file
from .settings import MAX_SOCKET_PATH, Settings
from .tmux import Tmux

log = get_logger("pytest_tmuxorch.servers")
KEPT_PREFIX = "kept-"
_counter = itertools.count()
_NAME_RE = re.compile(r"^(\d+)\.(\d+)-\d+-[0-9a-f]+$")
_NAME_SIZE = 40  # about the longest <pid>.<start time>-<n>-<hex>


def runtime_dir() -> Path:
    """``$TMUXORCH_RUNTIME_DIR``, else ``/tmp/tmuxorch-<uid>`` (short on purpose), mode 0700,
    created if needed; a clear :class:`UsageError` when it is too long or cannot be used."""
    configured = os.environ.get("TMUXORCH_RUNTIME_DIR", "")
    if len(os.fsencode(configured)) > MAX_SOCKET_PATH - _NAME_SIZE:
        raise UsageError(
            f"TMUXORCH_RUNTIME_DIR is {len(os.fsencode(configured))} bytes long: tmux sockets in it would "
            f"exceed the unix socket limit of {MAX_SOCKET_PATH} bytes; set it to a short directory (or unset it)"
        )
    base = Path(configured) if configured else Path("/tmp", f"tmuxorch-{os.getuid()}")
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(
            f"cannot use the tmux runtime directory {configured or base}: {err.strerror}; "
            "set TMUXORCH_RUNTIME_DIR to a short, writable directory"
        ) from None
    return base


def owner_tag(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}.{start_time(pid) or 0}"


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
    return start_time(pid) == started


def reap_orphans(directory: Path | None = None) -> list[str]:
    """Kill the servers of sockets whose owner is dead and remove the sockets; remove the socket
    files of kept servers that have died since.  Returns the reaped sockets' paths."""
    directory = directory or runtime_dir()
    reaped = []
    for entry in sorted(directory.iterdir()):
        if _NAME_RE.match(entry.name) and not owner_alive(entry.name):
            kill_server_at(str(entry))
            reaped.append(str(entry))
            log.debug("reaped orphan tmux server %s", entry)
        elif entry.name.startswith(KEPT_PREFIX) and entry.is_socket() and not _tmux(str(entry), 5).server_running():
            entry.unlink(missing_ok=True)
            remove_lock_file(str(entry))
            log.debug("removed the socket of a dead kept server %s", entry)
        elif entry.name.endswith(LOCK_SUFFIX) and _orphan_lock(entry):
            entry.unlink(missing_ok=True)
    return reaped


def _orphan_lock(lock: Path) -> bool:
    """A server lock file whose socket is gone and whose owner is dead (a live owner removes its own)."""
    socket = lock.with_name(lock.name.removesuffix(LOCK_SUFFIX))
    return not socket.exists() and not owner_alive(socket.name.removeprefix(KEPT_PREFIX))


def _tmux(path: str, timeout: float) -> Tmux:
    return Tmux(Settings(socket_path=path, timeout=timeout, transport="subprocess"))


def kill_server_at(path: str, timeout: float = 10.0) -> int | None:
    """Kill the server listening on socket ``path`` (if any), wait for it, remove the socket;
    return the server's pid (None when there was none).  Never raises: a broken socket must not
    stop a teardown or the reaping of the others."""
    try:
        return _tmux(path, timeout).kill_server()
    except (TmuxorchError, OSError) as err:
        log.debug("killing server at %s: %s", path, err)
        return None
    finally:
        Path(path).unlink(missing_ok=True)
        remove_lock_file(path)


def kept_path_for(socket_path: str) -> str:
    """Where a kept server's socket goes: ``kept-<name>`` beside it, or the same path when the
    longer name would not fit a unix socket (the next run may then reap it)."""
    path = Path(socket_path)
    kept = str(path.with_name(KEPT_PREFIX + path.name))
    return kept if len(os.fsencode(kept)) <= MAX_SOCKET_PATH else socket_path


def keep_server(socket_path: str, kept_path: str) -> None:
    """Move a server's socket to ``kept_path`` so that no reaping ever touches it."""
    if kept_path != socket_path:
        for suffix in ("", LOCK_SUFFIX):  # the socket, and its lock beside it
            try:
                os.rename(socket_path + suffix, kept_path + suffix)
            except OSError as err:
                log.debug("could not rename %s: %s", socket_path + suffix, err)
    log.debug("kept tmux server %s", kept_path)
