"""The server lock: tmux (before 3.7) crashes when it notifies every control client while one of
them is half introduced, so our processes connect, and do what notifies, one at a time."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading

from conftest import wait_until

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch.serverlock import SUFFIX, ServerLock, notifying, starting

# tmux's own message format (tmux-protocol.h, compat/imsg.h of tmux 3.3a).
PROTOCOL_VERSION = 8
IDENTIFY = dict(FLAGS=100, TERM=101, TTYNAME=102, STDIN=104, DONE=106, CLIENTPID=107, CWD=108, FEATURES=109,
                STDOUT=110)
CONTROL_CONTROL = 0x2000 | 0x4000  # -CC: tmux greets the client on its terminal once started
HAS_FD = 1

OTHER_SESSION = """
import logging, sys
from pytest_tmuxorch import Orchestrator, Settings
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format="%(name)s: %(message)s")
Orchestrator(Settings(socket_path=sys.argv[1], session="other", workers=1, transport="subprocess")).init(wait=False)
print("created")
"""


def message(kind: str, body: bytes = b"", flags: int = 0) -> bytes:
    return struct.pack("=IHHII", IDENTIFY[kind], 16 + len(body), flags, PROTOCOL_VERSION, os.getpid()) + body


def half_made_control_client(path: str) -> socket.socket:
    """What tmux has read of a connecting control client when it acts between the client's
    writes: the flags that say control mode, and nothing else yet."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    client.sendall(message("FLAGS", struct.pack("=i", CONTROL_CONTROL)))
    return client


def finish_introducing(client: socket.socket) -> None:
    """The rest of what a control client sends about itself (a half-made one that hangs up
    crashes tmux too); returns once tmux has started it, when it is no longer at risk."""
    client.sendall(message("TERM", b"\0") + message("FEATURES", struct.pack("=i", 0)) + message("TTYNAME", b"\0")
                   + message("CWD", b"/\0"))
    terminal, theirs = socket.socketpair()
    with terminal:
        try:
            for kind in ("STDIN", "STDOUT"):
                socket.send_fds(client, [message(kind, flags=HAS_FD)], [theirs.fileno()])
        finally:
            theirs.close()
        client.sendall(message("CLIENTPID", struct.pack("=i", os.getpid())) + message("DONE"))
        terminal.settimeout(10)
        assert terminal.recv(7) == b"\033P1000p"  # the greeting: tmux has made its control state


def test_no_session_is_made_while_a_control_client_of_ours_is_half_made(orch: Orchestrator, settings: Settings) -> None:
    path = settings.socket_path or ""
    lines: list[str] = []
    with ServerLock.of(path):  # as a connecting control client of ours holds it
        client = half_made_control_client(path)
        orch.tmux.run("display-message", "-p", "")  # answered: tmux has read the flags
        other = subprocess.Popen([sys.executable, "-c", OTHER_SESSION, path], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        assert other.stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(other.stderr or []), daemon=True)
        reader.start()
        wait_until(lambda: any("waiting for the server lock" in line for line in lines),
                   what="the other process waiting for the lock")
        finish_introducing(client)
        client.close()  # it leaves before attaching: tmux notifies nobody
    out, _ = other.communicate(timeout=30)
    reader.join(timeout=5)
    assert (other.returncode, out) == (0, "created\n"), lines
    assert sorted(orch.tmux.run("list-sessions", "-F", "#{session_name}")) == ["agents", "other"]


def test_the_lock_file_lives_only_beside_a_server(settings: Settings) -> None:
    path = settings.socket_path or ""
    with ServerLock.of(path):  # no server: nothing to protect, nothing made
        assert not os.path.exists(path + SUFFIX)
    lock = ServerLock.of(path)
    lock.enter(starting=True)  # about to start one: the lock is there before the server
    try:
        assert os.path.exists(path + SUFFIX)
    finally:
        lock.leave()
    assert not os.path.exists(path + SUFFIX)  # no server came: gone again


def test_the_lock_is_reentrant_within_a_thread_and_exclusive_between_processes(orch: Orchestrator, settings: Settings) -> None:
    path = settings.socket_path or ""
    lock = ServerLock.of(path)
    probe = f"import fcntl, os; fd = os.open({path + SUFFIX!r}, os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)"
    with lock:
        with lock:  # the same thread again: no deadlock
            assert subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode != 0
        assert subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode != 0  # still held
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0
    orch.kill()
    assert not os.path.exists(path + SUFFIX)  # removed with the server's socket


def test_which_commands_take_the_lock() -> None:
    assert notifying([["new-session", "-d"]]) and notifying([["display-message"], ["kill-session"]])
    assert notifying([["select-pane", "-t", "%1"]]) and notifying([["copy-mode"]])
    assert not notifying([["send-keys", "x"], ["capture-pane", "-p"], ["list-panes"], ["select-layout", "tiled"]])
    assert starting([["start-server"], ["new-session"]]) and not starting([["kill-session"]])
