"""linear, hidden tests: more shapes, dtypes and settings against the same oracles (numpy.linalg.lstsq,
the ridge closed form in its dual form for D > N, autograd with torch.optim's SGD update, the
perceptron's rule and Novikoff's bound), SciPy's scipy.optimize.minimize called live on other data
than the public golden file, and a whole classification run through predict_proba and accuracy.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.checks import fail
from grader.kit import EXACT, F32, F64, Tol, cases, check_output, generator, randn
from tests.linear.key import (
    gradient_descent_mistakes,
    least_squares_mistakes,
    logistic_mistakes,
    perceptron_mistakes,
    perceptron_rule,
    predict_proba_mistakes,
)
from tests.linear.test_public import (
    GD32,
    GD64,
    LS32,
    LS64,
    OPTIMUM32,
    OPTIMUM64,
    PROBA,
    autograd_gradient,
    call,
    check_fit,
    classification_data,
    constant_column,
    describe_data,
    grid_data,
    numpy_least_squares,
    regression_data,
    repeated_column,
    scaled,
    separable_data,
    sgd_oracle,
    tol,
)

# ---------------------------------------------------------------------------------------------------
# least_squares

HIDDEN_LS = {  # (X, y, l2, fit_intercept)
    "float32, 200 x 6": (*regression_data(200, 6, F32, "hls/a"), 0.0, True),
    "float64, 3 x 2 (just enough rows)": (*regression_data(3, 2, F64, "hls/b"), 0.0, True),
    "float64, N = 1, D = 1, fit_intercept=False": (*regression_data(1, 1, F64, "hls/c"), 0.0, False),
    "float32, a constant column, l2=0.5": (*constant_column(30, F32, "hls/d"), 0.5, True),
    "float32, a repeated column, l2=2.0, fit_intercept=False": (*repeated_column(30, F32, "hls/e"), 2.0, False),
    "float64, D = 30 > N = 8, l2=0.01": (*regression_data(8, 30, F64, "hls/f"), 0.01, True),
    "float64, l2=1e3 (weights pushed to 0, b the mean)": (*regression_data(20, 3, F64, "hls/g"), 1e3, True),
}


@pytest.mark.parametrize("X, y, l2, fit_intercept", cases(HIDDEN_LS))
def test_least_squares_more_cases(impl, X, y, l2, fit_intercept):
    """least_squares equals numpy.linalg.lstsq on more shapes, dtypes and penalties."""
    near = least_squares_mistakes(X, y, l2, fit_intercept)
    w, b = numpy_least_squares(X, y, l2, fit_intercept)
    of = f"least_squares(X, y, l2={l2:g}, fit_intercept={fit_intercept})"
    got = call(impl.least_squares, "least_squares", X=X, y=y, l2=l2, fit_intercept=fit_intercept)
    check_fit(
        got,
        (w.to(X.dtype), b.to(X.dtype)),
        of=of,
        case=describe_data(X, y) + " (numpy.linalg.lstsq)",
        tolerance=scaled(tol(X.dtype, LS64, LS32)),
        near=near,
    )


def test_least_squares_dual_ridge(impl):
    """D = 40 > N = 6: the dual closed form w = Xc.T (Xc Xc.T + l2 I)^-1 yc, b = mean(y) - mean(X) . w."""
    X, y = regression_data(6, 40, F64, "hls/dual")
    l2 = 0.3
    x, t = X.numpy(), y.numpy()
    xc, yc = x - x.mean(axis=0), t - t.mean()
    w = xc.T @ np.linalg.solve(xc @ xc.T + l2 * np.eye(6), yc)
    expected = (torch.from_numpy(w), torch.tensor(t.mean() - x.mean(axis=0) @ w, dtype=F64))
    near = least_squares_mistakes(X, y, l2, True)
    got = call(impl.least_squares, "least_squares", X=X, y=y, l2=l2)
    check_fit(
        got, expected, of="least_squares(X, y, l2=0.3)", case=describe_data(X, y), tolerance=scaled(LS64), near=near
    )


@pytest.mark.parametrize(
    "X, y, fit_intercept",
    cases(
        {
            "float32, a repeated column": (*repeated_column(20, F32, "hrank/a"), True),
            "float64, a constant column, 100 rows": (*constant_column(100, F64, "hrank/b"), True),
            "float32, zero column, fit_intercept=False": (
                torch.cat([regression_data(10, 2, F32, "hrank/c")[0], torch.zeros(10, 1)], 1),
                regression_data(10, 2, F32, "hrank/c")[1],
                False,
            ),
        }
    ),
)
def test_least_squares_rank_deficient_more(impl, X, y, fit_intercept):
    """More rank-deficient design matrices with l2 = 0: ValueError with a sentence."""
    of = f"least_squares(X, y, l2=0.0, fit_intercept={fit_intercept})"
    try:
        impl.least_squares(X=X, y=y, l2=0.0, fit_intercept=fit_intercept)
    except ValueError as exc:
        if not str(exc).strip():
            fail(f"{of} raised ValueError without a message, for {describe_data(X, y)}.")
        return
    except torch.linalg.LinAlgError:
        fail(f"{of} let the solver fail for {describe_data(X, y)}; check the rank and raise ValueError.")
    fail(f"{of} returned instead of raising ValueError, for {describe_data(X, y)} (rank-deficient).")


# ---------------------------------------------------------------------------------------------------
# gradient_descent

HIDDEN_GD = {  # (X, y, lr, steps, l2)
    "float64, 100 x 5, lr 0.05, 60 steps, l2 0.01": (*regression_data(100, 5, F64, "hgd/a"), 0.05, 60, 0.01),
    "float32, 8 x 2, lr 0.2, 25 steps": (*regression_data(8, 2, F32, "hgd/b"), 0.2, 25, 0.0),
    "float32, N = 1, D = 4, lr 0.05, 20 steps, l2 0.3": (*regression_data(1, 4, F32, "hgd/c"), 0.05, 20, 0.3),
    "float64, one step": (*regression_data(12, 3, F64, "hgd/d"), 0.1, 1, 0.2),
}


@pytest.mark.parametrize("X, y, lr, steps, l2", cases(HIDDEN_GD))
def test_gradient_descent_more_cases(impl, X, y, lr, steps, l2):
    """gradient_descent follows autograd and torch.optim's SGD update on more cases."""
    near = gradient_descent_mistakes(X, y, lr, steps, l2)
    expected = sgd_oracle("mse", X, y, lr, steps, l2)
    of = f"gradient_descent(X, y, lr={lr:g}, steps={steps}, l2={l2:g})"
    got = call(impl.gradient_descent, "gradient_descent", X=X, y=y, lr=lr, steps=steps, l2=l2)
    tolerance = scaled(tol(X.dtype, GD64, GD32))
    check_fit(got, expected, of=of, case=describe_data(X, y), tolerance=tolerance, near=near, third="losses")


