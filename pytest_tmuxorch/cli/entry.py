"""``tmuxorch``: the console script's entry point, a thin layer over :class:`Orchestrator`.

Parsing is kept apart from the work: each handler receives the parsed arguments and a ready
orchestrator, calls the facade and prints.  :func:`main` is the one place where errors become a
one-line message and an exit status (2: bad usage, 1: operational failure).  The common command
lines are read by the quick parser; argparse is imported only for help, errors and the rest, and
heavy modules only by the handlers that need them (pytest never), so the script starts fast.
"""

from __future__ import annotations

import os
import sys

from ..errors import TmuxorchError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..orchestrator import Orchestrator
    from .args import Arguments, Handler


def orchestrator_from(args: Arguments, environ: Mapping[str, str]) -> Orchestrator:
    """Settings from ``environ`` and the flags given, then the facade (imported only now)."""
    from ..orchestrator import Orchestrator
    from ..settings import FIELDS, from_env

    flags = {field.name: getattr(args, field.name) for field in FIELDS if field.flag and field.name in args}
    if "transport" not in flags and not environ.get("TMUXORCH_TRANSPORT"):
        # One call per process: connecting a control client would cost more than it saves.
        flags["transport"] = "subprocess"
    return Orchestrator(from_env(environ, **flags))


def parse(argv: Sequence[str]) -> tuple[Handler, Arguments] | None:
    """The handler and arguments of ``argv``; None when there is no subcommand (help was printed)."""
    from .quick import parse as quick

    found = quick(argv)
    if found is not None:
        return found
    from . import parser

    args = parser.parse(argv)
    if "handler" not in args:
        parser.print_help(argv)
        return None
    return args.handler, args


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the console script; return its exit status."""
    environ = os.environ if environ is None else environ
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parsed = parse(argv)
        if parsed is None:
            return 2
        handler, args = parsed
        orch = orchestrator_from(args, environ)
        try:
            return int(handler(args, orch))
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
