"""Manual backprop, public tests: hand-worked cases, then PyTorch autograd and central differences.

Run with `make test topic=backprop`. Learner code is reached only through the `impl` fixture. Each
test shows its inputs and its oracle (PyTorch autograd through `backward`, or float64 central
differences); the helpers below build random networks and compare every gradient.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from grader.checks import check_tuple, fail
from grader.kit import (
    EXACT,
    F32,
    F64,
    Tol,
    backward,
    call_checking_inputs,
    cases,
    central_differences,
    check_output,
    check_outputs,
    dtype_name,
    randn,
    scale_of,
    tensor_list,
)
from tests.backprop.key import mistakes_of, network_mistakes
from tests.backprop.mistakes import ACT_FNS, MISTAKE

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons.
#
# Gradients are sums of products: a correct implementation may sum in another order, or compute in
# float64 and round once, so outputs differ from autograd by rounding errors of the size of the
# largest TERMS, which for an element that cancels to nearly zero is far above its own size. So the
# absolute part of every tolerance is relative to the output's largest |value| (Tol.scaled).
TOL64 = Tol(
    1e-10,
    1e-10,
    "float64: 1.1e-16 per operation; depth 5, widths up to 32 and a few hundred "
    "terms per sum stay below 1e-13 relative, and every mistake is of order 1",
)
TOL32 = Tol(
    1e-4,
    1e-4,
    "float32: 6e-8 per operation; the same chains reach a few 1e-6 relative to the "
    "scale (python -m tests.backprop.margins measures the reference and the alternatives)",
)
H = 1e-6
TOL_FD = Tol(
    1e-6,
    1e-7,
    "float64 central differences with step 1e-6: truncation ~ H**2 * |f'''| (1e-12) "
    "plus cancellation ~ 1e-16 * |f| / H (1e-10 for |f| of order 1)",
)


def tol(dtype: torch.dtype, scale: float = 1.0) -> Tol:
    """The tolerance for an output of `dtype` whose largest |value| is `scale`."""
    return (TOL64 if dtype == F64 else TOL32).scaled(scale)


def scaled_tol(dtype: torch.dtype):
    """tol(dtype, scale of each expected output), for check_outputs(tol=...)."""
    return lambda expected: tol(dtype, scale_of(expected))


def tol_logits(dtype: torch.dtype, logits: torch.Tensor, scale: float, what: str) -> Tol:
    """Cross-entropy's `what` ("loss" or "grad") of largest |value| `scale`, on logits that may be
    huge: the logits themselves are known only to eps * |logit| (6e-4 for 1e4 in float32), and a
    correct implementation may round there (logits - logsumexp(logits)), so the loss may be off by a
    few eps * max|logit| absolute, each probability by as much relatively. 8 * eps * max|logit|
    covers it while a missing 1/B or an overflow stays far outside."""
    slack = 8 * torch.finfo(dtype).eps * scale_of(logits)
    return tol(dtype, scale).plus(
        atol=slack if what == "loss" else slack * max(float(scale), 1e-30),
        why="plus 8 eps * max|logit| for huge logits",
    )


# ---------------------------------------------------------------------------------------------------
# The oracle: PyTorch autograd on the same computation


def autograd_linear(grad_out, x, weight):
    """(grad_x, grad_weight, grad_bias) of F.linear by autograd."""
    bias = torch.zeros(weight.shape[0], dtype=weight.dtype)
    return backward(F.linear, [x, weight, bias], grad_out)[1]


def autograd_activation(name, grad_out, x):
    """(output, grad_x) of torch.relu / torch.tanh / torch.sigmoid at x, by autograd."""
    y, (g,) = backward(ACT_FNS[name], [x], grad_out)
    return y, g


def loss_value(out, target, loss):
    return F.mse_loss(out, target) if loss == "mse" else F.cross_entropy(out, target)


def autograd_loss(name, pred, target):
    """(loss, grad_pred) of F.mse_loss or F.cross_entropy (mean reductions) by autograd."""
    value, (g,) = backward(lambda p: loss_value(p, target, name), [pred])
    return value, g


def forward(x, layers):
    """The network's output and the pre-activations of every layer (plain torch, no learner code)."""
    h, zs = x, []
    for layer in layers:
        z = F.linear(h, layer["weight"], layer["bias"])
        zs.append(z)
        h = ACT_FNS[layer["activation"]](z)
    return h, zs


