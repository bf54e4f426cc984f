"""Backprop's answer key (grader/answers.py): the chain rule in float64, with a switch that
commits each known mistake, so that a wrong output is named after the mistakes it matches. It is never
the oracle of a test (PyTorch autograd is). A class release ships its results for the public tests,
not this file.
"""

import torch
import torch.nn.functional as F

from grader.answers import recorded
from tests.backprop.mistakes import ACT_FNS, MISTAKE

# wrong output looks like; it is never the oracle of a test (PyTorch autograd is).

# variant -> the mistake it commits. A mistake may be made in more than one way.
VARIANTS = {
    "grad-x-transposed": "grad-x-transposed",
    "grad-weight-transposed": "grad-weight-transposed",
    "bias-raw": "bias-grad-not-summed",  # grad_bias = grad_out
    "bias-first-dim": "bias-grad-not-summed",  # summed over the first dimension only
    "bias-grad-averaged": "bias-grad-averaged",
    "tanh-of-y": "tanh-derivative-at-input",  # tanh_backward computes 1 - tanh(y)**2
    "tanh-at-z": "tanh-derivative-at-input",  # network_gradients passes z to tanh_backward
    "sigmoid-of-y": "sigmoid-derivative-at-input",
    "sigmoid-at-z": "sigmoid-derivative-at-input",
    "mse-grad-no-mean": "mse-grad-no-mean",
    "mse-grad-no-factor-2": "mse-grad-no-factor-2",
    "mse-divides-by-batch": "mse-divides-by-batch",
    "ce-no-max-shift": "ce-no-max-shift",
    "ce-grad-no-mean": "ce-grad-no-mean",
    "relu-inverted": "relu-passes-negative",
    "relu-no-mask": "relu-passes-negative",
    "relu-grad-at-zero": "relu-grad-at-zero",
    "layers-reversed": "layers-reversed",
}


def _rows(t):
    return t.reshape(-1, t.shape[-1]) if t.dim() else t.reshape(1, 1)


def predict_linear(grad_out, x, weight, variant=None):
    g, x, w = grad_out.double(), x.double(), weight.double()
    if variant == "grad-x-transposed":
        grad_x = g @ w.T if w.shape[0] == w.shape[1] else None
    else:
        grad_x = g @ w
    rows_g, rows_x = _rows(g), _rows(x)
    grad_w = rows_x.T @ rows_g if variant == "grad-weight-transposed" else rows_g.T @ rows_x
    if variant == "bias-raw":
        grad_b = g.clone()
    elif variant == "bias-first-dim":
        grad_b = g.sum(dim=0) if g.dim() > 1 else g.clone()
    elif variant == "bias-grad-averaged":
        grad_b = rows_g.mean(dim=0)
    else:
        grad_b = rows_g.sum(dim=0)
    return grad_x, grad_w, grad_b


def predict_relu(grad_out, x, variant=None):
    g, x = grad_out.double(), x.double()
    mask = {
        "relu-inverted": x < 0,
        "relu-no-mask": torch.ones_like(x, dtype=torch.bool),
        "relu-grad-at-zero": x >= 0,
    }.get(variant, x > 0)
    return torch.where(mask, g, torch.zeros_like(g))


def predict_tanh(grad_out, y, variant=None):
    g, y = grad_out.double(), y.double()
    return g * (1 - torch.tanh(y) ** 2) if variant == "tanh-of-y" else g * (1 - y * y)


def predict_sigmoid(grad_out, y, variant=None):
    g, y = grad_out.double(), y.double()
    if variant == "sigmoid-of-y":
        s = torch.sigmoid(y)
        return g * s * (1 - s)
    return g * y * (1 - y)


def predict_mse(pred, target, variant=None):
    diff = pred.double() - target.double()
    loss = diff.pow(2).mean()
    factor = {
        "mse-grad-no-mean": 2.0,
        "mse-grad-no-factor-2": 1.0 / diff.numel(),
        "mse-divides-by-batch": 2.0 / (diff.shape[0] if diff.dim() else 1),
    }
    return loss, diff * factor.get(variant, 2.0 / diff.numel())


