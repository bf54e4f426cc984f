"""Convolution and pooling, public tests: hand-worked cases, then PyTorch (F.conv2d, F.max_pool2d,
F.avg_pool2d and autograd) on small cases, and float64 central differences.

Run with `make test topic=conv`. Learner code is reached only through the `impl` fixture. Sizes are
small enough for a version written with plain Python loops to pass in a second or two.
"""

import pytest
import torch

from grader.checks import check_tensor, check_tuple
from tests.conv.driver import (
    check_conv,
    check_conv_backward,
    check_conv_grads,
    check_pool,
    check_pool_backward,
    check_shape,
)
from tests.conv.oracle import (
    EXACT,
    TOL_FD,
    central_differences,
    conv_near,
    pool_grad_near,
    torch_conv,
)

f32, f64 = torch.float32, torch.float64

# x (B, C_in, H, W), w (C_out, C_in / groups, kH, kW); the hidden suite has many more.
CONV = {
    "3x3, padding 1, bias": dict(x=(2, 3, 5, 6), w=(4, 3, 3, 3), bias=True, padding=1),
    "2x3 kernel, stride 2, windows do not tile": dict(
        x=(1, 2, 7, 8), w=(3, 2, 2, 3), stride=2, padding=(0, 1), dtype=f32
    ),
    "dilation 2, stride (1, 2), padding 2": dict(
        x=(2, 2, 7, 7), w=(2, 2, 3, 3), bias=True, stride=(1, 2), padding=2, dilation=2
    ),
    "groups 2, rectangular": dict(x=(2, 4, 5, 6), w=(6, 2, 3, 2), bias=True, padding=1, groups=2),
    "depthwise (groups = C_in), stride 2": dict(
        x=(1, 3, 6, 5), w=(6, 1, 3, 3), stride=2, padding=1, groups=3, dtype=f32
    ),
}

POOL = {
    "2x2, default stride": dict(x=(2, 3, 6, 6), kernel_size=2),
    "3x3, stride 2, padding 1, after a ReLU": dict(x=(2, 2, 7, 8), kernel_size=3, stride=2, padding=1, relu=True),
    "3x2, stride (2, 1), padding (1, 0), windows do not tile": dict(
        x=(1, 3, 8, 7), kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dtype=f32
    ),
}


@pytest.mark.points(2)
def test_conv2d_by_hand(impl):
    """A 2x2 kernel on a 3x3 image, worked by hand: a cross-correlation, not a convolution."""
    # out[i, j] = 0.5 + x[i, j] + 2 x[i, j+1] + 0 x[i+1, j] - x[i+1, j+1]:
    #   out[0, 0] = 0.5 + 1 + 4 - 5 = 0.5     out[0, 1] = 0.5 + 2 + 6 - 6 = 2.5
    #   out[1, 0] = 0.5 + 4 + 10 - 8 = 6.5    out[1, 1] = 0.5 + 5 + 12 - 9 = 8.5
    # The flipped kernel [[-1, 0], [2, 1]] would give 12.5, 14.5, 18.5, 20.5.
    x = torch.arange(1.0, 10.0, dtype=f64).reshape(1, 1, 3, 3)
    w = torch.tensor([[[[1.0, 2.0], [0.0, -1.0]]]], dtype=f64)
    b = torch.tensor([0.5], dtype=f64)
    expected = torch.tensor([[[[0.5, 2.5], [6.5, 8.5]]]], dtype=f64)
    out = impl.conv2d(x.clone(), w.clone(), b.clone())
    case = "x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], weight = [[1, 2], [0, -1]], bias 0.5, float64"
    check_shape(out, (1, 1, 2, 2), name="the output of conv2d", case=case)
    check_tensor(out, expected, name="the output of conv2d", case=case, near=conv_near(x, w, b), **EXACT)


@pytest.mark.points(2)
def test_conv2d_backward_by_hand(impl):
    """The gradients of the same 2x2 kernel on the 3x3 image with grad_out all ones, by hand."""
    # grad_bias = sum of grad_out = 4.
    # grad_weight[p, q] = sum of the 2x2 block of x at offset (p, q): 1+2+4+5 = 12, 2+3+5+6 = 16,
    #   4+5+7+8 = 24, 5+6+8+9 = 28.
    # grad_x[r, c] = sum of w[r - i, c - j] over the four output positions (i, j) covering (r, c):
    #   [[1, 1+2, 2], [1+0, 1+2+0-1, 2-1], [0, 0-1, -1]] = [[1, 3, 2], [1, 2, 1], [0, -1, -1]].
    x = torch.arange(1.0, 10.0, dtype=f64).reshape(1, 1, 3, 3)
    w = torch.tensor([[[[1.0, 2.0], [0.0, -1.0]]]], dtype=f64)
    g = torch.ones(1, 1, 2, 2, dtype=f64)
    expected = (
        torch.tensor([[[[1.0, 3.0, 2.0], [1.0, 2.0, 1.0], [0.0, -1.0, -1.0]]]], dtype=f64),
        torch.tensor([[[[12.0, 16.0], [24.0, 28.0]]]], dtype=f64),
        torch.tensor([4.0], dtype=f64),
    )
    out = check_tuple(impl.conv2d_backward(g.clone(), x.clone(), w.clone()), 3, name="conv2d_backward")
    case = "x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], weight = [[1, 2], [0, -1]], grad_out all ones, float64"
    check_conv_grads(out, expected, grad_out=g, x=x, w=w, args={}, case=case, tols=[EXACT] * 3)


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(CONV))
def test_conv2d_matches_torch(impl, name):
    """conv2d equals F.conv2d with stride, padding, dilation, groups, rectangular shapes."""
    check_conv(impl, name, CONV[name])


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(CONV))
def test_conv2d_backward_matches_autograd(impl, name):
    """conv2d_backward equals autograd through F.conv2d (grad_x, grad_weight, grad_bias)."""
    check_conv_backward(impl, name, CONV[name])