def autograd_network(x, target, layers, loss="mse", dtype=None):
    """(loss, grad_x, [grad_W], [grad_b]) by autograd, computed in `dtype` (default: x's dtype)."""
    dtype, n = dtype or x.dtype, len(layers)
    t = target.to(dtype) if loss == "mse" else target

    def net(x, *params):
        rebuilt = [dict(l, weight=w, bias=b) for l, w, b in zip(layers, params[:n], params[n:])]
        return loss_value(forward(x, rebuilt)[0], t, loss)

    tensors = [x, *(l["weight"] for l in layers), *(l["bias"] for l in layers)]
    value, grads = backward(net, [a.to(dtype) for a in tensors])
    return value, grads[0], list(grads[1 : 1 + n]), list(grads[1 + n :])


def network_central_differences(x, target, layers, loss="mse"):
    """(grad_x, [grad_W], [grad_b]) of the loss by float64 central differences (step H)."""
    x = x.double().clone()
    layers = [dict(l, weight=l["weight"].double().clone(), bias=l["bias"].double().clone()) for l in layers]
    target = target.double() if loss == "mse" else target
    n = len(layers)
    grads = central_differences(
        lambda: float(loss_value(forward(x, layers)[0], target, loss)),
        [x, *(l["weight"] for l in layers), *(l["bias"] for l in layers)],
        h=H,
    )
    return grads[0], grads[1 : 1 + n], grads[1 + n :]


# ---------------------------------------------------------------------------------------------------
# Random networks, and the check of every gradient


def make_network(widths, activations, batch, dtype=F64, loss="mse", seed=0, margin=0.0):
    """x, target and layers of a random network with `widths` = [in, h1, ..., out].

    Weights are scaled by 1/sqrt(fan_in) (activations stay of order 1). With `margin` > 0, draws
    again (next seed) until every ReLU pre-activation is at least `margin` away from 0, so that
    central differences never step across a kink.
    """
    for attempt in range(100):
        gen = torch.Generator().manual_seed(1000 * seed + attempt)
        x = randn((batch, widths[0]), gen, dtype)
        layers = [
            {
                "weight": randn((widths[k + 1], widths[k]), gen, dtype, 1.5 / widths[k] ** 0.5),
                "bias": randn((widths[k + 1],), gen, dtype, 0.5),
                "activation": act,
            }
            for k, act in enumerate(activations)
        ]
        if loss == "mse":
            target = randn((batch, widths[-1]), gen, dtype)
        else:
            target = torch.randint(0, widths[-1], (batch,), generator=gen)
        if margin <= 0 or min_relu_margin(x, layers) >= margin:
            return x, target, layers
    raise RuntimeError("no random network with ReLU inputs away from 0; choose another seed")


def min_relu_margin(x, layers) -> float:
    _, zs = forward(x.double(), [dict(l, weight=l["weight"].double(), bias=l["bias"].double()) for l in layers])
    return min((float(z.abs().min()) for z, l in zip(zs, layers) if l["activation"] == "relu"), default=math.inf)


def copy_layers(layers):
    """Fresh copies of the layer dicts (the learner never gets the tensors the oracle keeps)."""
    return [{"weight": l["weight"].clone(), "bias": l["bias"].clone(), "activation": l["activation"]} for l in layers]


