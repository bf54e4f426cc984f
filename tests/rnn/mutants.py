"""Mutants of solutions/rnn.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

RNN_PRE = "pre = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh"
LSTM_GATES = "gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh  # (B, 4H)"
FORWARD_STEP = "h = rnn_step(xs[t], h, weight_ih, weight_hh, bias_ih, bias_hh)"
H_PREV = "h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]])"
GRU_GH = "gh = h @ weight_hh.T + bias_hh"
GRU_N = "n = torch.tanh(i_n + r * h_n)"
LSTM_ACT = "i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)"
LSTM_CHUNK = "i, f, g, o = gates.chunk(4, dim=1)"
CARRY = "carry = grad_pre[t] @ weight_hh"
GRAD_H = "grad_h = grad_hs[t] + carry"

MUTANTS = [
    # the RNN cell
    Mutant("tanh-missing", {"return torch.tanh(pre)": "return pre"}),
    Mutant("bias-missing", {RNN_PRE: "pre = x @ weight_ih.T + bias_ih + h @ weight_hh.T"}, id="rnn-bias-hh-dropped"),
    Mutant(
        "bias-twice",
        {RNN_PRE: "pre = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_ih"},
        id="rnn-bias-ih-twice",
    ),
    Mutant(
        "weight-transpose",
        {RNN_PRE: "pre = x @ weight_ih.T + bias_ih + h @ weight_hh + bias_hh"},
        id="rnn-weight-hh-not-transposed",
    ),
    Mutant(
        "overflowing-activation",
        {"return torch.tanh(pre)": "return (torch.exp(2 * pre) - 1) / (torch.exp(2 * pre) + 1)"},
        id="tanh-by-exp",
    ),
    # the sequence
    Mutant(
        "wrong-previous-state",
        {FORWARD_STEP: "h = rnn_step(xs[t], h0, weight_ih, weight_hh, bias_ih, bias_hh)"},
        id="every-step-from-h0",
    ),
    Mutant(
        "wrong-previous-state",
        {f"        {FORWARD_STEP}\n        states.append(h)\n": f"        states.append(h)\n        {FORWARD_STEP}\n"},
        id="states-before-each-step",
    ),
    # backpropagation through time
    Mutant("bptt-no-carry", {GRAD_H: "grad_h = grad_hs[t]"}),
    Mutant("bptt-no-tanh-derivative", {"grad_pre[t] = grad_h * (1 - hs[t] * hs[t])": "grad_pre[t] = grad_h"}),
    Mutant("bptt-no-tanh-derivative", {CARRY: "carry = grad_h @ weight_hh"}, id="bptt-carry-skips-tanh"),
    Mutant("wrong-previous-state", {H_PREV: "h_prev = hs"}, id="bptt-previous-state-is-current"),
    Mutant("weight-transpose", {CARRY: "carry = grad_pre[t] @ weight_hh.T"}, id="bptt-carry-transposed"),
    Mutant(
        "weight-transpose",
        {
            "grad_weight_hh = flat.T @ h_prev.reshape(-1, h_prev.shape[-1])": (
                "grad_weight_hh = h_prev.reshape(-1, h_prev.shape[-1]).T @ flat"
            )
        },
        id="bptt-grad-weight-hh-transposed",
    ),
    Mutant("inputs-modified-in-place", {GRAD_H: "grad_h = grad_hs[t].add_(carry)"}),
    # the LSTM
    Mutant("lstm-gate-order", {LSTM_CHUNK: "i, f, o, g = gates.chunk(4, dim=1)"}, id="lstm-gates-i-f-o-g"),
    Mutant("lstm-gate-order", {LSTM_CHUNK: "f, i, g, o = gates.chunk(4, dim=1)"}, id="lstm-gates-f-i-g-o"),
    Mutant("lstm-cell-from-h", {"    c_next = f * c + i * g\n": "    c_next = f * h + i * g\n"}),
    Mutant(
        "bias-missing", {LSTM_GATES: "gates = x @ weight_ih.T + h @ weight_hh.T + bias_hh"}, id="lstm-bias-ih-dropped"
    ),
    Mutant(
        "bias-twice",
        {LSTM_GATES: "gates = x @ weight_ih.T + bias_hh + h @ weight_hh.T + bias_hh"},
        id="lstm-bias-hh-twice",
    ),
    Mutant(
        "overflowing-activation",
        {
            LSTM_ACT: "sig = lambda a: torch.exp(a) / (1 + torch.exp(a))\n"
            "    i, f, g, o = sig(i), sig(f), torch.tanh(g), sig(o)"
        },
        id="lstm-sigmoid-by-exp",
    ),
    # the GRU
    Mutant(
        "gru-reset-before-matmul",
        {
            GRU_N: "hidden = h.shape[1]\n"
            "    n = torch.tanh(i_n + (r * h) @ weight_hh[2 * hidden:].T + bias_hh[2 * hidden:])"
        },
    ),
    Mutant("gru-update-reversed", {"return (1 - z) * n + z * h": "return z * n + (1 - z) * h"}),
    Mutant(
        "gru-gate-order",
        {
            "i_r, i_z, i_n = gi.chunk(3, dim=1)": "i_z, i_r, i_n = gi.chunk(3, dim=1)",
            "h_r, h_z, h_n = gh.chunk(3, dim=1)": "h_z, h_r, h_n = gh.chunk(3, dim=1)",
        },
    ),
    Mutant(
        "gru-bias-outside-reset",
        {GRU_N: "b_hn = bias_hh[2 * h.shape[1]:]\n    n = torch.tanh(i_n + b_hn + r * (h_n - b_hn))"},
    ),
    Mutant("bias-missing", {GRU_GH: "gh = h @ weight_hh.T"}, id="gru-bias-hh-dropped"),
    Mutant("bias-twice", {GRU_GH: "gh = h @ weight_hh.T + bias_ih"}, id="gru-bias-ih-twice"),
]

ALTERNATIVES = [
    Alternative(
        "float64-inside",
        "every cell and the backward pass compute in float64 and cast the results back",
        {
            f"    {RNN_PRE}\n    return torch.tanh(pre)": "    dt = x.dtype\n"
            "    x, h, weight_ih, weight_hh, bias_ih, bias_hh = (\n"
            "        t.double() for t in (x, h, weight_ih, weight_hh, bias_ih, bias_hh))\n"
            f"    {RNN_PRE}\n    return torch.tanh(pre).to(dt)",
            f"    {H_PREV}": "    dt = xs.dtype\n"
            "    grad_hs, xs, hs, h0, weight_ih, weight_hh = (\n"
            "        t.double() for t in (grad_hs, xs, hs, h0, weight_ih, weight_hh))\n"
            f"    {H_PREV}",
            "    return grad_xs, carry, grad_weight_ih, grad_weight_hh, grad_bias, grad_bias.clone()": (
                "    return tuple(t.to(dt) for t in (grad_xs, carry, grad_weight_ih, grad_weight_hh,\n"
                "                                    grad_bias, grad_bias))"
            ),
            f"    {LSTM_GATES}": "    dt = x.dtype\n"
            "    x, h, c, weight_ih, weight_hh, bias_ih, bias_hh = (\n"
            "        t.double() for t in (x, h, c, weight_ih, weight_hh, bias_ih, bias_hh))\n"
            f"    {LSTM_GATES}",
            "    return h_next, c_next": "    return h_next.to(dt), c_next.to(dt)",
            "    gi = x @ weight_ih.T + bias_ih": "    dt = x.dtype\n"
            "    x, h, weight_ih, weight_hh, bias_ih, bias_hh = (\n"
            "        t.double() for t in (x, h, weight_ih, weight_hh, bias_ih, bias_hh))\n"
            "    gi = x @ weight_ih.T + bias_ih",
            "return (1 - z) * n + z * h": "return ((1 - z) * n + z * h).to(dt)",
        },
    ),
    Alternative(
        "loops-and-slices",
        "BPTT accumulates every gradient inside the time loop; the LSTM and GRU slice the gates "
        "out of separate matmuls per gate; sigmoid written as 0.5 * (1 + tanh(a / 2))",
        {
            "    for t in reversed(range(xs.shape[0])):\n"
            f"        {GRAD_H}\n"
            "        grad_pre[t] = grad_h * (1 - hs[t] * hs[t])\n"
            f"        {CARRY}\n"
            "    grad_xs = grad_pre @ weight_ih\n"
            "    flat = grad_pre.reshape(-1, grad_pre.shape[-1])  # (T * B, H): every step of every sequence\n"
            "    grad_weight_ih = flat.T @ xs.reshape(-1, xs.shape[-1])\n"
            "    grad_weight_hh = flat.T @ h_prev.reshape(-1, h_prev.shape[-1])\n"
            "    grad_bias = flat.sum(dim=0)\n": "    grad_xs = torch.zeros_like(xs)\n"
            "    grad_weight_ih = torch.zeros_like(weight_ih)\n"
            "    grad_weight_hh = torch.zeros_like(weight_hh)\n"
            "    grad_bias = torch.zeros(weight_hh.shape[0], dtype=hs.dtype)\n"
            "    for t in range(xs.shape[0] - 1, -1, -1):\n"
            "        da = (grad_hs[t] + carry) * (1 - hs[t] ** 2)\n"
            "        grad_xs[t] = da @ weight_ih\n"
            "        grad_weight_ih = grad_weight_ih + da.T @ xs[t]\n"
            "        grad_weight_hh = grad_weight_hh + da.T @ h_prev[t]\n"
            "        grad_bias = grad_bias + da.sum(dim=0)\n"
            "        carry = da @ weight_hh\n",
            f"    {LSTM_CHUNK}\n    {LSTM_ACT}\n": "    H = h.shape[1]\n"
            "    sig = lambda a: 0.5 * (1 + torch.tanh(a / 2))\n"
            "    i, f = sig(gates[:, :H]), sig(gates[:, H:2 * H])\n"
            "    g, o = torch.tanh(gates[:, 2 * H:3 * H]), sig(gates[:, 3 * H:])\n",
            "    i_r, i_z, i_n = gi.chunk(3, dim=1)\n    h_r, h_z, h_n = gh.chunk(3, dim=1)\n": "    H = h.shape[1]\n"
            "    W_ir, W_iz, W_in = weight_ih[:H], weight_ih[H:2 * H], weight_ih[2 * H:]\n"
            "    W_hr, W_hz, W_hn = weight_hh[:H], weight_hh[H:2 * H], weight_hh[2 * H:]\n"
            "    i_r, i_z = x @ W_ir.T + bias_ih[:H], x @ W_iz.T + bias_ih[H:2 * H]\n"
            "    i_n = x @ W_in.T + bias_ih[2 * H:]\n"
            "    h_r, h_z = h @ W_hr.T + bias_hh[:H], h @ W_hz.T + bias_hh[H:2 * H]\n"
            "    h_n = h @ W_hn.T + bias_hh[2 * H:]\n",
        },
    ),
    Alternative(
        "inputs-projected-at-once",
        "rnn_forward projects every input in one matmul before the loop and writes the states "
        "into a preallocated tensor; the cells use torch.addmm and torch.nn.functional.linear",
        {
            "    h = h0\n    states = []\n    for t in range(xs.shape[0]):\n"
            f"        {FORWARD_STEP}\n        states.append(h)\n    return torch.stack(states)\n": (
                "    projected = xs @ weight_ih.T + bias_ih + bias_hh  # (T, B, H)\n"
                "    hs = xs.new_empty(xs.shape[0], xs.shape[1], weight_hh.shape[0])\n"
                "    h = h0\n"
                "    for t in range(xs.shape[0]):\n"
                "        h = torch.tanh(projected[t] + h @ weight_hh.T)\n"
                "        hs[t] = h\n"
                "    return hs\n"
            ),
            RNN_PRE: "pre = torch.addmm(bias_ih, x, weight_ih.T) + torch.addmm(bias_hh, h, weight_hh.T)",
            LSTM_GATES: "gates = torch.nn.functional.linear(x, weight_ih, bias_ih) + "
            "torch.nn.functional.linear(h, weight_hh, bias_hh)",
        },
    ),
]

TRIVIAL = [
    Trivial(
        "zeros",
        "every function returns zeros of the right shapes",
        (
            "return torch.zeros_like(h)",
            "return torch.zeros(xs.shape[0], *h0.shape, dtype=xs.dtype)",
            "return (torch.zeros_like(xs), torch.zeros_like(h0), torch.zeros_like(weight_ih),\n"
            "        torch.zeros_like(weight_hh), torch.zeros(weight_hh.shape[0], dtype=xs.dtype),\n"
            "        torch.zeros(weight_hh.shape[0], dtype=xs.dtype))",
            "return torch.zeros_like(h), torch.zeros_like(c)",
            "return torch.zeros_like(h)",
        ),
    ),
    Trivial(
        "returns-inputs",
        "the cells return the state they were given, rnn_forward repeats h0, and rnn_backward "
        "hands back grad_hs where it fits and zeros elsewhere",
        (
            "return h.clone()",
            "return h0.expand(xs.shape[0], *h0.shape).clone()",
            "return (torch.zeros_like(xs), grad_hs[0].clone(), torch.zeros_like(weight_ih),\n"
            "        torch.zeros_like(weight_hh), grad_hs.sum(dim=(0, 1)), grad_hs.sum(dim=(0, 1)))",
            "return h.clone(), c.clone()",
            "return h.clone()",
        ),
    ),
]
