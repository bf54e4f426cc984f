"""Adam, hidden tests: torch.optim.Adam itself over long trajectories, more shapes and dtypes,
edge values (zero, tiny and huge gradients, lr 0, late steps), and the class with mixed parameters.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch

from grader.checks import check_tensor, check_tuple, check_unchanged
from tests.adam.driver import check_adam_step_trajectory, check_class_trajectory, check_setting, step_values
from tests.adam.mistakes import MISTAKE
from tests.adam.oracle import (describe, gradient_sequence, near_misses, tol, torch_one_step,
                               torch_trajectory)

LONG = {
    "scalar, defaults": (torch.float32, (), dict()),
    "wide matrix, lr 0.1": (torch.float32, (64, 33), dict(lr=0.1)),
    "L2 weight decay": (torch.float32, (7, 3), dict(lr=3e-3, weight_decay=0.01)),
    "AdamW, strong decay": (torch.float64, (5, 1, 2), dict(lr=1e-2, weight_decay=0.5, decoupled_weight_decay=True)),
    "betas (0.0, 0.5)": (torch.float32, (6,), dict(lr=1e-2, betas=(0.0, 0.5))),
    "betas (0.5, 0.0), eps 1e-3": (torch.float64, (4, 4), dict(lr=1e-2, betas=(0.5, 0.0), eps=1e-3)),
    "betas (0.99, 0.9999), L2": (torch.float64, (9,), dict(lr=1e-3, betas=(0.99, 0.9999), weight_decay=0.1)),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("name", list(LONG))
def test_long_trajectory_against_torch_optim_adam(impl, name):
    """1000 calls of adam_step follow torch.optim.Adam (the class itself) on many settings."""
    check_setting(impl, name, LONG[name], steps=1000, seed=7, oracle="class")


EDGES = {
    "gradients vanish after 5 steps": (torch.float32, 0.0, dict(lr=1e-2)),
    "gradients vanish after 5 steps, AdamW": (torch.float32, 0.0, dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    "gradients vanish after 5 steps, L2": (torch.float64, 0.0, dict(lr=1e-2, weight_decay=0.1)),
    "huge gradients (1e12)": (torch.float32, 1e12, dict(lr=1e-2)),
    "huge gradients (1e100), float64": (torch.float64, 1e100, dict(lr=1e-2)),
    "tiny gradients (1e-12)": (torch.float32, 1e-12, dict(lr=1e-2)),
    "tiny gradients, eps 0": (torch.float64, 1e-30, dict(lr=1e-2, eps=0.0)),
    "lr 0 with AdamW": (torch.float32, 1.0, dict(lr=0.0, weight_decay=0.3, decoupled_weight_decay=True)),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(EDGES))
def test_edge_values(impl, name):
    """Extreme gradient sizes, vanishing gradients and lr 0 behave as in torch.optim.Adam."""
    dtype, scale, hp = EDGES[name]
    gen = torch.Generator().manual_seed(11)
    param0 = torch.randn(3, 5, generator=gen, dtype=torch.float64).to(dtype)
    if scale == 0.0:  # momentum keeps the parameters moving after the gradients become exactly 0
        grads = gradient_sequence((3, 5), 5, dtype, seed=12) + [torch.zeros(3, 5, dtype=dtype)] * 25
    else:
        grads = gradient_sequence((3, 5), 30, dtype, seed=12, scale=scale)
    check_adam_step_trajectory(impl, param0, grads, f"{name}: {describe(dtype, (3, 5), **hp)}", **hp)


@pytest.mark.parametrize("step", [2, 10, 10_000])
def test_late_steps_with_given_moments(impl, step):
    """adam_step at step t with given m and v matches torch's update for the same state."""
    gen = torch.Generator().manual_seed(step)
    p, g, m = (torch.randn(4, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    v = torch.rand(4, 3, generator=gen, dtype=torch.float64)
    hp = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05, decoupled_weight_decay=False)
    ep, em, ev = torch_one_step(p, g, m, v, step, **hp)
    out = check_tuple(impl.adam_step(p.clone(), g.clone(), m.clone(), v.clone(), step, **hp), 3,
                      name="adam_step")
    inputs = dict(param=p, grad=g, m=m, v=v, step=step, **hp)
    case = f"step {step} with random m and v, float64, L2 weight decay 0.05"
    for k, (name, expected) in enumerate((("new_param", ep), ("new_m", em), ("new_v", ev))):
        check_tensor(out[k], expected, name=f"{name} from adam_step", case=case,
                     near=near_misses(k, inputs), **tol(torch.float64))


@pytest.mark.points(3)
@pytest.mark.parametrize("hp", [
    dict(lr=1e-2),
    dict(lr=5e-3, weight_decay=0.02),
    dict(lr=5e-3, betas=(0.0, 0.5), weight_decay=0.2, decoupled_weight_decay=True),
], ids=["defaults", "L2", "AdamW-odd-betas"])
def test_class_many_parameters_against_torch_optim_adam(impl, hp):
    """Adam over five parameters (a scalar, mixed float32/float64) follows torch.optim.Adam for 300 steps."""
    specs = [((), torch.float32), ((4,), torch.float64), ((3, 2), torch.float32),
             ((2, 1, 3), torch.float64), ((16, 8), torch.float32)]
    gen = torch.Generator().manual_seed(21)
    params0 = [torch.randn(s, generator=gen, dtype=torch.float64).to(d) for s, d in specs]
    seqs = [gradient_sequence(s, 300, d, seed=30 + i) for i, (s, d) in enumerate(specs)]
    check_class_trajectory(impl, params0, list(zip(*seqs)), f"Adam(five parameters, {hp})",
                           oracle="class", **hp)


def test_class_interleaved_instances(impl):
    """Two optimizers stepped alternately each follow their own torch.optim.Adam trajectory."""
    gen = torch.Generator().manual_seed(5)
    pa, pb = torch.randn(3, generator=gen), torch.randn(3, generator=gen)
    ga, gb = gradient_sequence((3,), 20, torch.float32, seed=1), gradient_sequence((3,), 20, torch.float32, seed=2)
    a, b = impl.Adam([pa.clone()], lr=0.05), impl.Adam([pb.clone()], lr=0.05, betas=(0.5, 0.9))
    ta = torch.optim.Adam([pa_t := pa.clone().requires_grad_(True)], lr=0.05, foreach=False)
    tb = torch.optim.Adam([pb_t := pb.clone().requires_grad_(True)], lr=0.05, betas=(0.5, 0.9), foreach=False)
    for step in range(20):
        out_a = step_values(a.step([ga[step].clone()]), 1, "Adam.step")
        out_b = step_values(b.step([gb[step].clone()]), 1, "Adam.step")
        pa_t.grad, pb_t.grad = ga[step].clone(), gb[step].clone()
        ta.step()
        tb.step()
        case = f"two optimizers stepped alternately, step {step + 1}"
        for name, out, expected in (("first", out_a, pa_t), ("second", out_b, pb_t)):
            if not torch.allclose(out[0], expected.detach(), **tol(torch.float32)):
                check_tensor(out[0], expected.detach(), name=f"the {name} optimizer's parameter",
                             case=case, **tol(torch.float32))


def test_class_does_not_modify_gradients(impl):
    """Adam.step leaves the gradient tensors it is given unchanged, with weight decay of both kinds."""
    for decoupled in (False, True):
        g = torch.tensor([[0.5, -0.25], [2.0, 0.0]])
        before = g.clone()
        hp = dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=decoupled)
        opt = impl.Adam([torch.ones(2, 2)], **hp)
        opt.step([g])
        values = step_values(opt.step([g]), 1, "Adam.step")
        call = f"Adam(..., decoupled_weight_decay={decoupled}).step(grads)"
        check_unchanged(before, g, name="grads[0]", call=call, mistake=MISTAKE["inputs-modified-in-place"])
        # ... and it did update the parameter: leaving everything alone is not the point.
        expected = torch_trajectory(torch.ones(2, 2), [before, before], **hp)[0][-1]
        check_tensor(values[0], expected, name="the value after two steps", case=call, **tol(torch.float32))