def describe_network(x, layers, loss) -> str:
    dims = [x.shape[-1]] + [l["weight"].shape[0] for l in layers]
    acts = ", ".join(l["activation"] for l in layers)
    return f"{dtype_name(x.dtype)}, batch {x.shape[0]}, widths {dims}, activations [{acts}], loss {loss!r}"


def _all_close(actual: list, expected: list, tolerance) -> bool:
    """Every tensor of `actual` has the shape, dtype and values of its partner in `expected`."""

    def close(a, e):
        t = tolerance(e)
        return (
            a.shape == e.shape
            and a.dtype == e.dtype
            and bool(((a.detach().double() - e.double()).abs() <= t.atol + t.rtol * e.double().abs()).all())
        )

    return all(close(a, e) for a, e in zip(actual, expected))


def check_network(
    impl,
    x,
    target,
    layers,
    loss="mse",
    case: str = "",
    expected=None,
    tolerance: Tol | None = None,
    oracle: str = "PyTorch autograd",
) -> None:
    """network_gradients against `expected` (default: autograd in x's dtype), naming near misses.

    Checked from the loss back to grad_x, the layers from the last (where the backward pass starts)
    to the first, so the first wrong layer reported is where it went wrong. `tolerance`: one for
    every output, or None for tol(dtype, scale of each output).
    """
    n = len(layers)
    where = f"{case}{', ' if case else ''}{describe_network(x, layers, loss)} ({oracle} as reference)"
    if expected is None:
        expected = autograd_network(x, target, layers, loss)
    out = check_tuple(
        impl.network_gradients(x.clone(), target.clone(), copy_layers(layers), loss=loss), 4, name="network_gradients"
    )
    what = "the {} item returned by network_gradients"
    grad_ws = tensor_list(out[2], n, f"grad_weights ({what.format('third')})", per="layer")
    grad_bs = tensor_list(out[3], n, f"grad_biases ({what.format('fourth')})", per="layer")
    t_for = (lambda e: tolerance) if tolerance is not None else scaled_tol(x.dtype)
    if (
        n > 1
        and not (_all_close(grad_ws, expected[2], t_for) and _all_close(grad_bs, expected[3], t_for))
        and _all_close(grad_ws[::-1], expected[2], t_for)
        and _all_close(grad_bs[::-1], expected[3], t_for)
    ):
        fail(
            f"grad_weights and grad_biases from network_gradients, for {where}: they hold the right "
            f"gradients, last layer first.\n" + MISTAKE["layers-reversed"].sentence()
        )
    # Checked in this order: the loss, the layers from the last to the first, then grad_x.
    out = (out[0], *[g[i] for i in reversed(range(n)) for g in (grad_bs, grad_ws)], out[1])
    names = [
        "loss",
        *[f"grad_{kind}[{i}] (layer {i})" for i in reversed(range(n)) for kind in ("biases", "weights")],
        "grad_x",
    ]
    flat = [expected[0], *[e[i] for i in reversed(range(n)) for e in (expected[3], expected[2])], expected[1]]
    check_outputs(
        out,
        flat,
        names=names,
        of="network_gradients",
        case=where,
        tol=tolerance if tolerance is not None else scaled_tol(x.dtype),
        near=network_mistakes(x, target, layers, loss),
    )


def check_linear(impl, grad_out, x, weight, expected, case: str, tolerance: Tol | None = None) -> None:
    """linear_backward(grad_out, x, weight) against expected (grad_x, grad_weight, grad_bias)."""
    out = impl.linear_backward(grad_out.clone(), x.clone(), weight.clone())
    check_outputs(
        out,
        expected,
        names=("grad_x", "grad_weight", "grad_bias"),
        of="linear_backward",
        case=case,
        tol=tolerance or scaled_tol(x.dtype),
        near=mistakes_of("linear", grad_out, x, weight),
    )


