"""``tmuxorch``: the console script, a thin argparse layer over :class:`Orchestrator`.

Parsing is kept apart from the work: each handler receives the parsed arguments and a ready
orchestrator, calls the facade and prints.  :func:`main` is the one place where errors become a
one-line message and an exit status (2: bad usage, 1: operational failure).  Heavy modules are
imported only by the handlers that need them, and pytest never is, so the script starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import TmuxorchError, UsageError

if TYPE_CHECKING:
    from .orchestrator import Orchestrator

Handler = Callable[[argparse.Namespace, "Orchestrator"], int]

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
        raise UsageError(f"{self.prog}: {message}")


def _global_options() -> ArgumentParser:
    parent = ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = parent.add_argument_group("settings (override the environment)")
    group.add_argument("--socket", "-L", metavar="NAME", help="tmux socket name, tmux -L NAME [$TMUX_SOCKET, claude]")
    group.add_argument("--socket-path", "-S", metavar="PATH", help="socket path, tmux -S PATH [$TMUXORCH_SOCKET_PATH]")
    group.add_argument("--session", "-s", metavar="NAME", help="session name [$TMUX_SESSION, agents]")
    group.add_argument("--workers", "-w", metavar="N", help="worker panes for init [$WORKERS, 4]")
    group.add_argument("--layout", metavar="NAME", help="tiled, even-horizontal, even-vertical [$WORKER_LAYOUT]")
    group.add_argument("--shell", metavar="CMD", help="pane shell: bash, sh (clean), user, or a command [$TMUXORCH_SHELL]")
    group.add_argument("--tmux-timeout", dest="timeout", metavar="S",
                       help="seconds allowed for each tmux call and default wait [$TMUXORCH_TIMEOUT, 10]")
    group.add_argument("--tasks-dir", metavar="DIR", help="task queue root [var/tmux/<session>/tasks]")
    group.add_argument("--logs-dir", metavar="DIR", help="logs root [logs/tmux/<session>]")
    group.add_argument("--transport", metavar="NAME", help="subprocess or control [$TMUXORCH_TRANSPORT]")
    return parent


_FLAG_NAMES = {"timeout": "--tmux-timeout"}
_SETTING_FLAGS = {
    "socket": str, "socket_path": str, "session": str, "workers": int, "layout": str, "shell": str,
    "timeout": float, "tasks_dir": str, "logs_dir": str, "transport": str,
}


def orchestrator_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Orchestrator:
    """Settings from ``environ`` and the flags given, then the facade (imported only now)."""
    from .orchestrator import Orchestrator
    from .settings import from_env, parse_value

    overrides = {
        name: parse_value(_FLAG_NAMES.get(name, f"--{name.replace('_', '-')}"), getattr(args, name), kind)
        for name, kind in _SETTING_FLAGS.items()
        if hasattr(args, name)
    }
    if "transport" not in overrides and not environ.get("TMUXORCH_TRANSPORT"):
        # One call per process: connecting a control client would cost more than it saves.
        overrides["transport"] = "subprocess"
    return Orchestrator(from_env(environ, **overrides))


# --- handlers: plain functions over the facade ---------------------------------------------------


def cmd_init(args: argparse.Namespace, orch: Orchestrator) -> int:
    workers = args.count if args.count is not None else orch.settings.workers
    if orch.init(workers):
        print(f"created session {orch.settings.session!r} with master + {workers} workers on socket {orch.address!r}")
    else:
        print(f"session {orch.settings.session!r} already exists on socket {orch.address!r}; left as it is")
    return 0


def cmd_attach(args: argparse.Namespace, orch: Orchestrator) -> int:
    orch.attach()
    return 0


def cmd_run_all(args: argparse.Namespace, orch: Orchestrator) -> int:
    orch.run_all(_command_text(args.command))
    return 0


def cmd_run_one(args: argparse.Namespace, orch: Orchestrator) -> int:
    orch.run_one(_index(args.index), _command_text(args.command))
    return 0


def cmd_run_master(args: argparse.Namespace, orch: Orchestrator) -> int:
    orch.run_master(_command_text(args.command))
    return 0


def cmd_status(args: argparse.Namespace, orch: Orchestrator) -> int:
    statuses = orch.status()
    if args.json:
        _print_json([status.as_dict() for status in statuses])
        return 0
    rows = [["WINDOW", "PANE", "WORKER", "ID", "PID", "COMMAND", "STATE", "SIZE"]]
    for s in statuses:
        state = f"dead ({s.exit_status})" if s.dead else "alive"
        worker = "-" if s.worker is None else str(s.worker)
        rows.append([f"{s.window_index}:{s.window}", str(s.pane_index), worker, s.pane_id, str(s.pid),
                     s.command, state, f"{s.width}x{s.height}"])
    print_table(rows)
    return 0


def cmd_kill(args: argparse.Namespace, orch: Orchestrator) -> int:
    if orch.kill():
        print(f"killed session {orch.settings.session!r} on socket {orch.address!r}")
    else:
        print(f"no session {orch.settings.session!r} on socket {orch.address!r}; nothing to kill", file=sys.stderr)
    return 0


def cmd_capture(args: argparse.Namespace, orch: Orchestrator) -> int:
    for path in orch.capture(args.directory):
        print(path)
    return 0


def cmd_logs_on(args: argparse.Namespace, orch: Orchestrator) -> int:
    for path in orch.logs_on():
        print(path)
    return 0


def cmd_logs_off(args: argparse.Namespace, orch: Orchestrator) -> int:
    closed = orch.logs_off()
    print(f"pane logging off ({closed} pipe{'s' if closed != 1 else ''} closed)")
    return 0


def cmd_layout(args: argparse.Namespace, orch: Orchestrator) -> int:
    orch.set_layout(args.name)
    return 0


def cmd_barrier_wait(args: argparse.Namespace, orch: Orchestrator) -> int:
    orch.barrier_wait(args.name, timeout=args.timeout_wait)
    return 0


def cmd_barrier_signal(args: argparse.Namespace, orch: Orchestrator) -> int:
    orch.barrier_signal(args.name)
    return 0


# --- small helpers -------------------------------------------------------------------------------


def _command_text(words: list[str]) -> str:
    if words[:1] == ["--"]:
        words = words[1:]
    text = " ".join(words)
    if not text.strip():
        raise UsageError("no command given")
    return text


def _index(text: str) -> int:
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
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r}: expected a positive number of seconds")
    return value


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _print_json(data: Any) -> None:
    import json

    print(json.dumps(data, indent=2, ensure_ascii=False))


# --- the parser ----------------------------------------------------------------------------------

CommandSpec = tuple[str, str, Callable[[argparse.ArgumentParser], object], Handler]


def _no_args(parser: argparse.ArgumentParser) -> None:
    pass


def _command_words(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD",
                        help="the command line, typed literally (quote it, or put it after --)")


def _run_one_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("index", metavar="IDX", help="worker index, 0-based")
    _command_words(parser)


def _barrier_args(parser: argparse.ArgumentParser, wait: bool) -> None:
    parser.add_argument("name", metavar="NAME", help="barrier (tmux wait-for channel) name")
    if wait:
        parser.add_argument("--timeout", dest="timeout_wait", type=positive_float, default=None, metavar="S",
                            help="give up after S seconds (exit 1); default: --tmux-timeout")


SESSION_COMMANDS: list[CommandSpec] = [
    ("init", "create master + N worker panes (idempotent)",
     lambda p: p.add_argument("count", nargs="?", type=_workers_arg, metavar="N", help="worker panes [$WORKERS, 4]"),
     cmd_init),
    ("attach", "attach this terminal to the session", _no_args, cmd_attach),
    ("run-all", "type CMD into every worker pane (not the master)", _command_words, cmd_run_all),
    ("run-one", "type CMD into worker IDX (0-based)", _run_one_args, cmd_run_one),
    ("run-master", "type CMD into the master window", _command_words, cmd_run_master),
    ("status", "list panes: window, index, id, pid, command, state, size",
     lambda p: p.add_argument("--json", action="store_true", help="print JSON"), cmd_status),
    ("kill", "kill the session (and its server when nothing else is on it)", _no_args, cmd_kill),
    ("capture", "write each pane's whole scrollback to DIR/<window>-<n>.txt",
     lambda p: p.add_argument("directory", nargs="?", metavar="DIR", help="[logs/tmux/<session>/snapshots]"),
     cmd_capture),
    ("logs-on", "log every pane, UTC-timestamped, to logs/tmux/<session>/pipes (idempotent)", _no_args, cmd_logs_on),
    ("logs-off", "stop pane logging (idempotent)", _no_args, cmd_logs_off),
    ("layout", "arrange the workers: tiled, even-horizontal, even-vertical",
     lambda p: p.add_argument("name", metavar="NAME"), cmd_layout),
    ("barrier-wait", "wait until barrier NAME is signalled", lambda p: _barrier_args(p, True), cmd_barrier_wait),
    ("barrier-signal", "signal barrier NAME (wakes its waiters)", lambda p: _barrier_args(p, False), cmd_barrier_signal),
]


def _workers_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"invalid N {text!r}: expected a whole number from 1 to 64")
    return value


def all_commands() -> list[CommandSpec]:
    from .tasks.commands import TASK_COMMANDS

    return SESSION_COMMANDS + TASK_COMMANDS


def build_parser(argv: Sequence[str] | None = None) -> ArgumentParser:
    """The full parser.  With ``argv``, only the subcommands named in it are built in full (the
    others are listed for ``--help`` only): building every subparser would double start-up time."""
    common = _global_options()
    parser = ArgumentParser(prog="tmuxorch", description=DESCRIPTION, epilog=EPILOG, parents=[common])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=ArgumentParser)
    named = None if argv is None else set(argv)
    for name, summary, configure, handler in all_commands():
        if named is not None and name not in named:
            sub.add_parser(name, help=summary, add_help=False)
            continue
        child = sub.add_parser(name, help=summary, description=summary, parents=[common])
        configure(child)
        child.set_defaults(handler=handler)
    return parser


def _version() -> str:
    from . import __version__

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
