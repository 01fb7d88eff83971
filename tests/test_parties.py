"""N-party barriers: nobody passes until N parties arrived, then all do; timeouts and crashes leave
nothing behind for the next round.  Parties as threads, as processes and as panes."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, run_cli, wait_until

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch.errors import BarrierStateError, ServerNotFoundError, TmuxTimeoutError, UsageError


class Party(threading.Thread):
    """One party in a thread: ``outcome`` is its arrival index, or the exception it got."""

    def __init__(self, orch: Orchestrator, name: str, parties: int, timeout: float = 30) -> None:
        super().__init__(daemon=True)
        self.args_ = (orch, name, parties, timeout)
        self.outcome: list[object] = []
        self.start()

    def run(self) -> None:
        orch, name, parties, timeout = self.args_
        try:
            self.outcome.append(orch.barrier(name, parties, timeout=timeout))
        except Exception as err:
            self.outcome.append(err)


def waiting(orch: Orchestrator, name: str) -> int:
    return len(orch.barrier_status(name).waiting)


def wait_waiting(orch: Orchestrator, name: str, count: int) -> None:
    wait_until(lambda: waiting(orch, name) == count, timeout=20, what=f"{count} parties waiting at {name!r}")


def cli_party(name: str, parties: int, env: dict[str, str], timeout: float = 30) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_tmuxorch", "barrier-wait", name, "--parties", str(parties),
         "--timeout", str(timeout)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running at the end are killed (by their pid)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.parametrize("parties", [3, 5])
def test_threads_meet_round_after_round(orch: Orchestrator, parties: int) -> None:
    for round_ in range(2):
        early = [Party(orch, "meet", parties) for _ in range(parties - 1)]
        wait_waiting(orch, "meet", parties - 1)
        assert all(party.is_alive() and not party.outcome for party in early), "nobody passes before the last"
        status = orch.barrier_status("meet")
        assert (status.released, status.parties) == (round_, parties)
        assert all(party.alive and party.pid == os.getpid() for party in status.waiting)
        last = orch.barrier("meet", parties, timeout=20)
        for party in early:
            party.join(20)
        assert sorted([last, *(party.outcome[0] for party in early)]) == list(range(parties))  # type: ignore[type-var]
        assert last == parties - 1
        status = orch.barrier_status("meet")
        assert (status.released, status.parties, status.waiting) == (round_ + 1, 0, ())


def test_five_processes_meet(orch: Orchestrator, cli_env: dict[str, str],
                             processes: list[subprocess.Popen[str]]) -> None:
    processes += [cli_party("five", 5, cli_env) for _ in range(4)]
    wait_until(lambda: len(json.loads(run_cli("barrier-status", "five", "--json", env=cli_env).stdout)["waiting"]) == 4,
               timeout=20, what="4 processes waiting")
    assert all(process.poll() is None for process in processes), "nobody passes before the fifth"
    shown = json.loads(run_cli("barrier-status", "five", "--json", env=cli_env).stdout)
    assert shown["parties"] == 5 and shown["released"] == 0
    assert sorted(party["pid"] for party in shown["waiting"]) == sorted(process.pid for process in processes)
    table = run_cli("barrier-status", "five", env=cli_env).stdout
    assert "barrier 'five': round 1, 4 of 5 parties waiting (0 released before)" in table
    assert all(re.search(rf"^[0-9a-f]{{8}}\s+{process.pid}\s+-\s+[\d.]+s\s+waiting$", table, re.M)
               for process in processes), table

    last = run_cli("barrier-wait", "five", "--parties", "5", "--timeout", "20", env=cli_env)
    assert (last.returncode, last.stdout, last.stderr) == (0, "", "")
    for process in processes:
        assert process.communicate(timeout=20) == ("", "") and process.returncode == 0
    assert "round 2, nobody waiting (1 released before)" in run_cli("barrier-status", "five", env=cli_env).stdout


def test_three_panes_meet(orch: Orchestrator, settings: Settings) -> None:
    env = f"TMUXORCH_SOCKET_PATH={shlex.quote(settings.socket_path or '')}"
    command = f"{env} {shlex.quote(sys.executable)} -m pytest_tmuxorch barrier-wait panes --parties 3 --timeout 30; echo \"passed $?\""
    panes = [orch.master, *orch.workers]
    for pane in panes[:2]:
        pane.send(command)
    wait_waiting(orch, "panes", 2)
    assert {party.pane for party in orch.barrier_status("panes").waiting} == {panes[0].id, panes[1].id}
    panes[2].send(command)
    for pane in panes:
        pane.wait_for("passed 0", timeout=20)


def test_timed_out_party_leaves_a_clean_next_round(orch: Orchestrator, cli_env: dict[str, str]) -> None:
    with pytest.raises(TimeoutError, match=r"barrier 'late': 1 of 2 parties arrived within 0\.3s; this one gave up"):
        orch.barrier("late", 2, timeout=0.3)
    done = run_cli("barrier-wait", "late", "--parties", "2", "--timeout", "0.3", env=cli_env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done
    assert "tmuxorch: barrier 'late': 1 of 2 parties arrived within 0.3s" in done.stderr
    status = orch.barrier_status("late")
    assert (status.released, status.parties, status.waiting) == (0, 0, ())
    # Nothing stale is counted: a lone party of the next round still waits for a real second one,
    # and the round may choose another size.
    first = Party(orch, "late", 3)
    wait_waiting(orch, "late", 1)
    second = Party(orch, "late", 3)
    wait_waiting(orch, "late", 2)
    assert first.is_alive() and second.is_alive() and not first.outcome + second.outcome
    assert orch.barrier("late", 3, timeout=20) == 2
    first.join(20)
    second.join(20)
    assert sorted(first.outcome + second.outcome) == [0, 1]  # type: ignore[type-var]


def test_a_timeout_among_waiters_does_not_release_or_break_them(orch: Orchestrator) -> None:
    patient = Party(orch, "mixed", 3)
    wait_waiting(orch, "mixed", 1)
    with pytest.raises(TmuxTimeoutError, match="2 of 3 parties arrived"):
        orch.barrier("mixed", 3, timeout=0.3)
    assert patient.is_alive() and not patient.outcome and waiting(orch, "mixed") == 1
    other = Party(orch, "mixed", 3)
    wait_waiting(orch, "mixed", 2)
    assert orch.barrier("mixed", 3, timeout=20) == 2
    patient.join(20)
    other.join(20)
    assert sorted(patient.outcome + other.outcome) == [0, 1]  # type: ignore[type-var]


def channel_clients(socket_path: str, name: str) -> list[int]:
    """tmux clients waiting on a channel of barrier ``name`` of this server."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if socket_path.encode() in argv and any(arg.startswith(f"tmuxorch-party-{name}-".encode()) for arg in argv):
            found.append(int(pid))
    return found


