"""Decoding ``capture-pane -e`` output (text with SGR escape sequences) into rows of cells.

Decoding uses rich's :class:`~rich.ansi.AnsiDecoder`, not pyte.  Both were tried on real
``capture-pane -e`` output of tmux 3.3a (16, 256 and true colours, bold, dim, italic, underline,
reverse, strike, blink, double and curly underlines, underline colour, a background up to the right
edge, wide characters):

* pyte is a terminal emulator, and tmux has already done the emulation: the capture is a grid.
  pyte turns 256-colour indexes into hex strings (``38;5;208`` and ``38;2;255;135;0`` come out
  equal, so the palette index the issue asks for is lost), has no dim, names yellow ``brown``,
  needs ``\\n`` rewritten as ``\\r\\n`` (and scrolls on the last one), and, worst, prints the colon
  sub-parameters tmux emits for underline styles (``\\e[4:2m`` double, ``\\e[4:3m`` curly) as
  text: ``W`` double-underlined reads back as ``2mW``.  It was also about 1.8 times slower
  (66 ms against 37 ms for a 200x50 screen with two colour changes every 5 cells).
* rich keeps the colour kinds apart (standard number, 256-colour number, RGB triplet, default),
  has dim, strike and blink, keeps the style across lines (which tmux requires, below), is well
  kept and is what renders the SVG and HTML anyway.  Its gaps are small and fixed before it sees
  the text (:func:`_normalise_sgr`): it drops colon sub-parameters (so ``4:3`` lost the underline)
  and reads the underline colour ``58;5;N`` as blink (5) and dim (N).

Facts about ``capture-pane -e`` (tmux 3.3a) this relies on:

* tmux writes only what changes from one cell to the next, across line ends too: a line may start
  in the colours the previous one ended with, and there is no reset at the end of a line.  Lines
  must be decoded in order with one decoder, never one by one.
* Without ``-N``, trailing spaces are trimmed even when they carry a background colour; with it
  they are kept (up to the last cell written).  ``-J`` would join wrapped lines: a grid needs
  rows, so it is used only for the screen's text.
* A background painted by erasing (``\\e[41m\\e[K``: erase to end of line with a colour) is not in
  the capture at all: tmux keeps erased cells out of the line's used cells.  Programs that write
  spaces (curses, on tmux's terminfo without ``bce``) are captured faithfully.
* Styles are normalised: ``\\e[1;32m`` comes back as ``\\e[1m\\e[32m``; ``38;5;N`` stays distinct
  from ``3N`` (this module reports both as the same colour name for N < 16: they are the same
  palette entry); SGR 21 comes back as ``4:2``.
* Wide characters appear once; the padding cell after them is skipped.

rich is imported only inside the functions that need it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .styles import BASIC_COLORS, DEFAULT_STYLE, Cell, Color, Style

if TYPE_CHECKING:
    import rich.color
    import rich.style

_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
_SKIP = {"38": "fg", "48": "bg", "58": "underline colour"}


def _normalise_sgr(match: re.Match[str]) -> str:
    """Rewrite one SGR sequence into the plain ``;`` form rich understands.

    Colon sub-parameters become their plain meaning (``4:3`` curly underline is an underline,
    ``4:0`` none, ``38:2::r:g:b`` true colour); the underline colour (``58``, ``59``) is dropped
    with its arguments, as rich would read them as attributes; 21 (double underline) is 4.
    """
    params = match.group(1).split(";")
    out: list[str] = []
    i = 0
    while i < len(params):
        param = params[i]
        i += 1
        if ":" in param:
            head, *subs = param.split(":")
            if head == "4":
                out.append("24" if subs[:1] == ["0"] else "4")
            elif head in ("38", "48") and subs[:1] == ["5"] and len(subs) >= 2:
                out += [head, "5", subs[1]]
            elif head in ("38", "48") and subs[:1] == ["2"] and len(subs) >= 4:
                out += [head, "2", *subs[-3:]]
        elif param in _SKIP:
            kind = params[i] if i < len(params) else ""
            count = {"5": 2, "2": 4}.get(kind, 1)
            if param != "58":
                out += params[i - 1 : i + count]
            i += count
        elif param == "21":
            out.append("4")
        elif param != "59":
            out.append(param)
    return "\x1b[" + ";".join(out) + "m" if out else ""


def decode(lines: list[str], columns: int, rows: int) -> list[list[Cell]]:
    """Decode rows of SGR text into cells, with one decoder for all lines (styles carry over)."""
    from rich.ansi import AnsiDecoder

    decoder = AnsiDecoder()
    converted: dict[rich.style.Style | str, Style] = {}
    grid: list[list[Cell]] = []
    for line in lines[:rows]:
        decoded = decoder.decode_line(_SGR.sub(_normalise_sgr, line))
        styles = [DEFAULT_STYLE] * len(decoded.plain)
        for span in decoded.spans:
            if span.style not in converted:
                converted[span.style] = _from_rich(span.style)
            styles[span.start : span.end] = [converted[span.style]] * (span.end - span.start)
        grid.append(cells_of(list(zip(decoded.plain, styles, strict=True)), columns))
    blank = [Cell(" ", DEFAULT_STYLE)] * columns
    grid += [list(blank) for _ in range(rows - len(grid))]
    return grid


def cells_of(chars: Iterable[tuple[str, Style]], columns: int) -> list[Cell]:
    """Lay characters out in ``columns`` cells: wide ones take two, combining ones join the last."""
    from rich.cells import get_character_cell_size

    cells: list[Cell] = []
    for char, style in chars:
        width = 1 if " " <= char <= "~" else get_character_cell_size(char)
        if width == 0:
            at = len(cells) - (2 if len(cells) > 1 and not cells[-1].char else 1)
            if at >= 0:
                cells[at] = cells[at]._replace(char=cells[at].char + char)
            continue
        cells.append(Cell(char, style))
        if width == 2:
            cells.append(Cell("", style))
    if len(cells) > columns:
        del cells[columns:]
        if cells and cells[-1].char and get_character_cell_size(cells[-1].char[0]) == 2:
            cells[-1] = Cell(" ", cells[-1].style)  # half a wide character does not fit
    cells += [Cell(" ", DEFAULT_STYLE)] * (columns - len(cells))
    return cells


def _from_rich(style: rich.style.Style | str) -> Style:
    from rich.style import Style as RichStyle

    if isinstance(style, str):
        style = RichStyle.parse(style)
    return Style(
        fg=_color_from_rich(style.color), bg=_color_from_rich(style.bgcolor),
        bold=bool(style.bold), dim=bool(style.dim), italic=bool(style.italic),
        underline=bool(style.underline or style.underline2), blink=bool(style.blink or style.blink2),
        reverse=bool(style.reverse), strike=bool(style.strike),
    )  # fmt: skip


def _color_from_rich(color: rich.color.Color | None) -> Color:
    from rich.color import ColorType

    if color is None or color.type == ColorType.DEFAULT:
        return None
    if color.type == ColorType.TRUECOLOR and color.triplet is not None:
        return color.triplet.hex
    number = color.number or 0
    return BASIC_COLORS[number] if number < 16 else number
