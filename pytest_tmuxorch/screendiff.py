"""What changed between two screens, for a person to read: rows of text, then cells whose style
changed.  Used by snapshot failures and by the plugin's ``assert screen_a == screen_b`` message."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .styles import Style

if TYPE_CHECKING:
    from .screen import Screen

MAX_STYLE_LINES = 40  # style changes listed by describe_difference before "... and N more"


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
