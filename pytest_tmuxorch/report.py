"""What a failed test's report shows of an orchestrator: each pane's screen, then the log tails
of its running tasks.  Plain functions (no pytest): the plugin's report hook calls them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .orchestrator import Orchestrator

SCREEN_TAIL_LINES = 60
TASK_TAIL_LINES = 40
Section = tuple[str, str]


def failure_sections(orch: Orchestrator, title: str) -> list[Section]:
    """One report section per pane (its screen), then the log tails of the running tasks."""
    try:
        statuses = orch.status()
    except Exception as err:  # whatever broke, the real failure must still be reported
        return [(f"{title}: panes", f"could not list the panes: {err}")]
    from .panes import Pane

    sections = []
    for status in statuses:
        name = status.window if status.worker is None else f"worker {status.worker}"
        if status.worker is None and status.pane_index != orch.settings.pane_base_index:
            name += f" pane {status.pane_index}"
        try:
            screen = Pane(orch.tmux, status.pane_id).capture()
        except Exception as err:
            screen = f"could not capture the pane: {err}\n"
        state = f" [dead, exit status {status.exit_status}]" if status.dead else ""
        sections.append((f"{title}: {name} ({status.pane_id}, {status.command}){state}", tail(screen, SCREEN_TAIL_LINES)))
    return sections + task_sections(orch, title)


def task_sections(orch: Orchestrator, title: str) -> list[Section]:
    """The tail of each running task's stdout and stderr; nothing when there is no queue."""
    if not orch.settings.tasks_root.is_dir():
        return []
    try:
        queue = orch.tasks
        sections = []
        for task in queue.list("running"):
            for err, stream in ((False, "stdout"), (True, "stderr")):
                text = queue.tail(task.id, err=err)
                if text.strip():
                    sections.append((f"{title}: task {task.id} {stream}", tail(text, TASK_TAIL_LINES)))
        return sections
    except Exception as err:  # a missing or broken queue never breaks the report
        return [(f"{title}: tasks", f"could not read the task queue: {err!r}")]


def tail(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text``, runs of blank lines squeezed (a dead pane's screen is
    mostly empty)."""
    kept: list[str] = []
    blanks: list[str] = []
    for line in text.strip("\n").split("\n"):
        if not line.strip():
            blanks.append("")
            continue
        kept += blanks if len(blanks) <= 2 else [f"[... {len(blanks)} blank lines ...]"]
        blanks = []
        kept.append(line)
    cut = len(kept) - lines
    head = [f"[... {cut} lines above ...]"] if cut > 0 else []
    return "\n".join(head + kept[-lines:]) + "\n"
