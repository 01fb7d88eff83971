"""The round trip: type a short line into a pane and wait until its output shows.

The floor is a raw control-mode client (``tmux -C``) that sends one ``send-keys`` and reads the
pane's ``%output`` until the output line comes: the least any harness on tmux can do.  Beside it:
a raw ``send-keys`` with a tight ``capture-pane`` poll, libtmux, and tmuxorch over both transports.
The heavy-output rows run ``seq 1 300000`` to completion against the same raw client reading it,
in wall time and in the CPU time of the reading process.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable

from kit import SHELL_COMMAND, TRANSPORTS, Case, Row, cpu_timed, timed

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch.servers import kill_server_at, new_socket_path


def settings(workers: int, transport: str) -> Settings:
    return Settings(socket_path=new_socket_path(), shell="sh", workers=workers, transport=transport)


Clock = Callable[[Callable[[], object]], float]  # timed (wall time) or cpu_timed
FLOOD_LINES = 300_000  # the heavy-output row: a command that prints this many lines


class ControlFloor:
    """A raw control client on a server of its own, typing with one ``send-keys``."""

    def __init__(self) -> None:
        self.path = new_socket_path()
        tmux = ["tmux", "-S", self.path, "-f", "/dev/null"]
        subprocess.run([*tmux, "new-session", "-d", "-s", "f", SHELL_COMMAND], check=True)
        self.pane = subprocess.run([*tmux, "display-message", "-p", "-t", "f", "#{pane_id}"],
                                   capture_output=True, text=True, check=True).stdout.strip()
        # Buffered: its lines are read with one read() per chunk tmux writes, not one per byte.
        self.client = subprocess.Popen([*tmux, "-C", "attach-session", "-t", "f"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE)
        self.prefix = f"%output {self.pane} ".encode()

    def case(self, token: str) -> float:
        return timed(lambda: self.type_and_read(f"echo {token}", f"\r\n{token}\r\n".encode()))

    def flood_case(self, clock: Clock = timed) -> float:
        """``seq 1 LINES``, read until its last line came."""
        return clock(lambda: self.type_and_read(f"seq 1 {FLOOD_LINES}", f"\n{FLOOD_LINES}\r\n".encode()))

    def type_and_read(self, command: str, wanted: bytes) -> None:
        """Type ``command`` with one ``send-keys``; read the pane's output until ``wanted`` shows."""
        stdin, stdout = self.client.stdin, self.client.stdout
        assert stdin is not None and stdout is not None
        stdin.write(f'send-keys -t {self.pane} "{command}" Enter\n'.encode())
        stdin.flush()
        seen = bytearray()
        deadline = time.monotonic() + 60
        while wanted not in seen[-len(wanted) - 64:]:
            line = stdout.readline()
            if line.startswith(self.prefix):
                # (tmux escapes bytes below 0x20 and the backslash as \ooo: Python's codec reads them)
                seen += line[len(self.prefix):].rstrip(b"\n").decode("unicode_escape").encode("latin-1")
            if time.monotonic() > deadline or not line:
                raise TimeoutError("the floor never saw its output")

    def close(self) -> None:
        if self.client.stdin is not None:
            self.client.stdin.close()
        self.client.wait(timeout=10)
        if self.client.stdout is not None:
            self.client.stdout.close()
        kill_server_at(self.path)


