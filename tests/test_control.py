"""The control-mode transport: the protocol parser on text, then a real ``tmux -C`` client."""

from __future__ import annotations

import functools
import os
import random
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import conftest
import pytest

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch._proc import pid_alive
from pytest_tmuxorch.control import client
from pytest_tmuxorch.control.client import ControlTransport
from pytest_tmuxorch.control.protocol import (
    Block,
    ControlParser,
    Exit,
    Notification,
    Output,
    control_safe,
    format_chain,
    quote_argument,
    read_only,
    unescape_output,
)
from pytest_tmuxorch.errors import (
    ControlConnectionError,
    ServerNotFoundError,
    SessionNotFoundError,
    TmuxError,
    TmuxorchError,
    TmuxTimeoutError,
)
from pytest_tmuxorch.servers import kill_server_at, new_socket_path
from pytest_tmuxorch.tmux import Tmux
from pytest_tmuxorch.transport import SubprocessTransport

# --- the parser, on text ---------------------------------------------------------------------


def parse(text: bytes) -> list[object]:
    parser = ControlParser()
    events: list[object] = parser.feed(text)
    assert not parser.in_block
    return events


def test_blocks_with_output_errors_and_foreign_flags() -> None:
    events = parse(
        b"%begin 1795495579 268 0\n%end 1795495579 268 0\n"
        b"%session-changed $0 s1\n"
        b"%begin 1795495580 273 1\n240x72\nsecond line\n%end 1795495580 273 1\n"
        b"%begin 1795495580 274 1\n%end 1795495580 274 1\n"
        b"%begin 1795495580 275 1\ncan't find session: nosuch\n%error 1795495580 275 1\n"
    )
    assert events == [
        Block(1795495579, 268, 0, ()),
        Notification("session-changed", "$0 s1"),
        Block(1795495580, 273, 1, ("240x72", "second line")),
        Block(1795495580, 274, 1, ()),
        Block(1795495580, 275, 1, ("can't find session: nosuch",), error=True),
    ]
    assert not events[0].from_client and events[2].from_client  # type: ignore[attr-defined]


def test_lines_inside_a_block_are_output_even_when_they_look_like_protocol() -> None:
    events = parse(
        b"%begin 10 5 1\n"
        b"%end 10 4 1\n"  # another number: output
        b"%end 11 5 1\n"  # another time: output
        b"%end 10 5 0\n"  # other flags: output
        b"%output %1 not a notification\n"
        b"%begin 10 6 1\n"
        b"%exit\n"
        b"%error\n"
        b"\n"
        b"%end 10 5 1\n"
    )
    assert events == [
        Block(10, 5, 1, ("%end 10 4 1", "%end 11 5 1", "%end 10 5 0", "%output %1 not a notification",
                         "%begin 10 6 1", "%exit", "%error", ""))
    ]


def test_notifications_interleave_between_blocks() -> None:
    events = parse(
        b"%output %0 \\033[?2004hroot@vm:/tmp# \n"
        b"%begin 1 2 1\n%end 1 2 1\n"
        b"%output %12 echo hi\\015\\012\n"
        b"%layout-change @1 b25d,80x24,0,0,2 b25d,80x24,0,0,2 *\n"
        b"%window-add @3\n%sessions-changed\n%unknown-thing with args\n"
        b"%extended-output %3 17 : late\\134data\n"
        b"%pause %3\n%continue %3\n"
        b"%exit detached\n"
    )
    assert events == [
        Output("%0", b"\\033[?2004hroot@vm:/tmp# "),
        Block(1, 2, 1, ()),
        Output("%12", b"echo hi\\015\\012"),
        Notification("layout-change", "@1 b25d,80x24,0,0,2 b25d,80x24,0,0,2 *"),
        Notification("window-add", "@3"),
        Notification("sessions-changed", ""),
        Notification("unknown-thing", "with args"),
        Output("%3", b"late\\134data"),
        Notification("pause", "%3"),
        Notification("continue", "%3"),
        Exit("detached"),
    ]
    assert parse(b"%exit\n") == [Exit("")]


