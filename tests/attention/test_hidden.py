"""Attention, hidden tests: more shapes, dtypes and masks against PyTorch, gradients of every
function (also against float64 central differences), more multi-head settings, longer decoding.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch

from grader.gradients import call_with_grads
from grader.kit import F32, F64, Tol, backward, cases, central_differences, check_output, check_outputs, describe, randn
from tests.attention.key import sdpa_mistakes, softmax_mistakes
from tests.attention.mistakes import MISTAKE
from tests.attention.test_public import (
    TOL64,
    check_decode,
    check_gradients,
    check_mha,
    check_mha_gradients,
    check_sdpa,
    check_sdpa_gradients,
    check_softmax,
    decode_mistakes,
    describe_sdpa,
    large_tol,
    make_case,
    make_mha,
    random_mask,
    tol,
    torch_sdpa,
    torch_sdpa64,
    with_gradients,
)

# ---------------------------------------------------------------------------------------------------
# softmax


@pytest.mark.parametrize(
    "dtype, shape, dim",
    cases(
        {
            "float64, 1-D": (F64, (5,), 0),
            "float32, 3-D, middle dim": (F32, (2, 3, 4), 1),
            "float32, 4-D, dim -2": (F32, (3, 4, 2, 5), -2),
            "float64, 4-D, positive dim 3": (F64, (2, 2, 3, 4), 3),
        }
    ),
)
def test_softmax_shapes_and_dims(impl, dtype, shape, dim):
    """softmax equals torch.softmax for 1-D to 4-D inputs along any dimension, negative or not."""
    x = randn(shape, 100, dtype, scale=4.0)
    check_softmax(impl, x, dim, describe(dtype, shape) + " (torch.softmax as reference)", tol(dtype))


def test_softmax_length_one_and_ties(impl):
    """A dimension of length 1 gives ones; equal inputs share equally; a wide spread still works."""
    # Along a dimension of length 1 every softmax is exactly 1. Equal entries get equal shares.
    # The last case mixes entries 1e4 apart: the small ones underflow to exactly 0.
    inputs = [
        (torch.tensor([[[0.3, -2.0, 5.0]], [[1.0, 1.0, 1.0]]], dtype=F64), 1, "shape (2, 1, 3), dim=1"),
        (torch.tensor([[2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 7.0, 7.0]], dtype=F64), -1, "ties, dim=-1"),
        (
            torch.tensor([[1e4, -1e4, 0.0, 9999.0], [-1e4, -1e4 + 1, -1e4 + 2, -1e4 + 3]], dtype=F32),
            -1,
            "entries from -1e4 to 1e4, float32",
        ),
    ]
    for x, dim, case in inputs:
        expected = torch.softmax(x.double(), dim).to(x.dtype)
        check_softmax(impl, x, dim, case, large_tol(x.dtype, float(x.abs().max())), expected=expected, large=True)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_softmax_gradients(impl, dtype):
    """The gradient through softmax equals PyTorch's (autograd through torch.softmax)."""
    x = randn((3, 4, 5), 110, dtype, scale=2.0)
    grad_out, near = randn(x.shape, 111, dtype), softmax_mistakes(x, 1)
    case = describe(dtype, x.shape, dim=1) + ", through torch.softmax"
    check_gradients(
        impl, "softmax", dict(x=x, dim=1), ["x"], lambda x, dim: torch.softmax(x, dim), grad_out, near, case
    )


# ---------------------------------------------------------------------------------------------------
# scaled dot-product attention

B, H = 2, 3
MORE_SDPA = {
    "2-D, float64, Lq > Lk": dict(q=(7, 4), k=(3, 4), v=(3, 2)),
    "3-D (H, L, E), float32": dict(q=(3, 5, 6), k=(3, 5, 6), v=(3, 5, 6), dtype=F32),
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
        q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), mask="bool", mask_shape=(B, H, 4, 6), empty_row=3, dtype=F32
    ),
    "float mask (Lq, Lk) with a -inf row": dict(
        q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), mask="float", mask_shape=(4, 6), empty_row=0
    ),
    "float mask, float32": dict(q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), mask="float", dtype=F32),
    "causal, Lq > Lk": dict(q=(B, H, 6, 8), k=(B, H, 4, 8), v=(B, H, 4, 5), is_causal=True),
    "causal, Lq = Lk, float32": dict(q=(B, H, 6, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), is_causal=True, dtype=F32),
    "scale given (0.3), boolean mask": dict(q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), scale=0.3, mask="bool"),
    "scale given (1.0), causal": dict(q=(B, 5, 16), k=(B, 5, 16), v=(B, 5, 3), scale=1.0, is_causal=True),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(MORE_SDPA))
