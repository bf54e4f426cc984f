"""Recurrent networks by hand: an RNN step, a whole sequence, backpropagation through time, and the
LSTM and GRU cells.

Shapes and weight conventions are those of `nn.RNNCell`, `nn.LSTMCell` and `nn.GRUCell`, so their
weights can be copied in and out unchanged:

    x            (B, I)       one time step of input, a batch of B rows
    h, c         (B, H)       hidden state (and the LSTM's cell state)
    weight_ih    (G*H, I)     input-to-hidden weights; G = 1 (RNN), 4 (LSTM), 3 (GRU)
    weight_hh    (G*H, H)     hidden-to-hidden weights
    bias_ih      (G*H,)       both biases are added (PyTorch keeps two, so that its weights load)
    bias_hh      (G*H,)
    xs           (T, B, I)    a sequence, time first (T >= 1)
    hs           (T, B, H)    the hidden state after every step: hs[t] is the state after reading xs[t]

A weight matrix maps a row vector as `x @ weight.T`, as `nn.Linear` does. For the LSTM and the GRU
the G blocks of H rows of each weight and bias belong to the gates, in PyTorch's order:

    LSTM rows: [input i | forget f | cell g | output o]        (weight_ih[0:H] is W_ii, ...)
    GRU rows:  [reset r | update z | new n]

The cells, with s the logistic sigmoid and * the elementwise product:

    RNN   h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)

    LSTM  i = s(x W_ii^T + b_ii + h W_hi^T + b_hi)        f, o: the same with their own rows
          g = tanh(x W_ig^T + b_ig + h W_hg^T + b_hg)
          c' = f * c + i * g                               the cell state is carried, not h
          h' = o * tanh(c')

    GRU   r = s(x W_ir^T + b_ir + h W_hr^T + b_hr)        z: the same with its own rows
          n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))   reset AFTER the matmul and its bias
          h' = (1 - z) * n + z * h                         z near 1 keeps the old state

Conventions: results have the dtype of the inputs; no argument is modified in place. Every function
here is written with plain tensor operations (matmul, torch.tanh, torch.sigmoid, ...). Not allowed in
this file: `nn.RNN`, `nn.RNNCell`, `nn.LSTM`, `nn.LSTMCell`, `nn.GRU`, `nn.GRUCell` (anything in
`torch.nn.modules.rnn`), `torch._VF` and the `torch.rnn_tanh_cell` family, and autograd
(`torch.autograd`, `torch.func`, `.backward()`, `requires_grad`): `rnn_backward` is the gradient by
hand, and nothing else here needs one.
"""

from __future__ import annotations

import torch
from torch import Tensor


def rnn_step(x: Tensor, h: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor,
             bias_hh: Tensor) -> Tensor:
    """One step of an Elman RNN with tanh, as `nn.RNNCell(I, H)`.

    Args:
        x: input (B, I).
        h: previous hidden state (B, H).
        weight_ih: (H, I).  weight_hh: (H, H).  bias_ih, bias_hh: (H,).

    Returns:
        h_next = tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh), shape (B, H).
    """
    ### BEGIN SOLUTION
    pre = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    return torch.tanh(pre)
    ### END SOLUTION


def rnn_forward(xs: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor,
                bias_hh: Tensor) -> Tensor:
    """Run the RNN of `rnn_step` over a whole sequence, as a one-layer `nn.RNN(I, H)`.

    Step t (0-based) reads xs[t] and the state left by the step before (h0 for step 0):

        hs[0] = rnn_step(xs[0], h0, ...),   hs[t] = rnn_step(xs[t], hs[t - 1], ...)

    Args:
        xs: inputs (T, B, I), time first, T >= 1.
        h0: initial hidden state (B, H) (zeros for a fresh sequence).
        weight_ih, weight_hh, bias_ih, bias_hh: as in `rnn_step`.

    Returns:
        hs, shape (T, B, H): the hidden state after every step (h0 itself is not included; the last
        state is hs[-1]).
    """
    ### BEGIN SOLUTION
    h = h0
    states = []
    for t in range(xs.shape[0]):
        h = rnn_step(xs[t], h, weight_ih, weight_hh, bias_ih, bias_hh)
        states.append(h)
    return torch.stack(states)
    ### END SOLUTION