def test_output_octal_escapes_decode_to_bytes_then_utf8() -> None:
    assert unescape_output(b"\\033[?2004hroot\\015\\012") == b"\x1b[?2004hroot\r\n"
    assert unescape_output(b"back\\134slash \\134134") == b"back\\slash \\134"
    assert unescape_output(b"no escapes") == b"no escapes"
    assert unescape_output(b"not octal \\9 \\08 \\") == b"not octal \\9 \\08 \\"
    output = Output("%1", "h\\303\\251llo ✓ \\377".encode())
    assert output.data == "héllo ✓ ".encode() + b"\xff"
    assert output.text == "héllo ✓ \ufffd"
    # Invalid UTF-8 inside a block is replaced, not fatal.
    assert parse(b"%begin 1 1 1\n\xff\xfeok\n%end 1 1 1\n") == [Block(1, 1, 1, ("\ufffd\ufffdok",))]


def test_every_byte_escaped_as_tmux_does_decodes_back() -> None:
    data = bytes(range(256)) + "✓ é".encode() + b"\\134 \\015"
    escaped = b"".join(b"\\%03o" % byte if byte < 32 or byte == 92 else bytes((byte,)) for byte in data)
    assert unescape_output(escaped) == data
    assert unescape_output(escaped + b"\\9") == data + b"\\9"  # one stray backslash: the rest still decodes


def test_feed_accepts_chunks_split_anywhere() -> None:
    text = (b"%begin 7 8 1\nline one\n%end 7 8 1\n%output %4 a\\012b\n"
            b"%begin 7 9 1\nerr\n%error 7 9 1\n%exit server exited\n")
    whole = parse(text)
    for size in (1, 2, 3, 5, 17):
        parser = ControlParser()
        events: list[object] = []
        for start in range(0, len(text), size):
            events += parser.feed(text[start:start + size])
        assert events == whole
    assert whole[-1] == Exit("server exited")


def test_a_line_outside_a_block_without_percent_is_reported_not_fatal() -> None:
    assert parse(b"garbage\n%begin 1 1 1\n%end 1 1 1\n") == [Notification("", "garbage"), Block(1, 1, 1, ())]


# --- quoting and routing ---------------------------------------------------------------------

TRICKY = [
    "", "plain", "'", '"', "it's \"q\"", "$HOME", "${HOME}", "$(id)", "`id`", "~", "~/x", "~root",
    "a~b", "\\~", "#{session_name}", "#S", "# comment?", "a;", ";", "a ; b", ";;", "a\\;", "\\",
    "\\\\", "a\\", "\\n", "\\033", "\tx\t", "x\ry", "l1\nl2\n", "\n", "ünï €𝄞 日本語", "-", "--",
    "-x", "-t", "{", "}", "{a}", "%end", "%if", "%endif", "\x1b[31m", "\x7f", "\x01", " lead",
    "trail ", "a  b", "'$x'", "a=b", "=agents", "C-c", "Enter", "'\\''", "\"\\\"\"",
]


def test_quote_argument_keeps_plain_words_and_rejects_nul() -> None:
    assert quote_argument("capture-pane") == "capture-pane"
    assert quote_argument("%12") == "%12"
    assert quote_argument("%end") == '"%end"'  # directives are special even mid-line
    assert quote_argument("-t") == "-t"
    assert quote_argument("") == '""'
    assert quote_argument("a;") == '"a;"'
    assert quote_argument("~x") == '"\\~x"'
    assert quote_argument('$"\\') == '"\\$\\"\\\\"'
    assert quote_argument("a\nb\x01") == '"a\\nb\\001"'
    with pytest.raises(ValueError, match="null byte"):
        quote_argument("a\0b")
    assert format_chain([["set-buffer", "--", "x y"], ["show-buffer"]]) == b'set-buffer -- "x y" ; show-buffer\n'
    assert b"\n" not in format_chain([["display-message", "-p", s] for s in TRICKY])[:-1]


def test_routing_tables() -> None:
    assert control_safe([["capture-pane", "-p", "-t", "%1"], ["send-keys", "-t", "%1", "x"]])
    assert control_safe([["display-message", "-t", "%1", "-p", "#{pane_id}"]])
    assert control_safe([["wait-for", "-S", "x"]])
    assert not control_safe([["wait-for", "x"]])  # would block the connection
    assert not control_safe([["display-message", "hello"]])  # would show on the control client
    assert not control_safe([["new-session", "-s", "x"]])  # would attach the control client
    assert control_safe([["new-session", "-d", "-s", "x"]])
    assert control_safe([["display-message", "-p", "#{pid}"], ["kill-server"]])  # answered, then %exit
    assert not control_safe([["if-shell", "true", "display -p x"]])  # runs more commands
    assert not control_safe([["run-shell", "true"]]) and not control_safe([["start-server"]])
    assert not control_safe([[]])
    assert read_only([["capture-pane"], ["list-panes"], ["display-message", "-p", "x"]])
    assert not read_only([["capture-pane"], ["send-keys", "x"]])


