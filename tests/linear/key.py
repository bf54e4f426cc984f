"""linear's answer key (grader/answers.py): the perceptron, the ridge closed form and the gradient
descents as the textbook computes them, with a switch that commits each known mistake, so that a wrong
output is named after the mistakes it matches. It is the oracle only where no library has the function
(Rosenblatt's perceptron) or where the issue asks for a formula (the ridge closed form); elsewhere
NumPy, SciPy, PyTorch's autograd and torch.optim.SGD are. A class release ships its results for the
public tests, not this file.

The `*_mistakes` functions return a thunk (lazy): (Mistake, predicted outputs) pairs, computed only once
a check has failed, for kit.check_outputs(near=...). A prediction equal to the right output is left out
(it cannot tell that mistake from a correct answer on this input); None stands for an output a mistake
does not determine (the losses of a learner who penalises the intercept may or may not include b**2).
"""

import numpy as np
import torch

from grader.answers import recorded
from tests.linear.mistakes import MISTAKE

F64 = torch.float64


def _d(t):
    return t.detach().to(F64)


def _differing(right, predictions):
    """The (Mistake, outputs) pairs whose outputs differ from the right ones somewhere."""
    found = []
    for name, outputs in predictions:
        known = [(r, p) for r, p in zip(right, outputs) if p is not None]
        if any(r.shape != p.shape or not torch.allclose(r, p, rtol=1e-12, atol=1e-12) for r, p in known):
            found.append((MISTAKE[name], outputs))
    return found


# ---------------------------------------------------------------------------------------------------
# Oracles with no library behind them


@recorded
def perceptron_rule(X, y, epochs, lr):
    """Rosenblatt's perceptron on augmented vectors: x~ = (x, 1), w~ = (w, b), update w~ += lr * y * x~
    when y * (w . x + b) <= 0, in Python floats. Returns (w, b, mistakes as an int64 tensor)."""
    return _perceptron(X, y, epochs, lr)


@recorded
def ridge_closed_form(X, y, l2):
    """Ridge with an unpenalised intercept, by centring (float64, NumPy): with Xc = X - mean(X) and
    yc = y - mean(y), w = (Xc.T Xc + l2 I)^-1 Xc.T yc and b = mean(y) - mean(X) . w. Returns (w, b)."""
    x, t = _d(X).numpy(), _d(y).numpy()
    mx, my = x.mean(axis=0), t.mean()
    xc, yc = x - mx, t - my
    w = np.linalg.solve(xc.T @ xc + l2 * np.eye(x.shape[1]), xc.T @ yc)
    return torch.from_numpy(w), torch.tensor(my - mx @ w, dtype=F64)


# ---------------------------------------------------------------------------------------------------
# The computations with a switch for each mistake (float64)


def _least_squares(X, y, l2, fit_intercept, mistake=None):
    x, t = _d(X), _d(y)
    n, d = x.shape
    with_ones = fit_intercept and mistake != "no-intercept-column"
    a = torch.cat([x, torch.ones(n, 1, dtype=F64)], 1) if with_ones else x
    penalty = torch.full((a.shape[1],), float(l2), dtype=F64)
    if with_ones and mistake != "intercept-penalised":
        penalty[d] = 0.0
    theta = torch.linalg.lstsq(a.T @ a + torch.diag(penalty), a.T @ t).solution
    return theta[:d], theta[d] if with_ones else torch.zeros((), dtype=F64)


def _descend(X, y, lr, steps, l2, mistake, kind):
    """Gradient descent on the mean squared error (kind "mse") or the mean log-loss ("log"), with
    `mistake` committed. Returns (w, b, losses as a float64 tensor)."""
    x, t = _d(X), _d(y)
    n, d = x.shape
    if kind == "log" and mistake == "labels-as-plus-minus-one":
        target = 2 * t - 1
    else:
        target = t
    w, b = torch.zeros(d, dtype=F64), torch.zeros((), dtype=F64)

    def loss(w, b):
        z = x @ w + b
        data = (
            ((z - t) ** 2).mean()
            if kind == "mse"
            else (z.clamp(min=0) - t * z + torch.log1p(torch.exp(-z.abs()))).mean()
        )
        extra = l2 * b**2 if mistake == "intercept-penalised" else 0.0
        return float(data + l2 * (w**2).sum() + extra)

    losses = []
    for _ in range(steps):
        if mistake != "losses-after-step":
            losses.append(loss(w, b))
        z = x @ w + b
        if kind == "mse":
            r = z - t
            scale = {"mse-gradient-no-2": 1.0 / n, "mse-gradient-no-mean": 2.0}.get(mistake, 2.0 / n)
        else:
            r = torch.sigmoid(z) - target
            scale = 1.0 if mistake == "logistic-gradient-no-mean" else 1.0 / n
        l2_factor = 1.0 if mistake == "l2-gradient-no-2" else 2.0
        grad_w = scale * (x.T @ r) + l2_factor * l2 * w
        grad_b = scale * r.sum() + (2.0 * l2 * b if mistake == "intercept-penalised" else 0.0)
        w = w - lr * grad_w
        if mistake != "bias-never-updated":
            b = b - lr * grad_b
        if mistake == "losses-after-step":
            losses.append(loss(w, b))
    return w, b, torch.tensor(losses, dtype=F64)


