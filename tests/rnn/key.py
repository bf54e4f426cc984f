"""rnn's answer key (grader/answers.py): the cells, the sequence and backpropagation through time
written out in float64, with a switch that commits each known mistake, so that a wrong output is
named after the mistakes it matches. It is never the oracle of a test (PyTorch is). A class release
ships its results for the public tests, not this file.

Each function gives (mistake, prediction) pairs for check_outputs(near=...): a prediction is the
tuple of every output of one call, cast to the inputs' dtype (the dtype it is compared in). A
mistake that can be made in several ways (either bias dropped, or both) gives one pair per way.
"""

import itertools

import torch

from grader.answers import recorded
from tests.rnn.mistakes import MISTAKE

ANY_CELL = ["bias-missing", "bias-twice", "overflowing-activation"]  # mistakes every cell can make
CELL_MISTAKES = {
    "rnn": ["tanh-missing", "weight-transpose", *ANY_CELL],
    "lstm": ["lstm-gate-order", "lstm-cell-from-h", *ANY_CELL],
    "gru": ["gru-reset-before-matmul", "gru-update-reversed", "gru-gate-order", "gru-bias-outside-reset", *ANY_CELL],
}
FORWARD_MISTAKES = [*CELL_MISTAKES["rnn"], "wrong-previous-state"]
# The ways of each mistake in rnn_backward, as switches of _bptt.
BACKWARD_WAYS = {
    "bptt-no-carry": [dict(carry=False)],
    "bptt-no-tanh-derivative": [dict(deriv="none"), dict(deriv="carry")],  # everywhere, or in the carry
    "wrong-previous-state": [dict(h_prev_is_h=True)],
    "weight-transpose": [dict(back_t=True), dict(grad_hh_t=True), dict(back_t=True, grad_hh_t=True), dict(ih_t=True)],
}


def _work(mistake, *tensors):
    """The tensors in float64, or as given for an overflowing activation (to overflow where the
    learner's dtype does)."""
    keep = mistake == "overflowing-activation"
    return tuple(t if t is None or keep else t.double() for t in tensors)


def _activations(mistake):
    """The (sigmoid, tanh) pairs used: torch's, or for an overflowing activation each way of writing
    one or both with exp."""
    if mistake != "overflowing-activation":
        return [(torch.sigmoid, torch.tanh)]
    sigmoid, tanh = (
        (lambda a: torch.exp(a) / (1 + torch.exp(a))),
        (lambda a: (torch.exp(2 * a) - 1) / (torch.exp(2 * a) + 1)),
    )
    return [(sigmoid, tanh), (sigmoid, torch.tanh), (torch.sigmoid, tanh)]


def _biases(b_ih, b_hh, mistake):
    """(bias_ih, bias_hh) as used: both once, or each way of dropping one or doubling one."""
    zero = torch.zeros_like
    if mistake == "bias-missing":
        return [(zero(b_ih), b_hh), (b_ih, zero(b_hh)), (zero(b_ih), zero(b_hh))]
    if mistake == "bias-twice":
        return [(b_ih, b_ih), (b_hh, b_hh)]
    return [(b_ih, b_hh)]


def _orders(gates, mistake):
    """The orders the gate blocks are taken in: PyTorch's, or every other one for a gate-order mistake."""
    right = tuple(range(gates))
    return [p for p in itertools.permutations(right) if p != right] if mistake.endswith("gate-order") else [right]


def _rnn_cells(w_ih, w_hh, b_ih, b_hh, mistake=""):
    """One function (x, h) -> h_next per way rnn_step makes `mistake` (the right one for "")."""
    act = (lambda a: a) if mistake == "tanh-missing" else _activations(mistake)[0][1]
    weights = [(w_ih.T, w_hh.T)]
    if mistake == "weight-transpose":  # W_ih the wrong way round only multiplies when square
        weights = [(w_ih.T, w_hh)] + ([(w_ih, w_hh.T), (w_ih, w_hh)] if w_ih.shape[0] == w_ih.shape[1] else [])
    return [
        lambda x, h, a=a, b=b, c=c, d=d: act(x @ a + c + h @ b + d)
        for (a, b), (c, d) in itertools.product(weights, _biases(b_ih, b_hh, mistake))
    ]


def _lstm(mistake, x, h, c, w_ih, w_hh, b_ih, b_hh):
    out = []
    for (bi, bh), order, (sigmoid, tanh) in itertools.product(
        _biases(b_ih, b_hh, mistake), _orders(4, mistake), _activations(mistake)
    ):
        chunks = (x @ w_ih.T + bi + h @ w_hh.T + bh).chunk(4, dim=1)
        i, f, g, o = (chunks[k] for k in order)
        c_next = sigmoid(f) * (h if mistake == "lstm-cell-from-h" else c) + sigmoid(i) * tanh(g)
        out.append((sigmoid(o) * tanh(c_next), c_next))
    return out


