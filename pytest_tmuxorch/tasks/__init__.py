"""The task queue (SPEC 4): a crash-safe filesystem queue whose worker loops live in the panes.

``store`` is the on-disk format, ``queue`` the filesystem operations and the Python API
(:class:`TaskQueue`), ``worker`` the loop run in each worker pane, ``commands`` the ``tasks-*``
subcommands of the console script.
"""

from __future__ import annotations

from .queue import Health, TaskNotFoundError, TaskQueue, TaskStateError, new_id
from .store import MalformedTaskError, Task, parse, serialize

__all__ = [
    "Health", "MalformedTaskError", "Task", "TaskNotFoundError", "TaskQueue", "TaskStateError",
    "new_id", "parse", "serialize",
]
