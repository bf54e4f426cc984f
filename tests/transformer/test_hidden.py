"""Transformer, hidden tests: more shapes, dtypes, eps values and settings against the same oracles
(F.layer_norm, nn.RMSNorm, the torch transformer modules, autograd, central differences, the formula
and complex-number RoPE).

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch

from grader.gradients import call_with_grads
from grader.kit import F32, F64, backward, cases, central_differences, check_outputs, describe, randn
from tests.transformer.key import layer_norm_mistakes
from tests.transformer.test_public import (
    TOL64,
    TOL_FD,
    autograd_layer_norm,
    check_backward,
    check_layer,
    check_layer_gradients,
    check_layer_norm,
    check_positions,
    check_rope,
    make_layer,
    tol,
    torch_layer_norm,
    torch_rms_norm,
)

# ---------------------------------------------------------------------------------------------------
# layer_norm and its backward


@pytest.mark.parametrize(
    "dtype, shape, scale, offset, eps",
    cases(
        {
            "float64, one row (E,)": (F64, (7,), 1.0, 0.0, 1e-5),
            "float32, 4-D": (F32, (2, 2, 3, 5), 1.0, 0.0, 1e-5),
            "float64, magnitude 1e3, eps 1e-3": (F64, (4, 6), 1e3, 0.0, 1e-3),
            "float64, nearly constant rows (5 + 1e-4 noise)": (F64, (3, 8), 1e-4, 5.0, 1e-5),
        }
    ),
)
def test_layer_norm_more_cases(impl, dtype, shape, scale, offset, eps):
    """layer_norm equals F.layer_norm on more shapes and inputs."""
    x = (offset + randn(shape, "hln/x", F64, scale)).to(dtype)
    weight, bias = 1 + randn(shape[-1:], "hln/w", dtype, 0.3), randn(shape[-1:], "hln/b", dtype, 0.3)
    check_layer_norm(impl, x, weight, bias, eps, describe(dtype, shape, eps=eps))


@pytest.mark.parametrize(
    "dtype, shape, scale, offset",
    cases(
        {
            "float64, one row (E,)": (F64, (6,), 1.0, 0.0),
            "float32, magnitude 1e3": (F32, (4, 8), 1e3, 0.0),
            "float64, three leading dimensions": (F64, (2, 2, 3, 4), 1.0, 0.0),
        }
    ),
)
def test_layer_norm_backward_more_cases(impl, dtype, shape, scale, offset):
    """layer_norm_backward equals autograd through F.layer_norm (in float64) on more shapes."""
    x = (offset + randn(shape, "hlnb/x", F64, scale)).to(dtype)
    weight, grad_out = 1 + randn(shape[-1:], "hlnb/w", dtype, 0.3), randn(shape, "hlnb/g", dtype)
    expected = autograd_layer_norm(grad_out, x, weight, 1e-5, dtype=F64)
    check_backward(impl, grad_out, x, weight, 1e-5, expected, describe(dtype, shape) + " (autograd)")


def test_layer_norm_backward_central_differences_small_variance(impl):
    """Central differences on rows of variance near 1e-2 (1 + 0.1 noise) and eps 1e-3."""
    x, weight = 1 + randn((2, 4), "hfd/x", F64, 0.1), 1 + randn((4,), "hfd/w", F64, 0.3)
    bias, grad_out = randn((4,), "hfd/b", F64), randn((2, 4), "hfd/g")
    xs, ws, bs = x.clone(), weight.clone(), bias.clone()
    expected = central_differences(lambda: float((torch_layer_norm(xs, ws, bs, 1e-3) * grad_out).sum()), [xs, ws, bs])
    tolerance = TOL_FD.plus(atol=1e-6, why="f''' grows like 1 / std**3 (1e3 here)")
    check_backward(impl, grad_out, x, weight, 1e-3, tuple(expected), "float64, small variance", tolerance=tolerance)


def test_layer_norm_gradients_float32(impl):
    """Autograd through your layer_norm in float32 gives F.layer_norm's gradients."""
    x, weight, bias = randn((3, 8), "hlng/x", F32), 1 + randn((8,), "hlng/w", F32, 0.3), randn((8,), "hlng/b", F32)
    grad_out, near = randn(x.shape, "hlng/g", F32), layer_norm_mistakes(x, weight, bias, 1e-5)
    out, grads = backward(lambda x, w, b: torch_layer_norm(x, w, b), [x, weight, bias], grad_out)
    actual, got = call_with_grads(
        impl, "layer_norm", dict(x=x, weight=weight, bias=bias), ("x", "weight", "bias"), grad_out
    )
    check_outputs(
        (actual, got.get("x"), got.get("weight"), got.get("bias")),
        (out, *grads),
        names=("output", "gradient w.r.t. x", "gradient w.r.t. weight", "gradient w.r.t. bias"),
        of="layer_norm",
        case=describe(F32, x.shape) + " (autograd through F.layer_norm)",
        tol=[tol(F32), *[tol(F32, grad=True)] * 3],
        near=lambda: [(m, (p, None, None, None)) for m, p in near()],
    )


