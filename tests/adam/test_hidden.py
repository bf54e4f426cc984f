"""Adam, hidden tests: torch.optim.Adam itself over long trajectories, more shapes and dtypes,
edge values (zero, tiny and huge gradients, lr 0, late steps), and the class with mixed parameters.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch

from grader.checks import fail
from grader.kit import F32, F64, call_checking_inputs, cases, check_outputs, describe, rand, randn, tensor_list
from tests.adam.key import step_mistakes
from tests.adam.mistakes import MISTAKE
from tests.adam.test_public import (
    OUTPUTS,
    call_step,
    check_class_trajectory,
    check_trajectory,
    gradient_sequence,
    tol,
    torch_adam,
    torch_one_step,
)

# The first torch.optim.Adam(...) of a process imports torch._dynamo (about 1 s, far more on a busy
# machine): done here, once, so that no test's time depends on it.
torch.optim.Adam([torch.zeros(1, requires_grad=True)])

# Tensors stay at most 1024 elements: above that torch runs sqrt on several threads, whose start-up
# makes a test's time depend on how busy the machine is (4 ms instead of 2 us per call).
LONG = {
    "scalar, defaults": (F32, (), dict()),
    "wide matrix, lr 0.1": (F32, (16, 33), dict(lr=0.1)),
    "L2 weight decay": (F32, (7, 3), dict(lr=3e-3, weight_decay=0.01)),
    "AdamW, strong decay": (F64, (5, 1, 2), dict(lr=1e-2, weight_decay=0.5, decoupled_weight_decay=True)),
    "betas (0.0, 0.5)": (F32, (6,), dict(lr=1e-2, betas=(0.0, 0.5))),
    "betas (0.5, 0.0), eps 1e-3": (F64, (4, 4), dict(lr=1e-2, betas=(0.5, 0.0), eps=1e-3)),
    "betas (0.99, 0.9999), L2": (F64, (9,), dict(lr=1e-3, betas=(0.99, 0.9999), weight_decay=0.1)),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("dtype, shape, hp", cases(LONG))
def test_long_trajectory_against_torch_optim_adam(impl, dtype, shape, hp):
    """1000 calls of adam_step follow torch.optim.Adam (the class itself) on many settings."""
    param0 = randn(shape, seed=7, dtype=dtype)
    grads = gradient_sequence(shape, 1000, dtype, seed=8)
    expected = torch_adam(param0, grads, oracle="class", **hp)
    check_trajectory(impl, param0, grads, expected, describe(dtype, shape, **hp), **hp)


EDGES = {
    "gradients vanish after 5 steps": (F32, 0.0, dict(lr=1e-2)),
    "gradients vanish after 5 steps, AdamW": (F32, 0.0, dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    "gradients vanish after 5 steps, L2": (F64, 0.0, dict(lr=1e-2, weight_decay=0.1)),
    "huge gradients (1e12)": (F32, 1e12, dict(lr=1e-2)),
    "huge gradients (1e100), float64": (F64, 1e100, dict(lr=1e-2)),
    "tiny gradients (1e-12)": (F32, 1e-12, dict(lr=1e-2)),
    "tiny gradients, eps 0": (F64, 1e-30, dict(lr=1e-2, eps=0.0)),
    "lr 0 with AdamW": (F32, 1.0, dict(lr=0.0, weight_decay=0.3, decoupled_weight_decay=True)),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype, scale, hp", cases(EDGES))
def test_edge_values(impl, dtype, scale, hp):
    """Extreme gradient sizes, vanishing gradients and lr 0 behave as in torch.optim.Adam."""
    param0 = randn((3, 5), seed=11, dtype=dtype)
    if scale == 0.0:  # momentum keeps the parameters moving after the gradients become exactly 0
        grads = gradient_sequence((3, 5), 5, dtype, seed=12) + [torch.zeros(3, 5, dtype=dtype)] * 25
    else:
        grads = gradient_sequence((3, 5), 30, dtype, seed=12, scale=scale)
    expected = torch_adam(param0, grads, **hp)
    check_trajectory(
        impl, param0, grads, expected, f"gradients of size {scale:g}, " + describe(dtype, (3, 5), **hp), **hp
    )


@pytest.mark.parametrize("step", [2, 10, 10_000])
def test_late_steps_with_given_moments(impl, step):
    """adam_step at step t with given m and v matches torch's update for the same state."""
    gen = torch.Generator().manual_seed(step)
    p, g, m = (randn((4, 3), gen) for _ in range(3))
    v = rand((4, 3), gen)
    hp = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05, decoupled_weight_decay=False)
    check_outputs(
        call_step(impl, p, g, m, v, step, **hp),
        torch_one_step(p, g, m, v, step, **hp),
        names=OUTPUTS,
        of="adam_step",
        tol=tol(F64),
        case=f"step {step} with random m and v, float64, L2 weight decay 0.05",
        near=step_mistakes(p, g, m, v, step, **hp),
    )


