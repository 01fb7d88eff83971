"""What a failed test's report shows of an orchestrator: each pane's screen (with its screenshot
and recording, when written), then the log tails of its running tasks.  Plain functions (no
pytest): the plugin's report hook calls them.

A screen is shown once: when the test failed on a :class:`~pytest_tmuxorch.errors.WaitTimeoutError`
that already shows a pane's screen, that pane's section says so instead of repeating it.  Lines
lose their trailing spaces (``capture-pane -J`` keeps the blanks a program wrote).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import WaitTimeoutError

if TYPE_CHECKING:
    from .artifacts import PaneEvidence
    from .orchestrator import Orchestrator

SCREEN_TAIL_LINES = 60
TASK_TAIL_LINES = 40
SHOWN_ABOVE = "[the screen is shown in the error above]"
Section = tuple[str, str]


def failure_sections(
    orch: Orchestrator, title: str, error: BaseException | None = None, directory: Path | None = None,
    record: bool = True, markers: list[tuple[float, str]] | None = None,
) -> tuple[list[Section], list[PaneEvidence]]:
    """One report section per pane (its screen, and the files written for it under ``directory``),
    then the log tails of the running tasks; and the panes' evidence (for pictures elsewhere).

    ``directory``: where to write each pane's SVG screenshot and, with ``record``, its ``.cast``
    (None: nothing is written).  ``error``: what failed the test (its screen is not repeated).
    """
    from .artifacts import collect, file_stem, write

    try:
        evidence = collect(orch)
    except Exception as err:  # whatever broke, the real failure must still be reported
        return [(f"{title}: panes", f"could not list the panes: {err}")], []
    if directory is not None:
        try:
            evidence = write(orch, evidence, directory, file_stem(title), cast=record, markers=markers)
        except OSError as err:
            return [(f"{title}: artifacts", f"could not write to {directory}: {err}"), *_sections(evidence, title, error)], evidence
    return _sections(evidence, title, error) + task_sections(orch, title), evidence


def _sections(evidence: list[PaneEvidence], title: str, error: BaseException | None) -> list[Section]:
    shown = _shown_in(error)
    sections = []
    for item in evidence:
        status = item.status
        text = item.screen.text if item.screen is not None else item.problem + "\n"
        body = tail(text, SCREEN_TAIL_LINES)
        if shown is not None and shown == (item.name, _clean(text)):
            body, shown = SHOWN_ABOVE + "\n", None  # once: another pane may show the same text
        files = [f"{kind}: {path}" for kind, path in (("screenshot", item.svg), ("recording", item.cast)) if path]
        if item.cast_problem and item.svg is not None:
            files.append(item.cast_problem)
        state = f" [dead, exit status {status.exit_status}]" if status.dead else ""
        heading = f"{title}: {item.name} ({status.pane_id}, {status.command}){state}"
        sections.append((heading, body + "".join(line + "\n" for line in files)))
    return sections


def _shown_in(error: BaseException | None) -> tuple[str, str] | None:
    """``(pane label, screen)`` a wait's timeout already shows in its message."""
    if not isinstance(error, WaitTimeoutError) or not error.screen:
        return None
    return str(error).partition(":")[0], _clean(error.screen)


def _clean(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


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
    """The last ``lines`` lines of ``text``, trailing spaces dropped and runs of blank lines
    squeezed (a dead pane's screen is mostly empty)."""
    kept: list[str] = []
    blanks: list[str] = []
    for line in text.strip("\n").split("\n"):
        line = line.rstrip()
        if not line:
            blanks.append("")
            continue
        kept += blanks if len(blanks) <= 2 else [f"[... {len(blanks)} blank lines ...]"]
        blanks = []
        kept.append(line)
    cut = len(kept) - lines
    head = [f"[... {cut} lines above ...]"] if cut > 0 else []
    return "\n".join(head + kept[-lines:]) + "\n"
