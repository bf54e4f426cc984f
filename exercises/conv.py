"""Convolution and pooling, forward and backward, by hand.

A 2-D convolution layer (as in `torch.nn.functional.conv2d`, which is really a cross-correlation:
the kernel is NOT flipped) slides each filter over the image and takes a dot product at every
position. With input `x` of shape (B, C_in, H, W) and `weight` of shape (C_out, C_in / groups,
kH, kW):

    out[b, o, i, j] = bias[o] + sum over c, p, q of
                      weight[o, c, p, q] * x_pad[b, g * C_in/groups + c, i * sH + p * dH, j * sW + q * dW]

where `g = o // (C_out / groups)` is the group of output channel `o`, `x_pad` is `x` with
`padding` zeros added on BOTH sides of each spatial dimension, (sH, sW) is the stride and (dH, dW)
the dilation (the gap between kernel taps; 1 means adjacent pixels). The output size is

    oH = floor((H + 2 * pH - dH * (kH - 1) - 1) / sH) + 1        (the same for W)

Groups split the channels into `groups` independent convolutions: output channels of group g see
only input channels of group g. `groups == C_in` (with C_out a multiple of C_in) is a depthwise
convolution.

The usual way to vectorise (im2col): gather, for every output position, the input values its
window covers into a matrix of "columns", so that the convolution becomes one matrix product with
the weight reshaped to (C_out, C_in/groups * kH * kW). The backward pass runs the same steps in
reverse: the gradient of the columns is scattered back (added) onto the positions they were read
from (col2im).

Pooling takes windows the same way and reduces each one to its maximum (max pooling: padding is
-inf, so padded positions never win; the gradient goes to the one element that was picked, the
FIRST maximum of the window in row-major order, as PyTorch does) or to its mean (average pooling,
counting padded zeros in the divisor: PyTorch's `count_include_pad=True`). The stride of pooling
defaults to the kernel size.

Conventions:
- `stride`, `padding`, `dilation` and `kernel_size` accept an int or a pair (height, width).
- Results keep the dtype of `x`; the inputs are never modified.
- Backward functions take the gradient of the loss with respect to the output (`grad_out`, the
  shape of the forward output) and return the gradients with respect to the inputs, computed by
  hand: no autograd anywhere in this file (the forward functions do not need it either).
- Not allowed here: `F.conv2d`, `F.conv_transpose2d`, `nn.Conv2d`, `F.max_pool2d`,
  `F.avg_pool2d`, `nn.MaxPool2d`, `nn.AvgPool2d`, `F.unfold`, `F.fold`, `nn.Unfold`, `nn.Fold`,
  `torch.nn.grad` and their aliases in `torch`; nor `torch.autograd`, `torch.func` or
  `.backward()`. Allowed: indexing and slicing, `F.pad`, `Tensor.unfold`, `as_strided`,
  `matmul`/`einsum`, `argmax`, `scatter`, ... Python loops are allowed too (a loop over the kernel
  offsets is all a vectorised version needs).

The two helpers `_im2col` and `_col2im` are a suggested structure; the tests call only the six
public functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _pair(value) -> tuple[int, int]:
    """`(v, v)` for an int `v`, `(a, b)` for a pair `(a, b)` (given, nothing to write here)."""
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def _im2col(x: Tensor, kernel_size, stride, padding, dilation, pad_value: float = 0.0) -> Tensor:
    """The windows of `x`: shape (B, C, kH * kW, oH, oW).

    `result[b, c, p * kW + q, i, j]` is `x_pad[b, c, i * sH + p * dH, j * sW + q * dW]`, where
    `x_pad` is `x` padded with `pad_value` by (pH, pW) on both sides. Kernel offsets are numbered
    in row-major order (p, q).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def _col2im(cols: Tensor, input_size, kernel_size, stride, padding, dilation) -> Tensor:
    """The adjoint of `_im2col`: add every window entry back onto the input position it came from.

    `cols` has shape (B, C, kH * kW, oH, oW); `input_size` is (H, W). Returns (B, C, H, W): the sum,
    for each input position, of the entries read from it (entries read from padding are dropped).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation), equal to `torch.nn.functional.conv2d`.

    Args:
        x: input, shape (B, C_in, H, W).
        weight: filters, shape (C_out, C_in // groups, kH, kW); C_in and C_out are multiples of
            `groups`.
        bias: shape (C_out,), or None for no bias.
        stride, padding, dilation: int or (height, width) pair; padding adds zeros on both sides.
        groups: number of independent channel groups.

    Returns:
        Shape (B, C_out, oH, oW) with oH = (H + 2 pH - dH (kH - 1) - 1) // sH + 1 (same for W),
        dtype of `x`.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def conv2d_backward(grad_out: Tensor, x: Tensor, weight: Tensor, stride=1, padding=0, dilation=1,
                    groups: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of `conv2d` with respect to its input, weight and bias, by hand.

    Args:
        grad_out: dL/d(out), shape (B, C_out, oH, oW) (the shape `conv2d` returned).
        x, weight, stride, padding, dilation, groups: as given to `conv2d`.

    Returns:
        `(grad_x, grad_weight, grad_bias)` with the shapes of `x`, `weight` and (C_out,): the bias
        gradient is returned whether or not the forward pass had a bias. Rows and columns of `x`
        that no window covers (when the windows do not tile the image) get zero gradient.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Max pooling, equal to `torch.nn.functional.max_pool2d` (no dilation, floor mode).

    Args:
        x: shape (B, C, H, W).
        kernel_size, padding: int or pair; padding (at most half the kernel, as in PyTorch) is -inf
            on both sides, so it never wins a window.
        stride: int or pair; None means the kernel size.

    Returns:
        Shape (B, C, oH, oW) with oH = (H + 2 pH - kH) // sH + 1 (same for W).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def max_pool2d_backward(grad_out: Tensor, x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Gradient of `max_pool2d` with respect to `x`.

    Each window's gradient goes entirely to the element that `max_pool2d` picked: the first
    maximum of the window in row-major order (when several elements tie, only the first gets it).
    Where windows overlap, an element collects the gradient of every window it won.

    Args:
        grad_out: shape (B, C, oH, oW); x, kernel_size, stride, padding: as given to `max_pool2d`.

    Returns:
        grad_x, shape and dtype of `x`.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Average pooling, equal to `torch.nn.functional.avg_pool2d` with its defaults.

    Padding is zeros on both sides and counts in the divisor (`count_include_pad=True`): every
    window is divided by kH * kW.

    Args:
        x: shape (B, C, H, W).
        kernel_size, padding: int or pair (padding at most half the kernel).
        stride: int or pair; None means the kernel size.

    Returns:
        Shape (B, C, oH, oW) with oH = (H + 2 pH - kH) // sH + 1 (same for W).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def avg_pool2d_backward(grad_out: Tensor, x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Gradient of `avg_pool2d` with respect to `x`.

    Every element of a window (padding included) receives grad_out / (kH * kW) from that window;
    overlapping windows add up.

    Args:
        grad_out: shape (B, C, oH, oW); x, kernel_size, stride, padding: as given to `avg_pool2d`.

    Returns:
        grad_x, shape and dtype of `x`.
    """
    # YOUR CODE HERE
    raise NotImplementedError
