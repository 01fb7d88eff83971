"""The subcommands: the session commands (:mod:`.session`) and the task queue's (:mod:`.tasks`)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .args import CommandSpec


def all_commands() -> list[CommandSpec]:
    from .session import SESSION_COMMANDS
    from .tasks import TASK_COMMANDS

    return SESSION_COMMANDS + TASK_COMMANDS


def find_command(name: str) -> CommandSpec | None:
    """The subcommand called ``name``, importing only the module that holds it."""
    if name.startswith("tasks-") or name == "worker":
        from .tasks import TASK_COMMANDS as commands
    else:
        from .session import SESSION_COMMANDS as commands
    return next((spec for spec in commands if spec[0] == name), None)
