"""Attention, by hand: softmax, scaled dot-product attention, multi-head attention, KV-cache decoding.

Scaled dot-product attention (Vaswani et al., 2017) lets every query position read a weighted
average of the value vectors, weighted by how well the query matches each key:

    scores  = q @ k^T * scale                 (..., Lq, Lk), scale = 1 / sqrt(E) by default
    scores  = scores with the mask applied    not allowed -> -inf (boolean), or + mask (float)
    weights = softmax(scores, over the keys)  each row sums to 1
    out     = weights @ v                     (..., Lq, Ev)

The conventions are those of `torch.nn.functional.scaled_dot_product_attention` in PyTorch 2.13:

- a boolean mask marks with True the (query, key) pairs that TAKE PART (True = may attend);
- a float mask is ADDED to the scores (0 keeps a pair, -inf removes it, anything else biases it);
- `is_causal=True` keeps key j for query i only when j <= i (the diagonal included), counted from
  the top-left corner of the (Lq, Lk) score matrix; it is an error to give a mask as well;
- masks broadcast against the scores, shape (..., Lq, Lk): (Lq, Lk), (1, Lk), (B, 1, Lq, Lk)...;
- a query with no allowed key (its whole row of scores is -inf) returns zeros, not NaN.

Multi-head attention projects the inputs, splits the embedding into `num_heads` heads of size
E / num_heads, runs attention in every head at once, joins the heads and projects the result, exactly
as `torch.nn.MultiheadAttention(E, num_heads, batch_first=True)` does, except that its boolean mask
follows the convention above (True = may attend), the opposite of `nn.MultiheadAttention`'s.

KV-cache decoding produces a sequence one position at a time: the keys and values of the earlier
positions are kept (the cache), so each step only projects the new position and attends over the
cache plus itself. Decoding position by position gives the same outputs as causal attention over the
whole sequence.

Conventions: inputs of any floating dtype (float32, float64); results keep the dtype of `q`. Gradients
flow through every function (autograd is allowed in this topic). The built-in softmaxes,
`F.scaled_dot_product_attention`, `nn.MultiheadAttention` and `F.multi_head_attention_forward` are off
limits: use your own `softmax`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Softmax of `x` along `dim`: exp(x_i) / sum_j exp(x_j), numerically stable.

    Subtract the maximum along `dim` before exponentiating (softmax does not change when every
    input of a slice moves by the same amount): exp of a large input overflows to inf (float32 above
    about 88.7, float64 above about 709), and exp of very negative inputs all underflow to 0, giving
    0 / 0. The result must be finite for inputs of magnitude 1e4.

    Args:
        x: any shape, floating dtype. Entries may be -inf (they get probability 0) as long as every
            slice along `dim` has at least one finite entry.
        dim: the dimension to normalise over (negative values count from the end).

    Returns:
        A tensor of the shape and dtype of `x`, non-negative, summing to 1 along `dim`.
    """
    ### BEGIN SOLUTION
    # The shift is a constant for each slice: softmax does not depend on it, so no gradient flows
    # through it (detaching it only saves work; keeping it in the graph gives the same gradient).
    shifted = x - x.amax(dim=dim, keepdim=True).detach()
    e = torch.exp(shifted)
    return e / e.sum(dim=dim, keepdim=True)
    ### END SOLUTION


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v, as `torch.nn.functional.scaled_dot_product_attention`.

    Args:
        q: queries, shape (..., Lq, E).
        k: keys, shape (..., Lk, E), the same leading dimensions as `q`.
        v: values, shape (..., Lk, Ev), the same leading dimensions as `q`.
        mask: None, or a tensor broadcastable to (..., Lq, Lk):
            - boolean: True where query i may attend to key j, False where it may not;
            - floating: added to the scores (use -inf to forbid a pair).
        is_causal: if True, query i attends only to keys j <= i (j counted from 0, the diagonal
            included; for Lq != Lk the (Lq, Lk) matrix is cut from the top-left corner). Giving a
            mask as well raises ValueError (PyTorch raises an error too).
        scale: the factor multiplying the scores; None means 1 / sqrt(E).

    Returns:
        (..., Lq, Ev), dtype of `q`. A query row with no allowed key (every score -inf, from a
        boolean mask with a False row, a float mask with a -inf row, or both) is all zeros.
    """
    ### BEGIN SOLUTION
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., Lq, Lk)
    if is_causal:
        if mask is not None:
            raise ValueError("give either a mask or is_causal=True, not both")
        n_queries, n_keys = scores.shape[-2], scores.shape[-1]
        mask = torch.ones(n_queries, n_keys, dtype=torch.bool, device=scores.device).tril()
    if mask is not None and mask.dtype == torch.bool:
        scores = scores.masked_fill(~mask, float("-inf"))
    elif mask is not None:
        scores = scores + mask
    # A row of -inf only (a query with no allowed key) would give 0 / 0 in the softmax: it gets
    # zero weights instead (the scores are set to 0 first so that no NaN enters the gradient).
    empty = torch.isneginf(scores).all(dim=-1, keepdim=True)
    weights = softmax(scores.masked_fill(empty, 0.0), dim=-1).masked_fill(empty, 0.0)
    return weights @ v
    ### END SOLUTION


def multi_head_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    num_heads: int,
    in_proj_weight: Tensor,
    in_proj_bias: Tensor | None,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    mask: Tensor | None = None,
    is_causal: bool = False,
) -> Tensor:
    """Multi-head attention, batch first, with the parameters of `nn.MultiheadAttention(E, H)`.

    With H = num_heads and D = E // H (H divides E):

        Wq, Wk, Wv = in_proj_weight split in three along its rows    each (E, E)
        bq, bk, bv = in_proj_bias split in three                     each (E,)
        q = query @ Wq^T + bq;  k = key @ Wk^T + bk;  v = value @ Wv^T + bv
        split each into heads: (B, L, E) -> (B, L, H, D) -> (B, H, L, D)
        heads = scaled_dot_product_attention(q, k, v, mask, is_causal)     (B, H, L, D)
        join the heads: (B, H, L, D) -> (B, L, H, D) -> (B, L, E)
        out = joined @ out_proj_weight^T + out_proj_bias

    Head h uses the embedding columns h*D .. (h+1)*D - 1 of the projected q, k and v.

    Args:
        query: (B, L, E). key: (B, S, E). value: (B, S, E) (self-attention: all three the same).
        num_heads: H, a divisor of E.
        in_proj_weight: (3E, E), rows ordered q, k, v. in_proj_bias: (3E,) or None (no bias).
        out_proj_weight: (E, E). out_proj_bias: (E,) or None.
        mask: None, or broadcastable to (B, H, L, S), e.g. (L, S), (B, 1, L, S) or (B, H, L, S);
            boolean True = may attend (the OPPOSITE of nn.MultiheadAttention's attn_mask), or
            floating, added to the scores. The same mask applies to every head unless it has a
            head dimension.
        is_causal: query position i attends only to key positions j <= i.

    Returns:
        (B, L, E), dtype of `query`. A query with no allowed key gets zeros from attention, so its
        output is `out_proj_bias` (or zeros without bias).
    """
    ### BEGIN SOLUTION
    batch, n_query, embed = query.shape
    n_key = key.shape[1]
    head_dim = embed // num_heads
    w_q, w_k, w_v = in_proj_weight.chunk(3, dim=0)
    b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)

    def project(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        y = x @ weight.T
        return y if bias is None else y + bias

    def split_heads(x: Tensor, length: int) -> Tensor:  # (B, length, E) -> (B, H, length, D)
        return x.reshape(batch, length, num_heads, head_dim).transpose(1, 2)

    q = split_heads(project(query, w_q, b_q), n_query)
    k = split_heads(project(key, w_k, b_k), n_key)
    v = split_heads(project(value, w_v, b_v), n_key)
    heads = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal)
    joined = heads.transpose(1, 2).reshape(batch, n_query, embed)
    return project(joined, out_proj_weight, out_proj_bias)
    ### END SOLUTION


def attention_decode_step(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    cache: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One step of decoding with a key/value cache.

    The new position attends to every earlier position (held in the cache) and to itself, with the
    default scale 1 / sqrt(D): no causal mask is needed, since nothing later exists yet.

    Args:
        q, k: the query and key of the new position, shape (B, H, 1, D).
        v: its value, shape (B, H, 1, Dv).
        cache: None before the first step, else `(K, V)` with K of shape (B, H, T, D) and V of
            shape (B, H, T, Dv) holding the keys and values of the T earlier positions, oldest
            first (exactly what the previous step returned).

    Returns:
        `(out, (K', V'))`: out of shape (B, H, 1, Dv), and the grown cache, K' = K followed by k
        (B, H, T + 1, D) and V' = V followed by v (B, H, T + 1, Dv). New tensors: the cache given is
        not modified.
    """
    ### BEGIN SOLUTION
    if cache is None:
        keys, values = k, v
    else:
        keys = torch.cat([cache[0], k], dim=-2)
        values = torch.cat([cache[1], v], dim=-2)
    out = scaled_dot_product_attention(q, keys, values)
    return out, (keys, values)
    ### END SOLUTION
