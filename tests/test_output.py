"""Terminal bytes rendered as the lines a terminal shows (pure functions, no tmux)."""

from __future__ import annotations

import pytest

from pytest_tmuxorch.output import Renderer, render
from pytest_tmuxorch.tslog import drawn
from pytest_tmuxorch.tslog import render as render_line

PROMPT = b"\x1b]133;D;0\x07\x1b]2;tmuxorch;3;0\x07\x1b]133;A\x07$ \x1b]133;B\x07"

LINES = [
    (b"plain text\r", b"plain text"),
    (b"tab\tkept", b"tab\tkept"),
    (PROMPT, b"$ "),
    (b"\x1b[1;31mred\x1b[0m and plain", b"red and plain"),
    (b"12%\r50%\r100%", b"100%"),
    (b"abc\bX", b"abX"),
    (b"hello\x1b[3Dy\x1b[K", b"hey"),
    (b"\x1b]0;unterminated title", b""),
    (b"x\x1b]2;t\x1b\\y", b"xy"),
    (b"\x1b\x1b]2;t\x07z", b"]2;tz"),  # an escape that swallows the OSC's own escape
    (b"\x1b]2;t\x07\rover\x1b]133;C\x07", b"over"),
]


@pytest.mark.parametrize(("raw", "shown"), LINES)
def test_a_line_renders_as_the_terminal_shows_it(raw: bytes, shown: bytes) -> None:
    assert render_line(raw) == shown


@pytest.mark.parametrize(("raw", "shown"), LINES)
def test_the_fast_paths_agree_with_the_long_way(raw: bytes, shown: bytes) -> None:
    assert render_line(raw) == drawn(raw)


def test_output_renders_line_by_line_and_keeps_an_unfinished_last_line() -> None:
    assert render(b"one\r\n\x1b[32mtwo\x1b[0m\r\n" + PROMPT) == "one\ntwo\n$ "
    assert render(b"one\r\ntwo\r\n" + PROMPT) == "one\ntwo\n$ "


@pytest.mark.parametrize("first", [raw for raw, _ in LINES])
@pytest.mark.parametrize("second", [raw for raw, _ in LINES])
def test_output_renders_as_its_lines_rendered_one_by_one(first: bytes, second: bytes) -> None:
    data = first + b"\n" + second + b"\r\n" + first
    expected = [render_line(line).decode() for line in data.split(b"\n")]
    assert render(data) == "\n".join(expected)


def test_the_renderer_gives_the_same_text_as_rendering_everything_at_once() -> None:
    data = b"first\r\nsec" + b"ond\r\n" + PROMPT
    renderer = Renderer()
    for end in range(len(data) + 1):
        assert renderer.text(data[renderer.consumed:end]) == render(data[:end])
