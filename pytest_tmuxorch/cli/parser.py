"""The full argparse parser: for ``--help``, for error messages, and for any command line the quick
parser (:mod:`.quick`) leaves to it.  Imported only then: argparse costs the start-up of every
command more than the command itself."""

from __future__ import annotations

import argparse
import os
import re
import sys

from ..errors import UsageError
from .args import SETTINGS_NOTE, SHORT, Arguments
from .commands import all_commands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

DESCRIPTION = """\
Orchestrate work in an isolated tmux server: a 'master' window and a 'workers' window of N panes.
Settings come from the environment (TMUX_SOCKET, TMUX_SESSION, WORKERS, WORKER_LAYOUT, ...) and
the options below override them.  Worker indexes are 0-based."""

EPILOG = """\
examples:
  tmuxorch init 4                 create master + 4 workers (idempotent)
  tmuxorch run-all 'make test'    type a command into every worker pane
  tmuxorch run-one 0 'pytest -q'  type into worker 0 only
  tmuxorch status --json          list the panes
  tmuxorch kill                   tear the session (and its private server) down"""

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
        flags = [field.flag, SHORT[field.name]] if field.name in SHORT else [field.flag]
        metavar = {float: "S", int: "N", tuple: "COLSxROWS"}.get(field.kind, field.name.split("_")[-1].upper())
        shown_help = argparse.SUPPRESS if hidden else f"{field.help} [${field.env}{shown}]"
        group.add_argument(*flags, dest=field.name, metavar=metavar, help=shown_help)
    return parent


def build_parser(argv: Sequence[str] | None = None) -> ArgumentParser:
    """The full parser.  With ``argv``, only the subcommands named in it are built in full (the
    others are listed for ``--help`` only): building every subparser would double start-up time."""
    common, hidden = global_options(), global_options(hidden=True)
    parser = ArgumentParser(prog="tmuxorch", description=DESCRIPTION, epilog=EPILOG, parents=[common])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=ArgumentParser)
    named = None if argv is None else set(argv)
    for name, summary, configure, handler in all_commands():
        if named is not None and name not in named:
            sub.add_parser(name, help=summary, add_help=False)
            continue
        child = sub.add_parser(name, help=summary, description=summary, parents=[hidden])
        configure(child)
        child.epilog = f"{child.epilog}\n\n{SETTINGS_NOTE}" if child.epilog else SETTINGS_NOTE
        child.set_defaults(handler=handler)
    return parser


def parse(argv: Sequence[str]) -> Arguments:
    """``argv`` parsed by argparse (raises :class:`UsageError` on bad usage)."""
    return build_parser(argv).parse_args(argv, namespace=Arguments())


def print_help(argv: Sequence[str]) -> None:
    build_parser(argv).print_help()


def _version() -> str:
    from .. import __version__

    return __version__
