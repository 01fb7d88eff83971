"""Styles of terminal cells: colours with one spelling, attributes, and the :class:`Cell`.

A :class:`Style` is what :meth:`Screen.style <pytest_tmuxorch.screen.Screen.style>` returns for a
cell: ``fg`` and ``bg`` (see :data:`Color`), and the attributes ``bold``, ``dim``, ``italic``,
``underline``, ``blink``, ``reverse``, ``strike``.  Plain named tuples: no imports beyond the
standard library's ``re`` (the console script loads this module and must start fast).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .errors import UsageError

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


class Cell(NamedTuple):
    """One cell: its character (``""`` for the right half of a wide character) and style."""

    char: str
    style: Style

