"""Call the learner's attention functions (through `impl`) and compare with PyTorch.

Shared by the public and the hidden suite. Every check compares the shape, then the dtype, then the
values, and names the known mistake a wrong output looks like.
"""

from __future__ import annotations

import torch

from grader.checks import check_tensor, check_tuple, fail
from grader.gradients import call_with_grads
from tests.attention.mistakes import MISTAKE
from tests.attention.oracle import (
    MHA_INPUTS,
    MHA_PARAMS,
    describe_mha,
    describe_sdpa,
    gradient_cut_near,
    mha_args,
    mha_near,
    predict_sdpa,
    randn,
    random_mask,
    sdpa_near,
    softmax_near,
    tol,
    torch_mha,
    torch_sdpa,
    torch_sdpa_with_grads,
    torch_softmax_with_grads,
)

_isfinite = torch.isfinite


def _clone(x):
    return x.clone() if isinstance(x, torch.Tensor) else x


def check_softmax(impl, x, dim, case: str, tolerance: dict, expected=None) -> None:
    """impl.softmax(x, dim) equals `expected` (default: torch.softmax(x, dim))."""
    expected = torch.softmax(x, dim) if expected is None else expected
    actual = impl.softmax(x.clone(), dim=dim)
    check_tensor(actual, expected, name=f"softmax(x, dim={dim})", case=case, near=softmax_near(x, dim), **tolerance)


def fail_if_not_finite(actual, expected, *, name: str, case: str, mistake: str) -> None:
    """Large inputs: a NaN or inf where the answer is finite is the named mistake."""
    if (
        isinstance(actual, torch.Tensor)
        and actual.shape == expected.shape
        and bool((_isfinite(expected) & ~_isfinite(actual)).any())
    ):
        bad = int((_isfinite(expected) & ~_isfinite(actual)).sum())
        fail(
            f"{name}, for {case}: {bad} of {actual.numel()} values are NaN or infinite where "
            f"finite values are expected.\n{MISTAKE[mistake].sentence()}"
        )


def sdpa_args(q, k, v, mask=None, is_causal=False, scale=None) -> dict:
    args = dict(q=q, k=k, v=v)
    if mask is not None:
        args["mask"] = mask
    if is_causal:
        args["is_causal"] = True
    if scale is not None:
        args["scale"] = scale
    return args


def check_sdpa(
    impl,
    q,
    k,
    v,
    mask=None,
    is_causal=False,
    scale=None,
    *,
    case: str = "",
    tolerance: dict | None = None,
    expected=None,
    finite_mistake: str | None = None,
) -> None:
    """impl.scaled_dot_product_attention equals F.scaled_dot_product_attention (or `expected`)."""
    expected = torch_sdpa(q, k, v, mask, is_causal, scale) if expected is None else expected
    where = (case + ": " if case else "") + describe_sdpa(q, k, v, mask, is_causal, scale)
    args = {n: _clone(a) for n, a in sdpa_args(q, k, v, mask, is_causal, scale).items()}
    actual = impl.scaled_dot_product_attention(**args)
    name = "the output of scaled_dot_product_attention"
    if finite_mistake:
        fail_if_not_finite(actual, expected, name=name, case=where, mistake=finite_mistake)
    check_tensor(
        actual,
        expected,
        name=name,
        case=where,
        near=sdpa_near(q, k, v, mask, is_causal, scale),
        **(tolerance or tol(q.dtype)),
    )


def check_sdpa_gradients(impl, q, k, v, mask=None, is_causal=False, scale=None, *, seed: int, case: str = "") -> None:
    """Output and gradients with respect to q, k and v equal those of F.scaled_dot_product_attention."""
    grad_out = randn(*q.shape[:-1], v.shape[-1], seed=seed, dtype=q.dtype)
    expected, expected_grads = torch_sdpa_with_grads(q, k, v, grad_out, mask, is_causal, scale)
    where = (case + ": " if case else "") + describe_sdpa(q, k, v, mask, is_causal, scale)
    out, grads = call_with_grads(
        impl,
        "scaled_dot_product_attention",
        sdpa_args(q, k, v, mask, is_causal, scale),
        wrt=("q", "k", "v"),
        grad_out=grad_out,
    )
    check_tensor(
        out,
        expected,
        name="the output of scaled_dot_product_attention",
        case=where,
        near=sdpa_near(q, k, v, mask, is_causal, scale),
        **tol(q.dtype),
    )
    for name in ("q", "k", "v"):
        check_tensor(
            grads.get(name),
            expected_grads[name],
            name=f"the gradient of sum(output * grad_out) with respect to {name}",
            case=where + " (PyTorch autograd through F.scaled_dot_product_attention as reference)",
            near=gradient_cut_near(expected_grads[name]),
            **tol(q.dtype, grad=True),
        )


