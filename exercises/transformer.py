"""Transformer blocks, by hand: LayerNorm and its backward pass, RMSNorm, positions (sinusoidal and
rotary), the encoder and decoder layers, and the whole encoder-decoder of "Attention Is All You Need".

Normalisation over the last dimension (the features of one position):

    layer_norm(x) = (x - mean) / sqrt(var + eps) * weight + bias     var: the BIASED variance (/ E)
    rms_norm(x)   = x / sqrt(mean(x**2) + eps) * weight               (no mean subtracted, no bias)

Positions:

    sinusoidal:  PE[p, 2i] = sin(p / base**(2i / dim)),   PE[p, 2i + 1] = cos(p / base**(2i / dim))
    rotary:      each pair (x[..., 2i], x[..., 2i + 1]) is rotated by the angle p * base**(-2i / D)

An encoder layer is self-attention then a feed-forward block (linear1, activation, linear2), each
wrapped in a residual connection and a LayerNorm ("Add & Norm"):

    post-norm (norm_first=False):  x = norm1(x + self_attn(x));      x = norm2(x + ff(x))
    pre-norm  (norm_first=True):   x = x + self_attn(norm1(x));      x = x + ff(norm2(x))

A decoder layer adds cross-attention between the two: its queries come from the target, its keys and
values from the encoder's output (the memory); its self-attention is causal (position i sees j <= i).

Parameters come as dicts keyed by PyTorch's own state_dict names (`self_attn.in_proj_weight`,
`linear1.weight`, `norm1.bias`, ...), so that the same dict loaded into `nn.TransformerEncoderLayer`,
`nn.TransformerDecoderLayer` or `nn.Transformer` gives the same results. Linear maps follow nn.Linear:
`y = x @ weight.T + bias`. Multi-head attention follows nn.MultiheadAttention: `in_proj_weight` (3E, E)
holds the q, k and v projections in that order, heads of size E / num_heads.

Conventions: boolean masks are True where a query MAY attend (as `F.scaled_dot_product_attention`,
the opposite of nn.Transformer's `src_mask` / `memory_mask`); results keep the dtype of the input;
nothing passed in is modified. `F.scaled_dot_product_attention` is allowed (the attention topic is
where it is written by hand); `nn.MultiheadAttention`, `nn.Transformer*`, `F.layer_norm`,
`nn.LayerNorm`, `F.rms_norm`, `nn.RMSNorm` and autograd are not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last dimension, as `nn.LayerNorm(E, eps)`.

    Args:
        x: (..., E), any number of leading dimensions.
        weight, bias: (E,), the affine parameters (`norm.weight`, `norm.bias`).
        eps: added to the variance INSIDE the square root.

    Returns:
        (x - mean) / sqrt(var + eps) * weight + bias, of the shape and dtype of x, where mean and
        var are taken over the last dimension and var is the biased variance (divided by E, not
        E - 1).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def layer_norm_backward(
    grad_out: Tensor, x: Tensor, weight: Tensor, eps: float = 1e-5
) -> tuple[Tensor, Tensor, Tensor]:
    """The gradients of `y = layer_norm(x, weight, bias, eps)`, by hand (no autograd).

    With x_hat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), and g = grad_out * weight, every row
    (one position, E features) gives

        grad_x = rstd * (g - mean(g) - x_hat * mean(g * x_hat))        (means over the row)

    The mean and the variance depend on every x of the row: that is where the two subtracted terms
    come from. The bias's value does not enter any gradient, so it is not an argument.

    Args:
        grad_out: dL/dy, the shape of x.
        x: (..., E), any number of leading dimensions (none: a single row of shape (E,)).
        weight: (E,).
        eps: as in layer_norm.

    Returns:
        `(grad_x, grad_weight, grad_bias)`: grad_x of x's shape, grad_weight and grad_bias of shape
        (E,), SUMMED over every leading position; all in x's dtype.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def rms_norm(x: Tensor, weight: Tensor, eps: float = 1e-6) -> Tensor:
    """RMSNorm over the last dimension, as `nn.RMSNorm(E, eps)`: x / sqrt(mean(x**2) + eps) * weight.

    Args:
        x: (..., E). weight: (E,). eps: added to the mean square inside the square root.

    Returns:
        The shape and dtype of x. Unlike LayerNorm, no mean is subtracted and there is no bias.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def sinusoidal_positions(length: int, dim: int, base: float = 10000.0) -> Tensor:
    """The sinusoidal position encodings of the original Transformer, interleaved.

        PE[p, 2i]     = sin(p / base**(2i / dim))
        PE[p, 2i + 1] = cos(p / base**(2i / dim))          for p < length, i < dim / 2

    Args:
        length: the number of positions (0, 1, ..., length - 1).
        dim: the embedding width, even.
        base: 10000 in the paper.

    Returns:
        (length, dim), in torch's default dtype (torch.get_default_dtype(), float32 unless changed).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def apply_rope(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotary position embedding (RoFormer, Su et al. 2021), interleaved pairs.

    For each pair i < D / 2 of features and each position l, with p = positions[l] and
    theta = p * base**(-2i / D):

        out[..., l, 2i]     = x[..., l, 2i] * cos(theta) - x[..., l, 2i + 1] * sin(theta)
        out[..., l, 2i + 1] = x[..., l, 2i] * sin(theta) + x[..., l, 2i + 1] * cos(theta)

    a counter-clockwise rotation of the pair (x[2i], x[2i + 1]) seen as a point of the plane. The dot
    product of a query rotated at position m and a key rotated at position n then depends on m - n
    only.

    Args:
        x: (..., L, D), D even.
        positions: (L,), integers (the position of each of the L rows).
        base: 10000 in the paper.

    Returns:
        The shape and dtype of x.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def _attention(
    query: Tensor, key_value: Tensor, params: dict, prefix: str, num_heads: int, mask: Tensor | None
) -> Tensor:
    """Multi-head attention with the parameters `prefix + "in_proj_weight"`, `prefix + "in_proj_bias"`,
    `prefix + "out_proj.weight"` and `prefix + "out_proj.bias"` (nn.MultiheadAttention's), queries
    from `query` (B, L, E), keys and values from `key_value` (B, S, E), boolean `mask` (L, S) True =
    may attend, or None. Returns (B, L, E). (A helper: the tests call only the functions below.)
    """
    # YOUR CODE HERE
    raise NotImplementedError


