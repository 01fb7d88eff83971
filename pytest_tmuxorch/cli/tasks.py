"""The task queue commands of the console script: ``tasks-*`` and ``worker``.

Each handler parses nothing itself: it takes the parsed arguments and the orchestrator, calls
:class:`~pytest_tmuxorch.loops.PaneQueue` and prints.  Exit statuses: 0 success; 1 an operational
failure (a task in the wrong state, a timeout, a failed task for ``tasks-wait``, something stale
for ``tasks-health``); 2 bad usage (bad argument, unknown task ID, unknown state).
"""

from __future__ import annotations

import sys
import time

from ..errors import TmuxorchError, UsageError
from .args import Arguments, json_flag, no_args
from .output import print_json, print_table
from .task_args import (
    cancel_args,
    clean_args,
    enqueue_args,
    health_args,
    id_arg,
    list_args,
    tail_args,
    wait_args,
    wait_timeout,
    worker_args,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..loops import PaneQueue
    from ..orchestrator import Orchestrator
    from ..tasks.store import Task
    from .args import CommandSpec, Handler


def _guarded(handler: Handler) -> Handler:
    """Filesystem trouble (permissions, a file where a directory should be) as a one-line error."""

    def run(args: Arguments, orch: Orchestrator) -> int:
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


def _result(task: Task) -> str:
    """How a task ended, for a line: ``exit 3``, ``timed out after 1.00s (limit 1s)``..."""
    from ..tasks.text import duration

    if task.timed_out:
        return f"timed out after {duration(task.runtime)} (limit {task.timeout:g}s)"
    if task.dependency_failed is not None:
        return f"dependency {task.dependency_failed} failed"
    return task.outcome


def _after(queue: PaneQueue, values: list[str]) -> list[str]:
    """The IDs of ``--after`` values: each is an ID, or IDs separated by commas (an ID that has
    commas itself is taken whole when a task has it)."""
    ids: list[str] = []
    for value in values:
        if "," in value and queue.find(value, quiet=True) is None:
            parts = value.split(",")
            if not all(parts):
                raise UsageError(f"tasks-enqueue: invalid --after {value!r}: an empty task ID")
            ids += parts
        else:
            ids.append(value)
    return ids


# --- handlers ------------------------------------------------------------------------------------


def cmd_init(args: Arguments, orch: Orchestrator) -> int:
    for name, path in _queue(orch).init().items():
        print(f"{name:<11} {path}")
    return 0


def cmd_paths(args: Arguments, orch: Orchestrator) -> int:
    paths = _queue(orch).paths()
    if args.json:
        print_json({name: str(path) for name, path in paths.items()})
    else:
        for name, path in paths.items():
            print(f"{name:<11} {path}")
    return 0


def cmd_enqueue(args: Arguments, orch: Orchestrator) -> int:
    from ..tasks.store import parse_env_assignment

    env = dict(parse_env_assignment(item) for item in args.env)
    words = list(args.command)
    if words[:1] == ["--"]:
        words = words[1:]
    queue = _queue(orch)
    options = {"after": _after(queue, args.after), "priority": args.priority, "timeout": args.task_timeout,
               "retries": args.retries}
    if args.stdin:
        if words or args.id is not None:
            raise UsageError("tasks-enqueue --stdin reads the commands from stdin: give no CMD and no -i")
        lines = [line.rstrip("\r\n") for line in sys.stdin]
        commands: list[str | list[str]] = [line for line in lines if line.strip()]
        if not commands:
            raise UsageError("tasks-enqueue --stdin: no command lines on stdin")
        tasks = queue.enqueue_many(commands, cwd=args.directory, env=env, **options)
    else:
        if not words:
            raise UsageError("tasks-enqueue: no command given (put it after --)")
        command: str | list[str] = words[0] if len(words) == 1 else words
        tasks = [queue.enqueue(command, cwd=args.directory, env=env, id=args.id, **options)]
    sys.stdout.write("".join(f"{task.id}\n" for task in tasks))
    return 0


def cmd_start(args: Arguments, orch: Orchestrator) -> int:
    _said(_queue(orch).start(timeout=args.timeout_wait), "started worker loops",
          "every worker pane already runs a worker loop; nothing started")
    return 0


def cmd_stop(args: Arguments, orch: Orchestrator) -> int:
    _said(_queue(orch).stop(timeout=args.timeout_wait), "stopped worker loops", "no worker loop was running")
    return 0


def _said(loops: list[str], done: str, nothing: str) -> None:
    print(f"{done}: {' '.join(loops)}" if loops else nothing)


def _row(task: Task, now: float) -> list[str]:
    from ..tasks.text import duration

    result = _result(task) or ("MALFORMED" if task.error and not task.command else "-")
    runtime = duration(now - task.started if task.state == "running" and task.started else task.runtime)
    return [task.id, task.state or "-", str(task.attempt), str(task.priority), task.worker or "-",
            _when(task.started), runtime, result, _short(",".join(task.after), 30) or "-",
            _short(task.command_text) if task.command else _short(task.error or "")]


def cmd_list(args: Arguments, orch: Orchestrator) -> int:
    tasks = _queue(orch).list(args.state)
    if args.json:
        print_json([task.as_dict() for task in tasks])
        return 0
    if not tasks:
        print(f"no tasks ({args.state})")
        return 0
    now = time.time()
    print_table([["ID", "STATE", "TRY", "PRI", "WORKER", "STARTED", "RUNTIME", "RESULT", "AFTER", "COMMAND"],
                 *(_row(task, now) for task in tasks)])
    return 0


def cmd_tail(args: Arguments, orch: Orchestrator) -> int:
    queue = _queue(orch)
    if not args.follow:
        if args.timeout_wait is not None:
            raise UsageError("tasks-tail: --timeout needs --follow")
        sys.stdout.write(queue.tail(args.id, err=args.err, lines=args.lines))
        return 0
    out = sys.stdout.buffer
    for chunk in queue.follow(args.id, err=args.err, lines=args.lines, timeout=args.timeout_wait):
        out.write(chunk)
        out.flush()
    code = queue.get(args.id).exit_code
    return 1 if code is None else code


def cmd_cancel(args: Arguments, orch: Orchestrator) -> int:
    task = _queue(orch).cancel(args.id, grace=args.grace)
    print(f"cancelled {task.id} (now in failed/)")
    return 0


def cmd_retry(args: Arguments, orch: Orchestrator) -> int:
    task = _queue(orch).retry(args.id)
    print(f"requeued {task.id} (attempt {task.attempt} so far)")
    return 0


def cmd_health(args: Arguments, orch: Orchestrator) -> int:
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


def cmd_clean(args: Arguments, orch: Orchestrator) -> int:
    going = _queue(orch).clean(keep=args.keep, hours=args.hours, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    if args.json:
        print_json({"dry_run": args.dry_run, "removed": [task.id for task in going]})
        return 0
    for task in going:
        print(f"{verb} {task.state}/{task.id}")
    print(f"{verb} {len(going)} finished task{'s' if len(going) != 1 else ''} and their logs")
    return 0


def cmd_wait(args: Arguments, orch: Orchestrator) -> int:
    from .progress import progress_bar

    queue = _queue(orch)
    with progress_bar() as progress:
        if args.ids or args.json:
            tasks = queue.wait(args.ids or None, timeout=args.timeout_wait, progress=progress)
            failed, count = [task for task in tasks if not task.ok], len(tasks)
        else:  # the whole queue: read back only the failed tasks (done/ holds only successes)
            queue.wait_quietly(None, timeout=args.timeout_wait, progress=progress)
            failed = queue.list("failed")
            count = len(failed) + len(queue.names("done"))
    if args.json:
        print_json([task.as_dict() for task in tasks])
    else:
        for task in failed:
            print(f"failed: {task.id} {_result(task)}: {_short(task.command_text)}")
        print(f"{count} task{'s' if count != 1 else ''} finished: {count - len(failed)} ok, {len(failed)} failed")
    return 1 if failed else 0


def cmd_worker(args: Arguments, orch: Orchestrator) -> int:
    from ..tasks.worker import main

    return main(args.tasks_dir, args.worker_id, idle_poll=args.idle_poll, grace=args.grace)


_COMMANDS: list[CommandSpec] = [
    ("tasks-init", "create the task queue directories (idempotent)", no_args, cmd_init),
    ("tasks-enqueue", "add a task: -- CMD... (several words: exact argv; one word: shell line)", enqueue_args, cmd_enqueue),
    ("tasks-start", "start a worker loop in every worker pane that has none",
     lambda p: wait_timeout(p, "waiting for the loops"), cmd_start),
    ("tasks-stop", "stop the worker loops (C-c); a running task goes back to queue/",
     lambda p: wait_timeout(p, "waiting for the loops"), cmd_stop),
    ("tasks-list", "list tasks: queue, waiting, running, done, failed or all", list_args, cmd_list),
    ("tasks-tail", "show the end of a task's stdout (or --err); --follow it until the task ends", tail_args, cmd_tail),
    ("tasks-cancel", "cancel a queued, waiting or running task (its whole process group); it ends in failed/",
     cancel_args, cmd_cancel),
    ("tasks-retry", "put a failed task back in queue/", id_arg, cmd_retry),
    ("tasks-paths", "print the task queue's directories", json_flag, cmd_paths),
    ("tasks-health", "counts, live worker loops, stale running tasks (exit 1 if any is left)", health_args, cmd_health),
    ("tasks-clean", "remove finished tasks and their logs: --hours N or --keep N", clean_args, cmd_clean),
    ("tasks-wait", "wait until the given tasks (or the whole queue) finish; exit 1 if any failed", wait_args, cmd_wait),
    ("worker", "run a worker loop in this terminal (what tasks-start types into each pane)", worker_args, cmd_worker),
]

TASK_COMMANDS: list[CommandSpec] = [
    (name, summary, configure, _guarded(handler)) for name, summary, configure, handler in _COMMANDS
]