@pytest.mark.points(3)
@pytest.mark.parametrize(
    "hp",
    cases(
        {
            "defaults": dict(lr=1e-2),
            "L2": dict(lr=5e-3, weight_decay=0.02),
            "AdamW-odd-betas": dict(lr=5e-3, betas=(0.0, 0.5), weight_decay=0.2, decoupled_weight_decay=True),
        }
    ),
)
def test_class_many_parameters_against_torch_optim_adam(impl, hp):
    """Adam over five parameters (a scalar, mixed float32/float64) follows torch.optim.Adam for 300 steps."""
    specs = [((), F32), ((4,), F64), ((3, 2), F32), ((2, 1, 3), F64), ((16, 8), F32)]
    gen = torch.Generator().manual_seed(21)
    params0 = [randn(s, gen, d) for s, d in specs]
    grads = [gradient_sequence(s, 300, d, seed=30 + i) for i, (s, d) in enumerate(specs)]
    expected = [torch_adam(p0, gs, oracle="class", **hp)[0] for p0, gs in zip(params0, grads)]
    check_class_trajectory(impl, params0, list(zip(*grads)), expected, f"Adam(five parameters, {hp})", **hp)


def test_class_interleaved_instances(impl):
    """Two optimizers stepped alternately each follow their own torch.optim.Adam trajectory."""
    gen = torch.Generator().manual_seed(5)
    pa, pb = randn((3,), gen, F32), randn((3,), gen, F32)
    ga, gb = gradient_sequence((3,), 20, F32, seed=1), gradient_sequence((3,), 20, F32, seed=2)
    a, b = impl.Adam([pa.clone()], lr=0.05), impl.Adam([pb.clone()], lr=0.05, betas=(0.5, 0.9))
    expected_a = torch_adam(pa, ga, lr=0.05, oracle="class")[0]
    expected_b = torch_adam(pb, gb, lr=0.05, betas=(0.5, 0.9), oracle="class")[0]
    for step in range(20):
        out_a = tensor_list(a.step([ga[step].clone()]), 1, "Adam.step", per="parameter")
        out_b = tensor_list(b.step([gb[step].clone()]), 1, "Adam.step", per="parameter")
        case = f"two optimizers stepped alternately, step {step + 1}"
        check_outputs(
            out_a,
            [expected_a[step]],
            names=["parameter 0"],
            of="the first optimizer's Adam.step",
            case=case,
            tol=tol(F32),
        )
        check_outputs(
            out_b,
            [expected_b[step]],
            names=["parameter 0"],
            of="the second optimizer's Adam.step",
            case=case,
            tol=tol(F32),
        )


def test_class_does_not_modify_gradients(impl):
    """Adam.step leaves the gradient tensors it is given unchanged, with weight decay of both kinds."""
    for decoupled in (False, True):
        g = torch.tensor([[0.5, -0.25], [2.0, 0.0]])
        call = f"Adam(..., decoupled_weight_decay={decoupled}).step(grads)"
        opt = impl.Adam([torch.ones(2, 2)], lr=0.1, weight_decay=0.1, decoupled_weight_decay=decoupled)
        steps = [
            tensor_list(
                call_checking_inputs(
                    opt.step, dict(grads=[grads]), call=call, mistake=MISTAKE["inputs-modified-in-place"]
                ),
                1,
                "Adam.step",
                per="parameter",
            )[0].clone()
            for grads in (g, torch.zeros(2, 2))
        ]
        # ... and it did update its parameter: after a zero gradient, momentum and decay still move it.
        if not all(bool(torch.isfinite(step).all()) for step in steps):
            fail(f"{call}: the parameter holds NaN or infinite values after steps from finite values.")
        if bool((steps[1] == steps[0]).all()):
            fail(
                f"{call}: a step with a zero gradient after a first step left the parameter where it "
                "was; the optimizer must update its own copy (momentum and weight decay still move it)."
            )
