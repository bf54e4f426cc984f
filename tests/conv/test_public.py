"""Convolution and pooling, public tests: hand-worked cases, then PyTorch (F.conv2d, F.max_pool2d,
F.avg_pool2d, and autograd through them) on small random cases, and float64 central differences.

Run with `make test topic=conv`. Learner code is reached only through the `impl` fixture, and gets
copies of the inputs. Each test shows its inputs and its oracle; the helpers below draw a case's
inputs and compare your outputs, shapes first, naming the known mistake (tests/conv/mistakes.py) an
output looks like. Sizes are small enough for a version written with plain Python loops to pass in
a second or two.

Shapes: x (B, C_in, H, W), weight (C_out, C_in / groups, kH, kW), bias (C_out,), and grad_out the
shape of the forward output, (B, C_out, oH, oW) or (B, C, oH, oW) for pooling.
"""

import pytest
import torch
import torch.nn.functional as F

from grader.kit import (
    EXACT,
    F32,
    F64,
    Tol,
    backward,
    central_differences,
    check_output,
    check_outputs,
    describe,
    generator,
    randn,
    scale_of,
)
from tests.conv.key import conv_backward_mistakes, conv_mistakes, pool_backward_mistakes, pool_mistakes

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons. Every output is a sum of products (or a copy, for max pooling); a
# correct version may add in another order than PyTorch (im2col, loops, float64 inside), so it
# differs by rounding errors of the size of the largest terms, which for a value that nearly cancels
# is far above its own size: atol is relative to the output's largest |value| (Tol.scaled). The
# reference and the correct variants `make check` runs use at most 0.1% of these.
TOL64 = Tol(1e-10, 1e-10, "float64: 1.1e-16 per operation, sums of a few hundred terms; every mistake is of order 1")
TOL32 = Tol(1e-4, 1e-4, "float32: 6e-8 per operation, the same sums reach a few 1e-6 of the largest term")
TOL_FD = Tol(
    1e-6,
    1e-6,
    "float64 central differences, step 1e-6: convolution and pooling are linear in each input (no "
    "truncation error), and cancellation is about 1e-16 * |loss| / step, 1e-9",
)


def tol(expected: torch.Tensor) -> Tol:
    """The tolerance for an output like `expected`: by its dtype, atol times its largest |value|."""
    return (TOL64 if expected.dtype == F64 else TOL32).scaled(scale_of(expected))


# ---------------------------------------------------------------------------------------------------
# Cases, their inputs and PyTorch's answers

# x and weight shapes, then conv2d's settings (dtype float64 unless given); the hidden suite has more.
CONV = {
    "3x3, padding 1, bias": dict(x=(2, 3, 5, 6), weight=(4, 3, 3, 3), bias=True, padding=1),
    "2x3 kernel, stride 2, windows do not tile": dict(
        x=(1, 2, 7, 8), weight=(3, 2, 2, 3), stride=2, padding=(0, 1), dtype=F32
    ),
    "dilation 2, stride (1, 2), padding 2": dict(
        x=(2, 2, 7, 7), weight=(2, 2, 3, 3), bias=True, stride=(1, 2), padding=2, dilation=2
    ),
    "groups 2, rectangular": dict(x=(2, 4, 5, 6), weight=(6, 2, 3, 2), bias=True, padding=1, groups=2),
    "depthwise (groups = C_in), stride 2": dict(
        x=(1, 3, 6, 5), weight=(6, 1, 3, 3), stride=2, padding=1, groups=3, dtype=F32
    ),
}

# x shape, then the pooling settings; relu=True zeroes the negative half (many ties at 0).
POOL = {
    "2x2, default stride": dict(x=(2, 3, 6, 6), kernel_size=2),
    "3x3, stride 2, padding 1, after a ReLU": dict(x=(2, 2, 7, 8), kernel_size=3, stride=2, padding=1, relu=True),
    "3x2, stride (2, 1), padding (1, 0), windows do not tile": dict(
        x=(1, 3, 8, 7), kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dtype=F32
    ),
}

POOL_FN = {"max": F.max_pool2d, "avg": F.avg_pool2d}
GRADS = ("grad_x", "grad_weight", "grad_bias")


def words(name: str, case: dict) -> str:
    """A case in words: "name: float64, shape (2, 3, 5, 6), weight=(4, 3, 3, 3), padding=1"."""
    settings = {k: v for k, v in case.items() if k not in ("x", "dtype")}
    return f"{name}: {describe(case.get('dtype', F64), case['x'], **settings)}"


