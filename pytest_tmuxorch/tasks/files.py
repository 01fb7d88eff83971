"""Atomic files and locks: the primitives the queue and the worker build on.

A file is published complete or not at all (written elsewhere, then renamed into place),
written into a new file or into a spare one (an inode kept from a removed task); a task
file's ``flock`` is held by the worker running it, so a lock anyone can take means its worker is
dead (the kernel drops flock locks with their process: pid reuse cannot fake one).
"""

from __future__ import annotations

import errno
import fcntl
import os


def write_new(path: str, text: str, lock: bool = False) -> int | None:
    """Create ``path`` (must not exist) with ``text``; with ``lock``, keep it open, flocked, and
    return the descriptor.  On failure (a full disk) nothing is left behind, and the error names
    ``path``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with _undone_on_error(fd, path):
        if lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
        write_all(fd, text.encode())
    if lock:
        return fd
    os.close(fd)
    return None


def reuse(spare: str, path: str, text: str) -> bool:
    """Make the spare file ``spare`` into ``path`` with ``text`` (a rename, then a write in place:
    no inode to allocate).  False when another process took that spare first.  On failure
    nothing is left behind, and the error names ``path``."""
    try:
        os.rename(spare, path)
    except FileNotFoundError:
        return False
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    with _undone_on_error(fd, path):
        rewrite(fd, text)
    os.close(fd)
    return True


class _undone_on_error:
    """On an error inside it: close ``fd``, remove ``path`` (nothing half-written is left) and
    re-raise, naming ``path`` when the error named no file."""

    def __init__(self, fd: int, path: str) -> None:
        self.fd, self.path = fd, path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        if error is None:
            return
        os.close(self.fd)
        os.unlink(self.path)
        if isinstance(error, OSError) and not error.filename:
            raise OSError(error.errno, error.strerror, self.path) from None


def write_all(fd: int, data: bytes, offset: int | None = None) -> None:
    """Write all of ``data`` (at ``offset`` with pwrite): a short write is retried, so a full disk
    raises ENOSPC instead of leaving a file cut short."""
    done = 0
    while done < len(data):
        view = memoryview(data)[done:]
        written = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset + done)
        if not written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done += written


def try_lock(path: str, write: bool = False) -> int | None:
    """Open ``path`` (read-write with ``write``) and take its flock without waiting: the
    descriptor, or None if someone holds it or it does not exist."""
    try:
        fd = os.open(path, os.O_RDWR if write else os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lock(path: str) -> int | None:
    """Open ``path`` read-write and take its flock, waiting for it: the descriptor, or None if
    it does not exist.  Only for locks held a moment (never while waiting for another)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def rewrite(fd: int, text: str) -> None:
    """Replace the content of the open file ``fd`` in place (readers may see it cut: they retry)."""
    data = text.encode("utf-8", errors="surrogateescape")
    write_all(fd, data, 0)
    os.ftruncate(fd, len(data))


def same_file(fd: int, path: str) -> bool:
    """True while ``path`` still names the file open as ``fd``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (own.st_ino, own.st_dev)


def read_fd(fd: int) -> str:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="surrogateescape")
