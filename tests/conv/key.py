"""Convolution's answer key (grader/answers.py): what conv2d, conv2d_backward and the pooling
functions output under each known mistake, so that a wrong output is named after the mistakes it
matches. Each prediction is PyTorch run on altered inputs or settings (a flipped kernel, padding on
one side, a stride of 1, ...); it is never the oracle of a test (PyTorch itself is). A class release
ships its results for the public tests, not this file.

Every function is for check_output(s)(near=...), lazy: it gives (mistake, prediction) pairs, a
prediction being the output or the tuple of outputs; None stands for an output the mistake leaves as
it should be (the test puts the oracle's value there).
"""

import torch.nn.functional as F

from grader.answers import recorded
from grader.kit import backward
from tests.conv.mistakes import MISTAKE

POOL = {"max": F.max_pool2d, "avg": F.avg_pool2d}


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _one_row_short(out):
    """`out` one row, one column, or both short: the output size computed without its + 1."""
    short = MISTAKE["output-size-off-by-one"]
    return [(short, out[..., :-1, :-1]), (short, out[..., :-1, :]), (short, out[..., :, :-1])]


def _one_sided(padding) -> list[tuple[int, int, int, int]]:
    """F.pad's pads putting all of `padding` after, then before, each spatial dimension."""
    ph, pw = _pair(padding)
    return [(0, 2 * pw, 0, 2 * ph), (2 * pw, 0, 2 * ph, 0)] if ph or pw else []


@recorded(lazy=True)
def conv_mistakes(x, weight, bias, stride=1, padding=0, dilation=1, groups=1):
    """(mistake, conv2d's output under it) for the mistakes of the forward pass."""
    args = dict(stride=stride, dilation=dilation, groups=groups)
    right = F.conv2d(x, weight, bias, padding=padding, **args)
    found = [(MISTAKE["kernel-flipped"], F.conv2d(x, weight.flip(-2, -1), bias, padding=padding, **args))]
    found += _one_row_short(right)
    found += [
        (MISTAKE["padding-one-side"], F.conv2d(F.pad(x, pads), weight, bias, **args)) for pads in _one_sided(padding)
    ]
    b, c, h, w = x.shape
    if groups > 1:  # group g reads channels g, g + groups, ...: reordered, F.conv2d's contiguous groups read those
        mixed = x.reshape(b, c // groups, groups, h, w).transpose(1, 2).reshape(x.shape)
        found.append((MISTAKE["groups-mix-channels"], F.conv2d(mixed, weight, bias, padding=padding, **args)))
    # The product, (B, groups, oH * oW, C_out / groups), reshaped to (B, C_out, oH, oW) as it is.
    y = F.conv2d(x, weight, None, padding=padding, **args)
    scrambled = y.reshape(b, groups, y.shape[1] // groups, -1).transpose(2, 3).reshape(y.shape)
    found.append((MISTAKE["im2col-no-transpose"], scrambled if bias is None else scrambled + bias.reshape(1, -1, 1, 1)))
    return found


@recorded(lazy=True)
def conv_backward_mistakes(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """(mistake, (grad_x, grad_weight, grad_bias) under it) for the mistakes of conv2d_backward."""
    settings = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    oh, ow = grad_out.shape[-2:]

    def grad_x(**changed):
        """grad_x with the window gradients added back at the places `changed` settings give (the
        first oH x oW windows of that convolution)."""
        conv = lambda x: F.conv2d(x, weight, None, **{**settings, **changed})[..., :oh, :ow]  # noqa: E731
        return backward(conv, [x], grad_out)[1][0]

    def grad_weight(pads):
        conv = lambda w: F.conv2d(F.pad(x, pads), w, None, stride, 0, dilation, groups)  # noqa: E731
        return backward(conv, [weight], grad_out)[1][0]

    g, unsummed = grad_out, MISTAKE["bias-grad-not-summed"]
    return [
        (MISTAKE["backward-ignores-stride"], (grad_x(stride=1), None, None)),
        (MISTAKE["backward-ignores-dilation"], (grad_x(dilation=1), None, None)),
        *[(unsummed, (None, None, b)) for b in (g, g.sum(0), g.sum((2, 3)), g.mean((0, 2, 3)), g[0].sum((1, 2)))],
        *[(MISTAKE["padding-one-side"], (None, grad_weight(pads), None)) for pads in _one_sided(padding)],
    ]


@recorded(lazy=True)
def pool_mistakes(kind, x, kernel_size, stride=None, padding=0):
    """(mistake, the output of `kind`_pool2d under it), kind "max" or "avg"."""
    pool, fill = POOL[kind], float("-inf") if kind == "max" else 0.0
    found = _one_row_short(pool(x, kernel_size, stride, padding))
    found += [
        (MISTAKE["padding-one-side"], pool(F.pad(x, pads, value=fill), kernel_size, stride))
        for pads in _one_sided(padding)
    ]
    (ph, pw), k = _pair(padding), kernel_size
    if (ph or pw) and kind == "max":
        found.append((MISTAKE["maxpool-pads-with-zero"], F.max_pool2d(F.pad(x, (pw, pw, ph, ph)), k, stride)))
    elif ph or pw:
        found.append(
            (MISTAKE["avgpool-excludes-padding"], F.avg_pool2d(x, k, stride, padding, count_include_pad=False))
        )
    if stride is None:
        found.append((MISTAKE["pool-stride-default"], pool(x, k, 1, padding)))
    return found


@recorded(lazy=True)
def pool_backward_mistakes(kind, grad_out, x, kernel_size, stride=None, padding=0):
    """(mistake, grad_x from `kind`_pool2d_backward under it)."""

    def avg_grad(**extra):
        return backward(lambda x: F.avg_pool2d(x, kernel_size, stride, padding, **extra), [x], grad_out)[1][0]

    k, s, (ph, pw) = _pair(kernel_size), _pair(kernel_size if stride is None else stride), _pair(padding)
    if kind == "avg":
        found = [(MISTAKE["avgpool-grad-not-divided"], avg_grad() * (k[0] * k[1]))]
        if ph or pw:
            found.append((MISTAKE["avgpool-excludes-padding"], avg_grad(count_include_pad=False)))
        return found
    # Every element equal to its window's maximum gets the window's gradient; F.fold adds the
    # windows back onto the input (dropping the padding).
    b, c = x.shape[:2]
    windows = F.unfold(F.pad(x, (pw, pw, ph, ph), value=float("-inf")), k, stride=s).reshape(b, c, k[0] * k[1], -1)
    ties = (windows == windows.amax(2, keepdim=True)).to(x.dtype) * grad_out.reshape(b, c, 1, -1)
    every_tie = F.fold(ties.reshape(b, c * k[0] * k[1], -1), tuple(x.shape[-2:]), k, padding=(ph, pw), stride=s)
    return [(MISTAKE["maxpool-grad-to-all-ties"], every_tie), (MISTAKE["maxpool-grad-spread"], avg_grad())]
