"""rnn, hidden tests: more shapes (batch 1, hidden sizes far from the input size, square weights),
long sequences (60 to 100 steps), saturating inputs in both dtypes, zero and non-zero initial
states, a loss on the last state only, and central differences on another tiny case.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch

from tests.rnn.driver import check_backward, check_cell_sequence, check_forward, check_step, describe
from tests.rnn.oracle import make_params, randn

f32, f64 = torch.float32, torch.float64

# (batch, input size, hidden size, dtype, input scale, state scale). Saturating float64 cases use
# inputs x 2000: pre-activations reach the hundreds, where exp overflows even in float64.
CELLS = {
    "batch 1, I 1 -> H 1, float64": (1, 1, 1, f64, 1.0, 1.0),
    "batch 8, I 16 -> H 32, float32": (8, 16, 32, f32, 1.0, 1.0),
    "square I = H = 5, batch 2, float64": (2, 5, 5, f64, 1.0, 1.0),
    "batch 3, I 9 -> H 2, zero state, float32": (3, 9, 2, f32, 1.0, 0.0),
    "saturating (inputs x 2000), batch 4, I 3 -> H 6, float64": (4, 3, 6, f64, 2000.0, 1.0),
}


def _cell_inputs(kind, case, seed):
    batch, i, h, dtype, x_scale, h_scale = CELLS[case]
    inputs = dict(x=randn((batch, i), dtype, seed, x_scale), h=randn((batch, h), dtype, seed + 1, h_scale))
    if kind == "lstm":
        inputs["c"] = randn((batch, h), dtype, seed + 2, 2 * h_scale)
    return dict(inputs, **make_params(kind, i, h, dtype, seed=seed + 3, scale=1.5))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("case", list(CELLS))
def test_cells_match_torch_cells(impl, kind, case):
    """rnn_step / lstm_step / gru_step equal nn.RNNCell / LSTMCell / GRUCell on more shapes."""
    check_step(impl, kind, _cell_inputs(kind, case, seed=100), case)


# (steps, batch, input size, hidden size, dtype, input scale, h0 scale)
SEQUENCES = {
    "T 100, B 8, I 5 -> H 7, float32": (100, 8, 5, 7, f32, 1.0, 1.0),
    "T 1, B 5, I 3 -> H 2, zero h0, float32": (1, 5, 3, 2, f32, 1.0, 0.0),
    "T 60, B 2, I 3 -> H 4, saturating (inputs x 20), float64": (60, 2, 3, 4, f64, 20.0, 1.0),
    "T 50, B 1, square I = H = 4, float64": (50, 1, 4, 4, f64, 1.0, 1.0),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("case", list(SEQUENCES))
def test_rnn_forward_long_and_odd_sequences(impl, case):
    """rnn_forward equals nn.RNN over long, single-step, saturating and batch-1 sequences."""
    steps, batch, i, h, dtype, x_scale, h_scale = SEQUENCES[case]
    check_forward(
        impl,
        randn((steps, batch, i), dtype, 200, x_scale),
        randn((batch, h), dtype, 201, h_scale),
        make_params("rnn", i, h, dtype, seed=202, scale=1.5),
        case,
    )


@pytest.mark.points(2)
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("case", [c for c in SEQUENCES if "saturating" not in c])
def test_cells_over_long_sequences_match_torch(impl, kind, case):
    """lstm_step / gru_step along a sequence follow nn.LSTM / nn.GRU (up to 100 steps)."""
    steps, batch, i, h, dtype, x_scale, h_scale = SEQUENCES[case]
    check_cell_sequence(
        impl,
        kind,
        randn((steps, batch, i), dtype, 210, x_scale),
        randn((batch, h), dtype, 211, h_scale),
        make_params(kind, i, h, dtype, seed=212, scale=1.5),
        case,
        c0=randn((batch, h), dtype, 213, h_scale) if kind == "lstm" else None,
    )


# (steps, batch, input size, hidden size, dtype, input scale, which steps carry a loss)
BACKWARDS = {
    "T 60, B 4, I 5 -> H 7, float64": (60, 4, 5, 7, f64, 1.0, "all"),
    "T 1, B 1, I 2 -> H 3, float64": (1, 1, 2, 3, f64, 1.0, "all"),
    "T 20, B 3, I 6 -> H 4, float32": (20, 3, 6, 4, f32, 1.0, "all"),
    "square I = H = 4, T 10, B 2, float64": (10, 2, 4, 4, f64, 1.0, "all"),
    "loss on the last state only, T 30, B 2, I 3 -> H 5, float64": (30, 2, 3, 5, f64, 1.0, "last"),
    "partly saturating (inputs x 3), T 12, B 3, I 4 -> H 6, float64": (12, 3, 4, 6, f64, 3.0, "all"),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("case", list(BACKWARDS))
def test_rnn_backward_matches_autograd_more(impl, case):
    """rnn_backward gives autograd's gradients on long, short, square, last-state-only and
    saturating cases."""
    steps, batch, i, h, dtype, x_scale, where = BACKWARDS[case]
    grad_hs = randn((steps, batch, h), dtype, 300)
    if where == "last":  # a many-to-one loss: only the final state is looked at
        grad_hs[:-1] = 0
    check_backward(
        impl,
        grad_hs,
        randn((steps, batch, i), dtype, 301, x_scale),
        randn((batch, h), dtype, 302),
        make_params("rnn", i, h, dtype, seed=303, scale=2.0),
        case,
    )


@pytest.mark.points(2)
def test_rnn_backward_central_differences_zero_state(impl):
    """rnn_backward agrees with float64 central differences from a zero initial state."""
    check_backward(
        impl,
        randn((4, 1, 2), f64, 310),
        randn((4, 1, 3), f64, 311),
        torch.zeros(1, 2, dtype=f64),
        make_params("rnn", 3, 2, f64, seed=312, scale=2.5),
        describe(f64, T=4, B=1, I=3, H=2) + ", zero h0",
        oracle="central",
    )
