"""Screens as data, against real tmux and real programs: colours, attributes, cursor, size, pictures."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import wait_until

from pytest_tmuxorch import Orchestrator
from pytest_tmuxorch.errors import UsageError
from pytest_tmuxorch.panes import Pane
from pytest_tmuxorch.screen import BASIC_COLORS, Cell, Screen, Style, capture_screen, describe_difference


def show(pane: Pane, command: str) -> Screen:
    """Clear the pane, run ``command``, wait until the shell's next prompt; return the screen.

    The end marker is printed from pieces, so the echo of the typed line cannot match it."""
    pane.send(f"clear; {command}; echo EN''D")
    pane.wait_for(re.compile(r"^END\n\$ $", re.M))
    return capture_screen(pane.tmux, pane.id)


def wait_screen(pane: Pane, ready: Callable[[Screen], bool], what: str) -> Screen:
    """Capture the pane until ``ready(screen)``; return that screen."""
    found = wait_until(lambda: [screen for screen in [capture_screen(pane.tmux, pane.id)] if ready(screen)], 10, what=what)
    return found[0]


def find(screen: Screen, text: str) -> tuple[int, int]:
    """(row, col) where ``text`` starts on the screen."""
    for row, line in enumerate(screen.lines):
        if text in line:
            return row, line.index(text)
    raise AssertionError(f"{text!r} is not on the screen:\n{screen.text}")


def test_sixteen_colours_by_name(orch: Orchestrator) -> None:
    codes = " ".join(str(n) for n in [*range(30, 38), *range(90, 98)])
    screen = show(orch.worker(0), f"for n in {codes}; do printf '\\e[%sm%s\\e[0m' $n F; done; echo; "
                  f"for n in {codes}; do printf '\\e[%sm%s\\e[0m' $((n + 10)) B; done; echo")
    row, col = find(screen, "F" * 16)
    assert [screen.style(row, col + i) for i in range(16)] == [Style(fg=name) for name in BASIC_COLORS]
    row, col = find(screen, "B" * 16)
    assert [screen.style(row, col + i) for i in range(16)] == [Style(bg=name) for name in BASIC_COLORS]


def test_256_colours_true_colour_and_attributes(orch: Orchestrator) -> None:
    screen = show(orch.worker(0), "printf 'P\\e[38;5;208mO\\e[48;5;17mB\\e[0m \\e[38;2;10;20;30mT\\e[48;2;255;0;1mC\\e[0m "
                  "\\e[1mb\\e[0m\\e[2md\\e[0m\\e[3mi\\e[0m\\e[4mu\\e[0m\\e[7mr\\e[0m\\e[9ms\\e[0m\\e[5mk\\e[0m "
                  "\\e[38;5;1mn\\e[0m\\e[1;3;4;31;43mall\\e[22;23;24mnone\\e[0m\\n'")
    row, col = find(screen, "POB TC")
    assert screen.style(row, col) == Style()
    assert screen.style(row, col + 1) == Style(fg=208)
    assert screen.style(row, col + 2) == Style(fg=208, bg=17)
    assert screen.style(row, col + 3) == Style()
    assert screen.style(row, col + 4) == Style(fg="#0a141e")
    assert screen.style(row, col + 5) == Style(fg="#0a141e", bg="#ff0001")
    row, col = find(screen, "bdiursk")
    flags = ["bold", "dim", "italic", "underline", "reverse", "strike", "blink"]
    assert [screen.style(row, col + i) for i in range(7)] == [Style(**{flag: True}) for flag in flags]
    row, col = find(screen, "nallnone")
    assert screen.style(row, col) == Style(fg="red"), "palette entries 0-15 are the basic colours"
    assert screen.style(row, col + 1) == Style(fg="red", bg="yellow", bold=True, italic=True, underline=True)
    assert screen.style(row, col + 4) == Style(fg="red", bg="yellow")


def test_underline_styles_and_underline_colour(orch: Orchestrator) -> None:
    # tmux sends these back as colon sub-parameters (4:2, 4:3) and 58;5;N, which decoders misread
    screen = show(orch.worker(1), "printf '\\e[4:3mcurly\\e[0m \\e[21mdouble\\e[0m \\e[58;5;2m\\e[4mcoloured\\e[0m "
                  "\\e[4m\\e[4:0mnone\\e[0m \\e[38:2::1:2:3mrgb\\e[0m\\n'")
    row, col = find(screen, "curly double coloured none rgb")
    assert screen.style(row, col) == Style(underline=True)
    assert screen.style(row, col + 6) == Style(underline=True)
    assert screen.style(row, col + 13) == Style(underline=True), "58;5;2 is a colour, not blink and dim"
    assert screen.style(row, col + 22) == Style()
    assert screen.style(row, col + 27) == Style(fg="#010203")
    assert screen.lines[row].startswith("curly double coloured none rgb"), "no escape leaked into the text"


def test_background_to_the_right_edge_is_kept(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    columns, _ = capture_screen(pane.tmux, pane.id).size
    screen = show(pane, f"printf '\\e[43m%s\\e[0m\\n' 'edge{' ' * (columns - 4)}'")
    row, _ = find(screen, "edge")
    assert screen.lines[row] == "edge", "trailing spaces are not text"
    assert [cell.style.bg for cell in screen.cells(row)] == ["yellow"] * columns
    assert screen.style(row + 1, 0) == Style()


def test_wide_characters_take_two_cells(orch: Orchestrator) -> None:
    screen = show(orch.worker(0), "printf 'a日\\e[31m本\\e[0mz\\n'")
    row, col = find(screen, "a日本z")
    assert [cell.char for cell in screen.cells(row)[col : col + 6]] == ["a", "日", "", "本", "", "z"]
    assert screen.style(row, col + 3) == screen.style(row, col + 4) == Style(fg="red")
    assert screen.style(row, col + 5) == Style()


def test_ls_and_grep_colours(orch: Orchestrator, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "tool").chmod(0o755)
    pane = orch.worker(0)
    screen = show(pane, f"unset LS_COLORS GREP_COLORS GREP_COLOR; ls --color=always -1 {tmp_path}; "
                  "printf 'one needle two\\n' | grep --color=always needle")
    row, col = find(screen, "adir")
    assert screen.style(row, col) == Style(fg="blue", bold=True)  # ls's built-in colours
    row, col = find(screen, "tool")
    assert screen.style(row, col) == Style(fg="green", bold=True)
    row, col = find(screen, "one needle two")
    assert screen.style(row, col + 4) == Style(fg="red", bold=True)  # grep's match colour
    assert screen.style(row, col) == screen.style(row, col + 11) == Style()


def test_less_status_line_is_reverse_video(orch: Orchestrator, tmp_path: Path) -> None:
    pane = orch.worker(1)
    (tmp_path / "numbers.txt").write_text("".join(f"number {n}\n" for n in range(1, 200)))
    pane.send(f"cd {tmp_path} && less numbers.txt")

    screen = wait_screen(pane, lambda s: s.lines[0] == "number 1" and s.lines[-1].startswith("numbers.txt"),
                         "less to draw its first page")
    _, rows = screen.size
    assert screen.lines[rows - 2] == f"number {rows - 1}"
    assert all(screen.style(rows - 1, col).reverse for col in range(len("numbers.txt")))
    assert not screen.style(0, 0).reverse
    pane.send_keys("q")
    wait_screen(pane, lambda s: "number 1" not in s.text, "less to quit")


def test_curses_program_colours_and_cursor(orch: Orchestrator, tmp_path: Path) -> None:
    script = tmp_path / "paint.py"
    script.write_text(
        "import curses\n"
        "def main(win):\n"
        "    curses.use_default_colors()\n"
        "    curses.init_pair(1, curses.COLOR_YELLOW, curses.COLOR_BLUE)\n"
        "    curses.init_pair(2, curses.COLOR_MAGENTA, -1)\n"
        "    win.addstr(2, 5, 'painted', curses.color_pair(1) | curses.A_BOLD)\n"
        "    win.addstr(3, 5, 'plain ')\n"
        "    win.addstr('under', curses.color_pair(2) | curses.A_UNDERLINE)\n"
        "    win.move(6, 9)\n"
        "    win.refresh()\n"
        "    win.getch()\n"
        "curses.wrapper(main)\n"
    )
    pane = orch.worker(0)
    pane.send(f"{sys.executable} {script}")

    screen = wait_screen(pane, lambda s: s.lines[2] == "     painted" and s.cursor == (9, 6), "the curses program to draw")
    assert [screen.style(2, col) for col in range(5, 12)] == [Style(fg="yellow", bg="blue", bold=True)] * 7
    assert screen.style(2, 4) == screen.style(2, 12) == Style()
    assert screen.lines[3] == "     plain under"
    assert screen.style(3, 11) == Style(fg="magenta", underline=True)
    assert screen.style(3, 10) == Style()
    pane.send_keys("x")
    wait_screen(pane, lambda s: "painted" not in s.text, "curses to exit")


def test_cursor_size_and_text(orch: Orchestrator) -> None:
    pane = orch.worker(1)
    pane.send("clear; printf 'ab\\ncd''ef'; read -r _")
    pane.wait_for(re.compile(r"^cdef$", re.M))
    screen = capture_screen(pane.tmux, pane.id)
    width, height = (int(n) for n in pane.tmux.run("display-message", "-p", "-t", pane.id, "#{pane_width} #{pane_height}")[0].split())
    assert screen.size == (width, height)
    assert len(screen.lines) == height and all(len(screen.cells(row)) == width for row in range(height))
    assert screen.cursor == (4, 1)
    assert screen.cursor_visible
    assert screen.lines[:3] == ("ab", "cdef", "")
    assert screen.text == "ab\ncdef\n" == pane.capture()
    pane.send_keys("Enter")


def test_text_joins_wrapped_lines_like_capture(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    columns, _ = capture_screen(pane.tmux, pane.id).size
    long = "x" * (columns + 5)
    screen = show(pane, f"printf '%s\\n' {long}")
    row, _ = find(screen, "x" * columns)
    assert screen.lines[row : row + 2] == ("x" * columns, "xxxxx")
    assert f"\n{long}\n" in "\n" + screen.text
    assert screen.text == pane.capture()


def test_equality_is_cells_and_size_not_cursor() -> None:
    red = Screen.from_ansi("\x1b[31mhi\x1b[0m", 4, 2, cursor=(0, 0))
    assert red == Screen.from_ansi(["\x1b[31mhi"], 4, 2, cursor=(3, 1), cursor_visible=False)
    assert hash(red) == hash(Screen.from_ansi("\x1b[31mhi", 4, 2))
    assert red != Screen.from_ansi("\x1b[32mhi", 4, 2)
    assert red != Screen.from_ansi("\x1b[31mhi", 5, 2)
    assert red != Screen.from_ansi("\x1b[31mho", 4, 2)
    assert red.cells(0) == (Cell("h", Style(fg="red")), Cell("i", Style(fg="red")), Cell(" ", Style()), Cell(" ", Style()))


def test_colours_have_one_spelling_and_screens_do_not_change() -> None:
    assert Style(fg=1, bg=9) == Style(fg="red", bg="bright_red") == Style.parse("fg=1 bg=bright_red")
    assert Style(fg="#ABCDEF").fg == "#abcdef"
    assert str(Style(fg=208, bg="#010203", bold=True, strike=True)) == "fg=208 bg=#010203 bold strike"
    assert Style.parse(str(Style(fg=208, bg="#010203", bold=True, strike=True))).strike
    for bad in (256, -1, "purple", "#12345", True):
        with pytest.raises(UsageError, match="invalid colour"):
            Style(fg=bad)
    screen = Screen.from_ansi("x", 3, 2, cursor=(1, 0))
    with pytest.raises(AttributeError):
        screen.cursor = (0, 0)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Style().bold = True  # type: ignore[misc]


def test_styles_carry_across_lines() -> None:
    # tmux does not reset at the end of a line: the next one starts in the same colours
    screen = Screen.from_ansi("\x1b[44mab\ncd\x1b[49m", 3, 2)
    assert screen.style(1, 0) == screen.style(1, 1) == Style(bg="blue")
    assert screen.style(1, 2) == Style()


def test_describe_difference_names_size_rows_and_cells() -> None:
    old = Screen.from_ansi("\x1b[31mab\x1b[0mcd\nsame", 6, 3)
    new = Screen.from_ansi("\x1b[31ma\x1b[1mb\x1b[0mce\nsame", 6, 3)
    assert describe_difference(old, Screen.from_ansi("\x1b[31mab\x1b[0mcd\nsame", 6, 3, cursor=(2, 2))) == []
    assert describe_difference(old, new) == [
        "text (- expected, + received):",
        "- row 0: abcd",
        "+ row 0: abce",
        "styles changed in 1 cell (expected -> received):",
        "  row 0 col 1 'b': fg=red -> fg=red bold",
    ]
    wider = Screen.from_ansi("\x1b[31mab\x1b[0mcd\nsame", 7, 3)
    assert describe_difference(old, wider, names=("left", "right")) == [
        "size: 6x3 left, 7x3 right", "text: the same", "styles: the same where both screens have cells",
    ]
    scrolled = Screen.from_ansi("new\n\x1b[31mab\x1b[0mcd\nsame", 6, 3)
    assert describe_difference(old, scrolled)[:2] == ["text (- expected, + received):", "+ row 0: new"], "no '- row 2:' noise"
    assert "- row 2: " not in describe_difference(old, scrolled)
    many = Screen.from_ansi("\n".join(f"\x1b[3{n % 8}mx {n}\x1b[0m" for n in range(50)), 6, 50)
    lines = describe_difference(Screen.from_ansi("\n".join(f"x {n}" for n in range(50)), 6, 50), many)
    assert lines[-1] == "  ... and 10 more" and len(lines) == 2 + 40 + 1  # 50 rows restyled: 40 shown


def test_bad_input_is_a_usage_error(orch: Orchestrator) -> None:
    screen = Screen.from_ansi("x", 3, 2)
    with pytest.raises(UsageError, match=r"cell \(row 2, col 0\) is outside the 3x2 screen"):
        screen.style(2, 0)
    with pytest.raises(UsageError, match="outside"):
        screen.cells(-1)
    with pytest.raises(UsageError, match="invalid pane id"):
        capture_screen(orch.tmux, "1")
    with pytest.raises(UsageError, match="invalid colour 'purple'"):
        Style.parse("fg=purple")
    with pytest.raises(UsageError, match="invalid screen size 0x2"):
        Screen.from_ansi("", 0, 2)


def test_snapshot_text_round_trips_a_real_screen(orch: Orchestrator) -> None:
    screen = show(orch.worker(0), "printf '\\e[1;38;5;99mbold99\\e[0m \\e[48;2;1;2;3;7mrev\\e[0m 日本 \\e[9;2mgone\\e[0m\\n'")
    text = screen.to_snapshot_text()
    row, col = find(screen, "bold99 rev")
    assert f"row {row} col {col}-{col + 5}: fg=99 bold" in text.splitlines()
    assert f"row {row} col {col + 7}-{col + 9}: bg=#010203 reverse" in text.splitlines()
    columns, rows = screen.size
    assert text.startswith(f"# tmuxorch screen: {columns} columns x {rows} rows (the last {rows - 3} blank)\n")
    again = Screen.from_snapshot_text(text)
    assert again == screen
    assert again.lines == screen.lines
    with pytest.raises(UsageError, match="not a tmuxorch screen"):
        Screen.from_snapshot_text(text.replace("(the last", "(the first"))
    with pytest.raises(UsageError, match="not a tmuxorch screen"):
        Screen.from_snapshot_text(text.replace(f"(the last {rows - 3} blank)", f"(the last {rows - 2} blank)"))


def test_svg_is_stable_faithful_and_sized_to_the_screen(orch: Orchestrator, monkeypatch: pytest.MonkeyPatch) -> None:
    pane = orch.worker(1)
    show(pane, "printf '\\e[38;5;208mamber\\e[0m \\e[38;2;18;52;86mtrue\\e[0m \\e[1mbold\\e[0m \\e[3mital\\e[0m "
         "\\e[4munder\\e[0m \\e[7mreverse\\e[0m \\e[48;5;21mblue\\e[0m wide日本x\\n'")
    first, second = capture_screen(pane.tmux, pane.id), capture_screen(pane.tmux, pane.id)
    svg = first.to_svg(title="pane 1")
    assert svg == second.to_svg(title="pane 1"), "same screen, same bytes"
    for expected in ("fill: #ff8700", "fill: #123456", "font-weight: bold", "font-style: italic",
                     "text-decoration: underline", 'fill="#0000ff"', ">pane&#160;1<"):
        assert expected in svg
    assert re.search(r'<rect fill="#c5c8c6" x="[\d.]+" y="[\d.]+" width="85.4"', svg), "reverse: a 7-cell fg-coloured box"
    found = re.search(r'textLength="([\d.]+)"[^>]*>([^<]*wide日本x[^<]*)<', svg)
    assert found, "the wide characters are drawn"
    characters = len(html.unescape(found.group(2)))
    assert float(found.group(1)) == pytest.approx(12.2 * (characters + 2)), "wide characters are sized by cells"
    assert first.to_svg(title="pane 1", cursor=False) != svg, "the visible cursor is drawn"
    page = first.to_html()
    assert page == second.to_html()
    assert "color: #ff8700" in page and "background-color: #0000ff" in page
    assert "color: #292929; text-decoration-color: #292929; background-color: #c5c8c6" in page, "reverse video"
    monkeypatch.setenv("COLUMNS", "20")
    monkeypatch.setenv("NO_COLOR", "1")
    assert first.to_svg(title="pane 1") == svg, "the real terminal's settings play no part"


def test_plain_import_and_console_script_never_import_rich(cli_env: dict[str, str]) -> None:
    code = (
        "import sys, pytest_tmuxorch.cli.entry as cli\n"
        "import pytest_tmuxorch.screen, pytest_tmuxorch.recording\n"
        "heavy = ('rich', 'syrupy', 'pyte', 'json', 'dataclasses', 'difflib', 'html', 'hashlib')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "status = cli.main(['status'])\n"
        "print(status, sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'syrupy', 'pyte')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=cli_env)
    assert done.stdout.strip().splitlines() == ["[]", "1 []"], done.stderr  # no session: status fails, nothing drawn
