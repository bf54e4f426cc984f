"""linear, public tests: cases worked by hand (a 2-point fit, one ridge fit, two steps of each gradient
descent, a perceptron on four points traced step by step), then the oracles: NumPy's lstsq for least
squares, PyTorch's autograd and SGD update (torch.optim) for every gradient step, Rosenblatt's rule for the
perceptron with Novikoff's bound computed here, torch.sigmoid, and SciPy's optimum of the logistic
loss (stored in data/linear/golden.json, since importing SciPy takes longer than these tests).

Run with `make test topic=linear`. Your code is reached only through the `impl` fixture. Each test
shows its inputs and what they are compared with; the helpers that call your functions and report
what differs are in the middle of this file, the tests after them.
"""

import hashlib
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.optim.sgd import sgd as sgd_step

from grader import paths
from grader.checks import fail
from grader.kit import (
    EXACT,
    F32,
    F64,
    Tol,
    call_checking_inputs,
    cases,
    check_output,
    check_outputs,
    dtype_name,
    generator,
    randn,
    scale_of,
    shape_name,
)
from tests.linear.key import (
    gradient_descent_mistakes,
    least_squares_mistakes,
    logistic_mistakes,
    perceptron_mistakes,
    perceptron_rule,
    predict_proba_mistakes,
    ridge_closed_form,
)
from tests.linear.mistakes import MISTAKE

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons. `python -m grader margins linear` measures how much of them the
# reference and the alternatives of mutants.py use. Absolute parts are relative to the largest |value|
# expected (`scaled`), since a solution's entries are only as precise as the largest of them.

HAND = Tol(1e-12, 1e-12, "worked by hand: values of order 1 in float64, a handful of roundings of 1e-16")
LS64 = Tol(
    1e-9,
    1e-10,
    "float64 normal equations: the solve loses about cond(A)**2 * 1e-16, under 1e-12 on these inputs "
    "(cond(A) < 100); NumPy's lstsq uses the SVD of A instead",
)
LS32 = Tol(
    2e-4,
    2e-5,
    "float32 normal equations: forming A.T @ A and solving loses about cond(A)**2 * 6e-8, under 1e-5 "
    "on these well-conditioned inputs (cond(A) < 10); a solver working in float64 is closer",
)
GD64 = Tol(1e-9, 1e-11, "float64, up to 60 steps of a few sums each: rounding of 1e-16 per step, summed")
GD32 = Tol(
    1e-4,
    1e-5,
    "float32, up to 60 steps: each step rounds at 6e-8 and the steps carry it along, to about 1e-6; "
    "the oracle runs in float64 on the same values",
)
OPTIMUM64 = Tol(
    1e-6,
    1e-7,
    "float64 after enough steps to reach the optimum to about 1e-9 (the steps shrink the distance "
    "by a constant factor each); SciPy's BFGS optimum is good to about 1e-10",
)
OPTIMUM32 = Tol(
    1e-3,
    1e-4,
    "float32 after many steps: the iterates stop improving once a step is below float32's rounding "
    "(about 1e-7 times the condition number of the problem, under 100 here)",
)
PROBA = {F64: Tol(1e-12, 1e-15, "float64 sigmoid: one exp and one division"), F32: Tol(1e-6, 1e-7, "float32 sigmoid")}
SHARE = Tol(0.0, 1e-6, "a share of N <= 10 predictions; it may be computed in float32 (6e-8 relative)")


def tol(dtype: torch.dtype, t64: Tol, t32: Tol) -> Tol:
    return t64 if dtype == F64 else t32


def scaled(t: Tol):
    """The tolerance with its absolute part relative to each expected output's largest |value|."""
    return lambda expected: t.scaled(scale_of(expected))


# ---------------------------------------------------------------------------------------------------
# Inputs: seeded and the same on every machine


def regression_data(n: int, d: int, dtype: torch.dtype, seed: str) -> tuple[torch.Tensor, torch.Tensor]:
    """X (n, d) standard normal; y = X @ w_true + 0.5 + noise of size 0.1, w_true normal."""
    gen = generator(seed)
    X = randn((n, d), gen)
    y = X @ randn((d,), gen) + 0.5 + randn((n,), gen, scale=0.1)
    return X.to(dtype), y.to(dtype)


def classification_data(n: int, d: int, dtype: torch.dtype, seed: str, labels=torch.float64):
    """X (n, d) standard normal; y in {0, 1} drawn with probability sigmoid(X @ w_true + 0.3)."""
    gen = generator(seed)
    X = randn((n, d), gen)
    p = torch.sigmoid(X @ randn((d,), gen, scale=2.0) + 0.3)
    y = (torch.rand(n, generator=gen, dtype=F64) < p).to(labels)
    return X.to(dtype), y


