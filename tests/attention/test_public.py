"""Attention, public tests: hand-worked cases, then PyTorch's softmax, F.scaled_dot_product_attention
and nn.MultiheadAttention (outputs and gradients), and decoding with a cache against causal attention.

Run with `make test topic=attention`. Learner code is reached only through the `impl` fixture.
"""

import math

import pytest
import torch

from tests.attention.driver import (
    check_decode,
    check_mha,
    check_mha_gradients,
    check_sdpa,
    check_sdpa_gradients,
    check_softmax,
    fail_if_not_finite,
    make_case,
    make_mha,
)
from tests.attention.oracle import TOL64, large_tol, randn, tol, torch_sdpa64

f32, f64 = torch.float32, torch.float64
LN2, LN3, LN5 = math.log(2), math.log(3), math.log(5)


@pytest.mark.points(1)
def test_softmax_by_hand(impl):
    """softmax([0, ln 2, ln 5]) = [1/8, 2/8, 5/8]; a -inf entry gets probability 0."""
    # exp gives [1, 2, 5], which sum to 8. In the second row exp(-inf) = 0 and the two zeros share
    # the probability: [0, 1/2, 1/2]. The third row is the first moved by 1000 (same answer: only
    # differences of the inputs matter, and exp(1000) would overflow without the max shift).
    x = torch.tensor([[0.0, LN2, LN5], [float("-inf"), 0.0, 0.0], [1000.0, 1000.0 + LN2, 1000.0 + LN5]], dtype=f64)
    expected = torch.tensor([[1 / 8, 2 / 8, 5 / 8], [0.0, 0.5, 0.5], [1 / 8, 2 / 8, 5 / 8]], dtype=f64)
    check_softmax(impl, x, -1, "three rows by hand, float64, dim=-1", TOL64, expected=expected)


@pytest.mark.parametrize(
    "dtype, shape, dim", [(f32, (2, 3, 5), -1), (f64, (4, 3), 0)], ids=["float32-last-dim", "float64-dim0"]
)
def test_softmax_against_torch(impl, dtype, shape, dim):
    """softmax(x, dim) equals torch.softmax(x, dim) along the dimension it is given."""
    x = randn(*shape, seed=1, dtype=dtype, scale=3.0)
    check_softmax(impl, x, dim, f"{str(dtype)[6:]}, shape {shape}, random inputs of size 3", tol(dtype))


@pytest.mark.parametrize("dtype", [f32, f64], ids=["float32", "float64"])
def test_softmax_large_inputs(impl, dtype):
    """Inputs near +1e4 and -1e4 give the same finite softmax as torch (no overflow, no 0 / 0)."""
    # Offsets in eighths are exact at 1e4 even in float32, so the float64 answer is the exact one.
    offsets = torch.arange(-12, 12, dtype=f64).reshape(4, 6) / 8
    for sign in (1, -1):
        x = (sign * 1e4 + offsets).to(dtype)
        expected = torch.softmax(x.double(), -1).to(dtype)
        case = f"{str(dtype)[6:]}, shape (4, 6), inputs near {sign * 1e4:g}"
        actual = impl.softmax(x.clone(), dim=-1)
        fail_if_not_finite(actual, expected, name="softmax(x, dim=-1)", case=case, mistake="no-max-shift")
        check_softmax(impl, x, -1, case, large_tol(dtype, 1e4), expected=expected)


@pytest.mark.points(2)
def test_attention_by_hand(impl):
    """Two queries, three keys, E = 4: no mask, a boolean mask, causal, an empty row, scale=1."""
    # keys k0 = 0, k1 = e1, k2 = e2; values v0 = (4, 0), v1 = (0, 8), v2 = (2, 2).
    # query 0 = (2 ln 3) e1 -> scores (0, ln 3, 0) after the scale 1/sqrt(4) = 1/2;
    # query 1 = 0         -> scores (0, 0, 0).
    # No mask:  q0 weights (1, 3, 1) / 5 -> (4 + 2, 24 + 2) / 5 = (1.2, 5.2); q1 uniform -> (2, 10/3).
    # Mask [[T, T, F], [F, T, T]]: q0 weights (1/4, 3/4, 0) -> (1, 6); q1 (0, 1/2, 1/2) -> (1, 5).
    # Causal (top-left): q0 sees k0 only -> (4, 0); q1 sees k0, k1 equally -> (2, 4).
    # Mask [[T, T, F], [F, F, F]]: q0 -> (1, 6); q1 allows no key -> zeros (PyTorch 2.13).
    # scale=1 given: q0 scores (0, 2 ln 3, 0), weights (1, 9, 1) / 11 -> (6/11, 74/11); q1 as before.
    q = torch.tensor([[2 * LN3, 0, 0, 0], [0, 0, 0, 0]], dtype=f64)
    k = torch.tensor([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]], dtype=f64)
    v = torch.tensor([[4, 0], [0, 8], [2, 2]], dtype=f64)
    t, f = True, False
    cases = [
        (dict(), [[1.2, 5.2], [2, 10 / 3]]),
        (dict(mask=torch.tensor([[t, t, f], [f, t, t]])), [[1, 6], [1, 5]]),
        (dict(is_causal=True), [[4, 0], [2, 4]]),
        (dict(mask=torch.tensor([[t, t, f], [f, f, f]])), [[1, 6], [0, 0]]),
        (dict(scale=1.0), [[6 / 11, 74 / 11], [2, 10 / 3]]),
    ]
    for options, expected in cases:
        check_sdpa(
            impl, q, k, v, **options, case="by hand", expected=torch.tensor(expected, dtype=f64), tolerance=TOL64
        )


