"""Oracles for the backprop suite.

- `autograd_*`: PyTorch autograd on the same computation (torch.nn.functional and torch.autograd),
  in the dtype of the inputs: the primary oracle.
- `central_differences`: float64 central differences of the network's loss, for small cases.
- `predict_*`: the chain rule written out in float64, with a switch that reproduces each known
  mistake. It only names the mistake a wrong output looks like; it is never the oracle of a test.
- random networks and tolerances, each tolerance with its reason.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tests.backprop.mistakes import MISTAKE

f64 = torch.float64


# ---------------------------------------------------------------------------------------------------
# Tolerances, stated once with their reasons.
#
# Gradients are sums of products: a correct implementation may sum in another order, or compute in
# float64 and round once, so outputs differ from autograd by rounding errors of the size of the
# largest TERMS, which for an element that cancels to nearly zero is far above its own size. So the
# absolute part of every tolerance is relative to `scale`, the largest |value| of that output.
# float64: rounding is 1.1e-16 per operation; depth 5, widths up to 32 and a few hundred terms per
#   sum stay below 1e-13 relative. 1e-10 leaves room and still sees every mistake (all O(1)).
# float32: rounding is 6e-8 per operation; the same chains reach a few 1e-6 relative to the scale
#   (`python -m tests.backprop.margins` measures the reference and the alternatives of mutants.py).
#   1e-4 relative to the scale plus 1e-4 relative to each value.
# Exact: ReLU's backward selects values and never rounds; hand cases in binary fractions are exact.
TOL64 = dict(rtol=1e-10, atol=1e-10)
TOL32 = dict(rtol=1e-4, atol=1e-4)
EXACT = dict(rtol=0.0, atol=0.0)
# Central differences with step H in float64: truncation error ~ H**2 * |f'''| (1e-12) plus
# cancellation ~ 1e-16 * |f| / H (1e-10 for |f| of order 1): 1e-6 relative plus 1e-7 absolute.
H = 1e-6
TOL_FD = dict(rtol=1e-6, atol=1e-7)


def tol(dtype, scale: float = 1.0) -> dict:
    """The tolerance for an output of `dtype` whose largest |value| is `scale`."""
    base = TOL64 if dtype == f64 else TOL32
    return dict(rtol=base["rtol"], atol=base["atol"] * max(float(scale), 1e-30))


# Cross-entropy on huge logits: the logits themselves are known only to eps * |logit| (6e-4 for 1e4
# in float32), and a correct implementation may round there (logits - logsumexp(logits), with
# logsumexp about 1e4). So the loss may be off by a few eps * max|logit| in absolute terms, and each
# probability by as much relatively. 8 * eps * max|logit| covers it (9.5e-3 for 1e4 in float32,
# 2e-11 for 1e4 in float64) while a missing 1/B or an overflow stays far outside.
def tol_logits(dtype, logits: torch.Tensor, scale: float, what: str) -> dict:
    """Tolerance for cross-entropy's `what` ("loss" or "grad") of largest |value| `scale`."""
    base = tol(dtype, scale)
    slack = 8 * torch.finfo(dtype).eps * scale_of(logits)
    extra = slack if what == "loss" else slack * max(float(scale), 1e-30)
    return dict(rtol=base["rtol"], atol=base["atol"] + extra)


def scale_of(t: torch.Tensor) -> float:
    return float(t.detach().abs().max()) if t.numel() else 1.0


# ---------------------------------------------------------------------------------------------------
# Random inputs

ACT_FNS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda z: z}


def randn(shape, gen, dtype=f64, scale=1.0):
    return (torch.randn(shape, generator=gen, dtype=f64) * scale).to(dtype)


