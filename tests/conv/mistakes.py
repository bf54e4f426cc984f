"""Convolution and pooling: the known mistakes, with the sentence a learner sees when their output
looks like one. What each mistake outputs (so that a wrong output is named after the mistakes it
matches, and only those) is computed in `key.py`, the answer key.

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[kernel-flipped]`. The mutants that commit each mistake (patches of the reference, used by
`make check`) are in `mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "kernel-flipped",
        "the kernel is flipped (a true convolution); conv2d in deep learning is a cross-correlation: "
        "out[i, j] = sum of weight[p, q] * x[i + p, j + q], with no flip.",
    ),
    Mistake(
        "output-size-off-by-one",
        "the output size is off by one; it is (H + 2 * padding - dilation * (kH - 1) - 1) // stride + 1 "
        "(for pooling, dilation is 1: (H + 2 * padding - kH) // stride + 1), with floor division.",
    ),
    Mistake(
        "padding-one-side",
        "the padding is applied on one side only; `padding=p` adds p zeros (p values of -inf for max "
        "pooling) at the top AND the bottom, the left AND the right: F.pad(x, (pW, pW, pH, pH)).",
    ),
    Mistake(
        "backward-ignores-stride",
        "the backward pass ignores the stride: window (i, j) starts at row i * stride_h and column "
        "j * stride_w of the padded input, in the backward pass as in the forward pass.",
    ),
    Mistake(
        "backward-ignores-dilation",
        "the backward pass ignores the dilation: kernel tap (p, q) reads row p * dilation_h and column "
        "q * dilation_w of its window, in the backward pass as in the forward pass.",
    ),
    Mistake(
        "groups-mix-channels",
        "the groups mix channels: group g is the CONTIGUOUS block of input channels "
        "g * C_in/groups ... (g + 1) * C_in/groups - 1 (and of output channels likewise), not every "
        "groups-th channel; reshape channels as (groups, C_in/groups), in that order.",
    ),
    Mistake(
        "bias-grad-not-summed",
        "the bias gradient is not summed over the batch and both spatial dimensions; every output "
        "position of every example used the same bias, so grad_bias adds grad_out up over dims 0, 2 "
        "and 3, giving shape (C_out,) (a sum, not a mean).",
    ),
    Mistake(
        "maxpool-grad-to-all-ties",
        "the max-pool gradient goes to every element equal to the window's maximum; with ties (many "
        "zeros after a ReLU) only the FIRST maximum in row-major window order gets it, as PyTorch "
        "does (argmax returns the first).",
    ),
    Mistake(
        "maxpool-grad-spread",
        "the max-pool gradient is spread over the window like an average; all of a window's "
        "gradient goes to the one element that was the maximum.",
    ),
    Mistake(
        "maxpool-pads-with-zero",
        "max pooling pads with zeros; padded positions must never win a window, so pad with -inf "
        "(this shows where a whole border window is negative).",
    ),
    Mistake(
        "avgpool-grad-not-divided",
        "the average-pool gradient is not divided by the window size; each of the kH * kW elements "
        "of a window gets grad_out / (kH * kW) from it.",
    ),
    Mistake(
        "avgpool-excludes-padding",
        "average pooling divides by the number of real (unpadded) elements; PyTorch's default "
        "count_include_pad=True divides every window by kH * kW, padded zeros included.",
    ),
    Mistake(
        "pool-stride-default",
        "stride=None does not mean stride 1 in pooling; it means the kernel size (non-overlapping "
        "windows), as in PyTorch.",
    ),
    Mistake(
        "im2col-no-transpose",
        "the im2col product is reshaped to (B, C_out, oH, oW) without moving the channel axis first; "
        "the product has shape (B, oH * oW, C_out) (positions first), so transpose it to "
        "(B, C_out, oH * oW) before the reshape, or channels and positions get scrambled.",
    ),
]

MISTAKE = by_id(MISTAKES)
