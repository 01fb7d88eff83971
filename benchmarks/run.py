"""The benchmark suite: each row measured side by side with its baselines, in the same run.

    python benchmarks/run.py                 # everything, writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick         # fewer rounds
    python benchmarks/run.py --rows roundtrip,cli

Rounds interleave the contenders of a row, so machine noise hits them alike; each result is the
median with its interquartile range (IQR), and the ratio to the row's first baseline.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from pytest_tmuxorch import Orchestrator, Settings  # noqa: E402
from pytest_tmuxorch._proc import wait_pid_gone  # noqa: E402
from pytest_tmuxorch.servers import kill_server_at, new_socket_path  # noqa: E402

SHELL = "sh"  # the same clean shell for every contender
SHELL_COMMAND = Settings(shell=SHELL).shell_command
TRANSPORTS = ("subprocess", "control")

Case = Callable[[], float]


class Row:
    """One table row: a named measurement and its contenders (the first is the baseline)."""

    def __init__(self, title: str, cases: dict[str, Case], note: str = "") -> None:
        self.title, self.cases, self.note = title, cases, note
        self.samples: dict[str, list[float]] = {name: [] for name in cases}

    def measure(self, rounds: int) -> None:
        for _ in range(rounds):
            for name, case in self.cases.items():
                self.samples[name].append(case())

    def lines(self) -> list[str]:
        base = statistics.median(next(iter(self.samples.values())))
        out = []
        for name, values in self.samples.items():
            median = statistics.median(values)
            quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [median] * 3
            out.append(f"| {self.title} | {name} | {_ms(median)} | {_ms(quartiles[2] - quartiles[0])} "
                       f"| {len(values)} | {median / base:.2f} |")
        return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}" if seconds < 0.1 else f"{seconds * 1e3:.0f}"


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def settings(workers: int = 4, transport: str = "subprocess") -> Settings:
    return Settings(socket_path=new_socket_path(), shell=SHELL, workers=workers, transport=transport)


# --- 1. provisioning -------------------------------------------------------------------------------


def provision_ours(transport: str, workers: int = 4) -> Case:
    def case() -> float:
        orch = Orchestrator(settings(workers, transport))

        def run() -> None:
            orch.init()
            orch.kill()

        spent = timed(run)
        orch.close()
        return spent

    return case


def provision_raw() -> float:
    """The floor: one chained tmux client call builds the layout; poll until every prompt shows."""
    path = new_socket_path()
    tmux = ["tmux", "-S", path, "-f", "/dev/null"]

    def run() -> None:
        chain = ["new-session", "-d", "-s", "s", "-x", "240", "-y", "72", SHELL_COMMAND, ";",
                 "new-window", "-d", "-n", "workers", SHELL_COMMAND]
        for _ in range(3):
            chain += [";", "split-window", "-d", "-t", "s:workers", SHELL_COMMAND, ";", "select-layout", "-t", "s:workers", "tiled"]
        subprocess.run([*tmux, *chain], check=True)
        while True:
            out = subprocess.run([*tmux, "list-panes", "-a", "-F", "#{cursor_x}"], capture_output=True, text=True).stdout
            if out.split() and "0" not in out.split():
                break
        pid = int(subprocess.run([*tmux, "display-message", "-p", "#{pid}"], capture_output=True, text=True).stdout)
        subprocess.run([*tmux, "kill-server"], check=True)
        wait_pid_gone(pid, 10)

    spent = timed(run)
    Path(path).unlink(missing_ok=True)
    return spent


def provision_libtmux() -> float:
    import libtmux
    from libtmux.test.retry import retry_until

    path = new_socket_path()

    def run() -> None:
        server = libtmux.Server(socket_path=path, config_file="/dev/null")
        session = server.new_session(session_name="s", x=240, y=72, window_command=SHELL_COMMAND)
        window = session.new_window(window_name="workers", window_shell=SHELL_COMMAND)
        panes = [window.active_pane]
        for _ in range(3):
            panes.append(window.split(shell=SHELL_COMMAND))
        window.select_layout("tiled")
        panes.append(session.windows[0].active_pane)
        for pane in panes:
            retry_until(lambda pane=pane: "$" in "".join(pane.capture_pane()), 10)
        server.kill()

    spent = timed(run)
    kill_server_at(path)
    return spent


def row_provisioning() -> list[Row]:
    cases: dict[str, Case] = {"raw tmux floor (1 chained call + prompt poll)": provision_raw,
                              "libtmux (new_session, splits, retry_until)": provision_libtmux}
    for transport in TRANSPORTS:
        cases[f"tmuxorch init + kill ({transport})"] = provision_ours(transport)
    return [Row("provision master + 4 workers, teardown", cases)]


# --- 2. round trip ---------------------------------------------------------------------------------


class RoundTrip:
    """A live server with one pane for each contender; cases type into it and wait for the echo."""

    def __init__(self) -> None:
        self.counter = 0
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
            token = self.token()
            line = re.compile(rf"^{token}$", re.M)
            return timed(lambda: (pane.send(f"echo {token}"), pane.wait_for(line, timeout=10)))

        return case

    def run_case(self, transport: str) -> Case:
        pane = self.orchs[transport].worker(0)
        return lambda: timed(lambda: pane.run("echo hi", timeout=10))

    def close(self) -> None:
        for orch in self.orchs.values():
            orch.kill()
            orch.close()
        kill_server_at(self.raw_path)
        self.lib_server.kill()
        kill_server_at(str(self.lib_server.socket_path))


def row_roundtrip(rounds: int) -> list[Row]:
    bench = RoundTrip()
    try:
        send_wait: dict[str, Case] = {"libtmux send_keys + retry_until": bench.libtmux_case,
                                      "raw send-keys + tight capture-pane poll": bench.raw_case}
        run: dict[str, Case] = {"libtmux send_keys + retry_until": bench.libtmux_case}
        for transport in TRANSPORTS:
            send_wait[f"tmuxorch send + wait_for ({transport})"] = bench.send_wait_case(transport)
            run[f'tmuxorch pane.run("echo hi") ({transport})'] = bench.run_case(transport)
        rows = [Row("send + wait for the output", send_wait), Row('run "echo hi" to completion', run)]
        for row in rows:
            row.measure(rounds)
    finally:
        bench.close()
    return rows


# --- 3. queue --------------------------------------------------------------------------------------


def row_queue(rounds: int) -> list[Row]:
    """benchmarks/queue_throughput.py, run under a non-editable install of the package, with the
    tasks dir on this checkout's disk and on a tmpfs: one row each, xargs measured in the same run."""
    import json

    import queue_throughput

    ensure_gnu_parallel()
    with tempfile.TemporaryDirectory(prefix="txo-bench-") as scratch:
        python = queue_throughput.install_venv(Path(scratch) / "venv")
        out = Path(scratch) / "queue.json"
        subprocess.run([python, str(HERE / "queue_throughput.py"), "--rounds", str(rounds), "--latency-samples", "0",
                        "--json", str(out)], check=True, cwd=HERE.parent)
        result = json.loads(out.read_text())
    rows: dict[str, Row] = {}
    for queue in result["queues"]:
        title = f"1000 tasks `true`, enqueue to all finished, tasks dir on {queue['fs']}"
        if title not in rows:
            rows[title] = row = Row(title, {}, note=(
                f"tasks dir {queue['dir']} on {queue['fs']} (mounted at {queue['mount']}); package installed "
                "non-editable; console script: tasks-enqueue --stdin, then tasks-wait; tasks-clean between rounds "
                f"(untimed); load average at the end {' '.join(f'{n:.2f}' for n in result['load'])}"))
            row.samples["xargs -P4 -n1 sh -c"] = result["xargs"]
            if result["parallel"]:
                row.samples["GNU parallel -j4"] = result["parallel"]
        files = "spare files reused" if queue["spares"] else "every task file created"
        rows[title].samples[f"tmuxorch enqueue --stdin + 4 loops + tasks-wait, {files}"] = queue["samples"]
    return list(rows.values())


