"""Adam, public tests: hand-worked first steps, then torch.optim.Adam over 100 steps.

Run with `make test topic=adam`. Learner code is reached only through the `impl` fixture. Each test
shows its inputs and its oracle; the helpers below it are PyTorch's Adam (the oracle) and the loop
that feeds your outputs back in and reports the first step that goes wrong.
"""

import pytest
import torch
from torch.optim.adam import adam as functional_adam  # what torch.optim.Adam.step calls

from grader.checks import fail, is_close
from grader.kit import F32, F64, Tol, call_checking_inputs, cases, check_outputs, describe, randn, tensor_list
from tests.adam.key import first_step_mistakes, step_mistakes
from tests.adam.mistakes import MISTAKE

OUTPUTS = ("new_param", "new_m", "new_v")

# Tolerances, with their reasons.
TOL64 = Tol(
    1e-10,
    1e-12,
    "float64: one step differs from torch only by rounding (1e-16 relative); "
    "1000 steps accumulate to well below 1e-10 on parameters of order 1",
)
# float32: each step rounds the parameter at about 6e-8 relative, and a correct implementation may
# order the arithmetic differently from torch or compute in float64 and round once, so the
# difference from torch grows with the number of steps: 1e-5 per 100 steps (absolute and
# relative), at least 1e-5. `python -m tests.adam.margins` measures how much of it the reference and
# the alternatives of mutants.py use (at most 9%, float64-inside over 1000 steps).
TOL32_PER_100_STEPS = 1e-5


def tol(dtype: torch.dtype, scale: float = 1.0, steps: int = 1) -> Tol:
    """Tolerance for a value of typical magnitude `scale` after `steps` Adam steps: `scale` is 1 for
    parameters, max |g| for m and its square for v (the moments are sums of terms of that size)."""
    if dtype == F64:
        return TOL64.scaled(scale)
    base = TOL32_PER_100_STEPS * max(1.0, steps / 100)
    return Tol(base, base * scale, f"float32, {steps} steps: 1e-5 per 100 steps, relative to {scale:g}")


# ---------------------------------------------------------------------------------------------------
# The oracle: PyTorch's own Adam


def torch_adam(
    param0,
    grads,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    decoupled_weight_decay=False,
    oracle="functional",
):
    """(params, ms, vs): the values after each step of PyTorch's Adam from `param0` on `grads`.

    oracle="functional" calls `torch.optim.adam.adam`, the function `torch.optim.Adam.step` runs
    (single-tensor path), in milliseconds; "class" builds `torch.optim.Adam` itself, whose first use
    in a process imports torch._dynamo (about 1 s), so the hidden suite does that once at import.
    """
    hp = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay)
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
    for step, g in enumerate(grads, start=1):
        p, m, v = torch_one_step(p, g, m, v, step, **hp)
        params.append(p.clone())
        ms.append(m.clone())
        vs.append(v.clone())
    return params, ms, vs


def torch_one_step(
    param, grad, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False
):
    """(new_param, new_m, new_v) of PyTorch's Adam for update number `step` from the given state."""
    p, m, v = param.detach().clone(), m.detach().clone(), v.detach().clone()
    functional_adam(
        [p],
        [grad.detach().clone()],
        [m],
        [v],
        [],
        [torch.tensor(float(step - 1))],
        foreach=False,
        decoupled_weight_decay=decoupled_weight_decay,
        amsgrad=False,
        beta1=betas[0],
        beta2=betas[1],
        lr=lr,
        weight_decay=weight_decay,
        eps=eps,
        maximize=False,
    )
    return p, m, v


def gradient_sequence(shape, steps, dtype, seed, scale=1.0):
    """`steps` reproducible gradients whose scale drifts from `scale` down to scale / 10."""
    gen = torch.Generator().manual_seed(seed)
    drift = torch.logspace(0, -1, steps, dtype=F64)
    return [randn(shape, gen, dtype, scale * float(d)) for d in drift]


