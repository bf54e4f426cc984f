"""Oracles for the rnn suite.

- PyTorch itself, the primary oracle: `torch_cell` (nn.RNNCell / LSTMCell / GRUCell with the same
  weights copied in), `torch_layer` (one-layer nn.RNN / LSTM / GRU over a whole sequence) and
  `torch_bptt` (autograd through nn.RNN, for rnn_backward).
- `central_differences`: float64 central differences of the loss sum(grad_hs * hs), hs from nn.RNN.
- `predict_*`: each formula written out in float64, with a switch that reproduces each known
  mistake. They serve the hand-worked cases and name the mistake a wrong output looks like; they
  are never the only oracle.
"""

from __future__ import annotations

import itertools
import warnings

import torch
from torch import nn

from tests.rnn.mistakes import MISTAKE

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

# ---------------------------------------------------------------------------------------------------
# Inputs


def make_params(kind: str, inputs: int, hidden: int, dtype, seed: int, scale: float = 1.0) -> dict:
    """Weights and biases drawn as PyTorch initialises them, U(-1/sqrt(H), 1/sqrt(H)), times `scale`."""
    gen = torch.Generator().manual_seed(seed)
    rows, k = GATES[kind] * hidden, scale / hidden**0.5
    shapes = dict(weight_ih=(rows, inputs), weight_hh=(rows, hidden), bias_ih=(rows,), bias_hh=(rows,))
    return {
        name: ((torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * k).to(dtype)
        for name, shape in shapes.items()
    }


def randn(shape, dtype, seed: int, scale: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def clones(params: dict) -> dict:
    return {k: v.clone() for k, v in params.items()}


# ---------------------------------------------------------------------------------------------------
# PyTorch


def _load(module, params: dict, suffix: str = ""):
    with torch.no_grad():
        for name, value in params.items():
            getattr(module, name + suffix).copy_(value)
    return module


def torch_cell(kind: str, x, h, params: dict, c=None):
    """nn.RNNCell / nn.GRUCell: h_next; nn.LSTMCell: (h_next, c_next)."""
    cell = _load(_CELLS[kind](x.shape[1], h.shape[1], dtype=x.dtype), params)
    with torch.no_grad():
        return cell(x, (h, c)) if kind == "lstm" else cell(x, h)


def torch_layer(kind: str, xs, h0, params: dict, c0=None):
    """A one-layer nn.RNN / nn.GRU over xs (T, B, I): every hidden state (T, B, H).
    nn.LSTM: (every hidden state, the last cell state (B, H))."""
    layer = _load(_LAYERS[kind](xs.shape[2], h0.shape[1], dtype=xs.dtype), params, "_l0")
    with torch.no_grad():
        if kind == "lstm":
            # The oneDNN LSTM kernel (float32) takes 0.2 s to start in a process; the native kernel
            # computes the same function at once. (Turning it off warns about TF32, irrelevant here.)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with torch.backends.mkldnn.flags(enabled=False):
                    out, (_, c_last) = layer(xs, (h0[None], c0[None]))
            return out, c_last[0]
        return layer(xs, h0[None])[0]


def torch_bptt(grad_hs, xs, h0, params: dict):
    """(hs, the six gradients of rnn_backward) by autograd through nn.RNN.

    The loss is sum(grad_hs * hs), whose gradient with respect to hs is grad_hs. (A scalar
    backward: `hs.backward(grad_hs)` gives the same numbers but its first call in a process
    imports torch's symbolic-shape machinery, about 0.3 s.)
    """
    layer = _load(nn.RNN(xs.shape[2], h0.shape[1], dtype=xs.dtype), params, "_l0")
    xs_ = xs.detach().clone().requires_grad_(True)
    h0_ = h0.detach().clone().requires_grad_(True)
    hs = layer(xs_, h0_[None])[0]
    (hs * grad_hs).sum().backward()
    grads = (
        xs_.grad,
        h0_.grad,
        layer.weight_ih_l0.grad,
        layer.weight_hh_l0.grad,
        layer.bias_ih_l0.grad,
        layer.bias_hh_l0.grad,
    )
    return hs.detach(), tuple(g.detach() for g in grads)


def central_differences(grad_hs, xs, h0, params: dict, step: float = 1e-6):
    """The six gradients of L = sum(grad_hs * hs), hs = nn.RNN(xs, h0), by float64 central
    differences (L(p + step) - L(p - step)) / (2 step), one element at a time."""
    f64 = torch.float64
    layer = _load(nn.RNN(xs.shape[2], h0.shape[1], dtype=f64), {k: v.double() for k, v in params.items()}, "_l0")
    xs, h0, g = xs.double().clone(), h0.double().clone(), grad_hs.double()
    tensors = [xs, h0, layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0]
    grads = []
    with torch.no_grad():

        def loss() -> float:
            return float((layer(xs, h0[None])[0] * g).sum())

        for tensor in tensors:
            grad = torch.zeros(tensor.shape, dtype=f64)
            flat, gflat = tensor.view(-1), grad.view(-1)
            for k in range(flat.numel()):
                old = float(flat[k])
                flat[k] = old + step
                up = loss()
                flat[k] = old - step
                down = loss()
                flat[k] = old
                gflat[k] = (up - down) / (2 * step)
            grads.append(grad)
    return tuple(grads)


# ---------------------------------------------------------------------------------------------------
# The formulas, with the known mistakes (float64, except the overflow mistake, which needs the
# learner's dtype to overflow where the learner's code does)


def _sigmoid(a, naive=False):
    return torch.exp(a) / (1 + torch.exp(a)) if naive else torch.sigmoid(a)


def _tanh(a, naive=False):
    return (torch.exp(2 * a) - 1) / (torch.exp(2 * a) + 1) if naive else torch.tanh(a)


def _work(mistake, *tensors):
    """The tensors in the dtype the prediction is computed in."""
    if mistake == "overflowing-activation":
        return tuple(t.detach() for t in tensors)
    return tuple(t.detach().double() for t in tensors)


def _bias_variants(b_ih, b_hh, mistake):
    zero = torch.zeros_like
    if mistake == "bias-missing":
        return [(zero(b_ih), b_hh), (b_ih, zero(b_hh)), (zero(b_ih), zero(b_hh))]
    if mistake == "bias-twice":
        return [(b_ih, b_ih), (b_hh, b_hh)]
    return [(b_ih, b_hh)]


def rnn_cells(weight_ih, weight_hh, bias_ih, bias_hh, mistake=None, dtype=torch.float64):
    """One function (x, h) -> h_next per way of making `mistake` in rnn_step (one when None)."""
    w_ih, w_hh, b_ih, b_hh = _work(mistake, weight_ih, weight_hh, bias_ih, bias_hh)
    naive = mistake == "overflowing-activation"
    act = (lambda a: a) if mistake == "tanh-missing" else (lambda a: _tanh(a, naive))
    weights = [(w_ih.T, w_hh.T)]
    if mistake == "weight-transpose":
        weights = [(w_ih.T, w_hh)] + ([(w_ih, w_hh.T), (w_ih, w_hh)] if w_ih.shape[0] == w_ih.shape[1] else [])
    cells = []
    for (a_ih, a_hh), (c_ih, c_hh) in itertools.product(weights, _bias_variants(b_ih, b_hh, mistake)):
        cells.append(lambda x, h, a_ih=a_ih, a_hh=a_hh, c_ih=c_ih, c_hh=c_hh: act(x @ a_ih + c_ih + h @ a_hh + c_hh))
    return cells


def predict_rnn_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh, mistake=None):
    """h_next as rnn_step computes it, or every variant of `mistake` (a list)."""
    x, h = _work(mistake, x, h)
    return [cell(x, h) for cell in rnn_cells(weight_ih, weight_hh, bias_ih, bias_hh, mistake)]


def predict_rnn_forward(xs, h0, weight_ih, weight_hh, bias_ih, bias_hh, mistake=None):
    """hs (T, B, H) as rnn_forward computes it, or every variant of `mistake` (a list)."""
    xs, h0 = _work(mistake, xs, h0)
    if mistake == "wrong-previous-state":
        cell = rnn_cells(weight_ih, weight_hh, bias_ih, bias_hh)[0]
        right = predict_rnn_forward(xs, h0, weight_ih, weight_hh, bias_ih, bias_hh)[0]
        return [
            torch.stack([cell(x, h0) for x in xs]),  # every step from h0
            torch.cat([h0[None], right[:-1]]),
        ]  # the states before each step, not after
    out = []
    for cell in rnn_cells(weight_ih, weight_hh, bias_ih, bias_hh, mistake):
        h, states = h0, []
        for x in xs:
            h = cell(x, h)
            states.append(h)
        out.append(torch.stack(states))
    return out


def _bptt(
    g, xs, hs, h0, w_ih, w_hh, carry=True, deriv="all", prev="right", back_hh="right", grad_hh="right", back_ih="right"
):
    h_prev = hs if prev == "wrong" else torch.cat([h0[None], hs[:-1]])
    da = torch.zeros_like(hs)
    c = torch.zeros_like(h0)
    back = w_hh.T if back_hh == "transposed" else w_hh
    for t in range(len(xs) - 1, -1, -1):
        dh = g[t] + (c if carry else 0)
        da[t] = dh if deriv == "none" else dh * (1 - hs[t] * hs[t])
        c = (dh if deriv == "carry" else da[t]) @ back
    gx = da @ (w_ih.T if back_ih == "transposed" else w_ih)
    flat = da.reshape(-1, da.shape[-1])
    g_ih = flat.T @ xs.reshape(-1, xs.shape[-1])
    g_hh = flat.T @ h_prev.reshape(-1, h_prev.shape[-1])
    if grad_hh == "transposed":
        g_hh = g_hh.T
    if back_ih == "transposed":
        g_ih = g_ih.T
    gb = flat.sum(0)
    return gx, c, g_ih, g_hh, gb, gb


def predict_rnn_backward(grad_hs, xs, hs, h0, weight_ih, weight_hh, mistake=None):
    """The six outputs of rnn_backward in float64, or every variant of `mistake` (a list of 6-tuples)."""
    args = _work(None, grad_hs, xs, hs, h0, weight_ih, weight_hh)
    variants = {
        None: [{}],
        "bptt-no-carry": [dict(carry=False)],
        "bptt-no-tanh-derivative": [dict(deriv="none"), dict(deriv="carry")],
        "wrong-previous-state": [dict(prev="wrong")],
        "weight-transpose": [
            dict(back_hh="transposed"),
            dict(grad_hh="transposed"),
            dict(back_hh="transposed", grad_hh="transposed"),
        ]
        + ([dict(back_ih="transposed")] if weight_ih.shape[0] == weight_ih.shape[1] else []),
    }.get(mistake, [])
    return [_bptt(*args, **v) for v in variants]


def predict_lstm_step(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, mistake=None):
    """(h_next, c_next) as lstm_step computes them, or every variant of `mistake` (a list)."""
    x, h, c, w_ih, w_hh = _work(mistake, x, h, c, weight_ih, weight_hh)
    naive = mistake == "overflowing-activation"
    orders = [(0, 1, 2, 3)]
    if mistake == "lstm-gate-order":
        orders = [p for p in itertools.permutations(range(4)) if p != (0, 1, 2, 3)]
    out = []
    for (b_ih, b_hh), order in itertools.product(_bias_variants(*_work(mistake, bias_ih, bias_hh), mistake), orders):
        chunks = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=1)
        i, f, g, o = (chunks[k] for k in order)
        i, f, g, o = _sigmoid(i, naive), _sigmoid(f, naive), _tanh(g, naive), _sigmoid(o, naive)
        c_next = f * (h if mistake == "lstm-cell-from-h" else c) + i * g
        out.append((o * _tanh(c_next, naive), c_next))
    return out


