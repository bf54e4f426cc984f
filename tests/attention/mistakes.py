"""Attention's known mistakes: the sentence a learner sees when their output looks like one; what
each mistake outputs is computed in `key.py`, the answer key (so that a wrong output is named after the
mistakes it matches).

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g. `[no-scale]`.
The mutants that commit each mistake (patches of the reference, used by `make check`) are in
`mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "no-scale",
        "the scores are not scaled; multiply q @ k^T by 1 / sqrt(E) (E = q.shape[-1]) when no "
        "scale is given, or large E makes the softmax nearly one-hot.",
    ),
    Mistake(
        "scale-by-e",
        "the scores are divided by E instead of sqrt(E); the default scale is 1 / sqrt(E), with E "
        "the size of the last dimension of q.",
    ),
    Mistake(
        "scale-ignored",
        "the `scale` argument is ignored; when it is given, it replaces 1 / sqrt(E).",
    ),
    Mistake(
        "mask-after-softmax",
        "the mask is applied after the softmax (masked weights set to 0 without renormalising), so "
        "the rows no longer sum to 1; set the scores of the pairs that may not attend to -inf "
        "BEFORE the softmax.",
    ),
    Mistake(
        "masked-scores-zero",
        "the masked scores are set to 0 instead of -inf; exp(0) = 1 still gives those keys "
        "weight. Fill them with float('-inf') so that exp gives exactly 0.",
    ),
    Mistake(
        "mask-inverted",
        "the boolean mask's polarity is inverted; here (as in F.scaled_dot_product_attention) True "
        "marks the pairs that MAY attend, so fill the scores where the mask is False: "
        "scores.masked_fill(~mask, -inf). (nn.MultiheadAttention's attn_mask uses the opposite "
        "convention; this kata does not.) With is_causal, key j is kept for query i when j <= i.",
    ),
    Mistake(
        "softmax-wrong-dim",
        "the softmax runs over the wrong dimension; in attention each query's weights sum to 1 "
        "over the keys, the last dimension of the (..., Lq, Lk) scores; softmax(x, dim) must "
        "normalise over the `dim` it is given.",
    ),
    Mistake(
        "no-max-shift",
        "the softmax exponentiates without subtracting the maximum first; exp overflows to inf "
        "(or every term underflows to 0), giving NaN. Subtract x.amax(dim, keepdim=True) first: "
        "softmax does not change when every input moves by the same amount.",
    ),
    Mistake(
        "masked-row-nan",
        "a query with no allowed key gives NaN (0 / 0 in the softmax of a row of -inf); as in "
        "PyTorch 2.13, such a row must return zeros. Detect the rows whose scores are all -inf and "
        "give them zero weights.",
    ),
    Mistake(
        "causal-excludes-diagonal",
        "the causal mask leaves out the diagonal; query i may attend to every key j <= i, itself "
        "included (torch.ones(Lq, Lk).tril(), not .tril(-1)), so the first query is not empty.",
    ),
    Mistake(
        "mask-discarded",
        "the mask (or the causal mask) is computed but never applied: masked_fill returns a new "
        "tensor, so write scores = scores.masked_fill(...), and use the mask you built.",
    ),
    Mistake(
        "heads-split-without-transpose",
        "the heads are split (or joined) with a reshape alone; (B, L, E) must become "
        "(B, L, H, D) and THEN be transposed to (B, H, L, D) (and back the same way), or each "
        "'head' mixes positions and embedding columns.",
    ),
    Mistake(
        "no-output-projection",
        "the output projection is missing; after joining the heads, apply "
        "out_proj_weight (x @ out_proj_weight.T + out_proj_bias).",
    ),
    Mistake(
        "output-projection-transposed",
        "the output projection uses out_proj_weight instead of its transpose; like nn.Linear, "
        "compute x @ out_proj_weight.T + out_proj_bias (the in-projections follow the same rule).",
    ),
    Mistake(
        "cache-not-grown",
        "the cache is not grown: each step attends only to the newest position. Concatenate the "
        "new k and v to the cached K and V along the sequence dimension (dim -2), attend over all "
        "of them, and return the grown cache.",
    ),
    Mistake(
        "gradient-cut",
        "no gradient reaches the inputs: the output was detached from the computation (.detach(), "
        ".data, torch.no_grad, .item() or a round trip through NumPy). Keep every step in torch "
        "operations so that autograd can follow it.",
    ),
]

MISTAKE = by_id(MISTAKES)