def test_a_killed_party_is_not_counted_and_its_client_is_released(
        orch: Orchestrator, settings: Settings, cli_env: dict[str, str], processes: list[subprocess.Popen[str]]) -> None:
    crashed = cli_party("crash", 2, cli_env, timeout=60)
    processes.append(crashed)
    wait_waiting(orch, "crash", 1)
    wait_until(lambda: channel_clients(settings.socket_path or "", "crash"), timeout=10, what="its wait-for client")
    crashed.kill()  # SIGKILL: no chance to leave the round
    crashed.communicate(timeout=10)
    (gone,) = orch.barrier_status("crash").waiting
    assert gone.pid == crashed.pid and not gone.alive
    assert "gone (not counted)" in run_cli("barrier-status", "crash", env=cli_env).stdout
    assert channel_clients(settings.socket_path or "", "crash"), "its orphaned client waits for the next transaction"
    with pytest.raises(TmuxTimeoutError, match="1 of 2 parties"):
        orch.barrier("crash", 2, timeout=0.3)  # the dead party does not count
    assert orch.barrier_status("crash").waiting == ()
    wait_until(lambda: not channel_clients(settings.socket_path or "", "crash"), timeout=10, what="the orphaned client to exit")
    other = Party(orch, "crash", 2)
    assert orch.barrier("crash", 2, timeout=20) in (0, 1)
    other.join(20)
    assert other.outcome and not isinstance(other.outcome[0], Exception)


def test_ctrl_c_in_a_pane_leaves_the_round(orch: Orchestrator, settings: Settings) -> None:
    pane = orch.worker(0)
    env = f"TMUXORCH_SOCKET_PATH={shlex.quote(settings.socket_path or '')}"
    pane.send(f"{env} {shlex.quote(sys.executable)} -m pytest_tmuxorch barrier-wait cc --parties 2 --timeout 60")
    wait_waiting(orch, "cc", 1)
    assert pane.interrupt(timeout=20) == 130
    assert "tmuxorch: interrupted" in pane.capture() and "Traceback" not in pane.capture(history=True)
    assert orch.barrier_status("cc").waiting == ()
    assert not channel_clients(settings.socket_path or "", "cc")


