"""The test kit every topic's suite shares: seeded inputs, tolerances that carry their reason,
oracles' plumbing (autograd backward, float64 central differences), checks of several outputs at
once that name a known mistake only when it explains all of them, and readable parametrised cases.

Conventions:
- Random inputs are drawn in float64 from a seeded generator, scaled, then cast to the requested
  dtype: a float32 case holds the float64 case's values rounded, and a case is the same on every
  machine and every run.
- A tolerance is `Tol(rtol, atol, why)`; it unpacks as `**tol` into `grader.checks.check_tensor`
  (`|got - expected| <= atol + rtol * |expected|`), and its reason stays next to the numbers.
- Tensors crossing the `impl` boundary are data (docs/design.md rule 8): helpers here never rely on
  a learner's function modifying what it is given.

Functions used here are bound when this module is imported, before any learner code runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
import torch

from grader.checks import check_tensor, check_tuple, check_unchanged, fail, is_close
from grader.mistakes import Mistake

F64, F32 = torch.float64, torch.float32
_Tensor = torch.Tensor
_Generator = torch.Generator
_randn, _rand, _zeros_like = torch.randn, torch.rand, torch.zeros_like
_grad = torch.autograd.grad

Seed = int | str | torch.Generator


# ---------------------------------------------------------------------------------------------------
# Seeded inputs


def generator(seed: int | str) -> torch.Generator:
    """A torch.Generator seeded from an int, or from a case's name (its CRC-32: stable across runs,
    machines and Python versions, unlike hash())."""
    if isinstance(seed, str):
        seed = zlib.crc32(seed.encode())
    return _Generator().manual_seed(int(seed))


def _gen(seed: Seed) -> torch.Generator:
    return seed if isinstance(seed, _Generator) else generator(seed)


def randn(shape: Sequence[int], seed: Seed, dtype: torch.dtype = F64, scale: float = 1.0) -> torch.Tensor:
    """Normal values of `shape`, times `scale`, drawn in float64 then cast to `dtype`.

    `seed`: an int or a name (a fresh generator), or a torch.Generator to continue drawing from
    (several tensors of one case from one generator).
    """
    return (_randn(tuple(shape), generator=_gen(seed), dtype=F64) * scale).to(dtype)


def rand(
    shape: Sequence[int], seed: Seed, dtype: torch.dtype = F64, low: float = 0.0, high: float = 1.0
) -> torch.Tensor:
    """Uniform values in [low, high) of `shape`, drawn in float64 then cast to `dtype`."""
    return (low + (high - low) * _rand(tuple(shape), generator=_gen(seed), dtype=F64)).to(dtype)


def dtype_name(dtype: torch.dtype) -> str:
    """ "float32" for torch.float32: how messages name a dtype."""
    return str(dtype).replace("torch.", "")


def shape_name(shape: Sequence[int]) -> str:
    """ "(3, 4)" for a shape, "(5,)" for a vector, "()" for a scalar: as Python writes the tuple."""
    return str(tuple(int(s) for s in shape))


def describe(dtype: torch.dtype, shape: Sequence[int], **settings: Any) -> str:
    """ "float32, shape (3, 4), lr=0.01": a case in words, for failure messages."""
    words = [dtype_name(dtype), f"shape {shape_name(shape)}"]
    return ", ".join(words + [f"{k}={v}" for k, v in settings.items()])


def scale_of(t: torch.Tensor) -> float:
    """The largest |value| of `t` (1.0 for an empty tensor): what absolute tolerances scale with."""
    return float(t.detach().abs().max()) if t.numel() else 1.0


# ---------------------------------------------------------------------------------------------------
# Tolerances


@dataclass(frozen=True)
class Tol:
    """A tolerance with its reason: `check_tensor(..., **tol)` passes rtol and atol.

    Every comparison states why its numbers are what they are (dtype, length of the computation,
    what a correct alternative may round differently); `why` is where that sentence lives.
    """

    rtol: float
    atol: float
    why: str

    def keys(self) -> tuple[str, str]:
        return ("rtol", "atol")

    def __getitem__(self, key: str) -> float:
        if key not in ("rtol", "atol"):
            raise KeyError(key)
        return getattr(self, key)

    def scaled(self, scale: float) -> Tol:
        """The same tolerance with atol relative to `scale` (the output's largest |value|): sums
        that cancel keep the rounding error of their largest terms."""
        return replace(self, atol=self.atol * max(float(scale), 1e-30))

    def plus(self, atol: float = 0.0, rtol: float = 0.0, why: str = "") -> Tol:
        """A wider tolerance (`why` is appended to the reason)."""
        return Tol(self.rtol + rtol, self.atol + atol, f"{self.why}; {why}" if why else self.why)

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g} ({self.why})"


EXACT = Tol(0.0, 0.0, "exact: small integers and binary fractions, no rounding anywhere")


# ---------------------------------------------------------------------------------------------------
# Oracles' plumbing


def vjp_scalar(y: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """sum(y * grad_out): its gradient is the vector-Jacobian product with grad_out. Used instead of
    passing grad_outputs to torch.autograd.grad, whose first call imports sympy (~0.3 s)."""
    return (y * grad_out.detach()).sum()


def backward(
    fn: Callable[..., torch.Tensor],
    inputs: Sequence[Any],
    grad_out: torch.Tensor | None = None,
    wrt: Sequence[int] | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """PyTorch autograd as an oracle: (fn(*inputs) detached, gradients w.r.t. inputs[i] for i in wrt).

    The inputs are copied into fresh leaves (the caller's tensors are never touched); `wrt` defaults
    to every tensor input. `grad_out` is dL/d(output), of the output's shape; None for a scalar
    output (a loss), whose own gradient is taken.
    """
    wrt = [i for i, a in enumerate(inputs) if isinstance(a, _Tensor)] if wrt is None else list(wrt)
    args = [a.detach().clone().requires_grad_(True) if i in wrt else a for i, a in enumerate(inputs)]
    out = fn(*args)
    grads = _grad(out if grad_out is None else vjp_scalar(out, grad_out), [args[i] for i in wrt])
    return out.detach(), tuple(grads)


def central_differences(f: Callable[[], float], tensors: Sequence[torch.Tensor], h: float = 1e-6) -> list[torch.Tensor]:
    """df/dt for each tensor t by float64 central differences, (f(t + h) - f(t - h)) / (2 h), one
    element at a time.

    `tensors` must be float64 tensors that `f` reads (they are nudged in place during the call and
    restored exactly). Truncation error is about h**2 * |f'''| and cancellation about
    1e-16 * |f| / h: with h = 1e-6 and values of order 1, near 1e-10 (state your tolerance from it).
    """
    grads = []
    with torch.no_grad():
        for t in tensors:
            if t.dtype != F64:
                raise TypeError(f"central differences need float64 tensors, got {t.dtype}")
            g = _zeros_like(t)
            flat, gflat = t.view(-1), g.view(-1)
            for i in range(flat.numel()):
                keep = float(flat[i])
                flat[i] = keep + h
                up = f()
                flat[i] = keep - h
                down = f()
                flat[i] = keep
                gflat[i] = (up - down) / (2 * h)
            grads.append(g)
    return grads


# ---------------------------------------------------------------------------------------------------
# Checks of several outputs


# A prediction of every output of one call under one known mistake (None for an output it cannot
# predict); `near` arguments below are functions returning (mistake, prediction) pairs, called only
# when a check has failed.
Prediction = Sequence["torch.Tensor | None"] | None
Predictions = Callable[[], Iterable[tuple[Mistake, Prediction]]]
TolSpec = Tol | Sequence[Tol] | Callable[[torch.Tensor], Tol]


def output_name(name: str, of: str, expected: torch.Tensor) -> str:
    """ "grad_weight of shape (3, 5) from linear_backward": which output, with its shape."""
    shape = "a scalar" if expected.dim() == 0 else f"of shape {shape_name(expected.shape)}"
    return f"{name} ({shape}) from {of}" if of else f"{name} ({shape})"


def _tol_for(tol: TolSpec, k: int, expected: torch.Tensor) -> Tol:
    if isinstance(tol, Tol):
        return tol
    if callable(tol):
        return tol(expected)
    return tol[k]


def explaining(
    actual: Sequence[Any], predictions: Iterable[tuple[Mistake, Prediction]], tols: Sequence[Tol]
) -> list[tuple[Mistake, Prediction]]:
    """The (mistake, prediction) pairs whose prediction matches EVERY output of the call within its
    tolerance (outputs the mistake cannot predict are skipped). A mistake that explains one wrong
    output but not the others is not what happened, so it is never named."""
    found = []
    for mistake, pred in predictions:
        if pred is None or len(pred) != len(actual):
            continue
        known = [(a, p, t) for a, p, t in zip(actual, pred, tols) if isinstance(p, _Tensor)]
        if known and all(
            is_close(a, p.to(a.dtype) if isinstance(a, _Tensor) else p, t.rtol, t.atol) for a, p, t in known
        ):
            found.append((mistake, pred))
    return found


def check_outputs(
    actual: Any,
    expected: Sequence[torch.Tensor],
    *,
    names: Sequence[str],
    of: str,
    case: str,
    tol: TolSpec,
    near: Predictions | None = None,
) -> tuple:
    """Check a call's outputs in order with check_tensor; return them as a tuple.

    actual: what the call returned (must be a tuple or list of len(expected) items).
    names: one per output ("grad_weight"); messages say "grad_weight (of shape (3, 5)) from `of`".
    tol: one Tol for all, one per output, or a function of the expected output (to scale it).
    near: a function giving (mistake, prediction of every output) pairs; a failing output is named
        after the mistakes whose prediction matches ALL outputs, never after one that explains only
        the output at hand.
    """
    out = check_tuple(actual, len(expected), name=of)
    tols = [_tol_for(tol, k, e) for k, e in enumerate(expected)]
    cache: list = []

    def named(k: int):
        def pairs():
            if not cache:
                cache.append(explaining(out, near() if near else (), tols))
            return [(m, p[k]) for m, p in cache[0] if isinstance(p[k], _Tensor)]

        return pairs

    for k, e in enumerate(expected):
        name = output_name(names[k], of, e)
        if isinstance(out[k], _Tensor) and out[k].shape != e.shape:
            found = named(k)()  # a wrong shape a known mistake gives (a transposed gradient) is named
            if found:
                fail(
                    f"{name}, for {case}: wrong shape {shape_name(out[k].shape)}, expected "
                    f"{shape_name(e.shape)}.\n" + "\n".join(m.sentence() for m, _ in found)
                )
        check_tensor(out[k], e, name=name, case=case, near=named(k), **tols[k])
    return out


def check_output(
    actual: Any, expected: torch.Tensor, *, name: str, of: str, case: str, tol: Tol, near: Predictions | None = None
) -> None:
    """check_outputs for a call with one output (a tensor, not a tuple); `near` gives (mistake,
    predicted output) pairs, the prediction a tensor or a one-item tuple."""
    pairs = (lambda: [(m, p if isinstance(p, (tuple, list)) else [p]) for m, p in near()]) if near else None
    check_outputs([actual], [expected], names=[name], of=of, case=case, tol=tol, near=pairs)


def tensor_list(values: Any, count: int, what: str, per: str = "item") -> list[torch.Tensor]:
    """Fail unless `values` is a list (or tuple) of `count` tensors, one per `per`; return a list."""
    if not isinstance(values, (list, tuple)) or len(values) != count:
        size = f" of length {len(values)}" if isinstance(values, (list, tuple)) else ""
        fail(f"{what} should be a list with one tensor per {per} ({count}), got {type(values).__name__}{size}.")
    for i, value in enumerate(values):
        if not isinstance(value, _Tensor):
            fail(f"{what}[{i}] should be a torch.Tensor, got {type(value).__name__}.")
    return list(values)


def _tensors_in(name: str, value: Any) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) for a tensor argument, or for each tensor of a list or tuple argument."""
    if isinstance(value, _Tensor):
        return [(name, value)]
    if isinstance(value, (list, tuple)):
        return [(f"{name}[{i}]", v) for i, v in enumerate(value) if isinstance(v, _Tensor)]
    return []


def call_checking_inputs(
    fn: Callable[..., Any], args: Mapping[str, Any], *, call: str, mistake: Mistake | None = None
) -> Any:
    """fn(**args) on the tensors themselves (also those inside list arguments), then fail if any was
    modified in place, or comes back as a result instead of a new tensor (naming `mistake`); returns
    the result. In grading mode the function gets copies, so this can only pass there: no test relies
    on a learner's function modifying what it is given."""
    given = [item for name, value in args.items() for item in _tensors_in(name, value)]
    before = [t.clone() for _, t in given]
    result = fn(**args)
    for (name, tensor), copy in zip(given, before):
        check_unchanged(copy, tensor, name=name, call=call, mistake=mistake)
    results = result if isinstance(result, (tuple, list)) else (result,)
    for name, tensor in given:
        if any(r is tensor for r in results):
            fail(
                f"{call} returned its argument {name} itself instead of a new tensor."
                + (f"\n{mistake.sentence()}" if mistake else "")
            )
    return result


# ---------------------------------------------------------------------------------------------------
# Parametrised cases


def cases(table: Mapping[str, Any]) -> list:
    """pytest.param objects from a table {readable id: arguments}, for @pytest.mark.parametrize.

    A tuple of arguments is spread over the parameters; anything else is one argument. The ids are
    the table's keys, so a failing test reads `test_x[wide matrix, lr 0.1]`, and the table sits in
    the test file where a learner can read the inputs.
    """
    return [pytest.param(*v, id=k) if isinstance(v, tuple) else pytest.param(v, id=k) for k, v in table.items()]
