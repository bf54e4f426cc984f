"""Attention, public tests: hand-worked cases, then PyTorch's softmax, F.scaled_dot_product_attention
and nn.MultiheadAttention (outputs and gradients), and decoding with a cache against causal attention.

Run with `make test topic=attention`. Learner code is reached only through the `impl` fixture. Each
test shows its inputs and its oracle: torch.softmax, F.scaled_dot_product_attention (whose masks
follow this kata's conventions), nn.MultiheadAttention running on the test's parameters, and PyTorch
autograd through them. The helpers below them build the inputs and compare every output.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from grader.checks import check_tuple, fail
from grader.gradients import call_with_grads
from grader.kit import (
    EXACT,
    F32,
    F64,
    Tol,
    backward,
    call_checking_inputs,
    cases,
    check_output,
    check_outputs,
    describe,
    dtype_name,
    randn,
    shape_name,
)
from tests.attention.key import mha_mistakes, sdpa_mistakes, softmax_mistakes
from tests.attention.mistakes import MISTAKE

LN2, LN3, LN5 = math.log(2), math.log(3), math.log(5)

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons. `python -m grader margins attention` measures how much of them the
# reference and the alternatives of mutants.py use (the most: 37%, logsumexp on scores near -5000).
TOL64 = Tol(
    1e-9,
    1e-11,
    "float64: a short chain of dot products (length E, Lk) and one softmax; rounding differs from "
    "PyTorch by about 1e-15 relative on values of order 1",
)
TOL32 = Tol(
    1e-5,
    1e-5,
    "float32: scores of order 1-10 carry rounding errors near 1e-6, which move the weights as much; "
    "a correct implementation may sum in another order, compute in float64 or use logsumexp; "
    "outputs (averages of v) and MHA outputs (two more projections of width E <= 16) stay within 1e-5",
)
GRAD_TOL32 = Tol(
    5e-5,
    5e-5,
    "float32 gradients: also summed over the other positions (<= 8 terms) and through the softmax's backward",
)


def tol(dtype: torch.dtype, grad: bool = False) -> Tol:
    """The tolerance of an output (grad=False) or of a gradient in `dtype` (float64: the same)."""
    return TOL64 if dtype == F64 else GRAD_TOL32 if grad else TOL32


def large_tol(dtype: torch.dtype, magnitude: float) -> Tol:
    """Softmax inputs (or scores) of size `magnitude`: a correct softmax may subtract logsumexp(x)
    instead of max(x), and logsumexp is rounded at the size of x (half a unit in the last place of
    `magnitude`), which multiplies every output by exp(that error)."""
    unit = 2.0**-24 if dtype == F32 else 2.0**-53
    return tol(dtype).plus(rtol=2 * magnitude * unit, why=f"plus 2 ulp of {magnitude:g}, relative (large inputs)")


# ---------------------------------------------------------------------------------------------------
# The oracles: PyTorch


def torch_sdpa(q, k, v, mask=None, is_causal=False, scale=None):
    """F.scaled_dot_product_attention: True in a boolean mask = may attend, a float mask is added."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale)


def torch_sdpa64(q, k, v):
    """F.scaled_dot_product_attention computed in float64, rounded to q's dtype."""
    return torch_sdpa(q.double(), k.double(), v.double()).to(q.dtype)


MHA_TENSORS = ("query", "key", "value", "in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias")


def torch_mha(
    query,
    key,
    value,
    num_heads,
    in_proj_weight,
    in_proj_bias,
    out_proj_weight,
    out_proj_bias,
    mask=None,
    is_causal=False,
):
    """nn.MultiheadAttention(E, num_heads, batch_first=True) run on these parameters (through
    torch.func.functional_call, so that autograd reaches them), need_weights=False. Its attn_mask
    is True where a query may NOT attend, shaped (L, S) or (B * H, L, S): our mask is turned into it."""
    b, lq, e = query.shape
    module = nn.MultiheadAttention(e, num_heads, batch_first=True, bias=in_proj_bias is not None, dtype=query.dtype)
    params = {"in_proj_weight": in_proj_weight, "out_proj.weight": out_proj_weight}
    if in_proj_bias is not None:
        params.update({"in_proj_bias": in_proj_bias, "out_proj.bias": out_proj_bias})
    if is_causal:
        mask = torch.ones(lq, key.shape[1], dtype=torch.bool).tril()
    if mask is not None:
        mask = ~mask if mask.dtype == torch.bool else mask  # nn.MultiheadAttention: True = may NOT attend
        if mask.dim() == 4:
            mask = mask.expand(b, num_heads, -1, -1).reshape(b * num_heads, lq, -1)
    return functional_call(module, params, (query, key, value), dict(attn_mask=mask, need_weights=False))[0]