# --- a real server ---------------------------------------------------------------------------


wait_until = functools.partial(conftest.wait_until, timeout=10.0, interval=0.002)


def transport_of(orchestrator: Orchestrator) -> ControlTransport:
    transport = orchestrator.tmux.transport
    assert isinstance(transport, ControlTransport)
    return transport


@pytest.fixture
def corch(settings: Settings) -> Iterator[Orchestrator]:
    """A ready orchestrator on the control transport; afterwards no control client is left."""
    orchestrator = Orchestrator(settings.replace(transport="control"))
    pids: list[int] = []
    try:
        orchestrator.init()
        pid = transport_of(orchestrator).connected_pid
        if pid is not None:
            pids.append(pid)
        yield orchestrator
    finally:
        pid = transport_of(orchestrator).connected_pid
        if pid is not None:
            pids.append(pid)
        orchestrator.kill()
        orchestrator.close()
    for pid in pids:
        assert not pid_alive(pid), f"control client {pid} left behind"


@pytest.fixture
def sub(settings: Settings) -> Tmux:
    """A one-process-per-call view of the same server, for checking what the control path did."""
    return Tmux(settings, SubprocessTransport(Tmux(settings).base_argv()))


def test_connects_lazily_once_the_session_exists(settings: Settings, sub: Tmux) -> None:
    orchestrator = Orchestrator(settings.replace(transport="control"))
    try:
        transport = transport_of(orchestrator)
        assert not orchestrator.exists()  # no socket yet: no client process is even tried
        assert transport.connected_pid is None
        orchestrator.init()
        pid = transport.connected_pid
        assert pid is not None and pid_alive(pid)
        clients = sub.run("list-clients", "-F", "#{client_pid} #{client_flags} #{client_session}")
        assert clients == [f"{pid} attached,focused,control-mode,UTF-8 {settings.session}"]
        assert orchestrator.worker(1).run("echo over control").output == "over control\n"
        assert transport.connected_pid == pid  # one connection for everything
    finally:
        orchestrator.kill()
        orchestrator.close()
    assert not pid_alive(pid)


def test_the_control_client_never_resizes_the_session(corch: Orchestrator, sub: Tmux) -> None:
    target = f"={corch.settings.session}:={corch.settings.master_window}"
    for policy in ("latest", "smallest", "largest"):
        sub.run("set-option", "-g", "window-size", policy)
        sub.run("resize-window", "-A", "-t", target)  # re-apply the policy to the clients there are
        assert transport_of(corch).connected_pid is not None
        assert sub.run("display-message", "-p", "-t", target, "#{window_width}x#{window_height}") == ["240x72"]


def test_each_command_of_a_chain_gets_its_own_output(corch: Orchestrator) -> None:
    outputs = corch.tmux.chain([
        ["display-message", "-p", "a"],
        ["set-option", "-g", "@txo-x", "1"],
        ["display-message", "-p", "b\nc"],
        ["show-options", "-gv", "@txo-x"],
        ["display-message", "-p", ""],
    ])
    assert outputs == [["a"], [], ["b", "c"], ["1"], [""]]
    assert transport_of(corch).connected_pid is not None


def test_errors_stop_the_chain_and_are_classified_like_subprocess(corch: Orchestrator, sub: Tmux) -> None:
    bad_chain = [["set-option", "-g", "@txo-before", "1"], ["has-session", "-t", "=nosuch"],
                 ["set-option", "-g", "@txo-after", "1"]]
    with pytest.raises(SessionNotFoundError, match="can't find session: nosuch"):
        corch.tmux.chain(bad_chain)
    assert sub.run("show-options", "-gv", "@txo-before") == ["1"]
    with pytest.raises(TmuxError, match="invalid option"):
        sub.run("show-options", "-gv", "@txo-after")
    for command in (["capture-pane", "-p", "-t", "%999"], ["display-message", "-p", "-Z", "x"],
                    ["select-layout", "-t", "=nosuch:", "tiled"]):
        with pytest.raises(TmuxError) as by_control:
            corch.tmux.run(*command)
        with pytest.raises(TmuxError) as by_subprocess:
            sub.run(*command)
        assert type(by_control.value) is type(by_subprocess.value)
        assert str(by_control.value).split(" (in: ")[0] == str(by_subprocess.value).split(" (in: ")[0]
    assert corch.tmux.run("display-message", "-p", "still fine") == ["still fine"]


