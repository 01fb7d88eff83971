"""The session commands of the console script: plain functions over the :class:`Orchestrator`."""

from __future__ import annotations

import os
import sys

from ..errors import TmuxorchError, UsageError
from .args import REMAINDER, Arguments, command_text, json_flag, no_args, positive_float, whole_number, worker_index
from .output import print_json, print_table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..orchestrator import Orchestrator
    from .args import CommandSpec


def cmd_init(args: Arguments, orch: Orchestrator) -> int:
    workers = args.count if args.count is not None else orch.settings.workers
    created = orch.init(workers, wait=False)
    try:
        orch.wait_ready()
    except TmuxorchError:
        if created:  # its shells cannot start (--shell /no/such/shell): leave nothing behind
            try:  # (only a session this call made: a concurrent init's session is not ours)
                orch.kill()
            except TmuxorchError:
                pass
        raise
    if created:
        noun = "worker" if workers == 1 else "workers"
        print(f"created session {orch.settings.session!r} with master + {workers} {noun} on socket {orch.address!r}")
    else:
        print(f"session {orch.settings.session!r} already exists on socket {orch.address!r}; left as it is")
    return 0


def cmd_attach(args: Arguments, orch: Orchestrator) -> int:
    orch.attach()
    return 0


def cmd_run_all(args: Arguments, orch: Orchestrator) -> int:
    orch.run_all(command_text(args.command))
    return 0


def cmd_run_one(args: Arguments, orch: Orchestrator) -> int:
    orch.run_one(worker_index(args.index), command_text(args.command))
    return 0


def cmd_run_master(args: Arguments, orch: Orchestrator) -> int:
    orch.run_master(command_text(args.command))
    return 0


def cmd_status(args: Arguments, orch: Orchestrator) -> int:
    statuses = orch.status()
    if args.json:
        print_json([status.as_dict() for status in statuses])
        return 0
    rows = [["WINDOW", "PANE", "WORKER", "ID", "PID", "COMMAND", "STATE", "SIZE"]]
    for s in statuses:
        state = f"dead ({s.exit_status})" if s.dead else "alive"
        worker = "-" if s.worker is None else str(s.worker)
        rows.append([f"{s.window_index}:{s.window}", str(s.pane_index), worker, s.pane_id, str(s.pid),
                     s.command, state, f"{s.width}x{s.height}"])
    print_table(rows)
    return 0


def cmd_kill(args: Arguments, orch: Orchestrator) -> int:
    if orch.exists() and (orch.settings.tasks_root / "workers").is_dir():
        loops, back = orch.tasks.shutdown()
        if loops:
            print(f"stopped worker loops: {' '.join(loops)}", file=sys.stderr)
        for task_id in back:
            attempt = orch.tasks.get(task_id).attempt
            print(f"task {task_id} was running: ended and returned to queue/ (attempt {attempt} counted)", file=sys.stderr)
    if orch.kill():
        print(f"killed session {orch.settings.session!r} on socket {orch.address!r}")
    else:
        print(f"no session {orch.settings.session!r} on socket {orch.address!r}; nothing to kill", file=sys.stderr)
    return 0


def cmd_capture(args: Arguments, orch: Orchestrator) -> int:
    target = args.directory
    if target is not None and os.path.lexists(target) and not os.path.isdir(target):
        raise UsageError(f"capture: {target!r} is not a directory")
    if args.cast and args.seconds is None:
        raise UsageError("capture: --cast records what the panes write from now on: give --seconds S "
                         "(a new process has no past output to save)")
    if args.seconds is not None and not args.cast:
        raise UsageError("capture: --seconds goes with --cast")
    try:
        paths = orch.capture(target)
        directory = paths[0].parent if paths else orch.settings.logs_root / "snapshots"
        if args.svg:
            from ..artifacts import capture_svgs

            paths += capture_svgs(orch, directory)
        if args.cast:
            from ..artifacts import record_live

            count = len(orch.status())
            print(f"recording {count} pane{'s' if count != 1 else ''} for {args.seconds:g}s (Ctrl-C ends it early)",
                  file=sys.stderr)
            paths += record_live(orch, directory, args.seconds)
    except OSError as err:
        raise TmuxorchError(f"cannot write the snapshots to {err.filename or target}: {err.strerror or err}") from None
    for path in paths:
        print(path)
    return 0


def _capture_args(parser: Any) -> None:
    parser.add_argument("directory", nargs="?", metavar="DIR", help="[logs/tmux/<session>/snapshots]")
    parser.add_argument("--svg", action="store_true", help="also each pane's visible screen as a picture, DIR/<window>-<n>.svg")
    parser.add_argument("--cast", action="store_true",
                        help="also record each pane for --seconds S from now (asciicast v2, DIR/<window>-<n>.cast)")
    parser.add_argument("--seconds", type=positive_float, default=None, metavar="S", help="how long --cast records")


def cmd_logs_on(args: Arguments, orch: Orchestrator) -> int:
    for path in orch.logs_on():
        print(path)
    return 0


def cmd_logs_off(args: Arguments, orch: Orchestrator) -> int:
    closed = orch.logs_off()
    print(f"pane logging off ({closed} pipe{'s' if closed != 1 else ''} closed)")
    return 0


