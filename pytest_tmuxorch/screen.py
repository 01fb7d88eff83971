"""Screens as data: what a pane shows, cell by cell, with colours and attributes.

:func:`capture_screen` asks tmux, in one call, for the cursor, the size and the visible screen with
its escape sequences (``capture-pane -p -e -N``), and turns that into a :class:`Screen`: text,
rows, cursor, size and the :class:`Style` of every cell.  A screen renders to SVG and HTML
(:meth:`Screen.to_svg`, :meth:`Screen.to_html`) and to a readable text form with a style map
(:meth:`Screen.to_snapshot_text`), which is what golden snapshots store; :func:`describe_difference`
tells a person what changed between two screens (rows of text, then cells whose style changed).

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
  rows, so it is used only for :attr:`Screen.text`.
* A background painted by erasing (``\\e[41m\\e[K``: erase to end of line with a colour) is not in
  the capture at all: tmux keeps erased cells out of the line's used cells.  Programs that write
  spaces (curses, on tmux's terminfo without ``bce``) are captured faithfully.
* Styles are normalised: ``\\e[1;32m`` comes back as ``\\e[1m\\e[32m``; ``38;5;N`` stays distinct
  from ``3N`` (this module reports both as the same colour name for N < 16: they are the same
  palette entry); SGR 21 comes back as ``4:2``.
* Wide characters appear once; the padding cell after them is skipped.

rich (and difflib, hashlib, html) are imported only inside the functions that need them: the
console script will import this module through :mod:`panes`, and must start fast.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import UsageError

if TYPE_CHECKING:
    import rich.color
    import rich.console
    import rich.style
    import rich.terminal_theme

    from .tmux import Tmux

Color = str | int | None
"""A colour: a name for the 16 basic colours, an int (16-255) for the 256-colour palette,
``"#rrggbb"`` for true colour, None for the terminal's default."""

BASIC_COLORS = (
    "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white",
    "bright_black", "bright_red", "bright_green", "bright_yellow",
    "bright_blue", "bright_magenta", "bright_cyan", "bright_white",
)  # fmt: skip
_FLAGS = ("bold", "dim", "italic", "underline", "blink", "reverse", "strike")
_HEX = re.compile(r"#[0-9a-f]{6}")


def parse_color(text: str) -> Color:
    """A colour as :class:`Style` shows it: a basic colour name, ``0``-``255``, ``#rrggbb``."""
    return _check_color(int(text) if text.isdigit() else text)


def _check_color(color: Color) -> Color:
    """``color`` in its one spelling: palette entries 0-15 by name, hex in lower case."""
    if color is None or color in BASIC_COLORS:
        return color
    if isinstance(color, int) and not isinstance(color, bool) and 0 <= color < 256:
        return BASIC_COLORS[color] if color < 16 else color
    if isinstance(color, str) and _HEX.fullmatch(color.lower()):
        return color.lower()
    raise UsageError(f"invalid colour {color!r}: expected a basic colour name, 0-255 or #rrggbb")


class _StyleFields(NamedTuple):
    fg: Color = None
    bg: Color = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    blink: bool = False
    reverse: bool = False
    strike: bool = False


class Style(_StyleFields):
    """How one cell is drawn: ``fg`` and ``bg`` (see :data:`Color`) and the attributes.

    Immutable; colours are checked and have one spelling (``Style(fg=1) == Style(fg="red")``).
    ``str(style)`` is a compact form (``fg=red bg=236 bold``) that :meth:`parse` reads back; the
    default style is ``default``.  (A typed named tuple rather than a dataclass: modules the
    console script loads cannot afford importing dataclasses.)
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Style:
        self = super().__new__(cls, *args, **kwargs)
        return tuple.__new__(cls, (_check_color(self.fg), _check_color(self.bg), *self[2:]))

    def _replace(self, **changes: Any) -> Style:
        return Style(**{**self._asdict(), **changes})

    def __repr__(self) -> str:
        shown = [f"{name}={value!r}" for name, value, default in zip(self._fields, self, _StyleFields(), strict=True) if value != default]
        return f"Style({', '.join(shown)})"

    def __str__(self) -> str:
        words = [f"{name}={value}" for name, value in (("fg", self.fg), ("bg", self.bg)) if value is not None]
        words += [flag for flag in _FLAGS if getattr(self, flag)]
        return " ".join(words) or "default"

    @classmethod
    def parse(cls, text: str) -> Style:
        """The style ``str(style)`` described: ``fg=red bold``, ``bg=#102030``, ``default``."""
        colors: dict[str, Color] = {}
        flags: dict[str, bool] = {}
        for word in text.split():
            name, equals, value = word.partition("=")
            if equals and name in ("fg", "bg") and name not in colors:
                colors[name] = parse_color(value)
            elif not equals and word in _FLAGS and word not in flags:
                flags[word] = True
            elif word != "default":
                raise UsageError(f"invalid style {text!r}: unexpected {word!r}")
        return cls(colors.get("fg"), colors.get("bg"))._replace(**flags)


