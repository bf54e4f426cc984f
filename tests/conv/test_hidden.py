"""Convolution and pooling, hidden tests: many more shapes against PyTorch (kernel sizes 1 to 5,
rectangular kernels and inputs, strides and dilations above 1, padding 0 to 2, groups 1, 2, 3 and
depthwise, batch 1, windows that do not tile the image, ties after a ReLU, all-negative inputs),
float64 central differences, and inputs left unchanged.

Not shipped to learners; `make grade` and the instructor's grader run them. Sizes stay small enough
for a version written with plain Python loops to finish in a few seconds.
"""

import pytest
import torch

from grader.checks import check_tensor, check_tuple, check_unchanged
from tests.conv.driver import (
    check_conv,
    check_conv_backward,
    check_conv_grads,
    check_pool,
    check_pool_backward,
    check_shape,
    pool_known_shapes,
)
from tests.conv.oracle import (
    TOL_FD,
    central_differences,
    conv_args,
    conv_inputs,
    conv_near,
    pool_grad_near,
    pool_inputs,
    scale_of,
    tol,
    torch_conv,
    torch_conv_grads,
    torch_pool,
    torch_pool_grad,
)

f32, f64 = torch.float32, torch.float64

CONV = {
    "1x1 kernel, stride 2": dict(x=(2, 3, 5, 6), w=(4, 3, 1, 1), bias=True, stride=2),
    "2x2, no padding, batch 1": dict(x=(1, 2, 6, 7), w=(3, 2, 2, 2), dtype=f32),
    "3x3, stride 3, padding 2, windows do not tile": dict(
        x=(2, 2, 8, 7), w=(3, 2, 3, 3), bias=True, stride=3, padding=2
    ),
    "4x4, stride (2, 3), padding (1, 2)": dict(
        x=(1, 3, 9, 10), w=(2, 3, 4, 4), stride=(2, 3), padding=(1, 2), dtype=f32
    ),
    "5x5, padding 2": dict(x=(2, 2, 7, 6), w=(2, 2, 5, 5), bias=True, padding=2),
    "1x5, padding (0, 2)": dict(x=(1, 2, 4, 9), w=(3, 2, 1, 5), padding=(0, 2)),
    "5x2, dilation (1, 3), padding 1": dict(x=(2, 1, 8, 9), w=(2, 1, 5, 2), dilation=(1, 3), padding=1),
    "3x3, dilation 3, stride 2, padding 2": dict(
        x=(1, 2, 9, 9), w=(2, 2, 3, 3), bias=True, dilation=3, stride=2, padding=2, dtype=f32
    ),
    "groups 2, stride 2, dilation 2, padding 1": dict(
        x=(2, 4, 8, 7), w=(4, 2, 2, 3), groups=2, stride=2, dilation=2, padding=1
    ),
    "groups 3, two outputs per group": dict(x=(1, 6, 5, 5), w=(6, 2, 3, 3), bias=True, groups=3, padding=1, dtype=f32),
    "depthwise, multiplier 1": dict(x=(2, 4, 6, 6), w=(4, 1, 3, 3), groups=4, padding=1),
    "depthwise, multiplier 2, 5x5, stride 2, padding 2": dict(
        x=(1, 3, 7, 8), w=(6, 1, 5, 5), bias=True, groups=3, stride=2, padding=2
    ),
    "kernel as large as the padded input": dict(x=(1, 2, 3, 3), w=(2, 2, 5, 5), bias=True, padding=1),
    "one output channel, tall input, stride (3, 1)": dict(x=(2, 3, 11, 4), w=(1, 3, 3, 2), bias=True, stride=(3, 1)),
    "pairs everywhere, groups 2": dict(
        x=(1, 4, 7, 6), w=(2, 2, 3, 2), groups=2, stride=(1, 1), padding=(2, 0), dilation=(2, 2)
    ),
}

