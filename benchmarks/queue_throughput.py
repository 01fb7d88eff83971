"""Task queue benchmark: 1000 ``true`` tasks through 4 worker loops in tmux panes, end to end
through the console script (``tmuxorch tasks-enqueue --stdin``, then ``tmuxorch tasks-wait``),
against ``xargs -P4 -n1 sh -c`` running the same 1000 commands, interleaved in the same run; plus
idle pickup latency and idle worker CPU.  ``tasks-clean --keep 0`` runs between rounds (untimed),
leaving spare files that the next enqueue reuses; the first directory is measured a second time
with the spares removed (every task file created: a queue's first batch).

    .venv/bin/python benchmarks/queue_throughput.py [--tasks 1000] [--rounds 3] [--workers 4]
                                                    [--dir DIR]... [--json FILE]

Each ``--dir`` is a place for the task queue (default: the current directory, like the default
``var/tmux/<session>/tasks``, and a tmpfs); the filesystem of each is printed.  Figures are taken
with the package installed as a user installs it: when this script runs from a source checkout
(an editable install), it first builds a throwaway venv with ``pip install <repo>`` and runs itself
again there (``--python PY`` reuses one).  Everything runs on a private tmux server (its own socket)
and in temporary directories; all are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


# --- where the queue lives ------------------------------------------------------------------------


def filesystem(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(type, mount point) of the filesystem holding ``path``, from /proc/self/mounts."""
    where = os.path.realpath(path)
    best = ("?", "/")
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[1].replace("\\040", " ")
            inside = where == point or where.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best[1]):
                best = (fields[2], point)
    return best


