"""Mutants of solutions/gpt.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

ATTN_PROJ = 'attended @ params[p + "attn.c_proj.weight"]'
C_ATTN = 'norm(x, p + "ln_1") @ params[p + "attn.c_attn.weight"]'
SDPA = "F.scaled_dot_product_attention(q, k, v, attn_mask=mask)"
CAT = "    k = torch.cat([past[i][0], k], dim=2)\n            v = torch.cat([past[i][1], v], dim=2)\n"
BLOCK = (
    '        qkv = norm(x, p + "ln_1") @ params[p + "attn.c_attn.weight"] + params[p + "attn.c_attn.bias"]\n'
    "        q, k, v = (heads(t) for t in qkv.split(embed, dim=-1))\n"
    "        if past is not None:\n"
    "            k = torch.cat([past[i][0], k], dim=2)\n"
    "            v = torch.cat([past[i][1], v], dim=2)\n"
    "        present.append((k, v))\n"
    "        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n"
    "        attended = attended.transpose(1, 2).reshape(batch, length, embed)\n"
    '        x = x + attended @ params[p + "attn.c_proj.weight"] + params[p + "attn.c_proj.bias"]\n'
    '        hidden = norm(x, p + "ln_2") @ params[p + "mlp.c_fc.weight"] + params[p + "mlp.c_fc.bias"]\n'
    '        hidden = F.gelu(hidden, approximate="tanh")\n'
    '        x = x + hidden @ params[p + "mlp.c_proj.weight"] + params[p + "mlp.c_proj.bias"]\n'
)
NORM = 'F.layer_norm(h, (embed,), params[name + ".weight"], params[name + ".bias"], eps)'
TOP_K = (
    "        kth = scores.topk(top_k, dim=-1).values[..., -1:]  # the k-th largest, (B, 1)\n"
    '        scores = scores.masked_fill(scores < kth, float("-inf"))\n'
)
TOP_P = (
    "        sorted_scores, order = scores.sort(dim=-1, descending=True)\n"
    "        sorted_probs = sorted_scores.softmax(dim=-1)\n"
    "        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the tokens ranked before\n"
    "        remove_sorted = before >= top_p\n"
    "        remove_sorted[..., 0] = False\n"
    "        remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)\n"
)
SHIFT = "logits[:, :-1].reshape(-1, vocab), input_ids[:, 1:].reshape(-1)"

MUTANTS = [
    Mutant("conv1d-transposed", {ATTN_PROJ: ATTN_PROJ.replace('weight"]', 'weight"].T')}),
    Mutant(
        "conv1d-transposed",
        {C_ATTN: 'F.linear(norm(x, p + "ln_1"), params[p + "attn.c_attn.weight"])'},
        id="conv1d-transposed-shape-error",
    ),
    Mutant("gelu-exact", {'F.gelu(hidden, approximate="tanh")': "F.gelu(hidden)"}),
    Mutant("no-causal-mask", {SDPA: SDPA.replace("attn_mask=mask", "attn_mask=None")}),
    Mutant("attention-scaled-by-embed", {SDPA: SDPA.replace("attn_mask=mask", "attn_mask=mask, scale=embed**-0.5")}),
    Mutant("positions-restart", {"torch.arange(past_length, past_length + length,": "torch.arange(0, length,"}),
    Mutant("causal-mask-ignores-past", {SDPA: SDPA.replace("attn_mask=mask", "is_causal=True")}),
    Mutant("cache-wrong-dim", {CAT: CAT.replace("dim=2", "dim=1")}),
    Mutant("cache-wrong-dim", {CAT: CAT.replace("dim=2", "dim=3")}, id="cache-wrong-dim-features"),
    Mutant(
        "post-norm",
        {
            BLOCK: BLOCK.replace('norm(x, p + "ln_1") @', "x @")
            .replace(
                '        x = x + attended @ params[p + "attn.c_proj.weight"] + params[p + "attn.c_proj.bias"]\n',
                '        x = norm(x + attended @ params[p + "attn.c_proj.weight"] + params[p + "attn.c_proj.bias"], '
                'p + "ln_1")\n',
            )
            .replace('norm(x, p + "ln_2") @', "x @")
            .replace(
                '        x = x + hidden @ params[p + "mlp.c_proj.weight"] + params[p + "mlp.c_proj.bias"]\n',
                '        x = norm(x + hidden @ params[p + "mlp.c_proj.weight"] + params[p + "mlp.c_proj.bias"], '
                'p + "ln_2")\n',
            )
        },
    ),
    Mutant("ln-f-missing", {'logits = norm(x, "transformer.ln_f") @': "logits = x @"}),
    Mutant("eps-ignored", {NORM: NORM.replace("], eps)", "], 1e-5)")}),
    Mutant("temperature-multiplied", {"scores = logits / temperature": "scores = logits * temperature"}),
    Mutant(
        "top-p-before-temperature",
        {"scores.sort(dim=-1, descending=True)": "(scores * temperature).sort(dim=-1, descending=True)"},
    ),
    Mutant(
        "top-k-ties-by-index",
        {
            TOP_K: "        index = scores.topk(top_k, dim=-1).indices\n"
            "        keep = torch.zeros_like(scores, dtype=torch.bool).scatter(-1, index, True)\n"
            '        scores = scores.masked_fill(~keep, float("-inf"))\n'
        },
    ),
    Mutant(
        "top-p-drops-crossing", {"remove_sorted = before >= top_p": "remove_sorted = before + sorted_probs >= top_p"}
    ),
    Mutant(
        "top-p-ignores-top-k",
        {"scores.sort(dim=-1, descending=True)": "(logits / temperature).sort(dim=-1, descending=True)"},
    ),
    Mutant(
        "not-renormalised",
        {
            "    return scores.softmax(dim=-1)\n": (
                "    return (logits / temperature).softmax(dim=-1) * scores.isfinite()\n"
            )
        },
    ),
    Mutant("lm-loss-no-shift", {SHIFT: "logits.reshape(-1, vocab), input_ids.reshape(-1)"}),
    Mutant("lm-loss-sum", {SHIFT: SHIFT + ', reduction="sum"'}),
]

ALTERNATIVES = [
    Alternative(
        "by-hand-attention-and-norms",
        "attention head by head with an explicit softmax and an additive -inf mask, layer norms and the "
        "tanh GELU written out, Conv1D as F.linear(x, weight.T, bias), positions from the cached keys",
        {
            NORM: "(h - h.mean(-1, keepdim=True)) / torch.sqrt(h.var(-1, keepdim=True, correction=0) + eps)"
            ' * params[name + ".weight"] + params[name + ".bias"]',
            C_ATTN + ' + params[p + "attn.c_attn.bias"]': (
                'F.linear(norm(x, p + "ln_1"), params[p + "attn.c_attn.weight"].T, params[p + "attn.c_attn.bias"])'
            ),
            "        attended = " + SDPA + "\n": (
                "        bias = torch.zeros(mask.shape, dtype=x.dtype).masked_fill(~mask, float('-inf'))\n"
                "        outs = []\n"
                "        for head in range(n_head):\n"
                "            scores = q[:, head] @ k[:, head].transpose(-2, -1) / head_dim**0.5 + bias\n"
                "            outs.append(torch.softmax(scores, dim=-1) @ v[:, head])\n"
                "        attended = torch.stack(outs, dim=1)\n"
            ),
            '        hidden = F.gelu(hidden, approximate="tanh")\n': (
                "        inner = (2 / torch.pi) ** 0.5 * (hidden + 0.044715 * hidden**3)\n"
                "        hidden = 0.5 * hidden * (1 + torch.tanh(inner))\n"
            ),
        },
    ),
    Alternative(
        "forward-in-float64",
        "the whole forward pass computed in float64, the logits and the cache rounded to the parameters' dtype",
        {
            "    batch, length = input_ids.shape\n": (
                "    dtype = params['transformer.wte.weight'].dtype\n"
                "    params = {k: v.double() if v.is_floating_point() else v for k, v in params.items()}\n"
                "    if past is not None:\n"
                "        past = [(k.double(), v.double()) for k, v in past]\n"
                "    batch, length = input_ids.shape\n"
            ),
            "    return logits, present\n": (
                "    return logits.to(dtype), [(k.to(dtype), v.to(dtype)) for k, v in present]\n"
            ),
        },
    ),
    Alternative(
        "filters-as-hugging-face-in-float64",
        "the filters as Hugging Face writes them (top-p by an ascending sort, cumsum <= 1 - top_p), top-k by "
        "sorting, computed in float64 and rounded once",
        {
            "    scores = logits / temperature\n": "    scores = logits.double() / temperature\n",
            TOP_K: "        kth = scores.sort(dim=-1, descending=True).values[..., top_k - 1 : top_k]\n"
            '        scores = torch.where(scores >= kth, scores, float("-inf"))\n',
            TOP_P: (
                "        sorted_scores, order = scores.sort(dim=-1)\n"
                "        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)\n"
                "        remove_sorted = cumulative <= 1 - top_p\n"
                "        remove_sorted[..., -1] = False\n"
                "        remove = remove_sorted.scatter(-1, order, remove_sorted)\n"
            ),
            "    return scores.softmax(dim=-1)\n": "    return scores.softmax(dim=-1).to(logits.dtype)\n",
        },
    ),
    Alternative(
        "loss-by-log-sum-exp",
        "the loss as logsumexp minus the target's logit, gathered, in float64 inside",
        {
            "    return F.cross_entropy(" + SHIFT + ")\n": (
                "    scores, targets = logits[:, :-1].double(), input_ids[:, 1:]\n"
                "    picked = scores.gather(-1, targets[..., None])[..., 0]\n"
                "    return (scores.logsumexp(dim=-1) - picked).mean().to(logits.dtype)\n"
            )
        },
    ),
]

TRIVIAL = [
    Trivial(
        "zeros",
        "zero logits and an empty cache, the prompt followed by zeros, uniform probabilities, a zero loss",
        (
            "return torch.zeros(*input_ids.shape, params['lm_head.weight'].shape[0], "
            "dtype=params['lm_head.weight'].dtype), []",
            "return torch.cat([input_ids, torch.zeros(input_ids.shape[0], max_new_tokens, dtype=torch.long)], 1)",
            "return torch.full_like(logits, 1 / logits.shape[-1])",
            "return torch.zeros((), dtype=logits.dtype)",
        ),
    ),
]

COINCIDENCES = {}