DEFAULT_STYLE = Style()
_STYLES_HEADER = "# styles (cells not listed have the default style):"
MAX_STYLE_LINES = 40  # style changes listed by describe_difference before "... and N more"


class Cell(NamedTuple):
    """One cell: its character (``""`` for the right half of a wide character) and style."""

    char: str
    style: Style


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
        return cls(_decode(lines, columns, rows), cursor, cursor_visible, text)

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
        grid = [_cells_of([(char, DEFAULT_STYLE) for char in line], columns) for line in [*lines[1 : shown + 1], *[""] * blank]]
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
        console = self._render(cursor)
        import hashlib

        digest = hashlib.sha256(f"{title}\0{cursor}\0{self.cursor}\0{self.to_snapshot_text()}".encode()).hexdigest()
        svg = console.export_svg(title=title, theme=_theme(), unique_id=f"tmuxorch-{digest[:12]}")
        return _SVG_TEXT_LENGTH.sub(_fit_wide_text, svg)

    def to_html(self, cursor: bool = True) -> str:
        """A standalone HTML page showing the screen (rich's export); stable like :meth:`to_svg`."""
        return self._render(cursor).export_html(theme=_theme())

    def _render(self, cursor: bool) -> rich.console.Console:
        from rich.console import Console
        from rich.text import Text

        columns, rows = self.size
        console = Console(
            file=io.StringIO(), width=columns, height=rows, record=True, force_terminal=True,
            color_system="truecolor", legacy_windows=False, no_color=False, force_jupyter=False,
            force_interactive=False, soft_wrap=True, markup=False, emoji=False, highlight=False,
            _environ={},  # never the real terminal: no COLUMNS, NO_COLOR, TERM... from outside
        )  # fmt: skip
        at = self.cursor if cursor and self.cursor_visible else None
        converted: dict[Style, rich.style.Style] = {}
        for y, row in enumerate(self._rows):
            runs: list[tuple[str, Style]] = []  # one span per run of a style: one SVG rect, not one per cell
            for x, cell in enumerate(row):
                style = cell.style._replace(reverse=not cell.style.reverse) if (x, y) == at else cell.style
                if runs and runs[-1][1] == style:
                    runs[-1] = (runs[-1][0] + cell.char, style)
                else:
                    runs.append((cell.char, style))
            line = Text(end="\n")
            for chars, style in runs:
                if style not in converted:
                    converted[style] = _to_rich(style)
                line.append(chars, converted[style])
            console.print(line)
        return console


def describe_difference(expected: Screen, received: Screen, names: tuple[str, str] = ("expected", "received")) -> list[str]:
    """What changed from ``expected`` to ``received``, for a person to read: the size, the rows
    whose text changed (``-`` expected, ``+`` received), the cells whose style changed.  Empty
    when the screens are equal.  ``names`` are the two sides' names in the text."""
    old_name, new_name = names
    if expected == received:
        return []
    out: list[str] = []
    if expected.size != received.size:
        out.append("size: {}x{} {}, {}x{} {}".format(*expected.size, old_name, *received.size, new_name))
    import difflib

    matcher = difflib.SequenceMatcher(None, expected.lines, received.lines, autojunk=False)
    changed = [opcode for opcode in matcher.get_opcodes() if opcode[0] != "equal"]
    if changed:
        out.append(f"text (- {old_name}, + {new_name}):")
        for kind, a_start, a_end, b_start, b_end in changed:
            # rows are places on a grid: blank ones only moved by an insertion say nothing
            out += [f"- row {row}: {expected.lines[row]}" for row in range(a_start, a_end)
                    if kind == "replace" or expected.lines[row]]
            out += [f"+ row {row}: {received.lines[row]}" for row in range(b_start, b_end)
                    if kind == "replace" or received.lines[row]]
    else:
        out.append("text: the same")
    runs = style_changes(expected, received)
    if runs:
        cells = sum(run.end - run.start + 1 for run in runs)
        out.append(f"styles changed in {cells} cell{'s' if cells > 1 else ''} ({old_name} -> {new_name}):")
        for row, start, end, text, old, new in runs[:MAX_STYLE_LINES]:
            where = f"col {start}" if start == end else f"col {start}-{end}"
            out.append(f"  row {row} {where} {text!r}: {old} -> {new}")
        if len(runs) > MAX_STYLE_LINES:
            out.append(f"  ... and {len(runs) - MAX_STYLE_LINES} more")
    else:
        out.append("styles: the same where both screens have cells")
    return out


