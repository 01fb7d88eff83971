"""The task queue: a crash-safe filesystem queue whose worker loops live in the panes.

``text`` and ``store`` are the on-disk format, ``names`` the names of queued files (claim
order), ``files`` the atomic files and locks, ``queue`` the operations (:class:`TaskQueue`) with
``enqueue``, ``deps`` (dependencies), ``logs`` (tail, follow), ``progress`` (overview, wait) and
``recovery`` (cancel, retry, clean, dead workers); ``worker`` is the loop run in each worker
pane and ``runner`` how it runs one task.  Nothing here knows about tmux.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Health", "Overview", "Run", "Task", "TaskQueue", "new_id", "parse", "serialize"]

# Imported on first use: the console script must not pay for the queue's modules when it runs
# ``status``.
_WHERE = {
    "Health": "recovery", "Overview": "progress", "TaskQueue": "queue", "new_id": "store", "Run": "store",
    "Task": "store", "parse": "store", "serialize": "store",
}

if TYPE_CHECKING:
    from .progress import Overview
    from .queue import TaskQueue
    from .recovery import Health
    from .store import Run, Task, new_id, parse, serialize


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