def ensure_gnu_parallel() -> bool:
    """GNU parallel comes from Debian's packages; install it when we may (root, apt-get)."""
    if shutil.which("parallel"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "parallel"], capture_output=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    return shutil.which("parallel") is not None


# --- 4. CLI ----------------------------------------------------------------------------------------


def row_cli(rounds: int) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="txo-bench-"))
    path = new_socket_path()
    env = dict(os.environ, TMUXORCH_SOCKET_PATH=path, TMUXORCH_SHELL=SHELL, TMUXORCH_TASKS_DIR=str(work / "tasks"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "pytest_tmuxorch")], check=True)
    orch = Orchestrator(Settings(socket_path=path, shell=SHELL, workers=4, tasks_dir=str(work / "tasks")))
    orch.init()

    def run(*argv: str) -> Case:
        return lambda: timed(lambda: subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True))

    try:
        for n in range(20):
            subprocess.run([sys.executable, "-m", "pytest_tmuxorch", "tasks-enqueue", "--", "echo", str(n)],
                           env=env, stdout=subprocess.DEVNULL, check=True)
        row = Row("console script wall time", {
            "python -c pass": run(sys.executable, "-c", "pass"),
            "tmux list-panes": run("tmux", "-S", path, "list-panes", "-a"),
            "tmuxorch status": run(sys.executable, "-m", "pytest_tmuxorch", "status"),
            "tmuxorch tasks-list": run(sys.executable, "-m", "pytest_tmuxorch", "tasks-list"),
        }, note="package byte-compiled first, as pip install does")
        row.measure(rounds)
    finally:
        orch.kill()
        shutil.rmtree(work, ignore_errors=True)
    return [row]


