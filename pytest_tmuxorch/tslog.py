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


# Bytes that make text more than text (a tab is kept as it is; newlines end lines).
_CONTROLS = re.compile(rb"[\x00-\x08\x0b-\x1f]")
# Terminated OSC strings (titles, the shell's marks) within a line: they draw nothing.
_OSC = re.compile(rb"\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)")


def plain(data: bytes) -> bytes | None:
    """``data`` as the terminal shows it when it is text, line ends, titles and marks only (a
    prompt, a command's plain output): without the titles and marks, lines ended by ``\n``.
    None when anything else is in it: :func:`drawn` applies that, line by line."""
    if b"\x1b]" in data:
        data = _OSC.sub(b"", data)
    data = data.replace(b"\r\n", b"\n").removesuffix(b"\r")  # (the carriage return of a line end moves nothing)
    return None if _CONTROLS.search(data) else data


def render(raw: bytes) -> bytes:
    """One terminal line as it would look on screen (trailing blanks kept: a prompt ends in one)."""
    text = plain(raw)
    return drawn(raw) if text is None else text


def drawn(raw: bytes) -> bytes:
    """:func:`render` the long way: each escape sequence and control applied in turn."""
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