def _gru(mistake, x, h, w_ih, w_hh, b_ih, b_hh):
    hidden = h.shape[1]
    biases = _biases(b_ih, b_hh, mistake)
    if mistake == "bias-missing":  # b_hn alone forgotten
        biases.append((b_ih, torch.cat([b_hh[: 2 * hidden], torch.zeros_like(b_hh[2 * hidden :])])))
    out = []
    for (bi, bh), order, (sigmoid, tanh) in itertools.product(biases, _orders(3, mistake), _activations(mistake)):
        gi = [(x @ w_ih.T + bi).chunk(3, dim=1)[k] for k in order]
        gh = [(h @ w_hh.T + bh).chunk(3, dim=1)[k] for k in order]
        r, z = sigmoid(gi[0] + gh[0]), sigmoid(gi[1] + gh[1])
        w_hn, b_hn = w_hh.chunk(3, dim=0)[order[2]], bh.chunk(3, dim=0)[order[2]]
        if mistake == "gru-reset-before-matmul":
            hidden_part = (r * h) @ w_hn.T + b_hn
        elif mistake == "gru-bias-outside-reset":
            hidden_part = r * (h @ w_hn.T) + b_hn
        else:
            hidden_part = r * gh[2]
        n = tanh(gi[2] + hidden_part)
        out.append((z * n + (1 - z) * h if mistake == "gru-update-reversed" else (1 - z) * n + z * h,))
    return out


def _cell(kind, mistake, x, h, weight_ih, weight_hh, bias_ih, bias_hh, c=None):
    """Every way <kind>_step makes `mistake`: a list of output tuples."""
    x, h, c, *weights = _work(mistake, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)
    if kind == "lstm":
        return _lstm(mistake, x, h, c, *weights)
    if kind == "gru":
        return _gru(mistake, x, h, *weights)
    return [(cell(x, h),) for cell in _rnn_cells(*weights, mistake)]


def _run(cell, xs, h0):
    """hs (T, B, H): `cell` applied along xs from h0."""
    hs, h = [], h0
    for x in xs:
        h = cell(x, h)
        hs.append(h)
    return torch.stack(hs)


def _forward(mistake, xs, h0, *weights):
    """Every way rnn_forward makes `mistake`: a list of (hs,)."""
    xs, h0, *weights = _work(mistake, xs, h0, *weights)
    if mistake == "wrong-previous-state":
        cell = _rnn_cells(*weights)[0]
        every_step_from_h0 = torch.stack([cell(x, h0) for x in xs])
        states_before_each_step = torch.cat([h0[None], _run(cell, xs, h0)[:-1]])
        return [(every_step_from_h0,), (states_before_each_step,)]
    return [(_run(cell, xs, h0),) for cell in _rnn_cells(*weights, mistake)]


def _bptt(
    g, xs, hs, h0, w_ih, w_hh, carry=True, deriv="all", h_prev_is_h=False, back_t=False, grad_hh_t=False, ih_t=False
):
    """rnn_backward's six outputs, with switches for its mistakes: no carry; the tanh derivative
    nowhere ("none") or not in the carry ("carry"); hs[t] as step t's previous state; the carry
    through weight_hh.T; grad_weight_hh transposed; weight_ih the wrong way round (square only)."""
    if ih_t and w_ih.shape[0] != w_ih.shape[1]:
        return None
    h_prev = hs if h_prev_is_h else torch.cat([h0[None], hs[:-1]])
    da, c = torch.zeros_like(hs), torch.zeros_like(h0)
    for t in range(len(xs) - 1, -1, -1):
        dh = g[t] + (c if carry else 0)
        da[t] = dh if deriv == "none" else dh * (1 - hs[t] * hs[t])
        c = (dh if deriv == "carry" else da[t]) @ (w_hh.T if back_t else w_hh)
    flat = da.reshape(-1, da.shape[-1])
    g_ih = flat.T @ xs.reshape(-1, xs.shape[-1])
    g_hh = flat.T @ h_prev.reshape(-1, h_prev.shape[-1])
    gb = flat.sum(0)
    return da @ (w_ih.T if ih_t else w_ih), c, g_ih.T if ih_t else g_ih, g_hh.T if grad_hh_t else g_hh, gb, gb


def _same(a, b) -> bool:
    """Equal shapes and values, NaN where the other is NaN."""
    return a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())


def _pairs(names, ways, dtype):
    """(MISTAKE[name], outputs cast to `dtype`) for every way `ways(name)` gives of each mistake;
    ways that give the same numbers (two gates alike) once."""
    found = []
    for name in names:
        seen = []
        for outputs in ways(name):
            outputs = tuple(o.to(dtype) for o in outputs)
            if not any(all(_same(a, b) for a, b in zip(s, outputs)) for s in seen):
                seen.append(outputs)
                found.append((MISTAKE[name], outputs))
    return found


@recorded(lazy=True)
def cell_mistakes(kind, **inputs):
    """(mistake, outputs of <kind>_step under it) for every mistake one step of `kind` ("rnn",
    "lstm", "gru") can make, given rnn_step's / lstm_step's / gru_step's keyword arguments; the
    outputs are (h_next,), or (h_next, c_next) for the LSTM. Lazy: computed once a check fails."""
    return _pairs(CELL_MISTAKES[kind], lambda m: _cell(kind, m, **inputs), inputs["x"].dtype)


@recorded(lazy=True)
def forward_mistakes(xs, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    """The same for rnn_forward: (mistake, (hs,)) with hs of shape (T, B, H)."""
    return _pairs(FORWARD_MISTAKES, lambda m: _forward(m, xs, h0, weight_ih, weight_hh, bias_ih, bias_hh), xs.dtype)


@recorded(lazy=True)
def backward_mistakes(grad_hs, xs, hs, h0, weight_ih, weight_hh):
    """The same for rnn_backward: (mistake, its six gradients) for each way of each mistake."""
    args = _work(None, grad_hs, xs, hs, h0, weight_ih, weight_hh)
    ways = lambda m: [p for way in BACKWARD_WAYS[m] if (p := _bptt(*args, **way)) is not None]
    return _pairs(BACKWARD_WAYS, ways, xs.dtype)
