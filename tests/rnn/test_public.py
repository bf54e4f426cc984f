"""rnn, public tests: hand-worked cells, then PyTorch's cells, nn.RNN / LSTM / GRU over whole
sequences, autograd and float64 central differences for backpropagation through time.

Run with `make test topic=rnn`. Learner code is reached only through the `impl` fixture.
"""

import math

import pytest
import torch

from tests.rnn.driver import check_backward, check_cell_sequence, check_forward, check_step, describe
from tests.rnn.oracle import make_params, randn

f32, f64 = torch.float32, torch.float64
LN2, LN3 = math.log(2.0), math.log(3.0)


def _t(rows):
    return torch.tensor(rows, dtype=f64)


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
    check_step(impl, "rnn", inputs, "x = [1, 2], h = [0.5, -1], B 1, I 2 -> H 2, float64", expected=_t([[0.6, -0.6]]))


RNN_CELLS = {
    "batch 1, I 3 -> H 5, float32": (1, 3, 5, f32, 1.0, 1.0),
    "batch 4, I 6 -> H 2, zero state, float64": (4, 6, 2, f64, 1.0, 0.0),
    "saturating (inputs x 200), batch 3, I 4 -> H 3, float32": (3, 4, 3, f32, 200.0, 1.0),
}


@pytest.mark.parametrize("case", list(RNN_CELLS))
def test_rnn_step_matches_rnncell(impl, case):
    """rnn_step equals nn.RNNCell with the same weights."""
    batch, i, h, dtype, x_scale, h_scale = RNN_CELLS[case]
    inputs = dict(
        x=randn((batch, i), dtype, 1, x_scale),
        h=randn((batch, h), dtype, 2, h_scale),
        **make_params("rnn", i, h, dtype, seed=3),
    )
    check_step(impl, "rnn", inputs, case)


FORWARDS = {
    "T 1, B 1, I 2 -> H 3, float64": (1, 1, 2, 3, f64, 1.0),
    "T 60, B 3, I 4 -> H 6, non-zero h0, float32": (60, 3, 4, 6, f32, 1.0),
    "T 8, B 2, I 3 -> H 3, zero h0, float64": (8, 2, 3, 3, f64, 0.0),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("case", list(FORWARDS))
def test_rnn_forward_matches_nn_rnn(impl, case):
    """rnn_forward over a whole sequence equals a one-layer nn.RNN."""
    steps, batch, i, h, dtype, h_scale = FORWARDS[case]
    check_forward(
        impl,
        randn((steps, batch, i), dtype, 4),
        randn((batch, h), dtype, 5, h_scale),
        make_params("rnn", i, h, dtype, seed=6, scale=1.5),
        case,
    )


BACKWARDS = {
    "T 6, B 2, I 3 -> H 4, float64": (6, 2, 3, 4, f64),
    "T 50, B 3, I 2 -> H 5, float64": (50, 3, 2, 5, f64),
    "T 8, B 2, I 4 -> H 3, float32": (8, 2, 4, 3, f32),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("case", list(BACKWARDS))
def test_rnn_backward_matches_autograd(impl, case):
    """rnn_backward gives autograd's six gradients (a loss on every hidden state)."""
    steps, batch, i, h, dtype = BACKWARDS[case]
    check_backward(
        impl,
        randn((steps, batch, h), dtype, 7),
        randn((steps, batch, i), dtype, 8),
        randn((batch, h), dtype, 9),
        make_params("rnn", i, h, dtype, seed=10, scale=2.0),
        case,
    )


@pytest.mark.points(2)
def test_rnn_backward_central_differences(impl):
    """rnn_backward agrees with float64 central differences on a tiny case."""
    check_backward(
        impl,
        randn((3, 2, 3), f64, 11),
        randn((3, 2, 2), f64, 12),
        randn((2, 3), f64, 13),
        make_params("rnn", 2, 3, f64, seed=14, scale=2.0),
        "T 3, B 2, I 2 -> H 3, float64",
        oracle="central",
    )


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
    check_step(
        impl, "lstm", inputs, "x = 1, h = 1, c = 2, H 1, float64", expected=(_t([[0.5 * math.tanh(1.8)]]), _t([[1.8]]))
    )


LSTM_CELLS = {
    "batch 1, I 3 -> H 4, float32": (1, 3, 4, f32, 1.0, 1.0),
    "batch 5, I 2 -> H 3, zero h and c, float64": (5, 2, 3, f64, 1.0, 0.0),
    "saturating (inputs x 200), batch 2, I 3 -> H 2, float32": (2, 3, 2, f32, 200.0, 1.0),
}


@pytest.mark.parametrize("case", list(LSTM_CELLS))
def test_lstm_step_matches_lstmcell(impl, case):
    """lstm_step equals nn.LSTMCell with the same weights: gates (i, f, g, o), cell state from c."""
    batch, i, h, dtype, x_scale, h_scale = LSTM_CELLS[case]
    inputs = dict(
        x=randn((batch, i), dtype, 15, x_scale),
        h=randn((batch, h), dtype, 16, h_scale),
        c=randn((batch, h), dtype, 17, 2 * h_scale),
        **make_params("lstm", i, h, dtype, seed=18),
    )
    check_step(impl, "lstm", inputs, case)


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
    check_step(impl, "gru", inputs, "x = 1, h = 2, H 1, float64", expected=_t([[1.65]]))


GRU_CELLS = {
    "batch 1, I 4 -> H 3, float32": (1, 4, 3, f32, 1.0, 1.0),
    "batch 3, I 2 -> H 5, zero state, float64": (3, 2, 5, f64, 1.0, 0.0),
    "saturating (inputs x 200), batch 2, I 3 -> H 4, float32": (2, 3, 4, f32, 200.0, 1.0),
}


@pytest.mark.parametrize("case", list(GRU_CELLS))
def test_gru_step_matches_grucell(impl, case):
    """gru_step equals nn.GRUCell with the same weights: gates (r, z, n), reset after the matmul."""
    batch, i, h, dtype, x_scale, h_scale = GRU_CELLS[case]
    inputs = dict(
        x=randn((batch, i), dtype, 19, x_scale),
        h=randn((batch, h), dtype, 20, h_scale),
        **make_params("gru", i, h, dtype, seed=21, scale=2.0),
    )
    check_step(impl, "gru", inputs, case)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_cell_over_a_sequence_matches_torch(impl, kind):
    """lstm_step / gru_step applied along 12 steps follow nn.LSTM / nn.GRU over the sequence."""
    steps, batch, i, h, dtype = 12, 2, 3, 4, f32
    check_cell_sequence(
        impl,
        kind,
        randn((steps, batch, i), dtype, 22),
        randn((batch, h), dtype, 23),
        make_params(kind, i, h, dtype, seed=24, scale=1.5),
        describe(dtype, T=steps, B=batch, I=i, H=h),
        c0=randn((batch, h), dtype, 25) if kind == "lstm" else None,
    )