def test_rounds_are_distinct_under_load(orch: Orchestrator) -> None:
    """Two parties go round and round: each round releases exactly the two of it."""
    results: list[int] = []

    def loop() -> None:
        for _ in range(20):
            results.append(orch.barrier("loop", 2, timeout=20))

    other = threading.Thread(target=loop, daemon=True)
    other.start()
    loop()
    other.join(20)
    assert sorted(results) == [0] * 20 + [1] * 20
    assert orch.barrier_status("loop").released == 20


def test_parties_must_agree_and_names_are_separate(orch: Orchestrator) -> None:
    waiter = Party(orch, "size", 3)
    wait_waiting(orch, "size", 1)
    with pytest.raises(UsageError, match="barrier 'size': its round 1 waits for 3 parties, not 2"):
        orch.barrier("size", 2, timeout=5)
    signal_waiter = threading.Thread(target=orch.barrier_wait, args=("size",), kwargs={"timeout": 20}, daemon=True)
    signal_waiter.start()
    wait_until(lambda: orch.barrier_status("size").signal_waiters == (os.getpid(),), timeout=10,
               what="the signal waiter to register")
    orch.barrier_signal("size")  # the signal barrier of the same name is another thing
    signal_waiter.join(20)
    assert waiting(orch, "size") == 1 and waiter.is_alive()
    third = Party(orch, "size", 3)
    wait_waiting(orch, "size", 2)
    orch.barrier_wait("size", timeout=20, parties=3)
    third.join(20)
    waiter.join(20)
    assert orch.barrier_status("size").released == 1


def test_bad_input_python(orch: Orchestrator) -> None:
    for parties in (0, -1, 1001, 2.0, True, "3"):
        with pytest.raises(UsageError, match="invalid number of parties"):
            orch.barrier("b", parties, timeout=1)  # type: ignore[arg-type]
    for timeout in (0, -1, "1"):
        with pytest.raises(UsageError, match="invalid timeout"):
            orch.barrier("b", 2, timeout=timeout)  # type: ignore[arg-type]
    for name in ("", "a/b", "sp ace", "x" * 101, "-lead"):
        with pytest.raises(UsageError, match="invalid barrier name"):
            orch.barrier(name, 2, timeout=1)
        with pytest.raises(UsageError, match="invalid barrier name"):
            orch.barrier_status(name)
    assert orch.barrier_status("b").waiting == ()


@pytest.mark.parametrize(("args", "message"), [
    (["barrier-wait", "b", "--parties", "0"], "barrier-wait: invalid --parties '0': expected a whole number from 1 to 1000"),
    (["barrier-wait", "b", "--parties", "-2"], "barrier-wait: invalid --parties '-2'"),
    (["barrier-wait", "b", "--parties", "many"], "barrier-wait: invalid --parties 'many'"),
    (["barrier-wait", "b", "--parties", "3", "--timeout", "-1"], "barrier-wait: invalid --timeout '-1'"),
    (["barrier-wait", "a/b", "--parties", "3"], "invalid barrier name 'a/b'"),
    (["barrier-status", "sp ace"], "invalid barrier name 'sp ace'"),
    (["barrier-status"], "barrier-status: the following arguments are required: NAME"),
])
def test_bad_input_cli(orch: Orchestrator, cli_env: dict[str, str], args: list[str], message: str) -> None:
    done = run_cli(*args, env=cli_env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done
    assert "Traceback" not in done.stderr and orch.barrier_status("b").waiting == ()


def test_an_unreadable_state_is_reported(orch: Orchestrator) -> None:
    orch.tmux.run("set-option", "-s", "@tmuxorch-party-broken", "1 2 {not ours}")
    with pytest.raises(BarrierStateError, match="unreadable state"):
        orch.barrier("broken", 2, timeout=1)
    orch.tmux.run("set-option", "-s", "-u", "@tmuxorch-party-broken")
    assert orch.barrier("broken", 1, timeout=5) == 0


def test_server_killed_while_waiting(orch: Orchestrator) -> None:
    party = Party(orch, "doomed", 2)
    wait_waiting(orch, "doomed", 1)
    orch.kill()
    party.join(20)
    assert len(party.outcome) == 1 and isinstance(party.outcome[0], ServerNotFoundError)
    with pytest.raises(ServerNotFoundError, match="no tmux server on socket"):
        orch.barrier_status("doomed")
