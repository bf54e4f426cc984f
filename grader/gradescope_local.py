"""The Gradescope bundle run the way Gradescope runs it, on this machine, touching nothing on it.

`Autograder(bundle, workdir)` unzips the bundle (grader/gradescope.py) into workdir/autograder/source
and runs its scripts in a bubblewrap mount namespace where workdir/autograder is /autograder: the
machine's system folders are there read-only, the project's own folder is not there at all (so the
bundle cannot lean on a file it does not ship), /tmp is private, and the project's virtual
environment stands in, read-only, for the `.venv` that setup.sh installs (it is bound at
/autograder/source/.venv, where run_autograder looks for it). The environment is cleared, as in a
fresh container. `setup()` runs setup.sh with KATA_GS_SKIP_PACKAGES=1 (only the apt-get and pip
lines are skipped: this machine has no network to reach them); `grade(files)` lays out
/autograder/submission and /autograder/results afresh, runs run_autograder and returns the parsed
results.json. grader/tests/test_gradescope_run.py uses it; an instructor can too, to try a bundle
before uploading it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from grader import paths, sandbox

ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}


class NamespaceError(RuntimeError):
    """The namespace cannot be built here (no bubblewrap, or not a virtual environment)."""


def _outside_project(entry: Path) -> bool:
    root = paths.ROOT.resolve()
    return not (root == entry or root.is_relative_to(entry))


class Autograder:
    def __init__(self, bundle: Path, workdir: Path):
        self.bwrap = sandbox.find_bwrap()
        if not self.bwrap:
            raise NamespaceError("bubblewrap (bwrap) is not installed here.")
        if sys.prefix == sys.base_prefix:
            raise NamespaceError("the grader must run from a virtual environment (it stands in for setup.sh's .venv).")
        self.root = workdir / "autograder"
        source = self.root / "source"
        source.mkdir(parents=True)
        with zipfile.ZipFile(bundle) as archive:
            for info in archive.infolist():
                archive.extract(info, source)
                mode = info.external_attr >> 16
                if mode & 0o111:
                    os.chmod(source / info.filename, 0o755)
        (source / ".venv").mkdir()

    def _command(self, script: str) -> list[str]:
        cmd = [self.bwrap, "--clearenv", "--die-with-parent"]
        for key, value in ENV.items():
            cmd += ["--setenv", key, value]
        for entry in sorted(Path("/").iterdir()):
            if entry.name in ("proc", "dev", "tmp", "autograder") or entry.is_file() and not entry.is_symlink():
                continue
            if entry.is_symlink():
                cmd += ["--symlink", os.readlink(entry), str(entry)]
            elif entry.is_dir() and _outside_project(entry):
                cmd += ["--ro-bind", str(entry), str(entry)]
        for needed in {sys.base_prefix, sys.base_exec_prefix}:  # the venv's interpreter, wherever it lives
            if not _outside_project(Path(needed).parents[-2]):
                cmd += ["--ro-bind", needed, needed]
        cmd += [
            "--dev",
            "/dev",
            # the machine's /proc, not a new one: a fresh proc mount here would stop the grader's own
            # sandbox (bubblewrap inside) from mounting its /proc
            "--bind",
            "/proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            "--bind",
            str(self.root),
            "/autograder",
            "--ro-bind",
            sys.prefix,
            "/autograder/source/.venv",
            "--cap-add",
            "ALL",  # root in the container, as on Gradescope: the grader's sandbox needs it to start
            "--chdir",
            "/autograder/source",
            "bash",
            script,
        ]
        return cmd

    def setup(self, timeout: float = 300) -> subprocess.CompletedProcess:
        """setup.sh, its package manager lines skipped."""
        cmd = self._command("/autograder/source/setup.sh")
        cmd[cmd.index("--clearenv") + 1 : cmd.index("--clearenv") + 1] = ["--setenv", "KATA_GS_SKIP_PACKAGES", "1"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def grade(self, files: dict[str, str], timeout: float = 900) -> tuple[dict | None, subprocess.CompletedProcess]:
        """run_autograder on a submission of `files` ({name: text}); (results.json or None, the run)."""
        for name in ("submission", "results"):
            shutil.rmtree(self.root / name, ignore_errors=True)
            (self.root / name).mkdir()
        for name, text in files.items():
            (self.root / "submission" / name).write_text(text, encoding="utf-8")
        proc = subprocess.run(
            self._command("/autograder/source/run_autograder"), capture_output=True, text=True, timeout=timeout
        )
        path = self.root / "results" / "results.json"
        return (json.loads(path.read_text()) if path.is_file() else None), proc