def test_tricky_arguments_arrive_exactly(corch: Orchestrator, sub: Tmux) -> None:
    transport = transport_of(corch)
    pool = "ab ;'\"$~#{}\\\t\r\n-%=é€𝄞\x1b\x7f"
    rng = random.Random(5)
    fuzz = ["".join(rng.choice(pool) for _ in range(rng.randint(1, 12))) for _ in range(150)]
    big = "".join(rng.choice(pool) for _ in range(200_000))
    for text in [s for s in TRICKY if s] + fuzz + [big]:
        corch.tmux.run("set-buffer", "-b", "txo", "--", text)
        shown = subprocess.run([*sub.base_argv(), "show-buffer", "-b", "txo"], capture_output=True, check=True)
        assert shown.stdout.decode() == text
    for text in TRICKY + fuzz[:40]:  # and as option values, read back over the connection
        corch.tmux.run("set-option", "-g", "@txo-v", text)
        if "\n" not in text and "\r" not in text:
            assert corch.tmux.run("show-options", "-gqv", "@txo-v") == [text]
    assert transport.connected_pid is not None


def test_concurrent_calls_from_eight_threads(corch: Orchestrator) -> None:
    transport = transport_of(corch)
    pid = transport.connected_pid
    errors: list[BaseException] = []

    def hammer(number: int) -> None:
        try:
            for i in range(150):
                mine = f"t{number}-{i}"
                if i % 3 == 0:
                    got = corch.tmux.chain([["display-message", "-p", mine], ["display-message", "-p", mine + "b"]])
                    assert got == [[mine], [mine + "b"]]
                elif i % 3 == 1:
                    assert corch.tmux.run("display-message", "-p", mine) == [mine]
                else:
                    with pytest.raises(SessionNotFoundError, match=mine):
                        corch.tmux.run("has-session", "-t", f"={mine}")
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[:3]
    assert transport.connected_pid == pid


def server_pid(settings: Settings) -> int:
    return int(Tmux(settings).run("display-message", "-p", "#{pid}")[0])


def test_timeout_then_the_late_reply_is_not_taken_for_the_next_one(corch: Orchestrator) -> None:
    pid = server_pid(corch.settings)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(TmuxTimeoutError, match=r"did not answer within 0\.2s"):
            corch.tmux.run("display-message", "-p", "late", timeout=0.2)
        assert time.monotonic() - started < 2
    finally:
        os.kill(pid, signal.SIGCONT)
    assert corch.tmux.run("display-message", "-p", "next") == ["next"]
    assert corch.tmux.chain([["display-message", "-p", "a"], ["display-message", "-p", "b"]]) == [["a"], ["b"]]


def lose_the_client(transport: ControlTransport) -> int:
    """Kill the control client and wait until tmux has dropped it (its output ended: the client
    handed its stdin and stdout to the server, which drops them once it notices).  What the
    panes write from then on reaches no stream.  Returns the killed client's pid."""
    pid = transport.connected_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: transport.connected_pid is None, what="the transport saw its client go")
    return pid


def test_a_killed_client_is_replaced_and_pending_calls_are_handled(corch: Orchestrator, sub: Tmux) -> None:
    transport = transport_of(corch)
    first = lose_the_client(transport)
    assert not pid_alive(first)
    assert corch.tmux.run("display-message", "-p", "again") == ["again"]
    second = transport.connected_pid
    assert second is not None and second != first

    # Kill it while calls are waiting: reads are retried without it, writes fail clearly.
    pid = server_pid(corch.settings)
    results: dict[str, object] = {}

    def call(name: str, command: list[str]) -> None:
        try:
            results[name] = corch.tmux.run(*command, timeout=10)
        except Exception as err:
            results[name] = err

    os.kill(pid, signal.SIGSTOP)
    try:
        reader = threading.Thread(target=call, args=("read", ["display-message", "-p", "read"]))
        writer = threading.Thread(target=call, args=("write", ["set-option", "-g", "@txo-w", "1"]))
        reader.start()
        wait_until(lambda: len(transport._connection.pending) == 1)  # type: ignore[union-attr]
        writer.start()
        wait_until(lambda: len(transport._connection.pending) == 2)  # type: ignore[union-attr]
        os.kill(second, signal.SIGKILL)
        wait_until(lambda: not pid_alive(second), what="the killed client reaped")
    finally:
        os.kill(pid, signal.SIGCONT)
    reader.join(10)
    writer.join(10)
    assert results["read"] == ["read"]  # answered, or retried
    # The server may still answer from the pipes it holds; if not, the write fails clearly.
    if results["write"] != []:
        assert isinstance(results["write"], ControlConnectionError), results["write"]
        assert "may or may not have run" in str(results["write"])
    assert corch.worker(0).run("echo alive").output == "alive\n"


