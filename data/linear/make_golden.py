"""Golden optima of the logistic objective for the public tests of topic `linear`:
`.venv/bin/python data/linear/make_golden.py` (from the repository root) writes data/linear/golden.json.

The public tests compare a learner's `logistic_regression`, run for enough steps, with the optimum that
`scipy.optimize.minimize` (BFGS, gradients by PyTorch's autograd, float64) finds for

    mean(F.binary_cross_entropy_with_logits(X @ w + b, y)) + l2 * sum(w ** 2)

Importing SciPy takes about half a second, more than the rest of a public test run spends on these
cases, so the optima are computed here once; the hidden tests call SciPy live on other data. Each case
stores its inputs (X, y drawn from a seeded generator; X already rounded to the case's dtype), the
learning rate and number of steps the test gives `logistic_regression`, and the optimum (w, b). The
test checks this file's SHA-256 (GOLDEN_SHA256 in tests/linear/test_public.py): after remaking it,
update that constant with the hash this script prints. The script needs no `solutions/`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from grader.kit import generator, randn  # noqa: E402

F64 = torch.float64

# (name, seed, N, D, dtype, l2, lr, steps, make it non-separable by repeating a point with the other label)
CASES = [
    ("float64, 40 x 3, l2 0.01", "golden/a", 40, 3, "float64", 0.01, 2.0, 300, False),
    ("float64, 30 x 2, l2 0 (not separable)", "golden/b", 30, 2, "float64", 0.0, 2.0, 500, True),
    ("float32, 40 x 3, l2 0.1", "golden/c", 40, 3, "float32", 0.1, 2.0, 200, False),
]


def data(seed: str, n: int, d: int, dtype: str, flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """X (n, d) standard normal rounded to `dtype` (kept in float64), y in {0, 1} drawn with
    probability sigmoid(X @ w_true + 0.3); with `flip`, the last point repeats the first with the other
    label (no line can then separate the classes, and the optimum is finite without a penalty)."""
    gen = generator(seed)
    X = randn((n, d), gen).to(getattr(torch, dtype)).to(F64)
    p = torch.sigmoid(X @ randn((d,), gen, scale=2.0) + 0.3)
    y = (torch.rand(n, generator=gen, dtype=F64) < p).to(F64)
    if flip:
        X[-1], y[-1] = X[0], 1.0 - y[0]
    return X, y


def optimum(X: torch.Tensor, y: torch.Tensor, l2: float) -> np.ndarray:
    """(w, b) minimising the objective, by BFGS with autograd's gradient."""

    def fun(theta: np.ndarray):
        t = torch.tensor(theta, dtype=F64, requires_grad=True)
        loss = F.binary_cross_entropy_with_logits(X @ t[:-1] + t[-1], y) + l2 * (t[:-1] ** 2).sum()
        (grad,) = torch.autograd.grad(loss, t)
        return float(loss.detach()), grad.numpy()

    result = minimize(
        fun, np.zeros(X.shape[1] + 1), jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 10_000}
    )
    gradient = fun(result.x)[1]
    assert np.abs(gradient).max() < 1e-10, (result.message, gradient)
    return result.x


def main() -> None:
    cases = []
    for name, seed, n, d, dtype, l2, lr, steps, flip in CASES:
        X, y = data(seed, n, d, dtype, flip)
        theta = optimum(X, y, l2)
        cases.append(
            {
                "name": name,
                "seed": seed,
                "dtype": dtype,
                "l2": l2,
                "lr": lr,
                "steps": steps,
                "X": X.tolist(),
                "y": y.tolist(),
                "w": theta[:-1].tolist(),
                "b": float(theta[-1]),
            }
        )
        print(f"{name}: w = {theta[:-1]}, b = {theta[-1]:.6g}")
    out = Path(__file__).with_name("golden.json")
    text = json.dumps({"made_by": "data/linear/make_golden.py (scipy.optimize.minimize, BFGS)", "cases": cases})
    out.write_text(text + "\n")
    print(f"wrote {out.relative_to(ROOT)}, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
