"""Mutants of solutions/linear.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

# least_squares
ONES = "        A = torch.cat([X, torch.ones(n, 1, dtype=X.dtype, device=X.device)], dim=1)  # (N, D + 1)\n"
FREE_INTERCEPT = "    if fit_intercept:\n        penalty[d] = 0.0  # the intercept is not penalised\n"
SPLIT = "    b = theta[d] if fit_intercept else torch.zeros((), dtype=X.dtype, device=X.device)\n"
LS_BODY = (
    "    if fit_intercept:\n"
    + ONES
    + "    else:\n        A = X\n    unknowns = A.shape[1]\n"
    + "    if l2 == 0:\n        rank = int(torch.linalg.matrix_rank(A))\n        if rank < unknowns:\n"
)
LS_SOLVE = (
    "    penalty = torch.full((unknowns,), float(l2), dtype=X.dtype, device=X.device)\n"
    + FREE_INTERCEPT
    + "    theta = torch.linalg.solve(A.T @ A + torch.diag(penalty), A.T @ y)\n    w = theta[:d]\n"
    + SPLIT
)

# gradient_descent
GD_LOSS = "        losses.append(float((residual**2).mean() + l2 * (w**2).sum()))\n"
GD_GRAD_W = "        grad_w = (2.0 / n) * (X.T @ residual) + 2.0 * l2 * w\n"
GD_GRAD_B = "        grad_b = (2.0 / n) * residual.sum()\n"
GD_UPDATE = GD_GRAD_B + "        w = w - lr * grad_w\n        b = b - lr * grad_b\n"
GD_LOOP = "        residual = X @ w + b - y  # (N,)\n" + GD_LOSS + GD_GRAD_W + GD_UPDATE

# perceptron
TEST = "            if y[i] * (X[i] @ w + b) <= 0:\n"
BIAS_UPDATE = "                b = b + lr * y[i]\n"
STOP = "        mistakes.append(count)\n        if count == 0:\n            break\n"
PERCEPTRON_BODY = (
    "    mistakes = []\n    for _ in range(epochs):\n        count = 0\n        for i in range(n):\n"
    + TEST
    + "                w = w + lr * y[i] * X[i]\n"
    + BIAS_UPDATE
    + "                count += 1\n"
    + STOP
)

# logistic_regression
LOG_LOSS = "        log_loss = (torch.clamp(z, min=0) - y * z + torch.log1p(torch.exp(-z.abs()))).mean()\n"
LOG_APPEND = "        losses.append(float(log_loss + l2 * (w**2).sum()))\n"
LOG_ERROR = "        error = torch.sigmoid(z) - y  # p - y, (N,)\n"
LOG_GRAD_W = "        grad_w = X.T @ error / n + 2.0 * l2 * w\n"
LOG_GRAD_B = "        grad_b = error.mean()\n"
LOG_UPDATE = LOG_GRAD_B + "        w = w - lr * grad_w\n        b = b - lr * grad_b\n"
LOG_LOOP = "        z = X @ w + b  # logits, (N,)\n" + LOG_LOSS + LOG_APPEND + LOG_ERROR + LOG_GRAD_W + LOG_UPDATE

PROBA = "    return torch.sigmoid(X @ w + b)\n"
SHARE = "    return float((pred == y).to(torch.float64).mean())\n"

MUTANTS = [
    Mutant("intercept-penalised", {FREE_INTERCEPT: ""}),
    Mutant(
        "intercept-penalised",
        {
            GD_LOSS: GD_LOSS.replace("(w**2).sum()", "((w**2).sum() + b**2)"),
            GD_GRAD_B: GD_GRAD_B.replace("residual.sum()", "residual.sum() + 2.0 * l2 * b"),
        },
        id="intercept-penalised-gradient-descent",
    ),
    Mutant(
        "intercept-penalised",
        {LOG_GRAD_B: LOG_GRAD_B.replace("error.mean()", "error.mean() + 2.0 * l2 * b")},
        id="intercept-penalised-logistic",
    ),
    Mutant(
        "no-intercept-column",
        {ONES: "        A = X\n", FREE_INTERCEPT: "", SPLIT: "    b = torch.zeros((), dtype=X.dtype)\n"},
    ),
    Mutant(
        "mse-gradient-no-2",
        {GD_GRAD_W: GD_GRAD_W.replace("2.0 / n", "1.0 / n"), GD_GRAD_B: GD_GRAD_B.replace("2.0 / n", "1.0 / n")},
    ),
    Mutant(
        "mse-gradient-no-mean",
        {GD_GRAD_W: GD_GRAD_W.replace("(2.0 / n)", "2.0"), GD_GRAD_B: GD_GRAD_B.replace("(2.0 / n)", "2.0")},
    ),
    Mutant("l2-gradient-no-2", {GD_GRAD_W: GD_GRAD_W.replace("2.0 * l2 * w", "l2 * w")}),
    Mutant(
        "l2-gradient-no-2", {LOG_GRAD_W: LOG_GRAD_W.replace("2.0 * l2 * w", "l2 * w")}, id="l2-gradient-no-2-logistic"
    ),
    Mutant(
        "losses-after-step",
        {
            GD_LOSS: "",
            GD_UPDATE: GD_UPDATE + "        losses.append(float(((X @ w + b - y) ** 2).mean() + l2 * (w**2).sum()))\n",
        },
    ),
    Mutant(
        "losses-after-step",
        {
            LOG_APPEND: "",
            LOG_UPDATE: LOG_UPDATE + "        z = X @ w + b\n" + LOG_LOSS + LOG_APPEND,
        },
        id="losses-after-step-logistic",
    ),
    Mutant("bias-never-updated", {BIAS_UPDATE: ""}),
    Mutant(
        "bias-never-updated",
        {GD_UPDATE: GD_UPDATE.replace("        b = b - lr * grad_b\n", "")},
        id="bias-never-updated-gradient-descent",
    ),
    Mutant(
        "bias-never-updated",
        {LOG_UPDATE: LOG_UPDATE.replace("        b = b - lr * grad_b\n", "")},
        id="bias-never-updated-logistic",
    ),
    Mutant("perceptron-updates-correct-points", {TEST: "            if True:\n"}),
    Mutant(
        "perceptron-updates-correct-points", {TEST: TEST.replace("<= 0", ">= 0")}, id="perceptron-updates-when-right"
    ),
    Mutant("perceptron-strict-inequality", {TEST: TEST.replace("<= 0", "< 0")}),
    Mutant("perceptron-no-early-stop", {STOP: "        mistakes.append(count)\n"}),
    Mutant(
        "perceptron-last-zero-missing",
        {STOP: "        if count == 0:\n            break\n        mistakes.append(count)\n"},
    ),
    Mutant(
        "logistic-loss-unstable",
        {
            LOG_LOSS: "        p = torch.sigmoid(z)\n"
            "        log_loss = (-y * torch.log(p) - (1 - y) * torch.log(1 - p)).mean()\n"
        },
    ),
    Mutant("labels-as-plus-minus-one", {LOG_ERROR: "        error = torch.sigmoid(z) - (2 * y - 1)\n"}),
    Mutant(
        "logistic-gradient-no-mean",
        {LOG_GRAD_W: LOG_GRAD_W.replace(" / n", ""), LOG_GRAD_B: LOG_GRAD_B.replace("mean", "sum")},
    ),
    Mutant("proba-of-label-0", {PROBA: "    return torch.sigmoid(-(X @ w + b))\n"}),
    Mutant("accuracy-count", {SHARE: SHARE.replace(".mean()", ".sum()")}),
]

ALTERNATIVES = [
    Alternative(
        "centred-cholesky-float64",
        "least_squares by centring X and y (which removes b), in float64 with a Cholesky factorisation, the "
        "rank checked on the centred X; b = mean(y) - mean(X) @ w",
        {
            LS_BODY + "            raise ValueError(": "    x64, y64 = X.double(), y.double()\n"
            "    if fit_intercept:\n"
            "        x_mean, y_mean = x64.mean(dim=0), y64.mean()\n"
            "    else:\n"
            "        x_mean, y_mean = torch.zeros(d, dtype=torch.float64), torch.zeros((), dtype=torch.float64)\n"
            "    xc, yc = x64 - x_mean, y64 - y_mean\n"
            "    unknowns = d + int(fit_intercept)\n"
            "    if l2 == 0:\n"
            "        rank = int(torch.linalg.matrix_rank(xc.to(X.dtype))) + int(fit_intercept)\n"
            "        if rank < unknowns:\n"
            "            raise ValueError(",
            LS_SOLVE: "    gram = xc.T @ xc + l2 * torch.eye(d, dtype=torch.float64)\n"
            "    factor = torch.linalg.cholesky(gram)\n"
            "    w64 = torch.cholesky_solve((xc.T @ yc)[:, None], factor)[:, 0]\n"
            "    w, b = w64.to(X.dtype), (y_mean - x_mean @ w64).to(X.dtype)\n",
        },
    ),
    Alternative(
        "qr-of-the-tall-matrix",
        "least_squares by a QR factorisation of the taller matrix [A; sqrt(P)] (no A.T @ A), the rank from the "
        "singular values with NumPy's default threshold",
        {
            "        rank = int(torch.linalg.matrix_rank(A))\n": "        s = torch.linalg.svdvals(A)\n"
            "        rank = int((s > s.max() * max(A.shape) * torch.finfo(A.dtype).eps).sum())\n",
            "    theta = torch.linalg.solve(A.T @ A + torch.diag(penalty), A.T @ y)\n": (
                "    tall = torch.cat([A, torch.diag(penalty.sqrt())])\n"
                "    target = torch.cat([y, torch.zeros(unknowns, dtype=X.dtype)])\n"
                "    q, r = torch.linalg.qr(tall)\n"
                "    theta = torch.linalg.solve_triangular(r, (q.T @ target)[:, None], upper=True)[:, 0]\n"
            ),
        },
    ),
    Alternative(
        "per-example-gradients-float64",
        "gradient_descent and logistic_regression in float64 inside (rounded to X's dtype at the end), the "
        "gradients as means of per-example gradients, the log-loss with torch.logaddexp, the sigmoid "
        "as 1 / (1 + exp(-z))",
        {
            GD_LOOP: (
                "        r = X.double() @ w.double() + b.double() - y.double()\n"
                "        losses.append(float(r.pow(2).mean() + l2 * w.double().pow(2).sum()))\n"
                "        grad_w = (2 * r[:, None] * X.double()).mean(dim=0) + 2 * l2 * w.double()\n"
                "        grad_b = 2 * r.mean()\n"
                "        w = w.double() - lr * grad_w\n"
                "        b = b.double() - lr * grad_b\n"
            ),
            "    return w, b, losses\n    ### END SOLUTION\n\n\ndef perceptron": (
                "    return w.to(X.dtype), b.to(X.dtype), losses\n    ### END SOLUTION\n\n\ndef perceptron"
            ),
            LOG_LOOP: (
                "        z = X.double() @ w.double() + b.double()\n"
                "        t = y.double()\n"
                "        zero = torch.zeros_like(z)\n"
                "        data = (t * torch.logaddexp(zero, -z) + (1 - t) * torch.logaddexp(zero, z)).mean()\n"
                "        losses.append(float(data + l2 * w.double().pow(2).sum()))\n"
                "        p = 1 / (1 + torch.exp(-z))\n"
                "        grad_w = ((p - t)[:, None] * X.double()).mean(dim=0) + 2 * l2 * w.double()\n"
                "        grad_b = (p - t).sum() / n\n"
                "        w = w.double() - lr * grad_w\n"
                "        b = b.double() - lr * grad_b\n"
            ),
            "    return w, b, losses\n    ### END SOLUTION\n\n\ndef predict_proba": (
                "    return w.to(X.dtype), b.to(X.dtype), losses\n    ### END SOLUTION\n\n\ndef predict_proba"
            ),
        },
    ),
    Alternative(
        "augmented-perceptron-and-counts",
        "the perceptron on augmented vectors (x, 1) with one weight vector (w, b), a Python float label; "
        "predict_proba as (1 + tanh(z / 2)) / 2; accuracy as a count divided by N",
        {
            PERCEPTRON_BODY: (
                "    x = torch.cat([X, torch.ones(n, 1, dtype=X.dtype)], dim=1)\n"
                "    v = torch.zeros(d + 1, dtype=X.dtype)\n"
                "    mistakes = []\n"
                "    while len(mistakes) < epochs:\n"
                "        count = 0\n"
                "        for xi, yi in zip(x, y.tolist()):\n"
                "            if yi * float(xi @ v) <= 0:\n"
                "                v = v + (lr * yi) * xi\n"
                "                count += 1\n"
                "        mistakes.append(count)\n"
                "        if not count:\n"
                "            break\n"
                "    w, b = v[:d].clone(), v[d].clone()\n"
            ),
            PROBA: "    return (1 + torch.tanh((X @ w + b) / 2)) / 2\n",
            SHARE: "    return int((pred == y).sum()) / len(y)\n",
        },
    ),
]

TRIVIAL = [
    Trivial(
        "zeros",
        "every function returns zeros (w, b, the losses, the mistakes), probabilities of 0.5 and an accuracy of 0",
        (
            "return torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype)",
            "return torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype), [0.0] * steps",
            "return torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype), [0]",
            "return torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype), [0.0] * steps",
            "return torch.full((X.shape[0],), 0.5, dtype=X.dtype)",
            "return 0.0",
        ),
    ),
]

COINCIDENCES = {}
