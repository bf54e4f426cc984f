"""Convolution and pooling, hidden tests: many more shapes against PyTorch (kernel sizes 1 to 5,
rectangular kernels and inputs, strides and dilations above 1, padding 0 to 2, groups 1, 2, 3 and
depthwise, batch 1, windows that do not tile the image, ties after a ReLU, all-negative inputs),
float64 central differences, and inputs left unchanged.

Not shipped to learners; `make grade` and the instructor's grader run them. Sizes stay small enough
for a version written with plain Python loops to finish in a few seconds.
"""

import pytest
import torch
import torch.nn.functional as F

from grader.kit import F32, F64, call_checking_inputs, central_differences, randn
from tests.conv.test_public import (
    POOL_FN,
    TOL_FD,
    check_conv,
    check_conv_backward,
    check_pool,
    check_pool_backward,
    conv_central_differences,
    conv_grads,
    conv_inputs,
    pool_grad,
    pool_inputs,
    words,
)

CONV = {
    "1x1 kernel, stride 2": dict(x=(2, 3, 5, 6), weight=(4, 3, 1, 1), bias=True, stride=2),
    "2x2, no padding, batch 1": dict(x=(1, 2, 6, 7), weight=(3, 2, 2, 2), dtype=F32),
    "3x3, stride 3, padding 2, windows do not tile": dict(
        x=(2, 2, 8, 7), weight=(3, 2, 3, 3), bias=True, stride=3, padding=2
    ),
    "4x4, stride (2, 3), padding (1, 2)": dict(
        x=(1, 3, 9, 10), weight=(2, 3, 4, 4), stride=(2, 3), padding=(1, 2), dtype=F32
    ),
    "5x5, padding 2": dict(x=(2, 2, 7, 6), weight=(2, 2, 5, 5), bias=True, padding=2),
    "1x5, padding (0, 2)": dict(x=(1, 2, 4, 9), weight=(3, 2, 1, 5), padding=(0, 2)),
    "5x2, dilation (1, 3), padding 1": dict(x=(2, 1, 8, 9), weight=(2, 1, 5, 2), dilation=(1, 3), padding=1),
    "3x3, dilation 3, stride 2, padding 2": dict(
        x=(1, 2, 9, 9), weight=(2, 2, 3, 3), bias=True, dilation=3, stride=2, padding=2, dtype=F32
    ),
    "groups 2, stride 2, dilation 2, padding 1": dict(
        x=(2, 4, 8, 7), weight=(4, 2, 2, 3), groups=2, stride=2, dilation=2, padding=1
    ),
    "groups 3, two outputs per group": dict(
        x=(1, 6, 5, 5), weight=(6, 2, 3, 3), bias=True, groups=3, padding=1, dtype=F32
    ),
    "depthwise, multiplier 1": dict(x=(2, 4, 6, 6), weight=(4, 1, 3, 3), groups=4, padding=1),
    "depthwise, multiplier 2, 5x5, stride 2, padding 2": dict(
        x=(1, 3, 7, 8), weight=(6, 1, 5, 5), bias=True, groups=3, stride=2, padding=2
    ),
    "kernel as large as the padded input": dict(x=(1, 2, 3, 3), weight=(2, 2, 5, 5), bias=True, padding=1),
    "one output channel, tall input, stride (3, 1)": dict(
        x=(2, 3, 11, 4), weight=(1, 3, 3, 2), bias=True, stride=(3, 1)
    ),
    "pairs everywhere, groups 2": dict(
        x=(1, 4, 7, 6), weight=(2, 2, 3, 2), groups=2, stride=(1, 1), padding=(2, 0), dilation=(2, 2)
    ),
}