def predict_ce(logits, target, variant=None):
    batch = logits.shape[0]
    onehot = F.one_hot(target.long(), logits.shape[1]).double()
    if variant == "ce-no-max-shift":  # in the logits' own dtype, to overflow where they would
        e = torch.exp(logits)
        total = e.sum(dim=1, keepdim=True)
        logp = (logits - torch.log(total)).double()
        loss = -logp.gather(1, target.long().reshape(-1, 1)).sum() / batch
        return loss, ((e / total).double() - onehot) / batch
    l = logits.double()
    logp = l - torch.logsumexp(l, dim=1, keepdim=True)
    loss = -logp.gather(1, target.long().reshape(-1, 1)).sum() / batch
    grad = logp.exp() - onehot
    return loss, grad if variant == "ce-grad-no-mean" else grad / batch


def predict_network(x, target, layers, loss="mse", variant=None):
    """(loss, grad_x, [grad_W], [grad_b]) with the chain rule in float64, committing `variant`.

    None when the variant cannot run on these shapes (a transposed product of non-square matrices).
    """
    try:
        h, saved = x.double(), []
        for layer in layers:
            z = h @ layer["weight"].double().T + layer["bias"].double()
            a = ACT_FNS[layer["activation"]](z)
            saved.append((h, z, a))
            h = a
        value, g = (
            predict_mse(h, target, variant)
            if loss == "mse"
            else predict_ce(h.to(x.dtype) if variant == "ce-no-max-shift" else h, target, variant)
        )
        gws, gbs = [], []
        for k in range(len(layers) - 1, -1, -1):
            kind, (inp, pre, out) = layers[k]["activation"], saved[k]
            if kind == "relu":
                g = predict_relu(g, pre, variant)
            elif kind == "tanh":
                g = predict_tanh(g, pre if variant == "tanh-at-z" else out, variant)
            elif kind == "sigmoid":
                g = predict_sigmoid(g, pre if variant == "sigmoid-at-z" else out, variant)
            g, gw, gb = predict_linear(g, inp, layers[k]["weight"], variant)
            if g is None:
                return None
            gws.append(gw)
            gbs.append(gb)
        if variant != "layers-reversed":
            gws, gbs = gws[::-1], gbs[::-1]
        return value, g, gws, gbs
    except RuntimeError:
        return None


PREDICT = {
    "linear": predict_linear,
    "relu": predict_relu,
    "tanh": predict_tanh,
    "sigmoid": predict_sigmoid,
    "mse": predict_mse,
    "ce": predict_ce,
    "network": predict_network,
}


def _pairs(predict, *args):
    found = []
    for variant, mistake in VARIANTS.items():
        try:
            prediction = predict(*args, variant=variant)
        except RuntimeError:  # a variant that cannot run on these shapes
            continue
        if prediction is not None:
            found.append((MISTAKE[mistake], prediction if isinstance(prediction, tuple) else (prediction,)))
    return found


@recorded(lazy=True)
def mistakes_of(kind, *args):
    """For check_outputs(near=...): (mistake, every output of `kind`'s backward under it) for each
    variant that runs on these inputs. `kind` is a key of PREDICT ("linear", "relu", "mse", ...).
    Lazy: computed only when a check has failed."""
    return _pairs(PREDICT[kind], *args)


@recorded(lazy=True)
def network_mistakes(x, target, layers, loss):
    """The same for network_gradients, each prediction flattened in the order check_network checks:
    the loss, then (grad_biases[i], grad_weights[i]) from the last layer to the first, then grad_x."""
    return [
        (m, (p[0], *[t for i in reversed(range(len(layers))) for t in (p[3][i], p[2][i])], p[1]))
        for m, p in _pairs(predict_network, x, target, layers, loss)
    ]