def rnn_backward(grad_hs: Tensor, xs: Tensor, hs: Tensor, h0: Tensor, weight_ih: Tensor,
                 weight_hh: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Backpropagation through time for `rnn_forward`, by hand.

    `grad_hs[t]` is the gradient of the loss with respect to hs[t] coming from outside the RNN
    (from an output layer, say: zero where the loss does not look at a step). The state hs[t] also
    feeds step t + 1, so the total gradient reaching hs[t] is

        dh_t = grad_hs[t] + da_{t+1} @ weight_hh         (only grad_hs[T-1] for the last step)
        da_t = dh_t * (1 - hs[t] ** 2)                   through tanh: tanh' = 1 - tanh^2

    where a_t is the pre-activation of step t. From da_t, with h_prev the state step t started
    from (h0 for t = 0, else hs[t - 1]):

        grad_xs[t]      = da_t @ weight_ih
        grad_h0         = da_0 @ weight_hh
        grad_weight_ih  = sum over t of da_t^T @ xs[t]
        grad_weight_hh  = sum over t of da_t^T @ h_prev
        grad_bias_ih    = grad_bias_hh = sum over t and the batch of da_t

    The biases are not arguments: their effect is already in `hs`.

    Args:
        grad_hs: (T, B, H).  xs: (T, B, I).  hs: (T, B, H), what `rnn_forward` returned.
        h0: (B, H).  weight_ih: (H, I).  weight_hh: (H, H).

    Returns:
        (grad_xs (T, B, I), grad_h0 (B, H), grad_weight_ih (H, I), grad_weight_hh (H, H),
         grad_bias_ih (H,), grad_bias_hh (H,)), new tensors; the inputs are left unchanged.
    """
    ### BEGIN SOLUTION
    h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]])  # (T, B, H): the state each step started from
    grad_pre = torch.empty_like(hs)  # da_t for every step
    carry = torch.zeros_like(h0)  # the gradient reaching h_t from step t + 1
    for t in reversed(range(xs.shape[0])):
        grad_h = grad_hs[t] + carry
        grad_pre[t] = grad_h * (1 - hs[t] * hs[t])
        carry = grad_pre[t] @ weight_hh
    grad_xs = grad_pre @ weight_ih
    flat = grad_pre.reshape(-1, grad_pre.shape[-1])  # (T * B, H): every step of every sequence
    grad_weight_ih = flat.T @ xs.reshape(-1, xs.shape[-1])
    grad_weight_hh = flat.T @ h_prev.reshape(-1, h_prev.shape[-1])
    grad_bias = flat.sum(dim=0)
    return grad_xs, carry, grad_weight_ih, grad_weight_hh, grad_bias, grad_bias.clone()
    ### END SOLUTION


def lstm_step(x: Tensor, h: Tensor, c: Tensor, weight_ih: Tensor, weight_hh: Tensor,
              bias_ih: Tensor, bias_hh: Tensor) -> tuple[Tensor, Tensor]:
    """One step of an LSTM, as `nn.LSTMCell(I, H)`.

    Args:
        x: input (B, I).  h: hidden state (B, H).  c: cell state (B, H).
        weight_ih: (4H, I).  weight_hh: (4H, H).  bias_ih, bias_hh: (4H,).
        The 4 blocks of H rows are the gates in PyTorch's order: input, forget, cell, output.

    Returns:
        (h_next, c_next), each (B, H):
            c_next = f * c + i * g,   h_next = o * tanh(c_next)
        with i, f, o sigmoids and g a tanh of their pre-activations (see the module docstring).
    """
    ### BEGIN SOLUTION
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_next = f * c + i * g
    h_next = o * torch.tanh(c_next)
    return h_next, c_next
    ### END SOLUTION


def gru_step(x: Tensor, h: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor,
             bias_hh: Tensor) -> Tensor:
    """One step of a GRU, as `nn.GRUCell(I, H)`.

    Args:
        x: input (B, I).  h: hidden state (B, H).
        weight_ih: (3H, I).  weight_hh: (3H, H).  bias_ih, bias_hh: (3H,).
        The 3 blocks of H rows are, in PyTorch's order: reset r, update z, new n.

    Returns:
        h_next (B, H):
            n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
            h_next = (1 - z) * n + z * h
        The reset gate multiplies the hidden part AFTER the matmul, bias b_hn included, as
        PyTorch (and cuDNN) do; the GRU paper's variant, W_hn (r * h), is a different function.
    """
    ### BEGIN SOLUTION
    gi = x @ weight_ih.T + bias_ih  # (B, 3H): the input's share of r, z, n
    gh = h @ weight_hh.T + bias_hh  # (B, 3H): the hidden state's share
    i_r, i_z, i_n = gi.chunk(3, dim=1)
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h
    ### END SOLUTION
