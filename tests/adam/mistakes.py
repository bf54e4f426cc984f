"""Adam's known mistakes: the sentence a learner sees when their output looks like one, and what
each mistake outputs (so that a wrong output is named after the mistakes it matches).

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[no-bias-correction]`. The mutants that commit each mistake (patches of the reference, used by
`make check`) are in `mutants.py`, which is not shipped to a class.
"""

import torch

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "no-bias-correction",
        "the moments are used without bias correction; divide m by (1 - beta1**step) and v by "
        "(1 - beta2**step), or the first steps are far too small (m and v start at zero).",
    ),
    Mistake(
        "bias-correction-m-only",
        "only the first moment is bias-corrected; v also needs dividing by (1 - beta2**step).",
    ),
    Mistake(
        "bias-correction-v-only",
        "only the second moment is bias-corrected; m also needs dividing by (1 - beta1**step).",
    ),
    Mistake(
        "eps-inside-sqrt",
        "eps is added inside the square root; torch.optim.Adam divides by sqrt(v_hat) + eps.",
    ),
    Mistake(
        "step-from-zero",
        "the step is counted from 0 (in the exponent of the bias correction, or in Adam.step's "
        "counter); the first update is step 1, with bias correction 1 - beta**1 (with "
        "1 - beta**0 = 0 the first update divides by zero).",
    ),
    Mistake(
        "weight-decay-swapped",
        "L2 and decoupled weight decay are swapped; decoupled_weight_decay=False adds "
        "weight_decay * param to the gradient, True (AdamW) multiplies param by (1 - lr * weight_decay).",
    ),
    Mistake(
        "weight-decay-without-lr",
        "decoupled weight decay is not scaled by the learning rate; AdamW multiplies param by "
        "(1 - lr * weight_decay), not (1 - weight_decay).",
    ),
    Mistake(
        "v-not-squared",
        "the second moment averages grad instead of grad**2 (v = beta2 * v + (1 - beta2) * grad * grad).",
    ),
    Mistake(
        "betas-swapped",
        "beta1 and beta2 are swapped; betas = (beta1, beta2) with beta1 (0.9) for m and beta2 (0.999) for v.",
    ),
    Mistake(
        "ascent",
        "the update goes uphill; subtract lr * m_hat / (sqrt(v_hat) + eps) from the parameter.",
    ),
    Mistake(
        "inputs-modified-in-place",
        "the inputs are modified in place (m.mul_(...), param.sub_(...)); build new tensors "
        "(m = beta1 * m + ...) so the caller's tensors stay as they were.",
    ),
    Mistake(
        "shared-state",
        "optimizers share their moments (state kept on the class, or a mutable default); every "
        "Adam instance needs its own m, v and step count.",
    ),
]

MISTAKE = by_id(MISTAKES)

# ---------------------------------------------------------------------------------------------------
# What each mistake outputs: one step of the textbook algorithm (Kingma & Ba 2015, Algorithm 1;
# decoupled decay as Loshchilov & Hutter 2019) in float64, committing `mistake`. It names the
# mistake a wrong output looks like; it is never the oracle of a test (torch.optim is).

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


def predict(
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


def step_mistakes(param, grad, m, v, step, **hp):
    """For check_outputs(near=...): (mistake, (new_param, new_m, new_v) it gives) for every mistake
    one call of adam_step can make. Lazy: called only when a check has failed."""
    return lambda: [(MISTAKE[name], predict(param, grad, m, v, step, mistake=name, **hp)) for name in STEP_MISTAKES]


def first_step_mistakes(params, grads, **hp):
    """The same for the first Adam.step over several parameters (m = v = 0, step 1): a mistake is
    named only if it explains the new value of every parameter."""
    zeros = [torch.zeros_like(p) for p in params]
    return lambda: [
        (MISTAKE[name], [predict(p, g, z, z, 1, mistake=name, **hp)[0] for p, g, z in zip(params, grads, zeros)])
        for name in STEP_MISTAKES
    ]
