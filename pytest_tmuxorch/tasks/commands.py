"""Console-script commands of the task queue (filled in by the task-queue work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cli import CommandSpec

TASK_COMMANDS: list[CommandSpec] = []
