"""Drive the learner's functions (through `impl`) and compare them with PyTorch.

Shared by the public and the hidden suite. Every call gets fresh copies of its inputs, so a learner
who modifies an argument cannot change what the oracle sees. Over a sequence of cell steps the
learner is fed its own previous outputs, so the first step that goes wrong is the one reported,
with the mistake it looks like.
"""

from __future__ import annotations

import torch

from grader.checks import check_tensor, check_tuple, check_unchanged, fail
from tests.rnn.mistakes import MISTAKE
from tests.rnn.oracle import (
    TOL32_STEP,
    TOL64,
    TOL_CENTRAL,
    central_differences,
    near_misses,
    tol_backward,
    tol_sequence,
    torch_bptt,
    torch_cell,
    torch_layer,
)

_isclose = torch.isclose
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
BACKWARD_OUTPUTS = ("grad_xs", "grad_h0", "grad_weight_ih", "grad_weight_hh", "grad_bias_ih", "grad_bias_hh")


def step_tol(dtype) -> dict:
    return TOL64 if dtype == torch.float64 else TOL32_STEP


def describe(dtype, **sizes) -> str:
    return ", ".join(f"{k} {v}" for k, v in sizes.items()) + f", {str(dtype).replace('torch.', '')}"


def _copy(inputs: dict) -> dict:
    return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in inputs.items()}


def call_step(impl, kind: str, inputs: dict):
    """impl.<kind>_step on copies of `inputs`; a tensor (rnn, gru) or a pair (lstm)."""
    out = getattr(impl, f"{kind}_step")(**_copy(inputs))
    return check_tuple(out, 2, name="lstm_step") if kind == "lstm" else out


def check_step(impl, kind: str, inputs: dict, case: str, expected=None) -> None:
    """One call of rnn_step / lstm_step / gru_step against nn.RNNCell / LSTMCell / GRUCell (or
    against `expected`, a hand-worked value)."""
    params = {k: inputs[k] for k in PARAMS}
    if expected is None:
        expected = torch_cell(kind, inputs["x"], inputs["h"], params, inputs.get("c"))
    t = step_tol(inputs["x"].dtype)
    out = call_step(impl, kind, inputs)
    if kind == "lstm":
        for k, name in enumerate(("h_next", "c_next")):
            check_tensor(
                out[k],
                expected[k],
                name=f"{name} from lstm_step",
                case=case,
                near=near_misses("lstm", inputs, which=k),
                **t,
            )
    else:
        check_tensor(out, expected, name=f"h_next from {kind}_step", case=case, near=near_misses(kind, inputs), **t)


def _first_bad(actual, expected, t) -> int | None:
    """The first time step (dim 0) where `actual` differs from `expected` beyond the tolerance."""
    ok = _isclose(actual.detach(), expected, **t).reshape(actual.shape[0], -1).all(dim=1)
    return None if bool(ok.all()) else int((~ok).nonzero()[0])


def check_forward(impl, xs, h0, params: dict, case: str) -> None:
    """rnn_forward against nn.RNN over the whole sequence; a wrong result is reported at its first
    wrong time step."""
    expected = torch_layer("rnn", xs, h0, params)
    t = tol_sequence(xs.dtype, xs.shape[0])
    inputs = dict(xs=xs, h0=h0, **params)
    hs = impl.rnn_forward(**_copy(inputs))
    name = "hs from rnn_forward"
    if not (isinstance(hs, torch.Tensor) and hs.shape == expected.shape and hs.dtype == expected.dtype):
        check_tensor(hs, expected, name=name, case=case, **t)  # type, shape or dtype: said there
    bad = _first_bad(hs, expected, t)
    if bad is not None:
        check_tensor(
            hs[bad],
            expected[bad],
            name=f"{name} at time step {bad} (the first wrong one)",
            case=f"{case} (nn.RNN as reference)",
            near=near_misses("forward", inputs, at=bad),
            **t,
        )


def check_cell_sequence(impl, kind: str, xs, h0, params: dict, case: str, c0=None) -> None:
    """rnn_step / lstm_step / gru_step applied along a sequence, each step fed the learner's own
    previous state, against nn.RNN / LSTM / GRU over the same sequence: every hidden state, and
    for the LSTM the last cell state."""
    expected = torch_layer(kind, xs, h0, params, c0)
    expected_hs, expected_c = expected if kind == "lstm" else (expected, None)
    t = tol_sequence(xs.dtype, xs.shape[0])
    h, c = h0, c0
    for step in range(xs.shape[0]):
        inputs = dict(x=xs[step], h=h, **({"c": c} if kind == "lstm" else {}), **params)
        out = call_step(impl, kind, inputs)
        h, c = out if kind == "lstm" else (out, None)
        where = (
            f"{case}, time step {step} of {xs.shape[0]}, fed your own previous state (nn.{kind.upper()} as reference)"
        )
        if not (
            isinstance(h, torch.Tensor)
            and h.shape == h0.shape
            and h.dtype == h0.dtype
            and bool(_isclose(h.detach(), expected_hs[step], **t).all())
        ):
            check_tensor(
                h,
                expected_hs[step],
                name=f"h_next from {kind}_step",
                case=where,
                near=near_misses(kind, inputs, which=0 if kind == "lstm" else None),
                **t,
            )
    if kind == "lstm":
        check_tensor(
            c,
            expected_c,
            name="c_next from lstm_step at the last step",
            case=f"{case} (nn.LSTM's final cell state as reference)",
            near=near_misses("lstm", inputs, which=1),
            **t,
        )


def check_backward(impl, grad_hs, xs, h0, params: dict, case: str, oracle: str = "autograd") -> None:
    """rnn_backward against autograd through nn.RNN (or float64 central differences), given the
    hidden states nn.RNN computed; the inputs must come back unchanged."""
    hs, autograd = torch_bptt(grad_hs, xs, h0, params)
    if oracle == "central":
        expected, t = central_differences(grad_hs, xs, h0, params), TOL_CENTRAL
        source = "float64 central differences of sum(grad_hs * hs) as reference"
    else:
        expected = autograd
        scale = max(float(g.abs().max()) for g in autograd if g.numel())
        t = tol_backward(xs.dtype, xs.shape[0], scale)
        source = "PyTorch autograd through nn.RNN as reference"
    inputs = dict(grad_hs=grad_hs, xs=xs, hs=hs, h0=h0, weight_ih=params["weight_ih"], weight_hh=params["weight_hh"])
    given = {k: v.clone() for k, v in inputs.items()}
    out = check_tuple(impl.rnn_backward(**given), 6, name="rnn_backward")
    for k, name in enumerate(BACKWARD_OUTPUTS):
        check_tensor(
            out[k],
            expected[k].to(xs.dtype),
            name=f"{name} from rnn_backward",
            case=f"{case} ({source})",
            near=near_misses("backward", inputs, which=k),
            **t,
        )
    for name, before in inputs.items():
        check_unchanged(
            before,
            given[name],
            name=name,
            call="rnn_backward(grad_hs, xs, hs, h0, ...)",
            mistake=MISTAKE["inputs-modified-in-place"],
        )
    if any(o is given[n] for o in out for n in given):
        fail("rnn_backward returned one of its inputs instead of a new tensor.")
