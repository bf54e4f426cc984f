"""GPT's known mistakes: the sentence a learner sees when their output looks like one; what each mistake
outputs is computed in `key.py`, the answer key (so that a wrong output is named after the mistakes it
matches).

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g. `[gelu-exact]`.
The mutants that commit each mistake (patches of the reference, used by `make check`) are in
`mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "conv1d-transposed",
        "a Conv1D weight is used like an nn.Linear weight; GPT-2's Conv1D stores its weight as "
        "(in, out), the transpose of nn.Linear's (out, in): y = x @ weight + bias, not x @ weight.T "
        "(nor F.linear(x, weight)). attn.c_proj is square, so that one goes wrong without an error.",
    ),
    Mistake(
        "gelu-exact",
        "the GELU is the exact one (F.gelu(x), x * Phi(x)); GPT-2 uses the tanh approximation "
        '"gelu_new": F.gelu(x, approximate="tanh") = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + '
        "0.044715 * x**3))).",
    ),
    Mistake(
        "no-causal-mask",
        "the attention is not causal; a token may attend only to itself and the tokens before it "
        "(a boolean mask torch.ones(T, T, dtype=torch.bool).tril(), True = may attend).",
    ),
    Mistake(
        "attention-scaled-by-embed",
        "the attention scores are divided by sqrt(E), the whole embedding width; each head's scores "
        "are q @ k.T / sqrt(head_dim), head_dim = E / n_head (F.scaled_dot_product_attention does "
        "that by default).",
    ),
    Mistake(
        "positions-restart",
        "the positions restart at 0 when `past` is given; the new tokens are at positions T_past, "
        "T_past + 1, ..., with T_past = past[0][0].shape[2], the length of the cached keys.",
    ),
    Mistake(
        "causal-mask-ignores-past",
        "with a cache, the causal mask is aligned at the top-left (is_causal=True, or a (T, T) tril "
        "mask padded): new token i must see every past key AND the new keys up to itself, a (T, T_past "
        "+ T) mask torch.ones(T, T_past + T, dtype=torch.bool).tril(diagonal=T_past).",
    ),
    Mistake(
        "cache-wrong-dim",
        "the cached keys and values are concatenated along the wrong dimension; they are (B, n_head, "
        "T, head_dim), and the sequence grows along dim 2: torch.cat([past_k, k], dim=2). (A shape error "
        "with past can also come from a (T, T) causal mask where (T, T_past + T) is needed.)",
    ),
    Mistake(
        "post-norm",
        "the blocks are post-norm (x = ln_1(x + attn(x))); GPT-2 is pre-norm: x = x + attn(ln_1(x)), "
        "then x = x + mlp(ln_2(x)), the residual stream itself never normalised until ln_f.",
    ),
    Mistake(
        "ln-f-missing",
        "the final layer norm transformer.ln_f is missing; it normalises the last block's output "
        "before the output layer: logits = ln_f(x) @ wte.T.",
    ),
    Mistake(
        "eps-ignored",
        "the layer norms ignore the `eps` argument (1e-5 hard-coded?); every layer norm, ln_f "
        "included, uses the eps given (config.layer_norm_epsilon).",
    ),
    Mistake(
        "temperature-multiplied",
        "the logits are multiplied by the temperature; they are divided by it (a temperature below 1 "
        "sharpens the distribution, above 1 flattens it).",
    ),
    Mistake(
        "top-p-before-temperature",
        "top-p is chosen on the distribution before the temperature; Hugging Face applies the "
        "temperature first, then top-k, then top-p on the tempered distribution.",
    ),
    Mistake(
        "top-k-ties-by-index",
        "top-k keeps exactly k tokens and breaks ties at the k-th value by index; every token whose "
        "logit equals the k-th largest is kept: scores < scores.topk(k).values[..., -1:] are removed.",
    ),
    Mistake(
        "top-p-drops-crossing",
        "top-p drops the token that crosses the threshold; it keeps the smallest set of most likely "
        "tokens whose probability REACHES top_p, so the token whose cumulative sum first reaches "
        "top_p stays (remove a token only when the mass ranked before it is already >= top_p).",
    ),
    Mistake(
        "top-p-ignores-top-k",
        "top-p is chosen on the distribution before top-k; it works on what top-k left, "
        "renormalised (the softmax of the scores with the removed ones at -inf).",
    ),
    Mistake(
        "not-renormalised",
        "the filtered probabilities are not renormalised (removed tokens zeroed after the softmax); "
        "the softmax comes last, over the kept tokens only (removed scores set to -inf), so each row "
        "sums to 1.",
    ),
    Mistake(
        "lm-loss-no-shift",
        "the loss compares position t with token t; position t predicts the NEXT token: "
        "cross-entropy of logits[:, :-1] with input_ids[:, 1:].",
    ),
    Mistake(
        "lm-loss-sum",
        "the loss is summed; it is the mean over the B * (T - 1) predictions.",
    ),
]

MISTAKE = by_id(MISTAKES)
