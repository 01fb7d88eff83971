"""``tmuxorch``: the console script's entry point, a thin argparse layer over :class:`Orchestrator`.

Parsing is kept apart from the work: each handler receives the parsed arguments and a ready
orchestrator, calls the facade and prints.  :func:`main` is the one place where errors become a
one-line message and an exit status (2: bad usage, 1: operational failure).  Heavy modules are
imported only by the handlers that need them, and pytest never is, so the script starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..errors import TmuxorchError, UsageError
from .args import SETTINGS_NOTE, ArgumentParser, CommandSpec, global_options

if TYPE_CHECKING:
    from ..orchestrator import Orchestrator

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

def orchestrator_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Orchestrator:
    """Settings from ``environ`` and the flags given, then the facade (imported only now)."""
    from ..orchestrator import Orchestrator
    from ..settings import FIELDS, from_env

    flags = {field.name: getattr(args, field.name) for field in FIELDS if field.flag and hasattr(args, field.name)}
    if "transport" not in flags and not environ.get("TMUXORCH_TRANSPORT"):
        # One call per process: connecting a control client would cost more than it saves.
        flags["transport"] = "subprocess"
    return Orchestrator(from_env(environ, **flags))


def all_commands() -> list[CommandSpec]:
    from .session import SESSION_COMMANDS
    from .tasks import TASK_COMMANDS

    return SESSION_COMMANDS + TASK_COMMANDS


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


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the console script; return its exit status."""
    environ = os.environ if environ is None else environ
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(argv).parse_args(argv)
        if getattr(args, "handler", None) is None:
            build_parser(argv).print_help()
            return 2
        orch = orchestrator_from(args, environ)
        try:
            return int(args.handler(args, orch))
        finally:
            orch.close()
    except UsageError as err:
        print(f"tmuxorch: {err}", file=sys.stderr)
        return 2
    except TmuxorchError as err:
        print(f"tmuxorch: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tmuxorch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:  # the filesystem said no (permissions, a full disk): still one line
        print(f"tmuxorch: {err.strerror or err}{f': {err.filename}' if err.filename else ''}", file=sys.stderr)
        return 1