def _feed_forward(x: Tensor, params: dict, activation: str) -> Tensor:
    """linear2(activation(linear1(x))), with `linear1.weight` (F, E), `linear1.bias` (F,),
    `linear2.weight` (E, F), `linear2.bias` (E,); activation "relu" or "gelu" (the exact gelu,
    x * Phi(x)). (A helper: the tests call only the functions below.)"""
    # YOUR CODE HERE
    raise NotImplementedError


def encoder_layer(
    x: Tensor,
    params: dict,
    num_heads: int,
    mask: Tensor | None = None,
    norm_first: bool = False,
    activation: str = "relu",
    eps: float = 1e-5,
) -> Tensor:
    """One encoder layer, as `nn.TransformerEncoderLayer(E, num_heads, dim_feedforward, dropout=0.0,
    activation=activation, layer_norm_eps=eps, batch_first=True, norm_first=norm_first)` in eval mode.

        post-norm:  x = norm1(x + self_attn(x));   x = norm2(x + ff(x))
        pre-norm:   x = x + self_attn(norm1(x));   x = x + ff(norm2(x))

    Args:
        x: (B, L, E).
        params: the layer's state_dict: `self_attn.in_proj_weight` (3E, E), `self_attn.in_proj_bias`
            (3E,), `self_attn.out_proj.weight` (E, E), `self_attn.out_proj.bias` (E,),
            `linear1.weight` (F, E), `linear1.bias` (F,), `linear2.weight` (E, F), `linear2.bias`
            (E,), `norm1.weight`, `norm1.bias`, `norm2.weight`, `norm2.bias` (E,).
        num_heads: divides E.
        mask: None, or boolean (L, L), True where query i MAY attend to key j (torch's `src_mask`
            is the opposite: True = may not).
        norm_first: pre-norm (True) or post-norm (False, the original Transformer).
        activation: "relu" or "gelu" (exact).
        eps: the LayerNorms' eps.

    Returns:
        (B, L, E), dtype of x.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def decoder_layer(
    x: Tensor,
    memory: Tensor,
    params: dict,
    num_heads: int,
    memory_mask: Tensor | None = None,
    norm_first: bool = False,
    activation: str = "relu",
    eps: float = 1e-5,
) -> Tensor:
    """One decoder layer, as `nn.TransformerDecoderLayer(E, num_heads, dim_feedforward, dropout=0.0,
    activation=activation, layer_norm_eps=eps, batch_first=True, norm_first=norm_first)` in eval mode,
    called with a causal target mask.

        post-norm:  x = norm1(x + self_attn(x, causal));  x = norm2(x + cross_attn(x, memory));
                    x = norm3(x + ff(x))
        pre-norm:   x = x + self_attn(norm1(x), causal);  x = x + cross_attn(norm2(x), memory);
                    x = x + ff(norm3(x))

    cross_attn takes its queries from the target side (x) and its keys and values from `memory`.

    Args:
        x: the target, (B, L, E). memory: the encoder's output, (B, S, E).
        params: `self_attn.*` and `multihead_attn.*` (the four attention parameters each, as in
            encoder_layer), `linear1.*`, `linear2.*`, `norm1.*`, `norm2.*`, `norm3.*`.
        num_heads: divides E.
        memory_mask: None, or boolean (L, S), True where target position i MAY attend to memory
            position j (torch's `memory_mask` is the opposite).
        norm_first, activation, eps: as in encoder_layer.

    Returns:
        (B, L, E), dtype of x.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def transformer(
    src: Tensor,
    tgt: Tensor,
    params: dict,
    num_heads: int,
    num_encoder_layers: int,
    num_decoder_layers: int,
    norm_first: bool = False,
    activation: str = "relu",
    eps: float = 1e-5,
) -> Tensor:
    """The encoder-decoder, as `nn.Transformer(E, num_heads, num_encoder_layers, num_decoder_layers,
    dim_feedforward, dropout=0.0, activation=activation, layer_norm_eps=eps, batch_first=True,
    norm_first=norm_first)` in eval mode, called with a causal target mask and no other mask.

        memory = src through the encoder layers, then the final norm `encoder.norm`
        out    = tgt through the decoder layers (each attending to memory), then `decoder.norm`

    Args:
        src: (B, S, E). tgt: (B, L, E).
        params: nn.Transformer's state_dict: `encoder.layers.{i}.<encoder_layer's keys>`,
            `encoder.norm.weight`, `encoder.norm.bias`, `decoder.layers.{i}.<decoder_layer's
            keys>`, `decoder.norm.weight`, `decoder.norm.bias`.
        num_heads, norm_first, activation, eps: as in encoder_layer (the same for every layer).
        num_encoder_layers, num_decoder_layers: how many layers of each.

    Returns:
        (B, L, E), dtype of tgt. (nn.Transformer has the final norms in both post-norm and pre-norm.)
    """
    # YOUR CODE HERE
    raise NotImplementedError
