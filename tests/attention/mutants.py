"""Mutants of solutions/attention.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

DEFAULT_SCALE = "scale = 1.0 / math.sqrt(q.shape[-1])"
BOOL_MASK = 'scores = scores.masked_fill(~mask, float("-inf"))'
SAFE_SOFTMAX = "weights = softmax(scores.masked_fill(empty, 0.0), dim=-1).masked_fill(empty, 0.0)"
SPLIT = "return x.reshape(batch, length, num_heads, head_dim).transpose(1, 2)"
UNSPLIT = "return x.reshape(batch, num_heads, length, head_dim)"
JOIN = "joined = heads.transpose(1, 2).reshape(batch, n_query, embed)"
OUT_PROJ = "return project(joined, out_proj_weight, out_proj_bias)"
GROW = "keys = torch.cat([cache[0], k], dim=-2)\n        values = torch.cat([cache[1], v], dim=-2)"

MUTANTS = [
    Mutant("no-scale", {DEFAULT_SCALE: "scale = 1.0"}),
    Mutant("scale-by-e", {DEFAULT_SCALE: "scale = 1.0 / q.shape[-1]"}),
    Mutant("scale-ignored", {"    if scale is None:\n        scale": "    if True:\n        scale"}),
    Mutant(
        "mask-after-softmax",
        {
            BOOL_MASK: "pass",
            "    return weights @ v\n": "    if mask is not None and mask.dtype == torch.bool:\n"
            "        weights = weights.masked_fill(~mask, 0.0)\n"
            "    return weights @ v\n",
        },
    ),
    Mutant("masked-scores-zero", {BOOL_MASK: "scores = scores.masked_fill(~mask, 0.0)"}),
    Mutant("mask-inverted", {BOOL_MASK: 'scores = scores.masked_fill(mask, float("-inf"))'}),
    Mutant("softmax-wrong-dim", {SAFE_SOFTMAX: SAFE_SOFTMAX.replace("dim=-1", "dim=-2")}),
    Mutant(
        "softmax-wrong-dim",
        id="softmax-ignores-dim",
        patch={
            "x.amax(dim=dim, keepdim=True)": "x.amax(dim=-1, keepdim=True)",
            "e.sum(dim=dim, keepdim=True)": "e.sum(dim=-1, keepdim=True)",
        },
    ),
    Mutant("no-max-shift", {"shifted = x - x.amax(dim=dim, keepdim=True).detach()": "shifted = x"}),
    Mutant("masked-row-nan", {SAFE_SOFTMAX: "weights = softmax(scores, dim=-1)"}),
    Mutant("causal-excludes-diagonal", {".tril()": ".tril(-1)"}),
    Mutant("mask-discarded", {BOOL_MASK: 'scores.masked_fill(~mask, float("-inf"))'}),
    Mutant(
        "mask-discarded",
        id="causal-mask-discarded",
        patch={"        mask = torch.ones(n_queries": "        causal = torch.ones(n_queries"},
    ),
    Mutant(
        "mask-discarded",
        id="float-mask-discarded",
        patch={"        scores = scores + mask\n": "        scores + mask\n"},
    ),
    Mutant("heads-split-without-transpose", {SPLIT: UNSPLIT}),
    Mutant(
        "heads-split-without-transpose",
        id="heads-split-and-join-without-transpose",
        patch={SPLIT: UNSPLIT, JOIN: "joined = heads.reshape(batch, n_query, embed)"},
    ),
    Mutant("no-output-projection", {OUT_PROJ: "return joined"}),
    Mutant("output-projection-transposed", {OUT_PROJ: OUT_PROJ.replace("out_proj_weight,", "out_proj_weight.T,")}),
    Mutant("cache-not-grown", {GROW: "keys, values = k, v"}),
    Mutant(
        "cache-not-grown",
        id="cache-attends-newest-only",
        patch={"out = scaled_dot_product_attention(q, keys, values)": "out = scaled_dot_product_attention(q, k, v)"},
    ),
    Mutant("gradient-cut", {"    return weights @ v\n": "    return (weights @ v).detach()\n"}),
]

SOFTMAX_BODY = (
    "    shifted = x - x.amax(dim=dim, keepdim=True).detach()\n"
    "    e = torch.exp(shifted)\n"
    "    return e / e.sum(dim=dim, keepdim=True)\n"
)
SCORES = "    scores = (q @ k.transpose(-2, -1)) * scale"
RETURN = "    return weights @ v\n"

ALTERNATIVES = [
    Alternative(
        "logsumexp-softmax",
        "softmax as exp(x - logsumexp(x)) instead of the max shift",
        {SOFTMAX_BODY: "    return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))\n"},
    ),
    Alternative(
        "float64-inside",
        "computes softmax and attention in float64 and rounds the result to the input dtype once",
        {
            SOFTMAX_BODY: "    dtype, x = x.dtype, x.double()\n"
            + SOFTMAX_BODY.replace(
                "return e / e.sum(dim=dim, keepdim=True)", "return (e / e.sum(dim=dim, keepdim=True)).to(dtype)"
            ),
            SCORES: "    dtype, q, k, v = q.dtype, q.double(), k.double(), v.double()\n"
            "    if mask is not None and mask.dtype != torch.bool:\n"
            "        mask = mask.double()\n" + SCORES,
            RETURN: "    return (weights @ v).to(dtype)\n",
        },
    ),
    Alternative(
        "finite-fill-and-explicit-empty-rows",
        "fills masked scores with the most negative finite number, then zeroes the rows that allow "
        "no key using the boolean pattern of the mask (no -inf detection)",
        {
            BOOL_MASK: "scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)",
            "    empty = torch.isneginf(scores).all(dim=-1, keepdim=True)\n": (
                "    allowed = torch.ones_like(scores, dtype=torch.bool)\n"
                "    if mask is not None and mask.dtype == torch.bool:\n"
                "        allowed = allowed & mask\n"
                "    elif mask is not None:\n"
                "        allowed = allowed & ~torch.isneginf(mask)\n"
                "    empty = ~allowed.any(dim=-1, keepdim=True)\n"
            ),
        },
    ),
    Alternative(
        "nan-to-zero",
        "lets the softmax of an empty row give NaN and replaces NaN by 0 with torch.where",
        {
            SAFE_SOFTMAX: "weights = softmax(scores, dim=-1)\n"
            "    weights = torch.where(empty, torch.zeros_like(weights), weights)"
        },
    ),
    Alternative(
        "einsum-and-loops-over-heads",
        "einsum for the products, a Python loop over the heads in multi_head_attention, the "
        "heads joined with torch.cat, F.linear for the projections",
        {
            SCORES: "    scores = torch.einsum('...qe,...ke->...qk', q, k) * scale",
            RETURN: "    return torch.einsum('...qk,...kv->...qv', weights, v)\n",
            "    heads = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal)\n"
            "    joined = heads.transpose(1, 2).reshape(batch, n_query, embed)\n"
            "    return project(joined, out_proj_weight, out_proj_bias)\n": (
                "    outs = []\n"
                "    for h in range(num_heads):\n"
                "        head_mask = mask\n"
                "        if mask is not None and mask.dim() == 4:\n"
                "            head_mask = mask[:, h if mask.shape[1] > 1 else 0]\n"
                "        outs.append(scaled_dot_product_attention(q[:, h], k[:, h], v[:, h], mask=head_mask,\n"
                "                                                 is_causal=is_causal))\n"
                "    joined = torch.cat(outs, dim=-1)\n"
                "    import torch.nn.functional as F\n"
                "    return F.linear(joined, out_proj_weight, out_proj_bias)\n"
            ),
        },
    ),
    Alternative(
        "scale-queries-first",
        "multiplies q by the scale before the product, and the decoding step concatenates with torch.concat",
        {
            SCORES: "    scores = (q * scale) @ k.transpose(-2, -1)",
            GROW: "keys = torch.concat((cache[0], k), -2)\n        values = torch.concat((cache[1], v), -2)",
        },
    ),
]

TRIVIAL = [
    Trivial(
        "uniform",
        "softmax gives every entry the same weight, attention averages v, multi-head attention "
        "returns the query, decoding returns v with the cache of the newest position only",
        (
            "return torch.ones_like(x) / x.shape[dim]",
            "return v.mean(dim=-2, keepdim=True).expand(*q.shape[:-1], v.shape[-1]).clone()",
            "return query.clone()",
            "return v.clone(), (k, v)",
        ),
    ),
    Trivial(
        "zeros",
        "every function returns zeros of the right shape",
        (
            "return torch.zeros_like(x)",
            "return torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype)",
            "return torch.zeros_like(query)",
            "return torch.zeros_like(v), (k, v)",
        ),
    ),
]


# Mistakes that give exactly the same output on some inputs, where naming both is true (make check
# fails a mutant whose failures name any other mistake than its own).
COINCIDENCES = {
    frozenset({"masked-scores-zero", "mask-discarded"}): "the masked pairs' scores are 0 already "
    "(test_attention_by_hand: k0 = 0 and q0 . k2 = 0), so filling them with 0 changes nothing",
    frozenset({"mask-inverted", "causal-excludes-diagonal"}): "one position with is_causal=True: "
    "inverting the causal mask and leaving out the diagonal both leave the query no key (zeros)",
}
