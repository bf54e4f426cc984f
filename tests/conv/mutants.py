"""Mutants of solutions/conv.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.

Alternatives that replace whole functions append new definitions after the last line of the
reference (`_END`): Python keeps the last definition of a name.
"""

from grader.mistakes import Alternative, Mutant, Trivial

OH = "oh = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1"
OW = "ow = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1"
MAX_FORWARD = (
    '    windows = _im2col(x, kernel_size, stride, padding, 1, pad_value=float("-inf"))\n    return windows.amax(dim=2)'
)
MAX_SCATTER = "grad_windows = torch.zeros_like(windows).scatter(2, first, grad_out.unsqueeze(2))"
_END = (
    "    grad_windows = share.expand(batch, channels, kh * kw, oh, ow)\n"
    "    return _col2im(grad_windows, x.shape[-2:], kernel_size, stride, padding, 1)\n"
)


def _append(code: str) -> dict[str, str]:
    """A patch that adds `code` (module level) after the last line of the reference."""
    return {_END: _END + "\n\n" + code.strip("\n") + "\n"}


GRAD_X = "grad_x = _col2im(grad_cols, (height, width), (kh, kw), stride, padding, dilation)"
GRAD_B = "grad_bias = grad_out.sum(dim=(0, 2, 3))"
COLS = "cols = cols.reshape(batch, groups, c_per_group * kh * kw, oh * ow).transpose(-1, -2)"

MUTANTS = [
    Mutant(
        "kernel-flipped",
        {
            "w = weight.reshape(groups, c_out // groups, c_per_group * kh * kw)": (
                "w = weight.flip(-2, -1).reshape(groups, c_out // groups, c_per_group * kh * kw)"
            )
        },
    ),
    Mutant("output-size-off-by-one", {OH: OH.replace(" // sh + 1", " // sh"), OW: OW.replace(" // sw + 1", " // sw")}),
    Mutant(
        "padding-one-side",
        {"F.pad(x, (pw, pw, ph, ph), value=pad_value)": "F.pad(x, (0, 2 * pw, 0, 2 * ph), value=pad_value)"},
    ),
    Mutant("backward-ignores-stride", {GRAD_X: GRAD_X.replace("stride, padding", "1, padding")}),
    Mutant("backward-ignores-dilation", {GRAD_X: GRAD_X.replace("padding, dilation", "padding, 1")}),
    Mutant(
        "groups-mix-channels",
        {COLS: "cols = cols.reshape(batch, c_per_group, groups, kh * kw, oh * ow).transpose(1, 2)\n    " + COLS},
    ),
    Mutant("bias-grad-not-summed", {GRAD_B: "grad_bias = grad_out.sum(dim=(2, 3))"}, id="bias-grad-per-example"),
    Mutant("bias-grad-not-summed", {GRAD_B: "grad_bias = grad_out.mean(dim=(0, 2, 3))"}, id="bias-grad-mean"),
    Mutant(
        "maxpool-grad-to-all-ties",
        {MAX_SCATTER: "grad_windows = (windows == windows.amax(dim=2, keepdim=True)) * grad_out.unsqueeze(2)"},
    ),
    Mutant(
        "maxpool-grad-spread",
        {MAX_SCATTER: "grad_windows = (grad_out.unsqueeze(2) / windows.shape[2]).expand_as(windows)"},
    ),
    Mutant("maxpool-pads-with-zero", {MAX_FORWARD: MAX_FORWARD.replace('float("-inf")', "0.0")}),
    Mutant(
        "avgpool-grad-not-divided", {"share = (grad_out / (kh * kw)).unsqueeze(2)": "share = grad_out.unsqueeze(2)"}
    ),
    Mutant(
        "avgpool-excludes-padding",
        {
            "    return windows.mean(dim=2)": (
                "    counts = _im2col(torch.ones_like(x), kernel_size, stride, padding, 1).sum(dim=2)\n"
                "    return windows.sum(dim=2) / counts"
            )
        },
    ),
    Mutant(
        "pool-stride-default",
        {
            "    stride = kernel_size if stride is None else stride\n" + MAX_FORWARD: (
                "    stride = 1 if stride is None else stride\n" + MAX_FORWARD
            )
        },
    ),
    Mutant(
        "im2col-no-transpose",
        {"out = out.transpose(-1, -2).reshape(batch, c_out, oh, ow)": "out = out.reshape(batch, c_out, oh, ow)"},
    ),
]