POOL = {
    "1x1 kernel, stride 2 (subsampling)": dict(x=(2, 2, 5, 6), kernel_size=1, stride=2),
    "2x2, stride None given, odd sizes": dict(x=(1, 3, 7, 5), kernel_size=2, stride=None),
    "3x3, stride 1, padding 1, after a ReLU": dict(x=(2, 2, 6, 6), kernel_size=3, stride=1, padding=1, relu=True),
    "4x4, stride 2, padding 2": dict(x=(1, 2, 9, 8), kernel_size=4, stride=2, padding=2, dtype=f32),
    "5x5, stride 3, padding 2, after a ReLU": dict(x=(2, 1, 11, 10), kernel_size=5, stride=3, padding=2, relu=True),
    "(2, 4) kernel, stride (1, 3), padding (1, 2)": dict(
        x=(1, 2, 6, 9), kernel_size=(2, 4), stride=(1, 3), padding=(1, 2)
    ),
    "3x3, default stride, padding 1, all negative": dict(x=(1, 2, 6, 7), kernel_size=3, padding=1, negative=True),
    "2x2, stride 1, after a ReLU, float32": dict(x=(1, 4, 5, 5), kernel_size=2, stride=1, relu=True, dtype=f32),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("name", list(CONV))
def test_conv2d_many_shapes(impl, name):
    """conv2d equals F.conv2d on kernel sizes 1 to 5, strides, dilations, paddings and groups."""
    check_conv(impl, name, CONV[name])


@pytest.mark.points(3)
@pytest.mark.parametrize("name", list(CONV))
def test_conv2d_backward_many_shapes(impl, name):
    """conv2d_backward equals autograd through F.conv2d on the same cases."""
    check_conv_backward(impl, name, CONV[name])


FD_CASES = {
    "stride 2, dilation 2, padding 2": (
        dict(x=(1, 1, 5, 4), w=(2, 1, 2, 2), bias=True, stride=2, dilation=2, padding=2)
    ),
    "depthwise, stride (2, 1), padding (0, 1)": (
        dict(x=(2, 2, 4, 3), w=(2, 1, 3, 2), bias=True, groups=2, stride=(2, 1), padding=(0, 1))
    ),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(FD_CASES))
def test_conv2d_backward_central_differences(impl, name):
    """conv2d_backward equals float64 central differences of F.conv2d on tiny cases."""
    case = FD_CASES[name]
    x, w, b, g = conv_inputs(name, case)
    args = conv_args(case)

    def conv(x_, w_, b_):
        return torch_conv(x_, w_, b_, **args)

    expected = [central_differences(conv, [x, w, b], g, k) for k in range(3)]
    out = check_tuple(impl.conv2d_backward(g.clone(), x.clone(), w.clone(), **args), 3, name="conv2d_backward")
    where = f"{name} (central differences of F.conv2d, step 1e-6, as reference)"
    check_conv_grads(out, expected, grad_out=g, x=x, w=w, args=args, case=where, tols=[TOL_FD] * 3)


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("name", list(POOL))
def test_pool_many_shapes(impl, kind, name):
    """max_pool2d and avg_pool2d equal PyTorch's on kernel sizes 1 to 5, strides and paddings."""
    check_pool(impl, kind, name, POOL[name])


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("name", list(POOL))
def test_pool_backward_many_shapes(impl, kind, name):
    """The pooling backward functions equal autograd through PyTorch's pooling, ties included."""
    check_pool_backward(impl, kind, name, POOL[name])


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_backward_central_differences(impl, kind):
    """The pooling backward functions equal float64 central differences (distinct values: no ties)."""
    name = f"{kind} pooling, 3x3, stride 2, padding 1, central differences"
    case = dict(x=(1, 2, 5, 6), kernel_size=3, stride=2, padding=1, distinct=True)
    x, g = pool_inputs(name, case)

    def pool(x_):
        return torch_pool(kind, x_, 3, 2, 1)

    expected = central_differences(pool, [x], g, 0)
    fn = f"{kind}_pool2d_backward"
    out = getattr(impl, fn)(g.clone(), x.clone(), 3, 2, 1)
    where = f"{name}, x (1, 2, 5, 6) with distinct values, float64 (step 1e-6)"
    check_shape(out, x.shape, name=f"grad_x from {fn}", case=where)
    check_tensor(
        out, expected, name=f"grad_x from {fn}", case=where, near=pool_grad_near(kind, g, x, 3, 2, 1), **TOL_FD
    )


def test_inputs_left_unchanged(impl):
    """conv2d, conv2d_backward and the pooling functions leave their arguments unchanged."""
    name = "inputs unchanged"
    case = dict(x=(2, 2, 5, 5), w=(2, 2, 3, 3), bias=True, stride=2, padding=1)
    x, w, b, g = conv_inputs(name, case)
    copies = [t.clone() for t in (x, w, b, g)]
    out = impl.conv2d(x, w, b, stride=2, padding=1)
    grads = check_tuple(impl.conv2d_backward(g, x, w, stride=2, padding=1), 3, name="conv2d_backward")
    for label, before, after in zip(("x", "weight", "bias", "grad_out"), copies, (x, w, b, g)):
        check_unchanged(before, after, name=label, call="conv2d(...) then conv2d_backward(...)")
    expected = torch_conv(copies[0], copies[1], copies[2], stride=2, padding=1)
    check_shape(out, expected.shape, name="the output of conv2d", case=name)
    check_tensor(
        out,
        expected,
        name="the output of conv2d",
        case=name,
        near=conv_near(copies[0], copies[1], copies[2], stride=2, padding=1),
        **tol(f64, scale_of(expected)),
    )
    expected_grads = torch_conv_grads(copies[3], copies[0], copies[1], copies[2], stride=2, padding=1)
    check_conv_grads(
        grads,
        expected_grads,
        grad_out=copies[3],
        x=copies[0],
        w=copies[1],
        args=dict(stride=2, padding=1),
        case=name,
        tols=[tol(f64, scale_of(e)) for e in expected_grads],
    )
    xp = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(3), dtype=f64)
    gp = torch.ones(1, 2, 2, 2, dtype=f64)
    before_x, before_g = xp.clone(), gp.clone()
    known = pool_known_shapes(dict(x=(1, 2, 4, 4), kernel_size=2))
    for kind in ("max", "avg"):
        out = getattr(impl, f"{kind}_pool2d")(xp, 2)
        grad = getattr(impl, f"{kind}_pool2d_backward")(gp, xp, 2)
        check_unchanged(before_x, xp, name="x", call=f"{kind}_pool2d(x, 2) and its backward")
        check_unchanged(before_g, gp, name="grad_out", call=f"{kind}_pool2d_backward(grad_out, x, 2)")
        expected = torch_pool(kind, before_x, 2)
        check_shape(out, expected.shape, name=f"the output of {kind}_pool2d", case=name, known=known)
        check_tensor(out, expected, name=f"the output of {kind}_pool2d", case=name, **tol(f64, 1.0))
        expected = torch_pool_grad(kind, before_g, before_x, 2)
        check_tensor(
            grad,
            expected,
            name=f"grad_x from {kind}_pool2d_backward",
            case=name,
            near=pool_grad_near(kind, before_g, before_x, 2),
            **tol(f64, 1.0),
        )