def check_loss(impl, fn: str, pred, target, expected, case: str, tolerance: Tol | None = None) -> None:
    """mse_loss or cross_entropy_loss against expected (loss, gradient)."""
    out = getattr(impl, fn)(pred.clone(), target.clone())
    if tolerance is None and fn == "mse_loss":
        tolerance = scaled_tol(pred.dtype)
    elif tolerance is None:
        tolerance = [tol_logits(pred.dtype, pred, scale_of(e), what) for e, what in zip(expected, ("loss", "grad"))]
    check_outputs(
        out,
        expected,
        names=("loss", "grad_pred" if fn == "mse_loss" else "grad_logits"),
        of=fn,
        case=case,
        tol=tolerance,
        near=mistakes_of("mse" if fn == "mse_loss" else "ce", pred, target),
    )


# ---------------------------------------------------------------------------------------------------
# linear_backward


@pytest.mark.points(2)
def test_linear_backward_by_hand(impl):
    """linear_backward on a 2x2 case worked by hand (exact binary fractions)."""
    # y = x @ W.T + b with x = [[1, 2], [3, 4]], W = [[1, 0], [2, -1]], dL/dy = g = [[1, -1], [0.5, 2]].
    # grad_x = g @ W     = [[1*1 - 1*2, 1*0 - 1*-1], [0.5*1 + 2*2, 0.5*0 + 2*-1]] = [[-1, 1], [4.5, -2]]
    # grad_W = g.T @ x   = [[1*1 + 0.5*3, 1*2 + 0.5*4], [-1*1 + 2*3, -1*2 + 2*4]] = [[2.5, 4], [5, 6]]
    # grad_b = g summed over the batch = [1.5, 1]
    # The weight is square, so a missing transpose still multiplies: only the values show it.
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64)
    w = torch.tensor([[1.0, 0.0], [2.0, -1.0]], dtype=F64)
    g = torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=F64)
    expected = (
        torch.tensor([[-1.0, 1.0], [4.5, -2.0]], dtype=F64),
        torch.tensor([[2.5, 4.0], [5.0, 6.0]], dtype=F64),
        torch.tensor([1.5, 1.0], dtype=F64),
    )
    check_linear(
        impl,
        g,
        x,
        w,
        expected,
        "x = [[1, 2], [3, 4]], weight = [[1, 0], [2, -1]], grad_out = [[1, -1], [0.5, 2]], float64 (exact)",
        tolerance=EXACT,
    )


@pytest.mark.points(2)
@pytest.mark.parametrize(
    "dtype, lead",
    cases(
        {
            "float64-leading-dims-2x3": (F64, (2, 3)),
            "float32-batch-1": (F32, (1,)),
            "float64-single-vector": (F64, ()),
        }
    ),
)
def test_linear_backward_against_autograd(impl, dtype, lead):
    """linear_backward with 5 inputs and 3 outputs matches autograd of F.linear, any leading dims."""
    gen = torch.Generator().manual_seed(len(lead))
    x, w, g = randn((*lead, 5), gen, dtype), randn((3, 5), gen, dtype), randn((*lead, 3), gen, dtype)
    check_linear(
        impl,
        g,
        x,
        w,
        autograd_linear(g, x, w),
        f"x of shape {tuple(x.shape)}, weight (3, 5), {dtype_name(dtype)} (autograd as reference)",
    )


# ---------------------------------------------------------------------------------------------------
# Activations


