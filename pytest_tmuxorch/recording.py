"""Recordings: a pane's output as an asciicast v2 file, playable with ``asciinema play``.

:class:`Recording` is pure: no tmux, no threads of its own, no clock of its own.  It is fed with
:meth:`~Recording.output` and :meth:`~Recording.resize`, giving the time each chunk arrived;
:meth:`~Recording.dump` writes the file.

:func:`from_stream` builds one from what the control transport keeps anyway: a pane's
:class:`~pytest_tmuxorch.streams.PaneStream` holds every byte the pane wrote, the time each chunk
arrived and the pane's sizes (the first one the library read, then every ``%layout-change``).  So
recording costs nothing while a test runs: the work (decoding, JSON) is done only when a cast is
written.  Times count from the first chunk; the header's ``timestamp`` is the wall-clock time of
that chunk and its size the pane's size then; each later size is an ``"r"`` event, placed among
the output where the control client saw it.  Where output may be missing (the client
reconnected), a marker event says so.

The format (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line
``{"version": 2, "width": W, "height": H, "timestamp": T, ...}``, then one JSON array per event,
``[seconds, "o", text]`` for output, ``[seconds, "r", "WxH"]`` for a resize and
``[seconds, "m", label]`` for a marker; seconds count from the start and never go backwards.

Memory is capped (``max_bytes``, 8 MiB of output by default): past it, the oldest events are
dropped, the header takes the size in force at the first event kept, and the recording starts
with a marker event saying how much was dropped (players show markers; the terminal state at
that point is lost, so the first screen may look torn).
"""

from __future__ import annotations

import codecs
import collections
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import UsageError

if TYPE_CHECKING:
    from .streams import PaneStream
    from .tmux import Tmux

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
NO_STREAM = "no recording: the subprocess transport keeps no output (use transport='control')"
_EVENT_OVERHEAD = 16  # what an event costs beyond its data, roughly, in the memory cap


class Event(NamedTuple):
    """One event: seconds since the start, its code (``o``, ``r``, ``m``) and its data."""

    time: float
    code: str
    data: str


class Cast(NamedTuple):
    """A recording read back by :func:`load_cast`."""

    header: dict[str, Any]
    events: list[Event]

    @property
    def output(self) -> str:
        """Everything the program wrote, concatenated."""
        return "".join(event.data for event in self.events if event.code == "o")


