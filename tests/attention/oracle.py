"""Oracles for the attention suite.

- PyTorch itself (the primary oracle): `torch.softmax`, `F.scaled_dot_product_attention` and
  `nn.MultiheadAttention` (need_weights=False, holding the test's parameters), outputs and, through
  autograd on the test's side, gradients.
- `predict_sdpa` / `predict_mha`: the textbook computation in float64 with a switch that reproduces
  each known mistake. They only name the mistake a wrong output looks like; they are never the
  oracle a correct answer is compared with.

All functions are bound when this module is imported, before any learner code runs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tests.attention.mistakes import MISTAKE

_sdpa = F.scaled_dot_product_attention
_softmax = torch.softmax
_MHA = nn.MultiheadAttention

# ---------------------------------------------------------------------------------------------------
# Tolerances, stated once with their reasons.
#
# float64: every output is a short chain of dot products (length E, Lk) and one softmax; rounding
# differences from PyTorch are around 1e-15 relative on values of order 1.
TOL64 = dict(rtol=1e-9, atol=1e-11)
# float32: scores of order 1-10 carry a rounding error of about 1e-6, which moves the weights by as
# much; a correct implementation may also order the sums differently, compute in float64 inside or
# use logsumexp. Outputs (convex combinations of v, of order 1) and MHA outputs (two more
# projections of width E <= 16) stay within 1e-5: the reference and the alternatives of mutants.py
# use at most 3% of it (`python -m tests.attention.margins` prints the margins).
TOL32 = dict(rtol=1e-5, atol=1e-5)
# Gradients also sum over the other positions (Lq or Lk <= 8 terms) and go through the softmax's
# backward, so they get 5 times more in float32 (at most 2% used); in float64 the outputs'
# tolerance is ample.
GRAD_TOL32 = dict(rtol=5e-5, atol=5e-5)


def tol(dtype, grad: bool = False) -> dict:
    if dtype == torch.float64:
        return dict(TOL64)
    return dict(GRAD_TOL32 if grad else TOL32)


def large_tol(dtype, magnitude: float) -> dict:
    """Tolerance for softmax inputs (or scores) of size `magnitude`.

    A correct softmax may subtract logsumexp(x) instead of max(x); logsumexp is rounded to the dtype
    at the size of x, an absolute error of half a unit in the last place of `magnitude`, which
    multiplies every output by exp(error): a relative error of about magnitude * 2**-24 in float32
    (6e-4 at 1e4) and magnitude * 2**-53 in float64. Twice that, plus the ordinary tolerance.
    """
    base = tol(dtype)
    unit = 2.0**-24 if dtype == torch.float32 else 2.0**-53
    return dict(rtol=base["rtol"] + 2 * magnitude * unit, atol=base["atol"])


# ---------------------------------------------------------------------------------------------------
# Descriptions of the input cases, for failure messages.


def shape(t) -> str:
    return str(tuple(t.shape))


def describe_mask(mask, is_causal: bool) -> str:
    if is_causal:
        return "is_causal=True"
    if mask is None:
        return "no mask"
    kind = "boolean" if mask.dtype == torch.bool else "float"
    extra = ""
    if mask.dtype == torch.bool and bool((~mask).all(dim=-1).any()):
        extra = ", with a query row that allows no key"
    elif mask.dtype != torch.bool and bool(torch.isneginf(mask).all(dim=-1).any()):
        extra = ", with a query row of -inf"
    return f"{kind} mask of shape {shape(mask)}{extra}"


def describe_sdpa(q, k, v, mask=None, is_causal=False, scale=None) -> str:
    scale_text = "" if scale is None else f", scale={scale:g}"
    return (
        f"{str(q.dtype).replace('torch.', '')}, q {shape(q)}, k {shape(k)}, v {shape(v)}, "
        f"{describe_mask(mask, is_causal)}{scale_text}"
    )


# ---------------------------------------------------------------------------------------------------
# PyTorch as the oracle


def torch_sdpa(q, k, v, mask=None, is_causal=False, scale=None):
    return _sdpa(q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale)


def _backward(out, grad_out):
    """out.backward(grad_out), written as the backward of the scalar sum(out * grad_out): the same
    gradients, without the import of sympy (about 1 s) that an explicit grad_out triggers in
    torch.autograd's shape check."""
    (out * grad_out).sum().backward()