def conv_inputs(name: str, case: dict):
    """(x, weight, bias or None, grad_out, conv2d's keyword arguments) for a CONV case, drawn from a
    generator seeded by its name; weights scaled by 1/sqrt(fan_in) so outputs stay of order 1."""
    gen, dtype = generator(name), case.get("dtype", F64)
    args = {k: v for k, v in case.items() if k in ("stride", "padding", "dilation", "groups")}
    c_out, c_group, kh, kw = case["weight"]
    x = randn(case["x"], gen, dtype)
    w = randn(case["weight"], gen, dtype, 1.0 / (c_group * kh * kw) ** 0.5)
    b = randn((c_out,), gen, dtype) if case.get("bias") else None
    return x, w, b, randn(F.conv2d(x, w, b, **args).shape, gen, dtype), args


def pool_inputs(name: str, case: dict):
    """(x, grad_out, the pooling's keyword arguments) for a POOL case. relu=True zeroes the negative
    values, negative=True makes every value at most -0.1 (zero padding would win the border
    windows), distinct=True makes the values distinct and 0.01 apart (no ties: central differences)."""
    gen, dtype, shape = generator(name), case.get("dtype", F64), case["x"]
    args = {k: v for k, v in case.items() if k in ("kernel_size", "stride", "padding")}
    if case.get("distinct"):
        n = torch.Size(shape).numel()
        x = (torch.randperm(n, generator=gen).to(F64) * 0.01 - 0.005 * n).reshape(shape).to(dtype)
    else:
        x = randn(shape, gen, dtype)
        x = torch.relu(x) if case.get("relu") else x
        x = -(x.abs() + 0.1) if case.get("negative") else x
    return x, randn(F.max_pool2d(x, **args).shape, gen, dtype), args


def conv_grads(grad_out, x, w, b, args: dict):
    """(grad_x, grad_weight, grad_bias) by autograd through F.conv2d; without a bias, those of a zero
    bias (the bias gradient does not depend on the bias)."""
    b = torch.zeros(w.shape[0], dtype=w.dtype) if b is None else b
    return backward(lambda x, w, b: F.conv2d(x, w, b, **args), [x, w, b], grad_out)[1]


def pool_grad(kind: str, grad_out, x, args: dict):
    """grad_x by autograd through F.max_pool2d or F.avg_pool2d (kind "max" or "avg")."""
    return backward(lambda x: POOL_FN[kind](x, **args), [x], grad_out)[1][0]


def conv_central_differences(grad_out, x, w, b, args: dict):
    """(grad_x, grad_weight, grad_bias) of sum(grad_out * F.conv2d(x, w, b)) by float64 central
    differences (step 1e-6)."""
    x, w, b = x.double().clone(), w.double().clone(), b.double().clone()
    return central_differences(lambda: float((F.conv2d(x, w, b, **args) * grad_out).sum()), [x, w, b], h=1e-6)


# ---------------------------------------------------------------------------------------------------
# Your function against the oracle's answer. The answer key's predictions of the known mistakes are
# asked for before your code runs (a release stores them: grader/answers.py).


def check_conv(impl, x, w, b, args: dict, expected, case: str, tolerance=tol) -> None:
    """impl.conv2d(x, w, b, **args) against `expected`."""
    near = conv_mistakes(x, w, b, **args)
    out = impl.conv2d(x.clone(), w.clone(), None if b is None else b.clone(), **args)
    check_output(out, expected, name="out", of="conv2d", case=case, tol=tolerance, near=near)


def check_conv_backward(impl, grad_out, x, w, args: dict, expected, case: str, tolerance=tol) -> None:
    """impl.conv2d_backward(grad_out, x, w, **args) against `expected` (grad_x, grad_weight,
    grad_bias): a mistake is named only if it explains all three."""
    near = conv_backward_mistakes(grad_out, x, w, **args)
    out = impl.conv2d_backward(grad_out.clone(), x.clone(), w.clone(), **args)

    def predictions():  # None in a prediction: that output as it should be
        return [(m, [e if p is None else p for p, e in zip(pred, expected)]) for m, pred in near()]

    check_outputs(out, expected, names=GRADS, of="conv2d_backward", case=case, tol=tolerance, near=predictions)