def grid_points(count: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """Points whose coordinates are multiples of 1/4 in [-3, 3]: the perceptron's sums of them are
    exact in float32 and float64, so every implementation makes the same decisions."""
    return torch.randint(-12, 13, (count, d), generator=gen, dtype=torch.int64).to(F64) / 4


def separable_data(n: int, d: int, margin: float, dtype, seed: str, labels=torch.float64):
    """n grid points with labels sign(u . (x, 1)) for a random unit vector u, keeping only points at
    least `margin` away from the separating plane (so u separates them with that margin). Returns
    X, y and u."""
    gen = generator(seed)
    u = randn((d + 1,), gen)
    u = u / u.norm()
    points = grid_points(40 * n, d, gen)
    score = torch.cat([points, torch.ones(len(points), 1, dtype=F64)], 1) @ u
    keep = score.abs() >= margin
    X, y = points[keep][:n], torch.sign(score[keep][:n])
    assert len(X) == n, "not enough points far from the plane"
    return X.to(dtype), y.to(labels), u


def grid_data(n: int, d: int, dtype, seed: str):
    """n grid points with random labels -1 and +1 (not separable, as a rule)."""
    gen = generator(seed)
    X = grid_points(n, d, gen)
    y = torch.randint(0, 2, (n,), generator=gen).to(F64) * 2 - 1
    return X.to(dtype), y


def describe_data(X: torch.Tensor, y: torch.Tensor, **settings) -> str:
    """ "float32 X of shape (30, 4), y float64, lr=0.1": the case in words."""
    words = [f"{dtype_name(X.dtype)} X of shape {shape_name(X.shape)}", f"y {dtype_name(y.dtype)}"]
    return ", ".join(words + [f"{k}={v}" for k, v in settings.items()])


# ---------------------------------------------------------------------------------------------------
# The oracles


def numpy_least_squares(X, y, l2=0.0, fit_intercept=True):
    """(w, b) from numpy.linalg.lstsq, in float64. The ridge problem is the least-squares problem of
    a taller matrix: below the rows of A = [X | 1] come the rows sqrt(P) (sqrt(l2) for each weight, 0
    for the intercept), with targets 0; their squared residuals are exactly l2 * sum(w ** 2)."""
    x, t = X.double().numpy(), y.double().numpy()
    n, d = x.shape
    a = np.hstack([x, np.ones((n, 1))]) if fit_intercept else x
    penalty = np.full(a.shape[1], float(l2))
    if fit_intercept:
        penalty[d] = 0.0
    tall = np.vstack([a, np.diag(np.sqrt(penalty))])
    theta = np.linalg.lstsq(tall, np.concatenate([t, np.zeros(a.shape[1])]), rcond=None)[0]
    w = torch.from_numpy(theta[:d])
    return w, torch.tensor(theta[d] if fit_intercept else 0.0, dtype=F64)


def objective(kind: str, X, y, w, b, l2):
    """The objective in float64 through PyTorch's own losses: F.mse_loss (kind "mse") or
    F.binary_cross_entropy_with_logits ("log", computed stably), plus l2 * sum(w ** 2)."""
    z = X @ w + b
    data = F.mse_loss(z, y) if kind == "mse" else F.binary_cross_entropy_with_logits(z, y)
    return data + l2 * (w**2).sum()


def sgd_oracle(kind: str, X, y, lr, steps, l2):
    """(w, b, losses) by PyTorch's SGD update from zeros on `objective`, gradients by autograd, in
    float64 (float32 inputs are converted exactly): losses[k] is the objective before step k.

    The update is torch.optim's functional SGD (`torch.optim.sgd.sgd`, what torch.optim.SGD.step
    applies); the class itself loads TorchDynamo on its first step, which takes seconds."""
    x, t = X.double(), y.double()
    w = torch.zeros(X.shape[1], dtype=F64, requires_grad=True)
    b = torch.zeros((), dtype=F64, requires_grad=True)
    losses = []
    for _ in range(steps):
        loss = objective(kind, x, t, w, b, l2)
        losses.append(float(loss.detach()))
        grads = list(torch.autograd.grad(loss, [w, b]))
        with torch.no_grad():
            sgd_step([w, b], grads, [None, None], **SGD_OPTIONS, lr=lr)
    return w.detach().to(X.dtype), b.detach().to(X.dtype), torch.tensor(losses, dtype=F64)


SGD_OPTIONS = dict(weight_decay=0.0, momentum=0.0, dampening=0.0, nesterov=False, maximize=False)


def autograd_gradient(kind: str, X, y, w, b, l2):
    """The gradient of `objective` at (w, b), by autograd in float64, as one vector (grad_w, grad_b)."""
    theta = torch.cat([w.detach().double().reshape(-1), b.detach().double().reshape(1)]).requires_grad_(True)
    loss = objective(kind, X.double(), y.double(), theta[:-1], theta[-1], l2)
    (grad,) = torch.autograd.grad(loss, theta)
    return grad


GOLDEN_FILE = paths.ROOT / "data" / "linear" / "golden.json"
GOLDEN_SHA256 = "b4e2df05ca3323d5bac92422ec3a8167107dc74fcf0562502016d5ce09e3119c"


def golden_optima() -> dict:
    """SciPy's optima of the logistic objective: data/linear/golden.json (its command and contents
    are described in data/linear/make_golden.py), checked by its SHA-256."""
    raw = GOLDEN_FILE.read_bytes()
    if hashlib.sha256(raw).hexdigest() != GOLDEN_SHA256:
        fail(
            "data/linear/golden.json is not the file these tests were written for (its SHA-256 differs); "
            "restore it, or remake it with `.venv/bin/python data/linear/make_golden.py` and update "
            "GOLDEN_SHA256 in tests/linear/test_public.py."
        )
    return {case["name"]: case for case in json.loads(raw)["cases"]}


# ---------------------------------------------------------------------------------------------------
# Calling your functions, and reading back what they return


def call(fn, name: str, **args):
    """fn(**args), failing if it changed a tensor it was given or returned one of them."""
    return call_checking_inputs(fn, args, call=name)


def as_tensor_list(value, what: str, kind: type, call_name: str) -> torch.Tensor:
    """A list of Python numbers (losses: floats, mistakes: ints) as a tensor, to be compared."""
    noun = "floats" if kind is float else "ints"
    if not isinstance(value, (list, tuple)):
        fail(f"{call_name} should return {what} as a Python list of {noun}, got {type(value).__name__}.")
    for i, item in enumerate(value):
        if isinstance(item, torch.Tensor):
            fail(
                f"{what}[{i}] returned by {call_name} is a torch.Tensor; the list should hold Python "
                f"{noun}: append {kind.__name__}(value) instead of the tensor."
            )
        if not isinstance(item, (int, float)) or (kind is int and not isinstance(item, int)):
            fail(f"{what}[{i}] returned by {call_name} is a {type(item).__name__}; the list should hold Python {noun}.")
    if kind is int:
        return torch.tensor([int(v) for v in value], dtype=torch.int64)
    return torch.tensor([float(v) for v in value], dtype=F64)


def check_fit(actual, expected, *, of: str, case: str, tolerance, near=None, third: str | None = None):
    """Check (w, b) or (w, b, losses/mistakes) against `expected`; the third output of the learner's
    tuple is converted from a list first."""
    count = len(expected)
    if not isinstance(actual, (tuple, list)) or len(actual) != count:
        names = "(w, b)" if count == 2 else f"(w, b, {third})"
        got = (
            f"a {type(actual).__name__} of {len(actual)} items"
            if isinstance(actual, (tuple, list))
            else type(actual).__name__
        )
        fail(f"{of} should return a tuple {names}, got {got}.")
    actual = list(actual)
    if count == 3:
        kind = int if third == "mistakes" else float
        actual[2] = as_tensor_list(actual[2], third, kind, of)
    names = ["w", "b", third][:count]
    check_outputs(actual, expected, names=names, of=of, case=case, tol=tolerance, near=near)


# ---------------------------------------------------------------------------------------------------
# least_squares


@pytest.mark.points(1)
def test_least_squares_two_points_by_hand(impl):
    """Two points, (1, 1) and (3, 5): the line through both, y = 2 x - 1, fits them exactly."""
    # slope (5 - 1) / (3 - 1) = 2; intercept 1 - 2 * 1 = -1. Every squared error is 0: the minimum.
    # Without the column of ones (b forced to 0) the best slope would be sum(x y) / sum(x x) = 16 / 10.
    X = torch.tensor([[1.0], [3.0]], dtype=F64)
    y = torch.tensor([1.0, 5.0], dtype=F64)
    expected = (torch.tensor([2.0], dtype=F64), torch.tensor(-1.0, dtype=F64))
    near = least_squares_mistakes(X, y, 0.0, True)
    got = call(impl.least_squares, "least_squares", X=X, y=y)
    check_fit(
        got, expected, of="least_squares(X, y)", case="the points (1, 1) and (3, 5), by hand", tolerance=HAND, near=near
    )


@pytest.mark.points(1)
def test_least_squares_ridge_by_hand(impl):
    """The same two points with l2 = 2: w = 1 and b = 1 (the intercept is not penalised)."""
    # Minimise (w + b - 1)**2 + (3 w + b - 5)**2 + 2 w**2. Setting both derivatives to zero:
    #   d/db: (w + b - 1) + (3 w + b - 5) = 0        ->  b = 3 - 2 w
    #   d/dw: (w + b - 1) + 3 (3 w + b - 5) + 2 w = 0 ->  12 w + 4 b = 16  ->  12 w + 12 - 8 w = 16
    # so w = 1 and b = 1. (Penalising b too would give w = 1.25, b = 0.25.)
    X = torch.tensor([[1.0], [3.0]], dtype=F64)
    y = torch.tensor([1.0, 5.0], dtype=F64)
    expected = (torch.tensor([1.0], dtype=F64), torch.tensor(1.0, dtype=F64))
    near = least_squares_mistakes(X, y, 2.0, True)
    got = call(impl.least_squares, "least_squares", X=X, y=y, l2=2.0)
    check_fit(
        got, expected, of="least_squares(X, y, l2=2.0)", case="(1, 1) and (3, 5), by hand", tolerance=HAND, near=near
    )


def repeated_column(n: int, dtype, seed: str):
    """X (n, 3) whose last column repeats the first, y as in regression_data."""
    X, y = regression_data(n, 2, dtype, seed)
    return torch.cat([X, X[:, :1]], 1), y


def constant_column(n: int, dtype, seed: str):
    """X (n, 3) whose last column is 2.5 everywhere (a multiple of the intercept's column of ones)."""
    X, y = regression_data(n, 2, dtype, seed)
    return torch.cat([X, torch.full((n, 1), 2.5, dtype=dtype)], 1), y


LEAST_SQUARES_CASES = {  # (X, y, l2, fit_intercept)
    "float64, 20 x 3": (*regression_data(20, 3, F64, "ls/a"), 0.0, True),
    "float32, 50 x 4": (*regression_data(50, 4, F32, "ls/b"), 0.0, True),
    "float64, 15 x 2, fit_intercept=False": (*regression_data(15, 2, F64, "ls/c"), 0.0, False),
    "float64, 20 x 3, l2=0.5": (*regression_data(20, 3, F64, "ls/d"), 0.5, True),
    "float32, 40 x 3, l2=3.0, fit_intercept=False": (*regression_data(40, 3, F32, "ls/e"), 3.0, False),
    "float64, one example (N = 1), D = 3, l2=0.1, fit_intercept=False": (
        *regression_data(1, 3, F64, "ls/f"),
        0.1,
        False,
    ),
    "float32, D = 12 > N = 5, l2=1.0": (*regression_data(5, 12, F32, "ls/g"), 1.0, True),
    "float64, a repeated column, l2=0.1": (*repeated_column(12, F64, "ls/h"), 0.1, True),
    "float64, a constant column, fit_intercept=False": (*constant_column(12, F64, "ls/i"), 0.0, False),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("X, y, l2, fit_intercept", cases(LEAST_SQUARES_CASES))
def test_least_squares_against_numpy(impl, X, y, l2, fit_intercept):
    """least_squares equals numpy.linalg.lstsq (ridge as a taller least-squares problem)."""
    near = least_squares_mistakes(X, y, l2, fit_intercept)
    w, b = numpy_least_squares(X, y, l2, fit_intercept)
    of = f"least_squares(X, y, l2={l2:g}, fit_intercept={fit_intercept})"
    case = describe_data(X, y) + " (numpy.linalg.lstsq in float64 as reference)"
    got = call(impl.least_squares, "least_squares", X=X, y=y, l2=l2, fit_intercept=fit_intercept)
    check_fit(
        got, (w.to(X.dtype), b.to(X.dtype)), of=of, case=case, tolerance=scaled(tol(X.dtype, LS64, LS32)), near=near
    )


@pytest.mark.points(1)
def test_least_squares_against_ridge_closed_form(impl):
    """With D > N and l2 > 0, least_squares equals the ridge closed form on centred data."""
    # Centring X and y removes b from the problem: w = (Xc.T Xc + l2 I)^-1 Xc.T yc, then
    # b = mean(y) - mean(X) @ w. That is the same answer as the normal equations with the column of
    # ones, when b is not penalised.
    X, y = regression_data(6, 10, F64, "ls/ridge")
    near = least_squares_mistakes(X, y, 0.7, True)
    expected = ridge_closed_form(X, y, 0.7)
    got = call(impl.least_squares, "least_squares", X=X, y=y, l2=0.7)
    case = describe_data(X, y) + " (the ridge closed form on centred data as reference)"
    check_fit(got, expected, of="least_squares(X, y, l2=0.7)", case=case, tolerance=scaled(LS64), near=near)


@pytest.mark.points(1)
def test_least_squares_gradient_is_zero(impl):
    """At the w and b least_squares returns, autograd finds the gradient of the objective is zero."""
    # objective = sum((X w + b - y)**2) + l2 * sum(w**2) (a sum here, as least_squares defines it);
    # its gradient at the minimum is 0, up to rounding relative to its size at w = 0, b = 0.
    X, y = regression_data(30, 4, F64, "ls/grad")
    for l2 in (0.0, 2.0):
        near = least_squares_mistakes(X, y, l2, True)
        got = call(impl.least_squares, "least_squares", X=X, y=y, l2=l2)
        check_fit(
            got,
            numpy_least_squares(X, y, l2),
            of=f"least_squares(X, y, l2={l2:g})",
            case=describe_data(X, y),
            tolerance=scaled(LS64),
            near=near,
        )
        n = len(y)
        at_zero = autograd_gradient("mse", X, y, torch.zeros(4, dtype=F64), torch.zeros((), dtype=F64), l2 / n)
        gradient = autograd_gradient("mse", X, y, got[0], got[1], l2 / n) * n  # mean -> sum, l2 / n -> l2
        check_output(
            gradient,
            torch.zeros(5, dtype=F64),
            name="the gradient (d/dw, d/db) of the objective at your (w, b), by autograd",
            of=f"least_squares(X, y, l2={l2:g})",
            case=describe_data(X, y),
            tol=Tol(0.0, 1e-10 * scale_of(at_zero) * n, "rounding of 1e-16 times the gradient's size at zero, times N"),
        )


RANK_DEFICIENT = {  # (X, y, fit_intercept, why)
    "a column repeated": (*repeated_column(10, F64, "rank/a"), True, "the third column repeats the first"),
    "a constant column": (
        *constant_column(10, F32, "rank/b"),
        True,
        "the third column is 2.5 times the column of ones",
    ),
    "D = 5 > N = 3": (*regression_data(3, 5, F64, "rank/c"), True, "there are more unknowns (6) than rows (3)"),
    "one example (N = 1)": (*regression_data(1, 1, F64, "rank/d"), True, "one row cannot fix a slope and an intercept"),
    "D = 4 > N = 2 without intercept": (*regression_data(2, 4, F32, "rank/e"), False, "4 unknowns, 2 rows"),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("X, y, fit_intercept, why", cases(RANK_DEFICIENT))
def test_least_squares_rank_deficient_raises(impl, X, y, fit_intercept, why):
    """With l2 = 0 and a rank-deficient design matrix, least_squares raises ValueError with a sentence."""
    n = X.shape[0]
    A = np.hstack([X.double().numpy(), np.ones((n, 1))]) if fit_intercept else X.double().numpy()
    rank = np.linalg.matrix_rank(A)  # numpy's rank, the oracle
    assert rank < A.shape[1]
    of = f"least_squares(X, y, l2=0.0, fit_intercept={fit_intercept})"
    matrix = "[X | 1]" if fit_intercept else "X"
    situation = (
        f"{describe_data(X, y)}: {why}, so {matrix} ({A.shape[0]} x {A.shape[1]}) has rank {rank} < {A.shape[1]} "
        "(numpy.linalg.matrix_rank) and the minimum is not unique"
    )
    try:
        got = impl.least_squares(X=X, y=y, l2=0.0, fit_intercept=fit_intercept)
    except ValueError as exc:
        if not str(exc).strip():
            fail(f"{of} raised ValueError without a message, for {situation}. Say why in a sentence.")
        return
    except torch.linalg.LinAlgError as exc:
        fail(
            f"{of} let the solver fail (LinAlgError: {str(exc)[:120]}), for {situation}. Check the rank "
            "first (torch.linalg.matrix_rank) and raise ValueError with a sentence."
        )
    note = ""
    if fit_intercept and isinstance(got, (tuple, list)) and len(got) == 2 and isinstance(got[1], torch.Tensor):
        if got[1].numel() == 1 and float(got[1]) == 0.0 and "constant" in why:
            note = "\n" + MISTAKE["no-intercept-column"].sentence()
    fail(f"{of} returned instead of raising ValueError, for {situation}." + note)


# ---------------------------------------------------------------------------------------------------
# gradient_descent


@pytest.mark.points(1)
def test_gradient_descent_two_steps_by_hand(impl):
    """The points (1, 1) and (3, 5), lr = 0.1, two steps: w = 1.36, b = 0.44, losses [13, 0.8]."""
    # Step 0, w = 0, b = 0: residuals r = X w + b - y = [-1, -5]; loss = mean(r**2) = (1 + 25) / 2 = 13.
    #   grad_w = (2 / N) * X.T @ r = 1 * (1 * -1 + 3 * -5) = -16;  grad_b = (2 / N) * sum(r) = -6.
    #   w = 0 - 0.1 * -16 = 1.6;  b = 0 - 0.1 * -6 = 0.6.
    # Step 1: r = [1.6 + 0.6 - 1, 4.8 + 0.6 - 5] = [1.2, 0.4]; loss = (1.44 + 0.16) / 2 = 0.8.
    #   grad_w = 1.2 + 3 * 0.4 = 2.4;  grad_b = 1.6;  w = 1.6 - 0.24 = 1.36;  b = 0.6 - 0.16 = 0.44.
    X = torch.tensor([[1.0], [3.0]], dtype=F64)
    y = torch.tensor([1.0, 5.0], dtype=F64)
    expected = (torch.tensor([1.36], dtype=F64), torch.tensor(0.44, dtype=F64), torch.tensor([13.0, 0.8], dtype=F64))
    near = gradient_descent_mistakes(X, y, 0.1, 2, 0.0)
    got = call(impl.gradient_descent, "gradient_descent", X=X, y=y, lr=0.1, steps=2)
    of = "gradient_descent(X, y, lr=0.1, steps=2)"
    check_fit(got, expected, of=of, case="(1, 1) and (3, 5), by hand", tolerance=HAND, near=near, third="losses")


GD_CASES = {  # (X, y, lr, steps, l2)
    "float64, 20 x 3, lr 0.1, 40 steps": (*regression_data(20, 3, F64, "gd/a"), 0.1, 40, 0.0),
    "float32, 30 x 4, lr 0.05, 40 steps, l2 0.1": (*regression_data(30, 4, F32, "gd/b"), 0.05, 40, 0.1),
    "float64, one example (N = 1), lr 0.1, 10 steps": (*regression_data(1, 2, F64, "gd/c"), 0.1, 10, 0.0),
    "float32, D = 8 > N = 5, lr 0.05, 30 steps, l2 0.5": (*regression_data(5, 8, F32, "gd/d"), 0.05, 30, 0.5),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("X, y, lr, steps, l2", cases(GD_CASES))
def test_gradient_descent_against_torch_sgd(impl, X, y, lr, steps, l2):
    """gradient_descent follows torch.optim's SGD on F.mse_loss + l2 * sum(w**2), gradients by autograd."""
    near = gradient_descent_mistakes(X, y, lr, steps, l2)
    expected = sgd_oracle("mse", X, y, lr, steps, l2)
    of = f"gradient_descent(X, y, lr={lr:g}, steps={steps}, l2={l2:g})"
    case = describe_data(X, y) + " (autograd and torch.optim's SGD update in float64 as reference)"
    got = call(impl.gradient_descent, "gradient_descent", X=X, y=y, lr=lr, steps=steps, l2=l2)
    check_fit(got, expected, of=of, case=case, tolerance=scaled(tol(X.dtype, GD64, GD32)), near=near, third="losses")


@pytest.mark.points(1)
def test_gradient_descent_reaches_ridge(impl):
    """After 400 steps gradient_descent has reached the ridge solution with penalty N * l2 (numpy)."""
    # The mean squared error is the sum divided by N, so mean(...) + l2 * sum(w**2) has the same
    # minimum as sum(...) + N * l2 * sum(w**2): least squares with the penalty N * l2.
    X, y = regression_data(25, 3, F64, "gd/ridge")
    l2, n = 0.02, 25
    near = gradient_descent_mistakes(X, y, 0.2, 400, l2)
    w, b = numpy_least_squares(X, y, n * l2)
    got = call(impl.gradient_descent, "gradient_descent", X=X, y=y, lr=0.2, steps=400, l2=l2)
    if isinstance(got, (tuple, list)) and len(got) == 3:
        got = got[:2]
    case = describe_data(X, y) + f" (numpy.linalg.lstsq with l2 = N * {l2:g} = {n * l2:g} as reference)"
    check_fit(
        got,
        (w, b),
        of="gradient_descent(X, y, lr=0.2, steps=400, l2=0.02)",
        case=case,
        tolerance=scaled(OPTIMUM64),
        near=lambda: [(m, p[:2]) for m, p in near()],
    )


# ---------------------------------------------------------------------------------------------------
# perceptron


@pytest.mark.points(2)
def test_perceptron_four_points_by_hand(impl):
    """Four points traced by hand: w = (0, 2), b = -1, mistakes [2, 1, 0]."""
    # Points and labels: A = (2, 2) +1, B = (1, 0) -1, C = (1, 3) +1, D = (2, -2) -1. Start w = (0, 0), b = 0.
    # Epoch 0:
    #   A: score 0 + 0 = 0, y * score = 0 <= 0: mistake. w = (0, 0) + (2, 2) = (2, 2), b = 0 + 1 = 1.
    #   B: score 2 * 1 + 2 * 0 + 1 = 3, y * score = -3: mistake. w = (2, 2) - (1, 0) = (1, 2), b = 1 - 1 = 0.
    #   C: score 1 + 6 + 0 = 7, y * score = 7 > 0: correct, nothing changes.
    #   D: score 2 - 4 + 0 = -2, y * score = 2 > 0: correct.                               -> 2 mistakes
    # Epoch 1:
    #   A: score 2 + 4 + 0 = 6: correct.
    #   B: score 1 + 0 + 0 = 1, y * score = -1: mistake. w = (1, 2) - (1, 0) = (0, 2), b = -1.
    #   C: score 0 + 6 - 1 = 5: correct.   D: score 0 - 4 - 1 = -5, y * score = 5: correct. -> 1 mistake
    # Epoch 2: A 3, B -1 (y * score = 1), C 5, D -5: all correct                          -> 0: stop.
    # (Without bias updates B is never fixed this way: w = (-1, 2), b = 0 and mistakes [2, 1, 1, 0].)
    X = torch.tensor([[2.0, 2.0], [1.0, 0.0], [1.0, 3.0], [2.0, -2.0]], dtype=F64)
    y = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=F64)
    expected = (torch.tensor([0.0, 2.0], dtype=F64), torch.tensor(-1.0, dtype=F64), torch.tensor([2, 1, 0]))
    near = perceptron_mistakes(X, y, 10, 1.0)
    got = call(impl.perceptron, "perceptron", X=X, y=y, epochs=10)
    check_fit(
        got,
        expected,
        of="perceptron(X, y, epochs=10)",
        case="the four points A, B, C, D, by hand",
        tolerance=EXACT,
        near=near,
        third="mistakes",
    )


PERCEPTRON_CASES = {  # (X, y, epochs, lr)
    "separable, float32, 20 points in 2-D": (*separable_data(20, 2, 0.2, F32, "pc/a")[:2], 50, 1.0),
    "separable, float64, 30 points in 3-D, lr 0.5": (*separable_data(30, 3, 0.2, F64, "pc/b")[:2], 50, 0.5),
    "separable, float32, integer labels (int64)": (*separable_data(15, 2, 0.3, F32, "pc/c", torch.int64)[:2], 50, 1.0),
    "not separable, float64, 12 points, 6 epochs": (*grid_data(12, 2, F64, "pc/d"), 6, 1.0),
    "one point (N = 1), float64": (torch.tensor([[0.5, -1.0]], dtype=F64), torch.tensor([-1.0], dtype=F64), 5, 1.0),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("X, y, epochs, lr", cases(PERCEPTRON_CASES))
def test_perceptron_against_rule(impl, X, y, epochs, lr):
    """perceptron equals Rosenblatt's rule on points whose coordinates are multiples of 1/4 (exact)."""
    near = perceptron_mistakes(X, y, epochs, lr)
    expected = perceptron_rule(X, y, epochs, lr)
    of = f"perceptron(X, y, epochs={epochs}, lr={lr:g})"
    case = describe_data(X, y) + " (the rule, exact on these points, as reference)"
    got = call(impl.perceptron, "perceptron", X=X, y=y, epochs=epochs, lr=lr)
    check_fit(got, expected, of=of, case=case, tolerance=EXACT, near=near, third="mistakes")


@pytest.mark.points(2)
@pytest.mark.parametrize("seed", ["nov/a", "nov/b"])
def test_perceptron_within_novikoff_bound(impl, seed):
    """On separable data the perceptron stops with every point right, after at most (R / margin)**2 updates."""
    # Novikoff (1962): if a unit vector u has y * (u . (x, 1)) >= margin for every point and every
    # (x, 1) has length <= R, the perceptron makes at most (R / margin)**2 updates, whatever lr.
    X, y, u = separable_data(40, 2, 0.25, F64, seed)
    augmented = torch.cat([X, torch.ones(len(X), 1, dtype=F64)], 1)
    margin = float((y * (augmented @ u)).min())
    radius = float(augmented.norm(dim=1).max())
    bound = (radius / margin) ** 2
    epochs = math.floor(bound) + 2  # enough: every epoch but the last makes at least one update
    near = perceptron_mistakes(X, y, epochs, 1.0)
    of = f"perceptron(X, y, epochs={epochs})"
    got = call(impl.perceptron, "perceptron", X=X, y=y, epochs=epochs)
    check_fit(
        got,
        perceptron_rule(X, y, epochs, 1.0),
        of=of,
        case=describe_data(X, y),
        tolerance=EXACT,
        near=near,
        third="mistakes",
    )
    w, b, mistakes = got
    where = (
        f"{describe_data(X, y)}, margin {margin:.4g} and R = {radius:.4g}: "
        f"Novikoff's bound (R / margin)**2 = {bound:.4g}"
    )
    if sum(mistakes) > bound or mistakes[-1] != 0:
        fail(f"{of} made {sum(mistakes)} updates in all, mistakes {mistakes}, for {where}.")
    if not bool((y * (X @ w + b) > 0).all()):
        fail(f"{of} stopped with points on the wrong side of w, b, for {where}.")


# ---------------------------------------------------------------------------------------------------
# logistic_regression


@pytest.mark.points(1)
def test_logistic_regression_two_steps_by_hand(impl):
    """x = 2 (label 1) and x = -2 (label 0), lr = 1, two steps: losses [log 2, log(1 + e**-2)]."""
    # Step 0, w = 0, b = 0: z = [0, 0], p = sigmoid(z) = [0.5, 0.5]; loss = mean(log 2, log 2) = log 2.
    #   p - y = [-0.5, 0.5]; grad_w = X.T @ (p - y) / N = (2 * -0.5 + -2 * 0.5) / 2 = -1; grad_b = 0.
    #   w = 1, b = 0.
    # Step 1: z = [2, -2]: each point has loss log(1 + e**-2) = 0.126928...; p = [s, 1 - s] with
    #   s = sigmoid(2) = 0.880797...; grad_w = (2 (s - 1) - 2 (1 - s)) / 2 = 2 (s - 1) = -0.238406...
    #   w = 1 + 2 (1 - s) = 1.238406..., b = 0 (the two points balance out).
    s = 1 / (1 + math.exp(-2))
    X = torch.tensor([[2.0], [-2.0]], dtype=F64)
    y = torch.tensor([1.0, 0.0], dtype=F64)
    expected = (
        torch.tensor([1 + 2 * (1 - s)], dtype=F64),
        torch.tensor(0.0, dtype=F64),
        torch.tensor([math.log(2), math.log1p(math.exp(-2))], dtype=F64),
    )
    near = logistic_mistakes(X, y, 1.0, 2, 0.0)
    got = call(impl.logistic_regression, "logistic_regression", X=X, y=y, lr=1.0, steps=2)
    of = "logistic_regression(X, y, lr=1.0, steps=2)"
    check_fit(got, expected, of=of, case="x = 2 and x = -2, by hand", tolerance=HAND, near=near, third="losses")


LOGISTIC_CASES = {  # (X, y, lr, steps, l2)
    "float64, 30 x 3, lr 0.5, 30 steps": (*classification_data(30, 3, F64, "lr/a"), 0.5, 30, 0.0),
    "float32, 40 x 4, integer labels, lr 1.0, 30 steps, l2 0.05": (
        *classification_data(40, 4, F32, "lr/b", torch.int64),
        1.0,
        30,
        0.05,
    ),
    "float64, one example (N = 1), lr 0.5, 10 steps, l2 0.1": (*classification_data(1, 3, F64, "lr/c"), 0.5, 10, 0.1),
    "float32, D = 6 > N = 4, lr 0.5, 20 steps, l2 0.2": (*classification_data(4, 6, F32, "lr/d"), 0.5, 20, 0.2),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("X, y, lr, steps, l2", cases(LOGISTIC_CASES))
def test_logistic_regression_against_torch_sgd(impl, X, y, lr, steps, l2):
    """logistic_regression follows torch.optim's SGD on F.binary_cross_entropy_with_logits + l2 * sum(w**2)."""
    near = logistic_mistakes(X, y, lr, steps, l2)
    expected = sgd_oracle("log", X, y, lr, steps, l2)
    of = f"logistic_regression(X, y, lr={lr:g}, steps={steps}, l2={l2:g})"
    case = describe_data(X, y) + " (autograd and torch.optim's SGD update in float64 as reference)"
    got = call(impl.logistic_regression, "logistic_regression", X=X, y=y, lr=lr, steps=steps, l2=l2)
    check_fit(got, expected, of=of, case=case, tolerance=scaled(tol(X.dtype, GD64, GD32)), near=near, third="losses")


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_logistic_regression_large_logits(impl, dtype):
    """Logits of magnitude 1e4 and more: the losses stay finite and equal torch's stable log-loss."""
    # x = 250 (label 1), x = -250 (label 0), x = 250 (label 0): the first and last points disagree, so
    # the steps overshoot; after one step the logits are about 1e4 (then 2e4, 3e4), and sigmoid(z) rounds to exactly
    # 0 or 1. log(sigmoid(z)) is then log(0) = -inf; max(z, 0) - y z + log1p(exp(-|z|)) is not.
    X = torch.tensor([[250.0], [-250.0], [250.0]], dtype=dtype)
    y = torch.tensor([1.0, 0.0, 0.0], dtype=dtype)
    near = logistic_mistakes(X, y, 1.0, 4, 0.0)
    expected = sgd_oracle("log", X, y, 1.0, 4, 0.0)
    of = "logistic_regression(X, y, lr=1.0, steps=4)"
    got = call(impl.logistic_regression, "logistic_regression", X=X, y=y, lr=1.0, steps=4)
    if isinstance(got, (tuple, list)) and len(got) == 3 and isinstance(got[2], (list, tuple)):
        bad = [k for k, v in enumerate(got[2]) if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            fail(
                f"losses returned by {of} are not finite at steps {bad} ({[got[2][k] for k in bad]}), for "
                f"{describe_data(X, y)}, where the logits reach 1e4 and more; expected {expected[2].tolist()}.\n"
                + MISTAKE["logistic-loss-unstable"].sentence()
            )
    case = describe_data(X, y) + " (SGD on F.binary_cross_entropy_with_logits by autograd as reference)"
    check_fit(got, expected, of=of, case=case, tolerance=scaled(tol(dtype, GD64, GD32)), near=near, third="losses")


@pytest.mark.points(2)
@pytest.mark.parametrize(
    "name", ["float64, 40 x 3, l2 0.01", "float64, 30 x 2, l2 0 (not separable)", "float32, 40 x 3, l2 0.1"]
)
def test_logistic_regression_reaches_scipy_optimum(impl, name):
    """After enough steps logistic_regression is at scipy.optimize.minimize's optimum (autograd's gradient 0)."""
    case = golden_optima()[name]
    dtype = F32 if case["dtype"] == "float32" else F64
    X = torch.tensor(case["X"], dtype=F64).to(dtype)
    y = torch.tensor(case["y"], dtype=F64)
    lr, steps, l2 = case["lr"], case["steps"], case["l2"]
    expected = (torch.tensor(case["w"], dtype=F64).to(dtype), torch.tensor(case["b"], dtype=F64).to(dtype))
    near = logistic_mistakes(X, y, lr, steps, l2)
    of = f"logistic_regression(X, y, lr={lr:g}, steps={steps}, l2={l2:g})"
    where = describe_data(X, y) + " (scipy.optimize.minimize's optimum, data/linear/golden.json, as reference)"
    got = call(impl.logistic_regression, "logistic_regression", X=X, y=y, lr=lr, steps=steps, l2=l2)
    if isinstance(got, (tuple, list)) and len(got) == 3:
        got = got[:2]
    tolerance = scaled(tol(dtype, OPTIMUM64, OPTIMUM32))
    check_fit(got, expected, of=of, case=where, tolerance=tolerance, near=lambda: [(m, p[:2]) for m, p in near()])
    gradient = autograd_gradient("log", X, y, got[0], got[1], l2)
    check_output(
        gradient,
        torch.zeros(X.shape[1] + 1, dtype=F64),
        name="the gradient (d/dw, d/db) of the objective at your (w, b), by autograd",
        of=of,
        case=describe_data(X, y),
        tol=Tol(0.0, 1e-6 if dtype == F64 else 1e-3, "the optimum reached to about 1e-9 (float64) or 1e-5 (float32)"),
    )


# ---------------------------------------------------------------------------------------------------
# predict_proba and accuracy


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_predict_proba_against_sigmoid(impl, dtype):
    """predict_proba equals torch.sigmoid(X @ w + b), also exactly 0 and 1 for logits of +-1e4."""
    gen = generator("proba")
    X = torch.cat([randn((6, 3), gen), torch.tensor([[1e4, 0.0, 0.0], [-1e4, 0.0, 0.0]], dtype=F64)]).to(dtype)
    w = torch.tensor([1.0, -0.5, 2.0], dtype=dtype)
    b = torch.tensor(0.25, dtype=dtype)
    near = predict_proba_mistakes(X, w, b)
    expected = torch.sigmoid(X.double() @ w.double() + b.double()).to(dtype)
    got = call(impl.predict_proba, "predict_proba", X=X, w=w, b=b)
    case = f"{dtype_name(dtype)} X (8, 3), the last two rows with logits 1e4 and -1e4 (torch.sigmoid as reference)"
    check_output(
        got, expected, name="probabilities", of="predict_proba(X, w, b)", case=case, tol=PROBA[dtype], near=near
    )


ACCURACY_CASES = {  # (pred, y, the share expected)
    "labels 0/1 as integers: 2 of 4 right": (torch.tensor([1, 0, 1, 1]), torch.tensor([1, 1, 1, 0]), 0.5),
    "boolean predictions, float labels: 2 of 3 right": (
        torch.tensor([True, False, False]),
        torch.tensor([1.0, 0.0, 1.0]),
        2 / 3,
    ),
    "labels -1/+1: 3 of 5 right": (torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0]), torch.tensor([1, -1, 1, 1, -1]), 0.6),
    "all right": (torch.tensor([0, 1, 1, 0, 1, 0, 0]), torch.tensor([0, 1, 1, 0, 1, 0, 0]), 1.0),
    "none right": (torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0]), 0.0),
}


def test_accuracy_by_hand(impl):
    """accuracy is the share of predictions equal to the labels, a Python float."""
    for name, (pred, y, share) in ACCURACY_CASES.items():
        of = f"accuracy({pred.tolist()}, {y.tolist()})"
        got = call(impl.accuracy, "accuracy", pred=pred, y=y)
        if isinstance(got, torch.Tensor):
            fail(f"{of} returned a torch.Tensor; return a Python float (float(...) of the 0-dim tensor).")
        if not isinstance(got, float):
            fail(f"{of} returned a {type(got).__name__} ({got!r}); expected a Python float.")
        if abs(got - share) > SHARE.atol:
            right = int((pred == y).sum())
            note = f"\n{MISTAKE['accuracy-count'].sentence()}" if got == right else ""
            fail(f"{of} returned {got!r}, expected {share!r} for {name} (tolerance {SHARE}).{note}")
