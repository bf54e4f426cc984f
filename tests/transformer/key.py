"""Transformer's answer key (grader/answers.py): layer norm, its backward pass, RMSNorm, the positions,
RoPE and the layers as the textbook computes them (float64), with a switch that commits each known
mistake, so that a wrong output is named after the mistakes it matches. It is the oracle only where no
library has the function (sinusoidal positions from the formula, RoPE as complex numbers); elsewhere
PyTorch's modules are. A class release ships its results for the public tests, not this file.

The `*_mistakes` functions return a thunk (lazy): (Mistake, predicted output) pairs, computed only once
a check has failed, for kit.check_output(near=...). A prediction equal to the right output is left out:
it cannot tell that mistake from a correct answer on this input (gelu-tanh with relu, say).
"""

import math

import torch
import torch.nn.functional as F

from grader.answers import recorded
from tests.transformer.mistakes import MISTAKE

F64 = torch.float64

# Mistakes of a LayerNorm, as (mistake, dimension normalised over), committed in every norm of a layer.
NORM_MISTAKES = [("unbiased-variance", -1), ("eps-outside-sqrt", -1), ("norm-wrong-dimension", 0)]
LAYER_MISTAKES = ["norm-first-swapped", "ff-no-residual", "gelu-tanh"]
DECODER_MISTAKES = ["decoder-not-causal", "memory-mask-inverted", "cross-attention-from-target"]


def _d(t):
    return None if t is None else t.detach().to(F64)


def _ln(x, weight, bias, eps, mistake=None, dim=-1):
    x = x.to(F64)
    mean = x.mean(dim, keepdim=True)
    var = x.var(dim, keepdim=True, correction=1 if mistake == "unbiased-variance" else 0)
    std = var.sqrt() + eps if mistake == "eps-outside-sqrt" else (var + eps).sqrt()
    return (x - mean) / std * _d(weight) + _d(bias)


def _attend(query, key_value, p, prefix, heads, mask):
    (b, n, e), s = query.shape, key_value.shape[1]
    w, bias = _d(p[prefix + "in_proj_weight"]).chunk(3), _d(p[prefix + "in_proj_bias"]).chunk(3)

    def split(x, k, length):
        return (x @ w[k].T + bias[k]).reshape(b, length, heads, e // heads).transpose(1, 2)

    q, k, v = split(query, 0, n), split(key_value, 1, s), split(key_value, 2, s)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, n, e)
    return out @ _d(p[prefix + "out_proj.weight"]).T + _d(p[prefix + "out_proj.bias"])


def _ff(x, p, activation, mistake):
    h = x @ _d(p["linear1.weight"]).T + _d(p["linear1.bias"])
    if activation == "gelu":
        h = F.gelu(h, approximate="tanh" if mistake == "gelu-tanh" else "none")
    else:
        h = torch.relu(h)
    return h @ _d(p["linear2.weight"]).T + _d(p["linear2.bias"])


def _norm(p, eps, norm_mistake):
    mistake, dim = norm_mistake or (None, -1)
    return lambda h, name: _ln(h, p[name + ".weight"], p[name + ".bias"], eps, mistake, dim)


def _encoder(x, p, heads, mask=None, norm_first=False, activation="relu", eps=1e-5, mistake=None, norm_mistake=None):
    """encoder_layer in float64 with `mistake` (one of LAYER_MISTAKES) and `norm_mistake` (one of
    NORM_MISTAKES) committed."""
    x, norm = _d(x), _norm(p, eps, norm_mistake)
    pre = norm_first != (mistake == "norm-first-swapped")
    keep = 0.0 if mistake == "ff-no-residual" else 1.0
    if pre:
        h = norm(x, "norm1")
        x = x + _attend(h, h, p, "self_attn.", heads, mask)
        return keep * x + _ff(norm(x, "norm2"), p, activation, mistake)
    x = norm(x + _attend(x, x, p, "self_attn.", heads, mask), "norm1")
    return norm(keep * x + _ff(x, p, activation, mistake), "norm2")


def _decoder(
    x,
    memory,
    p,
    heads,
    memory_mask=None,
    norm_first=False,
    activation="relu",
    eps=1e-5,
    mistake=None,
    norm_mistake=None,
):
    """decoder_layer in float64 with `mistake` (LAYER_MISTAKES or DECODER_MISTAKES) committed."""
    x, memory, norm = _d(x), _d(memory), _norm(p, eps, norm_mistake)
    n = x.shape[1]
    causal = None if mistake == "decoder-not-causal" else torch.ones(n, n, dtype=torch.bool).tril()
    if memory_mask is not None and mistake == "memory-mask-inverted":
        memory_mask = ~memory_mask
    pre = norm_first != (mistake == "norm-first-swapped")
    keep = 0.0 if mistake == "ff-no-residual" else 1.0
    from_target = mistake == "cross-attention-from-target"
    if pre:
        h = norm(x, "norm1")
        x = x + _attend(h, h, p, "self_attn.", heads, causal)
        h = norm(x, "norm2")
        x = x + _attend(h, h if from_target else memory, p, "multihead_attn.", heads, memory_mask)
        return keep * x + _ff(norm(x, "norm3"), p, activation, mistake)
    x = norm(x + _attend(x, x, p, "self_attn.", heads, causal), "norm1")
    x = norm(x + _attend(x, x if from_target else memory, p, "multihead_attn.", heads, memory_mask), "norm2")
    return norm(keep * x + _ff(x, p, activation, mistake), "norm3")


