"""A short tour of pytest-tmuxorch: an isolated tmux server, four workers, a barrier, the task queue.

    python examples/demo.py            # runs in a few seconds, then tears everything down
    python examples/demo.py --keep     # leaves the session running and prints how to attach

Everything happens on a private tmux server (its own socket, its own config): your own tmux
sessions and ~/.tmux.conf are never touched.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import threading
from pathlib import Path

from pytest_tmuxorch import Orchestrator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave the session running at the end")
    keep = parser.parse_args().keep
    work = Path(tempfile.mkdtemp(prefix="tmuxorch-demo-"))
    orch = Orchestrator(socket=f"tmuxorch-demo-{work.name[-8:]}", session="demo", workers=4,
                        shell="clean", tasks_dir=str(work / "tasks"), logs_dir=str(work / "logs"))
    try:
        orch.init()
        print(f"1. session 'demo' up: master + {len(orch.workers)} workers on socket {orch.address!r}")

        orch.logs_on()
        orch.run_all("echo hello from worker $TMUX_PANE; uname -s")
        for pane in orch.workers:
            pane.wait_for(re.compile(r"^hello from worker %\d+$", re.M), timeout=10)
        print("2. run_all typed a command into every worker; each one answered")

        result = orch.worker(2).run("printf '%s\\n' 'quotes, $dollars; and semicolons;' | wc -c")
        print(f"3. worker 2 ran a command to completion: exit {result.exit_code}, output {result.output.strip()!r}")

        waiter = threading.Thread(target=orch.barrier_wait, args=("phase1",), kwargs={"timeout": 10})
        waiter.start()
        orch.run_one(0, "sleep 0.3; " + " ".join(orch.tmux.base_argv()) + " wait-for -S phase1")
        waiter.join()
        print("4. barrier 'phase1' was signalled from worker 0 (tmux wait-for) and the master went on")

        tasks = orch.tasks
        tasks.start()
        ids = [tasks.enqueue(f"echo task {n} ran in worker $TMUXORCH_WORKER; sleep 0.{n}").id for n in range(6)]
        ids.append(tasks.enqueue(["python3", "-c", "import sys; sys.exit(3)"], id="fails-on-purpose").id)
        finished = tasks.wait(ids, timeout=30)
        ok = [task for task in finished if task.ok]
        print(f"5. task queue: {len(finished)} tasks ran through 4 worker loops: {len(ok)} succeeded, "
              f"{len(finished) - len(ok)} failed on purpose; first log: {tasks.tail(ids[0]).strip()!r}")
        tasks.stop()

        paths = orch.capture(work / "snapshots")
        orch.logs_off()
        print(f"6. captured {len(paths)} panes' scrollback to {work / 'snapshots'}; timestamped logs in {work / 'logs'}")
    finally:
        if keep:
            print("session kept; attach with:\n  " + " ".join(orch.attach_argv()))
        else:
            orch.kill()
            print("7. torn down: session, server and socket are gone")


if __name__ == "__main__":
    main()