# ---------------------------------------------------------------------------------------------------
# Inputs


def random_mask(shape, seed: int, empty_row: int | None = None) -> torch.Tensor:
    """A boolean mask (True = may attend), 60% True, with one key allowed in every row, except row
    `empty_row` (of the last two dimensions), which allows none."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(*shape, generator=gen) < 0.6
    first = torch.zeros(shape[-1], dtype=torch.bool)
    first[int(torch.randint(shape[-1], (1,), generator=gen))] = True
    mask = mask | first
    if empty_row is not None:
        mask[..., empty_row, :] = False
    return mask


def make_case(spec: dict, seed: int):
    """(q, k, v, options) for an attention case: spec gives the shapes "q", "k", "v", and optionally
    "dtype" (float64), "is_causal", "scale", "mask" ("bool" or "float", 40% of the pairs left out
    (-inf)) of "mask_shape" (default (Lq, Lk) for boolean, (B, 1, Lq, Lk) for float masks), and
    "empty_row", a query row that allows no key."""
    dtype = spec.get("dtype", F64)
    q, k, v = (randn(spec[name], seed + i, dtype) for i, name in enumerate("qkv"))
    lq, lk = spec["q"][-2], spec["k"][-2]
    options = {name: spec[name] for name in ("is_causal", "scale") if name in spec}
    if spec.get("mask") == "bool":
        options["mask"] = random_mask(spec.get("mask_shape", (lq, lk)), seed + 3, spec.get("empty_row"))
    elif spec.get("mask") == "float":
        shape = spec.get("mask_shape", (spec["q"][0], 1, lq, lk))
        mask = randn(shape, seed + 3, dtype).masked_fill(~random_mask(shape, seed + 4), -math.inf)
        if spec.get("empty_row") is not None:
            mask[..., spec["empty_row"], :] = -math.inf
        options["mask"] = mask
    return q, k, v, options


def make_mha(spec: dict, seed: int) -> dict:
    """The keyword arguments of multi_head_attention: spec gives batch, n_query, n_key, embed, heads,
    and optionally dtype (float64), bias (True), self_attention, is_causal, and mask: ("bool" or
    "float", shape), a boolean one with query row 1 allowing no key. Inputs are of order 1, weights
    of the size nn.MultiheadAttention gives them (1 / sqrt(E)), biases 0.5."""
    s = dict(dtype=F64, bias=True, self_attention=False, is_causal=False, mask=None) | spec
    dtype, embed, batch = s["dtype"], s["embed"], s["batch"]
    query = randn((batch, s["n_query"], embed), seed, dtype)
    key, value = [query if s["self_attention"] else randn((batch, s["n_key"], embed), seed + i, dtype) for i in (1, 2)]
    mask = s["mask"]
    if mask is not None:
        kind, shape = mask
        mask = random_mask(shape, seed + 7, empty_row=1 if kind == "bool" else None)
        if kind == "float":
            mask = randn(shape, seed + 8, dtype).masked_fill(~mask, -math.inf)
    w, bias = 1 / math.sqrt(embed), s["bias"]
    return dict(
        query=query,
        key=key,
        value=value,
        num_heads=s["heads"],
        in_proj_weight=randn((3 * embed, embed), seed + 3, dtype, w),
        in_proj_bias=randn((3 * embed,), seed + 4, dtype, 0.5) if bias else None,
        out_proj_weight=randn((embed, embed), seed + 5, dtype, w),
        out_proj_bias=randn((embed,), seed + 6, dtype, 0.5) if bias else None,
        mask=mask,
        is_causal=s["is_causal"],
    )


def describe_mask(mask, is_causal: bool = False) -> str:
    if is_causal:
        return "is_causal=True"
    if mask is None:
        return "no mask"
    if mask.dtype == torch.bool:
        empty = ", with a query row that allows no key" if bool((~mask).all(dim=-1).any()) else ""
        return f"boolean mask of shape {shape_name(mask.shape)}{empty}"
    empty = ", with a query row of -inf" if bool(torch.isneginf(mask).all(dim=-1).any()) else ""
    return f"float mask of shape {shape_name(mask.shape)}{empty}"


def describe_sdpa(q, k, v, mask=None, is_causal=False, scale=None) -> str:
    shapes = f"q {shape_name(q.shape)}, k {shape_name(k.shape)}, v {shape_name(v.shape)}"
    given = "" if scale is None else f", scale={scale:g}"
    return f"{dtype_name(q.dtype)}, {shapes}, {describe_mask(mask, is_causal)}{given}"


def describe_mha(args: dict) -> str:
    q = args["query"]
    bias = "" if args["in_proj_bias"] is not None else ", no biases"
    self_attention = ", self-attention (query = key = value)" if args["key"] is q and args["value"] is q else ""
    return (
        f"{dtype_name(q.dtype)}, query {shape_name(q.shape)}, key/value {shape_name(args['key'].shape)}, "
        f"num_heads={args['num_heads']}{bias}{self_attention}, {describe_mask(args['mask'], args['is_causal'])}"
    )


# ---------------------------------------------------------------------------------------------------
# Checks


def fail_if_not_finite(actual, expected, what: str, case: str) -> None:
    """Large inputs: NaN or inf where the answer is finite is the mistake no-max-shift."""
    if isinstance(actual, torch.Tensor) and actual.shape == expected.shape:
        bad = int((torch.isfinite(expected) & ~torch.isfinite(actual)).sum())
        if bad:
            fail(
                f"{what}, for {case}: {bad} of {actual.numel()} values are NaN or infinite where finite "
                f"values are expected.\n{MISTAKE['no-max-shift'].sentence()}"
            )


def check_softmax(impl, x, dim, case: str, tolerance: Tol, expected=None, large: bool = False) -> None:
    """softmax(x, dim) against `expected` (default: torch.softmax(x, dim))."""
    near = softmax_mistakes(x, dim)
    expected = torch.softmax(x, dim) if expected is None else expected
    call = f"softmax(x, dim={dim})"
    actual = call_checking_inputs(impl.softmax, dict(x=x, dim=dim), call=call)
    if large:
        fail_if_not_finite(actual, expected, f"the output of {call}", case)
    check_output(actual, expected, name="output", of=call, case=case, tol=tolerance, near=near)


def check_sdpa(impl, q, k, v, case: str, expected=None, tolerance: Tol | None = None, large=False, **options):
    """scaled_dot_product_attention(q, k, v, **options) against `expected` (default: torch_sdpa)."""
    near = sdpa_mistakes(q, k, v, **options)
    oracle = " (F.scaled_dot_product_attention as reference)" if expected is None else ""
    expected = torch_sdpa(q, k, v, **options) if expected is None else expected
    where = f"{case}: {describe_sdpa(q, k, v, **options)}{oracle}"
    call = "scaled_dot_product_attention"
    actual = call_checking_inputs(impl.scaled_dot_product_attention, dict(q=q, k=k, v=v, **options), call=call)
    if large:
        fail_if_not_finite(actual, expected, f"the output of {call}", where)
    check_output(actual, expected, name="output", of=call, case=where, tol=tolerance or tol(q.dtype), near=near)


def with_gradients(near, expected):
    """`near` (mistake, predicted output) pairs made into predictions of (output, gradients...) for
    check_outputs: a mistake of the output is named from the output (its gradients not predicted),
    and gradient-cut from a zero gradient with the right output (a cut inside multi-head attention
    leaves the gradients of the output projection right)."""
    blank = [None] * (len(expected) - 1)

    def pairs():
        cut = [blank[:i] + [torch.zeros_like(g)] + blank[i + 1 :] for i, g in enumerate(expected[1:])]
        return [(m, (p, *blank)) for m, p in near()] + [(MISTAKE["gradient-cut"], (expected[0], *c)) for c in cut]

    return pairs


def check_gradients(impl, fn: str, args: dict, wrt, oracle, grad_out, near, case: str) -> None:
    """impl.<fn>(**args) and the gradients of sum(output * grad_out) with respect to the arguments
    named in `wrt` (autograd through your function) against oracle(**args) and autograd through it."""
    out, grads = backward(lambda *ts: oracle(**(args | dict(zip(wrt, ts)))), [args[n] for n in wrt], grad_out)
    expected = (out, *grads)
    actual, got = call_with_grads(impl, fn, dict(args), wrt=tuple(wrt), grad_out=grad_out)
    check_outputs(
        (actual, *(got.get(n) for n in wrt)),
        expected,
        names=("output", *(f"gradient of sum(output * grad_out) w.r.t. {n}" for n in wrt)),
        of=fn,
        case=f"{case} (PyTorch autograd as reference)",
        tol=[tol(out.dtype), *[tol(out.dtype, grad=True)] * len(wrt)],
        near=with_gradients(near, expected),
    )


def check_sdpa_gradients(impl, q, k, v, seed: int, case: str, **options) -> None:
    grad_out = randn((*q.shape[:-1], v.shape[-1]), seed, q.dtype)
    near = sdpa_mistakes(q, k, v, **options)
    args = dict(q=q, k=k, v=v, **options)
    where = f"{case}: {describe_sdpa(q, k, v, **options)}, through F.scaled_dot_product_attention"
    check_gradients(impl, "scaled_dot_product_attention", args, "qkv", torch_sdpa, grad_out, near, where)


def check_mha(impl, args: dict, case: str) -> None:
    """multi_head_attention(**args) against nn.MultiheadAttention holding the same parameters."""
    near, q = mha_mistakes(args), args["query"]
    expected = torch_mha(**args)
    actual = call_checking_inputs(impl.multi_head_attention, args, call="multi_head_attention")
    where = f"{case}: {describe_mha(args)} (nn.MultiheadAttention with the same parameters as reference)"
    check_output(actual, expected, name="output", of="multi_head_attention", case=where, tol=tol(q.dtype), near=near)


def check_mha_gradients(impl, args: dict, seed: int, case: str) -> None:
    """The output and the gradients of every tensor argument equal nn.MultiheadAttention's."""
    grad_out = randn(args["query"].shape, seed, args["query"].dtype)
    near = mha_mistakes(args)
    wrt = [n for n in MHA_TENSORS if args[n] is not None]
    where = f"{case}: {describe_mha(args)}, through nn.MultiheadAttention"
    check_gradients(impl, "multi_head_attention", args, wrt, torch_mha, grad_out, near, where)


