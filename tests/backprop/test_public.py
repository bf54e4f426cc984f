"""Manual backprop, public tests: hand-worked cases, then PyTorch autograd and central differences.

Run with `make test topic=backprop`. Learner code is reached only through the `impl` fixture.
"""

import math

import pytest
import torch

from grader.checks import check_tensor, check_tuple, check_unchanged, fail
from tests.backprop.driver import call_linear, check_grad, check_linear, check_network
from tests.backprop.mistakes import MISTAKE
from tests.backprop.oracle import (
    EXACT, TOL64, TOL_FD, Near, autograd_activation, autograd_linear, autograd_loss,
    autograd_network, central_differences, make_network, predict_ce, predict_mse, predict_relu,
    predict_sigmoid, predict_tanh, randn, scale_of, tol, tol_logits,
)

f64, f32 = torch.float64, torch.float32


@pytest.mark.points(2)
def test_linear_backward_by_hand(impl):
    """linear_backward on a 2x2 case worked by hand (exact binary fractions)."""
    # y = x @ W.T + b with x = [[1, 2], [3, 4]], W = [[1, 0], [2, -1]], dL/dy = g = [[1, -1], [0.5, 2]].
    # grad_x = g @ W     = [[1*1 - 1*2, 1*0 - 1*-1], [0.5*1 + 2*2, 0.5*0 + 2*-1]] = [[-1, 1], [4.5, -2]]
    # grad_W = g.T @ x   = [[1*1 + 0.5*3, 1*2 + 0.5*4], [-1*1 + 2*3, -1*2 + 2*4]] = [[2.5, 4], [5, 6]]
    # grad_b = g summed over the batch = [1.5, 1]
    # The weight is square, so a missing transpose still multiplies: only the values show it.
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=f64)
    w = torch.tensor([[1.0, 0.0], [2.0, -1.0]], dtype=f64)
    g = torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=f64)
    expected = (torch.tensor([[-1.0, 1.0], [4.5, -2.0]], dtype=f64),
                torch.tensor([[2.5, 4.0], [5.0, 6.0]], dtype=f64), torch.tensor([1.5, 1.0], dtype=f64))
    check_linear(call_linear(impl, g, x, w), expected, (g, x, w),
                 "x = [[1, 2], [3, 4]], weight = [[1, 0], [2, -1]], grad_out = [[1, -1], [0.5, 2]], "
                 "float64 (exact)", tolerance=EXACT)


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype,lead", [(f64, (2, 3)), (f32, (1,)), (f64, ())],
                         ids=["float64-leading-dims-2x3", "float32-batch-1", "float64-single-vector"])
def test_linear_backward_against_autograd(impl, dtype, lead):
    """linear_backward with 5 inputs and 3 outputs matches autograd of F.linear, any leading dims."""
    gen = torch.Generator().manual_seed(len(lead))
    x, w, g = randn((*lead, 5), gen, dtype), randn((3, 5), gen, dtype), randn((*lead, 3), gen, dtype)
    check_linear(call_linear(impl, g, x, w), autograd_linear(g, x, w), (g, x, w),
                 f"x of shape {tuple(x.shape)}, weight (3, 5), {str(dtype)[6:]} (autograd as reference)")


@pytest.mark.points(1)
def test_relu_backward_by_hand(impl):
    """relu_backward passes the gradient only where x > 0: 0 at x == 0 and at -0.0, as PyTorch."""
    # x      = [-2, -1e-30, -0.0, 0.0, 1e-30, 3]
    # g      = [ 1,  2,      3,    4,   5,     6]
    # grad_x = [ 0,  0,      0,    0,   5,     6]   (x > 0 only; ties at zero give 0)
    x = torch.tensor([-2.0, -1e-30, -0.0, 0.0, 1e-30, 3.0], dtype=f64)
    g = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=f64)
    expected = torch.tensor([0.0, 0.0, 0.0, 0.0, 5.0, 6.0], dtype=f64)
    assert torch.equal(autograd_activation("relu", g, x)[1], expected)  # PyTorch agrees
    check_tensor(impl.relu_backward(g.clone(), x.clone()), expected, name="grad_x from relu_backward",
                 case="x = [-2, -1e-30, -0.0, 0.0, 1e-30, 3], grad_out = [1, 2, 3, 4, 5, 6] (exact)",
                 near=Near(predict_relu, g, x).of(lambda p: p), **EXACT)


