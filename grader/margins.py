"""How much of its tolerance correct code uses: `python -m grader margins [TOPIC]`.

A tolerance is only honest if correct code written any valid way stays well inside it (docs/design.md
rule 5). This module measures that on the real suites, not on a copy of their cases: a pytest plugin
(`--kata-margins FILE`, registered by grader/pytest_plugin.py) wraps `grader.checks.check_tensor`,
`torch.allclose` and `torch.isclose` before the test modules import them and records, for every
comparison that passes, the share of its tolerance the result used,

    share = max over elements of |got - expected| / (atol + rtol * |expected|)

(0 for an exact match; above 1 the check fails). Per test it keeps the worst share. `python -m
grader margins` runs every topic's suites on the reference and on each alternative of
tests/<topic>/mutants.py (correct code written another way) and prints, per test, the worst share
any of them used; `python -m grader check` reads the same records from the runs it makes anyway,
prints the worst per topic, and fails when a correct variant uses more than LIMIT of a tolerance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

LIMIT = 0.5  # a correct variant may use at most half a tolerance: room for the next valid way


def share(actual, expected, rtol: float, atol: float) -> float | None:
    """The share of the tolerance `actual` uses against `expected`, or None when they cannot be
    compared element by element (not tensors, other shapes)."""
    if not isinstance(actual, torch.Tensor) or not isinstance(expected, torch.Tensor):
        return None
    if actual.shape != expected.shape or actual.numel() == 0:
        return None
    if actual.is_complex() or expected.is_complex() or actual.dtype == torch.bool:
        return None
    got = actual.detach().to(torch.float64)
    want = expected.detach().to(torch.float64)
    finite = torch.isfinite(want) & torch.isfinite(got)
    if not bool(finite.any()):
        return 0.0
    allowed = atol + rtol * want[finite].abs()
    error = (got[finite] - want[finite]).abs()
    exact = error == 0
    ratio = torch.where(exact, torch.zeros_like(error), error / allowed.clamp_min(1e-300))
    value = float(ratio.max())
    return value if math.isfinite(value) else float("inf")


class Recorder:
    """pytest plugin: the worst share per test node id, written to `path` at the end."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.current = ""
        self.worst: dict[str, float] = {}

    def note(self, value: float | None) -> None:
        if value is not None and self.current:
            self.worst[self.current] = max(self.worst.get(self.current, 0.0), value)

    def pytest_configure(self, config):
        """Wrap the comparisons the suites make: grader.checks.check_tensor, torch.allclose and
        torch.isclose. Only comparisons that pass are recorded (a suite also compares things it
        expects to differ; correct code never fails a check, or the check itself fails)."""
        import grader.checks as checks

        recorder = self
        original_check, original_allclose, original_isclose = checks.check_tensor, torch.allclose, torch.isclose

        def tolerances(args, kwargs):
            rtol = kwargs.get("rtol", args[0] if len(args) > 0 else 1e-05)
            atol = kwargs.get("atol", args[1] if len(args) > 1 else 1e-08)
            return float(rtol), float(atol)

        def recording_check_tensor(actual, expected, *args, **kwargs):
            result = original_check(actual, expected, *args, **kwargs)  # raises when it fails
            recorder.note(share(actual, expected, kwargs.get("rtol", 0.0), kwargs.get("atol", 0.0)))
            return result

        def recording_allclose(input, other, *args, **kwargs):
            result = original_allclose(input, other, *args, **kwargs)
            if result:
                recorder.note(share(input, other, *tolerances(args, kwargs)))
            return result

        def recording_isclose(input, other, *args, **kwargs):
            result = original_isclose(input, other, *args, **kwargs)
            if bool(result.all()):
                recorder.note(share(input, other, *tolerances(args, kwargs)))
            return result

        checks.check_tensor = recording_check_tensor
        torch.allclose = recording_allclose
        torch.isclose = recording_isclose

    def pytest_runtest_setup(self, item):
        self.current = item.nodeid

    def pytest_sessionfinish(self, session):
        self.path.write_text(json.dumps(self.worst, indent=1, sort_keys=True))


def read(path: Path) -> dict[str, float]:
    """The records one run wrote ({} when the run wrote none)."""
    try:
        return {str(k): float(v) for k, v in json.loads(Path(path).read_text()).items()}
    except (OSError, ValueError):
        return {}


def worst_per_test(runs: dict[str, dict[str, float]]) -> dict[str, tuple[float, str]]:
    """{test: (worst share, which variant)} over several runs ({variant: records})."""
    worst: dict[str, tuple[float, str]] = {}
    for variant, records in runs.items():
        for test, value in records.items():
            if test not in worst or value > worst[test][0]:
                worst[test] = (value, variant)
    return worst


def run(topics: list[str], show_all: bool = True) -> int:
    """`python -m grader margins`: run the suites on the reference and every alternative and print
    the worst share per test (all tests, or only the worst per topic). Exit 1 above LIMIT."""
    import importlib
    import tempfile

    from grader import paths, runner, stubs
    from grader.mistakes import apply_patch

    status = 0
    with tempfile.TemporaryDirectory(prefix="kata-margins-") as tmp:
        for topic in topics:
            reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
            module = importlib.import_module(f"tests.{topic}.mutants")
            folders = {"reference": str(paths.SOLUTIONS)}
            for item in getattr(module, "ALTERNATIVES", []):
                folder = Path(tmp) / topic / item.id
                folder.mkdir(parents=True)
                (folder / f"{topic}.py").write_text(
                    stubs.strip_markers(apply_patch(reference, item.patch, f"{topic} alternative {item.id}"))
                )
                folders[item.id] = str(folder)
            runs = {}
            for variant, folder in folders.items():
                target = Path(tmp) / f"{topic}-{variant}.json"
                runner.run_subprocess(topic, folder, "all", extra=(f"--kata-margins={target}",))
                runs[variant] = read(target)
            worst = worst_per_test(runs)
            if show_all:
                for test, (value, variant) in sorted(worst.items(), key=lambda kv: -kv[1][0]):
                    print(f"{topic:10} {value:7.3f}  {variant:24} {test}")
            top = max(worst.items(), key=lambda kv: kv[1][0], default=None)
            if top is None:
                print(f"{topic}: no tolerance comparisons (its checks are exact)")
                continue
            test, (value, variant) = top
            flag = "" if value <= LIMIT else f"  ABOVE {LIMIT:g}"
            print(f"{topic}: worst margin {value:.3f} of a tolerance ({variant}, {test}){flag}")
            if value > LIMIT:
                status = 1
    return status