SDPA_CASES = {
    "4-D, Lq != Lk, E != Ev": dict(q=(2, 3, 4, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 5)),
    "boolean mask broadcast over batch and heads": dict(
        q=(2, 3, 4, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 5), mask="bool", empty_row=2
    ),
    "float mask (B, 1, Lq, Lk)": dict(q=(2, 3, 4, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 5), mask="float"),
    "causal, Lq < Lk": dict(q=(2, 3, 4, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 5), is_causal=True),
    "unbatched (L, E), float32, causal": dict(q=(5, 8), k=(5, 8), v=(5, 3), is_causal=True, dtype=f32),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(SDPA_CASES))
def test_attention_against_torch(impl, name):
    """scaled_dot_product_attention equals F.scaled_dot_product_attention (shapes, masks, dtypes)."""
    q, k, v, options = make_case(SDPA_CASES[name], seed=10)
    check_sdpa(impl, q, k, v, **options, case=name)


def test_attention_large_scores(impl):
    """Scores in the thousands give PyTorch's (finite) answer: the softmax inside is stable."""
    # Integer q and k and the scale 1/2 make the scores exact in float32 (up to about 7000); the
    # answer is F.scaled_dot_product_attention in float64, rounded. The values are positive, so
    # the output has no cancellation and the relative tolerance applies.
    gen = torch.Generator().manual_seed(3)
    q = torch.randint(-60, 61, (2, 5, 4), generator=gen).to(f32)
    k = torch.randint(-60, 61, (2, 7, 4), generator=gen).to(f32)
    v = 1 + torch.rand(2, 7, 3, generator=gen)
    expected = torch_sdpa64(q, k, v)
    magnitude = float((q.double() @ k.double().transpose(-2, -1)).abs().max()) / 2
    check_sdpa(
        impl,
        q,
        k,
        v,
        case="integer q and k",
        expected=expected,
        tolerance=large_tol(f32, magnitude),
        finite_mistake="no-max-shift",
    )


@pytest.mark.points(2)
def test_attention_gradients(impl):
    """Gradients with respect to q, k and v equal PyTorch's (boolean mask with an empty row)."""
    q, k, v, options = make_case(SDPA_CASES["boolean mask broadcast over batch and heads"], seed=20)
    check_sdpa_gradients(impl, q, k, v, **options, seed=25)


MHA_CASES = {
    "self-attention, causal, 2 heads": dict(
        batch=2, n_query=5, n_key=5, embed=8, heads=2, self_attention=True, is_causal=True
    ),
    "cross-attention, boolean mask (B, 1, L, S) with an empty row, 4 heads": dict(
        batch=2, n_query=4, n_key=6, embed=8, heads=4, mask=("bool", (2, 1, 4, 6))
    ),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(MHA_CASES))
def test_multi_head_attention_against_module(impl, name):
    """multi_head_attention equals nn.MultiheadAttention(E, H, batch_first=True) with its parameters."""
    check_mha(impl, make_mha(MHA_CASES[name], seed=30), case=name)


@pytest.mark.points(2)
def test_multi_head_attention_gradients(impl):
    """Gradients with respect to the inputs and all four parameters equal nn.MultiheadAttention's."""
    name = "cross-attention, boolean mask (B, 1, L, S) with an empty row, 4 heads"
    check_mha_gradients(impl, make_mha(MHA_CASES[name], seed=40), seed=45, case=name)


@pytest.mark.points(2)
def test_decoding_equals_causal_attention(impl):
    """Decoding 5 positions one at a time with the cache equals causal attention over all 5."""
    q = randn(2, 3, 5, 4, seed=50)
    k = randn(2, 3, 5, 4, seed=51)
    v = randn(2, 3, 5, 6, seed=52)
    check_decode(impl, q, k, v, case="batch 2, 3 heads, D 4, Dv 6")
