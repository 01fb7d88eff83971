"""Install the package as a user gets it, for benchmarks: non-editable, in a throwaway venv.

    from install import installed, previous_release
    python = installed()                      # this checkout, built and installed (pip install .)
    old = installed(previous_release())       # the previous release, from git history

The venvs live under ``$TMPDIR/tmuxorch-bench/`` and are rebuilt when the source changed (a
digest of its files names the venv), so repeated benchmark runs start fast.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The first release (365 tests, before shell integration and the redesign): what "today" meant
# when the interaction and speed issues were measured.
PREVIOUS_RELEASE = "574c972"
EXTRA = ["pytest-xdist>=3.5"]


def _digest(source: Path) -> str:
    digest = hashlib.sha256()
    skipped = {".venv", "__pycache__", ".git"}
    wanted = {".py", ".toml", ".bash", ".sh", ".conf", ".typed", ".md"}
    for path in sorted(source.rglob("*")):
        if path.is_file() and not skipped & set(path.parts) and path.suffix in wanted:
            digest.update(str(path.relative_to(source)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def installed(source: Path = REPO, name: str = "current") -> Path:
    """A venv with ``source`` installed non-editable (and pytest-xdist); returns its python."""
    root = Path(tempfile.gettempdir(), "tmuxorch-bench", f"{name}-{_digest(source)}")
    python = root / "bin" / "python"
    if python.exists():
        return python
    for stale in root.parent.glob(f"{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(source), *EXTRA], check=True)
    # byte-compile as pip does for a wheel, so the first start-up is not slower than the others
    subprocess.run([str(python), "-m", "compileall", "-q", str(root / "lib")], check=False)
    return python


def previous_release(ref: str = PREVIOUS_RELEASE) -> Path:
    """The package as it was at ``ref``, extracted from git into a temporary directory."""
    target = Path(tempfile.gettempdir(), "tmuxorch-bench", f"source-{ref}")
    if not (target / "pyproject.toml").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target