def call_step(impl, param, grad, m, v, step, **hp):
    """impl.adam_step on copies of the tensors (the test keeps its own)."""
    return impl.adam_step(param.clone(), grad.clone(), m.clone(), v.clone(), step, **hp)


# ---------------------------------------------------------------------------------------------------
# Trajectories: your outputs fed back in, compared at every step, the first wrong step reported


def _first_bad_step(actual: list, expected: list, t: Tol) -> int | None:
    """Index of the first step whose output is not a close tensor of the right shape and dtype."""
    for i, (a, e) in enumerate(zip(actual, expected)):
        if not (isinstance(a, torch.Tensor) and a.shape == e.shape and a.dtype == e.dtype):
            return i
    ok = (
        torch.isclose(
            torch.stack([a.detach() for a in actual]), torch.stack(expected[: len(actual)]), rtol=t.rtol, atol=t.atol
        )
        .reshape(len(actual), -1)
        .all(dim=1)
    )
    return None if bool(ok.all()) else int((~ok).nonzero()[0])


def check_trajectory(impl, param0, grads, expected, case: str, **hp) -> None:
    """adam_step applied len(grads) times from param0 (m = v = 0), each call given its own previous
    outputs, must follow `expected` = (params, ms, vs) step by step."""
    n = len(grads)
    scale = max(float(g.abs().max()) for g in grads) if param0.numel() else 1.0
    tols = [tol(param0.dtype, s, n) for s in (1.0, scale, scale * scale)]
    p, m, v = param0.clone(), torch.zeros_like(param0), torch.zeros_like(param0)
    inputs, nears, outputs = [], [], ([], [], [])
    for step, g in enumerate(grads, start=1):
        inputs.append((p, g, m, v, step))
        # Named mistakes are predicted for every step before it is checked (the release stores them
        # per step: grader/answers.py); they are computed only for a step that fails.
        nears.append(step_mistakes(p, g, m, v, step, **hp))
        out = call_step(impl, p, g, m, v, step, **hp)
        if not (
            isinstance(out, tuple)
            and len(out) == 3
            and all(isinstance(o, torch.Tensor) and o.shape == p.shape for o in out)
        ):
            break  # check_outputs below reports it at this step
        for k in range(3):
            outputs[k].append(out[k])
        p, m, v = out
    if len(outputs[0]) < len(inputs):  # the last call returned something unusable
        step = len(inputs) - 1
    else:
        bad = [b for k in range(3) if (b := _first_bad_step(outputs[k], expected[k], tols[k])) is not None]
        if not bad:
            return
        step = min(bad)
    args = inputs[step]
    check_outputs(
        call_step(impl, *args, **hp),
        [e[step] for e in expected],
        names=OUTPUTS,
        of="adam_step",
        case=f"{case}, step {step + 1} of {n} (torch.optim.Adam as reference)",
        tol=tols,
        near=nears[step],
    )


def check_class_trajectory(impl, params0, grads_per_step, expected, case: str, **hp) -> None:
    """impl.Adam over several parameters must follow `expected` (one trajectory per parameter):
    both what `step` returns and what `params` holds afterwards, at every step."""
    count, n = len(params0), len(grads_per_step)
    # On the first step m = v = 0, so a mistake of one update can be recognised (on all parameters).
    first_near = first_step_mistakes(params0, grads_per_step[0], **hp)
    mine = impl.Adam([p.clone() for p in params0], **hp)
    returned, held = [[] for _ in params0], [[] for _ in params0]
    for grads in grads_per_step:
        out = tensor_list(mine.step([g.clone() for g in grads]), count, "Adam.step", per="parameter")
        current = tensor_list(mine.params, count, "Adam.params", per="parameter")
        for i in range(count):
            returned[i].append(out[i])
            held[i].append(current[i])
    tols = [tol(p.dtype, 1.0, n) for p in params0]
    bad = [
        b
        for i in range(count)
        for b in (_first_bad_step(returned[i], expected[i], tols[i]), _first_bad_step(held[i], expected[i], tols[i]))
        if b is not None
    ]
    if not bad:
        return
    step = min(bad)
    where = f"{case}, step {step + 1} of {n} (torch.optim.Adam as reference)"
    names = [f"parameter {i}" for i in range(count)]
    near = first_near if step == 0 else None
    truth = [e[step] for e in expected]
    check_outputs([r[step] for r in returned], truth, names=names, of="Adam.step", case=where, tol=tols, near=near)
    check_outputs([h[step] for h in held], truth, names=names, of="Adam.params after the step", case=where, tol=tols)


