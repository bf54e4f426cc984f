"""Attention, hidden tests: more shapes, dtypes and masks against PyTorch, gradients of every
function (also against float64 central differences), more multi-head settings, longer decoding.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch

from grader.checks import check_tensor
from grader.gradients import call_with_grads
from tests.attention.driver import (
    check_decode,
    check_decode_gradients,
    check_mha,
    check_mha_gradients,
    check_sdpa,
    check_sdpa_gradients,
    check_softmax,
    check_softmax_gradients,
    fail_if_not_finite,
    make_case,
    make_mha,
)
from tests.attention.oracle import (
    describe_sdpa,
    large_tol,
    randn,
    random_mask,
    sdpa_near,
    tol,
    torch_sdpa,
    torch_sdpa64,
)

f32, f64 = torch.float32, torch.float64


# ---------------------------------------------------------------------------------------------------
# softmax

SOFTMAX_CASES = {
    "float64, 1-D": (f64, (5,), 0),
    "float32, 3-D, middle dim": (f32, (2, 3, 4), 1),
    "float32, 4-D, dim -2": (f32, (3, 4, 2, 5), -2),
    "float64, 4-D, positive dim 3": (f64, (2, 2, 3, 4), 3),
}


@pytest.mark.parametrize("name", list(SOFTMAX_CASES))
def test_softmax_shapes_and_dims(impl, name):
    """softmax equals torch.softmax for 1-D to 4-D inputs along any dimension, negative or not."""
    dtype, shape, dim = SOFTMAX_CASES[name]
    x = randn(*shape, seed=100, dtype=dtype, scale=4.0)
    check_softmax(impl, x, dim, f"{name}, shape {shape}", tol(dtype))


def test_softmax_length_one_and_ties(impl):
    """A dimension of length 1 gives ones; equal inputs share equally; a wide spread still works."""
    # Along a dimension of length 1 every softmax is exactly 1. Equal entries get equal shares.
    # The last case mixes entries 1e4 apart: the small ones underflow to exactly 0.
    cases = [
        (torch.tensor([[[0.3, -2.0, 5.0]], [[1.0, 1.0, 1.0]]], dtype=f64), 1, "shape (2, 1, 3), dim=1"),
        (torch.tensor([[2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 7.0, 7.0]], dtype=f64), -1, "ties, dim=-1"),
        (
            torch.tensor([[1e4, -1e4, 0.0, 9999.0], [-1e4, -1e4 + 1, -1e4 + 2, -1e4 + 3]], dtype=f32),
            -1,
            "entries from -1e4 to 1e4, float32",
        ),
    ]
    for x, dim, case in cases:
        expected = torch.softmax(x.double(), dim).to(x.dtype)
        actual = impl.softmax(x.clone(), dim=dim)
        fail_if_not_finite(actual, expected, name=f"softmax(x, dim={dim})", case=case, mistake="no-max-shift")
        check_softmax(impl, x, dim, case, large_tol(x.dtype, float(x.abs().max())), expected=expected)


@pytest.mark.parametrize("dtype", [f32, f64], ids=["float32", "float64"])
def test_softmax_gradients(impl, dtype):
    """The gradient through softmax equals PyTorch's (autograd through torch.softmax)."""
    x = randn(3, 4, 5, seed=110, dtype=dtype, scale=2.0)
    check_softmax_gradients(impl, x, 1, seed=111, case=f"{str(dtype)[6:]}, shape (3, 4, 5), dim=1")


# ---------------------------------------------------------------------------------------------------
# scaled dot-product attention

B, H = 2, 3
MORE_SDPA = {
    "2-D, float64, Lq > Lk": dict(q=(7, 4), k=(3, 4), v=(3, 2)),
    "3-D (H, L, E), float32": dict(q=(3, 5, 6), k=(3, 5, 6), v=(3, 5, 6), dtype=f32),
    "5-D, boolean mask (B, 1, 1, Lq, Lk)": dict(
        q=(2, 2, 2, 3, 4), k=(2, 2, 2, 5, 4), v=(2, 2, 2, 5, 3), mask="bool", mask_shape=(2, 1, 1, 3, 5)
    ),
    "one query (Lq = 1)": dict(q=(B, H, 1, 8), k=(B, H, 6, 8), v=(B, H, 6, 4)),
    "causal, Lq = 2 < Lk = 6": dict(q=(B, H, 2, 8), k=(B, H, 6, 8), v=(B, H, 6, 4), is_causal=True),
    "E = 1, Ev = 1": dict(q=(B, 5, 1), k=(B, 7, 1), v=(B, 7, 1)),
    "key padding mask (B, 1, 1, Lk)": dict(
        q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), mask="bool", mask_shape=(B, 1, 1, 6)
    ),
    "boolean mask (1, Lk) on 3-D inputs": dict(q=(B, 4, 8), k=(B, 6, 8), v=(B, 6, 5), mask="bool", mask_shape=(1, 6)),
    "boolean mask (B, H, Lq, Lk), float32, empty row": dict(
        q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), mask="bool", mask_shape=(B, H, 4, 6), empty_row=3, dtype=f32
    ),
    "float mask (Lq, Lk) with a -inf row": dict(
        q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), mask="float", mask_shape=(4, 6), empty_row=0
    ),
    "float mask, float32": dict(q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), mask="float", dtype=f32),
    "causal, Lq > Lk": dict(q=(B, H, 6, 8), k=(B, H, 4, 8), v=(B, H, 4, 5), is_causal=True),
    "causal, Lq = Lk, float32": dict(q=(B, H, 6, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), is_causal=True, dtype=f32),
    "scale given (0.3), boolean mask": dict(q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), scale=0.3, mask="bool"),
    "scale given (1.0), causal": dict(q=(B, 5, 16), k=(B, 5, 16), v=(B, 5, 3), scale=1.0, is_causal=True),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(MORE_SDPA))
