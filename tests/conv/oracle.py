"""Oracles for the conv suite.

- `torch_*`: PyTorch itself (torch.nn.functional and autograd), in the dtype of the inputs: the
  primary oracle.
- `central_differences`: float64 central differences of a PyTorch forward function, on tiny cases.
- `*_near`: what each known mistake would output, built from PyTorch calls on altered inputs or
  from a small index-based scatter written here. They only name the mistake a wrong output looks
  like; they are never the oracle of a test.
- random cases and tolerances, each tolerance with its reason.
"""

from __future__ import annotations

import contextlib
import functools
import zlib

import torch
import torch.nn.functional as F

from tests.conv.mistakes import MISTAKE

f64 = torch.float64


# ---------------------------------------------------------------------------------------------------
# Tolerances, stated once with their reasons.
#
# Every output is a sum of products (convolution, gradients) or of copies (pooling). A correct
# implementation may add in another order than PyTorch (im2col matmul, loops, float64 inside), so
# outputs differ from PyTorch's by rounding errors of the size of the largest terms, which for an
# element that nearly cancels is far above its own size: the absolute part of the tolerance is
# relative to `scale`, the largest |value| of that output.
# float64: 1.1e-16 per operation; sums of at most a few hundred terms here stay below 1e-13
#   relative. 1e-10 leaves room and still sees every mistake (they are all of order 1).
# float32: 6e-8 per operation; the same sums reach a few 1e-6 relative to the scale. 1e-4 relative
#   to the scale plus 1e-4 relative to each value (the mistakes are of order 1 relative). The
#   reference and the alternatives of mutants.py use at most 0.1% of it on every case here.
# Max pooling forward only copies values (exact), but tests use the same tolerance for simplicity.
TOL64 = dict(rtol=1e-10, atol=1e-10)
TOL32 = dict(rtol=1e-4, atol=1e-4)
# Hand-worked cases are small integers or binary fractions: every operation is exact.
EXACT = dict(rtol=0.0, atol=1e-12)
# Central differences in float64 with step H: convolution and average pooling are linear in each
# input (no truncation error), max pooling is linear near inputs without ties; what is left is
# cancellation, ~1e-16 * |loss| / H ~ 1e-9 for a loss of order 10. 1e-6 relative plus 1e-6 absolute.
H = 1e-6
TOL_FD = dict(rtol=1e-6, atol=1e-6)


def tol(dtype, scale: float = 1.0) -> dict:
    """The tolerance for an output of `dtype` whose largest |value| is `scale`."""
    base = TOL64 if dtype == f64 else TOL32
    return dict(rtol=base["rtol"], atol=base["atol"] * max(float(scale), 1e-30))


def scale_of(t: torch.Tensor) -> float:
    return float(t.detach().abs().max()) if t.numel() else 1.0


def pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """PyTorch's output size (floor mode)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


# ---------------------------------------------------------------------------------------------------
# Random cases


def seeded(name: str) -> torch.Generator:
    """A generator seeded from a case's name, stable across runs and Python versions."""
    return torch.Generator().manual_seed(zlib.crc32(name.encode()))


def randn(shape, gen, dtype=f64, scale=1.0):
    return (torch.randn(shape, generator=gen, dtype=f64) * scale).to(dtype)


def conv_inputs(name: str, case: dict):
    """x, weight, bias (or None) and grad_out for a conv case.

    `case` has x (shape), w (shape), and optionally bias (bool), stride, padding, dilation,
    groups, dtype. Weights are scaled by 1/sqrt(fan_in) so outputs stay of order 1.
    """
    gen = seeded(name)
    dtype = case.get("dtype", f64)
    x = randn(case["x"], gen, dtype)
    c_out, c_group, kh, kw = case["w"]
    w = randn(case["w"], gen, dtype, 1.0 / (c_group * kh * kw) ** 0.5)
    b = randn((c_out,), gen, dtype) if case.get("bias") else None
    shape = conv_output_shape(case)
    grad_out = randn(shape, gen, dtype)
    return x, w, b, grad_out


