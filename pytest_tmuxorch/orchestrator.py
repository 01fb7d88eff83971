"""The facade: one isolated tmux server with a master window and a window of worker panes.

This is what the console script and the pytest fixtures use; it holds no logic of its own beyond
tying the small modules together and turning tmux's errors into messages a user can act on.
"""

from __future__ import annotations

import os

from . import layout
from ._log import get_logger
from .errors import ServerNotFoundError, SessionNotFoundError, TmuxError, UsageError
from .serverlock import ServerLock
from .settings import Settings, from_env
from .tmux import Tmux

# The console script imports this module for every command: what only some methods need is
# imported in them (panes, inputs, barriers, logs), and typing only by type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType
    from typing import Any

    import libtmux

    from .layout import PaneStatus
    from .loops import PaneQueue
    from .panes import Pane
    from .parties import BarrierStatus
    from .transport import Transport

log = get_logger("pytest_tmuxorch")


class Orchestrator:
    """An isolated tmux server, its ``master`` window and its ``workers`` panes.

    ``Orchestrator()`` reads the environment (``WORKERS``, ``TMUX_SESSION``...); keyword arguments override single settings,
    ``Orchestrator(settings)`` takes a ready :class:`Settings`.  Nothing runs until :meth:`init`.
    """

    def __init__(
        self, settings: Settings | None = None, *, transport: Transport | str | None = None, **overrides: Any
    ) -> None:
        if isinstance(transport, str):  # a transport's name is a setting; an object is used as it is
            overrides["transport"], transport = transport, None
        if settings is None:
            settings = from_env(**overrides)
        elif overrides:
            settings = settings.replace(**overrides)
        self.settings = settings
        self.tmux = Tmux(settings, transport)
        self._tasks: PaneQueue | None = None

    def __repr__(self) -> str:
        return f"Orchestrator(session={self.settings.session!r}, socket={self.address!r})"

    @property
    def libtmux(self) -> libtmux.Server:
        """A :class:`libtmux.Server` bound to this orchestrator's private server (same socket and
        config): libtmux's whole object model, isolated like everything else here."""
        return self.tmux.libtmux

    @property
    def address(self) -> str:
        """The server's socket: its ``-L`` name or ``-S`` path."""
        return self.settings.socket_path or self.settings.socket

    # --- session -------------------------------------------------------------------------------

    def exists(self) -> bool:
        """True when the session is running on the private server."""
        return layout.session_exists(self.tmux, self.settings)

    def init(self, workers: int | None = None, wait: bool = True) -> bool:
        """Create the session with master + ``workers`` panes (default: settings) unless it exists.

        Returns True if it was created.  With ``wait`` (default), returns once every shell is ready.
        """
        count = self.settings.workers if workers is None else workers
        if self.exists():
            log.debug("session %s already exists on %s", self.settings.session, self.address)
            return False
        self.tmux.check_socket_path()
        try:
            self.tmux.chain(layout.create_commands(self.settings, count))
        except TmuxError as err:  # a concurrent init won: the session is there, as asked
            if "duplicate session" not in str(err):
                raise
            created = False
        else:
            created = True
            log.debug("created session %s with %d workers on %s", self.settings.session, count, self.address)
        if wait:
            self.wait_ready()
        return created

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every pane's shell is ready to read what is typed (keys typed earlier are lost)."""
        from .inputs import wait_panes_ready

        wait_panes_ready(self.tmux, [status.pane_id for status in self.status()], timeout)

    def kill(self) -> bool:
        """Kill the session, and the private server with it when no other session is left on it;
        False if it was not running.  One tmux call, then a wait for the server to exit.

        Worker loops are stopped first: the tasks they run are ended and go back to ``queue/``."""
        if not os.path.exists(self.tmux.socket_file):
            return False
        if (self.settings.tasks_root / "workers").is_dir():
            self.tasks.shutdown()
        # Under the server lock until our control client has gone too: it was attached to the
        # session, and tmux tells every control client when it goes (see serverlock.py).
        with ServerLock.of(self.tmux.socket_file):
            try:
                pid, sessions, _ = self.tmux.chain([
                    ["display-message", "-p", "#{pid}"], ["list-sessions", "-F", "#{session_name}"],
                    ["kill-session", "-t", layout.session_target(self.settings)],
                ])
            except (ServerNotFoundError, SessionNotFoundError):
                return False
            self.tmux.transport.close()
        if sessions == [self.settings.session]:  # it was the last: the server exits (exit-empty on)
            self.tmux.wait_gone(int(pid[0]))
            self.tmux.remove_socket(gone=True)
        log.debug("killed session %s on %s", self.settings.session, self.address)
        return True

    def close(self) -> None:
        """Release the connection to the server (the server keeps running)."""
        self.tmux.close()

    def __enter__(self) -> Orchestrator:
        self.init()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self.kill()
        finally:
            self.close()

    # --- panes ---------------------------------------------------------------------------------

    def status(self) -> list[PaneStatus]:
        """Every pane: window, index, id, pid, command, dead/exit status, size."""
        with self._session_errors():
            return layout.pane_statuses(self.tmux, self.settings)

    def _pane(self, status: PaneStatus) -> Pane:
        label = status.window if status.worker is None else f"worker {status.worker}"
        from .panes import Pane

        return Pane(self.tmux, status.pane_id, label)

    @property
    def master(self) -> Pane:
        """The first pane of the master window."""
        return self._pane(next(s for s in self.status() if s.window == self.settings.master_window))

    @property
    def workers(self) -> list[Pane]:
        """The worker panes, in order (index 0 first)."""
        return [self._pane(status) for status in self.status() if status.worker is not None]

    def worker(self, index: int) -> Pane:
        """Worker pane ``index``: 0-based, whatever ``pane-base-index`` is."""
        workers = self.workers
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(workers):
            raise UsageError(
                f"invalid worker index {index!r}: the session has {len(workers)} workers (0-{len(workers) - 1})"
            )
        return workers[index]

    def run_all(self, command: str) -> None:
        """Type ``command`` into every worker pane (never the master), in one atomic tmux call."""
        self._type_into(self.workers, command)

    def run_one(self, index: int, command: str) -> None:
        """Type ``command`` into worker ``index`` (0-based) only."""
        self._type_into([self.worker(index)], command)

    def run_master(self, command: str) -> None:
        """Type ``command`` into the master window's first pane."""
        self._type_into([self.master], command)

    def _type_into(self, panes: list[Pane], command: str) -> None:
        from .inputs import deliver
        from .keys import paste_commands

        deliver(self.tmux, [pane.id for pane in panes], lambda pane_id: paste_commands(pane_id, command),
                kind="line", lines=command.count("\n") + 1)

    def set_layout(self, name: str) -> None:
        """Arrange the worker panes: ``tiled``, ``even-horizontal`` or ``even-vertical``."""
        with self._session_errors():
            layout.select_layout(self.tmux, self.settings, name)

    def resize(self, columns: int, rows: int) -> None:
        """Make both windows ``columns`` x ``rows`` while programs run in them (they get SIGWINCH);
        the workers keep their shares of the window.  ``settings.size`` stays the size at creation."""
        from .geometry import resize_session

        with self._session_errors():
            resize_session(self.tmux, self.settings, columns, rows)

    # --- capture and logs ----------------------------------------------------------------------

    def capture(self, directory: str | os.PathLike[str] | None = None) -> list[Path]:
        """Write every pane's whole scrollback to a file (default ``logs/tmux/<session>/snapshots``)."""
        from pathlib import Path

        target = Path(directory) if directory is not None else self.settings.logs_root / "snapshots"
        from . import logs

        return logs.capture(self.tmux, self.status(), target)

    def logs_on(self) -> list[Path]:
        """Log every pane, each line UTC-timestamped, into ``logs/tmux/<session>/pipes``."""
        from . import logs

        return logs.logs_on(self.tmux, self.status(), self.settings.logs_root / "pipes")

    def logs_off(self) -> int:
        """Stop pane logging; returns how many pipes were closed (0 when none ran)."""
        from . import logs

        return logs.logs_off(self.tmux, self.status())

    # --- barriers ------------------------------------------------------------------------------

    def barrier_signal(self, name: str) -> None:
        """Signal barrier ``name`` (tmux ``wait-for -S``)."""
        with self._server_errors():
            from . import barrier

            barrier.signal(self.tmux, name)

    def barrier_wait(self, name: str, timeout: float | None = None, *, parties: int | None = None) -> None:
        """Wait for barrier ``name``; raises a ``TimeoutError`` subclass after ``timeout`` seconds.

        Without ``parties``: until it is signalled (tmux ``wait-for``).  With ``parties``: until that
        many parties have arrived, as :meth:`barrier`."""
        if parties is not None:
            self.barrier(name, parties, timeout)
            return
        with self._server_errors():
            from . import barrier

            barrier.wait(self.tmux, name, timeout)

    def barrier(self, name: str, parties: int, timeout: float | None = None) -> int:
        """Meet at the N-party barrier ``name``: nobody passes until ``parties`` parties (threads,
        processes, panes) have arrived, then all pass, and the next round begins.  Returns this
        party's arrival index (``parties - 1`` for the last).  After ``timeout`` seconds, leaves the
        round (the others keep waiting) and raises a ``TimeoutError`` subclass."""
        from . import parties as party_barrier

        with self._server_errors():
            return party_barrier.meet(self.tmux, name, parties, timeout)

    def barrier_status(self, name: str) -> BarrierStatus:
        """Who waits at barrier ``name``: the N-party round, and the pids waiting for its signal."""
        from . import parties as party_barrier

        with self._server_errors():
            return party_barrier.status(self.tmux, name)

    # --- attach --------------------------------------------------------------------------------

    def attach_argv(self, socket_path: str | None = None) -> list[str]:
        """The command that attaches a terminal to this session (for people and for logs);
        ``socket_path``: where the server's socket was moved to (a kept server)."""
        base = self.tmux.base_argv()
        if socket_path:
            base = [base[0], "-S", socket_path, *base[3:]]
        return [*base, "attach-session", "-t", layout.session_target(self.settings)]

    def attach(self) -> None:
        """Attach this terminal (replaces the process), or switch the client when already inside
        this same server."""
        with self._session_errors():
            self.tmux.run("has-session", "-t", layout.session_target(self.settings))
        inside = os.environ.get("TMUX", "").split(",")[0]
        if inside and os.path.abspath(inside) == os.path.abspath(self.tmux.socket_file):
            self.tmux.run("switch-client", *self._own_client(), "-t", layout.session_target(self.settings))
            return
        env = {key: value for key, value in os.environ.items() if key != "TMUX"}
        os.execvpe("tmux", self.attach_argv(), env)

    def _own_client(self) -> list[str]:
        """``-c NAME`` for the terminal client showing the pane we run in.  Control-mode clients
        (ours among them) are attached too, so tmux's own choice of "current client" may be wrong."""
        pane = os.environ.get("TMUX_PANE", "")
        if not pane:
            return []
        session = self.tmux.run("display-message", "-p", "-t", pane, "#{session_id}")
        fields = "#{client_activity} #{client_control_mode} #{session_id} #{client_name}"
        clients = [line.split(" ", 3) for line in self.tmux.run("list-clients", "-F", fields)]
        mine = sorted((int(activity), name) for activity, control, sid, name in clients
                      if control == "0" and [sid] == session)
        return ["-c", mine[-1][1]] if mine else []

    # --- task queue ----------------------------------------------------------------------------

    @property
    def tasks(self) -> PaneQueue:
        """The task queue of this session, whose worker loops run in the worker panes."""
        if self._tasks is None:
            from .loops import PaneQueue

            self._tasks = PaneQueue(self.settings.tasks_root, self.tmux, lambda: self.workers)
        return self._tasks

    # --- errors --------------------------------------------------------------------------------

    def _session_errors(self) -> _Explained:
        """A context that says what to do when the server or the session is not there."""
        return _Explained(self, session=True)

    def _server_errors(self) -> _Explained:
        return _Explained(self, session=False)


class _Explained:
    """Turns tmux's "no server" and "no session" errors into messages a user can act on (a class,
    not contextlib, which the console script's start-up cannot afford)."""

    def __init__(self, orch: Orchestrator, session: bool) -> None:
        self.orch, self.session = orch, session

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        address = self.orch.address
        if isinstance(error, ServerNotFoundError):
            raise ServerNotFoundError(f"no tmux server on socket {address!r} (run 'tmuxorch init')") from None
        if self.session and isinstance(error, SessionNotFoundError):
            raise SessionNotFoundError(
                f"no session {self.orch.settings.session!r} on tmux socket {address!r} (run 'tmuxorch init')") from None
