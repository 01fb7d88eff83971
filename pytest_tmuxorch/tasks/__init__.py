"""The task queue (SPEC 4): a crash-safe filesystem queue whose worker loops live in the panes.

``store`` is the on-disk format, ``queue`` the filesystem operations and the Python API
(:class:`TaskQueue`), ``worker`` the loop run in each worker pane, ``commands`` the ``tasks-*``
subcommands of the console script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Health", "MalformedTaskError", "Task", "TaskNotFoundError", "TaskQueue", "TaskStateError",
    "new_id", "parse", "serialize",
]

# Imported on first use: the console script imports ``tasks.commands`` to list its subcommands,
# and must not pay for the queue's modules when it runs ``status``.
_WHERE = {
    "Health": "queue", "TaskNotFoundError": "queue", "TaskQueue": "queue", "TaskStateError": "queue",
    "new_id": "queue", "MalformedTaskError": "store", "Task": "store", "parse": "store", "serialize": "store",
}

if TYPE_CHECKING:
    from .queue import Health, TaskNotFoundError, TaskQueue, TaskStateError, new_id
    from .store import MalformedTaskError, Task, parse, serialize


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