def check_pool(impl, kind: str, x, args: dict, expected, case: str, tolerance=tol) -> None:
    """impl.max_pool2d or impl.avg_pool2d (kind "max" or "avg") against `expected`."""
    near = pool_mistakes(kind, x, **args)
    out = getattr(impl, f"{kind}_pool2d")(x.clone(), **args)
    check_output(out, expected, name="out", of=f"{kind}_pool2d", case=case, tol=tolerance, near=near)


def check_pool_backward(impl, kind: str, grad_out, x, args: dict, expected, case: str, tolerance=tol) -> None:
    """impl.max_pool2d_backward or impl.avg_pool2d_backward against `expected` (grad_x)."""
    near = pool_backward_mistakes(kind, grad_out, x, **args)
    out = getattr(impl, f"{kind}_pool2d_backward")(grad_out.clone(), x.clone(), **args)
    check_output(out, expected, name="grad_x", of=f"{kind}_pool2d_backward", case=case, tol=tolerance, near=near)


# ---------------------------------------------------------------------------------------------------
# By hand

X3 = torch.arange(1.0, 10.0, dtype=F64).reshape(1, 1, 3, 3)  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
W2 = torch.tensor([[[[1.0, 2.0], [0.0, -1.0]]]], dtype=F64)


@pytest.mark.points(2)
def test_conv2d_by_hand(impl):
    """A 2x2 kernel on a 3x3 image, worked by hand: a cross-correlation, not a convolution."""
    # out[i, j] = 0.5 + x[i, j] + 2 x[i, j+1] + 0 x[i+1, j] - x[i+1, j+1]:
    #   out[0, 0] = 0.5 + 1 + 4 - 5 = 0.5     out[0, 1] = 0.5 + 2 + 6 - 6 = 2.5
    #   out[1, 0] = 0.5 + 4 + 10 - 8 = 6.5    out[1, 1] = 0.5 + 5 + 12 - 9 = 8.5
    # The flipped kernel [[-1, 0], [2, 1]] would give 12.5, 14.5, 18.5, 20.5.
    b = torch.tensor([0.5], dtype=F64)
    expected = torch.tensor([[[[0.5, 2.5], [6.5, 8.5]]]], dtype=F64)
    case = "x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], weight = [[1, 2], [0, -1]], bias 0.5, float64 (by hand)"
    check_conv(impl, X3, W2, b, {}, expected, case, EXACT)


@pytest.mark.points(2)
def test_conv2d_backward_by_hand(impl):
    """The gradients of the same 2x2 kernel on the 3x3 image with grad_out all ones, by hand."""
    # grad_bias = sum of grad_out = 4.
    # grad_weight[p, q] = sum of the 2x2 block of x at offset (p, q): 1+2+4+5 = 12, 2+3+5+6 = 16,
    #   4+5+7+8 = 24, 5+6+8+9 = 28.
    # grad_x[r, c] = sum of w[r - i, c - j] over the four output positions (i, j) covering (r, c):
    #   [[1, 1+2, 2], [1+0, 1+2+0-1, 2-1], [0, 0-1, -1]] = [[1, 3, 2], [1, 2, 1], [0, -1, -1]].
    expected = (
        torch.tensor([[[[1.0, 3.0, 2.0], [1.0, 2.0, 1.0], [0.0, -1.0, -1.0]]]], dtype=F64),
        torch.tensor([[[[12.0, 16.0], [24.0, 28.0]]]], dtype=F64),
        torch.tensor([4.0], dtype=F64),
    )
    case = "x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], weight = [[1, 2], [0, -1]], grad_out all ones, float64 (by hand)"
    check_conv_backward(impl, torch.ones(1, 1, 2, 2, dtype=F64), X3, W2, {}, expected, case, EXACT)