def test_gradient_descent_reaches_least_squares_float32(impl):
    """float32, l2 = 0, 500 steps: gradient_descent ends at numpy's least-squares solution."""
    X, y = regression_data(40, 3, F32, "hgd/ls")
    near = gradient_descent_mistakes(X, y, 0.2, 500, 0.0)
    w, b = numpy_least_squares(X, y)
    got = call(impl.gradient_descent, "gradient_descent", X=X, y=y, lr=0.2, steps=500)
    if isinstance(got, (tuple, list)) and len(got) == 3:
        got = got[:2]
    check_fit(
        got,
        (w.float(), b.float()),
        of="gradient_descent(X, y, lr=0.2, steps=500)",
        case=describe_data(X, y) + " (numpy.linalg.lstsq)",
        tolerance=scaled(OPTIMUM32),
        near=lambda: [(m, p[:2]) for m, p in near()],
    )


# ---------------------------------------------------------------------------------------------------
# perceptron


@pytest.mark.parametrize("seed", ["hnov/a", "hnov/b", "hnov/c"])
def test_perceptron_novikoff_more(impl, seed):
    """3-D separable data, float32: at most (R / margin)**2 updates, every point right at the end."""
    X, y, u = separable_data(60, 3, 0.3, F32, seed)
    augmented = torch.cat([X.double(), torch.ones(len(X), 1, dtype=F64)], 1)
    margin = float((y * (augmented @ u)).min())
    radius = float(augmented.norm(dim=1).max())
    bound = (radius / margin) ** 2
    epochs = math.floor(bound) + 2
    near = perceptron_mistakes(X, y, epochs, 1.0)
    of = f"perceptron(X, y, epochs={epochs})"
    got = call(impl.perceptron, "perceptron", X=X, y=y, epochs=epochs)
    expected = perceptron_rule(X, y, epochs, 1.0)
    check_fit(got, expected, of=of, case=describe_data(X, y), tolerance=EXACT, near=near, third="mistakes")
    w, b, mistakes = got
    if sum(mistakes) > bound or mistakes[-1] != 0 or not bool((y * (X.double() @ w.double() + float(b)) > 0).all()):
        fail(f"{of}: mistakes {mistakes} against Novikoff's bound {bound:.4g}, or points left on the wrong side.")


