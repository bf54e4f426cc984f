"""Comparisons that fail with a sentence a learner can act on (docs/design.md rules 5 and 7).

Order of checks: type, shape, dtype, non-finite values, then values with the worst element, its
index and its error. Every call states its tolerance and why. When the learner's output is close to
what a known mistake would produce, the message names that mistake.

Functions used here are bound when this module is imported, before any learner code runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
import torch

from grader.mistakes import Mistake

_Tensor = torch.Tensor
_isfinite = torch.isfinite
_isnan, _isposinf, _isneginf = torch.isnan, torch.isposinf, torch.isneginf
_argmax = torch.argmax
_unravel = torch.unravel_index
_equal = torch.equal
_fail = pytest.fail


def _same_nonfinite(a: _Tensor, e: _Tensor) -> bool:
    """NaN, +inf and -inf at exactly the same places."""
    return _equal(_isnan(a), _isnan(e)) and _equal(_isposinf(a), _isposinf(e)) and _equal(_isneginf(a), _isneginf(e))


def fail(message: str) -> None:
    """Fail the current test with `message` and no harness traceback."""
    _fail(message, pytrace=False)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _fmt_pair(got: float, expected: float) -> tuple[str, str]:
    """`got` and `expected` as short as 6 significant digits allow, with more digits (up to 17,
    enough to tell any two float64 apart) while the two strings would read the same although the
    values differ: "got 1.9000001, expected 1.9", never "got 1.9, expected 1.9"."""
    for digits in range(6, 18):
        g, e = f"{got:.{digits}g}", f"{expected:.{digits}g}"
        if g != e or got == expected or (got != got and expected != expected):
            break
    return g, e


def is_close(actual, expected: _Tensor, rtol: float, atol: float) -> bool:
    """True when `actual` is a tensor of the same shape and dtype, equal within the tolerance
    (NaN where `expected` is NaN, the same infinities)."""
    if not isinstance(actual, _Tensor):
        return False
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return False
    a, e = actual.detach().double(), expected.detach().double()
    finite_e = _isfinite(e)
    if not _same_nonfinite(a, e):
        return False
    return bool(((a - e)[finite_e].abs() <= atol + rtol * e[finite_e].abs()).all())


Near = Iterable[tuple[Mistake, _Tensor]] | Callable[[], Iterable[tuple[Mistake, _Tensor]]]


def matching_mistakes(actual: _Tensor, near: Near, rtol: float, atol: float) -> list[Mistake]:
    """The mistakes whose predicted output `actual` matches within the same tolerance.

    `near` is a list of (mistake, predicted output) pairs, or a function returning one (called
    only when a check fails, so that predicting the mistakes costs nothing on a correct answer).
    """
    found = []
    for mistake, predicted in near() if callable(near) else near:
        if isinstance(predicted, _Tensor) and is_close(actual, predicted.to(actual.dtype), rtol, atol):
            found.append(mistake)
    return found


def _mistake_note(found: list[Mistake]) -> str:
    if not found:
        return ""
    return "\n" + "\n".join(m.sentence() for m in found)


def check_tensor(
    actual,
    expected: _Tensor,
    *,
    name: str,
    case: str,
    rtol: float,
    atol: float,
    near: Near = (),
) -> None:
    """Fail unless `actual` is a tensor equal to `expected` within `atol + rtol * |expected|`.

    Args:
        name: what the value is, in the learner's words ("new_param returned by adam_step").
        case: the input case in words ("float32, shape (3, 4), step 1, weight_decay 0.1").
        near: pairs (mistake, the output that mistake would give) for naming a near miss, or a
            function returning them (evaluated only on failure).
    """
    where = f"{name}, for {case}"
    if not isinstance(actual, _Tensor):
        fail(f"{where}: expected a torch.Tensor, got {type(actual).__name__} ({actual!r:.80}).")
    if actual.shape != expected.shape:
        fail(f"{where}: wrong shape {tuple(actual.shape)}, expected {tuple(expected.shape)}.")
    if actual.dtype != expected.dtype:
        fail(f"{where}: wrong dtype {actual.dtype}, expected {expected.dtype} (results keep the dtype of the inputs).")
    a, e = actual.detach().double(), expected.detach().double()
    bad_finite = _isfinite(e) & ~_isfinite(a)
    if bool(bad_finite.any()):
        found = matching_mistakes(actual, near, rtol, atol)
        index = tuple(int(i) for i in _unravel(_argmax(bad_finite.to(torch.uint8)), a.shape))
        got, want = _fmt_pair(float(a[index]), float(e[index]))
        fail(
            f"{where}: {int(bad_finite.sum())} of {a.numel()} values are NaN or infinite where "
            f"finite values are expected; first at index {index}: got {got}, "
            f"expected {want}." + _mistake_note(found)
        )
    if a.numel() == 0:
        return
    # Non-finite expected values must be matched exactly (inf by inf of the same sign, NaN by NaN).
    if not _same_nonfinite(a, e):
        fail(
            f"{where}: where the expected value is infinite or NaN, the output differs "
            "(NaN must stay NaN, inf must stay inf of the same sign)."
            + _mistake_note(matching_mistakes(actual, near, rtol, atol))
        )
    finite = _isfinite(e)
    error = (a - e).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0).abs()
    allowed = atol + rtol * e.nan_to_num(nan=0.0, posinf=0.0, neginf=0.0).abs()
    excess = torch.where(finite, error - allowed, torch.zeros_like(error))
    if bool((excess > 0).any()):
        found = matching_mistakes(actual, near, rtol, atol)
        flat = int(_argmax(excess))
        index = tuple(int(i) for i in _unravel(torch.tensor(flat), a.shape))
        count = int((excess > 0).sum())
        got, want = _fmt_pair(float(a[index]), float(e[index]))
        fail(
            f"{where}: {count} of {a.numel()} values are wrong beyond the tolerance "
            f"(|got - expected| <= {atol:g} + {rtol:g} * |expected|). Worst at index {index}: "
            f"got {got}, expected {want}, "
            f"error {_fmt(float(error[index]))}." + _mistake_note(found)
        )


def check_unchanged(before: _Tensor, after, *, name: str, call: str, mistake: Mistake | None = None) -> None:
    """Fail if a tensor passed to learner code was modified in place."""
    same = (
        isinstance(after, _Tensor)
        and after.shape == before.shape
        and after.dtype == before.dtype
        and _same_nonfinite(after, before)
        and _equal(after[_isfinite(before)], before[_isfinite(before)])
    )
    if not same:
        note = ("\n" + mistake.sentence()) if mistake else ""
        fail(
            f"{call} modified its argument {name} in place; it must return new tensors and leave "
            f"its inputs as they were." + note
        )


def check_tuple(result, length: int, *, name: str) -> tuple:
    """Fail unless `result` is a tuple (or list) of `length` items; return it as a tuple."""
    if not isinstance(result, (tuple, list)) or len(result) != length:
        got = (
            f"a {type(result).__name__} of {len(result)} items"
            if isinstance(result, (tuple, list))
            else f"{type(result).__name__}"
        )
        fail(f"{name} should return a tuple of {length} items, got {got}.")
    return tuple(result)
