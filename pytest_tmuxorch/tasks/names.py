"""Names of queued task files: they sort in claim order, so picking the next task reads no file.

A task in ``queue/`` is named ``<KEY>~<ID>``: the key is its priority (inverted, fixed width:
higher sorts first), a dot, and the UTC time it was enqueued to the microsecond::

    queue/1000000.20260124-101500.123456~build        priority 0
    queue/0999990.20260124-101502.000001~hotfix       priority 10: sorts (and runs) first

so a plain ``sorted(os.listdir("queue"))`` is the claim order: higher priority first, first in
first out within a priority, whatever the IDs.  A task put back (stopped, requeued, retried)
gets its old key again: it keeps its place in the line.  Every other state names its files by
ID alone.  A file in ``queue/`` without ``~`` (written there by hand) runs at priority 0 after
the enqueued ones.  IDs never contain ``~``, so the ID is what follows the first one.
"""

from __future__ import annotations

import time

from .store import Task
from .text import PRIORITY_LIMIT

SEP = "~"
_PLAIN = f"{PRIORITY_LIMIT + 1:07d}.{SEP}"  # where names without a key sort: priority 0, after the keyed ones


def stamp(created: float | None) -> str:
    """``YYYYMMDD-HHMMSS.ffffff`` (UTC) of ``created``; the same float always gives the same text."""
    if created is None:
        return ""
    micros = int(created * 1_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(seconds))}.{fraction:06d}"


def queued_name(task: Task) -> str:
    """The name of ``task``'s file in ``queue/``."""
    return f"{PRIORITY_LIMIT + 1 - task.priority:07d}.{stamp(task.created)}{SEP}{task.id}"


def id_of(name: str) -> str:
    """The task ID a file name in any state stands for."""
    return name.partition(SEP)[2] if SEP in name else name


def claim_order(name: str) -> str:
    """Sort key of a name in ``queue/`` (the name itself, for names written by :func:`queued_name`)."""
    return name if SEP in name else _PLAIN + name
