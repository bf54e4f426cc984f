"""rnn, public tests: cells worked by hand, then PyTorch's own cells (nn.RNNCell, nn.LSTMCell,
nn.GRUCell) with the same weights, nn.RNN over whole sequences, and autograd and float64 central
differences for backpropagation through time.

Run with `make test topic=rnn`. Learner code is reached only through the `impl` fixture. Each test
shows its inputs and its oracle; the helpers below draw the weights, run PyTorch and compare.

Shapes as in PyTorch: x (B, I), h and c (B, H), xs (T, B, I), hs (T, B, H); weight_ih (G*H, I),
weight_hh (G*H, H), bias_ih and bias_hh (G*H,), with G = 1 (RNN), 4 (LSTM rows i, f, g, o) or
3 (GRU rows r, z, n).
"""

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from grader.kit import (
    F32,
    F64,
    Tol,
    backward,
    call_checking_inputs,
    cases,
    central_differences,
    check_output,
    check_outputs,
    explaining,
    generator,
    rand,
    randn,
    scale_of,
)
from tests.rnn.key import backward_mistakes, cell_mistakes, forward_mistakes
from tests.rnn.mistakes import MISTAKE

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons (`make margins topic=rnn` measures how much of them the reference
# and the correct alternatives of mutants.py use).

TOL64 = Tol(
    1e-10,
    1e-12,
    "float64: both sides round at 1e-16 relative; sums of I + H products over up to 100 steps of a "
    "contracting recurrence stay below 1e-14 on values of order 1",
)
TOL32 = Tol(
    1e-5,
    1e-5,
    "float32: each pre-activation is a sum of I + H + 2 products rounded at 6e-8 relative, so a "
    "correct step summed in another order (or in float64) differs by a few 1e-7",
)
TOL_CENTRAL = Tol(
    1e-6,
    1e-6,
    "float64 central differences, step 1e-6: truncation ~ 1e-12, rounding ~ 1e-16 * |L| / 1e-6; every "
    "known mistake is 0.01 or more on these cases",
)


def tol(dtype: torch.dtype, steps: int = 1) -> Tol:
    """One step, or `steps` steps of a sequence: float32 rounding is carried into later steps (damped
    by the tanh and the contracting weights), so it allows 1e-5 more per 10 steps."""
    if dtype == F64:
        return TOL64
    grow = max(1.0, steps / 10)
    return Tol(TOL32.rtol * grow, TOL32.atol * grow, f"{TOL32.why}; carried along {steps} steps")


# ---------------------------------------------------------------------------------------------------
# Inputs

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def make_weights(kind: str, inputs: int, hidden: int, dtype: torch.dtype, seed: int, scale: float = 1.0) -> dict:
    """weight_ih, weight_hh, bias_ih, bias_hh for a cell of `kind`, drawn as PyTorch initialises
    them, uniform in [-k, k) with k = scale / sqrt(hidden)."""
    gen, rows, k = generator(seed), GATES[kind] * hidden, scale / hidden**0.5
    shapes = dict(weight_ih=(rows, inputs), weight_hh=(rows, hidden), bias_ih=(rows,), bias_hh=(rows,))
    return {name: rand(shape, gen, dtype, -k, k) for name, shape in shapes.items()}


def copies(inputs: dict) -> dict:
    """Fresh copies of the tensors, for a call to your code (the test keeps its own)."""
    return {k: v.clone() for k, v in inputs.items()}


def described(table: dict) -> list:
    """cases(table) with each case's id passed first, as `case`: its description in words."""
    return cases({name: (name, *values) for name, values in table.items()})


# ---------------------------------------------------------------------------------------------------
# The oracles: PyTorch's modules with these weights (torch.func.functional_call puts them in)

CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


def torch_cell(kind: str, x, h, weight_ih, weight_hh, bias_ih, bias_hh, c=None) -> tuple:
    """nn.RNNCell / nn.GRUCell: (h_next,); nn.LSTMCell: (h_next, c_next)."""
    cell = CELLS[kind](x.shape[1], h.shape[1], dtype=x.dtype)
    weights = dict(weight_ih=weight_ih, weight_hh=weight_hh, bias_ih=bias_ih, bias_hh=bias_hh)
    with torch.no_grad():
        out = functional_call(cell, weights, (x, (h, c) if kind == "lstm" else h))
    return tuple(out) if kind == "lstm" else (out,)


def torch_rnn(xs, h0, weight_ih, weight_hh, bias_ih, bias_hh) -> torch.Tensor:
    """A one-layer nn.RNN over xs (T, B, I) from h0 (B, H): every hidden state, hs (T, B, H)."""
    layer = nn.RNN(xs.shape[2], h0.shape[1], dtype=xs.dtype)
    weights = dict(weight_ih_l0=weight_ih, weight_hh_l0=weight_hh, bias_ih_l0=bias_ih, bias_hh_l0=bias_hh)
    return functional_call(layer, weights, (xs, h0[None]))[0]


def central_bptt(grad_hs, xs, h0, weights: dict) -> list:
    """rnn_backward's six gradients as float64 central differences of L = sum(grad_hs * hs), with
    hs = nn.RNN(xs, h0): d/dxs, d/dh0, then d/d each weight and bias."""
    tensors = [t.double().clone() for t in (xs, h0, *weights.values())]
    g = grad_hs.double()
    with torch.no_grad():
        return central_differences(lambda: float((torch_rnn(*tensors) * g).sum()), tensors)


# ---------------------------------------------------------------------------------------------------
# Comparisons


def named_once(near, actual, t: Tol):
    """`near` for check_outputs, keeping a mistake only if it alone explains every output of
    `actual` within `t`: where two different mistakes give the same outputs (H = 1, a zero state),
    the inputs cannot tell which one was made, and neither is named."""

    def pairs():
        found = explaining(actual, near(), [t] * len(actual))
        return found if len({m for m, _ in found}) == 1 else []

    return pairs


def check_step(impl, kind: str, inputs: dict, case: str, expected: tuple | None = None, t: Tol | None = None) -> tuple:
    """One call of <kind>_step(**inputs) against `expected`, by default nn.RNNCell / nn.LSTMCell /
    nn.GRUCell with the same weights: (h_next,), or (h_next, c_next) for the LSTM. Returns the outputs."""
    near, t = cell_mistakes(kind, **inputs), t or tol(inputs["x"].dtype)
    expected = expected or torch_cell(kind, **inputs)
    out = getattr(impl, f"{kind}_step")(**copies(inputs))
    out = out if kind == "lstm" else [out]
    names = ("h_next", "c_next")[: len(expected)]
    return check_outputs(out, expected, names=names, of=f"{kind}_step", case=case, tol=t, near=named_once(near, out, t))


def check_cell_along(impl, kind: str, xs, h0, weights: dict, case: str, c0=None) -> None:
    """<kind>_step applied along xs (T, B, I), each step given your own previous state, against
    nn.<Kind>Cell stepped along the same sequence from its own: every output of every step (the
    first wrong step is the one reported)."""
    mine = theirs = (h0, c0) if kind == "lstm" else (h0,)
    for step in range(len(xs)):
        theirs = torch_cell(kind, xs[step], **dict(zip("hc", theirs)), **weights)
        where = f"{case}, time step {step} of {len(xs)}, fed your own previous state"
        inputs = dict(x=xs[step], **dict(zip("hc", mine)), **weights)
        mine = check_step(impl, kind, inputs, where, theirs, tol(xs.dtype, len(xs)))


def first_bad_step(actual, expected: torch.Tensor, t: Tol) -> int | None:
    """The first time step (dim 0) where `actual`, a tensor like `expected`, is not within `t`; None
    if there is none, or if `actual` is not a tensor of the expected shape and dtype."""
    if not (isinstance(actual, torch.Tensor) and actual.shape == expected.shape and actual.dtype == expected.dtype):
        return None
    ok = torch.isclose(actual, expected, rtol=t.rtol, atol=t.atol).reshape(len(actual), -1).all(dim=1)
    return None if bool(ok.all()) else int((~ok).nonzero()[0])


def check_forward(impl, xs, h0, weights: dict, case: str) -> None:
    """rnn_forward(xs, h0, **weights) against nn.RNN with the same weights; a wrong hs is reported
    at its first wrong time step, named after a mistake only if it explains the whole of hs."""
    key = forward_mistakes(xs, h0, **weights)
    expected, t = torch_rnn(xs, h0, *weights.values()), tol(xs.dtype, xs.shape[0])
    hs = impl.rnn_forward(xs.clone(), h0.clone(), **copies(weights))
    near = named_once(key, [hs], t)
    bad = first_bad_step(hs, expected, t)
    if bad is None:  # right, or not a tensor of the right shape and dtype: checked whole
        check_output(hs, expected, name="hs", of="rnn_forward", case=f"{case} (nn.RNN as reference)", tol=t, near=near)
        return
    check_output(
        hs[bad],
        expected[bad],
        name=f"hs[{bad}]",
        of="rnn_forward",
        case=f"{case}, time step {bad} of {len(hs)}, the first wrong one (nn.RNN as reference)",
        tol=t,
        near=lambda: [(m, p[0][bad]) for m, p in near()],
    )


BACKWARD_OUTPUTS = ("grad_xs", "grad_h0", "grad_weight_ih", "grad_weight_hh", "grad_bias_ih", "grad_bias_hh")


def check_backward(impl, grad_hs, xs, h0, weights: dict, case: str, oracle: str = "autograd") -> None:
    """rnn_backward, given the states nn.RNN computes, against autograd through nn.RNN (or float64
    central differences): all six gradients; the inputs must come back unchanged."""
    hs, grads = backward(torch_rnn, [xs, h0, *weights.values()], grad_hs)
    if oracle == "central":
        grads, t = central_bptt(grad_hs, xs, h0, weights), TOL_CENTRAL
        case += " (float64 central differences of sum(grad_hs * hs) as reference)"
    else:
        t = tol(xs.dtype, len(xs)).scaled(max(1.0, max(scale_of(g) for g in grads)))
        case += " (autograd through nn.RNN as reference)"
    args = dict(grad_hs=grad_hs, xs=xs, hs=hs, h0=h0, weight_ih=weights["weight_ih"], weight_hh=weights["weight_hh"])
    near = backward_mistakes(**args)
    call = "rnn_backward(grad_hs, xs, hs, h0, weight_ih, weight_hh)"
    out = call_checking_inputs(impl.rnn_backward, copies(args), call=call, mistake=MISTAKE["inputs-modified-in-place"])
    expected = [g.to(xs.dtype) for g in grads]
    near = named_once(near, out, t)
    check_outputs(out, expected, names=BACKWARD_OUTPUTS, of="rnn_backward", case=case, tol=t, near=near)


def _t(rows):
    return torch.tensor(rows, dtype=F64)


LN2, LN3 = math.log(2.0), math.log(3.0)

# ---------------------------------------------------------------------------------------------------
# The RNN


@pytest.mark.points(2)
def test_rnn_step_by_hand(impl):
    """rnn_step on numbers worked by hand: both biases, W_hh transposed, tanh(ln 2) = 0.6."""
    # x = [1, 2], h = [0.5, -1]:
    # unit 0: x . W_ih[0] = 1, h . W_hh[0] = 0.5 * 2 - 1 = 0, biases ln2 - 1 + 0 -> pre ln 2
    # unit 1: x . W_ih[1] = 1, h . W_hh[1] = -1, biases 0 - ln2                  -> pre -ln 2
    # tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 0.6, so h_next = [0.6, -0.6].
    inputs = dict(
        x=_t([[1.0, 2.0]]),
        h=_t([[0.5, -1.0]]),
        weight_ih=_t([[1.0, 0.0], [0.0, 0.5]]),
        weight_hh=_t([[2.0, 1.0], [0.0, 1.0]]),
        bias_ih=_t([LN2 - 1, 0.0]),
        bias_hh=_t([0.0, -LN2]),
    )
    check_step(impl, "rnn", inputs, "x = [1, 2], h = [0.5, -1], B 1, I 2 -> H 2, float64", (_t([[0.6, -0.6]]),))


# (batch, input size, hidden size, dtype, input scale, state scale)
RNN_CELLS = {
    "batch 1, I 3 -> H 5, float32": (1, 3, 5, F32, 1.0, 1.0),
    "batch 4, I 6 -> H 2, zero state, float64": (4, 6, 2, F64, 1.0, 0.0),
    "saturating (inputs x 200), batch 3, I 4 -> H 3, float32": (3, 4, 3, F32, 200.0, 1.0),
}


@pytest.mark.parametrize("case, batch, i, h, dtype, x_scale, h_scale", described(RNN_CELLS))
def test_rnn_step_matches_rnncell(impl, case, batch, i, h, dtype, x_scale, h_scale):
    """rnn_step equals nn.RNNCell with the same weights."""
    x, h0 = randn((batch, i), 1, dtype, x_scale), randn((batch, h), 2, dtype, h_scale)
    check_step(impl, "rnn", dict(x=x, h=h0, **make_weights("rnn", i, h, dtype, seed=3)), case)


# (steps, batch, input size, hidden size, dtype, h0 scale)
FORWARDS = {
    "T 1, B 1, I 2 -> H 3, float64": (1, 1, 2, 3, F64, 1.0),
    "T 60, B 3, I 4 -> H 6, non-zero h0, float32": (60, 3, 4, 6, F32, 1.0),
    "T 8, B 2, I 3 -> H 3, zero h0, float64": (8, 2, 3, 3, F64, 0.0),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("case, steps, batch, i, h, dtype, h_scale", described(FORWARDS))
def test_rnn_forward_matches_nn_rnn(impl, case, steps, batch, i, h, dtype, h_scale):
    """rnn_forward over a whole sequence equals a one-layer nn.RNN."""
    xs, h0 = randn((steps, batch, i), 4, dtype), randn((batch, h), 5, dtype, h_scale)
    check_forward(impl, xs, h0, make_weights("rnn", i, h, dtype, seed=6, scale=1.5), case)


# (steps, batch, input size, hidden size, dtype)
BACKWARDS = {
    "T 6, B 2, I 3 -> H 4, float64": (6, 2, 3, 4, F64),
    "T 50, B 3, I 2 -> H 5, float64": (50, 3, 2, 5, F64),
    "T 8, B 2, I 4 -> H 3, float32": (8, 2, 4, 3, F32),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("case, steps, batch, i, h, dtype", described(BACKWARDS))
def test_rnn_backward_matches_autograd(impl, case, steps, batch, i, h, dtype):
    """rnn_backward gives autograd's six gradients (a loss on every hidden state)."""
    grad_hs, xs, h0 = (
        randn((steps, batch, h), 7, dtype),
        randn((steps, batch, i), 8, dtype),
        randn((batch, h), 9, dtype),
    )
    check_backward(impl, grad_hs, xs, h0, make_weights("rnn", i, h, dtype, seed=10, scale=2.0), case)


@pytest.mark.points(2)
def test_rnn_backward_central_differences(impl):
    """rnn_backward agrees with float64 central differences on a tiny case."""
    grad_hs, xs, h0 = randn((3, 2, 3), 11), randn((3, 2, 2), 12), randn((2, 3), 13)
    weights = make_weights("rnn", 2, 3, F64, seed=14, scale=2.0)
    check_backward(impl, grad_hs, xs, h0, weights, "T 3, B 2, I 2 -> H 3, float64", oracle="central")


# ---------------------------------------------------------------------------------------------------
# The LSTM and the GRU


@pytest.mark.points(2)
def test_lstm_step_by_hand(impl):
    """lstm_step on numbers worked by hand: i = o = 0.5, f = 0.75, g = 0.6, c' = 1.8."""
    # x = 1, h = 1, c = 2, H = 1; rows [i, f, g, o]; pre-activation = W_ih x + b_ih + W_hh h + b_hh:
    # i: 1 - 1 + 0 + 0 = 0    -> sigmoid 0.5       f: 0 + ln3 + 0 + 0 = ln 3 -> sigmoid 3/4
    # g: 0 + 0 + 0 + ln2      -> tanh 0.6          o: 0 + 0 + 2 - 2 = 0      -> sigmoid 0.5
    # c' = f c + i g = 0.75 * 2 + 0.5 * 0.6 = 1.8;  h' = o tanh(c') = 0.5 tanh(1.8)
    inputs = dict(
        x=_t([[1.0]]),
        h=_t([[1.0]]),
        c=_t([[2.0]]),
        weight_ih=_t([[1.0], [0.0], [0.0], [0.0]]),
        weight_hh=_t([[0.0], [0.0], [0.0], [2.0]]),
        bias_ih=_t([-1.0, LN3, 0.0, 0.0]),
        bias_hh=_t([0.0, 0.0, LN2, -2.0]),
    )
    check_step(impl, "lstm", inputs, "x = 1, h = 1, c = 2, H 1, float64", (_t([[0.5 * math.tanh(1.8)]]), _t([[1.8]])))


LSTM_CELLS = {
    "batch 1, I 3 -> H 4, float32": (1, 3, 4, F32, 1.0, 1.0),
    "batch 5, I 2 -> H 3, zero h and c, float64": (5, 2, 3, F64, 1.0, 0.0),
    "saturating (inputs x 200), batch 2, I 3 -> H 2, float32": (2, 3, 2, F32, 200.0, 1.0),
}


@pytest.mark.parametrize("case, batch, i, h, dtype, x_scale, h_scale", described(LSTM_CELLS))
def test_lstm_step_matches_lstmcell(impl, case, batch, i, h, dtype, x_scale, h_scale):
    """lstm_step equals nn.LSTMCell with the same weights: gates (i, f, g, o), cell state from c."""
    x, h0, c0 = (
        randn((batch, i), 15, dtype, x_scale),
        randn((batch, h), 16, dtype, h_scale),
        randn((batch, h), 17, dtype, 2 * h_scale),
    )
    check_step(impl, "lstm", dict(x=x, h=h0, c=c0, **make_weights("lstm", i, h, dtype, seed=18)), case)


@pytest.mark.points(2)
def test_gru_step_by_hand(impl):
    """gru_step on numbers worked by hand: r = 0.5, z = 0.75, n = 0.6, h' = 1.65."""
    # x = 1, h = 2, H = 1; rows [r, z, n]:
    # r = sigmoid(0) = 0.5;   z = sigmoid(ln 3) = 0.75
    # n = tanh(W_in x + b_in + r (W_hn h + b_hn)) = tanh(1 + ln2 - 2 + 0.5 (0.5 * 2 + 1)) = tanh(ln 2) = 0.6
    # h' = (1 - z) n + z h = 0.25 * 0.6 + 0.75 * 2 = 1.65
    inputs = dict(
        x=_t([[1.0]]),
        h=_t([[2.0]]),
        weight_ih=_t([[0.0], [0.0], [1.0]]),
        weight_hh=_t([[0.0], [0.0], [0.5]]),
        bias_ih=_t([0.0, LN3, LN2 - 2]),
        bias_hh=_t([0.0, 0.0, 1.0]),
    )
    check_step(impl, "gru", inputs, "x = 1, h = 2, H 1, float64", (_t([[1.65]]),))


GRU_CELLS = {
    "batch 1, I 4 -> H 3, float32": (1, 4, 3, F32, 1.0, 1.0),
    "batch 3, I 2 -> H 5, zero state, float64": (3, 2, 5, F64, 1.0, 0.0),
    "saturating (inputs x 200), batch 2, I 3 -> H 4, float32": (2, 3, 4, F32, 200.0, 1.0),
}


@pytest.mark.parametrize("case, batch, i, h, dtype, x_scale, h_scale", described(GRU_CELLS))
def test_gru_step_matches_grucell(impl, case, batch, i, h, dtype, x_scale, h_scale):
    """gru_step equals nn.GRUCell with the same weights: gates (r, z, n), reset after the matmul."""
    x, h0 = randn((batch, i), 19, dtype, x_scale), randn((batch, h), 20, dtype, h_scale)
    check_step(impl, "gru", dict(x=x, h=h0, **make_weights("gru", i, h, dtype, seed=21, scale=2.0)), case)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_cell_over_a_sequence_matches_torch(impl, kind):
    """lstm_step / gru_step applied along 12 steps follow nn.LSTMCell / nn.GRUCell stepped along."""
    xs, h0, c0 = randn((12, 2, 3), 22, F32), randn((2, 4), 23, F32), randn((2, 4), 25, F32)
    weights = make_weights(kind, 3, 4, F32, seed=24, scale=1.5)
    check_cell_along(impl, kind, xs, h0, weights, "T 12, B 2, I 3 -> H 4, float32", c0=c0 if kind == "lstm" else None)