def _sub(params, prefix):
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def _transformer(args, mistake=None, where=(True, True), norm_mistake=None, final=(True, True)):
    """transformer(**args) in float64; `mistake` committed in the encoder layers (where[0]) and in
    the decoder layers (where[1]); `final`: whether each final norm is applied."""
    p, heads, eps = args["params"], args["num_heads"], args.get("eps", 1e-5)
    options = dict(norm_first=args.get("norm_first", False), activation=args.get("activation", "relu"), eps=eps)
    memory = _d(args["src"])
    for i in range(args["num_encoder_layers"]):
        layer_mistake = mistake if where[0] and mistake in LAYER_MISTAKES else None
        sub = _sub(p, f"encoder.layers.{i}.")
        memory = _encoder(memory, sub, heads, mistake=layer_mistake, norm_mistake=norm_mistake, **options)
    if final[0]:
        memory = _ln(memory, p["encoder.norm.weight"], p["encoder.norm.bias"], eps, *(norm_mistake or (None, -1)))
    out = _d(args["tgt"])
    for i in range(args["num_decoder_layers"]):
        layer_mistake = mistake if where[1] else None
        sub = _sub(p, f"decoder.layers.{i}.")
        out = _decoder(out, memory, sub, heads, mistake=layer_mistake, norm_mistake=norm_mistake, **options)
    if final[1]:
        out = _ln(out, p["decoder.norm.weight"], p["decoder.norm.bias"], eps, *(norm_mistake or (None, -1)))
    return out


def _differing(right, predictions):
    """(Mistake, prediction) for the predictions that differ from the right output."""
    return [
        (MISTAKE[m], p)
        for m, p in predictions
        if p is not None and (p.shape != right.shape or not torch.equal(p.double(), right.double()))
    ]


