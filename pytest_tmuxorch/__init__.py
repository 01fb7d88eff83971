"""pytest-tmuxorch: drive many terminals at once, in tests, by hand, or in CI.

The public surface is imported lazily, so ``tmuxorch`` and ``python -m pytest_tmuxorch`` start
fast and never import pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "Orchestrator",
    "Pane",
    "PaneStatus",
    "RunResult",
    "ServerNotFoundError",
    "SessionNotFoundError",
    "Settings",
    "TmuxError",
    "TmuxTimeoutError",
    "TmuxorchError",
    "UsageError",
    "WaitTimeoutError",
]

_WHERE = {
    "Orchestrator": "orchestrator", "Pane": "panes", "RunResult": "panes", "PaneStatus": "layout",
    "Settings": "settings", "TmuxorchError": "errors", "UsageError": "errors", "TmuxError": "errors",
    "ServerNotFoundError": "errors", "SessionNotFoundError": "errors", "TmuxTimeoutError": "errors",
    "WaitTimeoutError": "errors",
}

if TYPE_CHECKING:
    from .errors import (
        ServerNotFoundError,
        SessionNotFoundError,
        TmuxError,
        TmuxorchError,
        TmuxTimeoutError,
        UsageError,
        WaitTimeoutError,
    )
    from .layout import PaneStatus
    from .orchestrator import Orchestrator
    from .panes import Pane, RunResult
    from .settings import Settings


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
