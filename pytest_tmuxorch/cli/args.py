"""What every subcommand shares: the shape of its entry, the parsed arguments, argument types.

No argparse here: the quick parser (:mod:`.quick`) reads the common command lines without it,
and :mod:`.parser` builds argparse's parser only for help, errors and the rest.  A subcommand's
arguments are declared once, by a function that calls ``add_argument`` on whatever parser it is
given, argparse's or the quick parser's recorder.
"""

from __future__ import annotations

from ..errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..orchestrator import Orchestrator

    Handler = Callable[["Arguments", Orchestrator], int]
    Configure = Callable[[Any], object]
    CommandSpec = tuple[str, str, Configure, Handler]

REMAINDER = "..."  # argparse.REMAINDER: every word left, as it is
SHORT = {"socket": "-L", "socket_path": "-S", "session": "-s", "workers": "-w"}  # short settings flags
SETTINGS_NOTE = "settings such as --socket, --session or --tmux-timeout work here too: see 'tmuxorch --help'"


class Arguments:
    """The parsed command line: one attribute per argument (argparse fills it as well)."""

    def __getattr__(self, name: str) -> Any:  # what type checkers see: any attribute may be set
        raise AttributeError(name)

    def __contains__(self, name: str) -> bool:
        return name in self.__dict__


def bad_value(message: str) -> Exception:
    """The error an argument type raises: argparse reports its message as it is."""
    import argparse

    return argparse.ArgumentTypeError(message)


def command_text(words: list[str]) -> str:
    if words[:1] == ["--"]:
        words = words[1:]
    text = " ".join(words)
    if not text.strip():
        raise UsageError("no command given")
    return text


def worker_index(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"invalid worker index {text!r}: expected a whole number (0-based)") from None


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argument type: a whole number from ``low`` (to ``high``)."""
    wanted = f"a whole number from {low} to {high}" if high is not None else f"a whole number >= {low}"

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise bad_value(f"{text!r}: expected {wanted}") from None
        if value < low or (high is not None and value > high):
            raise bad_value(f"{text!r}: expected {wanted}")
        return value

    return convert


def seconds(zero: bool = False) -> Callable[[str], float]:
    """An argument type: a positive number of seconds (or, with ``zero``, a number >= 0)."""
    wanted = "a number >= 0" if zero else "a positive number of seconds"

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not (value >= 0 if zero else value > 0):  # also false for nan
            raise bad_value(f"{text!r}: expected {wanted}")
        return value

    return convert


positive_float = seconds()


def no_args(parser: Any) -> None:
    """For subcommands that take no arguments of their own."""


def json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