def test_an_empty_chain_posted_is_answered_and_keeps_the_client(corch: Orchestrator) -> None:
    transport = transport_of(corch)
    pid = transport.connected_pid
    reply = transport.post([], 5)  # written as it is, an empty line would end the client
    assert reply.answered() and reply.result() == []
    assert corch.tmux.run("display-message", "-p", "still") == ["still"] and transport.connected_pid == pid

def test_input_whose_answer_is_lost_with_the_client_is_reported_by_the_next_call(corch: Orchestrator) -> None:
    """send() returns once its input is written; the client dies before tmux answered.  The next
    call on the pane finds either the input's output (tmux still read it from the pipes it holds)
    or a clear error saying it may or may not have run, never a hang; then a new client serves."""
    pane = corch.worker(0)
    transport = transport_of(corch)
    assert pane.run("true").exit_code == 0  # (the next input then needs no look at the pane)
    client_pid = transport.connected_pid
    assert client_pid is not None
    pid = server_pid(corch.settings)
    os.kill(pid, signal.SIGSTOP)
    try:
        pane.send("echo lost-or-not")
        assert transport.connected_pid == client_pid, "written over the connection, not waited for"
        os.kill(client_pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(client_pid), what="the killed client reaped")
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        assert pane.wait_for("lost-or-not", timeout=5) == "lost-or-not"
    except ControlConnectionError as err:
        assert "may or may not have run" in str(err) and "paste-buffer" in str(err)
    assert pane.run("echo next").output == "next\n"
    assert transport.connected_pid not in (None, client_pid)


def test_wait_for_and_run_read_megabytes_of_output_whole(corch: Orchestrator) -> None:
    """300,000 lines (2 MB) in thousands of chunks: checks this long are spaced out, and the
    renderer is fed piece by piece; the match at the very end, and run()'s whole output, are exact."""
    pane = corch.worker(0)
    pane.send("seq 1 300000; echo end")
    assert pane.wait_for(re.compile(r"^299999\n300000\nend$", re.M), timeout=60) == "299999\n300000\nend"
    assert pane.run("seq 1 300000", timeout=60).output == "".join(f"{n}\n" for n in range(1, 300001))


def test_output_written_after_the_client_was_lost_is_found_in_the_scrollback(corch: Orchestrator,
                                                                            tmp_path: Path) -> None:
    """The input was answered; then the control client is lost, and only then does the command
    print.  That output never reaches the stream, and no byte came between the answer and the
    loss: wait_for still finds it (in the scrollback) instead of waiting on a stream nobody feeds."""
    pane, transport = corch.worker(0), transport_of(corch)
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    pane.send(f"echo armed-$((6*7)); read -r _ < {fifo}; echo after-$((40+2))")
    assert pane.wait_for("armed-42") == "armed-42"  # (so tmux's answer to the input was read)
    lost = lose_the_client(transport)
    fifo.write_text("go\n")
    assert pane.wait_for("after-42", timeout=60) == "after-42"
    assert pane.run("echo next").output == "next\n"
    assert transport.connected_pid not in (None, lost)


def test_run_whose_client_is_lost_says_its_output_was_lost(corch: Orchestrator, tmp_path: Path) -> None:
    """A run() whose control client is lost while its command runs cannot get the end of its
    output from the stream: it says so at once, not at its timeout, and the pane serves the
    next call."""
    pane, transport = corch.worker(0), transport_of(corch)
    stream = transport.stream(pane.id)
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    lost: list[int] = []

    def lose_it_midway() -> None:  # once the command runs (tmux's answer came before its output)
        wait_until(lambda: b"armed-42" in bytes(stream.data), what="the command started")
        lost.append(lose_the_client(transport))
        fifo.write_text("go\n")

    helper = threading.Thread(target=lose_it_midway)
    helper.start()
    try:
        with pytest.raises(TmuxorchError, match="was lost: the control client stopped listening"):
            pane.run(f"echo armed-$((6*7)); read -r _ < {fifo}; echo after", timeout=60)
    finally:
        helper.join()
    assert pane.wait_prompt() == 0
    assert pane.run("echo next").output == "next\n"
    assert transport.connected_pid not in (None, *lost)


