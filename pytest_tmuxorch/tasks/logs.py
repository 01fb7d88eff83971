"""A task's output: ``logs/<ID>.out`` and ``logs/<ID>.err``, read at once (:func:`tail`) or as
they grow (:func:`follow`, ``tasks-tail --follow``).

The worker creates a log file on its stream's first byte (a task that writes nothing has no
log), and each new attempt of a task starts a new file: the old one is removed first, so a
follower that sees another file under the name moves on to it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .._proc import wait_until
from ..errors import TaskStateError, TmuxTimeoutError, UsageError

if TYPE_CHECKING:
    from .queue import TaskQueue


def _check_lines(lines: int | None) -> None:
    if lines is not None and (isinstance(lines, bool) or not isinstance(lines, int) or lines < 0):
        raise UsageError(f"invalid number of lines {lines!r}")


def _start_of_last_lines(fd: int, lines: int) -> int:
    """The offset where the last ``lines`` lines of the open file begin."""
    size = os.fstat(fd).st_size
    if lines == 0:
        return size
    start = max(0, size - max(65536, lines * 512))
    data = os.pread(fd, size - start, start)
    end = len(data) - 1 if data.endswith(b"\n") else len(data)  # a last line without newline counts
    cut = end
    for _ in range(lines):
        cut = data.rfind(b"\n", 0, cut)
        if cut < 0:
            return start
    return start + cut + 1


def tail(queue: TaskQueue, task_id: str, err: bool = False, lines: int = 100) -> str:
    """The last ``lines`` lines of a task's stdout (stderr with ``err``); '' before it wrote any."""
    _check_lines(lines)
    queue.find(task_id)
    try:
        fd = os.open(queue.log_path(task_id, err), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return ""
    try:
        start = _start_of_last_lines(fd, lines)
        data = os.pread(fd, os.fstat(fd).st_size - start, start)
    finally:
        os.close(fd)
    return data.decode(errors="replace")


class _Reader:
    """Reads a log file as it grows; moves on to a new file under the same name (a new attempt)."""

    def __init__(self, path: str, lines: int | None) -> None:
        self.path, self.lines = path, lines
        self.fd = -1
        self.ident: tuple[int, int] | None = None

    def _read_to_end(self) -> bytes:
        chunks = []
        while chunk := os.read(self.fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)

    def read(self) -> bytes:
        """What was written since the last call ('' when nothing was)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        out = b""
        if st is not None and (st.st_ino, st.st_dev) != self.ident:
            if self.fd >= 0:  # the rest of the old file, then the new one
                out = self._read_to_end()
                os.close(self.fd)
            self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            own = os.fstat(self.fd)
            self.ident = (own.st_ino, own.st_dev)
            if self.lines is not None:
                os.lseek(self.fd, _start_of_last_lines(self.fd, self.lines), os.SEEK_SET)
            self.lines = None  # only the first file starts late
        elif st is not None and os.lseek(self.fd, 0, os.SEEK_CUR) > st.st_size:
            os.lseek(self.fd, 0, os.SEEK_SET)  # cut short under us: read it again from the start
        if self.fd >= 0:
            out += self._read_to_end()
        return out

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def follow(queue: TaskQueue, task_id: str, err: bool = False, lines: int | None = None,
           timeout: float | None = None) -> Iterator[bytes]:
    """See :meth:`TaskQueue.follow`.  Checked at once (unknown ID, bad arguments), then a generator."""
    _check_lines(lines)
    if timeout is not None and not timeout > 0:
        raise UsageError(f"invalid timeout {timeout!r}: expected a positive number of seconds")
    if queue.find(task_id) == "quarantine":
        raise TaskStateError(f"task {task_id!r} is malformed and was quarantined")
    return _follow(queue, task_id, _Reader(queue.log_path(task_id, err), lines), timeout)


def _follow(queue: TaskQueue, task_id: str, reader: _Reader, timeout: float | None) -> Iterator[bytes]:
    deadline = time.monotonic() + (math.inf if timeout is None else timeout)

    def news() -> tuple[bytes, bool] | None:
        finished = queue._is_finished(task_id)  # before reading: once finished, this read gets it all
        data = reader.read()
        return (data, finished) if data or finished else None

    try:
        while True:
            data, finished = wait_until(news, deadline - time.monotonic(), lambda: TmuxTimeoutError(
                f"timed out after {timeout:g}s following task {task_id!r}: it has not finished"))
            if data:
                yield data
            if finished:
                return
    finally:
        reader.close()