def test_attention_more_cases(impl, name):
    """scaled_dot_product_attention equals F.scaled_dot_product_attention on many shapes and masks."""
    q, k, v, options = make_case(MORE_SDPA[name], seed=200)
    check_sdpa(impl, q, k, v, **options, case=name)


def test_attention_single_key_and_single_position(impl):
    """With one key every query returns that key's value; with one position, causal or not, too."""
    # softmax over a single key is 1, so the output is v broadcast over the queries; checked along
    # with a case of two keys, where the weights are not trivial.
    q, k, v = randn(B, H, 4, 8, seed=210), randn(B, H, 1, 8, seed=211), randn(B, H, 1, 5, seed=212)
    check_sdpa(impl, q, k, v, case="one key (Lk = 1)")
    q1, k1, v1 = randn(B, 1, 8, seed=213), randn(B, 1, 8, seed=214), randn(B, 1, 3, seed=215)
    check_sdpa(impl, q1, k1, v1, is_causal=True, case="one position (Lq = Lk = 1)")
    k2, v2 = randn(B, H, 2, 8, seed=216, scale=2.0), randn(B, H, 2, 5, seed=217)
    check_sdpa(impl, q, k2, v2, case="two keys")


@pytest.mark.parametrize("dtype", [f32, f64], ids=["float32", "float64"])
def test_attention_large_negative_scores(impl, dtype):
    """Every score near -5000 (each exp underflows to 0): the answer is still PyTorch's."""
    # Integer q, k with a shared large negative part: scores = q.k / 2 are exact and all very
    # negative, so a softmax without the max shift computes 0 / 0. Values positive (no cancellation).
    gen = torch.Generator().manual_seed(220)
    q = torch.cat([torch.full((2, 5, 1), 100.0), torch.randint(-3, 4, (2, 5, 3), generator=gen).double()], -1)
    k = torch.cat([torch.full((2, 6, 1), -100.0), torch.randint(-3, 4, (2, 6, 3), generator=gen).double()], -1)
    q, k = q.to(dtype), k.to(dtype)
    v = (1 + torch.rand(2, 6, 4, generator=gen, dtype=f64)).to(dtype)
    expected = torch_sdpa64(q, k, v)
    check_sdpa(
        impl,
        q,
        k,
        v,
        case="scores near -5000",
        expected=expected,
        tolerance=large_tol(dtype, 5100.0),
        finite_mistake="no-max-shift",
    )


GRADIENT_CASES = {
    "float32, no mask": dict(q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), dtype=f32),
    "causal, Lq > Lk": dict(q=(B, H, 6, 8), k=(B, H, 4, 8), v=(B, H, 4, 5), is_causal=True),
    "float mask (B, Lq, Lk), scale 0.5": dict(
        q=(B, 4, 8), k=(B, 6, 8), v=(B, 6, 5), mask="float", mask_shape=(B, 4, 6), scale=0.5
    ),
    "2-D, boolean mask with an empty row, float32": dict(
        q=(5, 4), k=(6, 4), v=(6, 3), mask="bool", empty_row=4, dtype=f32
    ),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(GRADIENT_CASES))
def test_attention_gradients_more(impl, name):
    """Gradients with respect to q, k and v equal PyTorch's (autograd through F.scaled_dot_product_attention)."""
    q, k, v, options = make_case(GRADIENT_CASES[name], seed=230)
    check_sdpa_gradients(impl, q, k, v, **options, seed=235, case=name)


# Central differences in float64: the truncation error is about h**2 * |f'''| (1e-12 here) and the
# rounding error about 1e-16 / h (1e-10); 1e-7 leaves room for both.
CENTRAL_H = 1e-6
CENTRAL_TOL = dict(rtol=1e-7, atol=1e-7)