def check_softmax_gradients(impl, x, dim, *, seed: int, case: str) -> None:
    grad_out = randn(*x.shape, seed=seed, dtype=x.dtype)
    expected, expected_grads = torch_softmax_with_grads(x, dim, grad_out)
    out, grads = call_with_grads(impl, "softmax", {"x": x, "dim": dim}, wrt=("x",), grad_out=grad_out)
    check_tensor(out, expected, name=f"softmax(x, dim={dim})", case=case, near=softmax_near(x, dim), **tol(x.dtype))
    check_tensor(
        grads.get("x"),
        expected_grads["x"],
        name="the gradient of softmax with respect to x",
        case=case + " (PyTorch autograd through torch.softmax as reference)",
        near=gradient_cut_near(expected_grads["x"]),
        **tol(x.dtype, grad=True),
    )


def check_mha(impl, args: dict, case: str = "") -> None:
    """impl.multi_head_attention equals nn.MultiheadAttention holding the same parameters."""
    expected = torch_mha(args)
    where = (case + ": " if case else "") + describe_mha(args)
    actual = impl.multi_head_attention(**{n: _clone(a) for n, a in args.items()})
    check_tensor(
        actual,
        expected,
        name="the output of multi_head_attention",
        case=where + " (nn.MultiheadAttention with the same parameters as reference)",
        near=mha_near(args),
        **tol(args["query"].dtype),
    )


def check_mha_gradients(impl, args: dict, *, seed: int, case: str = "") -> None:
    """Output and the gradients of every tensor argument equal nn.MultiheadAttention's."""
    query = args["query"]
    grad_out = randn(*query.shape, seed=seed, dtype=query.dtype)
    expected, expected_grads = torch_mha(args, grad_out)
    where = (case + ": " if case else "") + describe_mha(args)
    wrt = tuple(n for n in MHA_INPUTS + MHA_PARAMS if args[n] is not None)
    out, grads = call_with_grads(impl, "multi_head_attention", dict(args), wrt=wrt, grad_out=grad_out)
    check_tensor(
        out, expected, name="the output of multi_head_attention", case=where, near=mha_near(args), **tol(query.dtype)
    )
    for name in wrt:
        check_tensor(
            grads.get(name),
            expected_grads[name],
            name=f"the gradient of sum(output * grad_out) with respect to {name}",
            case=where + " (PyTorch autograd through nn.MultiheadAttention as reference)",
            near=gradient_cut_near(expected_grads[name]),
            **tol(query.dtype, grad=True),
        )


def _decode_near(q, keys, values, v_new):
    """Mistakes visible in one decoding step, given the true keys and values so far."""

    def pairs():
        out = [(MISTAKE["cache-not-grown"], v_new.detach())]
        out += [
            (MISTAKE[m], predict_sdpa(q, keys, values, mistake=m)) for m in ("no-scale", "scale-by-e", "no-max-shift")
        ]
        return out

    return pairs


def check_decode(impl, q, k, v, prefix: int = 0, case: str = "") -> None:
    """Decoding positions prefix..T-1 one at a time (feeding back the cache each step returns)
    gives F.scaled_dot_product_attention(q, k, v, is_causal=True) at every position, and the cache
    after step t holds exactly the keys and values of positions 0..t.

    q, k: (..., T, D); v: (..., T, Dv). With prefix > 0, the first call gets the cache of positions
    0..prefix-1 (as after a prompt was processed at once).
    """
    length = q.shape[-2]
    expected = torch_sdpa(q, k, v, is_causal=True)
    what = f"{str(q.dtype).replace('torch.', '')}, q and k {tuple(q.shape)}, v {tuple(v.shape)}" + (
        f", starting from a cache of {prefix} positions" if prefix else ", starting with cache=None"
    )
    where = (case + ": " if case else "") + what
    cache = None if prefix == 0 else (k[..., :prefix, :].clone(), v[..., :prefix, :].clone())
    for t in range(prefix, length):
        step = slice(t, t + 1)
        q_t, k_t, v_t = q[..., step, :], k[..., step, :], v[..., step, :]
        result = check_tuple(
            impl.attention_decode_step(q_t.clone(), k_t.clone(), v_t.clone(), cache), 2, name="attention_decode_step"
        )
        out, cache = result
        at = f"{where}, decoding position {t} (step {t - prefix + 1} of {length - prefix})"
        check_tensor(
            out,
            expected[..., step, :],
            name="the output of attention_decode_step",
            case=at + " (causal F.scaled_dot_product_attention over the whole sequence as reference)",
            near=_decode_near(q_t, k[..., : t + 1, :], v[..., : t + 1, :], v_t),
            **tol(q.dtype),
        )
        cache = check_tuple(cache, 2, name="the cache returned by attention_decode_step")
        for name, full in (("K", k), ("V", v)):
            held = cache[0 if name == "K" else 1]
            if isinstance(held, torch.Tensor) and held.dim() == full.dim() and held.shape[-2] != t + 1 and t > 0:
                fail(
                    f"the cache's {name} after decoding position {t}, for {at}: it holds "
                    f"{held.shape[-2]} positions, expected {t + 1} (every position so far)."
                    + (f"\n{MISTAKE['cache-not-grown'].sentence()}" if held.shape[-2] <= 1 else "")
                )
            # The cache holds copies of the given keys and values: exact (tolerance 0).
            check_tensor(held, full[..., : t + 1, :], name=f"the cache's {name}", case=at, rtol=0.0, atol=0.0)


