"""The task queue commands of the console script: ``tasks-*`` and ``worker``.

Each handler parses nothing itself: it takes the parsed arguments and the orchestrator, calls
:class:`~pytest_tmuxorch.loops.PaneQueue` and prints.  Exit statuses: 0 success; 1 an operational
failure (a task in the wrong state, a timeout, a failed task for ``tasks-wait``, something stale
for ``tasks-health``); 2 bad usage (bad argument, unknown task ID, unknown state).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from ..errors import TmuxorchError, UsageError
from .args import CommandSpec, Handler, json_flag, no_args, positive_float
from .output import print_json, print_table

LIST_HELP = "queue, running, done, failed or all [all]"

if TYPE_CHECKING:
    from ..loops import PaneQueue
    from ..orchestrator import Orchestrator
    from ..tasks.store import Task


def _guarded(handler: Handler) -> Handler:
    """Filesystem trouble (permissions, a file where a directory should be) as a one-line error."""

    def run(args: argparse.Namespace, orch: Orchestrator) -> int:
        try:
            return handler(args, orch)
        except OSError as err:
            where = f": {err.filename}" if err.filename else ""
            raise TmuxorchError(f"{err.strerror or err}{where}") from None

    run.__doc__ = handler.__doc__
    return run


def _queue(orch: Orchestrator) -> PaneQueue:
    return orch.tasks


def _short(text: str, width: int = 60) -> str:
    from ..tasks.store import escape

    text = escape(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def _when(stamp: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(stamp)) if stamp else "-"


# --- handlers ------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, orch: Orchestrator) -> int:
    for name, path in _queue(orch).init().items():
        print(f"{name:<11} {path}")
    return 0


def cmd_paths(args: argparse.Namespace, orch: Orchestrator) -> int:
    paths = _queue(orch).paths()
    if args.json:
        print_json({name: str(path) for name, path in paths.items()})
    else:
        for name, path in paths.items():
            print(f"{name:<11} {path}")
    return 0


def cmd_enqueue(args: argparse.Namespace, orch: Orchestrator) -> int:
    from ..tasks.store import parse_env_assignment

    env = dict(parse_env_assignment(item) for item in args.env)
    words = list(args.command)
    if words[:1] == ["--"]:
        words = words[1:]
    queue = _queue(orch)
    if args.stdin:
        if words or args.id is not None:
            raise UsageError("tasks-enqueue --stdin reads the commands from stdin: give no CMD and no -i")
        lines = [line.rstrip("\r\n") for line in sys.stdin]
        commands: list[str | list[str]] = [line for line in lines if line.strip()]
        if not commands:
            raise UsageError("tasks-enqueue --stdin: no command lines on stdin")
        tasks = queue.enqueue_many(commands, cwd=args.directory, env=env)
    else:
        if not words:
            raise UsageError("tasks-enqueue: no command given (put it after --)")
        command: str | list[str] = words[0] if len(words) == 1 else words
        tasks = [queue.enqueue(command, cwd=args.directory, env=env, id=args.id)]
    sys.stdout.write("".join(f"{task.id}\n" for task in tasks))
    return 0


def cmd_start(args: argparse.Namespace, orch: Orchestrator) -> int:
    started = _queue(orch).start(timeout=args.timeout_wait)
    if started:
        print(f"started worker loops: {' '.join(started)}")
    else:
        print("every worker pane already runs a worker loop; nothing started")
    return 0


def cmd_stop(args: argparse.Namespace, orch: Orchestrator) -> int:
    stopped = _queue(orch).stop(timeout=args.timeout_wait)
    if stopped:
        print(f"stopped worker loops: {' '.join(stopped)}")
    else:
        print("no worker loop was running")
    return 0


def _row(task: Task) -> list[str]:
    result = task.outcome or ("MALFORMED" if task.error and not task.command else "-")
    return [task.id, task.state or "-", str(task.attempt), task.worker or "-", _when(task.started),
            _when(task.ended), result, _short(task.command_text) if task.command else _short(task.error or "")]


def cmd_list(args: argparse.Namespace, orch: Orchestrator) -> int:
    tasks = _queue(orch).list(args.state)
    if args.json:
        print_json([task.as_dict() for task in tasks])
        return 0
    if not tasks:
        print(f"no tasks ({args.state})")
        return 0
    print_table([["ID", "STATE", "TRY", "WORKER", "STARTED", "ENDED", "RESULT", "COMMAND"],
                 *(_row(task) for task in tasks)])
    return 0


def cmd_tail(args: argparse.Namespace, orch: Orchestrator) -> int:
    sys.stdout.write(_queue(orch).tail(args.id, err=args.err, lines=args.lines))
    return 0


def cmd_cancel(args: argparse.Namespace, orch: Orchestrator) -> int:
    task = _queue(orch).cancel(args.id, grace=args.grace)
    print(f"cancelled {task.id} (now in failed/)")
    return 0


def cmd_retry(args: argparse.Namespace, orch: Orchestrator) -> int:
    task = _queue(orch).retry(args.id)
    print(f"requeued {task.id} (attempt {task.attempt} so far)")
    return 0


def cmd_health(args: argparse.Namespace, orch: Orchestrator) -> int:
    health = _queue(orch).health(requeue=args.requeue, grace=args.grace)
    if args.json:
        print_json(health.as_dict())
        return 0 if health.ok else 1
    print("  ".join(f"{state} {count}" for state, count in health.counts.items()))
    workers = ", ".join(f"{w['worker']} (pid {w['pid']})" for w in health.workers) or "none"
    print(f"live worker loops: {workers}")
    for task in health.stale:
        alive, ended = " ".join(map(str, health.alive.get(task.id, []))), health.ended.get(task.id)
        if task.id in health.requeued:
            fate = f"requeued (after ending its processes {' '.join(map(str, ended))})" if ended else "requeued"
        elif alive and args.requeue:
            fate = f"NOT requeued: its processes {alive} survived SIGTERM and SIGKILL"
        elif alive:
            fate = f"STILL RUNNING (pids {alive}): tasks-health --requeue ends it, then puts it back"
        else:
            fate = "STALE (tasks-health --requeue puts it back)"
        print(f"stale: {task.id} worker {task.worker or '?'} pid {task.worker_pid or '?'} is gone: {fate}")
    for line in health.malformed:
        print(f"malformed in queue/: {line}")
    for line in health.quarantined:
        print(f"quarantined: {line}")
    if not health.stale:
        print("no stale tasks")
    return 0 if health.ok else 1


def cmd_clean(args: argparse.Namespace, orch: Orchestrator) -> int:
    going = _queue(orch).clean(keep=args.keep, hours=args.hours, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    if args.json:
        print_json({"dry_run": args.dry_run, "removed": [task.id for task in going]})
        return 0
    for task in going:
        print(f"{verb} {task.state}/{task.id}")
    print(f"{verb} {len(going)} finished task{'s' if len(going) != 1 else ''} and their logs")
    return 0


def cmd_wait(args: argparse.Namespace, orch: Orchestrator) -> int:
    show = sys.stderr.isatty()

    def progress(counts: dict[str, int]) -> None:
        sys.stderr.write(
            f"\rwaiting: {counts['queue']} queued, {counts['running']} running, "
            f"{counts['done']} done, {counts['failed']} failed  "
        )
        sys.stderr.flush()

    try:
        tasks = _queue(orch).wait(args.ids or None, timeout=args.timeout_wait, progress=progress if show else None)
    finally:
        if show:
            sys.stderr.write("\n")
    failed = [task for task in tasks if not task.ok]
    if args.json:
        print_json([task.as_dict() for task in tasks])
    else:
        for task in failed:
            print(f"failed: {task.id} {task.outcome}: {_short(task.command_text)}")
        print(f"{len(tasks)} task{'s' if len(tasks) != 1 else ''} finished: {len(tasks) - len(failed)} ok, {len(failed)} failed")
    return 1 if failed else 0


def cmd_worker(args: argparse.Namespace, orch: Orchestrator) -> int:
    from ..tasks.worker import main

    return main(args.tasks_dir, args.worker_id, idle_poll=args.idle_poll, grace=args.grace)


# --- argument configuration ----------------------------------------------------------------------


def _enqueue_args(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "several words after -- run as an exact argv (no shell); a single word is a /bin/sh command line:\n"
        "  tmuxorch tasks-enqueue -- printf '%s\\n' 'a b'      argv, prints 'a b'\n"
        "  tmuxorch tasks-enqueue -- 'echo a | tr a b'         shell line, prints b\n"
        "  seq 3 | sed 's/^/echo /' | tmuxorch tasks-enqueue --stdin   one task per line\n"
        "prints the new task ID(s), one per line"
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("-d", "--dir", dest="directory", metavar="DIR", help="working directory of the task [current directory]")
    parser.add_argument("-i", "--id", metavar="ID", help="task ID (a safe file name, unused) [generated, sorts by enqueue time]")
    parser.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VAL",
                        help="add KEY=VAL to the task's environment (repeatable)")
    parser.add_argument("--stdin", action="store_true", help="read one shell command line per line of stdin (blank lines skipped)")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD...", help="the command")


def _wait_timeout(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--timeout", dest="timeout_wait", type=positive_float, default=None, metavar="S",
                        help=f"give up {what} after S seconds (exit 1) [--tmux-timeout, 10]")


def _list_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("state", nargs="?", default="all", type=_state, metavar="STATE", help=LIST_HELP)
    json_flag(parser)


def _state(text: str) -> str:
    from ..tasks.queue import LIST_STATES

    if text not in LIST_STATES:
        raise argparse.ArgumentTypeError(f"unknown state {text!r}: choose one of {', '.join(LIST_STATES)}")
    return text


def _lines(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 0")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number >= 0")
    return value


def _id_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", help="task ID (see tasks-list)")


def _tail_args(parser: argparse.ArgumentParser) -> None:
    _id_arg(parser)
    parser.add_argument("--err", action="store_true", help="show stderr (logs/ID.err) instead of stdout")
    parser.add_argument("-n", "--lines", type=_lines, default=100, metavar="N", help="last N lines [100]")


def _cancel_args(parser: argparse.ArgumentParser) -> None:
    _id_arg(parser)
    parser.add_argument("--grace", type=_non_negative, default=2.0, metavar="S",
                        help="seconds between SIGTERM and SIGKILL for a running task [2]")


def _health_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requeue", action="store_true",
                        help="put stale running tasks back in queue/, after ending what still runs of them")
    parser.add_argument("--grace", type=_non_negative, default=2.0, metavar="S",
                        help="seconds between SIGTERM and SIGKILL for those processes [2]")
    json_flag(parser)


def _clean_args(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--hours", type=_non_negative, metavar="N", help="remove tasks that ended more than N hours ago")
    which.add_argument("--keep", type=_lines, metavar="N", help="keep the newest N finished tasks, remove the rest")
    parser.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    json_flag(parser)


def _wait_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="tasks to wait for [all: until nothing is queued or running]")
    _wait_timeout(parser, "waiting")
    parser.add_argument("--json", action="store_true", help="print the finished tasks as JSON")
    parser.epilog = ("exit status: 0 all finished tasks succeeded; 1 a task failed or the timeout expired; 2 unknown ID. "
                     "With no ID, every task in done/ and failed/ counts (tasks-clean between batches).")


def _worker_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tasks_dir", metavar="TASKS_DIR", help="root of the task queue")
    parser.add_argument("worker_id", metavar="WORKER_ID", help="name of this loop (one live loop per name)")
    parser.add_argument("--idle-poll", type=positive_float, default=0.02, metavar="S",
                        help="seconds between looks at queue/ when idle [0.02]")
    parser.add_argument("--grace", type=_non_negative, default=2.0, metavar="S",
                        help="seconds between SIGTERM and SIGKILL when stopping or cancelling a task [2]")




_COMMANDS: list[CommandSpec] = [
    ("tasks-init", "create the task queue directories (idempotent)", no_args, cmd_init),
    ("tasks-enqueue", "add a task: -- CMD... (several words: exact argv; one word: shell line)", _enqueue_args, cmd_enqueue),
    ("tasks-start", "start a worker loop in every worker pane that has none",
     lambda p: _wait_timeout(p, "waiting for the loops"), cmd_start),
    ("tasks-stop", "stop the worker loops (C-c); a running task goes back to queue/",
     lambda p: _wait_timeout(p, "waiting for the loops"), cmd_stop),
    ("tasks-list", "list tasks: queue, running, done, failed or all", _list_args, cmd_list),
    ("tasks-tail", "show the end of a task's stdout (or --err)", _tail_args, cmd_tail),
    ("tasks-cancel", "cancel a queued or running task (its whole process group); it ends in failed/", _cancel_args, cmd_cancel),
    ("tasks-retry", "put a failed task back in queue/", _id_arg, cmd_retry),
    ("tasks-paths", "print the task queue's directories", json_flag, cmd_paths),
    ("tasks-health", "counts, live worker loops, stale running tasks (exit 1 if any is left)", _health_args, cmd_health),
    ("tasks-clean", "remove finished tasks and their logs: --hours N or --keep N", _clean_args, cmd_clean),
    ("tasks-wait", "wait until the given tasks (or the whole queue) finish; exit 1 if any failed", _wait_args, cmd_wait),
    ("worker", "run a worker loop in this terminal (what tasks-start types into each pane)", _worker_args, cmd_worker),
]

TASK_COMMANDS: list[CommandSpec] = [
    (name, summary, configure, _guarded(handler)) for name, summary, configure, handler in _COMMANDS
]
