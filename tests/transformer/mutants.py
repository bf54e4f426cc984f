"""Mutants of solutions/transformer.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

LN_STATS = "    mean = x.mean(dim=-1, keepdim=True)\n    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)\n    x_hat"
GRAD_X = "grad_x = rstd * (g - g.mean(dim=-1, keepdim=True) - x_hat * (g * x_hat).mean(dim=-1, keepdim=True))"
PE_FILL = "    pe[:, 0::2] = torch.sin(angle)\n    pe[:, 1::2] = torch.cos(angle)\n"
ROPE_BODY = (
    "    even, odd = x[..., 0::2], x[..., 1::2]\n"
    "    out = torch.empty_like(x)\n"
    "    out[..., 0::2] = even * cos - odd * sin\n"
    "    out[..., 1::2] = even * sin + odd * cos\n"
)
ENC_PRE_FF = '        x = x + _feed_forward(norm(x, "norm2"), params, activation)\n'
ENC_POST_FF = '        x = norm(x + _feed_forward(x, params, activation), "norm2")\n'
DEC_PRE_FF = '        x = x + _feed_forward(norm(x, "norm3"), params, activation)\n'
DEC_POST_FF = '        x = norm(x + _feed_forward(x, params, activation), "norm3")\n'
DEC_PRE_CROSS = '_attention(norm(x, "norm2"), memory, params, "multihead_attn."'
DEC_POST_CROSS = '_attention(x, memory, params, "multihead_attn."'
CAUSAL = "    causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()\n"
ENC_NORM = '    memory = layer_norm(memory, params["encoder.norm.weight"], params["encoder.norm.bias"], eps)\n'
DEC_NORM = '    out = layer_norm(out, params["decoder.norm.weight"], params["decoder.norm.bias"], eps)\n'
ATTN_SELF = '        x = x + _attention(h, h, params, "self_attn.", num_heads, '
ENC_IF = '    if norm_first:\n        h = norm(x, "norm1")\n' + ATTN_SELF + "mask)\n"
DEC_IF = '    if norm_first:\n        h = norm(x, "norm1")\n' + ATTN_SELF + "causal)\n"
MEAN_SQUARE = "    mean_square = (x * x).mean(dim=-1, keepdim=True)\n"
EXPONENT = "exponent = torch.arange(0, dim, 2, dtype=torch.float64) / dim"
PE_TABLE = (
    "    position = torch.arange(length, dtype=torch.float64)[:, None]  # (length, 1)\n"
    "    exponent = torch.arange(0, dim, 2, dtype=torch.float64) / dim  # 2i / dim, (dim / 2,)\n"
    "    angle = position / base**exponent  # (length, dim / 2)\n"
    "    pe = torch.empty(length, dim, dtype=torch.float64)\n"
)
SDPA = "    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n"

MUTANTS = [
    Mutant(
        "unbiased-variance",
        {LN_STATS: LN_STATS.replace("((x - mean) ** 2).mean(dim=-1, keepdim=True)", "x.var(dim=-1, keepdim=True)")},
    ),
    Mutant(
        "eps-outside-sqrt",
        {"x_hat = (x - mean) / torch.sqrt(var + eps)": "x_hat = (x - mean) / (torch.sqrt(var) + eps)"},
    ),
    Mutant("norm-wrong-dimension", {LN_STATS: LN_STATS.replace("dim=-1", "dim=0")}),
    Mutant("backward-stats-constant", {GRAD_X: "grad_x = g * rstd"}),
    Mutant(
        "rms-subtracts-mean",
        {MEAN_SQUARE: "    x = x - x.mean(dim=-1, keepdim=True)\n" + MEAN_SQUARE},
    ),
    Mutant(
        "positions-in-halves",
        {PE_FILL: "    pe[:, : dim // 2] = torch.sin(angle)\n    pe[:, dim // 2 :] = torch.cos(angle)\n"},
    ),
    Mutant(
        "positions-exponent-i-over-dim",
        {EXPONENT: EXPONENT.replace("arange(0, dim, 2,", "arange(0, dim // 2,")},
    ),
    Mutant(
        "rope-halves",
        {
            ROPE_BODY: ROPE_BODY.replace("x[..., 0::2], x[..., 1::2]", "x[..., : dim // 2], x[..., dim // 2 :]")
            .replace("out[..., 0::2]", "out[..., : dim // 2]")
            .replace("out[..., 1::2]", "out[..., dim // 2 :]")
        },
    ),
    Mutant(
        "rope-wrong-direction",
        {"even * cos - odd * sin": "even * cos + odd * sin", "even * sin + odd * cos": "odd * cos - even * sin"},
    ),
    Mutant("norm-first-swapped", {ENC_IF: ENC_IF.replace("if norm_first:", "if not norm_first:")}),
    Mutant(
        "norm-first-swapped",
        {DEC_IF: DEC_IF.replace("if norm_first:", "if not norm_first:")},
        id="norm-first-swapped-decoder",
    ),
    Mutant(
        "ff-no-residual",
        {
            ENC_PRE_FF: ENC_PRE_FF.replace("x = x + _feed", "x = _feed"),
            ENC_POST_FF: ENC_POST_FF.replace("norm(x + _feed", "norm(_feed"),
        },
    ),
    Mutant(
        "ff-no-residual",
        {
            DEC_PRE_FF: DEC_PRE_FF.replace("x = x + _feed", "x = _feed"),
            DEC_POST_FF: DEC_POST_FF.replace("norm(x + _feed", "norm(_feed"),
        },
        id="ff-no-residual-decoder",
    ),
    Mutant(
        "cross-attention-from-target",
        {
            DEC_PRE_CROSS: DEC_PRE_CROSS.replace("memory,", 'norm(x, "norm2"),'),
            DEC_POST_CROSS: DEC_POST_CROSS.replace("memory,", "x,"),
        },
    ),
    Mutant("decoder-not-causal", {CAUSAL: "    causal = None\n"}),
    Mutant(
        "memory-mask-inverted",
        {CAUSAL: CAUSAL + "    if memory_mask is not None:\n        memory_mask = ~memory_mask\n"},
    ),
    Mutant("final-norm-missing", {ENC_NORM: ""}),
    Mutant("final-norm-missing", {DEC_NORM: ""}, id="final-norm-missing-decoder"),
    Mutant("gelu-tanh", {"F.gelu(hidden)": 'F.gelu(hidden, approximate="tanh")'}),
]

ALTERNATIVES = [
    Alternative(
        "moments-in-float64",
        "layer_norm and its backward take the variance as E[x^2] - E[x]^2 computed in float64, and round "
        "the result to x's dtype once",
        {
            "    x_hat = (x - mean) / torch.sqrt(var + eps)\n    return x_hat * weight + bias\n": (
                "    x64 = x.double()\n"
                "    mean64 = x64.mean(dim=-1, keepdim=True)\n"
                "    var64 = (x64 * x64).mean(dim=-1, keepdim=True) - mean64 * mean64\n"
                "    out = (x64 - mean64) / torch.sqrt(var64 + eps) * weight.double() + bias.double()\n"
                "    return out.to(x.dtype)\n"
            ),
            "    rstd = 1.0 / torch.sqrt(var + eps)\n": "    x64 = x.double()\n"
            "    var = ((x64 * x64).mean(dim=-1, keepdim=True) - x64.mean(dim=-1, keepdim=True) ** 2).to(x.dtype)\n"
            "    rstd = torch.rsqrt(var + eps)\n",
        },
    ),
    Alternative(
        "rope-complex-and-float32-positions",
        "RoPE as complex numbers (view_as_complex times torch.polar), and the sinusoidal table computed "
        "in float32 directly",
        {
            ROPE_BODY + "    return out\n": (
                "    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], dim // 2, 2).contiguous())\n"
                "    turned = z * torch.polar(torch.ones_like(angle), angle)\n"
                "    return torch.view_as_real(turned).reshape(x.shape).to(x.dtype)\n"
            ),
            PE_TABLE: PE_TABLE.replace("torch.float64", "torch.float32"),
        },
    ),
    Alternative(
        "attention-per-head-by-hand",
        "attention computed head by head in a Python loop with an explicit softmax (-inf where the mask "
        "is False), F.linear for the projections, gelu as x * Phi(x) with erf",
        {
            SDPA: (
                "    outs = []\n"
                "    for head in range(num_heads):\n"
                "        scores = q[:, head] @ k[:, head].transpose(-2, -1) / head_dim**0.5\n"
                "        if mask is not None:\n"
                '            scores = scores.masked_fill(~mask, float("-inf"))\n'
                "        outs.append(torch.softmax(scores, dim=-1) @ v[:, head])\n"
                "    out = torch.stack(outs, dim=1)\n"
            ),
            '    hidden = x @ params["linear1.weight"].T + params["linear1.bias"]\n'
            '    hidden = F.gelu(hidden) if activation == "gelu" else torch.relu(hidden)\n': (
                '    hidden = F.linear(x, params["linear1.weight"], params["linear1.bias"])\n'
                '    if activation == "gelu":\n'
                "        hidden = 0.5 * hidden * (1 + torch.erf(hidden / 2**0.5))\n"
                "    else:\n"
                "        hidden = hidden.clamp(min=0)\n"
            ),
        },
    ),
]

TRIVIAL = [
    Trivial(
        "identity",
        "every function returns its (first) input unchanged, the backward pass passes grad_out through, the "
        "positions are zeros",
        (
            "return x.clone()",
            "return grad_out.clone(), torch.zeros_like(weight), torch.zeros_like(weight)",
            "return x.clone()",
            "return torch.zeros(length, dim)",
            "return x.clone()",
            "return query.clone()",
            "return x.clone()",
            "return x.clone()",
            "return x.clone()",
            "return tgt.clone()",
        ),
    ),
    Trivial(
        "zeros",
        "every function returns zeros of the right shape",
        (
            "return torch.zeros_like(x)",
            "return torch.zeros_like(x), torch.zeros_like(weight), torch.zeros_like(weight)",
            "return torch.zeros_like(x)",
            "return torch.zeros(length, dim)",
            "return torch.zeros_like(x)",
            "return torch.zeros_like(query)",
            "return torch.zeros_like(x)",
            "return torch.zeros_like(x)",
            "return torch.zeros_like(x)",
            "return torch.zeros_like(tgt)",
        ),
    ),
]

COINCIDENCES = {}