def decode_mistakes(q, k, v, t: int):
    """(mistake, predicted (output, cache K, cache V)) for decoding position t, given the right keys
    and values of positions 0..t: attention's mistakes (the output only), and cache-not-grown:
    attending to position t alone (the output is its value), or returning a cache of it alone."""
    now, upto = slice(t, t + 1), slice(0, t + 1)
    attention = sdpa_mistakes(q[..., now, :], k[..., upto, :], v[..., upto, :])
    alone = MISTAKE["cache-not-grown"]
    newest = [(alone, (v[..., now, :], None, None)), (alone, (None, k[..., now, :], v[..., now, :]))]
    return lambda: [(m, (p, None, None)) for m, p in attention()] + newest


def check_decode(impl, q, k, v, prefix: int = 0, case: str = "") -> None:
    """attention_decode_step over positions prefix..T-1, one at a time, each step given the cache the
    previous one returned, equals causal F.scaled_dot_product_attention(q, k, v) at every position,
    and the cache after position t holds exactly the keys and values of positions 0..t.

    q, k: (..., T, D); v: (..., T, Dv). With prefix > 0, the first call gets the cache of positions
    0..prefix-1 (as after a prompt was processed at once).
    """
    length, steps = q.shape[-2], range(prefix, q.shape[-2])
    expected = torch_sdpa(q, k, v, is_causal=True)
    nears = [decode_mistakes(q, k, v, t) for t in steps]  # for every step before any is checked
    start = f", starting from a cache of {prefix} positions" if prefix else ", starting with cache=None"
    where = f"{case}: {dtype_name(q.dtype)}, q and k {shape_name(q.shape)}, v {shape_name(v.shape)}{start}"
    cache = None if prefix == 0 else (k[..., :prefix, :].clone(), v[..., :prefix, :].clone())
    for t, near in zip(steps, nears):
        now, upto = slice(t, t + 1), slice(0, t + 1)
        args = dict(q=q[..., now, :], k=k[..., now, :], v=v[..., now, :], cache=cache)
        call = "attention_decode_step(q, k, v, cache)"
        out, cache = check_tuple(call_checking_inputs(impl.attention_decode_step, args, call=call), 2, name=call)
        cache = check_tuple(cache, 2, name=f"the cache returned by {call}")
        check_outputs(
            (out, *cache),
            (expected[..., now, :], k[..., upto, :], v[..., upto, :]),
            names=("output", "cache K", "cache V"),
            of="attention_decode_step",
            case=f"{where}, decoding position {t} (step {t - prefix + 1} of {length - prefix}; causal "
            "F.scaled_dot_product_attention over the whole sequence as reference, the cache exact)",
            tol=[tol(q.dtype), EXACT, EXACT],
            near=near,
        )