# ---------------------------------------------------------------------------------------------------
# rms_norm, positions, RoPE


def test_rms_norm_one_row_and_gradient(impl):
    """rms_norm on a single row (E,) and its gradient through autograd equal nn.RMSNorm's."""
    x, weight, grad_out = randn((9,), "hrms/x"), 1 + randn((9,), "hrms/w", F64, 0.3), randn((9,), "hrms/g")
    out, grads = backward(lambda x, w: torch_rms_norm(x, w, 1e-6), [x, weight], grad_out)
    actual, got = call_with_grads(impl, "rms_norm", dict(x=x, weight=weight, eps=1e-6), ("x", "weight"), grad_out)
    check_outputs(
        (actual, got.get("x"), got.get("weight")),
        (out, *grads),
        names=("output", "gradient w.r.t. x", "gradient w.r.t. weight"),
        of="rms_norm",
        case="float64, shape (9,) (autograd through nn.RMSNorm)",
        tol=TOL64,
    )


@pytest.mark.parametrize("length, dim", cases({"one position, dim 2": (1, 2), "128 positions, dim 64": (128, 64)}))
def test_sinusoidal_positions_more_sizes(impl, length, dim):
    """sinusoidal_positions equals the formula for the smallest and a larger table."""
    check_positions(impl, length, dim, 10000.0, f"length {length}, dim {dim}")


def test_rope_more_shapes(impl):
    """apply_rope on (L, D) with D = 2, and on (B, H, L, D) float64 with repeated positions."""
    check_rope(impl, randn((3, 2), "hrope/a"), torch.tensor([0, 5, 9]), 10000.0, "D = 2")
    check_rope(impl, randn((2, 2, 4, 10), "hrope/b"), torch.tensor([7, 7, 2, 0]), 10000.0, "repeated positions")


# ---------------------------------------------------------------------------------------------------
# layers

MORE_LAYERS = {
    "encoder, post-norm, relu, float64, 8 heads, random mask, eps 1e-3": (
        "encoder",
        dict(H=8, E=16, F=16, mask="random", eps=1e-3),
    ),
    "encoder, pre-norm, gelu, float32, batch 1, length 7": (
        "encoder",
        dict(norm_first=True, activation="gelu", dtype=F32, B=1, L=7),
    ),
    "decoder, post-norm, relu, float32, L 1, S 1": ("decoder", dict(L=1, S=1, dtype=F32)),
    "decoder, pre-norm, gelu, float64, 2 heads, padding mask, eps 1e-6": (
        "decoder",
        dict(norm_first=True, activation="gelu", S=8, mask=("padding", 3), eps=1e-6),
    ),
    "transformer, post-norm, gelu, float64, 3 + 1 layers": (
        "transformer",
        dict(layers=(3, 1), activation="gelu", L=4, S=5),
    ),
    "transformer, pre-norm, relu, float64, 1 head, tgt length 1": (
        "transformer",
        dict(layers=(1, 1), norm_first=True, H=1, L=1),
    ),
}


@pytest.mark.parametrize("name", list(MORE_LAYERS))
def test_layers_more_cases(impl, name):
    """encoder_layer, decoder_layer and transformer equal the torch modules in more settings."""
    kind, spec = MORE_LAYERS[name]
    check_layer(impl, kind, make_layer(kind, spec, f"hidden/{name}"), name)


GRADIENT_LAYERS = {
    "encoder, post-norm, relu, float32": ("encoder", dict(dtype=F32, mask="random")),
    "decoder, pre-norm, gelu, float32, padding mask": (
        "decoder",
        dict(dtype=F32, norm_first=True, activation="gelu", mask=("padding", 2)),
    ),
    "transformer, post-norm, gelu, float64, 2 + 1 layers": (
        "transformer",
        dict(layers=(2, 1), activation="gelu", L=3, S=4),
    ),
}


@pytest.mark.parametrize("name", list(GRADIENT_LAYERS))
def test_layers_more_gradients(impl, name):
    """Input gradients through the layers equal the torch modules' in more settings."""
    kind, spec = GRADIENT_LAYERS[name]
    check_layer_gradients(impl, kind, make_layer(kind, spec, f"hgrad/{name}"), f"hgrad/{name}", name)
