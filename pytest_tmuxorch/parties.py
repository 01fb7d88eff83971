"""N-party barriers: nobody passes until ``parties`` have arrived, then all of them pass.

Parties may be threads, processes or ``tmuxorch barrier-wait --parties N`` in different panes:
everything they share lives in the private tmux server.

*State.*  One server user option per barrier, ``@tmuxorch-party-<name>``, holds the whole state
as one line: ``ROUND PARTIES ARRIVAL...``, each arrival being ``token:pid:start:since:pane`` (a
random token, the party's pid and its start time in clock ticks, when it arrived in ms since the
epoch, the pane it runs in or ``-``).  ``ROUND`` counts the rounds released so far.

*Changes* are optimistic transactions made atomic by the server: a party reads the state, decides
in Python, and sends one ``if-shell -F '#{==:#{@option},OLD}' 'set-option ... ; wait-for -S ...'``
chain.  tmux runs a command list without serving any other client in between, so the change
applies only if nobody changed the state since it was read; otherwise the party reads again.  No
lock is ever held across processes: tmux's ``wait-for -L`` mutex would do, but a client killed
while it holds or queues for it (a Ctrl-C) leaves the channel locked for good.

*Waking.*  Each waiting party blocks on a ``wait-for`` channel of its own,
``tmuxorch-party-<name>-<round>-<token>``.  The last party to arrive advances the round, clears
the arrivals and signals every waiter's channel, all in its one transaction.  A signal sent before
its waiter's client got there is remembered by tmux for that one channel, so no wake-up is lost;
and as channels are never shared and never reused, a signal of round k cannot release round k+1.

*Timeouts* withdraw: a party that gives up removes its arrival (a transaction, so either the round
was released first, and then it passes after all, or it leaves and the others go on waiting for a
full round), then signals its own channel to free its client: no stale registration is left.
*Crashes*: an arrival whose process is gone (pid and start time, so reused pids do not fool it) is
dropped by the next transaction, which also signals its channel so its orphaned client exits; a
dead party is never counted.  Parties must therefore run on the machine of the tmux server.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from ._proc import pid_alive, start_time, wait_until
from .barrier import ALIVE_CHECK, check_name
from .errors import BarrierStateError, ServerNotFoundError, TmuxorchError, TmuxTimeoutError, UsageError
from .tmux import Tmux
from .transport import classify_error

MAX_PARTIES = 1000
_PREFIX = "tmuxorch-party-"
T = TypeVar("T")
_STATE_RE = re.compile(r"^\d+ \d+( [0-9a-f]+:\d+:\d+:\d+:(\d+|-))*$")


class Arrival(NamedTuple):
    """One party waiting in the current round."""

    token: str
    pid: int
    start: int  # the process's start time (clock ticks since boot): pid and start name one process
    since: float  # when it arrived (seconds since the epoch)
    pane: str  # the pane it runs in (%N), or '' outside tmux

    def encode(self) -> str:
        return f"{self.token}:{self.pid}:{self.start}:{int(self.since * 1000)}:{self.pane.lstrip('%') or '-'}"

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid) and start_time(self.pid) == self.start

    def as_dict(self) -> dict[str, Any]:
        return {"token": self.token, "pid": self.pid, "pane": self.pane or None, "since": self.since,
                "alive": self.alive}


class State(NamedTuple):
    """A barrier's state as read from the server (``raw``: the option's exact value)."""

    raw: str
    round: int
    parties: int  # 0 while nobody waits: the first party of a round sets it
    arrivals: tuple[Arrival, ...]

    def encode(self) -> str:
        return " ".join([str(self.round), str(self.parties), *(arrival.encode() for arrival in self.arrivals)])


class BarrierStatus(NamedTuple):
    """Who waits at barrier ``name``: the N-party round, and the waiters of the signal barrier."""

    name: str
    released: int  # rounds released so far (the current round is released + 1)
    parties: int  # parties the current round waits for (0: nobody waits)
    waiting: tuple[Arrival, ...]  # in arrival order; a party whose process is gone has alive False
    signal_waiters: tuple[int, ...]  # pids waiting on the signal barrier of the same name

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "released": self.released, "parties": self.parties,
                "waiting": [arrival.as_dict() for arrival in self.waiting],
                "signal_waiters": list(self.signal_waiters)}


def check_parties(parties: object) -> int:
    if isinstance(parties, bool) or not isinstance(parties, int) or not 1 <= parties <= MAX_PARTIES:
        raise UsageError(f"invalid number of parties {parties!r}: expected a whole number from 1 to {MAX_PARTIES}")
    return parties


def check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise UsageError(f"invalid timeout {timeout!r}: expected a positive number of seconds")
    return float(timeout)


def option(name: str) -> str:
    return f"@{_PREFIX}{name}"


def channel(name: str, round_: int, token: str) -> str:
    return f"{_PREFIX}{name}-{round_}-{token}"


def read(tmux: Tmux, name: str) -> State:
    """The current state of barrier ``name`` (round 0, nobody waiting, if it never ran)."""
    lines = tmux.run("show-options", "-s", "-v", "-q", option(name))
    raw = lines[0] if lines else ""
    if not raw:
        return State("", 0, 0, ())
    if not _STATE_RE.match(raw):
        raise BarrierStateError(
            f"barrier {name!r}: unreadable state {raw[:80]!r} in server option {option(name)} (unset it to reset)")
    round_, parties, *fields = raw.split(" ")
    arrivals = []
    for field in fields:
        token, pid, start, since, pane = field.split(":")
        arrivals.append(Arrival(token, int(pid), int(start), int(since) / 1000, "" if pane == "-" else f"%{pane}"))
    return State(raw, int(round_), int(parties), tuple(arrivals))


def commit(tmux: Tmux, name: str, old: str, new: State, signals: list[str]) -> bool:
    """Set the state to ``new`` and signal the channels ``signals``, in one atomic chain, if the
    state is still ``old`` (the exact value read).  True if it was applied."""
    block = [f"set-option -s {option(name)} '{new.encode()}'", *(f"wait-for -S {ch}" for ch in signals),
             "display-message -p applied"]
    out = tmux.run("if-shell", "-F", f"#{{==:#{{{option(name)}}},{old}}}", " ; ".join(block),
                   "display-message -p conflict")
    return out == ["applied"]


# A change: the state as read (crashed parties already left out) -> (the new state, or None to
# leave it as it is; the channels to signal; what the transaction returns).
Change = Callable[[State], "tuple[State | None, list[str], T]"]


def transact(tmux: Tmux, name: str, change: Change[T], timeout: float, what: str) -> T:
    """Read, decide with ``change``, write if nobody wrote in between; again until it goes through."""

    def attempt() -> tuple[T] | None:
        state = read(tmux, name)
        gone = [arrival for arrival in state.arrivals if not arrival.alive]
        live = state._replace(arrivals=tuple(a for a in state.arrivals if a not in gone))
        new, signals, result = change(live)
        if gone:  # never counted; their orphaned wait-for clients are released
            new = new or live._replace(parties=live.parties if live.arrivals else 0)
            signals = [*signals, *(channel(name, state.round, arrival.token) for arrival in gone)]
        if new is None or commit(tmux, name, state.raw, new, signals):
            return (result,)
        return None  # somebody else changed it first: read again

    def expired() -> Exception:
        return TmuxTimeoutError(f"barrier {name!r}: could not {what} within {timeout:g}s (the state kept changing)")

    return wait_until(attempt, timeout, expired, lambda remaining, n: time.sleep(min(0.0005 * (n + 1), remaining)))[0]


def meet(tmux: Tmux, name: str, parties: int, timeout: float | None = None) -> int:
    """Wait until ``parties`` parties (this one included) have arrived at barrier ``name``; then
    all pass.  Returns this party's arrival index (0 first; ``parties - 1``: the one that released
    the round).  Raises :class:`TmuxTimeoutError` after ``timeout`` seconds, having left the round."""
    check_name(name)
    check_parties(parties)
    return _Party(tmux, name, parties, tmux.timeout if timeout is None else check_timeout(timeout)).meet()


class _Party:
    """One call of :func:`meet`: arrive, block on our own channel, and leave the round on a
    timeout or on anything else (a Ctrl-C), even one that struck while we were arriving."""

    def __init__(self, tmux: Tmux, name: str, parties: int, timeout: float) -> None:
        self.tmux, self.name, self.parties, self.timeout = tmux, name, parties, timeout
        self.deadline = time.monotonic() + timeout
        pid = os.getpid()
        self.me = Arrival(os.urandom(4).hex(), pid, start_time(pid) or 0, time.time(), _own_pane(tmux))
        self.channel = ""  # ours, once we have arrived
        self.waiter: subprocess.Popen[bytes] | None = None

    def meet(self) -> int:
        settled = False
        try:
            round_, index, released = transact(self.tmux, self.name, self._arrive, self.timeout, "arrive")
            if not released:
                self.channel = channel(self.name, round_, self.me.token)
                self._wait(round_)
            settled = True
            return index
        finally:
            if not settled:
                self._leave_quietly()

    def _arrive(self, state: State) -> tuple[State | None, list[str], tuple[int, int, bool]]:
        if state.arrivals and state.parties != self.parties:
            raise UsageError(f"barrier {self.name!r}: its round {state.round + 1} waits for {state.parties} parties, "
                             f"not {self.parties}")
        index = len(state.arrivals)
        if index + 1 >= self.parties:  # the last one: release everybody
            signals = [channel(self.name, state.round, arrival.token) for arrival in state.arrivals]
            return State("", state.round + 1, 0, ()), signals, (state.round, index, True)
        return state._replace(parties=self.parties, arrivals=(*state.arrivals, self.me)), [], (state.round, index, False)

    def _wait(self, round_: int) -> None:
        """Block on our channel until our round is released; leave it at the deadline."""
        while True:
            # A session of its own: a Ctrl-C in the terminal reaches only us, and we free the client.
            self.waiter = subprocess.Popen(
                [*self.tmux.base_argv(), "wait-for", self.channel, ";", *ALIVE_CHECK], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            try:
                out, err = self.waiter.communicate(timeout=max(0.0, self.deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                there = self._leave(self.timeout)
                if there is None:
                    return  # released just before we could leave: we pass after all
                raise TmuxTimeoutError(f"barrier {self.name!r}: {there} of {self.parties} parties arrived within "
                                       f"{self.timeout:g}s; this one gave up and left the round") from None
            if self.waiter.returncode != 0:
                raise classify_error(f"barrier {self.name!r}: {err.decode(errors='replace').strip()}")
            try:
                if not out.strip():  # released by kill-server
                    raise ServerNotFoundError("no server")
                state = read(self.tmux, self.name)
            except ServerNotFoundError:
                raise ServerNotFoundError(f"barrier {self.name!r}: the tmux server exited while waiting") from None
            if state.round != round_:
                return
            if all(arrival.token != self.me.token for arrival in state.arrivals):
                raise BarrierStateError(f"barrier {self.name!r}: this party was dropped from round {round_ + 1} "
                                        "(was the state reset, or does the party run on another machine?)")
            # Woken by a signal that was not ours to get (a raw 'tmux wait-for -S'): wait again.

    def _leave(self, timeout: float) -> int | None:
        """Take our arrival out (if it is there), then free our client: how many had arrived, us
        included, or None if we were not there (released already, or never arrived)."""

        def leave(state: State) -> tuple[State | None, list[str], int | None]:
            if all(arrival.token != self.me.token for arrival in state.arrivals):
                return None, [], None
            arrivals = tuple(arrival for arrival in state.arrivals if arrival.token != self.me.token)
            return state._replace(arrivals=arrivals, parties=state.parties if arrivals else 0), [], len(arrivals) + 1

        there: int | None = -1  # unknown, if the transaction fails
        try:
            there = transact(self.tmux, self.name, leave, timeout, "leave")
            return there
        finally:
            self._free(signal=there is not None)  # None: released, and so signalled already

    def _leave_quietly(self) -> None:
        with contextlib.suppress(TmuxorchError):
            self._leave(self.tmux.timeout)

    def _free(self, signal: bool) -> None:
        """Let our own ``wait-for`` client go by signalling our channel: nobody else waits on it, and
        if the client has not got there yet, tmux remembers the signal for it."""
        if not self.channel or (self.waiter is not None and self.waiter.poll() is not None):
            return
        if signal:
            with contextlib.suppress(TmuxorchError):
                self.tmux.run("wait-for", "-S", self.channel)
        if self.waiter is None:
            return
        try:
            self.waiter.communicate(timeout=self.tmux.timeout)
        except subprocess.TimeoutExpired:
            self.waiter.kill()  # a stale registration, on a channel nobody else will ever use
            self.waiter.communicate()


def _own_pane(tmux: Tmux) -> str:
    """The pane this process runs in, if it is one of this server's."""
    socket = os.environ.get("TMUX", "").split(",")[0]
    return os.environ.get("TMUX_PANE", "") if socket and os.path.abspath(socket) == str(tmux.socket_file) else ""


def status(tmux: Tmux, name: str) -> BarrierStatus:
    """Who waits at barrier ``name`` (read only: parties whose process is gone are shown so)."""
    from .barrier import waiter_pids

    check_name(name)
    state = read(tmux, name)
    return BarrierStatus(name, state.round, state.parties, state.arrivals, tuple(waiter_pids(tmux, name)))