@pytest.mark.points(2)
def test_conv2d_backward_central_differences(impl):
    """conv2d_backward equals float64 central differences of F.conv2d on a tiny grouped case."""
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(1, 2, 4, 5, generator=gen, dtype=f64)
    w = torch.randn(4, 1, 2, 3, generator=gen, dtype=f64)
    b = torch.randn(4, generator=gen, dtype=f64)
    args = dict(stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
    g = torch.randn(torch_conv(x, w, b, **args).shape, generator=gen, dtype=f64)

    def conv(x_, w_, b_):
        return torch_conv(x_, w_, b_, **args)

    expected = [central_differences(conv, [x, w, b], g, k) for k in range(3)]
    out = check_tuple(impl.conv2d_backward(g.clone(), x.clone(), w.clone(), **args), 3, name="conv2d_backward")
    case = (
        "x (1, 2, 4, 5), weight (4, 1, 2, 3), stride (1, 2), padding 1, dilation (2, 1), "
        "groups 2, float64 (central differences of F.conv2d, step 1e-6, as reference)"
    )
    check_conv_grads(out, expected, grad_out=g, x=x, w=w, args=args, case=case, tols=[TOL_FD] * 3)


@pytest.mark.points(2)
def test_max_pool2d_ties_by_hand(impl):
    """Max pooling 2x2 on a 4x4 image with ties: the gradient goes to the first maximum only."""
    # Windows (row-major): [1, 3 / 2, 0] -> 3 at (0, 1); [3, 0 / 3, 1] -> 3 at (0, 2) and (1, 2):
    # first is (0, 2); [0, 0 / 0, 0] -> all tie: first is (2, 0); [0, 0 / 5, 5] -> first is (3, 2).
    # Output [[3, 3], [0, 5]]; grad_out [[1, 2], [3, 4]] lands on (0, 1), (0, 2), (2, 0), (3, 2).
    x = torch.tensor([[1.0, 3, 3, 0], [2, 0, 3, 1], [0, 0, 0, 0], [0, 0, 5, 5]], dtype=f64).reshape(1, 1, 4, 4)
    g = torch.tensor([[1.0, 2], [3, 4]], dtype=f64).reshape(1, 1, 2, 2)
    expected_out = torch.tensor([[3.0, 3], [0, 5]], dtype=f64).reshape(1, 1, 2, 2)
    expected_grad = torch.zeros(1, 1, 4, 4, dtype=f64)
    expected_grad[0, 0, 0, 1], expected_grad[0, 0, 0, 2] = 1.0, 2.0
    expected_grad[0, 0, 2, 0], expected_grad[0, 0, 3, 2] = 3.0, 4.0
    case = "x = [[1, 3, 3, 0], [2, 0, 3, 1], [0, 0, 0, 0], [0, 0, 5, 5]], kernel_size 2, float64"
    out = impl.max_pool2d(x.clone(), 2)
    check_shape(out, (1, 1, 2, 2), name="the output of max_pool2d", case=case)
    check_tensor(out, expected_out, name="the output of max_pool2d", case=case, **EXACT)
    grad = impl.max_pool2d_backward(g.clone(), x.clone(), 2)
    check_shape(grad, (1, 1, 4, 4), name="grad_x from max_pool2d_backward", case=case)
    check_tensor(
        grad,
        expected_grad,
        name="grad_x from max_pool2d_backward",
        case=case + ", grad_out [[1, 2], [3, 4]]",
        near=pool_grad_near("max", g, x, 2),
        **EXACT,
    )


@pytest.mark.parametrize("name", list(POOL))
def test_max_pool2d_matches_torch(impl, name):
    """max_pool2d equals F.max_pool2d (default stride, -inf padding, rectangular windows)."""
    check_pool(impl, "max", name, POOL[name])


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(POOL))
def test_max_pool2d_backward_matches_autograd(impl, name):
    """max_pool2d_backward equals autograd through F.max_pool2d, ties included."""
    check_pool_backward(impl, "max", name, POOL[name])


@pytest.mark.parametrize("name", list(POOL))
def test_avg_pool2d_matches_torch(impl, name):
    """avg_pool2d equals F.avg_pool2d (padding counts in the divisor)."""
    check_pool(impl, "avg", name, POOL[name])


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(POOL))
def test_avg_pool2d_backward_matches_autograd(impl, name):
    """avg_pool2d_backward equals autograd through F.avg_pool2d."""
    check_pool_backward(impl, "avg", name, POOL[name])
