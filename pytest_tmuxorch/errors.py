"""What can go wrong: the whole exception tree, under :class:`TmuxorchError`.

Each error carries a one-line message fit for a terminal; the console script turns
:class:`UsageError` into exit status 2 and every other :class:`TmuxorchError` into 1.

::

    TmuxorchError
    ├── UsageError (ValueError)          bad input; nothing was changed
    │   └── TaskNotFoundError            no task with that ID
    ├── TmuxError                        a tmux command failed
    │   ├── ServerNotFoundError
    │   ├── SessionNotFoundError
    │   └── ControlConnectionError       the control client died before answering
    ├── TmuxTimeoutError (TimeoutError)  something did not happen in time
    │   └── WaitTimeoutError             a pane did not show what was awaited
    ├── BarrierStateError                an N-party barrier's shared state is unusable
    ├── MalformedTaskError               a task file that cannot be read back
    └── TaskStateError                   a task in the wrong state for the operation
"""

from __future__ import annotations


class TmuxorchError(Exception):
    """Root of every error raised by pytest-tmuxorch."""


class UsageError(TmuxorchError, ValueError):
    """Bad input from the user: a setting, an argument, a name. Nothing was changed."""


class TmuxError(TmuxorchError):
    """A tmux command failed; the message is tmux's own, with the command that failed."""


class ServerNotFoundError(TmuxError):
    """No tmux server is listening on the orchestrator's socket."""


class SessionNotFoundError(TmuxError):
    """The server runs, but the orchestrator's session is not on it."""


class ControlConnectionError(TmuxError):
    """The control connection closed before a command that changes things was answered: it may
    or may not have run, so it is not retried."""


class TmuxTimeoutError(TmuxorchError, TimeoutError):
    """Something did not happen within its deadline (a tmux call, a wait, a barrier)."""


class WaitTimeoutError(TmuxTimeoutError):
    """A pane did not show the expected output in time; :attr:`screen` holds what it showed."""

    def __init__(self, message: str, screen: str = "") -> None:
        self.screen = screen
        if screen:
            shown = "\n".join(line.rstrip() for line in screen.rstrip().split("\n"))  # no trailing padding
            message = f"{message}\n--- screen ---\n{shown}\n--------------"
        super().__init__(message)


class BarrierStateError(TmuxorchError):
    """The state an N-party barrier keeps in the tmux server is unreadable, or lost this party."""


class MalformedTaskError(TmuxorchError):
    """A task file that cannot be read back: never run, moved aside by the worker."""


class TaskNotFoundError(UsageError):
    """No task with this ID in any state."""


class TaskStateError(TmuxorchError):
    """The task exists but is in a state where the operation makes no sense."""
