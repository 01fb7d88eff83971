"""Parsing the command line: argparse that raises instead of exiting, argument types, the
settings flags every subcommand accepts, and the shape of a subcommand's entry."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from ..orchestrator import Orchestrator

Handler = Callable[[argparse.Namespace, "Orchestrator"], int]
CommandSpec = tuple[str, str, Callable[[argparse.ArgumentParser], object], Handler]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, minus its ``import shutil`` (and zlib, bz2, lzma with it): argparse
    builds a formatter for every ``add_argument``, so that import would cost every start-up."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None) -> None:
        if width is None:
            try:
                width = int(os.environ.get("COLUMNS", "")) - 2
            except ValueError:
                try:
                    width = os.get_terminal_size(sys.stdout.fileno()).columns - 2
                except (OSError, ValueError):
                    width = 78
        super().__init__(prog, indent_increment, max_help_position, width)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so :func:`main` prints one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        """One line: ``init: invalid N '-3': expected ...`` (main adds the ``tmuxorch:``)."""
        match = re.match(r"argument ([^:]+): (['\"].*)", message, re.S)  # a bad value, from our types
        if match:
            message = f"invalid {match.group(1).split('/')[-1]} {match.group(2)}"
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command}: {message}" if command else message)


_SHORT = {"socket": "-L", "socket_path": "-S", "session": "-s", "workers": "-w"}


SETTINGS_NOTE = "settings such as --socket, --session or --tmux-timeout work here too: see 'tmuxorch --help'"


def global_options(hidden: bool = False) -> ArgumentParser:
    """The settings flags, each overriding its environment variable (see settings.FIELDS);
    ``hidden``: accepted but not listed (a subcommand's help shows its own arguments)."""
    from ..settings import FIELDS, Settings, show_value

    defaults = Settings(transport="subprocess")  # the console script's default transport
    parent = ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = parent.add_argument_group("settings (override the environment)")
    for field in FIELDS:
        if not field.flag:
            continue
        default = getattr(defaults, field.name)
        shown = f", {show_value(default)}" if default is not None else ""
        flags = [field.flag, _SHORT[field.name]] if field.name in _SHORT else [field.flag]
        metavar = {float: "S", int: "N", tuple: "COLSxROWS"}.get(field.kind, field.name.split("_")[-1].upper())
        shown_help = argparse.SUPPRESS if hidden else f"{field.help} [${field.env}{shown}]"
        group.add_argument(*flags, dest=field.name, metavar=metavar, help=shown_help)
    return parent


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


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number of seconds")
    return value


def no_args(parser: argparse.ArgumentParser) -> None:
    """For subcommands that take no arguments of their own."""


def json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