def conv_args(case: dict) -> dict:
    """The keyword arguments of conv2d for a case, as given (int or pair)."""
    return {k: case[k] for k in ("stride", "padding", "dilation", "groups") if k in case}


def conv_output_shape(case: dict) -> tuple:
    b, _, h, w = case["x"]
    c_out, _, kh, kw = case["w"]
    (sh, sw), (ph, pw), (dh, dw) = (pair(case.get(k, d)) for k, d in (("stride", 1), ("padding", 0), ("dilation", 1)))
    return (b, c_out, out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw))


def pool_args(case: dict) -> dict:
    return {k: case[k] for k in ("kernel_size", "stride", "padding") if k in case}


def pool_output_shape(case: dict, stride_default=None) -> tuple:
    b, c, h, w = case["x"]
    (kh, kw) = pair(case["kernel_size"])
    stride = case.get("stride")
    (sh, sw) = pair(stride if stride is not None else (stride_default or case["kernel_size"]))
    (ph, pw) = pair(case.get("padding", 0))
    return (b, c, out_size(h, kh, sh, ph), out_size(w, kw, sw, pw))


def pool_inputs(name: str, case: dict):
    """x and grad_out for a pooling case. `relu=True` zeroes the negative half (many ties at 0);
    `negative=True` makes every value at most -0.1 (zero padding would win the border windows);
    `distinct=True` makes all values distinct and at least 0.01 apart (no ties, safe for central
    differences)."""
    gen = seeded(name)
    dtype = case.get("dtype", f64)
    shape = case["x"]
    if case.get("distinct"):
        n = 1
        for s in shape:
            n *= s
        x = (torch.randperm(n, generator=gen).to(f64) * 0.01 - 0.005 * n).reshape(shape).to(dtype)
    else:
        x = randn(shape, gen, dtype)
        if case.get("relu"):
            x = torch.relu(x)
        if case.get("negative"):
            x = -(x.abs() + 0.1)
    grad_out = randn(pool_output_shape(case), gen, dtype)
    return x, grad_out


def describe(case: dict) -> str:
    """A case in words: shapes, dtype and the settings given."""
    parts = [f"x {tuple(case['x'])}"]
    if "w" in case:
        parts.append(f"weight {tuple(case['w'])}")
        parts.append("with bias" if case.get("bias") else "bias None")
    parts.append(str(case.get("dtype", f64)).replace("torch.", ""))
    for key in ("kernel_size", "stride", "padding", "dilation", "groups"):
        if key in case:
            parts.append(f"{key}={case[key]}")
    if case.get("relu"):
        parts.append("after a ReLU (many tied zeros)")
    if case.get("negative"):
        parts.append("all values negative")
    if case.get("distinct"):
        parts.append("distinct values")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------
# PyTorch oracles


