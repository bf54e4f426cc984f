"""Adam's answer key (grader/answers.py): one step of the textbook algorithm (Kingma & Ba 2015,
Algorithm 1; decoupled decay as Loshchilov & Hutter 2019) in float64, committing a known mistake, so
that a wrong output is named after the mistakes it matches. It is never the oracle of a test
(torch.optim is). A class release ships its results for the public tests, not this file.
"""

import torch

from grader.answers import recorded
from tests.adam.mistakes import MISTAKE

# Mistakes whose effect on one call of adam_step `predict` reproduces.
STEP_MISTAKES = [
    "no-bias-correction",
    "bias-correction-m-only",
    "bias-correction-v-only",
    "eps-inside-sqrt",
    "step-from-zero",
    "weight-decay-swapped",
    "weight-decay-without-lr",
    "v-not-squared",
    "betas-swapped",
    "ascent",
]


def _predict(
    param,
    grad,
    m,
    v,
    step,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    decoupled_weight_decay=False,
    mistake: str | None = None,
):
    """(new_param, new_m, new_v) in float64, as the textbook computes them, or with `mistake`."""
    p, g, m, v = (t.detach().double() for t in (param, grad, m, v))
    b1, b2 = betas[::-1] if mistake == "betas-swapped" else betas
    decoupled = decoupled_weight_decay != (mistake == "weight-decay-swapped")
    if weight_decay:
        if decoupled:
            p = p * (1 - (1 if mistake == "weight-decay-without-lr" else lr) * weight_decay)
        else:
            g = g + weight_decay * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * (g if mistake == "v-not-squared" else g * g)
    t = step - 1 if mistake == "step-from-zero" else step
    bc1 = 1 - b1**t if mistake not in ("no-bias-correction", "bias-correction-v-only") else 1.0
    bc2 = 1 - b2**t if mistake not in ("no-bias-correction", "bias-correction-m-only") else 1.0
    m_hat = m / bc1 if bc1 else m / torch.zeros_like(m)
    v_hat = v / bc2 if bc2 else v / torch.zeros_like(v)
    denom = torch.sqrt(v_hat + eps) if mistake == "eps-inside-sqrt" else torch.sqrt(v_hat) + eps
    update = lr * m_hat / denom
    return (p + update if mistake == "ascent" else p - update), m, v


@recorded(lazy=True)
def step_mistakes(param, grad, m, v, step, **hp):
    """For check_outputs(near=...): (mistake, (new_param, new_m, new_v) it gives) for every mistake
    one call of adam_step can make. Lazy: computed only when a check has failed."""
    return [(MISTAKE[name], _predict(param, grad, m, v, step, mistake=name, **hp)) for name in STEP_MISTAKES]


@recorded(lazy=True)
def first_step_mistakes(params, grads, **hp):
    """The same for the first Adam.step over several parameters (m = v = 0, step 1): a mistake is
    named only if it explains the new value of every parameter."""
    zeros = [torch.zeros_like(p) for p in params]
    return [
        (MISTAKE[name], [_predict(p, g, z, z, 1, mistake=name, **hp)[0] for p, g, z in zip(params, grads, zeros)])
        for name in STEP_MISTAKES
    ]