@pytest.mark.points(2)
def test_max_pool2d_ties_by_hand(impl):
    """Max pooling 2x2 on a 4x4 image with ties: the gradient goes to the first maximum only."""
    # Windows (row-major): [1, 3 / 2, 0] -> 3 at (0, 1); [3, 0 / 3, 1] -> 3 at (0, 2) and (1, 2):
    # first is (0, 2); [0, 0 / 0, 0] -> all tie: first is (2, 0); [0, 0 / 5, 5] -> first is (3, 2).
    # Output [[3, 3], [0, 5]]; grad_out [[1, 2], [3, 4]] lands on (0, 1), (0, 2), (2, 0), (3, 2).
    x = torch.tensor([[1.0, 3, 3, 0], [2, 0, 3, 1], [0, 0, 0, 0], [0, 0, 5, 5]], dtype=F64).reshape(1, 1, 4, 4)
    g = torch.tensor([[1.0, 2], [3, 4]], dtype=F64).reshape(1, 1, 2, 2)
    expected_out = torch.tensor([[3.0, 3], [0, 5]], dtype=F64).reshape(1, 1, 2, 2)
    expected_grad = torch.zeros(1, 1, 4, 4, dtype=F64)
    expected_grad[0, 0, 0, 1], expected_grad[0, 0, 0, 2] = 1.0, 2.0
    expected_grad[0, 0, 2, 0], expected_grad[0, 0, 3, 2] = 3.0, 4.0
    case = "x = [[1, 3, 3, 0], [2, 0, 3, 1], [0, 0, 0, 0], [0, 0, 5, 5]], kernel_size 2, float64 (by hand)"
    args = dict(kernel_size=2)
    check_pool(impl, "max", x, args, expected_out, case, EXACT)
    check_pool_backward(impl, "max", g, x, args, expected_grad, case + ", grad_out [[1, 2], [3, 4]]", EXACT)


# ---------------------------------------------------------------------------------------------------
# Against PyTorch


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(CONV))
def test_conv2d_matches_torch(impl, name):
    """conv2d equals F.conv2d with stride, padding, dilation, groups, rectangular shapes."""
    x, w, b, _, args = conv_inputs(name, CONV[name])
    check_conv(impl, x, w, b, args, F.conv2d(x, w, b, **args), f"{words(name, CONV[name])} (F.conv2d as reference)")


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(CONV))
def test_conv2d_backward_matches_autograd(impl, name):
    """conv2d_backward equals autograd through F.conv2d (grad_x, grad_weight, grad_bias)."""
    x, w, b, g, args = conv_inputs(name, CONV[name])
    case = f"{words(name, CONV[name])}, random grad_out (autograd through F.conv2d as reference)"
    check_conv_backward(impl, g, x, w, args, conv_grads(g, x, w, b, args), case)


@pytest.mark.points(2)
def test_conv2d_backward_central_differences(impl):
    """conv2d_backward equals float64 central differences of F.conv2d on a tiny grouped case."""
    gen = generator(11)
    x, w, b = randn((1, 2, 4, 5), gen), randn((4, 1, 2, 3), gen), randn((4,), gen)
    args = dict(stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
    g = randn(F.conv2d(x, w, b, **args).shape, gen)
    case = (
        "x (1, 2, 4, 5), weight (4, 1, 2, 3), stride (1, 2), padding 1, dilation (2, 1), groups 2, "
        "float64 (central differences of F.conv2d, step 1e-6, as reference)"
    )
    check_conv_backward(impl, g, x, w, args, conv_central_differences(g, x, w, b, args), case, TOL_FD)


@pytest.mark.parametrize("name", list(POOL))
def test_max_pool2d_matches_torch(impl, name):
    """max_pool2d equals F.max_pool2d (default stride, -inf padding, rectangular windows)."""
    x, _, args = pool_inputs(name, POOL[name])
    check_pool(impl, "max", x, args, F.max_pool2d(x, **args), f"{words(name, POOL[name])} (F.max_pool2d as reference)")


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(POOL))
def test_max_pool2d_backward_matches_autograd(impl, name):
    """max_pool2d_backward equals autograd through F.max_pool2d, ties included."""
    x, g, args = pool_inputs(name, POOL[name])
    case = f"{words(name, POOL[name])}, random grad_out (autograd through F.max_pool2d as reference)"
    check_pool_backward(impl, "max", g, x, args, pool_grad("max", g, x, args), case)


@pytest.mark.parametrize("name", list(POOL))
def test_avg_pool2d_matches_torch(impl, name):
    """avg_pool2d equals F.avg_pool2d (padding counts in the divisor)."""
    x, _, args = pool_inputs(name, POOL[name])
    check_pool(impl, "avg", x, args, F.avg_pool2d(x, **args), f"{words(name, POOL[name])} (F.avg_pool2d as reference)")


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(POOL))
def test_avg_pool2d_backward_matches_autograd(impl, name):
    """avg_pool2d_backward equals autograd through F.avg_pool2d."""
    x, g, args = pool_inputs(name, POOL[name])
    case = f"{words(name, POOL[name])}, random grad_out (autograd through F.avg_pool2d as reference)"
    check_pool_backward(impl, "avg", g, x, args, pool_grad("avg", g, x, args), case)