@pytest.mark.points(1)
def test_relu_backward_by_hand(impl):
    """relu_backward passes the gradient only where x > 0: 0 at x == 0 and at -0.0, as PyTorch."""
    # x      = [-2, -1e-30, -0.0, 0.0, 1e-30, 3]
    # g      = [ 1,  2,      3,    4,   5,     6]
    # grad_x = [ 0,  0,      0,    0,   5,     6]   (x > 0 only; ties at zero give 0)
    x = torch.tensor([-2.0, -1e-30, -0.0, 0.0, 1e-30, 3.0], dtype=F64)
    g = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=F64)
    expected = torch.tensor([0.0, 0.0, 0.0, 0.0, 5.0, 6.0], dtype=F64)
    assert torch.equal(autograd_activation("relu", g, x)[1], expected)  # PyTorch agrees
    check_output(
        impl.relu_backward(g.clone(), x.clone()),
        expected,
        name="grad_x",
        of="relu_backward",
        case="x = [-2, -1e-30, -0.0, 0.0, 1e-30, 3], grad_out = [1, 2, 3, 4, 5, 6] (exact)",
        tol=EXACT,
        near=mistakes_of("relu", g, x),
    )


# By hand: tanh' = 1 - y**2 and sigmoid' = y * (1 - y), in terms of the output y.
#   tanh:    y = [0, 0.5, -0.5, 0.9, -1], g = [1, 2, -1, 4, 3] -> g * (1 - y**2) = [1, 1.5, -0.75, 0.76, 0]
#   sigmoid: y = [0.5, 0.25, 0.75, 0.1, 1], g = [4, 1, 2, 1, 5] -> g * y * (1 - y) = [1, 0.1875, 0.375, 0.09, 0]
BY_HAND = {
    "tanh": ([0.0, 0.5, -0.5, 0.9, -1.0], [1.0, 2.0, -1.0, 4.0, 3.0], [1.0, 1.5, -0.75, 0.76, 0.0]),
    "sigmoid": ([0.5, 0.25, 0.75, 0.1, 1.0], [4.0, 1.0, 2.0, 1.0, 5.0], [1.0, 0.1875, 0.375, 0.09, 0.0]),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_tanh_sigmoid_backward(impl, name):
    """tanh_backward and sigmoid_backward take the OUTPUT y: by hand, then autograd at x in float32."""
    fn = getattr(impl, f"{name}_backward")
    y, g, expected = (torch.tensor(v, dtype=F64) for v in BY_HAND[name])
    check_output(
        fn(g.clone(), y.clone()),
        expected,
        name="grad_x",
        of=f"{name}_backward",
        case=f"y = {BY_HAND[name][0]}, grad_out = {BY_HAND[name][1]}, float64 (by hand)",
        tol=TOL64,
        near=mistakes_of(name, g, y),
    )
    gen = torch.Generator().manual_seed(3)
    x, g = randn((4, 6), gen, F32, 2.0), randn((4, 6), gen, F32)
    y, expected = autograd_activation(name, g, x)
    check_output(
        fn(g.clone(), y.clone()),
        expected,
        name="grad_x",
        of=f"{name}_backward",
        case=f"y = {name}(x) with x of shape (4, 6), float32 (autograd at x as reference)",
        tol=tol(F32, scale_of(expected)),
        near=mistakes_of(name, g, y),
    )


# ---------------------------------------------------------------------------------------------------
# Losses


@pytest.mark.points(2)
def test_mse_loss(impl):
    """mse_loss is the mean over ALL elements: by hand with 2 x 3 outputs, then autograd in float32."""
    # diff = pred - target = [[1, -2, 0], [0.5, 0, 3]]: squares sum to 1 + 4 + 0.25 + 9 = 14.25,
    # N = 6 elements: loss = 14.25 / 6 = 2.375; grad_pred = 2 * diff / 6 = diff / 3.
    pred = torch.tensor([[1.0, -1.0, 2.0], [0.5, 1.0, 4.0]], dtype=F64)
    target = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 1.0]], dtype=F64)
    check_loss(
        impl,
        "mse_loss",
        pred,
        target,
        (torch.tensor(2.375, dtype=F64), (pred - target) / 3),
        "pred - target = [[1, -2, 0], [0.5, 0, 3]], float64 (by hand)",
        TOL64,
    )
    gen = torch.Generator().manual_seed(4)
    pred, target = randn((2, 3, 4), gen, F32), randn((2, 3, 4), gen, F32)
    check_loss(
        impl,
        "mse_loss",
        pred,
        target,
        autograd_loss("mse", pred, target),
        "shape (2, 3, 4), float32 (autograd of F.mse_loss as reference)",
    )