def make_network(widths, activations, batch, dtype=f64, loss="mse", seed=0, margin=0.0):
    """x, target and layers of a random network with `widths` = [in, h1, ..., out].

    Weights are scaled by 1/sqrt(fan_in) (activations stay of order 1). With `margin` > 0, draws
    again (next seed) until every ReLU pre-activation is at least `margin` away from 0, so that
    central differences never step across a kink.
    """
    for attempt in range(100):
        gen = torch.Generator().manual_seed(1000 * seed + attempt)
        x = randn((batch, widths[0]), gen, dtype)
        layers = []
        for k, act in enumerate(activations):
            fan_in, fan_out = widths[k], widths[k + 1]
            layers.append({"weight": randn((fan_out, fan_in), gen, dtype, 1.5 / fan_in ** 0.5),
                           "bias": randn((fan_out,), gen, dtype, 0.5), "activation": act})
        if loss == "mse":
            target = randn((batch, widths[-1]), gen, dtype)
        else:
            target = torch.randint(0, widths[-1], (batch,), generator=gen)
        if margin <= 0 or min_relu_margin(x, layers) >= margin:
            return x, target, layers
    raise RuntimeError("no random network with ReLU inputs away from 0; choose another seed")


def forward(x, layers):
    """The network's output, and the pre-activations of every layer (plain torch, no learner code)."""
    h, zs = x, []
    for layer in layers:
        z = F.linear(h, layer["weight"], layer["bias"])
        zs.append(z)
        h = ACT_FNS[layer["activation"]](z)
    return h, zs


def min_relu_margin(x, layers) -> float:
    _, zs = forward(x.double(), [dict(l, weight=l["weight"].double(), bias=l["bias"].double())
                                 for l in layers])
    margins = [float(z.abs().min()) for z, l in zip(zs, layers) if l["activation"] == "relu"]
    return min(margins, default=float("inf"))


def loss_value(out, target, loss):
    return F.mse_loss(out, target) if loss == "mse" else F.cross_entropy(out, target)


def copy_layers(layers):
    """Fresh copies of the layer dicts (the learner never gets the tensors the oracle keeps)."""
    return [{"weight": l["weight"].clone(), "bias": l["bias"].clone(), "activation": l["activation"]}
            for l in layers]


def describe_network(x, layers, loss) -> str:
    dims = [x.shape[-1]] + [l["weight"].shape[0] for l in layers]
    acts = ", ".join(l["activation"] for l in layers)
    return (f"{str(x.dtype).replace('torch.', '')}, batch {x.shape[0]}, widths {dims}, "
            f"activations [{acts}], loss {loss!r}")


# ---------------------------------------------------------------------------------------------------
# PyTorch autograd (the oracle)


def autograd_network(x, target, layers, loss="mse", dtype=None):
    """(loss, grad_x, [grad_W], [grad_b]) by autograd, computed in `dtype` (default: x's dtype)."""
    dtype = dtype or x.dtype
    leaf = lambda t: t.detach().to(dtype).clone().requires_grad_(True)  # noqa: E731
    xs = leaf(x)
    ws = [leaf(l["weight"]) for l in layers]
    bs = [leaf(l["bias"]) for l in layers]
    out, _ = forward(xs, [dict(l, weight=w, bias=b) for l, w, b in zip(layers, ws, bs)])
    t = target.to(dtype) if loss == "mse" else target
    value = loss_value(out, t, loss)
    grads = torch.autograd.grad(value, [xs, *ws, *bs])
    n = len(layers)
    return value.detach(), grads[0], list(grads[1:1 + n]), list(grads[1 + n:])


def _vjp_scalar(y, grad_out):
    """sum(y * grad_out): its gradient is exactly the vector-Jacobian product with grad_out (the
    backward of the sum gives ones, of the product grad_out * 1). Used instead of passing
    grad_outputs to torch.autograd.grad, whose first call imports sympy (~0.3 s in torch 2.13)."""
    return (y * grad_out.detach()).sum()


def autograd_linear(grad_out, x, weight):
    """(grad_x, grad_weight, grad_bias) of F.linear by autograd."""
    xs, w = x.detach().clone().requires_grad_(True), weight.detach().clone().requires_grad_(True)
    b = torch.zeros(weight.shape[0], dtype=weight.dtype, requires_grad=True)
    y = F.linear(xs, w, b)
    return torch.autograd.grad(_vjp_scalar(y, grad_out), [xs, w, b])


