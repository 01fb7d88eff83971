"""The arguments of the task queue commands (``tasks-*`` and ``worker``): one function per
subcommand that adds them to its parser, and their types.  The handlers are in :mod:`.tasks`."""

from __future__ import annotations

from ..errors import UsageError
from .args import REMAINDER, bad_value, json_flag, positive_float, seconds, whole_number

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

LIST_HELP = "queue, waiting, running, done, failed or all [all]"


def _checked(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from one of the queue's checks: its message, on one line, names the flag."""

    def convert(text: str) -> Any:
        try:
            return check(text)
        except UsageError as err:
            raise bad_value(f"{text!r}: {str(err).partition(': ')[2] or err}") from None

    return convert


def _priority(text: str) -> int:
    from ..tasks.text import check_priority

    return check_priority(text)


def _retries(text: str) -> int:
    from ..tasks.text import check_retries

    return check_retries(text)


def _task_timeout(text: str) -> float | None:
    from ..tasks.text import check_timeout

    return check_timeout(text)


def enqueue_args(parser: Any) -> None:
    parser.epilog = (
        "several words after -- run as an exact argv (no shell); a single word is a /bin/sh command line:\n"
        "  tmuxorch tasks-enqueue -- printf '%s\\n' 'a b'      argv, prints 'a b'\n"
        "  tmuxorch tasks-enqueue -- 'echo a | tr a b'         shell line, prints b\n"
        "  seq 3 | sed 's/^/echo /' | tmuxorch tasks-enqueue --stdin   one task per line\n"
        "  tmuxorch tasks-enqueue --after build,lint --timeout 600 --retries 2 -- make test\n"
        "prints the new task ID(s), one per line"
    )
    parser.add_argument("-d", "--dir", dest="directory", metavar="DIR", help="working directory of the task [current directory]")
    parser.add_argument("-i", "--id", metavar="ID", help="task ID (a safe file name, unused) [generated, sorts by enqueue time]")
    parser.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VAL",
                        help="add KEY=VAL to the task's environment (repeatable)")
    parser.add_argument("--after", action="append", default=[], metavar="ID[,ID...]",
                        help="run only once these tasks are done; if one fails, fail without running (repeatable)")
    parser.add_argument("--priority", type=_checked(_priority), default=0, metavar="N",
                        help="higher runs first; first in, first out within a priority [0]")
    parser.add_argument("--timeout", dest="task_timeout", type=_checked(_task_timeout), default=None, metavar="S",
                        help="end the task (SIGTERM, then SIGKILL) after S seconds and fail it as timed out [no limit]")
    parser.add_argument("--retries", type=_checked(_retries), default=0, metavar="N",
                        help="run a failing task again, up to N more times [0]")
    parser.add_argument("--stdin", action="store_true", help="read one shell command line per line of stdin (blank lines skipped)")
    parser.add_argument("command", nargs=REMAINDER, metavar="-- CMD...", help="the command")


def wait_timeout(parser: Any, what: str) -> None:
    parser.add_argument("--timeout", dest="timeout_wait", type=positive_float, default=None, metavar="S",
                        help=f"give up {what} after S seconds (exit 1) [--tmux-timeout, 10]")


def list_args(parser: Any) -> None:
    parser.add_argument("state", nargs="?", default="all", type=_state, metavar="STATE", help=LIST_HELP)
    parser.add_argument("--json", action="store_true", help="print JSON: every field of every task")


def _state(text: str) -> str:
    from ..tasks.queue import LIST_STATES

    if text not in LIST_STATES:
        raise bad_value(f"unknown state {text!r}: choose one of {', '.join(LIST_STATES)}")
    return text


lines_type = whole_number(0)
non_negative = seconds(zero=True)


def id_arg(parser: Any) -> None:
    parser.add_argument("id", metavar="ID", help="task ID (see tasks-list)")


def tail_args(parser: Any) -> None:
    id_arg(parser)
    parser.add_argument("--err", action="store_true", help="show stderr (logs/ID.err) instead of stdout")
    parser.add_argument("-n", "--lines", type=lines_type, default=100, metavar="N", help="last N lines [100]")
    parser.add_argument("-f", "--follow", action="store_true",
                        help="then print what the task writes as it does, until it finishes; "
                             "exit with its status (128+N after signal N, 124 timed out, 1 cancelled)")
    parser.add_argument("--timeout", dest="timeout_wait", type=positive_float, default=None, metavar="S",
                        help="with --follow: give up after S seconds (exit 1) [no limit]")


def cancel_args(parser: Any) -> None:
    id_arg(parser)
    parser.add_argument("--grace", type=non_negative, default=2.0, metavar="S",
                        help="seconds between SIGTERM and SIGKILL for a running task [2]")


def health_args(parser: Any) -> None:
    parser.add_argument("--requeue", action="store_true",
                        help="put stale running tasks back in queue/, after ending what still runs of them")
    parser.add_argument("--grace", type=non_negative, default=2.0, metavar="S",
                        help="seconds between SIGTERM and SIGKILL for those processes [2]")
    json_flag(parser)


def clean_args(parser: Any) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--hours", type=non_negative, metavar="N", help="remove tasks that ended more than N hours ago")
    which.add_argument("--keep", type=lines_type, metavar="N", help="keep the newest N finished tasks, remove the rest")
    parser.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    json_flag(parser)


def wait_args(parser: Any) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="tasks to wait for [all: until nothing is queued, waiting or running]")
    wait_timeout(parser, "waiting")
    parser.add_argument("--json", action="store_true", help="print the finished tasks as JSON")
    parser.epilog = ("exit status: 0 all finished tasks succeeded; 1 a task failed or the timeout expired; 2 unknown ID. "
                     "With no ID, every task in done/ and failed/ counts (tasks-clean between batches). "
                     "On a terminal, a progress bar on stderr shows how far the queue is from empty.")


def worker_args(parser: Any) -> None:
    parser.add_argument("tasks_dir", metavar="TASKS_DIR", help="root of the task queue")
    parser.add_argument("worker_id", metavar="WORKER_ID", help="name of this loop (one live loop per name)")
    parser.add_argument("--idle-poll", type=positive_float, default=0.02, metavar="S",
                        help="seconds between looks at queue/ when idle [0.02]")
    parser.add_argument("--grace", type=non_negative, default=2.0, metavar="S",
                        help="seconds between SIGTERM and SIGKILL when stopping, cancelling or timing out a task [2]")
