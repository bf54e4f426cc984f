"""rnn, hidden tests: more shapes (batch 1, hidden sizes far from the input size, square weights),
long sequences (60 to 100 steps), saturating inputs in both dtypes, zero and non-zero initial
states, a loss on the last state only, and central differences on another tiny case.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch

from grader.kit import F32, F64, randn
from tests.rnn.test_public import (
    check_backward,
    check_cell_along,
    check_forward,
    check_step,
    described,
    make_weights,
)

# (batch, input size, hidden size, dtype, input scale, state scale). Saturating float64 cases use
# inputs x 2000: pre-activations reach the hundreds, where exp overflows even in float64.
CELLS = {
    "batch 1, I 1 -> H 1, float64": (1, 1, 1, F64, 1.0, 1.0),
    "batch 8, I 16 -> H 32, float32": (8, 16, 32, F32, 1.0, 1.0),
    "square I = H = 5, batch 2, float64": (2, 5, 5, F64, 1.0, 1.0),
    "batch 3, I 9 -> H 2, zero state, float32": (3, 9, 2, F32, 1.0, 0.0),
    "saturating (inputs x 2000), batch 4, I 3 -> H 6, float64": (4, 3, 6, F64, 2000.0, 1.0),
}
KIND_CELLS = {f"{kind}, {case}": (kind, *v) for kind in ("rnn", "lstm", "gru") for case, v in CELLS.items()}


@pytest.mark.parametrize("case, kind, batch, i, h, dtype, x_scale, h_scale", described(KIND_CELLS))
def test_cells_match_torch_cells(impl, case, kind, batch, i, h, dtype, x_scale, h_scale):
    """rnn_step / lstm_step / gru_step equal nn.RNNCell / LSTMCell / GRUCell on more shapes."""
    inputs = dict(x=randn((batch, i), 100, dtype, x_scale), h=randn((batch, h), 101, dtype, h_scale))
    if kind == "lstm":
        inputs["c"] = randn((batch, h), 102, dtype, 2 * h_scale)
    check_step(impl, kind, dict(inputs, **make_weights(kind, i, h, dtype, seed=103, scale=1.5)), case)


# (steps, batch, input size, hidden size, dtype, input scale, h0 scale)
SEQUENCES = {
    "T 100, B 8, I 5 -> H 7, float32": (100, 8, 5, 7, F32, 1.0, 1.0),
    "T 1, B 5, I 3 -> H 2, zero h0, float32": (1, 5, 3, 2, F32, 1.0, 0.0),
    "T 60, B 2, I 3 -> H 4, saturating (inputs x 20), float64": (60, 2, 3, 4, F64, 20.0, 1.0),
    "T 50, B 1, square I = H = 4, float64": (50, 1, 4, 4, F64, 1.0, 1.0),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("case, steps, batch, i, h, dtype, x_scale, h_scale", described(SEQUENCES))
def test_rnn_forward_long_and_odd_sequences(impl, case, steps, batch, i, h, dtype, x_scale, h_scale):
    """rnn_forward equals nn.RNN over long, single-step, saturating and batch-1 sequences."""
    xs, h0 = randn((steps, batch, i), 200, dtype, x_scale), randn((batch, h), 201, dtype, h_scale)
    check_forward(impl, xs, h0, make_weights("rnn", i, h, dtype, seed=202, scale=1.5), case)


KIND_SEQUENCES = {
    f"{kind}, {case}": (kind, *v)
    for kind in ("lstm", "gru")
    for case, v in SEQUENCES.items()
    if "saturating" not in case
}


@pytest.mark.points(2)
@pytest.mark.parametrize("case, kind, steps, batch, i, h, dtype, x_scale, h_scale", described(KIND_SEQUENCES))
def test_cells_over_long_sequences_match_torch(impl, case, kind, steps, batch, i, h, dtype, x_scale, h_scale):
    """lstm_step / gru_step along a sequence follow nn.LSTMCell / nn.GRUCell (up to 100 steps)."""
    xs, h0 = randn((steps, batch, i), 210, dtype, x_scale), randn((batch, h), 211, dtype, h_scale)
    c0 = randn((batch, h), 213, dtype, h_scale) if kind == "lstm" else None
    check_cell_along(impl, kind, xs, h0, make_weights(kind, i, h, dtype, seed=212, scale=1.5), case, c0=c0)


# (steps, batch, input size, hidden size, dtype, input scale, which steps carry a loss)
BACKWARDS = {
    "T 60, B 4, I 5 -> H 7, float64": (60, 4, 5, 7, F64, 1.0, "all"),
    "T 1, B 1, I 2 -> H 3, float64": (1, 1, 2, 3, F64, 1.0, "all"),
    "T 20, B 3, I 6 -> H 4, float32": (20, 3, 6, 4, F32, 1.0, "all"),
    "square I = H = 4, T 10, B 2, float64": (10, 2, 4, 4, F64, 1.0, "all"),
    "loss on the last state only, T 30, B 2, I 3 -> H 5, float64": (30, 2, 3, 5, F64, 1.0, "last"),
    "partly saturating (inputs x 3), T 12, B 3, I 4 -> H 6, float64": (12, 3, 4, 6, F64, 3.0, "all"),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("case, steps, batch, i, h, dtype, x_scale, where", described(BACKWARDS))
def test_rnn_backward_matches_autograd_more(impl, case, steps, batch, i, h, dtype, x_scale, where):
    """rnn_backward gives autograd's gradients on long, short, square, last-state-only and
    saturating cases."""
    grad_hs = randn((steps, batch, h), 300, dtype)
    if where == "last":  # a many-to-one loss: only the final state is looked at
        grad_hs[:-1] = 0
    xs, h0 = randn((steps, batch, i), 301, dtype, x_scale), randn((batch, h), 302, dtype)
    check_backward(impl, grad_hs, xs, h0, make_weights("rnn", i, h, dtype, seed=303, scale=2.0), case)


@pytest.mark.points(2)
def test_rnn_backward_central_differences_zero_state(impl):
    """rnn_backward agrees with float64 central differences from a zero initial state."""
    grad_hs, xs, h0 = randn((4, 1, 2), 310), randn((4, 1, 3), 311), torch.zeros(1, 2, dtype=F64)
    weights = make_weights("rnn", 3, 2, F64, seed=312, scale=2.5)
    check_backward(impl, grad_hs, xs, h0, weights, "T 4, B 1, I 3 -> H 2, zero h0, float64", oracle="central")