def autograd_activation(name, grad_out, x):
    """(output, grad_x) of torch.relu / torch.tanh / torch.sigmoid at x, by autograd."""
    xs = x.detach().clone().requires_grad_(True)
    y = ACT_FNS[name](xs)
    (g,) = torch.autograd.grad(_vjp_scalar(y, grad_out), [xs])
    return y.detach(), g


def autograd_loss(name, pred, target):
    """(loss, grad_pred) of F.mse_loss or F.cross_entropy (mean reductions) by autograd."""
    p = pred.detach().clone().requires_grad_(True)
    value = loss_value(p, target, name)
    (g,) = torch.autograd.grad(value, [p])
    return value.detach(), g


# ---------------------------------------------------------------------------------------------------
# Central differences (float64)


def central_differences(x, target, layers, loss="mse", h=H):
    """(grad_x, [grad_W], [grad_b]) of the loss by central differences, one coordinate at a time."""
    x = x.double()
    layers = [dict(l, weight=l["weight"].double(), bias=l["bias"].double()) for l in layers]
    target = target.double() if loss == "mse" else target

    def f():
        return float(loss_value(forward(x, layers)[0], target, loss))

    def grad_of(t):
        g = torch.zeros_like(t)
        flat, gflat = t.view(-1), g.view(-1)
        for i in range(flat.numel()):
            keep = float(flat[i])
            flat[i] = keep + h
            up = f()
            flat[i] = keep - h
            down = f()
            flat[i] = keep
            gflat[i] = (up - down) / (2 * h)
        return g

    with torch.no_grad():
        return (grad_of(x), [grad_of(l["weight"]) for l in layers], [grad_of(l["bias"]) for l in layers])


# ---------------------------------------------------------------------------------------------------
# The chain rule with known mistakes (names near misses; never the oracle)

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
    mask = {"relu-inverted": x < 0, "relu-no-mask": torch.ones_like(x, dtype=torch.bool),
            "relu-grad-at-zero": x >= 0}.get(variant, x > 0)
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
    factor = {"mse-grad-no-mean": 2.0, "mse-grad-no-factor-2": 1.0 / diff.numel(),
              "mse-divides-by-batch": 2.0 / (diff.shape[0] if diff.dim() else 1)}
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
        value, g = predict_mse(h, target, variant) if loss == "mse" else predict_ce(
            h.to(x.dtype) if variant == "ce-no-max-shift" else h, target, variant)
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


class Near:
    """Lazy `near=` arguments for check_tensor: the predictions of `predict(*args, variant=v)` for
    every variant, computed once on the first failure and shared by the outputs of one call."""

    def __init__(self, predict, *args, variants=tuple(VARIANTS)):
        self._predict, self._args, self._variants = predict, args, variants
        self._cache = None

    def _all(self):
        if self._cache is None:
            self._cache = {}
            for v in (None, *self._variants):
                try:
                    self._cache[v] = self._predict(*self._args, variant=v)
                except RuntimeError:  # a variant that cannot run on these shapes
                    self._cache[v] = None
        return self._cache

    def of(self, pick):
        """The near= function for the output `pick(prediction)` selects (an index, or a function)."""
        select = pick if callable(pick) else (lambda out: out[pick])

        def pick_from(prediction):
            try:
                return select(prediction) if prediction is not None else None
            except (IndexError, TypeError):
                return None

        def pairs():
            predictions = self._all()
            correct = pick_from(predictions[None])
            found = []
            for v in self._variants:
                p = pick_from(predictions[v])
                # A variant that changes nothing in this output (no tanh layer, say) names nothing.
                if isinstance(p, torch.Tensor) and not (
                        isinstance(correct, torch.Tensor) and p.shape == correct.shape
                        and torch.equal(p, correct)):
                    found.append((MISTAKE[VARIANTS[v]], p))
            return found
        return pairs
