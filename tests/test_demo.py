"""The README's first command runs examples/demo.py: keep it working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_demo_runs_and_cleans_up(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "examples" / "demo.py")], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    steps = [line.split(".", 1)[0] for line in done.stdout.splitlines() if line[:1].isdigit()]
    assert steps == ["1", "2", "3", "4", "5", "6", "7"], done.stdout
    assert "6 succeeded, 1 failed on purpose" in done.stdout
    assert "output '34'" in done.stdout
    sockets = Path(os.environ["TMUX_TMPDIR"], f"tmux-{os.getuid()}")
    assert not [p for p in sockets.glob("tmuxorch-demo-*")], "the demo's server socket is gone"