@contextlib.contextmanager
def tmpfs_dir() -> Iterator[Path]:
    """A directory on a tmpfs: /dev/shm when it is one, else a small tmpfs mounted for the run (root)."""
    if os.path.isdir("/dev/shm") and filesystem("/dev/shm")[0] == "tmpfs":
        yield Path("/dev/shm")
        return
    point = Path(tempfile.mkdtemp(prefix="txo-bench-tmpfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(point)], check=True)
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)
        point.rmdir()


# --- the package as installed -------------------------------------------------------------------


def is_source_checkout() -> bool:
    """True when ``pytest_tmuxorch`` is imported from this repository (an editable install)."""
    import pytest_tmuxorch

    return Path(pytest_tmuxorch.__file__).resolve().is_relative_to(REPO)


def install_venv(where: Path) -> str:
    """A throwaway venv at ``where`` with the package installed from this checkout, non-editable
    (``pip install <repo>``); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = str(where / "bin" / "python")
    build = Path(tempfile.mkdtemp(prefix="txo-bench-build-"))
    try:  # build from a copy of the tracked and new files: pip must leave nothing in the checkout
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                                capture_output=True, check=True).stdout.decode().split("\0")
        for name in filter(None, listed):
            if (REPO / name).is_file():
                (build / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, build / name)
        subprocess.run([python, "-m", "pip", "install", "-q", str(build)], check=True)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return python


# --- one measurement ------------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[-1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def xargs_round(count: int, workers: int) -> float:
    started = time.monotonic()
    subprocess.run(["xargs", f"-P{workers}", "-n1", "sh", "-c"], input="true\n" * count, text=True, check=True)
    return time.monotonic() - started


def parallel_round(count: int, workers: int) -> float:
    started = time.monotonic()
    subprocess.run(["parallel", "--will-cite", f"-j{workers}"], input="true\n" * count, text=True, check=True)
    return time.monotonic() - started


class QueueBench:
    """A private server with ``workers`` panes running worker loops on a queue under ``base``.
    ``spares``: let ``tasks-clean`` leave its spare files for the next round's enqueue (what a
    queue cleaned between batches gets); without, they are removed (untimed), so every task
    file is created, on a disk that has just freed as many inodes."""

    def __init__(self, base: str, workers: int, spares: bool = True, python: str | None = None) -> None:
        from pytest_tmuxorch import Orchestrator, Settings
        from pytest_tmuxorch.servers import new_socket_path

        self.spares, self.python = spares, python or sys.executable
        self.work = Path(tempfile.mkdtemp(prefix="txo-bench-", dir=base)).absolute()
        self.fs = filesystem(self.work)
        self.socket = new_socket_path()
        settings = Settings(socket_path=self.socket, shell="sh", workers=workers, timeout=30.0,
                            tasks_dir=str(self.work / "tasks"), logs_dir=str(self.work / "logs"))
        self.env = dict(os.environ, TMUXORCH_SOCKET_PATH=self.socket, TMUXORCH_TASKS_DIR=settings.tasks_dir or "")
        self.script = str(Path(self.python).with_name("tmuxorch"))  # the console script, as installed
        self.orch = Orchestrator(settings)
        if python is not None:  # another install's worker loops (the panes stay ours)
            loop = [python, "-m", "pytest_tmuxorch", "worker", settings.tasks_dir or ""]
            self.orch.tasks.worker_command = lambda worker_id: shlex.join([*loop, worker_id])

    def start(self) -> None:
        os.chdir(self.work)  # the panes start here: ``python -m`` in the checkout would import the source
        self.orch.init()
        self.orch.tasks.start()
        for info in self.orch.tasks.live_workers():
            cwd = Path(os.readlink(f"/proc/{info['pid']}/cwd"))
            assert not (cwd / "pytest_tmuxorch").exists(), f"a worker loop would import the source in {cwd}"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([self.script, *args], env=self.env, input=stdin, capture_output=True, text=True,
                              cwd=self.work)  # not the checkout: ``-m`` there would import the source
        if done.returncode != 0:
            raise SystemExit(f"benchmark broken: tmuxorch {args[0]} exit {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def round(self, count: int) -> float:
        """Seconds from the start of ``tasks-enqueue --stdin`` to the end of ``tasks-wait``."""
        started = time.monotonic()
        self.cli("tasks-enqueue", "--stdin", stdin="true\n" * count)
        summary = self.cli("tasks-wait", "--timeout", "600")
        spent = time.monotonic() - started
        if f"{count} tasks finished: {count} ok" not in summary:
            raise SystemExit(f"benchmark broken: {summary.strip()}")
        self.cli("tasks-clean", "--keep", "0")
        if not self.spares:
            for spare in (self.work / "tasks" / "spare").iterdir():
                spare.unlink()
        return spent

    def latency(self, samples: int) -> list[float]:
        """Idle pickup: enqueue one task at a random moment, measure enqueue -> start."""
        queue, delays = self.orch.tasks, []
        for _ in range(samples):
            time.sleep(random.uniform(0.05, 0.15))
            task = queue.enqueue("true")
            (record,) = queue.wait([task.id], timeout=30)
            delays.append((record.started or 0.0) - (record.created or 0.0))
        queue.clean(keep=0)
        return delays

    def idle_cpu(self, seconds: float = 5.0) -> list[float]:
        pids = [int(info["pid"]) for info in self.orch.tasks.live_workers()]
        before = {pid: cpu_ticks(pid) for pid in pids}
        time.sleep(seconds)
        hz = os.sysconf("SC_CLK_TCK")
        return [100.0 * (cpu_ticks(pid) - before[pid]) / hz / seconds for pid in pids]

    def close(self) -> None:
        from pytest_tmuxorch.servers import kill_server_at

        try:
            with contextlib.suppress(Exception):
                self.orch.tasks.stop()
            self.orch.kill()
            self.orch.close()
        finally:
            kill_server_at(self.socket)
            os.chdir("/")
            shutil.rmtree(self.work, ignore_errors=True)


def measure(dirs: list[str], count: int, rounds: int, workers: int, latency_samples: int,
            against: str | None = None) -> dict[str, Any]:
    """Interleaved rounds: for each round, xargs then the queue in each directory (and in the
    first one again without spare files; and with the install of ``against`` in each)."""
    benches = [QueueBench(base, workers) for base in dirs] + [QueueBench(dirs[0], workers, spares=False)]
    benches += [QueueBench(base, workers, python=against) for base in dirs] if against else []
    try:
        for bench in benches:
            bench.start()
        xargs: list[float] = []
        parallel: list[float] = []
        queues: list[list[float]] = [[] for _ in benches]
        for _ in range(rounds):
            xargs.append(xargs_round(count, workers))
            if shutil.which("parallel"):
                parallel.append(parallel_round(count, workers))
            for bench, samples in zip(benches, queues, strict=True):
                samples.append(bench.round(count))
        delays = benches[0].latency(latency_samples) if latency_samples else []
        idle = benches[0].idle_cpu() if latency_samples else []
    finally:
        for bench in benches:
            bench.close()
    import pytest_tmuxorch

    return {
        "tasks": count, "workers": workers, "rounds": rounds, "cpus": os.cpu_count(),
        "load": os.getloadavg(), "package": str(Path(pytest_tmuxorch.__file__).parent),
        "xargs": xargs, "parallel": parallel,
        "queues": [{"dir": str(bench.work.parent), "fs": bench.fs[0], "mount": bench.fs[1], "samples": samples,
                    "spares": bench.spares, "python": bench.python}
                   for bench, samples in zip(benches, queues, strict=True)],
        "latency": delays, "idle_cpu": idle,
    }


def report(result: dict[str, Any]) -> None:
    xargs = result["xargs"]
    x = statistics.median(xargs)
    print(f"{result['tasks']} 'true' tasks, {result['workers']} workers, {result['rounds']} rounds, "
          f"{result['cpus']} CPUs, load {' '.join(f'{n:.2f}' for n in result['load'])}")
    print(f"package imported from {result['package']}")
    print(f"  xargs -P{result['workers']} -n1 sh -c: median {x:.3f}s  rounds {', '.join(f'{r:.3f}' for r in xargs)}")
    if result["parallel"]:
        p = statistics.median(result["parallel"])
        print(f"  GNU parallel -j{result['workers']}: median {p:.3f}s  {p / x:.2f}x xargs")
    for queue in result["queues"]:
        q = statistics.median(queue["samples"])
        files = "spare files reused" if queue["spares"] else "every task file created"
        if queue["python"] != sys.executable:
            files = f"the install of {queue['python']}"
        print(f"  tmuxorch, tasks dir on {queue['fs']} ({queue['mount']}), {files}: median {q:.3f}s  {q / x:.2f}x xargs  "
              f"rounds {', '.join(f'{r:.3f}' for r in queue['samples'])}")
    delays, idle = result["latency"], result["idle_cpu"]
    if delays:
        print(f"  idle pickup latency (enqueue -> start), {len(delays)} samples: "
              f"median {statistics.median(delays) * 1e3:.1f} ms, max {max(delays) * 1e3:.1f} ms")
        print(f"  idle worker CPU over 5s: {', '.join(f'{c:.2f}%' for c in idle)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--dir", action="append", default=[], help="where to put a task queue (repeatable) "
                        "[the current directory, and a tmpfs]")
    parser.add_argument("--python", help="run under this python (its package installed) [a throwaway venv "
                        "with the package installed from this checkout, when run from the checkout]")
    parser.add_argument("--json", type=Path, help="also write the samples as JSON to this file")
    parser.add_argument("--against", metavar="PY", help="also measure the package installed for this python "
                        "(another version: its console script and worker loops), in the same rounds")
    args = parser.parse_args()
    if args.python or is_source_checkout():
        return reexec(args.python)
    with contextlib.ExitStack() as stack:
        dirs = args.dir or [os.getcwd(), str(stack.enter_context(tmpfs_dir()))]
        result = measure(dirs, args.tasks, args.rounds, args.workers, args.latency_samples, args.against)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result))
    return 0


def reexec(python: str | None) -> int:
    """Run this script again under ``python``, or under a fresh non-editable install."""
    argv = [a for i, a in enumerate(sys.argv[1:]) if a != "--python" and sys.argv[i:i + 1] != ["--python"]]
    with tempfile.TemporaryDirectory(prefix="txo-bench-venv-") as venv:
        if python is None:
            print(f"installing the package (non-editable) into a throwaway venv in {venv}", file=sys.stderr)
            python = install_venv(Path(venv))
        return subprocess.run([python, __file__, *argv], cwd=os.getcwd()).returncode


if __name__ == "__main__":
    raise SystemExit(main())
