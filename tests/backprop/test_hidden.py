"""Manual backprop, hidden tests: random networks of depth 1 to 5 (mixed activations and widths,
batches of 1 to 8, float32 and float64, both losses) against autograd in float64 and float32, more
central differences, extra leading dimensions, ties at zero, extreme logits and saturated
activations.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch

from grader.kit import EXACT, F32, F64, check_output, dtype_name, randn, scale_of
from tests.backprop.key import mistakes_of
from tests.backprop.test_public import (
    TOL_FD,
    autograd_activation,
    autograd_linear,
    autograd_loss,
    autograd_network,
    check_large_logits,
    check_linear,
    check_loss,
    check_network,
    make_network,
    network_central_differences,
    tol,
)

f64, f32 = F64, F32
ACTS = ["relu", "tanh", "sigmoid", "identity"]


def _random_spec(seed: int):
    """(widths, activations, batch, dtype, loss) of random network number `seed`: depth 1 to 5."""
    gen = torch.Generator().manual_seed(100 + seed)
    depth = 1 + seed % 5
    widths = [int(w) for w in torch.randint(1, 9, (depth + 1,), generator=gen)]
    acts = [ACTS[int(i)] for i in torch.randint(0, 4, (depth,), generator=gen)]
    loss = "cross_entropy" if seed % 3 == 2 else "mse"
    if loss == "cross_entropy":
        widths[-1] = max(widths[-1], 2)
        acts[-1] = "identity"
    batch = (1, 3, 8)[seed % 3 if seed % 4 else 0]
    dtype = f32 if seed % 2 else f64
    return widths, acts, batch, dtype, loss


RANDOM = [_random_spec(s) for s in range(12)]


@pytest.mark.points(4)
@pytest.mark.parametrize("seed", range(len(RANDOM)))
def test_random_networks_against_autograd(impl, seed):
    """Random networks of depth 1 to 5 against autograd in the same dtype (float32 or float64)."""
    widths, acts, batch, dtype, loss = RANDOM[seed]
    x, target, layers = make_network(widths, acts, batch, dtype, loss, seed=200 + seed)
    check_network(impl, x, target, layers, loss, case=f"random network {seed}")


@pytest.mark.points(2)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_float32_network_against_float64_autograd(impl, loss):
    """A float32 network of depth 5 against autograd in float64 on the same (float32) values."""
    widths = [6, 16, 12, 16, 8, 4]
    acts = ["tanh", "relu", "sigmoid", "relu", "identity"]
    x, target, layers = make_network(widths, acts, 8, f32, loss, seed=31)
    expected = autograd_network(x, target, layers, loss, dtype=f64)
    expected = (
        expected[0].float(),
        expected[1].float(),
        [g.float() for g in expected[2]],
        [g.float() for g in expected[3]],
    )
    check_network(impl, x, target, layers, loss, case="depth 5", expected=expected, oracle="autograd in float64")


SMALL = {
    "cross-entropy, sigmoid and relu": ([2, 3, 3, 3], ["sigmoid", "relu", "identity"], 3, "cross_entropy"),
    "batch 1, identity then tanh": ([3, 2, 2], ["identity", "tanh"], 1, "mse"),
    "one relu layer": ([4, 3], ["relu"], 2, "mse"),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(SMALL))
def test_small_networks_central_differences(impl, name):
    """Small networks against float64 central differences (ReLU inputs kept away from the kink)."""
    widths, acts, batch, loss = SMALL[name]
    x, target, layers = make_network(widths, acts, batch, f64, loss, seed=41, margin=1e-3)
    expected = (autograd_network(x, target, layers, loss)[0], *network_central_differences(x, target, layers, loss))
    check_network(
        impl,
        x,
        target,
        layers,
        loss,
        case=name,
        expected=expected,
        tolerance=TOL_FD,
        oracle="central differences, step 1e-6",
    )


@pytest.mark.points(2)
def test_square_layers_network(impl):
    """Square weights everywhere (a transposed product still runs) with every activation."""
    x, target, layers = make_network([4] * 5, ["relu", "tanh", "sigmoid", "identity"], 3, f64, "mse", seed=51)
    check_network(impl, x, target, layers, "mse", case="square layers")


def test_network_relu_ties_at_zero(impl):
    """A ReLU unit whose input is exactly 0 (zero weight row and bias) passes no gradient."""
    x, target, layers = make_network([3, 4, 2], ["relu", "identity"], 4, f64, "mse", seed=61)
    layers[0]["weight"][1] = 0.0
    layers[0]["bias"][1] = 0.0
    check_network(impl, x, target, layers, "mse", case="unit 1 of layer 0 has input exactly 0")


@pytest.mark.points(2)
@pytest.mark.parametrize(
    "dtype,lead",
    [(f32, (2, 3, 4)), (f64, (1, 1, 2)), (f32, ()), (f64, (7,))],
    ids=["float32-3-leading-dims", "float64-ones-leading", "float32-vector", "float64-batch-7"],
)
def test_linear_backward_shapes(impl, dtype, lead):
    """linear_backward with several leading dimensions, a single vector, 6 inputs and 5 outputs."""
    gen = torch.Generator().manual_seed(71)
    x, w, g = randn((*lead, 6), gen, dtype), randn((5, 6), gen, dtype), randn((*lead, 5), gen, dtype)
    check_linear(
        impl,
        g,
        x,
        w,
        autograd_linear(g, x, w),
        f"x of shape {tuple(x.shape)}, weight (5, 6), {dtype_name(dtype)} (autograd as reference)",
    )


def test_linear_backward_square_leading_dims(impl):
    """A square weight with leading dims (2, 2): transposes and partial sums do not hide."""
    gen = torch.Generator().manual_seed(72)
    x, w, g = randn((2, 2, 3), gen), randn((3, 3), gen), randn((2, 2, 3), gen)
    check_linear(
        impl, g, x, w, autograd_linear(g, x, w), "x of shape (2, 2, 3), weight (3, 3), float64 (autograd as reference)"
    )


@pytest.mark.parametrize("dtype", [f32, f64])
def test_relu_backward_many_ties(impl, dtype):
    """relu_backward on integers in [-2, 2] (a fifth of them exactly 0) against autograd: exact."""
    gen = torch.Generator().manual_seed(81)
    x = torch.randint(-2, 3, (6, 7), generator=gen).to(dtype)
    x[0, :3] = -0.0
    g = randn((6, 7), gen, dtype)
    expected = autograd_activation("relu", g, x)[1]
    check_output(
        impl.relu_backward(g.clone(), x.clone()),
        expected,
        name="grad_x",
        of="relu_backward",
        case=f"x integers in [-2, 2] with ties at 0, shape (6, 7), {dtype_name(dtype)} (exact)",
        tol=EXACT,
        near=mistakes_of("relu", g, x),
    )


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", [f32, f64])
def test_activation_backward_saturated(impl, name, dtype):
    """tanh and sigmoid backward from large and small inputs (outputs near their limits)."""
    gen = torch.Generator().manual_seed(91)
    x = torch.cat([randn((20,), gen, dtype, 6.0), torch.tensor([0.0, 30.0, -30.0], dtype=dtype)])
    g = randn((23,), gen, dtype)
    y, expected = autograd_activation(name, g, x)
    check_output(
        getattr(impl, f"{name}_backward")(g.clone(), y.clone()),
        expected,
        name="grad_x",
        of=f"{name}_backward",
        case=f"y = {name}(x), x up to +-30, {dtype_name(dtype)} (autograd at x as reference)",
        tol=tol(dtype, scale_of(expected)),
        near=mistakes_of(name, g, y),
    )


@pytest.mark.parametrize("shape", [(5,), (1, 1), (1, 4), (3, 2, 2)])
def test_mse_loss_shapes(impl, shape):
    """mse_loss on a vector, a single element, one row of four outputs and a 3-d tensor (float64)."""
    gen = torch.Generator().manual_seed(12)
    pred, target = randn(shape, gen), randn(shape, gen)
    check_loss(
        impl,
        "mse_loss",
        pred,
        target,
        autograd_loss("mse", pred, target),
        f"shape {shape}, float64 (autograd of F.mse_loss as reference)",
    )


@pytest.mark.points(2)
@pytest.mark.parametrize(
    "dtype,scale,shape",
    [(f64, 1e4, (6, 10)), (f32, 1e4, (1, 2)), (f64, 1e6, (3, 4)), (f32, 1.0, (8, 7))],
    ids=["float64-1e4", "float32-1e4-batch-1", "float64-1e6", "float32-plain"],
)
def test_cross_entropy_against_autograd(impl, dtype, scale, shape):
    """cross_entropy_loss against autograd of F.cross_entropy, logits up to 1e6, batches from 1."""
    gen = torch.Generator().manual_seed(13)
    logits = randn(shape, gen, dtype, scale)
    # Never the row's largest logit: with huge logits softmax is one-hot there, and the gradient
    # would be 0, which a do-nothing implementation returns too.
    target = (logits.argmax(dim=1) + 1) % shape[1]
    check_large_logits(
        impl,
        logits,
        target,
        f"logits of shape {shape} scaled to {scale:g}, {dtype_name(dtype)} (autograd of F.cross_entropy as reference)",
    )


def test_cross_entropy_equal_logits(impl):
    """Rows of equal huge logits (all tied at the maximum): softmax is uniform, loss log C."""
    logits = torch.full((2, 4), 1e4, dtype=f32)
    logits[1] = -1e4
    check_large_logits(
        impl,
        logits,
        torch.tensor([3, 0]),
        "logits all 1e4 (row 0) or all -1e4 (row 1), float32 (autograd as reference)",
    )
