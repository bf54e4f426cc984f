"""Attention's answer key (grader/answers.py): softmax, scaled dot-product and multi-head attention as
the textbook computes them (float64), with a switch that commits each known mistake, so that a wrong
output is named after the mistakes it matches. It is never the oracle of a test (PyTorch is). A class
release ships its results for the public tests, not this file.

Every function returns a thunk (lazy): (Mistake, predicted output) pairs, computed only once a check
has failed, for kit.check_output(near=...). A prediction equal to the right output is left out: it
cannot tell that mistake from a correct answer on this input (a mask mistake without a mask).
"""

import math

import torch

from grader.answers import recorded
from tests.attention.mistakes import MISTAKE

F64 = torch.float64
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
# (mistake, where the transpose is missing for heads-split-without-transpose)
MHA_MISTAKES = [
    ("heads-split-without-transpose", "split"),
    ("heads-split-without-transpose", "both"),
    ("heads-split-without-transpose", "join"),
    ("no-output-projection", None),
    ("output-projection-transposed", None),
] + [(m, None) for m in SDPA_MISTAKES]


def _sdpa(q, k, v, mask=None, is_causal=False, scale=None, mistake=None):
    """Attention with `mistake` (None: none), in float64; in the inputs' dtype for no-max-shift,
    whose effect is an overflow of that dtype."""
    work = q.dtype if mistake == "no-max-shift" else F64
    q, k, v = (t.detach().to(work) for t in (q, k, v))
    if scale is None or mistake == "scale-ignored":
        scale = {"no-scale": 1.0, "scale-by-e": 1.0 / q.shape[-1]}.get(mistake, 1.0 / math.sqrt(q.shape[-1]))
    s = (q @ k.transpose(-2, -1)) * scale
    allowed, added = None, None
    if is_causal:
        diagonal = -1 if mistake == "causal-excludes-diagonal" else 0
        allowed = torch.ones(s.shape[-2], s.shape[-1], dtype=torch.bool).tril(diagonal)
    elif mask is not None and mask.dtype == torch.bool:
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
        s = s.masked_fill(~allowed, 0.0 if mistake == "masked-scores-zero" else -math.inf)
    empty = torch.isneginf(s).all(dim=-1, keepdim=True)
    if mistake == "masked-row-nan":
        w = torch.softmax(s, -1)  # NaN on a row of -inf
    elif mistake == "no-max-shift":
        e = torch.exp(s.masked_fill(empty, 0.0))
        w = (e / e.sum(dim=-1, keepdim=True)).masked_fill(empty, 0.0)
    else:
        dim = -2 if mistake == "softmax-wrong-dim" else -1
        w = torch.softmax(s.masked_fill(empty, 0.0), dim).masked_fill(empty, 0.0)
    if mistake == "mask-after-softmax" and allowed is not None:
        w = w.masked_fill(~allowed, 0.0)
    return w @ v


def _mha(args: dict, mistake=None, variant=None):
    """multi_head_attention(**args) with `mistake` in float64 (`variant`: see MHA_MISTAKES)."""
    query, key, value = (args[n].detach().double() for n in ("query", "key", "value"))
    heads, (batch, n_query, embed) = args["num_heads"], query.shape
    b_in, b_out = args["in_proj_bias"], args["out_proj_bias"]
    b_in = torch.zeros(3 * embed, dtype=F64) if b_in is None else b_in.detach().double()
    b_out = torch.zeros(embed, dtype=F64) if b_out is None else b_out.detach().double()
    w_out = args["out_proj_weight"].detach().double()
    unsplit = mistake == "heads-split-without-transpose"

    def split(x):  # (B, L, E) -> (B, H, L, D)
        if unsplit and variant in ("split", "both"):
            return x.reshape(batch, heads, x.shape[1], embed // heads)
        return x.reshape(batch, x.shape[1], heads, embed // heads).transpose(1, 2)

    w_in = args["in_proj_weight"].detach().double().chunk(3)
    q, k, v = (split(x @ w.T + b) for x, w, b in zip((query, key, value), w_in, b_in.chunk(3)))
    sdpa_mistake = mistake if mistake in SDPA_MISTAKES else None
    out = _sdpa(q, k, v, args.get("mask"), args.get("is_causal", False), mistake=sdpa_mistake).double()
    joined = (out if unsplit and variant in ("join", "both") else out.transpose(1, 2)).reshape(batch, n_query, embed)
    if mistake == "no-output-projection":
        return joined
    return joined @ (w_out if mistake == "output-projection-transposed" else w_out.T) + b_out


def _differing(right, predictions):
    """(Mistake, prediction) for the predictions that differ from the right output."""
    return [(MISTAKE[m], p) for m, p in predictions if not torch.equal(p.double(), right.double())]


@recorded(lazy=True)
def softmax_mistakes(x, dim):
    """softmax(x, dim) without the max shift (in x's dtype) and over every other dimension."""
    e = torch.exp(x.detach())
    wrong_dims = [d for d in range(x.dim()) if d != dim % x.dim()]
    predictions = [("no-max-shift", e / e.sum(dim, keepdim=True))]
    predictions += [("softmax-wrong-dim", torch.softmax(x.detach().double(), d)) for d in wrong_dims]
    return _differing(torch.softmax(x.detach().double(), dim), predictions)


@recorded(lazy=True)
def sdpa_mistakes(q, k, v, mask=None, is_causal=False, scale=None):
    """scaled_dot_product_attention(q, k, v, ...) under each mistake of SDPA_MISTAKES."""
    right = _sdpa(q, k, v, mask, is_causal, scale)
    return _differing(right, [(m, _sdpa(q, k, v, mask, is_causal, scale, m)) for m in SDPA_MISTAKES])


@recorded(lazy=True)
def mha_mistakes(args: dict):
    """multi_head_attention(**args) under each mistake of MHA_MISTAKES."""
    return _differing(_mha(args), [(m, _mha(args, m, variant)) for m, variant in MHA_MISTAKES])