def predict_gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh, mistake=None):
    """h_next as gru_step computes it, or every variant of `mistake` (a list)."""
    x, h, w_ih, w_hh, bias_ih, bias_hh = _work(mistake, x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    naive = mistake == "overflowing-activation"
    hidden = h.shape[1]
    orders = [(0, 1, 2)]
    if mistake == "gru-gate-order":
        orders = [p for p in itertools.permutations(range(3)) if p != (0, 1, 2)]
    biases = _bias_variants(bias_ih, bias_hh, mistake)
    if mistake == "bias-missing":  # b_hn alone forgotten
        biases.append((bias_ih, torch.cat([bias_hh[: 2 * hidden], torch.zeros_like(bias_hh[2 * hidden :])])))
    out = []
    for (b_ih, b_hh), order in itertools.product(biases, orders):
        gi = [(x @ w_ih.T + b_ih).chunk(3, dim=1)[k] for k in order]
        gh = [(h @ w_hh.T + b_hh).chunk(3, dim=1)[k] for k in order]
        r = _sigmoid(gi[0] + gh[0], naive)
        z = _sigmoid(gi[1] + gh[1], naive)
        w_hn = w_hh.chunk(3, dim=0)[order[2]]
        b_hn = b_hh.chunk(3, dim=0)[order[2]]
        if mistake == "gru-reset-before-matmul":
            hidden_part = (r * h) @ w_hn.T + b_hn
        elif mistake == "gru-bias-outside-reset":
            hidden_part = r * (h @ w_hn.T) + b_hn
        else:
            hidden_part = r * gh[2]
        n = _tanh(gi[2] + hidden_part, naive)
        out.append(z * n + (1 - z) * h if mistake == "gru-update-reversed" else (1 - z) * n + z * h)
    return out


# The mistakes each prediction can reproduce.
STEP_MISTAKES = {
    "rnn": ["tanh-missing", "bias-missing", "bias-twice", "weight-transpose", "overflowing-activation"],
    "lstm": ["lstm-gate-order", "lstm-cell-from-h", "bias-missing", "bias-twice", "overflowing-activation"],
    "gru": [
        "gru-reset-before-matmul",
        "gru-update-reversed",
        "gru-gate-order",
        "gru-bias-outside-reset",
        "bias-missing",
        "bias-twice",
        "overflowing-activation",
    ],
}
FORWARD_MISTAKES = STEP_MISTAKES["rnn"] + ["wrong-previous-state"]
BACKWARD_MISTAKES = ["bptt-no-carry", "bptt-no-tanh-derivative", "wrong-previous-state", "weight-transpose"]
_PREDICT = {
    "rnn": predict_rnn_step,
    "lstm": predict_lstm_step,
    "gru": predict_gru_step,
    "forward": predict_rnn_forward,
    "backward": predict_rnn_backward,
}
_MISTAKES = {**STEP_MISTAKES, "forward": FORWARD_MISTAKES, "backward": BACKWARD_MISTAKES}


def near_misses(what: str, inputs: dict, which: int | None = None, at=None):
    """A function giving (Mistake, predicted output) pairs for check_tensor's `near`.

    `what`: "rnn", "lstm", "gru" (one step), "forward" or "backward". `which` picks one output of a
    tuple (lstm: 0 h_next, 1 c_next; backward: 0..5); `at` indexes the prediction (one time step
    of a sequence). Lazy: the predictions are computed only when a comparison has failed.
    """

    def pairs():
        out = []
        for name in _MISTAKES[what]:
            seen = []  # variants that give the same numbers (two gates alike) are named once
            for pred in _PREDICT[what](**inputs, mistake=name):
                value = pred if which is None else pred[which]
                value = value if at is None else value[at]
                if not any(v.shape == value.shape and torch.equal(v, value) for v in seen):
                    seen.append(value)
                    out.append((MISTAKE[name], value))
        return out

    return pairs


# ---------------------------------------------------------------------------------------------------
# Tolerances, stated once with their reasons (`python -m tests.rnn.margins` measures how much of
# them the reference and the correct alternatives of mutants.py use).

# float64, one step or a whole sequence against PyTorch: both sides round at 1e-16 relative; a sum of
# I + H products and 60 steps of a contracting recurrence stay below 1e-14 on values of order 1.
TOL64 = dict(rtol=1e-10, atol=1e-12)
# float32, one cell step: each pre-activation is a sum of I + H + 2 products rounded at 6e-8
# relative, so a correct step computed in another order (or in float64 and rounded once) may
# differ from PyTorch's by a few 1e-7 on values of order 1; tanh and the sigmoid do not amplify it.
TOL32_STEP = dict(rtol=1e-5, atol=1e-5)


def tol_sequence(dtype, steps: int) -> dict:
    """A whole sequence of `steps` steps: the rounding of each step is carried into the next ones
    (damped by the tanh and the contracting weights), so float32 allows 1e-5 per 10 steps."""
    if dtype == torch.float64:
        return TOL64
    grow = max(1.0, steps / 10)
    return dict(rtol=TOL32_STEP["rtol"] * grow, atol=TOL32_STEP["atol"] * grow)


def tol_backward(dtype, steps: int, scale: float = 1.0) -> dict:
    """Gradients of rnn_backward against autograd. They are sums over T * B terms of size `scale`
    (the largest |gradient|): float64 allows 1e-10 relative, float32 1e-5 per 10 steps."""
    if dtype == torch.float64:
        return dict(rtol=1e-10, atol=1e-12 * max(1.0, scale))
    grow = max(1.0, steps / 10) * 1e-5
    return dict(rtol=grow, atol=grow * max(1.0, scale))


# Central differences in float64 with step 1e-6: truncation error about step**2 * |L'''| (1e-12)
# and rounding about 1e-16 * |L| / step (1e-10 for |L| ~ 1); 1e-6 leaves a wide margin and is far
# below the size of any known mistake on the tiny cases used (0.01 or more).
TOL_CENTRAL = dict(rtol=1e-6, atol=1e-6)