LOOPS = """
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    batch, c_in, height, width = x.shape
    c_out, c_group, kh, kw = weight.shape
    oh = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = torch.zeros(batch, c_in, height + 2 * ph, width + 2 * pw, dtype=x.dtype)
    xp[:, :, ph:ph + height, pw:pw + width] = x
    out = torch.zeros(batch, c_out, oh, ow, dtype=x.dtype)
    per_group = c_out // groups
    for b in range(batch):
        for o in range(c_out):
            first = (o // per_group) * c_group
            for i in range(oh):
                for j in range(ow):
                    patch = xp[b, first:first + c_group, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                               j * sw:j * sw + dw * (kw - 1) + 1:dw]
                    out[b, o, i, j] = (patch * weight[o]).sum()
            if bias is not None:
                out[b, o] += bias[o]
    return out


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    batch, c_in, height, width = x.shape
    c_out, c_group, kh, kw = weight.shape
    oh, ow = grad_out.shape[-2:]
    xp = torch.zeros(batch, c_in, height + 2 * ph, width + 2 * pw, dtype=x.dtype)
    xp[:, :, ph:ph + height, pw:pw + width] = x
    grad_xp = torch.zeros_like(xp)
    grad_w = torch.zeros_like(weight)
    per_group = c_out // groups
    for b in range(batch):
        for o in range(c_out):
            first = (o // per_group) * c_group
            for i in range(oh):
                for j in range(ow):
                    rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                    g = grad_out[b, o, i, j]
                    grad_w[o] += g * xp[b, first:first + c_group, rows, cols]
                    grad_xp[b, first:first + c_group, rows, cols] += g * weight[o]
    grad_b = torch.zeros(c_out, dtype=grad_out.dtype)
    for o in range(c_out):
        grad_b[o] = grad_out[:, o].sum()
    return grad_xp[:, :, ph:ph + height, pw:pw + width], grad_w, grad_b


def _pool_setup(x, kernel_size, stride, padding, fill):
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    batch, channels, height, width = x.shape
    xp = torch.full((batch, channels, height + 2 * ph, width + 2 * pw), fill, dtype=x.dtype)
    xp[:, :, ph:ph + height, pw:pw + width] = x
    oh = (height + 2 * ph - kh) // sh + 1
    ow = (width + 2 * pw - kw) // sw + 1
    return xp, (kh, kw), (sh, sw), (ph, pw), oh, ow


def max_pool2d(x, kernel_size, stride=None, padding=0):
    xp, (kh, kw), (sh, sw), _, oh, ow = _pool_setup(x, kernel_size, stride, padding, float("-inf"))
    out = torch.zeros(x.shape[0], x.shape[1], oh, ow, dtype=x.dtype)
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    out[b, c, i, j] = xp[b, c, i * sh:i * sh + kh, j * sw:j * sw + kw].max()
    return out


def max_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0):
    xp, (kh, kw), (sh, sw), (ph, pw), oh, ow = _pool_setup(x, kernel_size, stride, padding, float("-inf"))
    grad_xp = torch.zeros_like(xp)
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    k = int(torch.argmax(xp[b, c, i * sh:i * sh + kh, j * sw:j * sw + kw]))
                    grad_xp[b, c, i * sh + k // kw, j * sw + k % kw] += grad_out[b, c, i, j]
    return grad_xp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    xp, (kh, kw), (sh, sw), _, oh, ow = _pool_setup(x, kernel_size, stride, padding, 0.0)
    out = torch.zeros(x.shape[0], x.shape[1], oh, ow, dtype=x.dtype)
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    out[b, c, i, j] = xp[b, c, i * sh:i * sh + kh, j * sw:j * sw + kw].sum() / (kh * kw)
    return out


def avg_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0):
    xp, (kh, kw), (sh, sw), (ph, pw), oh, ow = _pool_setup(x, kernel_size, stride, padding, 0.0)
    grad_xp = torch.zeros_like(xp)
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    grad_xp[b, c, i * sh:i * sh + kh, j * sw:j * sw + kw] += grad_out[b, c, i, j] / (kh * kw)
    return grad_xp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
"""

FLOAT64_INSIDE = """
_conv2d, _conv2d_backward = conv2d, conv2d_backward
_pools = (max_pool2d, max_pool2d_backward, avg_pool2d, avg_pool2d_backward)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    b = None if bias is None else bias.double()
    return _conv2d(x.double(), weight.double(), b, stride, padding, dilation, groups).to(x.dtype)


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1):
    grads = _conv2d_backward(grad_out.double(), x.double(), weight.double(), stride, padding, dilation, groups)
    return tuple(g.to(x.dtype) for g in grads)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    return _pools[0](x.double(), kernel_size, stride, padding).to(x.dtype)


def max_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0):
    return _pools[1](grad_out.double(), x.double(), kernel_size, stride, padding).to(x.dtype)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    return _pools[2](x.double(), kernel_size, stride, padding).to(x.dtype)


def avg_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0):
    return _pools[3](grad_out.double(), x.double(), kernel_size, stride, padding).to(x.dtype)
"""

