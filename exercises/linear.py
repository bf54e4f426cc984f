"""Before deep learning: least squares, gradient descent, the perceptron and logistic regression.

This is the first kata. Each function fits a LINEAR model to data: for one example x (a row of D
numbers) the model computes the score

    z = x . w + b = x[0] * w[0] + x[1] * w[1] + ... + x[D-1] * w[D-1] + b

with weights w (D numbers) and a bias, or intercept, b (one number). For all N examples at once,
stacked as the rows of a matrix X, that is `z = X @ w + b`, a vector of N scores. Deep learning
stacks many such maps with non-linear functions between them and trains them by gradient descent;
here you write the one-layer versions, and the exact answers they can be checked against.

- `least_squares`: the best w and b for predicting numbers (regression), solved in one go from the
  normal equations, with an optional L2 ("ridge") penalty.
- `gradient_descent`: the same kind of fit reached step by step, following the gradient downhill.
- `perceptron`: Rosenblatt's rule (1958) for labels -1 and +1: fix the weights each time a point
  is on the wrong side.
- `logistic_regression`: probabilities of label 1 through the sigmoid, trained by gradient descent
  on the log-loss; `predict_proba` and `accuracy` use the result.

Shapes and types used everywhere:
    X: (N, D), float32 or float64: N examples (rows) of D features (columns).
    y: (N,): targets (float numbers for regression; labels, as floats or integers, for the classifiers).
    w: (D,), in X's dtype.
    b: a 0-dim tensor (shape (), as `torch.tensor(1.5)`), in X's dtype.
    losses, mistakes: Python lists of floats and of ints (`float(t)` turns a 0-dim tensor into a float).

Rules: every result tensor has X's dtype; nothing passed in is modified (build new tensors, e.g.
`w = w - lr * grad_w`, rather than changing one in place); gradients are written by hand from the
formulas below: `torch.autograd`, `.backward()`, `torch.optim`, `torch.linalg.lstsq` and `sklearn`
are not allowed. Everything else in torch is (`@`, `torch.linalg.solve`, `torch.sigmoid`, ...).
"""

from __future__ import annotations

import torch
from torch import Tensor