def torch_sdpa64(q, k, v, **options):
    """F.scaled_dot_product_attention computed in float64, rounded to q's dtype."""
    return _sdpa(q.double(), k.double(), v.double(), **options).to(q.dtype)


def torch_sdpa_with_grads(q, k, v, grad_out, mask=None, is_causal=False, scale=None):
    """(output, {"q": dq, "k": dk, "v": dv}) of F.scaled_dot_product_attention."""
    leaves = {n: t.detach().clone().requires_grad_(True) for n, t in (("q", q), ("k", k), ("v", v))}
    out = _sdpa(leaves["q"], leaves["k"], leaves["v"], attn_mask=mask, is_causal=is_causal, scale=scale)
    _backward(out, grad_out)
    return out.detach(), {n: t.grad for n, t in leaves.items()}


def torch_softmax_with_grads(x, dim, grad_out):
    leaf = x.detach().clone().requires_grad_(True)
    out = _softmax(leaf, dim)
    _backward(out, grad_out)
    return out.detach(), {"x": leaf.grad}


MHA_PARAMS = ("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias")
MHA_INPUTS = ("query", "key", "value")


def mha_attn_mask(mask, is_causal, batch, heads, n_query, n_key):
    """Our mask (True = may attend) in nn.MultiheadAttention's form (True = may NOT attend),
    shaped (L, S) or (B * H, L, S) as the module requires."""
    if is_causal:
        mask = torch.ones(n_query, n_key, dtype=torch.bool).tril()
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        mask = ~mask
    if mask.dim() == 2:
        return mask
    return mask.expand(batch, heads, n_query, n_key).reshape(batch * heads, n_query, n_key)


def torch_mha(args: dict, grad_out=None):
    """nn.MultiheadAttention(E, H, batch_first=True) holding the parameters in `args` (the keyword
    arguments of multi_head_attention). Returns the output, and with `grad_out` also the gradients
    of every tensor argument, by name."""
    query, key, value = (args[n] for n in MHA_INPUTS)
    batch, n_query, embed = tuple(query.shape)
    heads = args["num_heads"]
    has_bias = args["in_proj_bias"] is not None
    module = _MHA(embed, heads, batch_first=True, bias=has_bias, dtype=query.dtype)
    with torch.no_grad():
        module.in_proj_weight.copy_(args["in_proj_weight"])
        module.out_proj.weight.copy_(args["out_proj_weight"])
        if has_bias:
            module.in_proj_bias.copy_(args["in_proj_bias"])
            module.out_proj.bias.copy_(args["out_proj_bias"])
    leaves = {n: args[n].detach().clone().requires_grad_(grad_out is not None) for n in MHA_INPUTS}
    attn_mask = mha_attn_mask(args.get("mask"), args.get("is_causal", False), batch, heads, n_query, key.shape[1])
    out, _ = module(leaves["query"], leaves["key"], leaves["value"], attn_mask=attn_mask, need_weights=False)
    if grad_out is None:
        return out.detach()
    _backward(out, grad_out)
    grads = {n: leaves[n].grad for n in MHA_INPUTS}
    grads["in_proj_weight"] = module.in_proj_weight.grad
    grads["out_proj_weight"] = module.out_proj.weight.grad
    if has_bias:
        grads["in_proj_bias"] = module.in_proj_bias.grad
        grads["out_proj_bias"] = module.out_proj.bias.grad
    return out.detach(), grads


# ---------------------------------------------------------------------------------------------------
# Known mistakes, reproduced


def predict_softmax(x, dim, mistake):
    """softmax(x, dim) as a learner with `mistake` computes it (None: correctly), in x's dtype."""
    x = x.detach()
    if mistake == "no-max-shift":
        e = torch.exp(x)
        return e / torch.sum(e, dim, keepdim=True)
    return _softmax(x.double(), dim)


def softmax_near(x, dim):
    """(Mistake, predicted output) pairs for softmax(x, dim); lazy, used only on failure."""

    def pairs():
        out = [(MISTAKE["no-max-shift"], predict_softmax(x, dim, "no-max-shift"))]
        out += [
            (MISTAKE["softmax-wrong-dim"], _softmax(x.detach().double(), d))
            for d in range(-x.dim(), 0)
            if d != dim and d != dim - x.dim()
        ]
        return out

    return pairs


