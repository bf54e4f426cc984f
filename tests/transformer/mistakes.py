"""Transformer's known mistakes: the sentence a learner sees when their output looks like one; what
each mistake outputs is computed in `key.py`, the answer key (so that a wrong output is named after the
mistakes it matches).

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g. `[unbiased-variance]`.
The mutants that commit each mistake (patches of the reference, used by `make check`) are in
`mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "unbiased-variance",
        "the variance is the unbiased one (divided by E - 1, torch.var's default); LayerNorm divides "
        "by E: ((x - mean) ** 2).mean(-1), or x.var(-1, unbiased=False).",
    ),
    Mistake(
        "eps-outside-sqrt",
        "eps is added after the square root; LayerNorm divides by sqrt(var + eps), with eps INSIDE "
        "(it matters for rows of small variance and for a large eps).",
    ),
    Mistake(
        "norm-wrong-dimension",
        "the mean and variance are taken over the wrong dimension; LayerNorm normalises each "
        "position over its features, the LAST dimension (dim=-1, keepdim=True), whatever the number "
        "of leading dimensions.",
    ),
    Mistake(
        "backward-stats-constant",
        "the backward pass treats the mean and the variance as constants (grad_x = grad_out * weight "
        "* rstd); they depend on every x of the row, which adds two terms: grad_x = rstd * (g - "
        "mean(g) - x_hat * mean(g * x_hat)) with g = grad_out * weight.",
    ),
    Mistake(
        "rms-subtracts-mean",
        "RMSNorm subtracts the mean; it does not: x / sqrt(mean(x ** 2) + eps) * weight (that is "
        "what makes it cheaper than LayerNorm).",
    ),
    Mistake(
        "positions-in-halves",
        "the sines fill the first half of the columns and the cosines the second; here they are "
        "interleaved: PE[:, 0::2] = sin, PE[:, 1::2] = cos.",
    ),
    Mistake(
        "positions-exponent-i-over-dim",
        "the frequency of pair i uses the exponent i / dim instead of 2i / dim; the angle of columns "
        "2i and 2i + 1 is p / base ** (2i / dim) (torch.arange(0, dim, 2) / dim).",
    ),
    Mistake(
        "rope-halves",
        "RoPE pairs feature i with feature i + D/2 (the GPT-NeoX layout); this kata rotates the "
        "interleaved pairs (x[..., 2i], x[..., 2i + 1]), as the RoFormer paper does.",
    ),
    Mistake(
        "rope-wrong-direction",
        "RoPE rotates the wrong way; the pair (a, b) becomes (a cos t - b sin t, a sin t + b cos t), "
        "a counter-clockwise rotation by t = p * base ** (-2i / D), as multiplying a + ib by "
        "exp(i t).",
    ),
    Mistake(
        "norm-first-swapped",
        "pre-norm and post-norm are swapped; norm_first=False (the original Transformer) normalises "
        "AFTER each residual sum, x = norm(x + sublayer(x)); norm_first=True normalises the "
        "sublayer's INPUT, x = x + sublayer(norm(x)).",
    ),
    Mistake(
        "ff-no-residual",
        "the feed-forward block has no residual connection; like the attention blocks it adds its "
        "input back: x + ff(...) before (post-norm) or without (pre-norm) the norm.",
    ),
    Mistake(
        "cross-attention-from-target",
        "the decoder's cross-attention takes its keys and values from the target; its queries come "
        "from the target, its keys and values from the encoder's output (memory).",
    ),
    Mistake(
        "decoder-not-causal",
        "the decoder's self-attention is not causal; target position i may attend only to positions "
        "j <= i (a mask torch.ones(L, L, dtype=torch.bool).tril(), True = may attend).",
    ),
    Mistake(
        "memory-mask-inverted",
        "the memory mask's polarity is inverted; here True marks the (target, memory) pairs that MAY "
        "attend (as F.scaled_dot_product_attention's attn_mask), the opposite of nn.Transformer's "
        "memory_mask, so pass it to scaled_dot_product_attention as it is.",
    ),
    Mistake(
        "final-norm-missing",
        "a final LayerNorm is missing; nn.Transformer normalises the encoder's output with "
        "encoder.norm (before the decoder reads it) and the decoder's output with decoder.norm, in "
        "post-norm and pre-norm alike.",
    ),
    Mistake(
        "gelu-tanh",
        "gelu uses the tanh approximation; activation='gelu' means the exact x * Phi(x) (F.gelu(x), "
        "approximate='none'), which differs by up to about 1e-3.",
    ),
]

MISTAKE = by_id(MISTAKES)