# ---------------------------------------------------------------------------------------------------
# softmax


@pytest.mark.points(1)
def test_softmax_by_hand(impl):
    """softmax([0, ln 2, ln 5]) = [1/8, 2/8, 5/8]; a -inf entry gets probability 0."""
    # exp gives [1, 2, 5], which sum to 8. In the second row exp(-inf) = 0 and the two zeros share
    # the probability: [0, 1/2, 1/2]. The third row is the first moved by 1000 (same answer: only
    # differences of the inputs matter, and exp(1000) would overflow without the max shift).
    x = torch.tensor([[0.0, LN2, LN5], [-math.inf, 0.0, 0.0], [1000.0, 1000.0 + LN2, 1000.0 + LN5]], dtype=F64)
    expected = torch.tensor([[1 / 8, 2 / 8, 5 / 8], [0.0, 0.5, 0.5], [1 / 8, 2 / 8, 5 / 8]], dtype=F64)
    check_softmax(impl, x, -1, "three rows by hand, float64", TOL64, expected=expected)


@pytest.mark.parametrize(
    "dtype, shape, dim", cases({"float32-last-dim": (F32, (2, 3, 5), -1), "float64-dim0": (F64, (4, 3), 0)})
)
def test_softmax_against_torch(impl, dtype, shape, dim):
    """softmax(x, dim) equals torch.softmax(x, dim) along the dimension it is given."""
    x = randn(shape, 1, dtype, scale=3.0)
    case = describe(dtype, shape) + ", random inputs of size 3 (torch.softmax as reference)"
    check_softmax(impl, x, dim, case, tol(dtype))


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_softmax_large_inputs(impl, dtype):
    """Inputs near +1e4 and -1e4 give the same finite softmax as torch (no overflow, no 0 / 0)."""
    # Offsets in eighths are exact at 1e4 even in float32, so the float64 answer is the exact one.
    offsets = torch.arange(-12, 12, dtype=F64).reshape(4, 6) / 8
    for sign in (1, -1):
        x = (sign * 1e4 + offsets).to(dtype)
        expected = torch.softmax(x.double(), -1).to(dtype)
        case = describe(dtype, (4, 6)) + f", inputs near {sign * 1e4:g} (torch.softmax in float64 as reference)"
        check_softmax(impl, x, -1, case, large_tol(dtype, 1e4), expected=expected, large=True)