# By hand: tanh' = 1 - y**2 and sigmoid' = y * (1 - y), in terms of the output y.
#   tanh:    y = [0, 0.5, -0.5, 0.9, -1], g = [1, 2, -1, 4, 3] -> g * (1 - y**2) = [1, 1.5, -0.75, 0.76, 0]
#   sigmoid: y = [0.5, 0.25, 0.75, 0.1, 1], g = [4, 1, 2, 1, 5] -> g * y * (1 - y) = [1, 0.1875, 0.375, 0.09, 0]
BY_HAND = {
    "tanh": ([0.0, 0.5, -0.5, 0.9, -1.0], [1.0, 2.0, -1.0, 4.0, 3.0], [1.0, 1.5, -0.75, 0.76, 0.0]),
    "sigmoid": ([0.5, 0.25, 0.75, 0.1, 1.0], [4.0, 1.0, 2.0, 1.0, 5.0], [1.0, 0.1875, 0.375, 0.09, 0.0]),
}
PREDICT = {"tanh": predict_tanh, "sigmoid": predict_sigmoid}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_tanh_sigmoid_backward(impl, name):
    """tanh_backward and sigmoid_backward take the OUTPUT y: by hand, then autograd at x in float32."""
    fn = getattr(impl, f"{name}_backward")
    y, g, expected = (torch.tensor(v, dtype=f64) for v in BY_HAND[name])
    check_tensor(fn(g.clone(), y.clone()), expected, name=f"grad_x from {name}_backward",
                 case=f"y = {BY_HAND[name][0]}, grad_out = {BY_HAND[name][1]}, float64 (by hand)",
                 near=Near(PREDICT[name], g, y).of(lambda p: p), **TOL64)
    gen = torch.Generator().manual_seed(3)
    x, g = randn((4, 6), gen, f32, 2.0), randn((4, 6), gen, f32)
    y, expected = autograd_activation(name, g, x)
    check_tensor(fn(g.clone(), y.clone()), expected, name=f"grad_x from {name}_backward",
                 case=f"y = {name}(x) with x of shape (4, 6), float32 (autograd at x as reference)",
                 near=Near(PREDICT[name], g, y).of(lambda p: p), **tol(f32, scale_of(expected)))


def _check_loss(out, expected, predict, args, fn, case, tolerance=None):
    near = Near(predict, *args)
    for k, name in enumerate(("loss", f"grad_{'pred' if fn == 'mse_loss' else 'logits'}")):
        t = tolerance or (tol(expected[k].dtype, scale_of(expected[k])) if fn == "mse_loss" else
                          tol_logits(expected[k].dtype, args[0], scale_of(expected[k]), name[:4]))
        check_tensor(out[k], expected[k], name=f"{name} from {fn}", case=case, near=near.of(k), **t)


