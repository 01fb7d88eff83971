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
    from . import tslog  # (not at the top: it imports datetime, which the console's start-up skips)

    text = tslog.plain(data)
    if text is not None:  # the common case, at once
        return text.decode("utf-8", errors="replace")
    return "\n".join(tslog.render(line).decode("utf-8", errors="replace") for line in data.split(b"\n"))


class Renderer:
    """Renders a growing byte string incrementally: each call passes only the bytes from
    :attr:`consumed` on, so what was rendered into complete lines is neither read nor looked at
    again."""

    def __init__(self) -> None:
        self._done = ""  # the complete lines rendered so far, each ended by a newline
        self.consumed = 0  # bytes of the data that those lines covered

    def text(self, rest: bytes) -> str:
        """The whole data as text, given ``rest``: the data from :attr:`consumed` on."""
        cut = rest.rfind(b"\n") + 1
        if cut:
            self._done += render(rest[:cut - 1]) + "\n"
            self.consumed += cut
            rest = rest[cut:]
        return self._done + render(rest)


def skip_lines(data: bytes, count: int) -> int:
    """The index in ``data`` just after its first ``count`` newlines (len(data) if fewer)."""
    index = 0
    for _ in range(count):
        found = data.find(b"\n", index)
        if found < 0:
            return len(data)
        index = found + 1
    return index