# ---------------------------------------------------------------------------------------------------
# adam_step, by hand


@pytest.mark.points(2)
def test_first_step_by_hand(impl):
    """The first update (m = v = 0, step 1) moves every coordinate by lr * g / (|g| + eps)."""
    # By hand: m1 = (1 - b1) g and v1 = (1 - b2) g**2, so the bias-corrected m_hat = g and
    # v_hat = g**2, and the update is lr * g / (|g| + eps): about lr * sign(g), 0 where g = 0.
    # The gradient sizes (0.3 down to 1e-4) make eps-inside-sqrt visible (sqrt(1e-8) = 1e-4).
    p = torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0], dtype=F64)
    g = torch.tensor([0.1, -0.3, 1e-4, 2.0, 0.0], dtype=F64)
    zero = torch.zeros_like(p)
    hp = dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    expected = (p - 0.01 * g / (g.abs() + 1e-8), 0.1 * g, 0.001 * g * g)
    check_outputs(
        call_step(impl, p, g, zero, zero, 1, **hp),
        expected,
        names=OUTPUTS,
        of="adam_step",
        case="step 1 from m = v = 0, float64, lr=0.01, default betas and eps",
        tol=TOL64,
        near=step_mistakes(p, g, zero, zero, 1, **hp),
    )


@pytest.mark.points(2)
def test_second_step_by_hand(impl):
    """A second step with given moments, in exact binary fractions: p 1 -> 0.85, m -> 0.9375, v -> 3."""
    # betas (0.25, 0.5), step 2: bc1 = 1 - 0.0625 = 0.9375, bc2 = 1 - 0.25 = 0.75.
    # m2 = 0.25 * 0.75 + 0.75 * 1 = 0.9375          -> m_hat = 0.9375 / 0.9375 = 1
    # v2 = 0.5 * 5 + 0.5 * 1**2 = 3                  -> v_hat = 3 / 0.75 = 4, sqrt = 2
    # p2 = 1 - 0.3 * 1 / 2 = 0.85 (eps = 0); the second coordinate is the mirror image.
    # (1 - beta1 differs from sqrt(1 - beta2), so "no bias correction" and "step counted from 0"
    # give different values here, and beta1 != beta2 shows betas swapped.)
    p, g = torch.tensor([1.0, -1.0], dtype=F64), torch.tensor([1.0, -1.0], dtype=F64)
    m, v = torch.tensor([0.75, -0.75], dtype=F64), torch.tensor([5.0, 5.0], dtype=F64)
    hp = dict(lr=0.3, betas=(0.25, 0.5), eps=0.0)
    expected = (
        torch.tensor([0.85, -0.85], dtype=F64),
        torch.tensor([0.9375, -0.9375], dtype=F64),
        torch.tensor([3.0, 3.0], dtype=F64),
    )
    check_outputs(
        call_step(impl, p, g, m, v, 2, **hp),
        expected,
        names=OUTPUTS,
        of="adam_step",
        case="step 2 with m = 0.75, v = 5, betas (0.25, 0.5), lr 0.3, eps 0, float64",
        tol=TOL64,
        near=step_mistakes(p, g, m, v, 2, **hp),
    )