SDPA_MISTAKES = [
    "no-scale",
    "scale-by-e",
    "scale-ignored",
    "mask-after-softmax",
    "masked-scores-zero",
    "mask-inverted",
    "softmax-wrong-dim",
    "no-max-shift",
    "masked-row-nan",
    "causal-excludes-diagonal",
    "mask-discarded",
]


def predict_sdpa(q, k, v, mask=None, is_causal=False, scale=None, mistake=None):
    """scaled_dot_product_attention with `mistake` (None: the textbook computation), in float64
    (in the input dtype for no-max-shift, whose effect is an overflow of that dtype)."""
    work = q.dtype if mistake == "no-max-shift" else torch.float64
    q, k, v = (t.detach().to(work) for t in (q, k, v))
    size = q.shape[-1]
    if mistake == "scale-ignored":
        scale = None
    if scale is None:
        scale = {"no-scale": 1.0, "scale-by-e": 1.0 / size}.get(mistake, 1.0 / math.sqrt(size))
    s = (q @ k.transpose(-2, -1)) * scale
    allowed, added = None, None
    if is_causal:
        diagonal = -1 if mistake == "causal-excludes-diagonal" else 0
        allowed = torch.ones(s.shape[-2], s.shape[-1], dtype=torch.bool).tril(diagonal)
    elif mask is not None and mask.dtype is torch.bool:
        allowed = mask
    elif mask is not None:
        added = mask.to(work)
    if mistake == "mask-discarded":
        allowed, added = None, None
    if allowed is not None and mistake == "mask-inverted":
        allowed = ~allowed
    if added is not None:
        s = s + added
    if allowed is not None and mistake != "mask-after-softmax":
        s = s.masked_fill(~allowed, 0.0 if mistake == "masked-scores-zero" else float("-inf"))
    if mistake == "no-max-shift":  # (empty rows handled: that is the mistake masked-row-nan)
        empty = torch.isneginf(s).all(dim=-1, keepdim=True)
        e = torch.exp(s.masked_fill(empty, 0.0))
        w = (e / e.sum(dim=-1, keepdim=True)).masked_fill(empty, 0.0)
    elif mistake == "masked-row-nan":
        w = _softmax(s, -1)  # NaN on a row of -inf
    else:
        empty = torch.isneginf(s).all(dim=-1, keepdim=True)
        dim = -2 if mistake == "softmax-wrong-dim" else -1
        w = _softmax(s.masked_fill(empty, 0.0), dim).masked_fill(empty, 0.0)
    if mistake == "mask-after-softmax" and allowed is not None:
        w = w.masked_fill(~allowed, 0.0)
    return w @ v


def sdpa_near(q, k, v, mask=None, is_causal=False, scale=None, mistakes=SDPA_MISTAKES):
    def pairs():
        return [(MISTAKE[m], predict_sdpa(q, k, v, mask, is_causal, scale, mistake=m)) for m in mistakes]

    return pairs


MHA_MISTAKES = [
    ("heads-split-without-transpose", "split"),
    ("heads-split-without-transpose", "both"),
    ("heads-split-without-transpose", "join"),
    ("no-output-projection", None),
    ("output-projection-transposed", None),
] + [(m, None) for m in SDPA_MISTAKES]


