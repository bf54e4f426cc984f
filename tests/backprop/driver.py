"""Call the learner's functions (through `impl`) and compare with the oracles, naming near misses.

Shared by the public and the hidden suite. Every call gets fresh copies of its inputs, so that no
result depends on what the learner does to the tensors it is given.
"""

from __future__ import annotations

import torch

from grader.checks import check_tensor, check_tuple, fail, matching_mistakes
from tests.backprop.mistakes import MISTAKE
from tests.backprop.oracle import (
    Near, autograd_network, copy_layers, describe_network, predict_linear, predict_network, scale_of,
    tol,
)

_Tensor = torch.Tensor


def check_grad(actual, expected, *, name: str, case: str, rtol: float, atol: float, near=()) -> None:
    """check_tensor, but a wrong shape that a known mistake produces (a transposed weight gradient,
    a bias gradient that was not summed) is named after that mistake."""
    if isinstance(actual, _Tensor) and actual.shape != expected.shape:
        found = matching_mistakes(actual, near, rtol, atol)
        if found:
            fail(f"{name}, for {case}: wrong shape {tuple(actual.shape)}, expected "
                 f"{tuple(expected.shape)}.\n" + "\n".join(m.sentence() for m in found))
    check_tensor(actual, expected, name=name, case=case, rtol=rtol, atol=atol, near=near)


def call_linear(impl, grad_out, x, weight):
    return check_tuple(impl.linear_backward(grad_out.clone(), x.clone(), weight.clone()), 3,
                       name="linear_backward")


def check_linear(out, expected, inputs, case, tolerance=None):
    """Compare (grad_x, grad_weight, grad_bias); `tolerance(dtype, scale)` or a fixed dict."""
    near = Near(predict_linear, *inputs)
    for k, name in enumerate(("grad_x", "grad_weight", "grad_bias")):
        t = tolerance if isinstance(tolerance, dict) else tol(expected[k].dtype, scale_of(expected[k]))
        check_grad(out[k], expected[k], name=f"{name} from linear_backward", case=case,
                   near=near.of(k), **t)


def _tensor_list(values, count: int, what: str) -> list:
    if not isinstance(values, (list, tuple)) or len(values) != count:
        size = f" of length {len(values)}" if isinstance(values, (list, tuple)) else ""
        fail(f"{what} should be a list with one tensor per layer ({count}), got "
             f"{type(values).__name__}{size}.")
    for i, value in enumerate(values):
        if not isinstance(value, _Tensor):
            fail(f"{what}[{i}] should be a torch.Tensor, got {type(value).__name__}.")
    return list(values)


def _all_close(actual: list, expected: list, tolerance) -> bool:
    """Every tensor of `actual` has the shape, dtype and values of its partner in `expected`."""
    def close(a, e):
        t = tolerance(e)
        return (a.shape == e.shape and a.dtype == e.dtype
                and bool(((a.detach().double() - e.double()).abs() <= t["atol"] + t["rtol"] * e.double().abs()).all()))
    return all(close(a, e) for a, e in zip(actual, expected))


def check_network(impl, x, target, layers, loss="mse", case: str = "", expected=None,
                  tolerance=None, oracle: str = "PyTorch autograd") -> None:
    """network_gradients against `expected` (default: autograd in x's dtype), naming near misses.

    `tolerance`: a fixed dict for every output, or None for `tol(dtype, scale of each output)`.
    """
    n = len(layers)
    where = f"{case}{', ' if case else ''}{describe_network(x, layers, loss)} ({oracle} as reference)"
    if expected is None:
        expected = autograd_network(x, target, layers, loss)
    out = check_tuple(impl.network_gradients(x.clone(), target.clone(), copy_layers(layers), loss=loss),
                      4, name="network_gradients")
    grad_ws = _tensor_list(out[2], n, "grad_weights (the third item returned by network_gradients)")
    grad_bs = _tensor_list(out[3], n, "grad_biases (the fourth item returned by network_gradients)")
    dtype = x.dtype

    def t_for(e):
        return tolerance if tolerance is not None else tol(dtype, scale_of(e))

    in_order = _all_close(grad_ws, expected[2], t_for) and _all_close(grad_bs, expected[3], t_for)
    if n > 1 and not in_order and _all_close(grad_ws[::-1], expected[2], t_for) \
            and _all_close(grad_bs[::-1], expected[3], t_for):
        fail(f"grad_weights and grad_biases from network_gradients, for {where}: they hold the right "
             f"gradients, last layer first.\n" + MISTAKE["layers-reversed"].sentence())

    near = Near(predict_network, x, target, layers, loss)

    check_grad(out[0], expected[0], name="the loss from network_gradients", case=where,
               near=near.of(0), **t_for(expected[0]))
    # The input's gradient depends on every layer: report the layers first, from the last (where
    # the backward pass starts) to the first, so the first wrong layer found is where it went wrong.
    for i in reversed(range(n)):
        check_grad(grad_bs[i], expected[3][i], name=f"grad_biases[{i}] (layer {i}) from network_gradients",
                   case=where, near=near.of(lambda p, i=i: p[3][i]), **t_for(expected[3][i]))
        check_grad(grad_ws[i], expected[2][i], name=f"grad_weights[{i}] (layer {i}) from network_gradients",
                   case=where, near=near.of(lambda p, i=i: p[2][i]), **t_for(expected[2][i]))
    check_grad(out[1], expected[1], name="grad_x from network_gradients", case=where,
               near=near.of(1), **t_for(expected[1]))