@pytest.mark.points(2)
@pytest.mark.parametrize("decoupled", [False, True], ids=["L2", "AdamW"])
def test_weight_decay_by_hand(impl, decoupled):
    """Weight decay with a zero gradient: L2 moves each weight by about lr, AdamW shrinks it by lr * wd."""
    # p = [2, -4], g = 0, lr = 0.1, wd = 0.5, step 1.
    # L2 (decoupled False): g' = wd * p = [1, -2], so m_hat = g', v_hat = g'**2 and
    #   p' = p - lr * g' / (|g'| + eps) = [2 - 0.1 / (1 + eps), -4 + 0.1 * 2 / (2 + eps)].
    # AdamW (decoupled True): p' = p * (1 - lr * wd) = [1.9, -3.8]; m = v = 0, so no further move.
    p, zero = torch.tensor([2.0, -4.0], dtype=F64), torch.zeros(2, dtype=F64)
    hp = dict(lr=0.1, eps=1e-8, weight_decay=0.5, decoupled_weight_decay=decoupled)
    if decoupled:
        expected = (p * (1 - 0.1 * 0.5), zero, zero)
    else:
        g2 = 0.5 * p
        expected = (p - 0.1 * g2 / (g2.abs() + 1e-8), 0.1 * g2, 0.001 * g2 * g2)
    check_outputs(
        call_step(impl, p, zero, zero, zero, 1, **hp),
        expected,
        names=OUTPUTS,
        of="adam_step",
        case=f"step 1, zero gradient, p = [2, -4], lr 0.1, weight_decay 0.5, "
        f"decoupled_weight_decay={decoupled}, float64",
        tol=TOL64,
        near=step_mistakes(p, zero, zero, zero, 1, **hp),
    )


@pytest.mark.parametrize("decoupled", [False, True], ids=["L2", "AdamW"])
def test_adam_step_leaves_inputs_unchanged(impl, decoupled):
    """adam_step leaves param, grad, m and v as they were and returns new tensors, with new values."""
    gen = torch.Generator().manual_seed(0)
    p, g, m = (randn((3, 2), gen, F32) for _ in range(3))
    v = torch.rand(3, 2, generator=gen)
    call = f"adam_step(param, grad, m, v, 3, weight_decay=0.1, decoupled_weight_decay={decoupled})"
    args = dict(param=p, grad=g, m=m, v=v, step=3, lr=0.01, weight_decay=0.1, decoupled_weight_decay=decoupled)
    out = call_checking_inputs(impl.adam_step, args, call=call, mistake=MISTAKE["inputs-modified-in-place"])
    # ... and returning copies of the inputs is not the point: each output must have moved (the
    # values themselves are the other tests' business).
    if not (isinstance(out, (tuple, list)) and len(out) == 3):
        fail(f"{call} should return (new_param, new_m, new_v), three new tensors; got {type(out).__name__}.")
    for name, k, start in (("new_param", 0, p), ("new_m", 1, m), ("new_v", 2, v)):
        got = out[k]
        if not isinstance(got, torch.Tensor) or got.shape != start.shape:
            shown = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            fail(f"{call} returned {name} as {shown}, not a new tensor of shape {tuple(start.shape)}.")
        if is_close(got, start, rtol=0, atol=0):
            fail(f"{call} returned {name} equal to its input: an update moves it.")
        if not bool(torch.isfinite(got).all()):
            fail(f"{call} returned {name} with NaN or infinite values, from finite inputs: not a result.")


# ---------------------------------------------------------------------------------------------------
# adam_step against torch.optim.Adam