@pytest.mark.points(2)
def test_mse_loss(impl):
    """mse_loss is the mean over ALL elements: by hand with 2 x 3 outputs, then autograd in float32."""
    # diff = pred - target = [[1, -2, 0], [0.5, 0, 3]]: squares sum to 1 + 4 + 0.25 + 9 = 14.25,
    # N = 6 elements: loss = 14.25 / 6 = 2.375; grad_pred = 2 * diff / 6 = diff / 3.
    pred = torch.tensor([[1.0, -1.0, 2.0], [0.5, 1.0, 4.0]], dtype=f64)
    target = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 1.0]], dtype=f64)
    diff = pred - target
    expected = (torch.tensor(2.375, dtype=f64), diff / 3)
    out = check_tuple(impl.mse_loss(pred.clone(), target.clone()), 2, name="mse_loss")
    _check_loss(out, expected, predict_mse, (pred, target), "mse_loss",
                "pred - target = [[1, -2, 0], [0.5, 0, 3]], float64 (by hand)", TOL64)
    gen = torch.Generator().manual_seed(4)
    pred, target = randn((2, 3, 4), gen, f32), randn((2, 3, 4), gen, f32)
    out = check_tuple(impl.mse_loss(pred.clone(), target.clone()), 2, name="mse_loss")
    _check_loss(out, autograd_loss("mse", pred, target), predict_mse, (pred, target), "mse_loss",
                "shape (2, 3, 4), float32 (autograd of F.mse_loss as reference)")


@pytest.mark.points(2)
def test_cross_entropy_by_hand(impl):
    """cross_entropy_loss on three rows worked by hand: uniform rows and probabilities 1/2, 1/4, 1/4."""
    # Rows [0, 0, 0] and [5, 5, 5] are uniform: p = 1/3 each, loss log 3 per row.
    # Row [ln 2, 0, 0]: exp = [2, 1, 1], p = [1/2, 1/4, 1/4]; target 1: loss -log(1/4) = log 4.
    # loss = (2 log 3 + log 4) / 3; grad = (p - one_hot) / 3:
    #   [[-2/9, 1/9, 1/9], [1/9, 1/9, -2/9], [1/6, -1/4, 1/12]]
    logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, 5.0, 5.0], [math.log(2.0), 0.0, 0.0]], dtype=f64)
    target = torch.tensor([0, 2, 1])
    expected = (torch.tensor((2 * math.log(3) + math.log(4)) / 3, dtype=f64),
                torch.tensor([[-2 / 9, 1 / 9, 1 / 9], [1 / 9, 1 / 9, -2 / 9], [1 / 6, -1 / 4, 1 / 12]],
                             dtype=f64))
    out = check_tuple(impl.cross_entropy_loss(logits.clone(), target.clone()), 2, name="cross_entropy_loss")
    _check_loss(out, expected, predict_ce, (logits, target), "cross_entropy_loss",
                "logits [[0, 0, 0], [5, 5, 5], [ln 2, 0, 0]], targets [0, 2, 1], float64 (by hand)", TOL64)


def check_large_logits(impl, logits, target, case):
    """cross_entropy_loss stays finite on huge logits and matches autograd of F.cross_entropy."""
    expected = autograd_loss("cross_entropy", logits, target)
    out = check_tuple(impl.cross_entropy_loss(logits.clone(), target.clone()), 2, name="cross_entropy_loss")
    # Overflow in the softmax makes the gradient NaN; log(softmax) underflowing makes only the loss
    # infinite. Either is named before the values are compared.
    for k, name, mistake in ((1, "grad_logits", "ce-no-max-shift"), (0, "loss", "ce-log-of-softmax")):
        if isinstance(out[k], torch.Tensor) and out[k].shape == expected[k].shape \
                and not bool(torch.isfinite(out[k]).all()):
            first = out[k].flatten()[:6].tolist()
            fail(f"{name} from cross_entropy_loss, for {case}: it contains inf or NaN ({first}"
                 f"{'...' if out[k].numel() > 6 else ''}), where F.cross_entropy gives finite values.\n"
                 + MISTAKE[mistake].sentence())
    _check_loss(out, expected, predict_ce, (logits, target), "cross_entropy_loss", case)


@pytest.mark.points(1)
def test_cross_entropy_large_logits(impl):
    """Logits of magnitude 1e4 in float32 (exp overflows at 89): finite, and as F.cross_entropy."""
    gen = torch.Generator().manual_seed(5)
    logits = randn((4, 5), gen, f32, 1e4)
    logits[1] = torch.tensor([1e4, 1e4, -1e4, 0.0, 1e4])  # a three-way tie at the top
    target = torch.tensor([2, 0, 4, 1])
    check_large_logits(impl, logits, target, "logits of shape (4, 5) scaled to 1e4, float32 "
                       "(autograd of F.cross_entropy as reference)")


