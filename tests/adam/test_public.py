"""Adam, public tests: hand-worked first steps, then torch.optim.Adam over 200 steps.

Run with `make test topic=adam`. Learner code is reached only through the `impl` fixture.
"""

import pytest
import torch

from grader.checks import check_tensor, check_tuple, check_unchanged, fail, is_close
from tests.adam.driver import check_class_trajectory, check_setting, step_values
from tests.adam.mistakes import MISTAKE
from tests.adam.oracle import TOL64, gradient_sequence, near_misses, tol, torch_one_step, torch_trajectory

f64 = torch.float64


def _call_step(impl, **inputs):
    args = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in inputs.items()}
    return check_tuple(impl.adam_step(**args), 3, name="adam_step")


def _check_step(out, expected, inputs, case):
    for k, name in enumerate(("new_param", "new_m", "new_v")):
        check_tensor(out[k], expected[k], name=f"{name} from adam_step", case=case,
                     near=near_misses(k, inputs), **TOL64)


@pytest.mark.points(2)
def test_first_step_by_hand(impl):
    """The first update (m = v = 0, step 1) moves every coordinate by lr * g / (|g| + eps)."""
    # By hand: m1 = (1 - b1) g and v1 = (1 - b2) g**2, so the bias-corrected m_hat = g and
    # v_hat = g**2, and the update is lr * g / (|g| + eps): about lr * sign(g), 0 where g = 0.
    # The gradient sizes (0.3 down to 1e-4) make eps-inside-sqrt visible (sqrt(1e-8) = 1e-4).
    p = torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0], dtype=f64)
    g = torch.tensor([0.1, -0.3, 1e-4, 2.0, 0.0], dtype=f64)
    lr, eps = 0.01, 1e-8
    inputs = dict(param=p, grad=g, m=torch.zeros_like(p), v=torch.zeros_like(p), step=1, lr=lr,
                  betas=(0.9, 0.999), eps=eps)
    expected = (p - lr * g / (g.abs() + eps), 0.1 * g, 0.001 * g * g)
    _check_step(_call_step(impl, **inputs), expected, inputs,
                "step 1 from m = v = 0, float64, lr=0.01, default betas and eps")


@pytest.mark.points(2)
def test_second_step_by_hand(impl):
    """A second step with given moments, in exact binary fractions: p 1 -> 0.85, m -> 1.125, v -> 3.9375."""
    # betas (0.5, 0.75), step 2: bc1 = 1 - 0.25 = 0.75, bc2 = 1 - 0.5625 = 0.4375.
    # m2 = 0.5 * 0.75 + 0.5 * 1.5 = 1.125            -> m_hat = 1.125 / 0.75 = 1.5
    # v2 = 0.75 * 4.5 + 0.25 * 1.5**2 = 3.9375       -> v_hat = 3.9375 / 0.4375 = 9, sqrt = 3
    # p2 = 1 - 0.3 * 1.5 / 3 = 0.85 (eps = 0); the second coordinate is the mirror image.
    p = torch.tensor([1.0, -1.0], dtype=f64)
    g = torch.tensor([1.5, -1.5], dtype=f64)
    m = torch.tensor([0.75, -0.75], dtype=f64)
    v = torch.tensor([4.5, 4.5], dtype=f64)
    inputs = dict(param=p, grad=g, m=m, v=v, step=2, lr=0.3, betas=(0.5, 0.75), eps=0.0)
    expected = (torch.tensor([0.85, -0.85], dtype=f64), torch.tensor([1.125, -1.125], dtype=f64),
                torch.tensor([3.9375, 3.9375], dtype=f64))
    _check_step(_call_step(impl, **inputs), expected, inputs,
                "step 2 with m = 0.75, v = 4.5, betas (0.5, 0.75), lr 0.3, eps 0, float64")


@pytest.mark.points(2)
@pytest.mark.parametrize("decoupled", [False, True], ids=["L2", "AdamW"])
def test_weight_decay_by_hand(impl, decoupled):
    """Weight decay with a zero gradient: L2 moves each weight by about lr, AdamW shrinks it by lr * wd."""
    # p = [2, -4], g = 0, lr = 0.1, wd = 0.5, step 1.
    # L2 (decoupled False): g' = wd * p = [1, -2], so m_hat = g', v_hat = g'**2 and
    #   p' = p - lr * g' / (|g'| + eps) = [2 - 0.1 / (1 + eps), -4 + 0.1 * 2 / (2 + eps)].
    # AdamW (decoupled True): p' = p * (1 - lr * wd) = [1.9, -3.8]; m = v = 0, so no further move.
    p = torch.tensor([2.0, -4.0], dtype=f64)
    g = torch.zeros(2, dtype=f64)
    lr, wd, eps = 0.1, 0.5, 1e-8
    inputs = dict(param=p, grad=g, m=torch.zeros(2, dtype=f64), v=torch.zeros(2, dtype=f64), step=1,
                  lr=lr, eps=eps, weight_decay=wd, decoupled_weight_decay=decoupled)
    if decoupled:
        expected = (p * (1 - lr * wd), torch.zeros(2, dtype=f64), torch.zeros(2, dtype=f64))
    else:
        g2 = wd * p
        expected = (p - lr * g2 / (g2.abs() + eps), 0.1 * g2, 0.001 * g2 * g2)
    _check_step(_call_step(impl, **inputs), expected, inputs,
                f"step 1, zero gradient, p = [2, -4], lr 0.1, weight_decay 0.5, "
                f"decoupled_weight_decay={decoupled}, float64")


