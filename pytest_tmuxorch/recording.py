"""Recordings: a pane's output as an asciicast v2 file, playable with ``asciinema play``.

:class:`Recording` is pure: no tmux, no threads of its own, no clock of its own.  Whoever reads a
pane's output (the control-mode connection's ``%output`` stream) feeds it with :meth:`~Recording.output`
and :meth:`~Recording.resize`, giving the time each chunk arrived; :meth:`~Recording.dump` writes the
file.  It is cheap enough to leave on: one incremental UTF-8 decode and one append per chunk.

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
from typing import Any, NamedTuple

from .errors import UsageError

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
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
