"""The instructor extras (requirements-instructor.txt: nbgrader), installed into .venv on first use.

Like grader/setup_venv.py installs requirements.txt: the first command that needs nbgrader (`make
nbgrader`, `make check`'s round trip, `--to-gradebook`) says so in one line and runs pip once; a stamp
holding a hash of the file makes later runs do nothing. Learners never need it: `make notebooks`
writes plain notebooks without nbgrader.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from grader import paths

REQUIREMENTS = paths.ROOT / "requirements-instructor.txt"


class InstallError(RuntimeError):
    """pip could not install the extras; the message says what to do."""


def _stamp() -> Path:
    return Path(sys.prefix) / ".kata-instructor-ready"


def _hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def _importable() -> bool:
    """Whether nbgrader can be imported (found, not imported: that costs seconds)."""
    try:
        return importlib.util.find_spec("nbgrader") is not None
    except (ImportError, ValueError):
        return False


def ensure(why: str) -> None:
    """Make nbgrader importable in this Python, installing requirements-instructor.txt if needed."""
    stamp = _stamp()
    if stamp.is_file() and stamp.read_text().strip() == _hash() and _importable():
        return
    wanted = [
        line.strip()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    print(
        f"[setup] {why} needs the instructor extras: installing {', '.join(wanted)} into "
        f"{Path(sys.prefix).name} (once; about 100 packages, ~20 s from a local index)",
        flush=True,
    )
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)]
    result = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)
    if result.returncode != 0:
        raise InstallError(
            f"pip could not install {REQUIREMENTS.name} (see above); fix the cause and run the command again."
        )
    importlib.invalidate_caches()
    if not _importable():
        raise InstallError(f"nbgrader is still not importable after installing {REQUIREMENTS.name}.")
    stamp.write_text(_hash() + "\n")
    print("[setup] instructor extras ready", flush=True)


def nbgrader_command() -> list[str]:
    """How to run the nbgrader command line with this Python."""
    return [sys.executable, "-m", "nbgrader"]