def _perceptron(X, y, epochs, lr, mistake=None):
    """The perceptron with `mistake` committed, on augmented vectors in Python floats (float64), the
    result rounded to X's dtype. On the tests' points (multiples of 1/4, labels +-1, lr a power of 2)
    every sum is exact in float32 and float64 alike, so this is exactly what X's dtype gives."""
    n, d = X.shape
    points = [[float(v) for v in row] + [1.0] for row in X.detach().tolist()]  # (x, 1)
    labels = [float(t) for t in y.detach().tolist()]
    v = [0.0] * (d + 1)  # (w, b)
    counts = []
    for _ in range(epochs):
        count = 0
        for x, t in zip(points, labels):
            score = t * (sum(a * c for a, c in zip(x[:d], v[:d])) + v[d])
            wrong = {
                "perceptron-strict-inequality": score < 0,
                "perceptron-updates-correct-points": True,
                "perceptron-updates-correct-points/>=": score >= 0,
            }.get(mistake, score <= 0)
            if wrong:
                keep_b = v[d]
                v = [c + lr * t * a for c, a in zip(v, x)]
                if mistake == "bias-never-updated":
                    v[d] = keep_b
                count += 1
        counts.append(count)
        if count == 0:
            break
    if mistake == "perceptron-no-early-stop":
        counts += [0] * (epochs - len(counts))
    if mistake == "perceptron-last-zero-missing" and counts[-1] == 0:
        counts = counts[:-1]
    out = torch.tensor(v, dtype=F64).to(X.dtype)
    return out[:d], out[d], torch.tensor(counts, dtype=torch.int64)


# ---------------------------------------------------------------------------------------------------
# Mistakes' predictions


@recorded(lazy=True)
def least_squares_mistakes(X, y, l2, fit_intercept):
    """(w, b) with the intercept penalised, and without the column of ones."""
    right = _least_squares(X, y, l2, fit_intercept)
    names = ["no-intercept-column"] + (["intercept-penalised"] if l2 > 0 else [])
    return _differing(right, [(m, _least_squares(X, y, l2, fit_intercept, m)) for m in names if fit_intercept])


GD_MISTAKES = [
    "mse-gradient-no-2",
    "mse-gradient-no-mean",
    "l2-gradient-no-2",
    "bias-never-updated",
    "intercept-penalised",
    "losses-after-step",
]
LOGISTIC_MISTAKES = [
    "labels-as-plus-minus-one",
    "logistic-gradient-no-mean",
    "l2-gradient-no-2",
    "bias-never-updated",
    "intercept-penalised",
    "losses-after-step",
]


def _predictions(X, y, lr, steps, l2, names, kind):
    right = _descend(X, y, lr, steps, l2, None, kind)
    predictions = []
    for m in names:
        if m in ("l2-gradient-no-2", "intercept-penalised") and l2 == 0:
            continue
        w, b, losses = _descend(X, y, lr, steps, l2, m, kind)
        predictions.append((m, (w, b, None if m == "intercept-penalised" else losses)))
    return _differing(right, predictions)


@recorded(lazy=True)
def gradient_descent_mistakes(X, y, lr, steps, l2):
    """(w, b, losses) of gradient_descent under each of GD_MISTAKES."""
    return _predictions(X, y, lr, steps, l2, GD_MISTAKES, "mse")


@recorded(lazy=True)
def logistic_mistakes(X, y, lr, steps, l2):
    """(w, b, losses) of logistic_regression under each of LOGISTIC_MISTAKES."""
    return _predictions(X, y, lr, steps, l2, LOGISTIC_MISTAKES, "log")


@recorded(lazy=True)
def perceptron_mistakes(X, y, epochs, lr):
    """(w, b, mistakes) of the perceptron under each of its mistakes (two ways of updating on
    correct points: always, or when the score is >= 0)."""
    right = _perceptron(X, y, epochs, lr)
    found = []
    for m in (
        "perceptron-updates-correct-points",
        "perceptron-updates-correct-points/>=",
        "perceptron-strict-inequality",
        "bias-never-updated",
        "perceptron-no-early-stop",
        "perceptron-last-zero-missing",
    ):
        out = _perceptron(X, y, epochs, lr, m)
        if any(r.shape != p.shape or not torch.equal(r, p) for r, p in zip(right, out)):
            found.append((MISTAKE[m.split("/")[0]], out))
    return found


@recorded(lazy=True)
def predict_proba_mistakes(X, w, b):
    """predict_proba giving the probability of label 0."""
    return [(MISTAKE["proba-of-label-0"], (torch.sigmoid(-(_d(X) @ _d(w) + _d(b))),))]
