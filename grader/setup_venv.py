"""Create `.venv` and install requirements.txt into it, once.

Run by the Makefile with the system Python (3.11 or newer) before any other target; it must not
import torch or anything outside the standard library. Rules:

- A torch that the system Python can already import is kept: the venv then sees the system
  site-packages and torch is not installed again.
- Otherwise torch is installed as pinned in requirements.txt (`torch==2.13.0`, a local CPU wheel on
  the project's machines; any other specifier would download gigabytes of CUDA packages).
- A stamp file records a hash of requirements.txt; a second run with the same file does nothing.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".kata-ready"


def say(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def fail(msg: str) -> NoReturn:  # noqa: F821
    print(f"[setup] error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def venv_python() -> Path:
    return VENV / "bin" / "python"


def can_import(python: str | Path, module: str) -> bool:
    result = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
    return result.returncode == 0


def main() -> None:
    if STAMP.exists() and STAMP.read_text().strip() == requirements_hash() and venv_python().exists():
        return  # already set up: nothing to install

    system_torch = can_import(sys.executable, "torch")
    if not venv_python().exists():
        say(f"creating {VENV.name} ({'sharing the system torch' if system_torch else 'fresh'})")
        venv.EnvBuilder(with_pip=True, system_site_packages=system_torch).create(VENV)

    wanted = [
        line.strip()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if can_import(venv_python(), "torch"):
        wanted = [req for req in wanted if not req.replace(" ", "").startswith("torch")]
        say("torch is already importable: keeping it")
    say("installing " + ", ".join(wanted))
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run([str(venv_python()), "-m", "pip", "install", "--quiet", *wanted], env=env)
    if result.returncode != 0:
        fail(
            "pip could not install the requirements (see above). Nothing else was changed; "
            "fix the cause and run make again."
        )
    STAMP.write_text(requirements_hash() + "\n")
    say("ready")


if __name__ == "__main__":
    main()