def test_clients_closed_while_a_pane_floods_leave_the_server_running(corch: Orchestrator) -> None:
    """tmux 3.3a crashes (fatal "not enough data") when a control client told to exit still has
    pane output queued and more comes.  So a transport never tells its client to exit: it kills
    it (stdin ends only once tmux dropped it).  Clients closed again and again while a pane
    floods its output leave the server running.  (With EOF on stdin instead, about one close in
    four hundred crashed the server here.)"""
    corch.worker(0).send("yes flood-flood-flood")
    for _ in range(40):
        other = Orchestrator(corch.settings)
        other.status()
        connection = transport_of(other)._connection
        assert connection is not None
        other.close()
        assert connection.process.returncode == -signal.SIGKILL, "killed, not told to exit"
    assert corch.tmux.server_pid() is not None  # (the flood ends with the server, at teardown)


def test_server_killed_under_the_client(settings: Settings) -> None:
    orchestrator = Orchestrator(settings.replace(transport="control"))
    orchestrator.init()
    transport = transport_of(orchestrator)
    pid = transport.connected_pid
    assert pid is not None
    try:
        subprocess.run([*Tmux(settings).base_argv(), "kill-server"], check=True)  # behind its back
        wait_until(lambda: not pid_alive(pid), what="the control client exited")
        wait_until(lambda: transport.connected_pid is None, what="the transport saw it go")
        with pytest.raises(ServerNotFoundError):
            orchestrator.tmux.run("list-panes", "-a")
        assert not orchestrator.exists()
        # A new server and session on the same socket: the transport connects again.
        orchestrator.init()
        assert orchestrator.worker(0).run("echo back").output == "back\n"
        assert transport.connected_pid not in (None, pid)
    finally:
        last = transport.connected_pid
        orchestrator.kill()
        orchestrator.close()
    assert last is None or not pid_alive(last)


def test_kill_and_close_leave_no_process(settings: Settings) -> None:
    orchestrator = Orchestrator(settings.replace(transport="control"))
    orchestrator.init()
    transport = transport_of(orchestrator)
    pid = transport.connected_pid
    assert pid is not None
    orchestrator.close()  # the server keeps running; the client is gone when close() returns
    assert not pid_alive(pid)
    assert orchestrator.exists()  # and the transport connects again on demand
    again = transport.connected_pid
    assert again is not None and again != pid
    orchestrator.kill()  # kill-session retires the client; kill-server closes the transport
    assert not pid_alive(again)
    assert transport.connected_pid is None


def test_never_starts_a_server_nor_attaches_where_it_cannot(settings: Settings, tmp_path: Path) -> None:
    # A stale socket file with no server: tmux -N must not start one.
    path = settings.socket_path or ""
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    transport = ControlTransport(Tmux(settings).base_argv(), "agents", Path(path))
    try:
        with pytest.raises(ServerNotFoundError):
            transport.execute([["list-sessions"]], 5)
        assert transport.connected_pid is None
        with pytest.raises(ServerNotFoundError):
            transport.execute([["list-sessions"]], 5)  # no reconnect storm: falls back at once
        assert Tmux(settings).server_pid() is None
    finally:
        transport.close()
    # A server without our session: calls work, one process each.
    Path(path).unlink()
    Tmux(settings).run("new-session", "-d", "-s", "someone-else")
    transport = ControlTransport(Tmux(settings).base_argv(), "agents", Path(path))
    try:
        assert transport.execute([["display-message", "-p", "x"]], 5) == [["x"]]
        assert transport.connected_pid is None
    finally:
        transport.close()


