"""pytest-tmuxorch: drive many terminals at once, in tests, by hand, or in CI.

The public surface is imported lazily, so ``tmuxorch`` and ``python -m pytest_tmuxorch`` start
fast and never import pytest; ``dir(pytest_tmuxorch)`` and ``__all__`` list it all the same.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Public name -> the module that defines it.
_WHERE = {
    "Orchestrator": "orchestrator", "Pane": "panes", "RunResult": "panes", "PaneStatus": "layout",
    "Settings": "settings", "Task": "tasks.store", "TaskQueue": "tasks.queue", "PaneQueue": "loops",
    "Health": "tasks.recovery", "Screen": "screen", "Style": "styles",
    **dict.fromkeys((
        "TmuxorchError", "UsageError", "TmuxError", "ServerNotFoundError", "SessionNotFoundError",
        "ControlConnectionError", "TmuxTimeoutError", "WaitTimeoutError", "MalformedTaskError",
        "TaskNotFoundError", "TaskStateError",
    ), "errors"),
}
__all__ = [
    "ControlConnectionError", "Health", "MalformedTaskError", "Orchestrator", "Pane", "PaneQueue", "PaneStatus",
    "RunResult", "Screen", "ServerNotFoundError", "SessionNotFoundError", "Settings", "Style", "Task", "TaskNotFoundError",
    "TaskQueue", "TaskStateError", "TmuxError", "TmuxTimeoutError", "TmuxorchError", "UsageError", "WaitTimeoutError",
]

TYPE_CHECKING = False  # importing typing would cost the console script's start-up
if TYPE_CHECKING:
    from typing import Any

    from .errors import (
        ControlConnectionError,
        MalformedTaskError,
        ServerNotFoundError,
        SessionNotFoundError,
        TaskNotFoundError,
        TaskStateError,
        TmuxError,
        TmuxorchError,
        TmuxTimeoutError,
        UsageError,
        WaitTimeoutError,
    )
    from .layout import PaneStatus
    from .loops import PaneQueue
    from .orchestrator import Orchestrator
    from .panes import Pane, RunResult
    from .screen import Screen
    from .settings import Settings
    from .styles import Style
    from .tasks.queue import TaskQueue
    from .tasks.recovery import Health
    from .tasks.store import Task


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