def cmd_layout(args: Arguments, orch: Orchestrator) -> int:
    orch.set_layout(args.name)
    return 0


def cmd_barrier_wait(args: Arguments, orch: Orchestrator) -> int:
    orch.barrier_wait(args.name, timeout=args.timeout_wait, parties=args.parties)
    return 0


def cmd_barrier_status(args: Arguments, orch: Orchestrator) -> int:
    import time

    status = orch.barrier_status(args.name)
    if args.json:
        print_json(status.as_dict())
        return 0
    if status.waiting:
        print(f"barrier {status.name!r}: round {status.released + 1}, {len(status.waiting)} of {status.parties} "
              f"parties waiting ({status.released} released before)")
        rows = [["PARTY", "PID", "PANE", "WAITING", "STATE"]]
        rows += [[party.token, str(party.pid), party.pane or "-", f"{time.time() - party.since:.1f}s",
                  "waiting" if party.alive else "gone (not counted)"] for party in status.waiting]
        print_table(rows)
    else:
        print(f"barrier {status.name!r}: round {status.released + 1}, nobody waiting ({status.released} released before)")
    if status.signal_waiters:
        print(f"waiting for its signal: {' '.join(f'pid {pid}' for pid in status.signal_waiters)}")
    return 0


def cmd_watch(args: Arguments, orch: Orchestrator) -> int:
    from ..watch import watch

    watch(orch, interval=args.interval, once=args.once)
    return 0


def cmd_barrier_signal(args: Arguments, orch: Orchestrator) -> int:
    orch.barrier_signal(args.name)
    return 0



def _command_words(parser: Any) -> None:
    parser.add_argument("command", nargs=REMAINDER, metavar="CMD",
                        help="the command line, typed literally (quote it, or put it after --)")


def _run_one_args(parser: Any) -> None:
    parser.add_argument("index", metavar="IDX", help="worker index, 0-based")
    _command_words(parser)


def _barrier_args(parser: Any, wait: bool) -> None:
    parser.add_argument("name", metavar="NAME", help="barrier (tmux wait-for channel) name")
    if wait:
        parser.add_argument("--parties", type=_parties_arg, default=None, metavar="N",
                            help="an N-party barrier: wait until N parties have arrived, then all pass "
                                 "(without it: wait until NAME is signalled)")
        parser.add_argument("--timeout", dest="timeout_wait", type=positive_float, default=None, metavar="S",
                            help="give up after S seconds (exit 1; an N-party wait leaves the round) "
                                 "[--tmux-timeout, 10]")


def _parties_arg(text: str) -> int:
    from ..parties import MAX_PARTIES

    return whole_number(1, MAX_PARTIES)(text)


def _barrier_status_args(parser: Any) -> None:
    parser.add_argument("name", metavar="NAME", help="barrier name")
    json_flag(parser)


def _watch_args(parser: Any) -> None:
    parser.add_argument("--interval", type=positive_float, default=1.0, metavar="S", help="seconds between refreshes [1]")
    parser.add_argument("--once", action="store_true", help="show one frame and exit")


def _workers_arg(text: str) -> int:
    from ..settings import MAX_WORKERS

    return whole_number(1, MAX_WORKERS)(text)


SESSION_COMMANDS: list[CommandSpec] = [
    ("init", "create master + N worker panes (idempotent)",
     lambda p: p.add_argument("count", nargs="?", type=_workers_arg, metavar="N", help="worker panes [$WORKERS, 4]"),
     cmd_init),
    ("attach", "attach this terminal to the session", no_args, cmd_attach),
    ("run-all", "type CMD into every worker pane (not the master)", _command_words, cmd_run_all),
    ("run-one", "type CMD into worker IDX (0-based)", _run_one_args, cmd_run_one),
    ("run-master", "type CMD into the master window", _command_words, cmd_run_master),
    ("status", "list panes: window, index, id, pid, command, state, size",
     json_flag, cmd_status),
    ("kill", "kill the session (and its server when nothing else is on it)", no_args, cmd_kill),
    ("capture", "write each pane's whole scrollback to DIR/<window>-<n>.txt (--svg: its screen too; --cast: record it)",
     _capture_args, cmd_capture),
    ("logs-on", "log every pane, UTC-timestamped, to logs/tmux/<session>/pipes (idempotent)", no_args, cmd_logs_on),
    ("logs-off", "stop pane logging (idempotent)", no_args, cmd_logs_off),
    ("layout", "arrange the workers: tiled, even-horizontal, even-vertical",
     lambda p: p.add_argument("name", metavar="NAME", help="tiled, even-horizontal or even-vertical"), cmd_layout),
    ("barrier-wait", "wait until barrier NAME is signalled, or until N parties arrived (--parties N)",
     lambda p: _barrier_args(p, True), cmd_barrier_wait),
    ("barrier-signal", "signal barrier NAME (wakes its waiters)", lambda p: _barrier_args(p, False), cmd_barrier_signal),
    ("barrier-status", "who waits at barrier NAME", _barrier_status_args, cmd_barrier_status),
    ("watch", "a live view of the panes and the task queue (Ctrl-C to quit)", _watch_args, cmd_watch),
]