def test_attention_gradients_central_differences(impl):
    """The gradients (through autograd on your functions) match float64 central differences."""
    q, k, v = randn(3, 4, seed=240), randn(5, 4, seed=241), randn(5, 2, seed=242)
    mask = random_mask(3, 5, seed=243)
    grad_out = randn(3, 2, seed=244)
    inputs = dict(q=q, k=k, v=v)
    case = describe_sdpa(q, k, v, mask) + " (float64 central differences, h = 1e-6, as reference)"
    out, grads = call_with_grads(
        impl, "scaled_dot_product_attention", dict(inputs, mask=mask), wrt=("q", "k", "v"), grad_out=grad_out
    )
    check_tensor(
        out,
        torch_sdpa(q, k, v, mask),
        name="the output of scaled_dot_product_attention",
        case=case,
        near=sdpa_near(q, k, v, mask),
        **tol(f64),
    )
    for name, x in inputs.items():
        numeric = torch.zeros_like(x)
        for i in range(x.numel()):
            values = []
            for sign in (1, -1):
                moved = x.clone().reshape(-1)
                moved[i] += sign * CENTRAL_H
                args = dict(inputs, mask=mask.clone())
                args[name] = moved.reshape(x.shape)
                result = impl.scaled_dot_product_attention(**{n: a.clone() for n, a in args.items()})
                values.append(float((result.detach() * grad_out).sum()))
            numeric.reshape(-1)[i] = (values[0] - values[1]) / (2 * CENTRAL_H)
        check_tensor(grads.get(name), numeric, name=f"the gradient with respect to {name}", case=case, **CENTRAL_TOL)


# ---------------------------------------------------------------------------------------------------
# multi-head attention

MORE_MHA = {
    "one head": dict(batch=2, n_query=4, n_key=5, embed=6, heads=1),
    "as many heads as dimensions (D = 1)": dict(
        batch=2, n_query=4, n_key=4, embed=4, heads=4, self_attention=True, is_causal=True
    ),
    "no biases, float32": dict(
        batch=3, n_query=5, n_key=5, embed=8, heads=2, bias=False, dtype=f32, self_attention=True
    ),
    "float mask (L, S)": dict(batch=2, n_query=4, n_key=6, embed=8, heads=2, mask=("float", (4, 6))),
    "boolean mask (B, H, L, S), float32": dict(
        batch=2, n_query=4, n_key=6, embed=12, heads=3, dtype=f32, mask=("bool", (2, 3, 4, 6))
    ),
    "one query position": dict(batch=2, n_query=1, n_key=6, embed=8, heads=2),
    "one key position": dict(batch=2, n_query=4, n_key=1, embed=8, heads=4),
    "causal cross-attention, L < S, E = 16": dict(batch=1, n_query=3, n_key=7, embed=16, heads=4, is_causal=True),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(MORE_MHA))
def test_multi_head_attention_more(impl, name):
    """multi_head_attention equals nn.MultiheadAttention on more head counts, masks and dtypes."""
    check_mha(impl, make_mha(MORE_MHA[name], seed=300), case=name)


MHA_GRADIENT_CASES = {
    "no biases, self-attention, causal": dict(
        batch=2, n_query=5, n_key=5, embed=8, heads=2, bias=False, self_attention=True, is_causal=True
    ),
    "float32, float mask (B, 1, L, S)": dict(
        batch=2, n_query=3, n_key=4, embed=8, heads=4, dtype=f32, mask=("float", (2, 1, 3, 4))
    ),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(MHA_GRADIENT_CASES))
def test_multi_head_attention_gradients_more(impl, name):
    """Gradients of the inputs and the parameters equal nn.MultiheadAttention's."""
    check_mha_gradients(impl, make_mha(MHA_GRADIENT_CASES[name], seed=310), seed=315, case=name)


# ---------------------------------------------------------------------------------------------------
# decoding with a cache

DECODE_CASES = {
    "float32, 8 positions": dict(shape=(2, 2, 8), d=4, dv=4, dtype=f32, prefix=0),
    "after a prompt of 3 positions, Dv != D": dict(shape=(1, 4, 7), d=6, dv=2, dtype=f64, prefix=3),
    "one step after a prompt of 5": dict(shape=(2, 1, 6), d=3, dv=5, dtype=f64, prefix=5),
    "no batch dimension (H, T, D), D = 1": dict(shape=(3, 6), d=1, dv=2, dtype=f64, prefix=0),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(DECODE_CASES))
def test_decoding_more(impl, name):
    """Decoding with the cache equals causal attention, from an empty or a filled cache."""
    spec = DECODE_CASES[name]
    lead = spec["shape"]
    q = randn(*lead, spec["d"], seed=400, dtype=spec["dtype"])
    k = randn(*lead, spec["d"], seed=401, dtype=spec["dtype"])
    v = randn(*lead, spec["dv"], seed=402, dtype=spec["dtype"])
    check_decode(impl, q, k, v, prefix=spec["prefix"], case=name)


@pytest.mark.parametrize("dtype", [f64, f32], ids=["float64", "float32"])
def test_decoding_gradients(impl, dtype):
    """Gradients flow through a decoding step into the new query, key and value as through causal
    attention (the cached positions are constants here)."""
    q = randn(2, 3, 5, 4, seed=410, dtype=dtype)
    k = randn(2, 3, 5, 4, seed=411, dtype=dtype)
    v = randn(2, 3, 5, 6, seed=412, dtype=dtype)
    check_decode_gradients(impl, q, k, v, prefix=4, seed=413, case="batch 2, 3 heads, D 4, Dv 6")
