"""What a pane wrote, as the control client saw it: its bytes, when they came, and the shell's marks.

A :class:`PaneStream` is fed by the control client's reader thread with every ``%output`` chunk of
its pane, tagged with the position of that event in the client's event stream (so a command's
reply can be placed exactly among the pane's bytes) and its arrival time.  It finds the shell
integration's OSC 133 marks (A prompt start, B prompt end, C command start, D;<status> command
end) as the bytes arrive, even when a sequence is split between two chunks.

It also keeps the pane's sizes (:attr:`PaneStream.sizes`): every change the control client saw in a
``%layout-change`` notification, and sizes the library read (``list-panes``), each placed where
it came among the bytes; with the bytes and their arrival times, that is a whole asciicast
(:func:`pytest_tmuxorch.recording.from_stream`).

It keeps the last :data:`STREAM_LIMIT` bytes; older ones are dropped, and a reader asking for them
learns that they are gone (:attr:`PaneStream.start`).  A *gap* is where output may be missing: the
control client stopped listening (it was killed, or the server or session went), or a new one
started.  Each gap keeps the event position it was marked at, so an input answered before it is
told apart from one answered after it even when no byte came in between (:meth:`PaneStream.missing`).
"""

from __future__ import annotations

import bisect
import re
import threading
from typing import NamedTuple

STREAM_LIMIT = 16 << 20  # bytes kept per pane
# OSC 133 marks, and OSC 0/2 titles (the shell integration keeps its state in the title).
_MARK = re.compile(rb"\x1b\](?:133;([ABCD])(?:;(-?\d+))?[^\x07\x1b]*|[02];([^\x07\x1b]*))(?:\x07|\x1b\\)")
_CARRY = 512  # a mark or title is shorter than this: an unfinished one at the end of a chunk waits


class Mark(NamedTuple):
    """One OSC 133 mark: its letter, the stream offset just after it, and D's exit status."""

    kind: str
    offset: int
    status: int | None = None


class Gap(NamedTuple):
    """Output may be missing before stream offset ``offset``: marked at event number ``position``."""

    offset: int
    position: int


class SizeChange(NamedTuple):
    """From stream offset ``offset`` (at monotonic time ``time``) the pane is ``columns`` x ``rows``."""

    offset: int
    time: float
    columns: int
    rows: int


# A leaf of a tmux layout: WxH,X,Y,ID (a container has { or [ after its Y instead of ,ID).
_LAYOUT_LEAF = re.compile(r"(\d+)x(\d+),\d+,\d+,(\d+)")


def layout_sizes(args: str) -> dict[str, tuple[int, int]]:
    """The size of each pane shown by a ``%layout-change`` notification
    (``@window layout visible-layout flags``): the visible layout, so a zoomed pane has the
    window's size and the panes hidden behind it are not listed."""
    words = args.split(" ")
    layout = words[2] if len(words) > 2 else words[1] if len(words) > 1 else ""
    return {f"%{pane}": (int(columns), int(rows)) for columns, rows, pane in _LAYOUT_LEAF.findall(layout)}