# ---------------------------------------------------------------------------------------------------
# scaled_dot_product_attention


@pytest.mark.points(2)
def test_attention_by_hand(impl):
    """Two queries, three keys, E = 4: no mask, a boolean mask, causal, an empty row, scale=1."""
    # keys k0 = 0, k1 = e1, k2 = e2; values v0 = (4, 0), v1 = (0, 8), v2 = (2, 2).
    # query 0 = (2 ln 3) e1 -> scores (0, ln 3, 0) after the scale 1/sqrt(4) = 1/2;
    # query 1 = 0         -> scores (0, 0, 0).
    # No mask:  q0 weights (1, 3, 1) / 5 -> (4 + 2, 24 + 2) / 5 = (1.2, 5.2); q1 uniform -> (2, 10/3).
    # Mask [[T, T, F], [F, T, T]]: q0 weights (1/4, 3/4, 0) -> (1, 6); q1 (0, 1/2, 1/2) -> (1, 5).
    # Causal (top-left): q0 sees k0 only -> (4, 0); q1 sees k0, k1 equally -> (2, 4).
    # Mask [[T, T, F], [F, F, F]]: q0 -> (1, 6); q1 allows no key -> zeros (PyTorch 2.13).
    # scale=1 given: q0 scores (0, 2 ln 3, 0), weights (1, 9, 1) / 11 -> (6/11, 74/11); q1 as before.
    q = torch.tensor([[2 * LN3, 0, 0, 0], [0, 0, 0, 0]], dtype=F64)
    k = torch.tensor([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]], dtype=F64)
    v = torch.tensor([[4, 0], [0, 8], [2, 2]], dtype=F64)
    t, f = True, False
    by_hand = [
        (dict(), [[1.2, 5.2], [2, 10 / 3]]),
        (dict(mask=torch.tensor([[t, t, f], [f, t, t]])), [[1, 6], [1, 5]]),
        (dict(is_causal=True), [[4, 0], [2, 4]]),
        (dict(mask=torch.tensor([[t, t, f], [f, f, f]])), [[1, 6], [0, 0]]),
        (dict(scale=1.0), [[6 / 11, 74 / 11], [2, 10 / 3]]),
    ]
    for options, expected in by_hand:
        check_sdpa(impl, q, k, v, "by hand", torch.tensor(expected, dtype=F64), TOL64, **options)