class Recording:
    """The asciicast v2 recording of one pane.

    ``started`` is the wall-clock time (``time.time()``) the recording starts; every ``when`` given
    later is on the same clock.  Safe to feed from one thread while another dumps.
    """

    def __init__(
        self,
        width: int,
        height: int,
        started: float,
        *,
        title: str | None = None,
        env: dict[str, str] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        _check_size(width, height)
        if max_bytes < 1:
            raise UsageError(f"invalid max_bytes {max_bytes}: must be at least 1")
        self.started = started
        self.title = title
        self.env = dict(env) if env else None
        self.max_bytes = max_bytes
        self._size = (width, height)  # in force at the first event kept
        self._events: collections.deque[tuple[Event, int]] = collections.deque()  # with its size
        self._bytes = 0
        self._last = 0.0
        self._dropped_events = 0
        self._dropped_bytes = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        import threading  # here: modules the console script loads do not import it

        self._lock = threading.Lock()

    def output(self, when: float, data: bytes) -> None:
        """Record ``data`` written by the program at ``when``.  A character split across chunks is
        decoded whole, with the chunk that completes it."""
        with self._lock:
            text = self._decoder.decode(data)
            if text:
                self._add(when, "o", text, len(data))

    def resize(self, when: float, width: int, height: int) -> None:
        """Record that the pane became ``width`` x ``height`` at ``when``."""
        _check_size(width, height)
        with self._lock:
            self._add(when, "r", f"{width}x{height}", 0)

    def marker(self, when: float, label: str) -> None:
        """Record a marker (a chapter a player can jump to), e.g. where a test failed."""
        with self._lock:
            self._add(when, "m", label, len(label))

    @property
    def events(self) -> list[Event]:
        """The events kept, oldest first (without the marker for dropped ones)."""
        with self._lock:
            return [event for event, _ in self._events]

    @property
    def dropped(self) -> tuple[int, int]:
        """How many events, and bytes of output, were dropped to stay under ``max_bytes``."""
        return self._dropped_events, self._dropped_bytes

    def to_text(self) -> str:
        """The whole recording as asciicast v2 text."""
        import json  # here, not at the top: the console script never pays for it

        with self._lock:
            width, height = self._size
            events = [event for event, _ in self._events]
            dropped_events, dropped_bytes = self._dropped_events, self._dropped_bytes
        header: dict[str, Any] = {"version": 2, "width": width, "height": height, "timestamp": int(self.started)}
        if self.title is not None:
            header["title"] = self.title
        if self.env:
            header["env"] = self.env
        if dropped_events or dropped_bytes:
            first = events[0].time if events else self._last
            label = f"tmuxorch: {dropped_bytes} bytes of earlier output dropped ({dropped_events} events), over the {self.max_bytes}-byte cap"
            events.insert(0, Event(first, "m", label))
        lines = [json.dumps(header, ensure_ascii=False)]
        lines += [json.dumps([round(event.time, 6), event.code, event.data], ensure_ascii=False) for event in events]
        return "\n".join(lines) + "\n"

    def dump(self, path: str | Path) -> Path:
        """Write the recording to ``path`` (parent directories created); return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_text(), encoding="utf-8")
        return target

    def _add(self, when: float, code: str, data: str, size: int) -> None:
        self._last = max(self._last, when - self.started)  # a clock stepping back never reorders events
        if size + _EVENT_OVERHEAD > self.max_bytes:  # one chunk over the cap on its own: keep its end
            keep = max(0, self.max_bytes - _EVENT_OVERHEAD)
            self._dropped_bytes += size - min(size, keep)
            data = data.encode()[-keep:].decode(errors="ignore") if keep else ""  # a cut character goes
            size = min(size, keep)
        self._events.append((Event(self._last, code, data), size))
        self._bytes += size + _EVENT_OVERHEAD
        while self._bytes > self.max_bytes and len(self._events) > 1:
            old, old_size = self._events.popleft()
            self._bytes -= old_size + _EVENT_OVERHEAD
            self._dropped_events += 1
            self._dropped_bytes += old_size
            if old.code == "r":
                width, height = old.data.split("x")
                self._size = (int(width), int(height))


def from_stream(
    stream: PaneStream,
    size: tuple[int, int],
    *,
    title: str | None = None,
    markers: list[tuple[float, str]] | None = None,
    since: int | None = None,
    first: tuple[float, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Recording:
    """The recording of what ``stream`` holds, from stream offset ``since`` on (default: all).

    ``size``: the pane's size, for a stream that knows none.  ``markers``: ``(monotonic time,
    label)`` marker events to add, e.g. where a test failed.  ``first``: ``(monotonic time, text)``
    to start with, at time 0 (a drawing of the screen as it was at ``since``, so that a recording
    started late shows what was already there); by default the stream's own
    :attr:`~pytest_tmuxorch.streams.PaneStream.frame`, if it has one.
    """
    import time

    with stream.lock:
        start, data = stream.start, bytes(stream.data)
        offsets, times, sizes, gaps = list(stream.offsets), list(stream.times), list(stream.sizes), list(stream.gaps)
        frame = stream.frame
    if since is None and first is None and frame is not None:  # the screen when recording started
        since, first = frame[0], frame[1:]
    begin, end = max(start, since or 0), start + len(data)
    # The stream's events in stream order; a size or a gap comes before the bytes at its offset.
    events: list[tuple[int, int, float, str, Any]] = []
    for number, offset in enumerate(offsets):
        stop = offsets[number + 1] if number + 1 < len(offsets) else end
        if stop > begin:
            events.append((max(offset, begin), 1, times[number], "o", stop))
    in_force = [change for change in sizes if change.offset <= begin] or sizes[:1]  # else: the first one seen
    width, height = (in_force[-1].columns, in_force[-1].rows) if in_force else size
    events += [(change.offset, 0, change.time, "r", change) for change in sizes if change.offset > begin
               and change is not in_force[-1]]
    events += [(gap.offset, 0, float("-inf"), "gap", None) for gap in gaps
               if begin < gap.offset < end]  # at the time of the last event; none after the last byte
    events.sort(key=lambda event: event[:2])
    marks = sorted(markers or [])
    origin = first[0] if first else events[0][2] if events and events[0][3] == "o" else time.monotonic()
    to_wall = time.time() - time.monotonic()
    recording = Recording(width, height, origin + to_wall, title=title, max_bytes=max_bytes)
    if first:
        recording.output(origin + to_wall, first[1].encode())
    for at, _, when, kind, payload in events:
        while marks and marks[0][0] <= when:
            label_time, label = marks.pop(0)
            recording.marker(label_time + to_wall, label)
        if kind == "o":
            recording.output(when + to_wall, data[at - start : payload - start])
        elif kind == "r":
            recording.resize(when + to_wall, payload.columns, payload.rows)
        else:
            recording.marker(when + to_wall, "tmuxorch: output may be missing here (the control client reconnected)")
    for label_time, label in marks:
        recording.marker(label_time + to_wall, label)
    return recording


def pane_recording(tmux: Tmux, pane_id: str, title: str | None = None,
                   markers: list[tuple[float, str]] | None = None) -> Recording:
    """The asciicast of everything ``pane_id`` wrote while the control client listened."""
    stream = tmux.transport.stream(pane_id)
    if stream is None:
        raise UsageError(NO_STREAM)
    size = (80, 24)
    if not stream.sizes:  # the library never read its size: ask now (no resize was seen either)
        try:
            width, height = tmux.run("display-message", "-p", "-t", pane_id, "#{pane_width} #{pane_height}")[0].split()
            size = (int(width), int(height))
        except Exception:  # a pane that is gone: its output still plays, at a guessed size
            pass
    return from_stream(stream, size, title=title, markers=markers)


def screen_frame(lines: list[str], cursor: tuple[int, int], cursor_visible: bool = True) -> str:
    """Output that draws a screen captured with ``capture-pane -p -e -N`` (one line per row):
    clear, the rows (styles carry from one row to the next, as tmux writes them), then the
    cursor where it was."""
    column, row = cursor
    hide = "" if cursor_visible else "\x1b[?25l"
    lines = list(lines)
    while lines and not lines[-1]:  # the clear has blanked them
        lines.pop()
    return "\x1b[0m\x1b[H\x1b[2J" + "\r\n".join(lines) + f"\x1b[0m\x1b[{row + 1};{column + 1}H{hide}"


def load_cast(path: str | Path) -> Cast:
    """Read an asciicast v2 file (for tests and tools); raises :class:`UsageError` if it is not one."""
    import json

    lines = Path(path).read_text(encoding="utf-8").splitlines()
    try:
        header = json.loads(lines[0]) if lines else None
        if not isinstance(header, dict) or header.get("version") != 2:
            raise ValueError("no version 2 header")
        events = [Event(float(time), str(code), str(data)) for time, code, data in map(json.loads, filter(None, lines[1:]))]
    except (ValueError, TypeError) as error:
        raise UsageError(f"{path}: not an asciicast v2 file ({error})") from None
    return Cast(header, events)


def _check_size(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise UsageError(f"invalid terminal size {width}x{height}: both must be at least 1")