class StyleChange(NamedTuple):
    """Cells ``start`` to ``end`` (inclusive) of ``row``, showing ``text``, went from style ``old``
    to ``new``."""

    row: int
    start: int
    end: int
    text: str
    old: Style
    new: Style


def style_changes(expected: Screen, received: Screen) -> list[StyleChange]:
    """Runs of cells, within the area both screens cover, whose style differs."""
    columns = min(expected.size[0], received.size[0])
    rows = min(expected.size[1], received.size[1])
    runs: list[StyleChange] = []
    for row in range(rows):
        old_cells, new_cells = expected.cells(row), received.cells(row)
        col = 0
        while col < columns:
            old, new = old_cells[col].style, new_cells[col].style
            if old == new:
                col += 1
                continue
            start = col
            while col < columns and (old_cells[col].style, new_cells[col].style) == (old, new):
                col += 1
            text = "".join(cell.char for cell in new_cells[start:col])
            runs.append(StyleChange(row, start, col - 1, text, old, new))
    return runs


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


# -- decoding -----------------------------------------------------------------------------------

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


def _decode(lines: list[str], columns: int, rows: int) -> list[list[Cell]]:
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
        grid.append(_cells_of(list(zip(decoded.plain, styles, strict=True)), columns))
    blank = [Cell(" ", DEFAULT_STYLE)] * columns
    grid += [list(blank) for _ in range(rows - len(grid))]
    return grid


def _cells_of(chars: Iterable[tuple[str, Style]], columns: int) -> list[Cell]:
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


# -- rendering ----------------------------------------------------------------------------------


def _theme() -> rich.terminal_theme.TerminalTheme:
    from rich.terminal_theme import SVG_EXPORT_THEME

    return SVG_EXPORT_THEME


# rich sizes each SVG text element by characters, not cells: text holding wide characters would be
# squeezed and what follows drawn too far left.  Its default font is 20 px at an aspect of 0.61.
_SVG_TEXT_LENGTH = re.compile(r'(<text class="[^"]*-r\d+" x="[^"]*" y="[^"]*" textLength=")([^"]*)("[^>]*>)([^<]*)(</text>)')


def _fit_wide_text(match: re.Match[str]) -> str:
    import html

    from rich.cells import cell_len

    head, length, middle, content, tail = match.groups()
    text = html.unescape(content)
    if cell_len(text) != len(text):
        length = format(20 * 0.61 * cell_len(text), "g")
    return f"{head}{length}{middle}{content}{tail}"


def _color_to_rich(color: Color) -> str | None:
    if isinstance(color, int):
        return f"color({color})"
    return color


def _to_rich(style: Style) -> rich.style.Style:
    """rich's style for a cell, with reverse video resolved here: rich's HTML export cannot
    reverse the default colours (it swaps two Nones), so they are spelled out from the theme."""
    from rich.style import Style as RichStyle

    fg, bg = _color_to_rich(style.fg), _color_to_rich(style.bg)
    if style.reverse:
        theme = _theme()
        fg, bg = bg or theme.background_color.hex, fg or theme.foreground_color.hex
    return RichStyle(
        color=fg, bgcolor=bg, bold=style.bold or None, dim=style.dim or None, italic=style.italic or None,
        underline=style.underline or None, blink=style.blink or None, strike=style.strike or None,
    )  # fmt: skip