SDPA_CASES = {
    "4-D, Lq != Lk, E != Ev": dict(q=(2, 3, 4, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 5)),
    "boolean mask broadcast over batch and heads": dict(
        q=(2, 3, 4, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 5), mask="bool", empty_row=2
    ),
    "float mask (B, 1, Lq, Lk)": dict(q=(2, 3, 4, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 5), mask="float"),
    "causal, Lq < Lk": dict(q=(2, 3, 4, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 5), is_causal=True),
    "unbatched (L, E), float32, causal": dict(q=(5, 8), k=(5, 8), v=(5, 3), is_causal=True, dtype=F32),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(SDPA_CASES))
def test_attention_against_torch(impl, name):
    """scaled_dot_product_attention equals F.scaled_dot_product_attention (shapes, masks, dtypes)."""
    q, k, v, options = make_case(SDPA_CASES[name], seed=10)
    check_sdpa(impl, q, k, v, name, **options)


def test_attention_large_scores(impl):
    """Scores in the thousands give PyTorch's (finite) answer: the softmax inside is stable."""
    # Integer q and k and the scale 1/2 make the scores exact in float32 (up to about 7000); the
    # answer is F.scaled_dot_product_attention in float64, rounded. The values are positive, so
    # the output has no cancellation and the relative tolerance applies.
    gen = torch.Generator().manual_seed(3)
    q = torch.randint(-60, 61, (2, 5, 4), generator=gen).to(F32)
    k = torch.randint(-60, 61, (2, 7, 4), generator=gen).to(F32)
    v = 1 + torch.rand(2, 7, 3, generator=gen)
    magnitude = float((q.double() @ k.double().transpose(-2, -1)).abs().max()) / 2
    case = "integer q and k, F.scaled_dot_product_attention in float64 as reference"
    check_sdpa(impl, q, k, v, case, torch_sdpa64(q, k, v), large_tol(F32, magnitude), large=True)


@pytest.mark.points(2)
def test_attention_gradients(impl):
    """Gradients with respect to q, k and v equal PyTorch's (boolean mask with an empty row)."""
    name = "boolean mask broadcast over batch and heads"
    q, k, v, options = make_case(SDPA_CASES[name], seed=20)
    check_sdpa_gradients(impl, q, k, v, seed=25, case=name, **options)


# ---------------------------------------------------------------------------------------------------
# multi_head_attention

MHA_CASES = {
    "self-attention, causal, 2 heads": dict(
        batch=2, n_query=5, n_key=5, embed=8, heads=2, self_attention=True, is_causal=True
    ),
    "cross-attention, boolean mask (B, 1, L, S) with an empty row, 4 heads": dict(
        batch=2, n_query=4, n_key=6, embed=8, heads=4, mask=("bool", (2, 1, 4, 6))
    ),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(MHA_CASES))
def test_multi_head_attention_against_module(impl, name):
    """multi_head_attention equals nn.MultiheadAttention(E, H, batch_first=True) with its parameters."""
    check_mha(impl, make_mha(MHA_CASES[name], seed=30), case=name)


@pytest.mark.points(2)
def test_multi_head_attention_gradients(impl):
    """Gradients with respect to the inputs and all four parameters equal nn.MultiheadAttention's."""
    name = "cross-attention, boolean mask (B, 1, L, S) with an empty row, 4 heads"
    check_mha_gradients(impl, make_mha(MHA_CASES[name], seed=40), seed=45, case=name)


# ---------------------------------------------------------------------------------------------------
# attention_decode_step


@pytest.mark.points(2)
def test_decoding_equals_causal_attention(impl):
    """Decoding 5 positions one at a time with the cache equals causal attention over all 5."""
    q, k, v = randn((2, 3, 5, 4), 50), randn((2, 3, 5, 4), 51), randn((2, 3, 5, 6), 52)
    check_decode(impl, q, k, v, case="batch 2, 3 heads, D 4, Dv 6")
