"""The benchmark suite: each row measured side by side with its baselines, in the same run.

    python benchmarks/run.py                 # everything (about 12 minutes, 9 of them the soak), writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick         # fewer rounds and soak cycles
    python benchmarks/run.py --rows roundtrip,cli

Rounds interleave the contenders of a row, so machine noise hits them alike; each result is the
median with its interquartile range (IQR), and the ratio to the row's first contender.  Start-up
figures and the soak use the package as a user installs it (non-editable, see install.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import roundtrip
from kit import HERE, SHELL, SHELL_COMMAND, Case, Row, machine, timed

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch._proc import wait_pid_gone
from pytest_tmuxorch.servers import kill_server_at, new_socket_path


def settings(workers: int = 4, transport: str = "subprocess") -> Settings:
    return Settings(socket_path=new_socket_path(), shell=SHELL, workers=workers, transport=transport)


# --- 1. provisioning and teardown ------------------------------------------------------------------


def provision_ours(transport: str, workers: int = 4, teardown: bool = True) -> Case:
    def case() -> float:
        orch = Orchestrator(settings(workers, transport))
        spent = timed(orch.init)
        spent += timed(orch.kill) if teardown else 0.0
        if not teardown:
            orch.kill()
        orch.close()
        return spent

    return case


def provision_raw(teardown: bool) -> Case:
    """The floor: one chained tmux client call builds the layout; poll until every prompt shows;
    then (with ``teardown``) one call learns the pid and kills the server, and a wait for the pid."""

    def case() -> float:
        path = new_socket_path()
        tmux = ["tmux", "-S", path, "-f", "/dev/null"]

        def build() -> None:
            chain = ["new-session", "-d", "-s", "s", "-x", "240", "-y", "72", SHELL_COMMAND, ";",
                     "new-window", "-d", "-n", "workers", SHELL_COMMAND]
            for _ in range(3):
                chain += [";", "split-window", "-d", "-t", "s:workers", SHELL_COMMAND, ";", "select-layout", "-t",
                          "s:workers", "tiled"]
            subprocess.run([*tmux, *chain], check=True)
            while True:
                out = subprocess.run([*tmux, "list-panes", "-a", "-F", "#{cursor_x}"], capture_output=True, text=True).stdout
                if out.split() and "0" not in out.split():
                    break

        def kill() -> None:
            out = subprocess.run([*tmux, "display-message", "-p", "#{pid}", ";", "kill-server"], capture_output=True,
                                 text=True).stdout
            wait_pid_gone(int(out.split()[0]), 10)

        spent = timed(build)
        if teardown:
            spent += timed(kill)
        else:
            kill()
        Path(path).unlink(missing_ok=True)
        return spent

    return case


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
    rows = []
    for teardown in (False, True):
        title = "provision master + 4 workers, teardown" if teardown else "provision master + 4 workers"
        cases: dict[str, Case] = {"raw tmux floor (1 chained call + prompt poll" + (" + kill + pid wait)" if teardown else ")"):
                                  provision_raw(teardown)}
        if teardown:
            cases["libtmux (new_session, splits, retry_until, kill)"] = provision_libtmux
        for transport in ("subprocess", "control"):
            cases[f"tmuxorch init{' + kill' if teardown else ''} ({transport})"] = provision_ours(transport, 4, teardown)
        rows.append(Row(title, cases))
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
    from install import installed

    python = installed()
    script = str(python.parent / "tmuxorch")
    work = Path(tempfile.mkdtemp(prefix="txo-bench-"))
    path = new_socket_path()
    env = dict(os.environ, TMUXORCH_SOCKET_PATH=path, TMUXORCH_SHELL=SHELL, TMUXORCH_TASKS_DIR=str(work / "tasks"))
    orch = Orchestrator(Settings(socket_path=path, shell=SHELL, workers=4, tasks_dir=str(work / "tasks")))
    orch.init()

    def run(*argv: str) -> Case:
        return lambda: timed(lambda: subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True))

    try:
        for n in range(20):
            subprocess.run([script, "tasks-enqueue", "--", "echo", str(n)], env=env, stdout=subprocess.DEVNULL, check=True)
        row = Row("console script wall time", {
            "python -c pass (the same venv)": run(str(python), "-c", "pass"),
            "tmux list-panes": run("tmux", "-S", path, "list-panes", "-a"),
            "tmuxorch status": run(script, "status"),
            "tmuxorch run-one 0 true": run(script, "run-one", "0", "true"),
            "tmuxorch tasks-list": run(script, "tasks-list"),
        }, note="the package installed non-editable in a venv of its own (pip install .), byte-compiled as pip does")
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




# --- 6. soak ---------------------------------------------------------------------------------------


def section_soak(cycles: int, baseline_cycles: int) -> list[str]:
    import soak

    return ["## Soak: the interaction seams", "",
            f"`benchmarks/soak.py --cycles {cycles} --baseline-cycles {baseline_cycles}`, under `pytest -n 2`, the "
            "package installed non-editable; the previous release from git history.", "",
            "| measurement | package | size | result | detail |", "|---|---|---|---|---|",
            *soak.measure(cycles, baseline_cycles), ""]


# --- the table -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--rows", default="provisioning,roundtrip,output,queue,cli,scale,soak")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    scale = 0.3 if args.quick else 1.0
    plan: dict[str, Callable[[], list[Row]]] = {
        "provisioning": lambda: _measured(row_provisioning(), max(3, int(15 * scale))),
        "roundtrip": lambda: roundtrip.row_roundtrip(max(5, int(200 * scale))),
        "output": lambda: roundtrip.row_heavy_output(max(5, int(20 * scale))),
        "queue": lambda: row_queue(max(1, int(5 * scale))),
        "cli": lambda: row_cli(max(5, int(30 * scale))),
        "scale": lambda: row_scale(max(1, int(3 * scale))),
    }
    lines = ["| row | contender | median ms | IQR ms | n | ratio to first |", "|---|---|---|---|---|---|"]
    notes: list[str] = []
    sections: list[str] = []
    for name in args.rows.split(","):
        print(f"== {name}", file=sys.stderr)
        if name == "soak":
            sections += section_soak(1000 if args.quick else 10000, 50 if args.quick else 200)
            continue
        for row in plan[name]():
            lines += row.lines()
            if row.note:
                notes.append(f"- {row.title}: {row.note}")
            print("\n".join(row.lines()), file=sys.stderr)
    text = "\n".join([f"# Benchmark results\n\nMeasured {machine()}.\n", *lines, "", *notes, "", *sections])
    args.out.write_text(text)
    print(text)


def _measured(rows: list[Row], rounds: int) -> list[Row]:
    for row in rows:
        row.measure(rounds)
    return rows


if __name__ == "__main__":
    main()
