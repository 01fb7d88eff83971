"""Screens as data: what a pane shows, cell by cell, with colours and attributes.

:func:`capture_screen` asks tmux, in one call, for the cursor, the size and the visible screen with
its escape sequences (``capture-pane -p -e -N``), and turns that into a :class:`Screen`: text,
rows, cursor, size and the :class:`Style` of every cell.  A screen renders to SVG and HTML
(:meth:`Screen.to_svg`, :meth:`Screen.to_html`) and to a readable text form with a style map
(:meth:`Screen.to_snapshot_text`), which is what golden snapshots store; :func:`describe_difference`
tells a person what changed between two screens (rows of text, then cells whose style changed).

One concept per module, all importable from here: :mod:`.styles` (colours, :class:`Style`,
:class:`Cell`), :mod:`.ansi` (decoding ``capture-pane -e``, with rich; why not pyte is told
there), :mod:`.render` (SVG and HTML, with rich), :mod:`.screendiff` (differences).

rich (and difflib, hashlib, html) are imported only inside the functions that need them: the
console script will import this module through :mod:`panes`, and must start fast.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from .ansi import cells_of, decode
from .errors import UsageError
from .screendiff import MAX_STYLE_LINES, StyleChange, describe_difference, style_changes
from .styles import BASIC_COLORS, DEFAULT_STYLE, Cell, Color, Style, parse_color

if TYPE_CHECKING:
    from .tmux import Tmux

__all__ = [
    "BASIC_COLORS", "DEFAULT_STYLE", "MAX_STYLE_LINES", "Cell", "Color", "Screen", "Style", "StyleChange", "StyleRun",
    "capture_screen", "describe_difference", "parse_color", "style_changes",
]

_STYLES_HEADER = "# styles (cells not listed have the default style):"


class StyleRun(NamedTuple):
    """Cells ``start`` to ``end`` (inclusive) of ``row`` share ``style``."""

    row: int
    start: int
    end: int
    style: Style

    def __str__(self) -> str:
        columns = f"{self.start}" if self.start == self.end else f"{self.start}-{self.end}"
        return f"row {self.row} col {columns}: {self.style}"


class Screen:
    """What a pane showed at one instant: an immutable grid of :class:`Cell`.

    ``==`` compares the size, every character and every cell's style; not the cursor (where a
    program leaves it is rarely what a test means, and it changes with every key typed) and not
    :attr:`text` (it follows from the cells).  Compare :attr:`cursor` on its own when it matters.
    """

    __slots__ = ("_cursor", "_cursor_visible", "_lines", "_rows", "_text")

    def __init__(
        self,
        rows: Sequence[Sequence[Cell]],
        cursor: tuple[int, int] = (0, 0),
        cursor_visible: bool = True,
        text: str | None = None,
    ) -> None:
        grid = tuple(tuple(row) for row in rows)
        if not grid or not grid[0] or any(len(row) != len(grid[0]) for row in grid):
            raise UsageError("a screen needs at least one row, and every row the same number of cells")
        self._rows = grid
        self._cursor = cursor
        self._cursor_visible = cursor_visible
        self._lines = tuple("".join([cell.char for cell in row]).rstrip(" ") for row in grid)
        self._text = text

    @classmethod
    def from_ansi(
        cls,
        ansi: str | Sequence[str],
        columns: int,
        rows: int,
        cursor: tuple[int, int] = (0, 0),
        cursor_visible: bool = True,
        text: str | None = None,
    ) -> Screen:
        """A screen from text with SGR escape sequences, one line per row (the form of
        ``capture-pane -p -e -N``).  Missing rows and cells are blank; extra ones are dropped."""
        if columns < 1 or rows < 1:
            raise UsageError(f"invalid screen size {columns}x{rows}: both must be at least 1")
        lines = ansi.split("\n") if isinstance(ansi, str) else list(ansi)
        return cls(decode(lines, columns, rows), cursor, cursor_visible, text)

    # -- reading ------------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """``(columns, rows)``."""
        return len(self._rows[0]), len(self._rows)

    @property
    def cursor(self) -> tuple[int, int]:
        """Where the cursor is: ``(column, row)``, 0-based."""
        return self._cursor

    @property
    def cursor_visible(self) -> bool:
        """False while the program hides the cursor."""
        return self._cursor_visible

    @property
    def lines(self) -> tuple[str, ...]:
        """The text of each row, trailing spaces removed; always one string per row."""
        return self._lines

    @property
    def text(self) -> str:
        """The screen's text as :meth:`Pane.capture` gives it: wrapped lines joined, trailing
        blank lines dropped, ``\\n`` after each line (a screen built from cells alone joins
        :attr:`lines`)."""
        if self._text is not None:
            return self._text
        lines = list(self._lines)
        while lines and not lines[-1].strip():
            lines.pop()
        return "".join(line + "\n" for line in lines)

    def cells(self, row: int) -> tuple[Cell, ...]:
        """Every cell of ``row``, left to right (a wide character is followed by a ``""`` cell)."""
        self._check(row, 0)
        return self._rows[row]

    def style(self, row: int, col: int) -> Style:
        """The style of the cell at ``row``, ``col`` (0-based, like :attr:`cursor`)."""
        self._check(row, col)
        return self._rows[row][col].style

    def char(self, row: int, col: int) -> str:
        """The character at ``row``, ``col`` (``""`` for the right half of a wide character)."""
        self._check(row, col)
        return self._rows[row][col].char

    def style_runs(self) -> list[StyleRun]:
        """Every stretch of cells in a row sharing a style other than the default, in order."""
        runs: list[StyleRun] = []
        for y, row in enumerate(self._rows):
            x = 0
            while x < len(row):
                style, start = row[x].style, x
                while x < len(row) and row[x].style == style:
                    x += 1
                if style != DEFAULT_STYLE:
                    runs.append(StyleRun(y, start, x - 1, style))
        return runs

    def _check(self, row: int, col: int) -> None:
        columns, rows = self.size
        if not (0 <= row < rows and 0 <= col < columns):
            raise UsageError(f"cell (row {row}, col {col}) is outside the {columns}x{rows} screen")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Screen):
            return NotImplemented
        return self._rows == other._rows

    def __hash__(self) -> int:
        return hash(self._rows)

    def __repr__(self) -> str:
        columns, rows = self.size
        shown = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"Screen({columns}x{rows}, cursor={self.cursor}, text={shown!r})"

    # -- the text form of golden snapshots ------------------------------------------------------

    def to_snapshot_text(self) -> str:
        """A readable, diffable form: a header with the size, each row's text (blank rows at the
        end left out, the header says how many), then the style map (one ``row R col A-B: style``
        line per run).  :meth:`from_snapshot_text` reads it back.

        Rows lose their trailing spaces (editors strip them anyway); the style map keeps any
        colour they carried.  The cursor is not part of it, as it is not part of ``==``.
        """
        columns, rows = self.size
        shown = list(self._lines)
        while shown and not shown[-1]:
            shown.pop()
        header = f"# tmuxorch screen: {columns} columns x {rows} rows"
        if len(shown) < rows:
            header += f" (the last {rows - len(shown)} blank)"
        out = [header, *shown, _STYLES_HEADER, *(str(run) for run in self.style_runs())]
        return "\n".join(out) + "\n"

    @classmethod
    def from_snapshot_text(cls, text: str) -> Screen:
        """The screen :meth:`to_snapshot_text` described (cursor at the origin)."""
        lines = text.split("\n")
        header = re.fullmatch(r"# tmuxorch screen: (\d+) columns x (\d+) rows(?: \(the last (\d+) blank\))?", lines[0])
        if not header:
            raise UsageError(f"not a tmuxorch screen: first line is {lines[0][:80]!r}")
        columns, rows, blank = int(header.group(1)), int(header.group(2)), int(header.group(3) or 0)
        shown = rows - blank
        if columns < 1 or shown < 0 or len(lines) < shown + 2 or lines[shown + 1] != _STYLES_HEADER:
            raise UsageError(f"not a tmuxorch screen: {shown} rows of text announced, then {_STYLES_HEADER!r}")
        grid = [cells_of([(char, DEFAULT_STYLE) for char in line], columns) for line in [*lines[1 : shown + 1], *[""] * blank]]
        for line in lines[shown + 2 :]:
            if not line:
                continue
            found = re.fullmatch(r"row (\d+) col (\d+)(?:-(\d+))?: (.+)", line)
            if not found:
                raise UsageError(f"not a tmuxorch screen: bad style line {line!r}")
            y, start = int(found.group(1)), int(found.group(2))
            end = int(found.group(3) or start)
            if y >= rows or end >= columns or start > end:
                raise UsageError(f"not a tmuxorch screen: {line!r} is outside {columns}x{rows}")
            style = Style.parse(found.group(4))
            for x in range(start, end + 1):
                grid[y][x] = grid[y][x]._replace(style=style)
        return cls(grid)

    # -- pictures -----------------------------------------------------------------------------

    def to_svg(self, title: str = "tmuxorch", cursor: bool = True) -> str:
        """An SVG picture of the screen (rich's export), in a terminal window titled ``title``.

        The same screen always gives the same bytes: element ids come from a digest of the
        content, so several pictures can share a page.  A visible cursor is drawn as a reversed
        cell unless ``cursor=False``.  Known limit of the renderer: a cell both underlined and
        struck through shows only the strike; blink is not shown.
        """
        from .render import to_svg

        return to_svg(self, title, cursor)

    def to_html(self, cursor: bool = True) -> str:
        """A standalone HTML page showing the screen (rich's export); stable like :meth:`to_svg`."""
        from .render import to_html

        return to_html(self, cursor)


def capture_screen(tmux: Tmux, pane_id: str) -> Screen:
    """What pane ``pane_id`` shows now, in one tmux call (cursor, size, cells and text agree)."""
    if not pane_id.startswith("%"):
        raise UsageError(f"invalid pane id {pane_id!r}: expected %N")
    fields = "#{cursor_x} #{cursor_y} #{pane_width} #{pane_height} #{cursor_flag}"
    info, ansi, plain = tmux.chain([
        ["display-message", "-p", "-t", pane_id, fields],
        ["capture-pane", "-p", "-e", "-N", "-t", pane_id],
        ["capture-pane", "-p", "-J", "-t", pane_id],
    ])  # fmt: skip
    x, y, columns, rows, visible = (int(value) for value in info[0].split(" "))
    while plain and not plain[-1].strip():
        plain.pop()
    text = "\n".join(plain) + ("\n" if plain else "")
    return Screen.from_ansi(ansi, columns, rows, (x, y), visible == 1, text)

