"""Pane helpers against real shells: literal typing, keys, capture, wait_for, run."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import wait_until

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch.errors import TmuxorchError, UsageError, WaitTimeoutError
from pytest_tmuxorch.panes import Pane

TRICKY = [
    "echo 'literal; text'",
    "a trailing semicolon;",
    "back\\slash then semicolon\\;",
    "$HOME and ${PATH} and $(date) and `id`",
    "-n starts with a dash",
    "--",
    "C-c",
    "Enter",
    "tab\tseparated\tfields",
    "unicode: héllo ✓ 日本語 🚀",
    "\"double\" and 'single' quotes",
    "#{pane_id} #S no format expansion",
    "~ and ~root stay",
    "   leading and trailing spaces   ",
    "!! history !$ bang",
]


def wait_file(path: Path, timeout: float = 10) -> str:
    """Wait until ``path`` exists and ends with a newline; return its text."""
    def written() -> str | None:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return text if text.endswith("\n") else None

    return wait_until(written, timeout, what=f"{path} to be written", interval=0.005)


@pytest.mark.parametrize("text", TRICKY)
def test_send_delivers_text_byte_for_byte(orch: Orchestrator, tmp_path: Path, text: str) -> None:
    target = tmp_path / "received"
    pane = orch.worker(0)
    pane.send(f"printf 'rea''dy\\n'; IFS= read -r line && printf '%s\\n' \"$line\" > {target}")
    pane.wait_for(re.compile(r"^ready$", re.M), timeout=5)  # read runs next: typing now reaches it, not bash
    pane.send(text)
    assert wait_file(target) == text + "\n"


def test_send_into_a_clean_sh_shell(settings: Settings, tmp_path: Path) -> None:
    with Orchestrator(settings.replace(shell="sh", workers=1)) as orch:
        target = tmp_path / "out"
        orch.worker(0).send(f"printf '%s\\n' 'a;' \"$((6*7))\" > {target}")
        assert wait_file(target) == "a;\n42\n"


def test_send_without_enter_then_enter_key(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.send("echo typed-but-not-run", enter=False)
    pane.wait_for("typed-but-not-run")
    assert "\ntyped-but-not-run" not in pane.capture()
    pane.send_keys("Enter")
    pane.wait_for(re.compile(r"^typed-but-not-run$", re.MULTILINE))


def test_send_keys_c_c_interrupts(orch: Orchestrator) -> None:
    pane = orch.worker(1)
    pane.send("sleep 300; echo never")
    pane.send_keys("C-c")
    result = pane.run("echo back")
    assert result.output == "back\n"
    assert not re.search(r"^never$", pane.capture(), re.M)


def test_send_keys_needs_a_key(orch: Orchestrator) -> None:
    with pytest.raises(UsageError):
        orch.worker(0).send_keys()


def test_run_returns_status_and_output(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    assert pane.run("echo hi; false") == pane.run("echo hi; false")
    result = pane.run("echo hi; false")
    assert (result.exit_code, result.output, result.ok) == (1, "hi\n", False)
    assert pane.run("printf 'a\\nb'").output == "a\nb"
    assert pane.run("true").output == ""
    assert pane.run("ls /nonexistent-dir-txo").exit_code == 2
    assert pane.run("(exit 7)").exit_code == 7


def test_run_is_not_fooled_by_the_echoed_command(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    # The typed line contains quotes, ';', '&' and text that looks like output.
    result = pane.run("echo 'E:0'; (sleep 0.2 & wait); echo \"done; $((1+1))\"")
    assert result.exit_code == 0
    assert result.output == "E:0\ndone; 2\n"


def test_run_collects_output_longer_than_the_screen(orch: Orchestrator) -> None:
    result = orch.worker(1).run("seq 1 500")
    assert result.output == "".join(f"{n}\n" for n in range(1, 501))


def test_run_times_out_with_the_screen(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    with pytest.raises(TimeoutError) as caught:
        pane.run("echo started-sleeping; sleep 30", timeout=0.5)
    assert isinstance(caught.value, WaitTimeoutError)
    assert "started-sleeping" in str(caught.value)
    pane.send_keys("C-c")


def test_wait_for_string_and_regex(orch: Orchestrator) -> None:
    pane = orch.worker(1)
    pane.send("sleep 0.2; echo '12 passed in 0.1s'")
    assert pane.wait_for(re.compile(r"\d+ passed"), timeout=5) == "12 passed"
    assert pane.wait_for("passed in", timeout=1) == "passed in"


def test_wait_for_sees_output_that_came_in_many_pieces_as_one_text(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.send("seq 1 20000; echo end")
    # Lines from the first piece and the last, and a match across the pieces in between.
    assert pane.wait_for(re.compile(r"^19999\n20000\nend$", re.M), timeout=30) == "19999\n20000\nend"
    text = pane.wait_for(re.compile(r"\A1\n2\n(?:\d+\n)+20000\n"), timeout=1)
    assert text == "".join(f"{n}\n" for n in range(1, 20001))


def test_wait_for_timeout_is_a_timeout_error_showing_the_screen(orch: Orchestrator) -> None:
    pane = orch.worker(1)
    pane.run("echo visible-marker")
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        pane.wait_for("never-printed", timeout=0.3)
    assert time.monotonic() - started < 3
    assert "visible-marker" in caught.value.screen
    assert "'never-printed' did not appear within 0.3s" in str(caught.value)


def test_capture_screen_and_history(orch: Orchestrator) -> None:
    pane = orch.worker(0)
    pane.run("seq 1 2000")
    screen = pane.capture()
    history = pane.capture(history=True)
    assert "\n1\n" in history and "\n2000\n" in history
    assert "\n1\n" not in screen and "2000" in screen


def test_run_one_does_not_leak_with_synchronize_panes_on(orch: Orchestrator) -> None:
    workers = orch.settings.workers_window
    orch.tmux.run("set-option", "-w", "-t", f"={orch.settings.session}:={workers}", "synchronize-panes", "on")
    orch.run_one(0, "echo only-zero")
    orch.worker(0).wait_for(re.compile(r"^only-zero$", re.M))
    orch.worker(0).send_keys("C-l")  # keys too go to one pane only
    assert orch.worker(0).run("echo after").output == "after\n"
    assert "only-zero" not in orch.worker(1).capture()
    assert "after" not in orch.worker(1).capture()
    # the user's setting is left as it was
    assert orch.tmux.run("show-options", "-wv", "-t", f"={orch.settings.session}:={workers}", "synchronize-panes") == ["on"]


def test_run_all_reaches_every_worker_and_not_the_master(orch: Orchestrator) -> None:
    orch.run_all("echo to-all-$((40+2))")
    for pane in orch.workers:
        pane.wait_for(re.compile(r"^to-all-42$", re.M))
    orch.run_master("echo master-here")
    orch.master.wait_for(re.compile(r"^master-here$", re.M))
    assert "to-all" not in orch.master.capture()
    assert all("master-here" not in pane.capture() for pane in orch.workers)


def test_worker_index_is_zero_based_and_checked(orch: Orchestrator) -> None:
    assert [pane.label for pane in orch.workers] == ["worker 0", "worker 1"]
    assert orch.worker(0).id == orch.status()[1].pane_id
    for bad in (-1, 2, True):
        with pytest.raises(UsageError, match="the session has 2 workers"):
            orch.worker(bad)


def test_pane_ids_are_checked(orch: Orchestrator) -> None:
    with pytest.raises(UsageError):
        Pane(orch.tmux, "0")


def test_exited_shell_stays_visible_with_its_status(orch: Orchestrator) -> None:
    pane = orch.worker(1)
    pane.send("exit 3")
    # dead shows on EOF, the status once reaped
    wait_until(lambda: orch.status()[2].exit_status is not None, what="the pane's exit status")
    assert orch.status()[2].dead and orch.status()[2].exit_status == 3
    with pytest.raises(TmuxorchError):
        pane.wait_ready(timeout=1)


def test_input_to_a_pane_that_was_killed_fails_with_tmux_s_reason(orch: Orchestrator) -> None:
    """Over a control connection the input is only written when send() returns; tmux's answer
    (here: no such pane) is read by the next call on the pane, which raises it, once."""
    pane = orch.worker(1)
    assert pane.run("echo before").output == "before\n"
    orch.tmux.run("kill-pane", "-t", pane.id)
    with pytest.raises(TmuxorchError, match="can't find pane"):
        pane.send("echo after")
        pane.wait_for("after", timeout=5)
    with pytest.raises(TmuxorchError, match="can't find pane"):  # still gone: told again, not hung
        pane.send("echo again")
        pane.wait_for("again", timeout=5)
    assert orch.worker(0).run("echo still-fine").output == "still-fine\n"