def test_attention_more_cases(impl, name):
    """scaled_dot_product_attention equals F.scaled_dot_product_attention on many shapes and masks."""
    q, k, v, options = make_case(MORE_SDPA[name], seed=200)
    check_sdpa(impl, q, k, v, name, **options)


def test_attention_single_key_and_single_position(impl):
    """With one key every query returns that key's value; with one position, causal or not, too."""
    # softmax over a single key is 1, so the output is v broadcast over the queries; checked along
    # with a case of two keys, where the weights are not trivial.
    q, k, v = randn((B, H, 4, 8), 210), randn((B, H, 1, 8), 211), randn((B, H, 1, 5), 212)
    check_sdpa(impl, q, k, v, "one key (Lk = 1)")
    q1, k1, v1 = randn((B, 1, 8), 213), randn((B, 1, 8), 214), randn((B, 1, 3), 215)
    check_sdpa(impl, q1, k1, v1, "one position (Lq = Lk = 1)", is_causal=True)
    k2, v2 = randn((B, H, 2, 8), 216, scale=2.0), randn((B, H, 2, 5), 217)
    check_sdpa(impl, q, k2, v2, "two keys")


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_attention_large_negative_scores(impl, dtype):
    """Every score near -5000 (each exp underflows to 0): the answer is still PyTorch's."""
    # Integer q, k with a shared large negative part: scores = q.k / 2 are exact and all very
    # negative, so a softmax without the max shift computes 0 / 0. Values positive (no cancellation).
    gen = torch.Generator().manual_seed(220)
    q = torch.cat([torch.full((2, 5, 1), 100.0), torch.randint(-3, 4, (2, 5, 3), generator=gen).double()], -1)
    k = torch.cat([torch.full((2, 6, 1), -100.0), torch.randint(-3, 4, (2, 6, 3), generator=gen).double()], -1)
    q, k = q.to(dtype), k.to(dtype)
    v = (1 + torch.rand(2, 6, 4, generator=gen, dtype=F64)).to(dtype)
    case = "scores near -5000, F.scaled_dot_product_attention in float64 as reference"
    check_sdpa(impl, q, k, v, case, torch_sdpa64(q, k, v), large_tol(dtype, 5100.0), large=True)


GRADIENT_CASES = {
    "float32, no mask": dict(q=(B, H, 4, 8), k=(B, H, 6, 8), v=(B, H, 6, 5), dtype=F32),
    "causal, Lq > Lk": dict(q=(B, H, 6, 8), k=(B, H, 4, 8), v=(B, H, 4, 5), is_causal=True),
    "float mask (B, Lq, Lk), scale 0.5": dict(
        q=(B, 4, 8), k=(B, 6, 8), v=(B, 6, 5), mask="float", mask_shape=(B, 4, 6), scale=0.5
    ),
    "2-D, boolean mask with an empty row, float32": dict(
        q=(5, 4), k=(6, 4), v=(6, 3), mask="bool", empty_row=4, dtype=F32
    ),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(GRADIENT_CASES))
def test_attention_gradients_more(impl, name):
    """Gradients with respect to q, k and v equal PyTorch's (autograd through F.scaled_dot_product_attention)."""
    q, k, v, options = make_case(GRADIENT_CASES[name], seed=230)
    check_sdpa_gradients(impl, q, k, v, seed=235, case=name, **options)


CENTRAL = Tol(
    1e-7,
    1e-7,
    "float64 central differences with step 1e-6: truncation ~ h**2 * |f'''| (1e-12) plus rounding ~ 1e-16 / h (1e-10)",
)


def test_attention_gradients_central_differences(impl):
    """The gradients (through autograd on your functions) match float64 central differences."""
    q, k, v = randn((3, 4), 240), randn((5, 4), 241), randn((5, 2), 242)
    mask, grad_out = random_mask((3, 5), 243), randn((3, 2), 244)
    near = sdpa_mistakes(q, k, v, mask=mask)
    case = describe_sdpa(q, k, v, mask) + " (float64 central differences, h = 1e-6, as reference)"
    call = "scaled_dot_product_attention"
    out, grads = call_with_grads(impl, call, dict(q=q, k=k, v=v, mask=mask), wrt=("q", "k", "v"), grad_out=grad_out)
    check_output(out, torch_sdpa(q, k, v, mask), name="output", of=call, case=case, tol=TOL64, near=near)

    def value() -> float:
        result = impl.scaled_dot_product_attention(q.clone(), k.clone(), v.clone(), mask=mask.clone())
        return float((result.detach() * grad_out).sum())

    numeric = central_differences(value, [q, k, v], h=1e-6)
    check_outputs(
        [grads.get(n) for n in "qkv"],
        numeric,
        names=[f"gradient of sum(output * grad_out) w.r.t. {n}" for n in "qkv"],
        of=call,
        case=case,
        tol=CENTRAL,
        near=lambda: [(MISTAKE["gradient-cut"], [torch.zeros_like(g) for g in numeric])],
    )


