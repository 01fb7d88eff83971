"""Pictures of screens: SVG and HTML through rich's export, stable for the same screen.

:func:`to_svg` and :func:`to_html` are what :meth:`Screen.to_svg
<pytest_tmuxorch.screen.Screen.to_svg>` and :meth:`~pytest_tmuxorch.screen.Screen.to_html` call.
Each run of cells sharing a style becomes one span (one SVG rect, not one per cell); reverse video
is resolved here, since rich's HTML export cannot reverse the default colours.  rich (and hashlib,
html) are imported only when a picture is made.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from .styles import Color, Style

if TYPE_CHECKING:
    import rich.console
    import rich.style
    import rich.terminal_theme

    from .screen import Screen


def to_svg(screen: Screen, title: str = "tmuxorch", cursor: bool = True) -> str:
    """An SVG picture of ``screen`` (rich's export), in a terminal window titled ``title``.

    The same screen always gives the same bytes: element ids come from a digest of the content,
    so several pictures can share a page.  A visible cursor is drawn as a reversed cell unless
    ``cursor=False``.  Known limit of the renderer: a cell both underlined and struck through
    shows only the strike; blink is not shown.
    """
    console = _render(screen, cursor)
    import hashlib

    digest = hashlib.sha256(f"{title}\0{cursor}\0{screen.cursor}\0{screen.to_snapshot_text()}".encode()).hexdigest()
    svg = console.export_svg(title=title, theme=_theme(), unique_id=f"tmuxorch-{digest[:12]}")
    return _SVG_TEXT_LENGTH.sub(_fit_wide_text, svg)


def to_html(screen: Screen, cursor: bool = True) -> str:
    """A standalone HTML page showing ``screen`` (rich's export); stable like :func:`to_svg`."""
    return _render(screen, cursor).export_html(theme=_theme())


def _render(screen: Screen, cursor: bool) -> rich.console.Console:
    from rich.console import Console
    from rich.text import Text

    columns, rows = screen.size
    console = Console(
        file=io.StringIO(), width=columns, height=rows, record=True, force_terminal=True,
        color_system="truecolor", legacy_windows=False, no_color=False, force_jupyter=False,
        force_interactive=False, soft_wrap=True, markup=False, emoji=False, highlight=False,
        _environ={},  # never the real terminal: no COLUMNS, NO_COLOR, TERM... from outside
    )  # fmt: skip
    at = screen.cursor if cursor and screen.cursor_visible else None
    converted: dict[Style, rich.style.Style] = {}
    for y in range(rows):
        runs: list[tuple[str, Style]] = []  # one span per run of a style: one SVG rect, not one per cell
        for x, cell in enumerate(screen.cells(y)):
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
