"""The rnn topic's known mistakes: the sentence a learner sees when their output looks like one.
What each mistake outputs (so that a wrong output is named after the mistakes it matches, and only
those) is computed in `key.py`, the answer key.

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[bptt-no-carry]`. The mutants that commit each mistake (patches of the reference, used by
`make check`) are in `mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "tanh-missing",
        "the tanh is missing: h_next = tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh), "
        "not the pre-activation itself (without it the state is linear and can grow without bound).",
    ),
    Mistake(
        "wrong-previous-state",
        "the previous hidden state comes from the wrong time step. Step t reads xs[t] and the state "
        "left by step t - 1 (h0 for t = 0), and hs[t] is the state AFTER step t (h0 is not in hs). "
        "In rnn_backward, grad_weight_hh pairs da_t with that same previous state: h0 for t = 0, "
        "else hs[t - 1].",
    ),
    Mistake(
        "bias-missing",
        "a bias is missing: PyTorch's cells add both bias_ih and bias_hh (for the GRU: b_in to the "
        "input part and b_hn inside the reset product).",
    ),
    Mistake(
        "bias-twice",
        "one bias is used twice and the other not at all: add bias_ih once and bias_hh once.",
    ),
    Mistake(
        "weight-transpose",
        "a weight matrix is used the wrong way round. Forward: x @ weight_ih.T and h @ weight_hh.T "
        "(rows of a weight are output units, as in nn.Linear). Backward: the gradient goes back "
        "through h @ weight_hh.T as grad @ weight_hh, and grad_weight_hh = da^T @ h_prev (not "
        "h_prev^T @ da). weight_hh is square, so the shapes do not tell you.",
    ),
    Mistake(
        "overflowing-activation",
        "tanh or the sigmoid is written with exp and overflows for large inputs (inf / inf = NaN); "
        "use torch.tanh and torch.sigmoid, which saturate cleanly at -1/1 and 0/1.",
    ),
    Mistake(
        "lstm-gate-order",
        "the LSTM gates are taken in the wrong order: the 4H rows of the weights and biases are "
        "[input i | forget f | cell g | output o] (PyTorch's order), with i, f, o sigmoids and g a tanh.",
    ),
    Mistake(
        "lstm-cell-from-h",
        "the LSTM's cell state is updated from h: c_next = f * c + i * g (the old CELL state), "
        "then h_next = o * tanh(c_next).",
    ),
    Mistake(
        "gru-reset-before-matmul",
        "the GRU's reset gate is applied before the matmul, W_hn (r * h); PyTorch applies it after, "
        "to the whole hidden part: n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)).",
    ),
    Mistake(
        "gru-update-reversed",
        "the GRU's update interpolation is reversed: h_next = (1 - z) * n + z * h (z near 1 keeps "
        "the old state), not z * n + (1 - z) * h.",
    ),
    Mistake(
        "gru-gate-order",
        "the GRU gates are taken in the wrong order: the 3H rows of the weights and biases are "
        "[reset r | update z | new n] (PyTorch's order).",
    ),
    Mistake(
        "gru-bias-outside-reset",
        "the GRU's b_hn is added outside the reset product; PyTorch multiplies it by r with the "
        "matmul: n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)). (Summing bias_ih and bias_hh "
        "first only works for the r and z rows.)",
    ),
    Mistake(
        "bptt-no-carry",
        "backpropagation through time does not carry the gradient from step t + 1 into step t: "
        "the gradient reaching hs[t] is grad_hs[t] PLUS da_{t+1} @ weight_hh, because hs[t] also "
        "feeds the next step. Go backwards in time and add it before the tanh derivative.",
    ),
    Mistake(
        "bptt-no-tanh-derivative",
        "the tanh derivative is missing (everywhere, or in the gradient carried to the previous "
        "step): da_t = dh_t * (1 - hs[t]**2), and it is da_t, not dh_t, that goes into every "
        "gradient and into the carry da_t @ weight_hh.",
    ),
    Mistake(
        "inputs-modified-in-place",
        "an input is modified in place (grad_hs[t] += ..., a view of an argument changed); build "
        "new tensors (dh = grad_hs[t] + carry) so the caller's tensors stay as they were.",
    ),
]

MISTAKE = by_id(MISTAKES)