def one_thread(fn):
    """Run `fn` with PyTorch on one thread, then restore the setting. The tensors here are tiny
    (threads gain nothing), and on a busy machine PyTorch's thread pool can make one tiny grouped
    float64 F.conv2d take 0.1 s instead of 20 microseconds."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _threads(1):
            return fn(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def _threads(count: int):
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@one_thread
def torch_conv(x, w, b, **args):
    return F.conv2d(x, w, b, **args)


def _dot(out, grad_out):
    """sum(out * grad_out): its gradient with respect to `out` is exactly `grad_out`. Backpropagating
    this scalar gives the same gradients as passing `grad_out` to autograd, without the ~1 s import
    of sympy that torch 2.13 does on the first explicit output gradient."""
    return (out * grad_out.detach()).sum()


@one_thread
def torch_conv_grads(grad_out, x, w, b, **args):
    """(grad_x, grad_weight, grad_bias) of F.conv2d by autograd; grad_bias is computed with a zero
    bias when the case has none (the bias gradient does not depend on the bias)."""
    xl = x.detach().clone().requires_grad_(True)
    wl = w.detach().clone().requires_grad_(True)
    bl = (b if b is not None else torch.zeros(w.shape[0], dtype=w.dtype)).detach().clone().requires_grad_(True)
    return torch.autograd.grad(_dot(F.conv2d(xl, wl, bl, **args), grad_out), (xl, wl, bl))


@one_thread
def torch_pool(kind: str, x, kernel_size, stride=None, padding=0, **extra):
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    return fn(x, kernel_size, stride, padding, **extra)


@one_thread
def torch_pool_grad(kind: str, grad_out, x, kernel_size, stride=None, padding=0, **extra):
    xl = x.detach().clone().requires_grad_(True)
    (gx,) = torch.autograd.grad(_dot(torch_pool(kind, xl, kernel_size, stride, padding, **extra), grad_out), (xl,))
    return gx


@one_thread
def central_differences(fn, inputs: list, grad_out, which: int):
    """d(sum(grad_out * fn(*inputs)))/d(inputs[which]) by float64 central differences."""
    inputs = [t.detach().to(f64).clone() if isinstance(t, torch.Tensor) else t for t in inputs]
    g = grad_out.to(f64)
    target = inputs[which]
    flat = target.view(-1)
    grad = torch.zeros_like(flat)
    for k in range(flat.numel()):
        keep = float(flat[k])
        flat[k] = keep + H
        up = float((fn(*inputs) * g).sum())
        flat[k] = keep - H
        down = float((fn(*inputs) * g).sum())
        flat[k] = keep
        grad[k] = (up - down) / (2 * H)
    return grad.view(target.shape)


# ---------------------------------------------------------------------------------------------------
# Known mistakes: what each would output (computed only when a check has failed)


def _interleave_channels(x, groups):
    """Channels reordered so that PyTorch's contiguous group g holds channels g, g + groups, ..."""
    b, c, h, w = x.shape
    return x.reshape(b, c // groups, groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def conv_near(x, w, b, stride=1, padding=0, dilation=1, groups=1):
    """(mistake, predicted conv2d output) pairs for a forward case."""

    def pairs():
        args = dict(stride=stride, dilation=dilation, groups=groups)
        out = [(MISTAKE["kernel-flipped"], F.conv2d(x, w.flip(-2, -1), b, padding=padding, **args))]
        ph, pw = pair(padding)
        if ph or pw:
            for pads in ((0, 2 * pw, 0, 2 * ph), (2 * pw, 0, 2 * ph, 0)):
                out.append((MISTAKE["padding-one-side"], F.conv2d(F.pad(x, pads), w, b, **args)))
        if groups > 1:
            out.append(
                (
                    MISTAKE["groups-mix-channels"],
                    F.conv2d(_interleave_channels(x, groups), w, b, padding=padding, **args),
                )
            )
        y = F.conv2d(x, w, None, padding=padding, **args)
        bsz, c_out, oh, ow = y.shape
        scrambled = y.reshape(bsz, groups, c_out // groups, oh * ow).transpose(2, 3).reshape(y.shape)
        out.append((MISTAKE["im2col-no-transpose"], scrambled + (b.reshape(1, -1, 1, 1) if b is not None else 0)))
        return out

    return pairs


def _scatter_windows(gcols, size, kernel, stride, padding, dilation):
    """Sum window entries (B, C, kH*kW, oH, oW) back onto an input of spatial `size`, by index
    arithmetic (index_put with accumulation); entries landing in the padding are dropped."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    bsz, c, _, oh, ow = gcols.shape
    h, w = size
    hp, wp = h + 2 * ph, w + 2 * pw
    out = gcols.new_zeros(bsz, c, hp * wp)
    for k in range(kh * kw):
        p, q = divmod(k, kw)
        rows = p * dh + sh * torch.arange(oh)
        cols = q * dw + sw * torch.arange(ow)
        index = (rows[:, None] * wp + cols[None, :]).reshape(-1)
        out.index_add_(2, index, gcols[:, :, k].reshape(bsz, c, -1))
    return out.reshape(bsz, c, hp, wp)[:, :, ph : ph + h, pw : pw + w]


def _full_weight(w, groups):
    """A grouped weight (C_out, C_in/groups, kH, kW) as the equivalent dense (C_out, C_in, kH, kW)."""
    c_out, cg, kh, kw = w.shape
    full = w.new_zeros(c_out, cg * groups, kh, kw)
    per = c_out // groups
    for g in range(groups):
        full[g * per : (g + 1) * per, g * cg : (g + 1) * cg] = w[g * per : (g + 1) * per]
    return full


def conv_grad_x_near(grad_out, x, w, stride=1, padding=0, dilation=1, groups=1):
    """(mistake, predicted grad_x) pairs: the window entries scattered with stride or dilation 1."""

    def pairs():
        kernel = tuple(w.shape[-2:])
        wf = _full_weight(w, groups)
        gcols = torch.einsum("ock,boij->bckij", wf.flatten(2), grad_out)
        s, p, d = pair(stride), pair(padding), pair(dilation)
        size = tuple(x.shape[-2:])
        return [
            (MISTAKE["backward-ignores-stride"], _scatter_windows(gcols, size, kernel, (1, 1), p, d)),
            (MISTAKE["backward-ignores-dilation"], _scatter_windows(gcols, size, kernel, s, p, (1, 1))),
        ]

    return pairs


def bias_grad_near(grad_out):
    """(mistake, predicted grad_bias) pairs of the right shape: a mean, or the first example only."""
    return lambda: [
        (MISTAKE["bias-grad-not-summed"], grad_out.mean(dim=(0, 2, 3))),
        (MISTAKE["bias-grad-not-summed"], grad_out[0].sum(dim=(1, 2))),
    ]


def pool_near(kind, x, kernel_size, stride=None, padding=0):
    """(mistake, predicted pooling output) pairs for a forward case."""

    def pairs():
        out = []
        ph, pw = pair(padding)
        fill = float("-inf") if kind == "max" else 0.0
        s = kernel_size if stride is None else stride
        if ph or pw:
            for pads in ((0, 2 * pw, 0, 2 * ph), (2 * pw, 0, 2 * ph, 0)):
                out.append((MISTAKE["padding-one-side"], torch_pool(kind, F.pad(x, pads, value=fill), kernel_size, s)))
            if kind == "max":
                out.append(
                    (MISTAKE["maxpool-pads-with-zero"], F.max_pool2d(F.pad(x, (pw, pw, ph, ph)), kernel_size, s))
                )
            else:
                out.append(
                    (
                        MISTAKE["avgpool-excludes-padding"],
                        F.avg_pool2d(x, kernel_size, s, padding, count_include_pad=False),
                    )
                )
        return out

    return pairs


def pool_grad_near(kind, grad_out, x, kernel_size, stride=None, padding=0):
    """(mistake, predicted grad_x) pairs for a pooling backward case."""

    def pairs():
        s = kernel_size if stride is None else stride
        k, sp, p = pair(kernel_size), pair(s), pair(padding)
        if kind == "avg":
            out = [
                (
                    MISTAKE["avgpool-grad-not-divided"],
                    torch_pool_grad("avg", grad_out, x, kernel_size, s, padding) * (k[0] * k[1]),
                )
            ]
            if p != (0, 0):
                out.append(
                    (
                        MISTAKE["avgpool-excludes-padding"],
                        torch_pool_grad("avg", grad_out, x, kernel_size, s, padding, count_include_pad=False),
                    )
                )
            return out
        windows = F.unfold(F.pad(x, (p[1], p[1], p[0], p[0]), value=float("-inf")), k, stride=sp)
        bsz, c = x.shape[:2]
        oh, ow = tuple(grad_out.shape[2:])
        windows = windows.reshape(bsz, c, k[0] * k[1], oh, ow)
        ties = windows == windows.amax(dim=2, keepdim=True)
        every_tie = _scatter_windows(ties.to(x.dtype) * grad_out.unsqueeze(2), tuple(x.shape[-2:]), k, sp, p, (1, 1))
        spread = torch_pool_grad("avg", grad_out, x, kernel_size, s, padding)
        return [(MISTAKE["maxpool-grad-to-all-ties"], every_tie), (MISTAKE["maxpool-grad-spread"], spread)]

    return pairs