def _angles(length_or_positions, dim, base, exponent_step=2):
    """theta[l, i] = position_l * base ** (-step * i / dim) for the pairs i < dim / 2."""
    i = torch.arange(dim // 2, dtype=F64)
    return length_or_positions.to(F64)[:, None] * base ** (-exponent_step * i / dim)


# ---------------------------------------------------------------------------------------------------
# Oracles where no library has the function


@recorded
def positions_from_formula(length, dim, base):
    """PE[p, 2i] = sin(p / base ** (2i / dim)), PE[p, 2i + 1] = cos(...), element by element with the
    math module in float64 (Python floats), as a (length, dim) float64 tensor."""
    table = [[0.0] * dim for _ in range(length)]
    for p in range(length):
        for i in range(dim // 2):
            angle = p / base ** (2 * i / dim)
            table[p][2 * i], table[p][2 * i + 1] = math.sin(angle), math.cos(angle)
    return torch.tensor(table, dtype=F64).reshape(length, dim)


def _rope_complex(x, positions, base, halves=False):
    """x rotated as complex numbers: pairs (a, b) -> (a + ib) * exp(i theta), in float64."""
    x = _d(x)
    dim = x.shape[-1]
    if halves:  # the GPT-NeoX layout: feature i pairs with feature i + D/2
        x = torch.stack([x[..., : dim // 2], x[..., dim // 2 :]], dim=-1).reshape(x.shape)
    z = torch.view_as_complex(x.reshape(*x.shape[:-1], dim // 2, 2).contiguous())
    theta = _angles(positions, dim, base)
    out = torch.view_as_real(z * torch.exp(1j * theta)).reshape(x.shape)
    if halves:
        out = torch.cat([out[..., 0::2], out[..., 1::2]], dim=-1)
    return out


@recorded
def rope_by_complex_numbers(x, positions, base):
    """RoPE as complex numbers (torch.view_as_complex times exp(i * theta)), float64."""
    return _rope_complex(x, positions, base)


@recorded
def rotated_scores(q, k, distance, base):
    """The score of q rotated at position m with k rotated at position n, m - n = distance:
    Re(sum_i q_i * conj(k_i) * exp(i * distance * theta_i)) over the complex pairs, float64 (..., )."""
    dim = q.shape[-1]
    zq = torch.view_as_complex(_d(q).reshape(*q.shape[:-1], dim // 2, 2).contiguous())
    zk = torch.view_as_complex(_d(k).reshape(*k.shape[:-1], dim // 2, 2).contiguous())
    theta = _angles(torch.tensor([distance]), dim, base)[0]
    return (zq * zk.conj() * torch.exp(1j * theta)).sum(-1).real


# ---------------------------------------------------------------------------------------------------
# Mistakes' predictions


@recorded(lazy=True)
def layer_norm_mistakes(x, weight, bias, eps):
    """layer_norm under unbiased-variance, eps-outside-sqrt, and normalising over every other dim."""
    right = _ln(_d(x), weight, bias, eps)
    predictions = [(m, _ln(_d(x), weight, bias, eps, m)) for m in ("unbiased-variance", "eps-outside-sqrt")]
    if x.dim() > 1:
        wrong = [d for d in range(x.dim() - 1) if x.shape[d] > 1]
        predictions += [("norm-wrong-dimension", _ln(_d(x), weight, bias, eps, dim=d)) for d in wrong]
    return _differing(right, predictions)


@recorded(lazy=True)
def layer_norm_backward_mistakes(grad_out, x, weight, eps):
    """(grad_x, grad_weight, grad_bias) with the mean and variance treated as constants."""
    x, g = _d(x), _d(grad_out)
    mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, correction=0)
    rstd = 1 / (var + eps).sqrt()
    x_hat = (x - mean) * rstd
    rows = x.shape[-1]
    return [
        (
            MISTAKE["backward-stats-constant"],
            (g * _d(weight) * rstd, (g * x_hat).reshape(-1, rows).sum(0), g.reshape(-1, rows).sum(0)),
        )
    ]


@recorded(lazy=True)
def rms_norm_mistakes(x, weight, eps):
    """rms_norm of x minus its mean."""
    centred = _d(x) - _d(x).mean(-1, keepdim=True)
    prediction = centred / ((centred * centred).mean(-1, keepdim=True) + eps).sqrt() * _d(weight)
    return [(MISTAKE["rms-subtracts-mean"], prediction)]


@recorded(lazy=True)
def positions_mistakes(length, dim, base):
    """The positions in halves (sines first) and with the exponent i / dim."""
    right = _angles(torch.arange(length), dim, base)
    slow = _angles(torch.arange(length), dim, base, exponent_step=1)
    interleave = torch.stack([slow.sin(), slow.cos()], dim=-1).reshape(length, dim)
    halves = torch.cat([right.sin(), right.cos()], dim=-1)
    right_table = torch.stack([right.sin(), right.cos()], dim=-1).reshape(length, dim)
    return _differing(right_table, [("positions-in-halves", halves), ("positions-exponent-i-over-dim", interleave)])


@recorded(lazy=True)
def rope_mistakes(x, positions, base):
    """RoPE on the halves (GPT-NeoX), and rotated by -theta."""
    right = _rope_complex(x, positions, base)
    return _differing(
        right,
        [
            ("rope-halves", _rope_complex(x, positions, base, halves=True)),
            ("rope-wrong-direction", _rope_complex(x, -positions, base)),
        ],
    )


def _layer_predictions(run):
    """(mistake, run(mistake=..., norm_mistake=...)) for every mistake a layer can commit."""
    found = [(m, run(mistake=m)) for m in LAYER_MISTAKES]
    return found + [(nm[0], run(norm_mistake=nm)) for nm in NORM_MISTAKES]


@recorded(lazy=True)
def encoder_layer_mistakes(args):
    """encoder_layer(**args) under each layer and norm mistake."""
    a = dict(args)
    x, p, heads = a.pop("x"), a.pop("params"), a.pop("num_heads")
    right = _encoder(x, p, heads, **a)
    return _differing(right, _layer_predictions(lambda **m: _encoder(x, p, heads, **a, **m)))


@recorded(lazy=True)
def decoder_layer_mistakes(args):
    """decoder_layer(**args) under each layer, decoder and norm mistake."""
    a = dict(args)
    x, memory, p, heads = a.pop("x"), a.pop("memory"), a.pop("params"), a.pop("num_heads")
    right = _decoder(x, memory, p, heads, **a)
    found = _layer_predictions(lambda **m: _decoder(x, memory, p, heads, **a, **m))
    for m in DECODER_MISTAKES:
        mask = a.get("memory_mask")
        if m == "cross-attention-from-target" and mask is not None and x.shape[1] != memory.shape[1]:
            continue  # the (L, S) mask does not fit an (L, L) attention: that mistake raises an error
        found.append((m, _decoder(x, memory, p, heads, **a, mistake=m)))
    return _differing(right, found)


@recorded(lazy=True)
def transformer_mistakes(args):
    """transformer(**args) under each mistake, committed in the encoder layers, the decoder layers
    or both, and without either final norm."""
    right = _transformer(args)
    found = []
    for m in LAYER_MISTAKES:
        found += [(m, _transformer(args, m, where)) for where in ((True, False), (False, True), (True, True))]
    found += [(m, _transformer(args, m, (False, True))) for m in DECODER_MISTAKES]
    found += [(nm[0], _transformer(args, norm_mistake=nm)) for nm in NORM_MISTAKES]
    found += [("final-norm-missing", _transformer(args, final=f)) for f in ((False, True), (True, False))]
    return _differing(right, found)