def least_squares(X: Tensor, y: Tensor, l2: float = 0.0, fit_intercept: bool = True) -> tuple[Tensor, Tensor]:
    """Linear regression in closed form: the w and b that minimise

        sum((X @ w + b - y) ** 2) + l2 * sum(w ** 2)

    (the sum of squared errors, plus the ridge penalty when l2 > 0; the intercept b is NOT
    penalised).

    How (the normal equations):
      1. Put the unknowns in one vector theta = (w[0], ..., w[D-1], b). With A = X with a column of
         ones appended, A = [X | 1] of shape (N, D + 1), the predictions are A @ theta.
         (With fit_intercept=False there is no b: A = X, theta = w, and b is returned as 0.)
      2. Setting the gradient of the objective to zero gives the linear system

             (A.T @ A + P) @ theta = A.T @ y

         where P is the diagonal matrix with l2 for every weight and 0 for the intercept.
      3. Solve it (`torch.linalg.solve`), then split theta into w and b.

    When l2 == 0 the system has one solution only if A has full column rank (rank D + 1 with the
    intercept, D without); check it first (`torch.linalg.matrix_rank(A)`) and raise ValueError with
    a sentence otherwise, e.g. when D >= N, or a column repeats another, or a column is constant
    (a constant column is a multiple of the column of ones). With l2 > 0 there is always exactly
    one solution.

    Args:
        X: (N, D), float32 or float64.
        y: (N,), the targets (converted to X's dtype).
        l2: the ridge penalty, >= 0.
        fit_intercept: whether to fit b (True) or force b = 0 (False).

    Returns:
        (w, b): w of shape (D,) and b of shape () (0 when fit_intercept is False), in X's dtype.

    Raises:
        ValueError: l2 == 0 and A (with its column of ones, if fit_intercept) has rank below its
            number of columns.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def gradient_descent(
    X: Tensor, y: Tensor, lr: float, steps: int, l2: float = 0.0
) -> tuple[Tensor, Tensor, list[float]]:
    """Linear regression by full-batch gradient descent, from w = 0 and b = 0.

    The objective is the MEAN squared error plus the ridge penalty (b not penalised):

        loss(w, b) = mean((X @ w + b - y) ** 2) + l2 * sum(w ** 2)

    Its gradients, with the residuals r = X @ w + b - y (shape (N,)):

        grad_w = (2 / N) * (X.T @ r) + 2 * l2 * w        (shape (D,))
        grad_b = (2 / N) * sum(r)                        (shape ())

    Each of the `steps` steps, in this order:
      1. r = X @ w + b - y, and append float(loss(w, b)) to `losses` (the loss BEFORE the step);
      2. compute grad_w and grad_b from that same r;
      3. w = w - lr * grad_w and b = b - lr * grad_b (both from the old w and b).

    Args:
        X: (N, D), float32 or float64. y: (N,) targets (converted to X's dtype).
        lr: the learning rate (step size). steps: how many steps (>= 0).
        l2: the ridge penalty, >= 0.

    Returns:
        (w, b, losses): w (D,) and b () in X's dtype after `steps` steps; losses a list of `steps`
        Python floats, losses[k] the whole objective (penalty included) before step k.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def perceptron(X: Tensor, y: Tensor, epochs: int, lr: float = 1.0) -> tuple[Tensor, Tensor, list[int]]:
    """Rosenblatt's perceptron, from w = 0 and b = 0, visiting the points in their order.

    Labels are -1 and +1. A point i is misclassified when y[i] * (X[i] @ w + b) <= 0 (a score of
    exactly 0 counts as a mistake: that is what moves the weights away from zero at the start).
    On a mistake, and only then:

        w = w + lr * y[i] * X[i]
        b = b + lr * y[i]

    One epoch visits i = 0, 1, ..., N - 1 once, each test using the weights as updated so far.
    mistakes[e] is the number of updates made during epoch e. Training stops after the first epoch
    with no mistake (its 0 is then the last entry of `mistakes`), or after `epochs` epochs.

    Args:
        X: (N, D), float32 or float64. y: (N,) labels -1 or +1, as floats or integers.
        epochs: the most epochs to run (>= 1). lr: the step size (> 0).

    Returns:
        (w, b, mistakes): w (D,) and b () in X's dtype; mistakes a list of Python ints, one per
        epoch run.

    Rosenblatt's rule is sequential (each test uses the weights as the previous updates left them),
    so a Python loop over the points is expected here.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def logistic_regression(
    X: Tensor, y: Tensor, lr: float, steps: int, l2: float = 0.0
) -> tuple[Tensor, Tensor, list[float]]:
    """Logistic regression by full-batch gradient descent, from w = 0 and b = 0.

    Labels are 0 and 1. The model gives the probability of label 1 as sigmoid(z), with the logits
    z = X @ w + b and sigmoid(z) = 1 / (1 + exp(-z)). The objective is the mean log-loss (binary
    cross-entropy) plus the ridge penalty (b not penalised):

        loss(w, b) = mean(-y * log(sigmoid(z)) - (1 - y) * log(1 - sigmoid(z))) + l2 * sum(w ** 2)

    Written that way it breaks for large |z|: sigmoid(z) rounds to exactly 0 or 1, and log(0) is
    -inf. Use the equal, stable form of each term instead:

        -y * log(sigmoid(z)) - (1 - y) * log(1 - sigmoid(z)) = max(z, 0) - y * z + log(1 + exp(-|z|))

    (`torch.log1p(torch.exp(-z.abs()))` for the last part): it stays finite for logits of magnitude
    1e4 and more. The gradients, with p = sigmoid(z):

        grad_w = X.T @ (p - y) / N + 2 * l2 * w          (shape (D,))
        grad_b = mean(p - y)                             (shape ())

    Each of the `steps` steps, in this order: compute z, append float(loss(w, b)) to `losses` (the
    loss BEFORE the step), compute the gradients, then w = w - lr * grad_w and b = b - lr * grad_b.

    Args:
        X: (N, D), float32 or float64. y: (N,) labels 0 or 1, as floats or integers (converted to
            X's dtype).
        lr: the learning rate. steps: how many steps (>= 0). l2: the ridge penalty, >= 0.

    Returns:
        (w, b, losses): w (D,) and b () in X's dtype after `steps` steps; losses a list of `steps`
        Python floats, losses[k] the whole objective (penalty included) before step k.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def predict_proba(X: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """The probability of label 1 for each example: sigmoid(X @ w + b).

    Args:
        X: (N, D). w: (D,). b: () (a 0-dim tensor), all of one dtype.

    Returns:
        (N,) probabilities in [0, 1], in X's dtype; for logits of magnitude 1e4 they are exactly 0
        or 1, never NaN (`torch.sigmoid` is safe; so is 1 / (1 + torch.exp(-z))).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def accuracy(pred: Tensor, y: Tensor) -> float:
    """The share of predictions equal to the labels: (number of i with pred[i] == y[i]) / N.

    Args:
        pred: (N,) predicted labels, e.g. `(predict_proba(X, w, b) > 0.5)` (booleans compare equal
            to 1 and 0) or a tensor of -1 and +1. y: (N,) the true labels.

    Returns:
        A Python float between 0 and 1 (`float(...)` of a 0-dim tensor).
    """
    # YOUR CODE HERE
    raise NotImplementedError