def test_perceptron_lr_only_scales(impl):
    """From zeros, lr only scales w and b: lr = 0.25 makes the same mistakes and w, b a quarter of lr = 1's."""
    X, y, _ = separable_data(25, 2, 0.2, F64, "hpc/lr")
    one = call(impl.perceptron, "perceptron", X=X, y=y, epochs=100, lr=1.0)
    check_fit(
        one,
        perceptron_rule(X, y, 100, 1.0),
        of="perceptron(X, y, epochs=100, lr=1.0)",
        case="grid",
        tolerance=EXACT,
        near=perceptron_mistakes(X, y, 100, 1.0),
        third="mistakes",
    )
    quarter = call(impl.perceptron, "perceptron", X=X, y=y, epochs=100, lr=0.25)
    expected = (one[0] / 4, one[1] / 4, torch.tensor(one[2]))
    check_fit(
        quarter,
        expected,
        of="perceptron(X, y, epochs=100, lr=0.25)",
        case="the same points: w, b of lr=1 divided by 4",
        tolerance=EXACT,
        third="mistakes",
    )


@pytest.mark.parametrize(
    "X, y, epochs",
    cases(
        {
            "not separable, float32, 30 points in 3-D, 8 epochs": (*grid_data(30, 3, F32, "hpc/a"), 8),
            "separable, float64, int labels, 50 points": (
                *separable_data(50, 2, 0.15, F64, "hpc/b", torch.int64)[:2],
                200,
            ),
            "Gaussian points, float64 (not on a grid)": (
                randn((20, 2), "hpc/c"),
                torch.sign(randn((20, 2), "hpc/c") @ torch.tensor([1.0, -2.0], dtype=F64) + 0.1),
                100,
            ),
        }
    ),
)
def test_perceptron_more_cases(impl, X, y, epochs):
    """perceptron equals Rosenblatt's rule on more data (Gaussian points: to 1e-12, an ulp of reordering)."""
    near = perceptron_mistakes(X, y, epochs, 1.0)
    expected = perceptron_rule(X, y, epochs, 1.0)
    tolerance = (
        EXACT if bool((X * 4 == (X * 4).round()).all()) else Tol(1e-12, 1e-12, "float64 sums of Gaussian values")
    )
    got = call(impl.perceptron, "perceptron", X=X, y=y, epochs=epochs)
    check_fit(
        got,
        expected,
        of=f"perceptron(X, y, epochs={epochs})",
        case=describe_data(X, y),
        tolerance=tolerance,
        near=near,
        third="mistakes",
    )


