"""How close correct implementations come to the tolerances: `python -m tests.rnn.margins`.

Runs the whole suite (public and hidden) on the reference and on every alternative of mutants.py,
recording every comparison the driver makes, and prints the worst
|got - expected| / (atol + rtol * |expected|) per kind of comparison: 1.0 would be a false
failure. Project-only (it reads mutants.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

from grader import checks, paths
from grader.mistakes import correct_variants
from tests.rnn import driver
from tests.rnn.mutants import ALTERNATIVES

worst: dict[str, tuple[float, str]] = {}


def _record(actual, expected, rtol, atol) -> None:
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return
    a, e = actual.detach().double(), expected.detach().double()
    finite = torch.isfinite(e)
    if not bool(finite.any()):
        return
    ratio = float(((a - e).abs() / (atol + rtol * e.abs()))[finite].max())
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" (")[0]
    kind = test.split("[")[0]
    if ratio > worst.get(kind, (-1.0, ""))[0]:
        worst[kind] = (ratio, test)


def _isclose(actual, expected, rtol, atol, **kw):
    _record(actual, expected, rtol, atol)
    return torch.isclose(actual, expected, rtol=rtol, atol=atol, **kw)


def _check_tensor(actual, expected, *, rtol, atol, **kw):
    _record(actual, expected, rtol, atol)
    return checks.check_tensor(actual, expected, rtol=rtol, atol=atol, **kw)


def main() -> None:
    driver._isclose = _isclose
    driver.check_tensor = _check_tensor
    variants = correct_variants("rnn", ALTERNATIVES)
    files = [str(paths.topic_tests("rnn") / n) for n in ("test_public.py", "test_hidden.py")]
    with tempfile.TemporaryDirectory() as tmp:
        for name, code in variants.items():
            folder = Path(tmp) / name
            folder.mkdir()
            (folder / "rnn.py").write_text(code)
            worst.clear()
            status = pytest.main(
                [*files, f"--impl={folder}", "-q", "-p", "no:cacheprovider", f"--rootdir={paths.ROOT}"]
            )
            print(f"\n{name}: suite exit status {status}; worst share of the tolerance used:")
            for kind, (ratio, test) in sorted(worst.items()):
                print(f"  {kind:48} {ratio:8.4f}   ({test})")


if __name__ == "__main__":
    main()