class RoundTrip:
    """A live server with one pane for each contender; cases type into it and wait for the echo."""

    def __init__(self) -> None:
        self.counter = 0
        self.floor = ControlFloor()
        self.orchs = {t: Orchestrator(settings(1, t)) for t in TRANSPORTS}
        for orch in self.orchs.values():
            orch.init()
        self.raw_path = new_socket_path()
        self.raw = ["tmux", "-S", self.raw_path, "-f", "/dev/null"]
        subprocess.run([*self.raw, "new-session", "-d", "-s", "r", SHELL_COMMAND], check=True)
        import libtmux

        self.lib_server = libtmux.Server(socket_path=new_socket_path(), config_file="/dev/null")
        self.lib_pane = self.lib_server.new_session(session_name="l", window_command=SHELL_COMMAND).active_pane
        self.raw_pane = subprocess.run([*self.raw, "display-message", "-p", "-t", "r", "#{pane_id}"],
                                       capture_output=True, text=True).stdout.strip()
        self._wait_raw_prompt()

    def _wait_raw_prompt(self) -> None:
        deadline = time.monotonic() + 10
        while "$" not in self._raw_capture() and time.monotonic() < deadline:
            pass
        from libtmux.test.retry import retry_until

        retry_until(lambda: "$" in "".join(self.lib_pane.capture_pane()), 10)

    def token(self) -> str:
        self.counter += 1
        return f"rt{self.counter}x"

    def _raw_capture(self) -> str:
        return subprocess.run([*self.raw, "capture-pane", "-p", "-t", self.raw_pane], capture_output=True, text=True).stdout

    def raw_case(self) -> float:
        token = self.token()
        line = re.compile(rf"^{token}$", re.M)

        def run() -> None:
            subprocess.run([*self.raw, "send-keys", "-t", self.raw_pane, "-l", f"echo {token}"], check=True)
            subprocess.run([*self.raw, "send-keys", "-t", self.raw_pane, "Enter"], check=True)
            while not line.search(self._raw_capture()):
                pass

        return timed(run)

    def libtmux_case(self) -> float:
        from libtmux.test.retry import retry_until

        token = self.token()

        def run() -> None:
            self.lib_pane.send_keys(f"echo {token}")
            retry_until(lambda: token in self.lib_pane.capture_pane(), 10)  # a whole line equal to it

        return timed(run)

    def send_wait_case(self, transport: str) -> Case:
        pane = self.orchs[transport].worker(0)

        def case() -> float:
            token = self.token()  # wait_for looks past the echo of the typed line: a plain string will do
            return timed(lambda: (pane.send(f"echo {token}"), pane.wait_for(token, timeout=10)))

        return case

    def floor_case(self) -> float:
        return self.floor.case(self.token())

    def run_case(self, transport: str) -> Case:
        pane = self.orchs[transport].worker(0)
        return lambda: timed(lambda: pane.run("echo hi", timeout=10))

    def flood_run_case(self, clock: Clock = timed) -> float:
        pane = self.orchs["control"].worker(0)
        return clock(lambda: pane.run(f"seq 1 {FLOOD_LINES}", timeout=60))

    def flood_wait_case(self, clock: Clock = timed) -> float:
        pane = self.orchs["control"].worker(0)
        wanted = re.compile(rf"^{FLOOD_LINES}$", re.M)
        spent = clock(lambda: (pane.send(f"seq 1 {FLOOD_LINES}"), pane.wait_for(wanted, timeout=60)))
        pane.wait_prompt(60)  # (untimed: the next case types at a prompt)
        return spent

    def close(self) -> None:
        self.floor.close()
        for orch in self.orchs.values():
            orch.kill()
            orch.close()
        kill_server_at(self.raw_path)
        self.lib_server.kill()
        kill_server_at(str(self.lib_server.socket_path))


def row_heavy_output(rounds: int) -> list[Row]:
    """A command that prints 300,000 lines, run to completion: the cost of reading heavy output."""
    bench = RoundTrip()
    floor = "control-mode floor: one send-keys, read until the last line"
    run, wait = f'tmuxorch pane.run("seq 1 {FLOOD_LINES}") (control)', "tmuxorch send + wait_for the last line (control)"
    try:
        rows = [Row(f"seq 1 {FLOOD_LINES}", {floor: bench.floor.flood_case, run: bench.flood_run_case,
                                             wait: bench.flood_wait_case},
                    note="run(): the whole output rendered as text lines, with its exit status"),
                Row(f"seq 1 {FLOOD_LINES}: CPU of this process",
                    {floor: lambda: bench.floor.flood_case(cpu_timed), run: lambda: bench.flood_run_case(cpu_timed),
                     wait: lambda: bench.flood_wait_case(cpu_timed)},
                    note="CPU time of the benchmark's process, every thread: the floor's reads, or the library's "
                         "reader thread and the caller")]
        for row in rows:
            row.measure(rounds)
    finally:
        bench.close()
    return rows


def row_roundtrip(rounds: int) -> list[Row]:
    bench = RoundTrip()
    try:
        send_wait: dict[str, Case] = {"control-mode floor: one send-keys, matched on %output": bench.floor_case,
                                      "libtmux send_keys + retry_until": bench.libtmux_case,
                                      "raw send-keys + tight capture-pane poll": bench.raw_case}
        run: dict[str, Case] = {"libtmux send_keys + retry_until": bench.libtmux_case}
        for transport in TRANSPORTS:
            send_wait[f"tmuxorch send + wait_for ({transport})"] = bench.send_wait_case(transport)
            run[f'tmuxorch pane.run("echo hi") ({transport})'] = bench.run_case(transport)
        rows = [Row("send + wait for the output", send_wait,
                    note="a short line (echo TOKEN); tmuxorch waits for the output, past the echo of the line"),
                Row('run "echo hi" to completion', run)]
        for row in rows:
            row.measure(rounds)
    finally:
        bench.close()
    return rows