@pytest.mark.parametrize("decoupled", [False, True], ids=["L2", "AdamW"])
def test_adam_step_leaves_inputs_unchanged(impl, decoupled):
    """adam_step returns new tensors and does not modify param, grad, m or v."""
    gen = torch.Generator().manual_seed(0)
    p, g, m = (torch.randn(3, 2, generator=gen) for _ in range(3))
    v = torch.rand(3, 2, generator=gen)
    hp = dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=decoupled)
    before = {"param": p.clone(), "grad": g.clone(), "m": m.clone(), "v": v.clone()}
    out = check_tuple(impl.adam_step(p, g, m, v, 3, **hp), 3, name="adam_step")
    call = f"adam_step(param, grad, m, v, 3, weight_decay=0.1, decoupled_weight_decay={decoupled})"
    for name, tensor in (("param", p), ("grad", g), ("m", m), ("v", v)):
        check_unchanged(before[name], tensor, name=name, call=call,
                        mistake=MISTAKE["inputs-modified-in-place"])
    if any(out[k] is t for k, t in enumerate((p, m, v))):
        fail(f"{call} returned one of its inputs instead of a new tensor.\n"
             + MISTAKE["inputs-modified-in-place"].sentence())
    # ... and the new tensors hold the update (returning copies of the inputs is not the point).
    expected = torch_one_step(before["param"], before["grad"], before["m"], before["v"], 3, **hp)
    inputs = dict(before, step=3, **hp)
    for k, name in enumerate(("new_param", "new_m", "new_v")):
        check_tensor(out[k], expected[k], name=f"{name} from adam_step", case=f"{call}, float32",
                     near=near_misses(k, inputs), **tol(torch.float32))


TRAJECTORIES = {
    "defaults": (torch.float32, (3, 4), dict(lr=1e-2)),
    "L2 weight decay": (torch.float64, (5,), dict(lr=1e-2, weight_decay=0.1)),
    "AdamW": (torch.float32, (2, 3, 2), dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    "betas (0.0, 0.5)": (torch.float64, (4,), dict(lr=1e-2, betas=(0.0, 0.5))),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(TRAJECTORIES))
def test_adam_step_matches_torch_optim(impl, name):
    """100 calls of adam_step follow torch.optim.Adam step by step (the hidden suite goes to 1000)."""
    check_setting(impl, name, TRAJECTORIES[name], steps=100, seed=1)


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype,hp", [
    (torch.float32, dict(lr=1e-2)),
    (torch.float64, dict(lr=3e-3, betas=(0.8, 0.99), weight_decay=0.05, decoupled_weight_decay=True)),
], ids=["float32-defaults", "float64-AdamW"])
def test_class_matches_torch_optim(impl, dtype, hp):
    """Adam over two parameters of different shapes follows torch.optim.Adam for 50 steps."""
    shapes = [(3,), (2, 2)]
    gen = torch.Generator().manual_seed(3)
    params0 = [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes]
    seqs = [gradient_sequence(s, 50, dtype, seed=10 + i) for i, s in enumerate(shapes)]
    check_class_trajectory(impl, params0, list(zip(*seqs)),
                           f"Adam({dtype}, shapes {shapes}, {hp})", **hp)


def test_class_instances_are_independent(impl):
    """Two Adam instances never share moments or step counts."""
    p = torch.tensor([1.0, -1.0, 0.5], dtype=f64)
    g = torch.tensor([0.3, 0.2, -0.1], dtype=f64)
    first, second = impl.Adam([p.clone()], lr=0.1), impl.Adam([p.clone()], lr=0.1)
    for _ in range(3):
        first.step([torch.full((3,), 5.0, dtype=f64)])
    out_first = step_values(first.step([g.clone()]), 1, "Adam.step")
    out_second = step_values(second.step([g.clone()]), 1, "Adam.step")
    # Two optimizers built alike must give the same first step, whatever the other one did.
    again = step_values(impl.Adam([p.clone()], lr=0.1).step([g.clone()]), 1, "Adam.step")
    if not is_close(out_second[0], again[0], rtol=0, atol=0):
        fail(f"Two optimizers created alike gave different first steps ({out_second[0]} and "
             f"{again[0]}) after another optimizer had taken steps.\n"
             + MISTAKE["shared-state"].sentence())
    inputs = dict(param=p, grad=g, m=torch.zeros_like(p), v=torch.zeros_like(p), step=1, lr=0.1)
    expected = p - 0.1 * g / (g.abs() + 1e-8)  # first step by hand, as in test_first_step_by_hand
    check_tensor(out_second[0], expected, name="the first step of Adam([p], lr=0.1)",
                 case="a new optimizer, float64, while another one has taken four steps",
                 near=near_misses(0, inputs), **TOL64)
    if is_close(out_first[0], expected, **TOL64):
        fail("An optimizer that has taken four steps gives the same value as a fresh one: "
             "it must keep its own moments and step count between calls.")


def test_class_leaves_caller_tensors_unchanged(impl):
    """Adam keeps its own copies: the tensors given to Adam(...) and to step(...) are not modified."""
    p, g = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -0.5])
    p_before, g_before = p.clone(), g.clone()
    hp = dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True)
    opt = impl.Adam([p], **hp)
    opt.step([g])
    values = step_values(opt.step([g]), 1, "Adam.step")
    check_unchanged(p_before, p, name="params[0]", call="Adam(params).step(grads)")
    check_unchanged(g_before, g, name="grads[0]", call="Adam(params).step(grads)")
    # ... while its own copy moves as torch.optim.Adam's does: doing nothing is not the point.
    expected = torch_trajectory(p_before, [g_before, g_before], **hp)[0][-1]
    check_tensor(values[0], expected, name="the value after two steps of Adam([p], lr=0.1, "
                 "weight_decay=0.1, decoupled_weight_decay=True)", case="float32, p = [1, 2], "
                 "g = [0.5, -0.5] twice", **tol(torch.float32))