@pytest.mark.points(2)
def test_cross_entropy_by_hand(impl):
    """cross_entropy_loss on three rows worked by hand: uniform rows and probabilities 1/2, 1/4, 1/4."""
    # Rows [0, 0, 0] and [5, 5, 5] are uniform: p = 1/3 each, loss log 3 per row.
    # Row [ln 2, 0, 0]: exp = [2, 1, 1], p = [1/2, 1/4, 1/4]; target 1: loss -log(1/4) = log 4.
    # loss = (2 log 3 + log 4) / 3; grad = (p - one_hot) / 3:
    #   [[-2/9, 1/9, 1/9], [1/9, 1/9, -2/9], [1/6, -1/4, 1/12]]
    logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, 5.0, 5.0], [math.log(2.0), 0.0, 0.0]], dtype=F64)
    target = torch.tensor([0, 2, 1])
    expected = (
        torch.tensor((2 * math.log(3) + math.log(4)) / 3, dtype=F64),
        torch.tensor([[-2 / 9, 1 / 9, 1 / 9], [1 / 9, 1 / 9, -2 / 9], [1 / 6, -1 / 4, 1 / 12]], dtype=F64),
    )
    check_loss(
        impl,
        "cross_entropy_loss",
        logits,
        target,
        expected,
        "logits [[0, 0, 0], [5, 5, 5], [ln 2, 0, 0]], targets [0, 2, 1], float64 (by hand)",
        TOL64,
    )


def check_large_logits(impl, logits, target, case):
    """cross_entropy_loss stays finite on huge logits and matches autograd of F.cross_entropy."""
    expected = autograd_loss("cross_entropy", logits, target)
    out = impl.cross_entropy_loss(logits.clone(), target.clone())
    # Overflow in the softmax makes the gradient NaN; log(softmax) underflowing makes only the loss
    # infinite. Either is named before the values are compared.
    for k, name, mistake in ((1, "grad_logits", "ce-no-max-shift"), (0, "loss", "ce-log-of-softmax")):
        value = out[k] if isinstance(out, (tuple, list)) and len(out) == 2 else None
        if (
            isinstance(value, torch.Tensor)
            and value.shape == expected[k].shape
            and not bool(torch.isfinite(value).all())
        ):
            first = value.flatten()[:6].tolist()
            fail(
                f"{name} from cross_entropy_loss, for {case}: it contains inf or NaN ({first}"
                f"{'...' if value.numel() > 6 else ''}), where F.cross_entropy gives finite values.\n"
                + MISTAKE[mistake].sentence()
            )
    check_loss(impl, "cross_entropy_loss", logits, target, expected, case)


@pytest.mark.points(1)
def test_cross_entropy_large_logits(impl):
    """Logits of magnitude 1e4 in float32 (exp overflows at 89): finite, and as F.cross_entropy."""
    logits = randn((4, 5), seed=5, dtype=F32, scale=1e4)
    logits[1] = torch.tensor([1e4, 1e4, -1e4, 0.0, 1e4])  # a three-way tie at the top
    check_large_logits(
        impl,
        logits,
        torch.tensor([2, 0, 4, 1]),
        "logits of shape (4, 5) scaled to 1e4, float32 (autograd of F.cross_entropy as reference)",
    )


# ---------------------------------------------------------------------------------------------------
# Whole networks