EINSUM = """
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    c_out, c_group, kh, kw = weight.shape
    win = _im2col(x, (kh, kw), stride, padding, dilation)  # (B, C_in, K, oH, oW)
    bsz, _, k, oh, ow = win.shape
    win = win.reshape(bsz, groups, c_group, k, oh, ow)
    w = weight.reshape(groups, c_out // groups, c_group, k)
    out = torch.einsum("bgckij,gock->bgoij", win, w).reshape(bsz, c_out, oh, ow)
    return out if bias is None else out + bias[None, :, None, None]


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1):
    c_out, c_group, kh, kw = weight.shape
    win = _im2col(x, (kh, kw), stride, padding, dilation)
    bsz, c_in, k, oh, ow = win.shape
    win = win.reshape(bsz, groups, c_group, k, oh, ow)
    g = grad_out.reshape(bsz, groups, c_out // groups, oh, ow)
    w = weight.reshape(groups, c_out // groups, c_group, k)
    grad_w = torch.einsum("bgoij,bgckij->gock", g, win).reshape(weight.shape)
    grad_win = torch.einsum("bgoij,gock->bgckij", g, w).reshape(bsz, c_in, k, oh, ow)
    grad_x = _col2im(grad_win, x.shape[-2:], (kh, kw), stride, padding, dilation)
    return grad_x, grad_w, torch.einsum("boij->o", grad_out)
"""

TAPS = (
    "    taps = [x_pad[:, :, p * dh: p * dh + sh * (oh - 1) + 1: sh, q * dw: q * dw + sw * (ow - 1) + 1: sw]\n"
    "            for p in range(kh) for q in range(kw)]\n"
    "    return torch.stack(taps, dim=2)"
)

ALTERNATIVES = [
    Alternative(
        "plain-loops",
        "every function written with Python loops over batch, channels and output pixels (the "
        "slowest correct version a learner may write: the suites must still finish in seconds)",
        _append(LOOPS),
    ),
    Alternative(
        "float64-inside",
        "computes everything in float64 and casts the results back to the input's dtype",
        _append(FLOAT64_INSIDE),
    ),
    Alternative(
        "tensor-unfold",
        "windows taken with Tensor.unfold (span d * (k - 1) + 1, then every d-th element)",
        {
            TAPS: "    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1\n"
            "    win = x_pad.unfold(2, span_h, sh).unfold(3, span_w, sw)[..., ::dh, ::dw]\n"
            "    return win.permute(0, 1, 4, 5, 2, 3).reshape(*x.shape[:2], kh * kw, oh, ow)"
        },
    ),
    Alternative(
        "as-strided",
        "windows taken with as_strided on the padded input (a view, no loop at all)",
        {
            TAPS: "    x_pad = x_pad.contiguous()\n"
            "    s_b, s_c, s_h, s_w = x_pad.stride()\n"
            "    win = x_pad.as_strided((*x.shape[:2], kh, kw, oh, ow),\n"
            "                           (s_b, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw))\n"
            "    return win.reshape(*x.shape[:2], kh * kw, oh, ow)"
        },
    ),
    Alternative(
        "einsum",
        "conv2d and its backward as einsums over (batch, group, channel, tap, position)",
        _append(EINSUM),
    ),
    Alternative(
        "first-max-by-cumsum",
        "max-pool backward marks the first maximum with a cumulative sum of the tie mask",
        {
            MAX_SCATTER: "ties = windows == windows.amax(dim=2, keepdim=True)\n"
            "    first_tie = ties & (ties.cumsum(dim=2) == 1)\n"
            "    grad_windows = first_tie * grad_out.unsqueeze(2)"
        },
    ),
]

_SHAPE_ZEROS = (
    "(kh, kw), (sh, sw) = _pair(kernel_size), _pair(kernel_size if stride is None else stride)\n"
    "ph, pw = _pair(padding)\n"
    "return x.new_zeros(*x.shape[:2], (x.shape[2] + 2 * ph - kh) // sh + 1,\n"
    "                   (x.shape[3] + 2 * pw - kw) // sw + 1)"
)

TRIVIAL = [
    Trivial(
        "returns-inputs",
        "every forward returns its input, every backward returns zeros",
        (
            "return x.unsqueeze(2)",
            "return cols.sum(dim=2)",
            "return x",
            "return torch.zeros_like(x), torch.zeros_like(weight), weight.new_zeros(weight.shape[0])",
            "return x",
            "return torch.zeros_like(x)",
            "return x",
            "return torch.zeros_like(x)",
        ),
    ),
    Trivial(
        "zeros-of-the-right-shape",
        "every function returns zeros of the right shape and dtype",
        (
            "return x.unsqueeze(2)",
            "return cols.sum(dim=2)",
            "(sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)\n"
            "kh, kw = weight.shape[-2:]\n"
            "return x.new_zeros(x.shape[0], weight.shape[0], (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1,\n"
            "                   (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1)",
            "return torch.zeros_like(x), torch.zeros_like(weight), weight.new_zeros(weight.shape[0])",
            _SHAPE_ZEROS,
            "return torch.zeros_like(x)",
            _SHAPE_ZEROS,
            "return torch.zeros_like(x)",
        ),
    ),
]