# ---------------------------------------------------------------------------------------------------
# logistic_regression

HIDDEN_LOGISTIC = {  # (X, y, lr, steps, l2)
    "float64, 100 x 5, lr 1.0, 50 steps, l2 0.01": (*classification_data(100, 5, F64, "hlr/a"), 1.0, 50, 0.01),
    "float32, 20 x 2, lr 0.3, 40 steps": (*classification_data(20, 2, F32, "hlr/b"), 0.3, 40, 0.0),
    "float64, integer labels, N = 2, D = 5, l2 0.5": (
        *classification_data(2, 5, F64, "hlr/c", torch.int64),
        0.5,
        15,
        0.5,
    ),
}


@pytest.mark.parametrize("X, y, lr, steps, l2", cases(HIDDEN_LOGISTIC))
def test_logistic_regression_more_cases(impl, X, y, lr, steps, l2):
    """logistic_regression follows autograd and torch.optim's SGD update on more cases."""
    near = logistic_mistakes(X, y, lr, steps, l2)
    expected = sgd_oracle("log", X, y, lr, steps, l2)
    of = f"logistic_regression(X, y, lr={lr:g}, steps={steps}, l2={l2:g})"
    got = call(impl.logistic_regression, "logistic_regression", X=X, y=y, lr=lr, steps=steps, l2=l2)
    tolerance = scaled(tol(X.dtype, GD64, GD32))
    check_fit(got, expected, of=of, case=describe_data(X, y), tolerance=tolerance, near=near, third="losses")


def scipy_optimum(X, y, l2):
    """(w, b) minimising the mean log-loss + l2 * sum(w**2): scipy.optimize.minimize (BFGS), gradients by autograd."""
    from scipy.optimize import minimize

    x, t = X.double(), y.double()

    def fun(theta):
        th = torch.tensor(theta, dtype=F64, requires_grad=True)
        loss = F.binary_cross_entropy_with_logits(x @ th[:-1] + th[-1], t) + l2 * (th[:-1] ** 2).sum()
        (grad,) = torch.autograd.grad(loss, th)
        return float(loss.detach()), grad.numpy()

    result = minimize(
        fun, np.zeros(X.shape[1] + 1), jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 10_000}
    )
    return torch.from_numpy(result.x[:-1]), torch.tensor(result.x[-1], dtype=F64)


@pytest.mark.parametrize(
    "dtype, n, d, l2, lr, steps, seed",
    cases(
        {
            "float64, 60 x 4, l2 0.05": (F64, 60, 4, 0.05, 2.0, 300, "hopt/a"),
            "float32, 50 x 2, l2 0.02": (F32, 50, 2, 0.02, 2.0, 400, "hopt/b"),
        }
    ),
)
def test_logistic_regression_reaches_scipy_optimum_live(impl, dtype, n, d, l2, lr, steps, seed):
    """After enough steps logistic_regression is at scipy.optimize.minimize's optimum (called live)."""
    X, y = classification_data(n, d, dtype, seed)
    w, b = scipy_optimum(X, y, l2)
    near = logistic_mistakes(X, y, lr, steps, l2)
    of = f"logistic_regression(X, y, lr={lr:g}, steps={steps}, l2={l2:g})"
    got = call(impl.logistic_regression, "logistic_regression", X=X, y=y, lr=lr, steps=steps, l2=l2)
    if isinstance(got, (tuple, list)) and len(got) == 3:
        got = got[:2]
    check_fit(
        got,
        (w.to(dtype), b.to(dtype)),
        of=of,
        case=describe_data(X, y) + " (scipy.optimize.minimize)",
        tolerance=scaled(tol(dtype, OPTIMUM64, OPTIMUM32)),
        near=lambda: [(m, p[:2]) for m, p in near()],
    )
    gradient = autograd_gradient("log", X, y, got[0], got[1], l2)
    check_output(
        gradient,
        torch.zeros(d + 1, dtype=F64),
        name="the gradient of the objective at your (w, b), by autograd",
        of=of,
        case=describe_data(X, y),
        tol=Tol(0.0, 1e-6 if dtype == F64 else 1e-3, "the optimum reached to about 1e-9 (float64) or 1e-5 (float32)"),
    )