PUBLIC_NETWORKS = {
    "three layers": ([3, 5, 4, 2], ["relu", "tanh", "sigmoid"], 4, F64, "mse"),
    "two square layers then logits": ([4, 4, 4, 3], ["tanh", "relu", "identity"], 1, F32, "cross_entropy"),
    "one layer": ([3, 2], ["identity"], 5, F32, "mse"),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("widths, acts, batch, dtype, loss", cases(PUBLIC_NETWORKS))
def test_network_against_autograd(impl, widths, acts, batch, dtype, loss):
    """network_gradients: the loss and every gradient match autograd on the same network."""
    x, target, layers = make_network(widths, acts, batch, dtype, loss, seed=7)
    check_network(impl, x, target, layers, loss, expected=autograd_network(x, target, layers, loss))


@pytest.mark.points(2)
def test_network_central_differences(impl):
    """network_gradients matches float64 central differences on a small network."""
    x, target, layers = make_network([3, 4, 3, 2], ["tanh", "relu", "sigmoid"], 2, F64, "mse", seed=11, margin=1e-3)
    expected = (autograd_network(x, target, layers, "mse")[0], *network_central_differences(x, target, layers, "mse"))
    check_network(
        impl,
        x,
        target,
        layers,
        "mse",
        case="small network",
        expected=expected,
        tolerance=TOL_FD,
        oracle="central differences, step 1e-6",
    )


def test_network_rejects_unknown_names(impl):
    """network_gradients raises ValueError for an unknown activation or loss name."""
    x, target, layers = make_network([2, 3, 1], ["relu", "identity"], 2, F64, "mse", seed=1)
    layers[0]["activation"] = "softplus"
    with pytest.raises(ValueError):
        impl.network_gradients(x, target, layers, loss="mse")
    layers[0]["activation"] = "relu"
    with pytest.raises(ValueError):
        impl.network_gradients(x, target, layers, loss="hinge")


def test_inputs_unchanged(impl):
    """No function modifies the tensors it is given, and each returns new tensors holding a result."""
    gen = torch.Generator().manual_seed(8)
    x, g = randn((3, 4), gen), randn((3, 4), gen)
    x[0, 0], x[1, 1] = -1.0, 0.0
    w = x.T @ x  # square (4, 4), so grad_out of shape (3, 4) fits
    calls = {  # call -> (function, its arguments, the names of its outputs)
        "relu_backward": (impl.relu_backward, dict(grad_out=g, x=x), ["grad_x"]),
        "tanh_backward": (impl.tanh_backward, dict(grad_out=g, y=torch.tanh(x)), ["grad_x"]),
        "sigmoid_backward": (impl.sigmoid_backward, dict(grad_out=g, y=torch.sigmoid(x)), ["grad_x"]),
        "mse_loss": (impl.mse_loss, dict(pred=x, target=g), ["loss", "grad_pred"]),
        "linear_backward": (
            impl.linear_backward,
            dict(grad_out=g, x=x, weight=w),
            ["grad_x", "grad_weight", "grad_bias"],
        ),
    }
    for fn_name, (fn, args, names) in calls.items():
        call = f"{fn_name}({', '.join(args)})"
        out = call_checking_inputs(fn, args, call=call, mistake=MISTAKE["inputs-modified-in-place"])
        # ... and each output holds something: zeros everywhere is not a result for these inputs
        # (whether it is the right one is the other tests' business).
        if len(names) > 1 and not (isinstance(out, (tuple, list)) and len(out) == len(names)):
            fail(f"{call} should return {len(names)} new tensors ({', '.join(names)}); got {type(out).__name__}.")
        outputs = out if len(names) > 1 else [out]
        for name, value in zip(names, outputs):
            if not isinstance(value, torch.Tensor):
                fail(f"{name} from {call} is {type(value).__name__}, not a new tensor.")
            if not bool(torch.isfinite(value).all()):
                fail(f"{name} from {call} holds NaN or infinite values, from finite inputs: not a result.")
            if value.numel() and not bool(value.any()):
                fail(
                    f"{name} (of shape {tuple(value.shape)}) from {call} is all zeros, for float64 inputs of "
                    f"shape (3, 4) where it is not."
                )