PUBLIC_NETWORKS = {
    "three layers": ([3, 5, 4, 2], ["relu", "tanh", "sigmoid"], 4, f64, "mse"),
    "two square layers then logits": ([4, 4, 4, 3], ["tanh", "relu", "identity"], 1, f32, "cross_entropy"),
    "one layer": ([3, 2], ["identity"], 5, f32, "mse"),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("name", list(PUBLIC_NETWORKS))
def test_network_against_autograd(impl, name):
    """network_gradients: the loss and every gradient match autograd on the same network."""
    widths, acts, batch, dtype, loss = PUBLIC_NETWORKS[name]
    x, target, layers = make_network(widths, acts, batch, dtype, loss, seed=7)
    check_network(impl, x, target, layers, loss, case=name)


@pytest.mark.points(2)
def test_network_central_differences(impl):
    """network_gradients matches float64 central differences on a small network."""
    x, target, layers = make_network([3, 4, 3, 2], ["tanh", "relu", "sigmoid"], 2, f64, "mse",
                                     seed=11, margin=1e-3)
    fd = central_differences(x, target, layers, "mse")
    value = autograd_network(x, target, layers, "mse")[0]
    check_network(impl, x, target, layers, "mse", case="small network", expected=(value, *fd),
                  tolerance=TOL_FD, oracle="central differences, step 1e-6")


def test_network_rejects_unknown_names(impl):
    """network_gradients raises ValueError for an unknown activation or loss name."""
    x, target, layers = make_network([2, 3, 1], ["relu", "identity"], 2, f64, "mse", seed=1)
    layers[0]["activation"] = "softplus"
    with pytest.raises(ValueError):
        impl.network_gradients(x, target, layers, loss="mse")
    layers[0]["activation"] = "relu"
    with pytest.raises(ValueError):
        impl.network_gradients(x, target, layers, loss="hinge")


def test_inputs_unchanged(impl):
    """No function modifies the tensors it is given (and each still returns the right values)."""
    gen = torch.Generator().manual_seed(8)
    x, g = randn((3, 4), gen), randn((3, 4), gen)
    x[0, 0], x[1, 1] = -1.0, 0.0
    y = torch.tanh(x)
    w = x.T @ x  # square (4, 4), so grad_out of shape (3, 4) fits
    # call -> (function, arguments, which output to check (None: the only one), its expected value)
    calls = {
        "relu_backward(grad_out, x)": (impl.relu_backward, (g, x), None, predict_relu(g, x)),
        "tanh_backward(grad_out, y)": (impl.tanh_backward, (g, y), None, predict_tanh(g, y)),
        "sigmoid_backward(grad_out, y)": (impl.sigmoid_backward, (g, torch.sigmoid(x)), None,
                                          predict_sigmoid(g, torch.sigmoid(x))),
        "mse_loss(pred, target)": (impl.mse_loss, (x, g), 1, autograd_loss("mse", x, g)[1]),
        "linear_backward(grad_out, x, weight)": (impl.linear_backward, (g, x, w), 1,
                                                 autograd_linear(g, x, w)[1]),
    }
    for call, (fn, args, pick, expected) in calls.items():
        before = [a.clone() for a in args]
        out = fn(*args)
        names = call.split("(")[1].rstrip(")").split(", ")
        for name, b, a in zip(names, before, args):
            check_unchanged(b, a, name=name, call=call, mistake=MISTAKE["inputs-modified-in-place"])
        value = out if pick is None else check_tuple(out, len(args), name=call.split("(")[0])[pick]
        check_tensor(value, expected, name=f"the gradient from {call}", case="float64, shape (3, 4)",
                     **TOL64)