POOL = {
    "1x1 kernel, stride 2 (subsampling)": dict(x=(2, 2, 5, 6), kernel_size=1, stride=2),
    "2x2, stride None given, odd sizes": dict(x=(1, 3, 7, 5), kernel_size=2, stride=None),
    "3x3, stride 1, padding 1, after a ReLU": dict(x=(2, 2, 6, 6), kernel_size=3, stride=1, padding=1, relu=True),
    "4x4, stride 2, padding 2": dict(x=(1, 2, 9, 8), kernel_size=4, stride=2, padding=2, dtype=F32),
    "5x5, stride 3, padding 2, after a ReLU": dict(x=(2, 1, 11, 10), kernel_size=5, stride=3, padding=2, relu=True),
    "(2, 4) kernel, stride (1, 3), padding (1, 2)": dict(
        x=(1, 2, 6, 9), kernel_size=(2, 4), stride=(1, 3), padding=(1, 2)
    ),
    "3x3, default stride, padding 1, all negative": dict(x=(1, 2, 6, 7), kernel_size=3, padding=1, negative=True),
    "2x2, stride 1, after a ReLU, float32": dict(x=(1, 4, 5, 5), kernel_size=2, stride=1, relu=True, dtype=F32),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("name", list(CONV))
def test_conv2d_many_shapes(impl, name):
    """conv2d equals F.conv2d on kernel sizes 1 to 5, strides, dilations, paddings and groups."""
    x, w, b, _, args = conv_inputs(name, CONV[name])
    check_conv(impl, x, w, b, args, F.conv2d(x, w, b, **args), f"{words(name, CONV[name])} (F.conv2d as reference)")


@pytest.mark.points(3)
@pytest.mark.parametrize("name", list(CONV))
def test_conv2d_backward_many_shapes(impl, name):
    """conv2d_backward equals autograd through F.conv2d on the same cases."""
    x, w, b, g, args = conv_inputs(name, CONV[name])
    case = f"{words(name, CONV[name])}, random grad_out (autograd through F.conv2d as reference)"
    check_conv_backward(impl, g, x, w, args, conv_grads(g, x, w, b, args), case)


FD_CASES = {
    "stride 2, dilation 2, padding 2": dict(
        x=(1, 1, 5, 4), weight=(2, 1, 2, 2), bias=True, stride=2, dilation=2, padding=2
    ),
    "depthwise, stride (2, 1), padding (0, 1)": dict(
        x=(2, 2, 4, 3), weight=(2, 1, 3, 2), bias=True, groups=2, stride=(2, 1), padding=(0, 1)
    ),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(FD_CASES))
def test_conv2d_backward_central_differences(impl, name):
    """conv2d_backward equals float64 central differences of F.conv2d on tiny cases."""
    x, w, b, g, args = conv_inputs(name, FD_CASES[name])
    expected = conv_central_differences(g, x, w, b, args)
    case = f"{words(name, FD_CASES[name])} (central differences of F.conv2d, step 1e-6, as reference)"
    check_conv_backward(impl, g, x, w, args, expected, case, TOL_FD)


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("name", list(POOL))
def test_pool_many_shapes(impl, kind, name):
    """max_pool2d and avg_pool2d equal PyTorch's on kernel sizes 1 to 5, strides and paddings."""
    x, _, args = pool_inputs(name, POOL[name])
    check_pool(
        impl, kind, x, args, POOL_FN[kind](x, **args), f"{words(name, POOL[name])} (F.{kind}_pool2d as reference)"
    )


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("name", list(POOL))
def test_pool_backward_many_shapes(impl, kind, name):
    """The pooling backward functions equal autograd through PyTorch's pooling, ties included."""
    x, g, args = pool_inputs(name, POOL[name])
    case = f"{words(name, POOL[name])}, random grad_out (autograd through F.{kind}_pool2d as reference)"
    check_pool_backward(impl, kind, g, x, args, pool_grad(kind, g, x, args), case)


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_backward_central_differences(impl, kind):
    """The pooling backward functions equal float64 central differences (distinct values: no ties)."""
    name = f"{kind} pooling, 3x3, stride 2, padding 1, central differences"
    case = dict(x=(1, 2, 5, 6), kernel_size=3, stride=2, padding=1, distinct=True)
    x, g, args = pool_inputs(name, case)
    xc = x.clone()
    (expected,) = central_differences(lambda: float((POOL_FN[kind](xc, **args) * g).sum()), [xc], h=1e-6)
    check_pool_backward(impl, kind, g, x, args, expected, f"{words(name, case)} (step 1e-6)", TOL_FD)


def test_inputs_left_unchanged(impl):
    """conv2d, conv2d_backward and the pooling functions leave their arguments unchanged, return new
    tensors, and compute the right values."""
    name = "inputs unchanged"
    x, w, b, g, args = conv_inputs(name, dict(x=(2, 2, 5, 5), weight=(2, 2, 3, 3), bias=True, stride=2, padding=1))
    xp, gp, pool_args = randn((1, 2, 4, 4), 3), torch.ones(1, 2, 2, 2, dtype=F64), dict(kernel_size=2)
    calls = {
        "conv2d(x, weight, bias, stride=2, padding=1)": (impl.conv2d, dict(x=x, weight=w, bias=b, **args)),
        "conv2d_backward(grad_out, x, weight, stride=2, padding=1)": (
            impl.conv2d_backward,
            dict(grad_out=g, x=x, weight=w, **args),
        ),
        **{f"{k}_pool2d(x, 2)": (getattr(impl, f"{k}_pool2d"), dict(x=xp, **pool_args)) for k in POOL_FN},
        **{
            f"{k}_pool2d_backward(grad_out, x, 2)": (
                getattr(impl, f"{k}_pool2d_backward"),
                dict(grad_out=gp, x=xp, **pool_args),
            )
            for k in POOL_FN
        },
    }
    for call, (fn, kwargs) in calls.items():
        call_checking_inputs(fn, kwargs, call=call)
    check_conv(impl, x, w, b, args, F.conv2d(x, w, b, **args), name)
    check_conv_backward(impl, g, x, w, args, conv_grads(g, x, w, b, args), name)
    for kind, pool in POOL_FN.items():
        check_pool(impl, kind, xp, pool_args, pool(xp, **pool_args), name)
        check_pool_backward(impl, kind, gp, xp, pool_args, pool_grad(kind, gp, xp, pool_args), name)
