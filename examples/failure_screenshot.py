"""Make docs/failure.svg, the README's picture of a failed test, with the package itself.

    python examples/failure_screenshot.py [OUTPUT]

Writes a small test suite to a temporary folder, whose one test runs real programs (``ls`` and
``grep`` with their colours) in a pane at 90x14 and then waits for text that never comes; runs
it with pytest in a subprocess, as a user would, with ``--tmuxorch-artifacts``; and copies the
failed test's screenshot of that pane to OUTPUT (default: docs/failure.svg next to this folder).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SUITE = '''
import pytest

@pytest.mark.tmuxorch(workers=1, size=(90, 14))
def test_the_build_log_is_clean(tmuxorch, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "build.sh").write_text("#!/bin/sh\\n")
    (tmp_path / "build.sh").chmod(0o755)
    (tmp_path / "build.log").write_text(
        "compiling parser.c\\ncompiling lexer.c\\nlexer.c:42: error: expected ';' before '}'\\n"
        "linking tmuxorch-demo\\nError: 1 target failed\\n"
    )
    pane = tmuxorch.worker(0)
    pane.run(f"cd {tmp_path} && clear")
    pane.send("ls --color=always -F && grep --color=always -n -i error build.log")
    pane.wait_for("0 errors", timeout=1)
'''


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "failure.svg"
    work = Path(tempfile.mkdtemp(prefix="txo-shot-"))
    try:
        (work / "test_build.py").write_text(SUITE)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tmuxorch-artifacts=evidence",
             "--tmuxorch-record=off", "test_build.py"],
            cwd=work, capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(work)},
        )
        shots = sorted((work / "evidence").glob("*/tmuxorch-worker-0.svg"))
        if done.returncode != 1 or not shots:
            print(done.stdout + done.stderr, file=sys.stderr)
            return 1
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots[0], target)
        print(target)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
