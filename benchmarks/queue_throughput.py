"""Task queue benchmark: 1000 ``true`` tasks through 4 worker loops in tmux panes, end to end
(``tmuxorch tasks-enqueue --stdin`` until every task is filed), against ``xargs -P4 -n1 sh -c``
running the same 1000 commands in the same run; plus idle pickup latency and idle worker CPU.

    .venv/bin/python benchmarks/queue_throughput.py [--tasks 1000] [--rounds 3] [--workers 4]

Runs on a private tmux server (its own socket) and a temporary directory; removes both.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch.servers import kill_server_at, new_socket_path


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[-1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def queue_round(orch: Orchestrator, env: dict[str, str], count: int) -> tuple[float, float]:
    """Seconds from the start of the enqueue to the last task filed; and the enqueue alone."""
    lines = "true\n" * count
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest_tmuxorch", "tasks-enqueue", "--stdin"], env=env,
                          input=lines, capture_output=True, text=True, check=True)
    enqueued = time.monotonic()
    ids = done.stdout.split()
    finished = orch.tasks.wait(ids, timeout=600)
    total = time.monotonic() - started
    bad = [task for task in finished if not task.ok]
    if len(finished) != count or bad:
        raise SystemExit(f"benchmark broken: {len(finished)} finished, {len(bad)} failed")
    orch.tasks.clean(keep=0)
    return total, enqueued - started


def xargs_round(count: int, workers: int) -> float:
    started = time.monotonic()
    subprocess.run(["xargs", f"-P{workers}", "-n1", "sh", "-c"], input="true\n" * count, text=True, check=True)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--dir", default=".", help="where to make the temporary task queue [current directory, "
                        "like the default var/tmux/<session>/tasks]")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="txo-bench-", dir=args.dir)).absolute()
    socket = new_socket_path()
    settings = Settings(socket_path=socket, shell="bash", workers=args.workers, timeout=30.0,
                        tasks_dir=str(work / "tasks"), logs_dir=str(work / "logs"))
    env = dict(os.environ, TMUXORCH_SOCKET_PATH=socket, TMUXORCH_TASKS_DIR=settings.tasks_dir or "")
    orch = Orchestrator(settings)
    try:
        orch.init()
        queue = orch.tasks
        queue.start()
        pids = [int(info["pid"]) for info in queue.live_workers()]

        # idle pickup latency: enqueue one task at a random moment, measure enqueue -> start
        delays = []
        for _ in range(args.latency_samples):
            time.sleep(random.uniform(0.05, 0.15))
            task = queue.enqueue("true")
            (record,) = queue.wait([task.id], timeout=30)
            delays.append((record.started or 0.0) - (record.created or 0.0))
        queue.clean(keep=0)

        # idle CPU of the worker loops
        before = {pid: cpu_ticks(pid) for pid in pids}
        idle_seconds = 5.0
        time.sleep(idle_seconds)
        hz = os.sysconf("SC_CLK_TCK")
        idle_cpu = [100.0 * (cpu_ticks(pid) - before[pid]) / hz / idle_seconds for pid in pids]

        results_q, results_x, enqueue_times = [], [], []
        for _ in range(args.rounds):
            total, enqueue = queue_round(orch, env, args.tasks)
            results_q.append(total)
            enqueue_times.append(enqueue)
            results_x.append(xargs_round(args.tasks, args.workers))
        queue.stop()
    finally:
        orch.kill()
        orch.close()
        kill_server_at(socket)
        shutil.rmtree(work, ignore_errors=True)

    q, x = statistics.median(results_q), statistics.median(results_x)
    print(f"queue in {work}")
    print(f"{args.tasks} 'true' tasks, {args.workers} workers, {args.rounds} rounds, {os.cpu_count()} CPUs")
    print(f"  tmuxorch queue (enqueue --stdin .. all filed): median {q:.3f}s  {args.tasks / q:.0f} tasks/s  "
          f"rounds {', '.join(f'{r:.3f}' for r in results_q)}  (enqueue alone: median {statistics.median(enqueue_times):.3f}s)")
    print(f"  xargs -P{args.workers} -n1 sh -c:                   median {x:.3f}s  {args.tasks / x:.0f} tasks/s  "
          f"rounds {', '.join(f'{r:.3f}' for r in results_x)}")
    print(f"  ratio queue/xargs: {q / x:.2f}x")
    print(f"  idle pickup latency (enqueue -> start), {len(delays)} samples: median {statistics.median(delays) * 1e3:.1f} ms, "
          f"max {max(delays) * 1e3:.1f} ms")
    print(f"  idle worker CPU over {idle_seconds:g}s: {', '.join(f'{c:.2f}%' for c in idle_cpu)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