TRAJECTORIES = {
    "defaults": (F32, (3, 4), dict(lr=1e-2)),
    "L2 weight decay": (F64, (5,), dict(lr=1e-2, weight_decay=0.1)),
    "AdamW": (F32, (2, 3, 2), dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    "betas (0.0, 0.5)": (F64, (4,), dict(lr=1e-2, betas=(0.0, 0.5))),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype, shape, hp", cases(TRAJECTORIES))
def test_adam_step_matches_torch_optim(impl, dtype, shape, hp):
    """100 calls of adam_step follow torch.optim.Adam step by step (the hidden suite goes to 1000)."""
    param0 = randn(shape, seed=1, dtype=dtype)
    grads = gradient_sequence(shape, 100, dtype, seed=2)
    expected = torch_adam(param0, grads, **hp)
    check_trajectory(impl, param0, grads, expected, describe(dtype, shape, **hp), **hp)


# ---------------------------------------------------------------------------------------------------
# The Adam class


@pytest.mark.points(2)
@pytest.mark.parametrize(
    "dtype, hp",
    cases(
        {
            "float32-defaults": (F32, dict(lr=1e-2)),
            "float64-AdamW": (F64, dict(lr=3e-3, betas=(0.8, 0.99), weight_decay=0.05, decoupled_weight_decay=True)),
        }
    ),
)
def test_class_matches_torch_optim(impl, dtype, hp):
    """Adam over two parameters of different shapes follows torch.optim.Adam for 50 steps."""
    shapes = [(3,), (2, 2)]
    gen = torch.Generator().manual_seed(3)
    params0 = [randn(s, gen, dtype) for s in shapes]
    grads = [gradient_sequence(s, 50, dtype, seed=10 + i) for i, s in enumerate(shapes)]
    expected = [torch_adam(p0, gs, **hp)[0] for p0, gs in zip(params0, grads)]
    check_class_trajectory(impl, params0, list(zip(*grads)), expected, f"Adam({dtype}, shapes {shapes}, {hp})", **hp)


def test_class_instances_are_independent(impl):
    """Two Adam instances never share moments or step counts."""
    p = torch.tensor([1.0, -1.0, 0.5], dtype=F64)
    g = torch.tensor([0.3, 0.2, -0.1], dtype=F64)
    first, second = impl.Adam([p.clone()], lr=0.1), impl.Adam([p.clone()], lr=0.1)
    for _ in range(3):
        first.step([torch.full((3,), 5.0, dtype=F64)])
    out_first = tensor_list(first.step([g.clone()]), 1, "Adam.step", per="parameter")
    out_second = tensor_list(second.step([g.clone()]), 1, "Adam.step", per="parameter")
    # Two optimizers built alike must give the same first step, whatever the other one did.
    again = tensor_list(impl.Adam([p.clone()], lr=0.1).step([g.clone()]), 1, "Adam.step", per="parameter")
    if not is_close(out_second[0], again[0], rtol=0, atol=0):
        fail(
            f"Two optimizers created alike gave different first steps ({out_second[0]} and "
            f"{again[0]}) after another optimizer had taken steps.\n" + MISTAKE["shared-state"].sentence()
        )
    expected = p - 0.1 * g / (g.abs() + 1e-8)  # first step by hand, as in test_first_step_by_hand
    check_outputs(
        out_second,
        [expected],
        names=["parameter 0"],
        of="the first Adam([p], lr=0.1).step",
        case="a new optimizer, float64, while another one has taken four steps",
        tol=TOL64,
        near=first_step_mistakes([p], [g], lr=0.1),
    )
    if is_close(out_first[0], expected, **TOL64):
        fail(
            "An optimizer that has taken four steps gives the same value as a fresh one: "
            "it must keep its own moments and step count between calls."
        )


def test_class_leaves_caller_tensors_unchanged(impl):
    """Adam keeps its own copies: the tensors given to Adam(...) and to step(...) are not modified."""
    p, g, zero = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -0.5]), torch.zeros(2)
    hp = dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True)
    call = "Adam(params, lr=0.1, weight_decay=0.1, decoupled_weight_decay=True)"
    opt = call_checking_inputs(lambda params: impl.Adam(params, **hp), dict(params=[p]), call=call)
    first = tensor_list(
        call_checking_inputs(opt.step, dict(grads=[g]), call=f"{call}.step(grads)"), 1, "Adam.step", per="parameter"
    )[0].clone()
    second = tensor_list(
        call_checking_inputs(opt.step, dict(grads=[zero]), call=f"{call}.step(grads)"), 1, "Adam.step", per="parameter"
    )[0]
    # ... while its own copy moves: after a step with a zero gradient, momentum and weight decay
    # still move it (a copy that never changes, or plain gradient descent, keeps it in place).
    if is_close(second, first, rtol=0, atol=0):
        fail(
            f"{call}: a step with a zero gradient after a first step left the parameter where it was; "
            "the optimizer must update its own copy (momentum and weight decay still move it)."
        )
