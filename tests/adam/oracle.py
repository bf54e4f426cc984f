"""Oracles for the Adam suite.

- `torch_trajectory`: torch.optim.Adam itself (the primary oracle), run over a gradient sequence;
  returns the parameter and both moments after every step.
- `predict`: one step of the textbook algorithm (Kingma & Ba 2015, Algorithm 1; decoupled decay as
  Loshchilov & Hutter 2019) in float64, with a switch that reproduces each known mistake. It serves
  hand-worked cases and names the mistake a wrong output looks like; it is never the only oracle.
"""

from __future__ import annotations

import torch
from torch.optim.adam import adam as functional_adam  # what torch.optim.Adam.step calls

from tests.adam.mistakes import MISTAKE

# Mistakes whose effect on one call of adam_step `predict` can reproduce.
STEP_MISTAKES = ["no-bias-correction", "bias-correction-m-only", "bias-correction-v-only",
                 "eps-inside-sqrt", "step-from-zero", "weight-decay-swapped",
                 "weight-decay-without-lr", "v-not-squared", "betas-swapped", "ascent"]


def predict(param, grad, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
            decoupled_weight_decay=False, mistake: str | None = None):
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
    with torch.no_grad():
        bc1 = 1 - b1 ** t if mistake not in ("no-bias-correction", "bias-correction-v-only") else 1.0
        bc2 = 1 - b2 ** t if mistake not in ("no-bias-correction", "bias-correction-m-only") else 1.0
        m_hat = m / bc1 if bc1 else m / torch.zeros_like(m)
        v_hat = v / bc2 if bc2 else v / torch.zeros_like(v)
        denom = torch.sqrt(v_hat + eps) if mistake == "eps-inside-sqrt" else torch.sqrt(v_hat) + eps
        update = lr * m_hat / denom
        p = p + update if mistake == "ascent" else p - update
    return p, m, v


def near_misses(which: int, inputs: dict, mistakes=STEP_MISTAKES):
    """A function giving (Mistake, predicted output) pairs for output `which` (0 param, 1 m, 2 v).

    Lazy: check_tensor calls it only when a comparison has failed.
    """
    return lambda: [(MISTAKE[name], predict(**inputs, mistake=name)[which]) for name in mistakes]


def torch_trajectory(param0, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                     decoupled_weight_decay=False, oracle="functional"):
    """Run PyTorch's Adam from `param0` on the gradients `grads` (a list, one per step).

    oracle="functional" calls `torch.optim.adam.adam`, the function `torch.optim.Adam.step` runs
    (single-tensor path); "class" builds `torch.optim.Adam` itself. The functional form answers in
    milliseconds, while the first `torch.optim.Adam(...)` of a process imports torch._dynamo
    (about 0.9 s), so the public suite uses the functional form and the hidden suite both.
    Returns three lists (params, ms, vs): the values after each step.
    """
    hp = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
              decoupled_weight_decay=decoupled_weight_decay)
    params, ms, vs = [], [], []
    if oracle == "class":
        p = param0.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([p], foreach=False, **hp)
        for g in grads:
            p.grad = g.detach().clone()
            opt.step()
            params.append(p.detach().clone())
            ms.append(opt.state[p]["exp_avg"].clone())
            vs.append(opt.state[p]["exp_avg_sq"].clone())
        return params, ms, vs
    p, m, v = param0.detach().clone(), torch.zeros_like(param0), torch.zeros_like(param0)
    step = torch.tensor(0.0)
    for g in grads:
        functional_adam([p], [g.detach().clone()], [m], [v], [], [step], foreach=False,
                              decoupled_weight_decay=decoupled_weight_decay, amsgrad=False,
                              beta1=betas[0], beta2=betas[1], lr=lr, weight_decay=weight_decay,
                              eps=eps, maximize=False)
        params.append(p.clone())
        ms.append(m.clone())
        vs.append(v.clone())
    return params, ms, vs


def torch_one_step(param, grad, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   decoupled_weight_decay=False):
    """(new_param, new_m, new_v) of PyTorch's Adam for update number `step` from the given state."""
    p, m, v = param.detach().clone(), m.detach().clone(), v.detach().clone()
    functional_adam([p], [grad.detach().clone()], [m], [v], [], [torch.tensor(float(step - 1))],
                    foreach=False, decoupled_weight_decay=decoupled_weight_decay, amsgrad=False,
                    beta1=betas[0], beta2=betas[1], lr=lr, weight_decay=weight_decay, eps=eps,
                    maximize=False)
    return p, m, v


def gradient_sequence(shape, steps, dtype, seed, scale=1.0):
    """A reproducible list of gradients whose scale drifts over time (as real ones do)."""
    gen = torch.Generator().manual_seed(seed)
    drift = torch.logspace(0, -1, steps, dtype=torch.float64)
    return [(torch.randn(shape, generator=gen, dtype=torch.float64) * scale * float(d)).to(dtype)
            for d in drift]


def describe(dtype, shape, **hp) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in hp.items())
    return f"{str(dtype).replace('torch.', '')}, shape {tuple(shape)}" + (f", {settings}" if settings else "")


# Tolerances, stated once with their reasons.
# float64: one step differs from torch only by rounding (1e-16 relative); 1000 steps accumulate to
# well below 1e-10 on parameters of order 1.
TOL64 = dict(rtol=1e-10, atol=1e-12)
# float32: each step rounds the parameter at about 6e-8 relative, and a correct implementation may
# order the arithmetic differently from torch or compute in float64 and round once, so the
# difference from torch grows with the number of steps. The tolerance is 1e-5 per 100 steps
# (absolute and relative), at least 1e-5. `python -m tests.adam.margins` measures how much of it
# the reference and the alternatives of mutants.py use: at most 9% (float64-inside, 1000 steps).
TOL32_PER_100_STEPS = 1e-5


def tol(dtype, scale=1.0, steps=1):
    """Tolerance for a value of typical magnitude `scale` after `steps` Adam steps.

    `scale` is 1 for parameters, max |g| for m and its square for v: the moments are sums of terms
    of that size, so their rounding error is relative to it.
    """
    if dtype == torch.float64:
        return dict(rtol=TOL64["rtol"], atol=TOL64["atol"] * scale)
    base = TOL32_PER_100_STEPS * max(1.0, steps / 100)
    return dict(rtol=base, atol=base * scale)
