"""Call the learner's functions (through `impl`) on one case and compare with PyTorch.

Shared by the public and the hidden suite. Every call gets fresh copies of the inputs (the tests
never depend on what a learner's function does to its arguments). Shapes are checked first, and a
wrong shape that a known mistake explains (an output one row short, pooling with stride 1) is named.
"""

from __future__ import annotations

import torch

from grader.checks import check_tensor, check_tuple, fail
from tests.conv.mistakes import MISTAKE
from tests.conv.oracle import (
    bias_grad_near,
    conv_args,
    conv_grad_x_near,
    conv_inputs,
    conv_near,
    describe,
    pool_args,
    pool_grad_near,
    pool_inputs,
    pool_near,
    pool_output_shape,
    scale_of,
    tol,
    torch_conv,
    torch_conv_grads,
    torch_pool,
    torch_pool_grad,
)


def _copy(t):
    return t.detach().clone() if isinstance(t, torch.Tensor) else t


def check_shape(actual, expected_shape: tuple, *, name: str, case: str, known: dict = ()) -> None:
    """Fail unless `actual` is a tensor of `expected_shape`. `known` maps other shapes to the
    mistake that produces them; a 4-D output one row or column off is named as off by one."""
    if not isinstance(actual, torch.Tensor):
        fail(f"{name}, for {case}: expected a torch.Tensor, got {type(actual).__name__} ({actual!r:.80}).")
    shape = tuple(actual.shape)
    if shape == tuple(expected_shape):
        return
    note = ""
    known = dict(known)
    if shape in known:
        note = "\n" + known[shape].sentence()
    elif (
        len(shape) == 4
        and len(expected_shape) == 4
        and shape[:2] == tuple(expected_shape[:2])
        and all(abs(a - e) <= 1 for a, e in zip(shape[2:], expected_shape[2:]))
    ):
        note = "\n" + MISTAKE["output-size-off-by-one"].sentence()
    fail(f"{name}, for {case}: wrong shape {shape}, expected {tuple(expected_shape)}." + note)


def check_conv(impl, name: str, case: dict) -> None:
    """conv2d on the case's inputs equals F.conv2d."""
    x, w, b, _ = conv_inputs(name, case)
    args = conv_args(case)
    expected = torch_conv(x, w, b, **args)
    out = impl.conv2d(_copy(x), _copy(w), _copy(b), **args)
    where = f"{name}: {describe(case)}"
    check_shape(out, expected.shape, name="the output of conv2d", case=where)
    check_tensor(
        out,
        expected,
        name="the output of conv2d",
        case=where + " (F.conv2d as reference)",
        near=conv_near(x, w, b, **args),
        **tol(x.dtype, scale_of(expected)),
    )


def check_conv_backward(impl, name: str, case: dict) -> None:
    """conv2d_backward on the case's inputs equals autograd through F.conv2d."""
    x, w, b, grad_out = conv_inputs(name, case)
    args = conv_args(case)
    expected = torch_conv_grads(grad_out, x, w, b, **args)
    out = check_tuple(impl.conv2d_backward(_copy(grad_out), _copy(x), _copy(w), **args), 3, name="conv2d_backward")
    where = f"{name}: {describe(case)}, random grad_out (autograd through F.conv2d as reference)"
    check_conv_grads(
        out,
        expected,
        grad_out=grad_out,
        x=x,
        w=w,
        args=args,
        case=where,
        tols=[tol(x.dtype, scale_of(e)) for e in expected],
    )


def check_conv_grads(out: tuple, expected, *, grad_out, x, w, args: dict, case: str, tols: list) -> None:
    """Compare (grad_x, grad_weight, grad_bias) with `expected`, shapes first, naming the mistakes
    that a wrong grad_x or grad_bias looks like."""
    bsz, c_out, oh, ow = grad_out.shape
    unsummed = MISTAKE["bias-grad-not-summed"]
    shapes_of_unsummed = {
        s: unsummed
        for s in ((bsz, c_out), (c_out, oh, ow), (bsz, c_out, oh, ow), (1, c_out, 1, 1), (c_out, 1, 1), (1, c_out))
    }
    names = ("grad_x", "grad_weight", "grad_bias")
    nears = (conv_grad_x_near(grad_out, x, w, **args), (), bias_grad_near(grad_out))
    for k in range(3):
        label = f"{names[k]} from conv2d_backward"
        check_shape(out[k], expected[k].shape, name=label, case=case, known=shapes_of_unsummed if k == 2 else {})
        check_tensor(out[k], expected[k], name=label, case=case, near=nears[k], **tols[k])


def pool_known_shapes(case: dict) -> dict:
    """Output shapes that name a mistake: stride 1 where stride=None means the kernel size."""
    if case.get("stride") is not None:
        return {}
    return {pool_output_shape(case, stride_default=1): MISTAKE["pool-stride-default"]}


def check_pool(impl, kind: str, name: str, case: dict) -> None:
    """max_pool2d / avg_pool2d on the case's input equals PyTorch's."""
    x, _ = pool_inputs(name, case)
    args = pool_args(case)
    expected = torch_pool(kind, x, **args)
    fn = f"{kind}_pool2d"
    out = getattr(impl, fn)(_copy(x), **args)
    where = f"{name}: {describe(case)}"
    check_shape(out, expected.shape, name=f"the output of {fn}", case=where, known=pool_known_shapes(case))
    check_tensor(
        out,
        expected,
        name=f"the output of {fn}",
        case=f"{where} (F.{fn} as reference)",
        near=pool_near(kind, x, **args),
        **tol(x.dtype, scale_of(expected)),
    )


def check_pool_backward(impl, kind: str, name: str, case: dict) -> None:
    """max_pool2d_backward / avg_pool2d_backward equal autograd through PyTorch's pooling."""
    x, grad_out = pool_inputs(name, case)
    args = pool_args(case)
    expected = torch_pool_grad(kind, grad_out, x, **args)
    fn = f"{kind}_pool2d_backward"
    out = getattr(impl, fn)(_copy(grad_out), _copy(x), **args)
    where = f"{name}: {describe(case)}, random grad_out (autograd through F.{kind}_pool2d as reference)"
    check_shape(out, expected.shape, name=f"grad_x from {fn}", case=where)
    check_tensor(
        out,
        expected,
        name=f"grad_x from {fn}",
        case=where,
        near=pool_grad_near(kind, grad_out, x, **args),
        **tol(x.dtype, scale_of(expected)),
    )