def test_an_unclosed_transport_ends_with_its_program(settings: Settings) -> None:
    script = textwrap.dedent(f"""
        import os, sys
        from pytest_tmuxorch import Orchestrator, Settings
        o = Orchestrator(Settings(socket_path={settings.socket_path!r}, shell="sh", workers=1, transport="control"))
        o.init()
        print(o.tmux.transport.connected_pid, flush=True)
        if sys.argv[1] == "abrupt":
            os._exit(0)
    """)
    for how in ("normal", "abrupt"):
        done = subprocess.run([sys.executable, "-c", script, how], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        pid = int(done.stdout.split()[0])
        wait_until(lambda pid=pid: not pid_alive(pid), what=f"the client of a program that ended ({how})")
        kill_server_at(settings.socket_path or "")


def test_wait_activity_wakes_on_output_and_misses_none(corch: Orchestrator, monkeypatch: pytest.MonkeyPatch) -> None:
    transport = transport_of(corch)
    pane = corch.worker(0)
    monkeypatch.setattr(client, "WAIT_CAP", 30.0)
    # Output after the wait began wakes it.
    pane.capture()
    timer = threading.Timer(0.05, lambda: corch.tmux.run("send-keys", "-t", pane.id, "echo woke", "Enter"))
    started = time.monotonic()
    timer.start()
    transport.wait_activity(pane.id, 20, 0)
    assert time.monotonic() - started < 10
    timer.join()
    pane.wait_for("woke\n")
    # Output between this thread's capture and its wait is not missed: the wait returns at once.
    pane.capture()
    other = threading.Thread(target=lambda: (pane.send("echo between"), pane.wait_for(re.compile("^between$", re.M))))
    other.start()
    other.join(10)
    started = time.monotonic()
    transport.wait_activity(pane.id, 20, 0)
    assert time.monotonic() - started < 1
    # Nothing from that pane: it waits for its timeout, here shorter than the cap.
    pane.capture()
    started = time.monotonic()
    transport.wait_activity("%9999", 0.1, 0)
    assert time.monotonic() - started >= 0.09
    # "*" wakes on any pane.
    corch.master.capture()
    corch.tmux.run("send-keys", "-t", corch.worker(1).id, "echo any", "Enter")
    started = time.monotonic()
    transport.wait_activity("*", 20, 0)
    assert time.monotonic() - started < 10


def test_panes_behave_the_same_over_both_transports(corch: Orchestrator, settings: Settings) -> None:
    plain = Orchestrator(settings)  # one process per call, same server and session
    control_pane, plain_pane = corch.worker(0), plain.worker(1)
    assert transport_of(corch).connected_pid is not None
    for command in ["echo hi", "printf 'a\\tb\\n\\n c\\n'; false", "echo 'é 日本;' \"$((6*7))\"", "exit_code() { return 3; }; exit_code"]:
        by_control, by_plain = control_pane.run(command), plain_pane.run(command)
        # the stream keeps tabs; the screen the subprocess transport reads shows them expanded
        assert (by_control.exit_code, by_control.output.expandtabs()) == (by_plain.exit_code, by_plain.output.expandtabs())
    for text in ["echo 'literal; text'", "a trailing semicolon;", "$HOME ~ #{pane_id}", "-n dash", "C-c"]:
        for pane in (control_pane, plain_pane):
            pane.send_keys("C-u")
            pane.send(text, enter=False)
            pane.wait_for(text)
        assert control_pane.capture().splitlines()[-1] == plain_pane.capture().splitlines()[-1]
        control_pane.send_keys("C-u")
        plain_pane.send_keys("C-u")
    control_pane.send("seq 1 3")
    assert control_pane.wait_for(re.compile(r"^3$", re.MULTILINE)) == "3"
    assert [s.pane_id for s in corch.status()] == [s.pane_id for s in plain.status()]
    assert corch.tmux.run("list-panes", "-a", "-F", "#{pane_id}") == plain.tmux.run("list-panes", "-a", "-F", "#{pane_id}")


def test_fallback_for_commands_the_connection_does_not_take(corch: Orchestrator) -> None:
    transport = transport_of(corch)
    pid = transport.connected_pid
    assert corch.tmux.run("if-shell", "true", "set-option -g @txo-if yes") == []
    assert corch.tmux.run("show-options", "-gv", "@txo-if") == ["yes"]
    corch.barrier_signal("phase")
    corch.barrier_wait("phase", timeout=5)
    assert transport.connected_pid == pid


def test_a_second_socket_does_not_share_state() -> None:
    path = new_socket_path()
    try:
        orchestrator = Orchestrator(Settings(socket_path=path, shell="sh", workers=1, transport="control"))
        with orchestrator:
            assert orchestrator.worker(0).run("echo solo").output == "solo\n"
        orchestrator.close()
    finally:
        kill_server_at(path)
