"""Barriers: waking waiters, remembering one signal, and timeouts that leave nothing stale."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import wait_until

from pytest_tmuxorch import Orchestrator
from pytest_tmuxorch.errors import ServerNotFoundError, TmuxTimeoutError, UsageError


def start_waiter(orch: Orchestrator, name: str, timeout: float) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def body() -> None:
        try:
            orch.barrier_wait(name, timeout=timeout)
            outcome.append("woken")
        except Exception as err:
            outcome.append(err)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, outcome


def registered_waiters(orch: Orchestrator, name: str) -> int:
    return sum(line.startswith(f"@tmuxorch-waiter-{name}-") for line in orch.tmux.run("show-options", "-s"))


def wait_registered(orch: Orchestrator, name: str, count: int) -> None:
    wait_until(lambda: registered_waiters(orch, name) >= count, timeout=10, what="waiters to register", interval=0.005)


def test_signal_wakes_every_waiter(orch: Orchestrator) -> None:
    waiters = [start_waiter(orch, "go", 20) for _ in range(3)]
    wait_registered(orch, "go", 3)
    orch.barrier_signal("go")
    for thread, outcome in waiters:
        thread.join(10)
        assert outcome == ["woken"]
    assert registered_waiters(orch, "go") == 0


def test_a_signal_with_nobody_waiting_is_remembered_once(orch: Orchestrator) -> None:
    orch.barrier_signal("early")
    orch.barrier_wait("early", timeout=5)
    with pytest.raises(TmuxTimeoutError):
        orch.barrier_wait("early", timeout=0.2)


def test_timeout_is_a_timeout_error_and_leaves_no_stale_waiter(orch: Orchestrator) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"barrier 'late' was not signalled within 0\.2s"):
        orch.barrier_wait("late", timeout=0.2)
    assert time.monotonic() - started < 5
    # A raw killed waiter would swallow this signal (SPEC 6.6); ours must not.
    orch.barrier_signal("late")
    orch.barrier_wait("late", timeout=5)
    assert registered_waiters(orch, "late") == 0


def test_timeout_while_others_wait_does_not_wake_them(orch: Orchestrator) -> None:
    patient, outcome = start_waiter(orch, "shared", 20)
    wait_registered(orch, "shared", 1)
    with pytest.raises(TmuxTimeoutError):
        orch.barrier_wait("shared", timeout=0.2)
    assert patient.is_alive() and outcome == [], "the other waiter must still be waiting"
    orch.barrier_signal("shared")
    patient.join(10)
    assert outcome == ["woken"]
    # Nothing was remembered by the stale registration either: a new wait blocks.
    with pytest.raises(TmuxTimeoutError):
        orch.barrier_wait("shared", timeout=0.2)


def test_bad_names(orch: Orchestrator) -> None:
    for bad in ("", "a/b", "sp ace", "x" * 101, "-lead"):
        with pytest.raises(UsageError):
            orch.barrier_signal(bad)


def test_server_killed_while_waiting_is_an_error_not_success(orch: Orchestrator) -> None:
    thread, outcome = start_waiter(orch, "doomed", 20)
    wait_registered(orch, "doomed", 1)
    orch.kill()
    thread.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], ServerNotFoundError)


def test_no_server(settings: object) -> None:
    orch = Orchestrator(settings)  # type: ignore[arg-type]
    with pytest.raises(ServerNotFoundError, match="no tmux server on socket"):
        orch.barrier_signal("x")