# --- 5. scale --------------------------------------------------------------------------------------

SCALE_TESTS = textwrap.dedent("""
    import pytest

    @pytest.mark.parametrize("n", range({count}))
    def test_worker_answers(tmuxorch, n):
        result = tmuxorch.worker(0).run(f"echo {{n}}")
        assert result.output == f"{{n}}\\n"
""")
# hypothesis's pytest plugin (one of our test extras, not part of the product) takes 0.6 s to
# import in every pytest process; it is turned off for both contenders.
PYTEST_QUIET = ["-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]


def row_scale(rounds: int) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="txo-scale-"))
    for count in (40, 200):
        (work / f"test_scale_{count}.py").write_text(SCALE_TESTS.format(count=count))

    def pytest_run(count: int, workers: str) -> Case:
        argv = [sys.executable, "-m", "pytest", *PYTEST_QUIET, "-n", workers, "--tmuxorch-workers", "1",
                str(work / f"test_scale_{count}.py")]
        return lambda: timed(lambda: subprocess.run(argv, cwd=work, stdout=subprocess.DEVNULL, check=True))

    rows = [Row("40 orchestrator tests (pytest)", {"-n 0": pytest_run(40, "0"), "-n 2": pytest_run(40, "2")},
                note="ratio below 1 is the speed-up; whole pytest runs, start-up included"),
            Row("200 orchestrator tests (pytest)", {"-n 0": pytest_run(200, "0"), "-n 2": pytest_run(200, "2")},
                note="the same with the fixed start-up of xdist's workers amortized"),
            Row("one orchestrator, 32 workers: init + kill", {
                "tmuxorch, 4 workers": provision_ours("subprocess", 4),
                "tmuxorch, 32 workers (subprocess)": provision_ours("subprocess", 32),
                "tmuxorch, 32 workers (control)": provision_ours("control", 32)})]
    try:
        for row in rows:
            row.measure(rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


# --- the table -------------------------------------------------------------------------------------


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    return (f"{datetime.date.today()}, {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, {tmux}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--rows", default="provisioning,roundtrip,queue,cli,scale")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    scale = 0.3 if args.quick else 1.0
    plan: dict[str, Callable[[], list[Row]]] = {
        "provisioning": lambda: _measured(row_provisioning(), max(3, int(15 * scale))),
        "roundtrip": lambda: row_roundtrip(max(5, int(100 * scale))),
        "queue": lambda: row_queue(max(1, int(5 * scale))),
        "cli": lambda: row_cli(max(5, int(30 * scale))),
        "scale": lambda: row_scale(max(1, int(3 * scale))),
    }
    lines = ["| row | contender | median ms | IQR ms | n | ratio to first |", "|---|---|---|---|---|---|"]
    notes = []
    for name in args.rows.split(","):
        print(f"== {name}", file=sys.stderr)
        for row in plan[name]():
            lines += row.lines()
            if row.note:
                notes.append(f"- {row.title}: {row.note}")
            print("\n".join(row.lines()), file=sys.stderr)
    text = "\n".join([f"# Benchmark results\n\nMeasured {machine()}.\n", *lines, "", *notes, ""])
    args.out.write_text(text)
    print(text)


def _measured(rows: list[Row], rounds: int) -> list[Row]:
    for row in rows:
        row.measure(rounds)
    return rows


if __name__ == "__main__":
    main()
