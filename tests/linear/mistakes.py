"""linear's known mistakes: the sentence a learner sees when their output looks like one. What each
mistake outputs is computed in `key.py`, the answer key, so that a wrong output is named after the
mistakes it matches.

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[intercept-penalised]`. The mutants that commit each mistake (patches of the reference, used by
`make check`) are in `mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "intercept-penalised",
        "the intercept b is penalised too; the ridge penalty is l2 * sum(w ** 2), on the weights only. "
        "In least_squares the penalty matrix P has l2 for each weight and 0 for b; in the gradient "
        "descents grad_b gets no 2 * l2 * b term.",
    ),
    Mistake(
        "no-intercept-column",
        "the normal equations are solved without the column of ones, so b stays 0; with "
        "fit_intercept=True, append a column of ones to X (A = [X | 1], shape (N, D + 1)) and solve "
        "for theta = (w, b) together: its last entry is b.",
    ),
    Mistake(
        "mse-gradient-no-2",
        "the gradient of the mean squared error misses the factor 2; the derivative of r ** 2 is "
        "2 * r, so grad_w = (2 / N) * X.T @ r and grad_b = (2 / N) * sum(r).",
    ),
    Mistake(
        "mse-gradient-no-mean",
        "the gradient of the mean squared error misses the factor 1 / N (it is the gradient of the "
        "SUM of squares, N times too large); the loss is a mean, so grad_w = (2 / N) * X.T @ r and "
        "grad_b = (2 / N) * sum(r).",
    ),
    Mistake(
        "l2-gradient-no-2",
        "the gradient of the penalty misses the factor 2; the derivative of l2 * sum(w ** 2) is 2 * l2 * w.",
    ),
    Mistake(
        "losses-after-step",
        "losses[k] is the loss AFTER step k; it is the loss before it: compute the residuals (or "
        "logits), append the loss, then update w and b (losses[0] is the loss at w = 0, b = 0).",
    ),
    Mistake(
        "bias-never-updated",
        "the bias b is never updated (it stays 0); every step (or every perceptron mistake) changes "
        "b as well as w: b = b - lr * grad_b, or b = b + lr * y[i] in the perceptron.",
    ),
    Mistake(
        "perceptron-updates-correct-points",
        "the perceptron updates on points it already classifies correctly; Rosenblatt's rule updates "
        "only on a mistake, when y[i] * (X[i] @ w + b) <= 0, and leaves w and b alone otherwise.",
    ),
    Mistake(
        "perceptron-strict-inequality",
        "the perceptron tests y[i] * (X[i] @ w + b) < 0, so starting from w = 0 and b = 0 (every score "
        "exactly 0) it never moves; a score of 0 is a mistake too: the test is <= 0.",
    ),
    Mistake(
        "perceptron-no-early-stop",
        "the perceptron keeps going after an epoch without a mistake; it stops right after the first "
        "such epoch, so that its 0 is the last entry of `mistakes`.",
    ),
    Mistake(
        "perceptron-last-zero-missing",
        "the epoch without a mistake is not counted in `mistakes`; append its count (0) before "
        "stopping, so that `mistakes` has one entry per epoch run and ends with 0.",
    ),
    Mistake(
        "logistic-loss-unstable",
        "the log-loss is computed as log(sigmoid(z)) and log(1 - sigmoid(z)), which give -inf (and "
        "then NaN) once sigmoid(z) rounds to 0 or 1 at large |z|; use the stable form "
        "max(z, 0) - y * z + log1p(exp(-|z|)) for each term.",
    ),
    Mistake(
        "labels-as-plus-minus-one",
        "the logistic gradient uses labels -1 and +1; here they are 0 and 1, and the gradient of the "
        "mean log-loss is X.T @ (sigmoid(z) - y) / N with those 0 and 1 labels.",
    ),
    Mistake(
        "logistic-gradient-no-mean",
        "the logistic gradient misses the factor 1 / N (it is the gradient of the SUM of the losses); "
        "the loss is a mean: grad_w = X.T @ (p - y) / N and grad_b = mean(p - y).",
    ),
    Mistake(
        "proba-of-label-0",
        "predict_proba gives the probability of label 0, sigmoid(-z) = 1 - sigmoid(z); it is the "
        "probability of label 1: sigmoid(X @ w + b).",
    ),
    Mistake(
        "accuracy-count",
        "accuracy returns the number of correct predictions; it is their share, that number divided "
        "by N (a float between 0 and 1).",
    ),
]

MISTAKE = by_id(MISTAKES)
