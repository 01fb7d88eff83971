"""A pane's output as text: terminal bytes rendered line by line, and the text after an input.

Output read from the control client's stream is raw terminal bytes; :func:`render` turns them into
the lines a terminal would show for line-oriented programs (escape sequences dropped; carriage
return, backspace, cursor left/right and erase-to-end-of-line applied; tabs kept).  Full-screen
programs draw with cursor addressing: match their *screen* instead.
"""

from __future__ import annotations


def render(data: bytes) -> str:
    """``data`` (terminal output) as text: one ``\\n``-ended line per line the terminal showed,
    the last one without ``\\n`` when the output did not end a line."""
    from .tslog import plain
    from .tslog import render as render_line

    text = plain(data)
    if text is not None:  # the common case, at once
        return text.decode("utf-8", errors="replace")
    return "\n".join(render_line(line).decode("utf-8", errors="replace") for line in data.split(b"\n"))


class Renderer:
    """Renders a growing byte string incrementally: only what came since the last call is looked
    at again (the last, unfinished line included)."""

    def __init__(self) -> None:
        self._done: list[str] = []  # rendered complete lines
        self._consumed = 0  # bytes of the data that those lines covered

    def text(self, data: bytes) -> str:
        cut = data.rfind(b"\n") + 1
        if cut > self._consumed:
            self._done += render(data[self._consumed:cut - 1]).split("\n")
            self._consumed = cut
        tail = render(data[self._consumed:])
        return "\n".join([*self._done, tail]) if self._done else tail


def skip_lines(data: bytes, count: int) -> int:
    """The index in ``data`` just after its first ``count`` newlines (len(data) if fewer)."""
    index = 0
    for _ in range(count):
        found = data.find(b"\n", index)
        if found < 0:
            return len(data)
        index = found + 1
    return index