class PaneStream:
    """The output of one pane: bytes at stream offsets ``start``..``end``, marks, arrival times."""

    def __init__(self, limit: int = STREAM_LIMIT, listening: bool = True) -> None:
        self.limit = limit
        self.listening = listening  # a control client feeds this stream now
        self.lock = threading.Lock()
        self.start = 0  # stream offset of data[0]
        self.data = bytearray()
        self.marks: list[Mark] = []
        self.titles: list[tuple[int, str]] = []  # (offset after it, text) of each title set
        self.gaps: list[Gap] = []
        self._last_gap = -1  # the event position of the latest gap (kept when trimmed)
        # One entry per chunk: the event position it came at, its stream offset, its arrival time.
        self.positions: list[int] = []
        self.offsets: list[int] = []
        self.times: list[float] = []
        self.sizes: list[SizeChange] = []  # the first is the size before any change seen
        # (offset, time, text): the screen as it was at ``offset``, drawn as output (see recording.py)
        self.frame: tuple[int, float, str] | None = None
        self._scanned = 0  # stream offset up to which marks were looked for

    @property
    def end(self) -> int:
        """The stream offset after the last byte received."""
        return self.start + len(self.data)

    def feed(self, data: bytes, position: int, when: float) -> None:
        """Add a chunk that arrived as event number ``position`` at time ``when`` (monotonic)."""
        with self.lock:
            self.positions.append(position)
            self.offsets.append(self.end)
            self.times.append(when)
            self.data += data
            self._scan()
            if len(self.data) > self.limit:
                self._trim(len(self.data) - self.limit * 3 // 4)

    def resized(self, columns: int, rows: int, when: float) -> None:
        """The pane is ``columns`` x ``rows`` from now on (``when``, monotonic); a size it already
        had is not a change."""
        with self.lock:
            if not self.sizes or self.sizes[-1][2:] != (columns, rows):
                self.sizes.append(SizeChange(self.end, when, columns, rows))

    def set_frame(self, offset: int, when: float, text: str) -> None:
        """``text`` draws the screen as it was at stream offset ``offset`` (at ``when``): a
        recording starts there, so that it shows what was on the screen before its first byte."""
        with self.lock:
            self.frame = (offset, when, text)

    def gap(self, position: int, listening: bool) -> None:
        """Output may be missed before what comes next: at event number ``position`` the control
        client stopped listening, or (``listening``) a new one started."""
        with self.lock:
            self.listening = listening
            self._last_gap = position
            if self.gaps and self.gaps[-1].offset == self.end:
                self.gaps[-1] = Gap(self.end, position)  # one gap: no byte came in between
            else:
                self.gaps.append(Gap(self.end, position))

    def missing(self, position: int, end: int | None = None) -> bool:
        """May output that came after event number ``position`` (before stream offset ``end``;
        default: up to now) be missing from this stream?"""
        if end is None:
            return not self.listening or self._last_gap > position
        with self.lock:
            return any(gap.position > position and gap.offset < end for gap in self.gaps)

    def offset_after(self, position: int) -> int:
        """The stream offset of the first byte that came after event number ``position``."""
        with self.lock:
            index = bisect.bisect_right(self.positions, position)
            return self.offsets[index] if index < len(self.offsets) else self.end

    def time_at(self, offset: int) -> float | None:
        """When the byte at ``offset`` arrived (None when it is not kept, or not yet here)."""
        with self.lock:
            index = bisect.bisect_right(self.offsets, offset) - 1
            return self.times[index] if index >= 0 and offset < self.end else None

    def read(self, begin: int, end: int | None = None) -> bytes:
        """The bytes from stream offset ``begin`` to ``end`` (default: all received); raises
        :class:`LookupError` when some of them were dropped already."""
        with self.lock:
            if begin < self.start:
                raise LookupError(f"{self.start - begin} bytes of this pane's output were dropped "
                                  f"(at most {self.limit} bytes are kept)")
            stop = self.end if end is None else min(end, self.end)
            return bytes(self.data[begin - self.start:stop - self.start])

    def marks_after(self, offset: int) -> list[Mark]:
        """The marks that end after ``offset``, in order."""
        with self.lock:
            index = bisect.bisect_right(self.marks, offset, key=lambda mark: mark.offset)
            return self.marks[index:]

    def title_at(self, offset: int, position: int | None = None) -> str | None:
        """The pane's title as the stream had set it at ``offset``; None when unknown (no title
        seen since the client attached, or output may be missing since the last one).
        ``position``: the event number ``offset`` stands for (an answer's); a gap marked after
        it does not count, even at that same offset.  Default: now."""
        with self.lock:
            index = bisect.bisect_right(self.titles, offset, key=lambda title: title[0]) - 1
            if index < 0:
                return None
            since = self.titles[index][0]  # (a gap at the title's own offset came after it)
            if any(since <= gap.offset <= offset and (position is None or gap.position <= position)
                   for gap in self.gaps):
                return None
            return self.titles[index][1]

    def _scan(self) -> None:
        """Find the marks in what came since the last scan (under the lock).  An unfinished OSC
        sequence at the very end is looked at again, whole, when the next chunk comes."""
        begin = max(self._scanned, self.start)
        window = bytes(self.data[begin - self.start:])
        for match in _MARK.finditer(window):
            if match.group(3) is not None:
                self.titles.append((begin + match.end(), match.group(3).decode("utf-8", errors="replace")))
                continue
            status = int(match.group(2)) if match.group(2) is not None else None
            self.marks.append(Mark(match.group(1).decode(), begin + match.end(), status))
        last = window.rfind(b"\x1b")
        unfinished = last >= 0 and len(window) - last < _CARRY and not _ended(window[last:])
        self._scanned = begin + last if unfinished else self.end

    def _trim(self, count: int) -> None:
        self.start += count
        del self.data[:count]
        cut = bisect.bisect_right(self.offsets, self.start) - 1
        if cut > 0:
            del self.positions[:cut], self.offsets[:cut], self.times[:cut]
        self.marks = [mark for mark in self.marks if mark.offset > self.start]
        self.titles = [title for title in self.titles if title[0] > self.start] or self.titles[-1:]
        self.gaps = [gap for gap in self.gaps if gap.offset > self.start]
        before = [size for size in self.sizes if size.offset <= self.start]
        self.sizes = before[-1:] + self.sizes[len(before):]  # the size in force at the start stays
        if self.frame is not None and self.frame[0] < self.start:
            self.frame = None
        self._scanned = max(self._scanned, self.start)


def _ended(sequence: bytes) -> bool:
    """True when an escape sequence starting at ``sequence[0]`` is complete (or not an OSC)."""
    if len(sequence) < 2:
        return False
    if sequence[1:2] != b"]":
        return True
    return b"\x07" in sequence or b"\x1b\\" in sequence