def check_decode_gradients(impl, q, k, v, prefix: int, *, seed: int, case: str = "") -> None:
    """The gradients of the output of one decoding step (position `prefix`, after a cache of
    positions 0..prefix-1) with respect to that step's q, k and v equal PyTorch autograd's through
    F.scaled_dot_product_attention of the new query over all prefix+1 keys and values."""
    step = slice(prefix, prefix + 1)
    q_t, k_t, v_t = q[..., step, :], k[..., step, :], v[..., step, :]
    keys, values = k[..., : prefix + 1, :], v[..., : prefix + 1, :]
    grad_out = randn(*q_t.shape[:-1], v.shape[-1], seed=seed, dtype=q.dtype)
    expected, full = torch_sdpa_with_grads(q_t, keys, values, grad_out)
    expected_grads = {"q": full["q"], "k": full["k"][..., step, :], "v": full["v"][..., step, :]}
    cache = (k[..., :prefix, :].clone(), v[..., :prefix, :].clone())
    where = (
        (case + ": " if case else "") + f"{str(q.dtype).replace('torch.', '')}, one step after a "
        f"cache of {prefix} positions, q and k {tuple(q_t.shape)}, v {tuple(v_t.shape)}"
    )
    result, grads = call_with_grads(
        impl,
        "attention_decode_step",
        {"q": q_t, "k": k_t, "v": v_t, "cache": cache},
        wrt=("q", "k", "v"),
        grad_out=(grad_out, None),
    )
    out, _ = check_tuple(result, 2, name="attention_decode_step")
    check_tensor(
        out,
        expected,
        name="the output of attention_decode_step",
        case=where,
        near=_decode_near(q_t, keys, values, v_t),
        **tol(q.dtype),
    )
    for name in ("q", "k", "v"):
        check_tensor(
            grads.get(name),
            expected_grads[name],
            name=f"the gradient of sum(output * grad_out) with respect to the new {name}",
            case=where + " (PyTorch autograd through F.scaled_dot_product_attention as reference)",
            near=gradient_cut_near(expected_grads[name]),
            **tol(q.dtype, grad=True),
        )


# ---------------------------------------------------------------------------------------------------
# Inputs from the case tables of the suites

f64 = torch.float64


def make_case(spec: dict, seed: int):
    """(q, k, v, options) for a case of an SDPA case table.

    spec: shapes "q", "k", "v"; optional "dtype" (float64), "mask" ("bool" or "float") with
    "mask_shape" (default (Lq, Lk) for boolean, (B, 1, Lq, Lk) for float masks) and "empty_row"
    (a query row that allows no key), "is_causal", "scale". Inputs come from `seed`.
    """
    dtype = spec.get("dtype", f64)
    q = randn(*spec["q"], seed=seed, dtype=dtype)
    k = randn(*spec["k"], seed=seed + 1, dtype=dtype)
    v = randn(*spec["v"], seed=seed + 2, dtype=dtype)
    lq, lk = spec["q"][-2], spec["k"][-2]
    options = {}
    mask = spec.get("mask")
    if mask == "bool":
        options["mask"] = random_mask(*spec.get("mask_shape", (lq, lk)), seed=seed + 3, empty_row=spec.get("empty_row"))
    elif mask == "float":
        shape = spec.get("mask_shape", (spec["q"][0], 1, lq, lk))
        float_mask = randn(*shape, seed=seed + 3, dtype=dtype)
        float_mask = float_mask.masked_fill(~random_mask(*shape, seed=seed + 4), float("-inf"))
        if spec.get("empty_row") is not None:
            float_mask[..., spec["empty_row"], :] = float("-inf")
        options["mask"] = float_mask
    if spec.get("is_causal"):
        options["is_causal"] = True
    if spec.get("scale") is not None:
        options["scale"] = spec["scale"]
    return q, k, v, options


def make_mha(spec: dict, seed: int) -> dict:
    """Keyword arguments of multi_head_attention for a case of an MHA case table.

    spec: the arguments of `mha_args` (batch, n_query, n_key, embed, heads, dtype, bias,
    self_attention, is_causal), and optionally "mask": ("bool" or "float", shape); a boolean mask
    has query row 1 allowing no key.
    """
    spec = dict(spec)
    mask = spec.pop("mask", None)
    dtype = spec.get("dtype", f64)
    if mask is not None:
        kind, shape = mask
        allowed = random_mask(*shape, seed=seed + 7, empty_row=1 if kind == "bool" else None)
        if kind == "float":
            mask = randn(*shape, seed=seed + 8, dtype=dtype).masked_fill(~allowed, float("-inf"))
        else:
            mask = allowed
    return mha_args(**spec, seed=seed, mask=mask)