def predict_mha(args: dict, mistake=None, variant=None):
    """multi_head_attention with `mistake` in float64. For heads-split-without-transpose,
    `variant` says where the transpose is missing: "split", "join" or "both"."""
    query, key, value = (args[n].detach().double() for n in MHA_INPUTS)
    heads = args["num_heads"]
    batch, n_query, embed = tuple(query.shape)
    n_key = key.shape[1]
    size = embed // heads
    w_in = args["in_proj_weight"].detach().double()
    b_in = args["in_proj_bias"]
    b_in = torch.zeros(3 * embed, dtype=torch.float64) if b_in is None else b_in.detach().double()
    w_out = args["out_proj_weight"].detach().double()
    b_out = args["out_proj_bias"]
    b_out = torch.zeros(embed, dtype=torch.float64) if b_out is None else b_out.detach().double()
    missing = mistake == "heads-split-without-transpose"

    def split(x, length):
        if missing and variant in ("split", "both"):
            return x.reshape(batch, heads, length, size)
        return x.reshape(batch, length, heads, size).transpose(1, 2)

    q = split(query @ w_in[:embed].T + b_in[:embed], n_query)
    k = split(key @ w_in[embed : 2 * embed].T + b_in[embed : 2 * embed], n_key)
    v = split(value @ w_in[2 * embed :].T + b_in[2 * embed :], n_key)
    sdpa_mistake = mistake if mistake in SDPA_MISTAKES else None
    heads_out = predict_sdpa(
        q, k, v, args.get("mask"), args.get("is_causal", False), None, mistake=sdpa_mistake
    ).double()
    if missing and variant in ("join", "both"):
        joined = heads_out.reshape(batch, n_query, embed)
    else:
        joined = heads_out.transpose(1, 2).reshape(batch, n_query, embed)
    if mistake == "no-output-projection":
        return joined
    weight = w_out if mistake == "output-projection-transposed" else w_out.T
    return joined @ weight + b_out


def mha_near(args: dict):
    def pairs():
        return [(MISTAKE[m], predict_mha(args, m, variant)) for m, variant in MHA_MISTAKES]

    return pairs


def gradient_cut_near(expected_grad):
    """A gradient of zeros: what a learner whose output is detached from its inputs gets."""
    return [(MISTAKE["gradient-cut"], torch.zeros_like(expected_grad))]


# ---------------------------------------------------------------------------------------------------
# Reproducible inputs


def randn(*shape, seed: int, dtype=torch.float64, scale: float = 1.0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def random_mask(*shape, seed: int, p_allowed: float = 0.6, empty_row: int | None = None):
    """A boolean mask (True = may attend) with every row allowing at least one key, except row
    `empty_row` of the last two dimensions, which allows none."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(*shape, generator=gen) < p_allowed
    first = torch.zeros(shape[-1], dtype=torch.bool)
    first[int(torch.randint(shape[-1], (1,), generator=gen))] = True
    mask = mask | first  # one allowed key in every row
    if empty_row is not None:
        mask[..., empty_row, :] = False
    return mask


def mha_args(
    batch,
    n_query,
    n_key,
    embed,
    heads,
    seed,
    dtype=torch.float64,
    bias=True,
    self_attention=False,
    mask=None,
    is_causal=False,
) -> dict:
    """Keyword arguments of multi_head_attention: inputs of order 1 and parameters of the size
    nn.MultiheadAttention initialises them to (about 1 / sqrt(E)), biases included."""
    query = randn(batch, n_query, embed, seed=seed, dtype=dtype)
    key = query if self_attention else randn(batch, n_key, embed, seed=seed + 1, dtype=dtype)
    value = query if self_attention else randn(batch, n_key, embed, seed=seed + 2, dtype=dtype)
    w = 1 / math.sqrt(embed)
    return dict(
        query=query,
        key=key,
        value=value,
        num_heads=heads,
        in_proj_weight=randn(3 * embed, embed, seed=seed + 3, dtype=dtype, scale=w),
        in_proj_bias=randn(3 * embed, seed=seed + 4, dtype=dtype, scale=0.5) if bias else None,
        out_proj_weight=randn(embed, embed, seed=seed + 5, dtype=dtype, scale=w),
        out_proj_bias=randn(embed, seed=seed + 6, dtype=dtype, scale=0.5) if bias else None,
        mask=mask,
        is_causal=is_causal,
    )


def describe_mha(args: dict) -> str:
    q, k = args["query"], args["key"]
    bias = "" if args["in_proj_bias"] is not None else ", no biases"
    self_attn = ", self-attention (query = key = value)" if (args["key"] is q and args["value"] is q) else ""
    return (
        f"{str(q.dtype).replace('torch.', '')}, query {shape(q)}, key/value {shape(k)}, "
        f"num_heads={args['num_heads']}{bias}{self_attn}, "
        f"{describe_mask(args.get('mask'), args.get('is_causal', False))}"
    )
