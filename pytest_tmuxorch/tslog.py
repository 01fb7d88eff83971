"""Timestamp filter for pane logs: ``python tslog.py FILE`` appends stdin to FILE, one line at a
time, each prefixed with a UTC timestamp (``2026-01-31T12:00:00.123Z``).

Pane output is a terminal stream, so each line is rendered the way a terminal would show it:
escape sequences (colours, bracketed paste, titles) are dropped, and carriage return, backspace,
cursor left/right and erase-to-end-of-line are applied.  Run by ``pipe-pane`` as a standalone
script: it imports nothing from the package, so it starts fast.
"""

import re
import sys
from datetime import datetime, timezone

_TOKENS = re.compile(
    rb"\x1b\[([0-?]*)[ -/]*([@-~])"  # CSI: cursor moves, colours, modes
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles
    rb"|\x1b[P^_][^\x1b]*(?:\x1b\\)?"  # DCS, PM, APC strings
    rb"|\x1b.?"  # any other escape
    rb"|([\r\b])"
    rb"|([^\x1b\r\b]+)"
)


# Bytes that make a line more than its text (a tab is kept as it is).
_CONTROLS = re.compile(rb"[\x00-\x08\x0a-\x1f]")


def render(raw: bytes) -> bytes:
    """One terminal line as it would look on screen (trailing blanks kept: a prompt ends in one)."""
    text = raw[:-1] if raw.endswith(b"\r") else raw  # (the carriage return of a line end moves nothing)
    if not _CONTROLS.search(text):
        return text  # plain text: the common case, and as the loop below would make it
    line = bytearray()
    cursor = 0
    for match in _TOKENS.finditer(raw):
        params, final, control, text = match.group(1), match.group(2), match.group(3), match.group(4)
        if text:
            text = bytes(ch for ch in text if ch >= 0x20 or ch == 0x09)
            line[cursor : cursor + len(text)] = text
            cursor += len(text)
        elif control == b"\r":
            cursor = 0
        elif control == b"\b":
            cursor = max(0, cursor - 1)
        elif final in (b"C", b"D"):
            step = int(params) if params.isdigit() else 1
            cursor = max(0, cursor + step if final == b"C" else cursor - step)
            line.extend(b" " * (cursor - len(line)))
        elif final == b"K" and params in (b"", b"0"):
            del line[cursor:]
    return bytes(line)


def stamp() -> bytes:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.").encode() + b"%03dZ " % (now.microsecond // 1000)


def main(path: str) -> None:
    with open(path, "ab", buffering=0) as out:
        for line in iter(sys.stdin.buffer.readline, b""):
            out.write(stamp() + render(line.rstrip(b"\n")).rstrip() + b"\n")


if __name__ == "__main__":
    main(sys.argv[1])
