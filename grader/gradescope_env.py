"""`python -m grader.gradescope_env`: the last line of the Gradescope bundle's setup.sh.

It reports what the autograder image holds (Python, torch, pytest) and whether bubblewrap can build
the grader's sandbox there, and exits 1 (failing the image build, where the instructor sees it) if
torch, pytest or the grader cannot be imported. Without bubblewrap grading still works, with
resource limits and the seccomp filter only (docs/grading.md), so that is a warning, not a failure.
"""

from __future__ import annotations

import platform
import sys


def main() -> int:
    try:
        import pytest
        import torch

        from grader import catalog, sandbox
    except ImportError as exc:
        print(f"setup check: the autograder image cannot import {exc.name}: setup.sh did not finish its installs.")
        return 1
    bwrap = sandbox.bwrap_usable()
    print(
        f"setup check: Python {platform.python_version()}, torch {torch.__version__}, pytest {pytest.__version__}, "
        f"{len(catalog.names())} topics; bubblewrap: "
        + (f"usable ({bwrap})" if bwrap else "NOT usable (submissions run with limits and seccomp only)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