def test_logistic_regression_large_logits_with_penalty(impl):
    """Logits of about 1e4 with l2 = 0.01 and two features: finite losses equal to the stable oracle."""
    X = torch.tensor([[300.0, 1.0], [-300.0, 0.0], [300.0, -1.0], [-200.0, 2.0]], dtype=F64)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=F64)
    near = logistic_mistakes(X, y, 1.0, 5, 0.01)
    expected = sgd_oracle("log", X, y, 1.0, 5, 0.01)
    got = call(impl.logistic_regression, "logistic_regression", X=X, y=y, lr=1.0, steps=5, l2=0.01)
    check_fit(
        got,
        expected,
        of="logistic_regression(X, y, lr=1.0, steps=5, l2=0.01)",
        case="logits of 1e4 and more",
        tolerance=scaled(GD64),
        near=near,
        third="losses",
    )


# ---------------------------------------------------------------------------------------------------
# predict_proba and accuracy, and a whole run


def test_predict_proba_shapes(impl):
    """predict_proba for N = 1 and for D > N, float64."""
    for n, d in ((1, 3), (2, 7)):
        X, w, b = randn((n, d), f"hpp/{n}"), randn((d,), f"hpp/w{n}"), torch.tensor(-0.7, dtype=F64)
        expected = torch.sigmoid(X @ w + b)
        got = call(impl.predict_proba, "predict_proba", X=X, w=w, b=b)
        check_output(
            got,
            expected,
            name="probabilities",
            of="predict_proba(X, w, b)",
            case=f"X of shape ({n}, {d})",
            tol=PROBA[F64],
            near=predict_proba_mistakes(X, w, b),
        )


def test_classification_end_to_end(impl):
    """Train, predict with probability > 0.5, and score: accuracy equals the share the test counts."""
    X, y = classification_data(80, 2, F64, "hend")
    got = call(impl.logistic_regression, "logistic_regression", X=X, y=y, lr=1.0, steps=200, l2=0.001)
    w, b = got[0], got[1]
    expected_w, expected_b, _ = sgd_oracle("log", X, y, 1.0, 200, 0.001)
    check_fit(
        (w, b),
        (expected_w, expected_b),
        of="logistic_regression(X, y, lr=1.0, steps=200, l2=0.001)",
        case=describe_data(X, y),
        tolerance=scaled(GD64),
    )
    pred = call(impl.predict_proba, "predict_proba", X=X, w=w, b=b) > 0.5
    share = float((pred == y.bool()).double().mean())
    got_share = call(impl.accuracy, "accuracy", pred=pred.double(), y=y)
    if not isinstance(got_share, float) or abs(got_share - share) > 1e-6:
        fail(f"accuracy(pred, y) returned {got_share!r}, expected {share!r} for 80 trained predictions.")
    if share < 0.7:
        fail(f"a trained logistic regression classifies only {share:.0%} of its 80 training points right.")


def test_accuracy_random(impl):
    """accuracy of 1,000 random predictions against random labels equals their share of agreement."""
    gen = generator("hacc")
    pred = torch.randint(0, 2, (1000,), generator=gen)
    y = torch.randint(0, 2, (1000,), generator=gen)
    share = float((pred == y).sum()) / 1000
    got = call(impl.accuracy, "accuracy", pred=pred, y=y)
    if not isinstance(got, float) or abs(got - share) > 1e-6:
        fail(f"accuracy of 1,000 random labels returned {got!r}, expected {share!r}.")
