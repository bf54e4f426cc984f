"""Drive the learner's Adam (through `impl`) along a trajectory and compare with torch.optim.Adam.

Shared by the public and the hidden suite. Each step feeds the learner its own previous outputs, so
the first step that goes wrong is the one reported, with the mistake it looks like.
"""

from __future__ import annotations

import torch

from grader.checks import check_tensor, check_tuple, fail
from tests.adam.oracle import describe, gradient_sequence, near_misses, tol, torch_trajectory

_allclose = torch.allclose


def _ok(actual, expected, t) -> bool:
    return (isinstance(actual, torch.Tensor) and actual.shape == expected.shape
            and actual.dtype == expected.dtype and _allclose(actual.detach(), expected, **t))


def _first_bad_step(actual: list, expected: list, t) -> int | None:
    """Index of the first step whose output is not a close tensor of the right shape and dtype."""
    exp = torch.stack(expected)
    if all(isinstance(a, torch.Tensor) and a.shape == exp.shape[1:] and a.dtype == exp.dtype
           for a in actual):
        act = torch.stack([a.detach() for a in actual])
        ok = torch.isclose(act, exp, **t, equal_nan=False).reshape(len(actual), -1).all(dim=1)
        return None if bool(ok.all()) else int((~ok).nonzero()[0])
    return next(i for i, (a, e) in enumerate(zip(actual, expected)) if not _ok(a, e, t))


def check_adam_step_trajectory(impl, param0, grads, case: str, oracle="functional", **hp) -> None:
    """adam_step applied len(grads) times from param0 (m = v = 0) must follow torch.optim.Adam."""
    expected = torch_trajectory(param0, grads, oracle=oracle, **hp)
    scale = max(float(g.abs().max()) for g in grads) if param0.numel() else 1.0
    n = len(grads)
    tols = (tol(param0.dtype, 1.0, n), tol(param0.dtype, scale, n), tol(param0.dtype, scale * scale, n))
    p, m, v = param0.clone(), torch.zeros_like(param0), torch.zeros_like(param0)
    inputs, outputs = [], ([], [], [])
    for step, g in enumerate(grads, start=1):
        inputs.append(dict(param=p, grad=g, m=m, v=v, step=step, **hp))
        out = check_tuple(impl.adam_step(p.clone(), g.clone(), m.clone(), v.clone(), step, **hp),
                          3, name="adam_step")
        for k in range(3):
            outputs[k].append(out[k])
        if not all(isinstance(o, torch.Tensor) and o.shape == p.shape for o in out):
            break  # the checks below report it at this step
        p, m, v = out
    names = ("new_param", "new_m", "new_v")
    bad = [_first_bad_step(outputs[k], expected[k][:len(outputs[k])], tols[k]) for k in range(3)]
    if any(b is not None for b in bad):
        step = min(b for b in bad if b is not None)
        where = f"{case}, step {step + 1} of {len(grads)} (torch.optim.Adam as reference)"
        for k in range(3):
            check_tensor(outputs[k][step], expected[k][step], name=f"{names[k]} from adam_step",
                         case=where, near=near_misses(k, inputs[step]), **tols[k])


def step_values(values, count: int, what: str) -> list:
    """Fail unless `values` (what Adam.step returned, or Adam.params) is a list or tuple of `count`
    tensors; return it as a list."""
    if not isinstance(values, (list, tuple)) or len(values) != count:
        size = f" of length {len(values)}" if isinstance(values, (list, tuple)) else ""
        fail(f"{what} should be a list with one tensor per parameter ({count}), "
             f"got {type(values).__name__}{size}.")
    for i, value in enumerate(values):
        if not isinstance(value, torch.Tensor):
            fail(f"{what}[{i}] should be a torch.Tensor, got {type(value).__name__}.")
    return list(values)


def check_setting(impl, name: str, setting: tuple, steps: int, seed: int, oracle="functional") -> None:
    """The trajectory test of one named setting `(dtype, shape, hyperparameters)`.

    The start comes from `seed`, the gradients (`steps` of them) from `seed + 1`.
    """
    dtype, shape, hp = setting
    param0 = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)
    grads = gradient_sequence(shape, steps, dtype, seed=seed + 1)
    check_adam_step_trajectory(impl, param0, grads, f"{name}: {describe(dtype, shape, **hp)}",
                               oracle=oracle, **hp)


def check_class_trajectory(impl, params0, grads_per_step, case: str, oracle="functional", **hp) -> None:
    """impl.Adam over several parameters must follow torch.optim.Adam on the same parameters.

    Both what `step` returns and what `params` holds afterwards are compared at every step.
    """
    expected = [torch_trajectory(p0, [grads[i] for grads in grads_per_step], oracle=oracle, **hp)[0]
                for i, p0 in enumerate(params0)]
    mine = impl.Adam([p.clone() for p in params0], **hp)
    returned, held = [[] for _ in params0], [[] for _ in params0]
    for grads in grads_per_step:
        out = step_values(mine.step([g.clone() for g in grads]), len(params0), "Adam.step")
        current = step_values(mine.params, len(params0), "Adam.params")
        for i in range(len(params0)):
            returned[i].append(out[i])
            held[i].append(current[i])
    for i, trajectory in enumerate(expected):
        t = tol(params0[i].dtype, 1.0, len(grads_per_step))
        bad = [b for b in (_first_bad_step(returned[i], trajectory, t),
                           _first_bad_step(held[i], trajectory, t)) if b is not None]
        if not bad:
            continue
        step = min(bad)
        where = (f"{case}, parameter {i} of shape {tuple(params0[i].shape)}, "
                 f"step {step + 1} of {len(grads_per_step)} (torch.optim.Adam as reference)")
        # On the first step m = v = 0, so the one-step mistakes can be recognised.
        zeros = torch.zeros_like(params0[i])
        near = near_misses(0, dict(param=params0[i], grad=grads_per_step[0][i], m=zeros, v=zeros,
                                   step=1, **hp)) if step == 0 else ()
        check_tensor(returned[i][step], trajectory[step], name="the value returned by Adam.step",
                     case=where, near=near, **t)
        check_tensor(held[i][step], trajectory[step], name="Adam.params after the step", case=where, **t)