# ---------------------------------------------------------------------------------------------------
# multi-head attention

MORE_MHA = {
    "one head": dict(batch=2, n_query=4, n_key=5, embed=6, heads=1),
    "as many heads as dimensions (D = 1)": dict(
        batch=2, n_query=4, n_key=4, embed=4, heads=4, self_attention=True, is_causal=True
    ),
    "no biases, float32": dict(
        batch=3, n_query=5, n_key=5, embed=8, heads=2, bias=False, dtype=F32, self_attention=True
    ),
    "float mask (L, S)": dict(batch=2, n_query=4, n_key=6, embed=8, heads=2, mask=("float", (4, 6))),
    "boolean mask (B, H, L, S), float32": dict(
        batch=2, n_query=4, n_key=6, embed=12, heads=3, dtype=F32, mask=("bool", (2, 3, 4, 6))
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
        batch=2, n_query=3, n_key=4, embed=8, heads=4, dtype=F32, mask=("float", (2, 1, 3, 4))
    ),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(MHA_GRADIENT_CASES))
def test_multi_head_attention_gradients_more(impl, name):
    """Gradients of the inputs and the parameters equal nn.MultiheadAttention's."""
    check_mha_gradients(impl, make_mha(MHA_GRADIENT_CASES[name], seed=310), seed=315, case=name)


# ---------------------------------------------------------------------------------------------------
# decoding with a cache


@pytest.mark.points(2)
@pytest.mark.parametrize(
    "lead, d, dv, dtype, prefix",
    cases(
        {
            "float32, 8 positions": ((2, 2, 8), 4, 4, F32, 0),
            "after a prompt of 3 positions, Dv != D": ((1, 4, 7), 6, 2, F64, 3),
            "one step after a prompt of 5": ((2, 1, 6), 3, 5, F64, 5),
            "no batch dimension (H, T, D), D = 1": ((3, 6), 1, 2, F64, 0),
        }
    ),
)
def test_decoding_more(impl, lead, d, dv, dtype, prefix):
    """Decoding with the cache equals causal attention, from an empty or a filled cache."""
    q, k, v = randn((*lead, d), 400, dtype), randn((*lead, d), 401, dtype), randn((*lead, dv), 402, dtype)
    check_decode(impl, q, k, v, prefix=prefix, case=f"leading dimensions {lead}, D {d}, Dv {dv}")


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_decoding_gradients(impl, dtype):
    """Gradients flow through a decoding step into the new query, key and value as through causal
    attention (the cached positions are constants here)."""
    q, k, v = randn((2, 3, 5, 4), 410, dtype), randn((2, 3, 5, 4), 411, dtype), randn((2, 3, 5, 6), 412, dtype)
    t, now = 4, slice(4, 5)  # the step after a cache of positions 0..3
    grad_out = randn((2, 3, 1, 6), 413, dtype)
    near = decode_mistakes(q, k, v, t)
    out, full = backward(torch_sdpa, [q[..., now, :], k[..., : t + 1, :], v[..., : t + 1, :]], grad_out)
    expected = (out, full[0], full[1][..., now, :], full[2][..., now, :])
    args = dict(q=q[..., now, :], k=k[..., now, :], v=v[..., now, :], cache=(k[..., :t, :], v[..., :t, :]))
    result, grads = call_with_grads(impl, "attention_decode_step", args, wrt=("q", "k", "v"), grad_out=(grad_out, None))
    actual = result[0] if isinstance(result, (tuple, list)) and len(result) == 2 else result
    check_outputs(
        (actual, *(grads.get(n) for n in "qkv")),
        expected,
        names=("output", *(f"gradient of sum(output * grad_out) w.r.t. the new {n}" for n in "qkv")),
        of="attention_decode_step",
        case=f"{describe(dtype, (2, 3, 1, 4))}, one step after a cache of {t} positions, Dv 6 "
        "(PyTorch autograd through F.scaled_dot_product_attention as reference)",
        tol=[tol(dtype), *[tol(dtype, grad=True)] * 3],
        near=with_gradients(lambda: [(m, p[0]) for m, p in near() if p[0] is not None], expected),
    )
