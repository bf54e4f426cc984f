"""Transformer, public tests: hand-worked cases, then PyTorch's F.layer_norm, nn.RMSNorm,
nn.TransformerEncoderLayer, nn.TransformerDecoderLayer and nn.Transformer holding the same state dicts
(outputs and input gradients), autograd and central differences for the LayerNorm backward, the
sinusoidal formula element by element, and RoPE as complex numbers.

Run with `make test topic=transformer`. Learner code is reached only through the `impl` fixture. The
torch modules run in eval mode with dropout 0, through torch.func.functional_call on the test's own
parameters, with gradients on (which keeps eval mode off PyTorch's fused "fast path": the same math in
another order, within 4e-7 of this path in float32). Their boolean masks mean "may NOT attend": the
tests invert this kata's masks (True = may attend) before handing them over.
"""

import math
import warnings
from functools import cache

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from grader.checks import check_unchanged
from grader.gradients import call_with_grads
from grader.kit import (
    F32,
    F64,
    Tol,
    backward,
    call_checking_inputs,
    cases,
    central_differences,
    check_output,
    check_outputs,
    describe,
    dtype_name,
    generator,
    randn,
    scale_of,
    shape_name,
)
from tests.transformer.key import (
    decoder_layer_mistakes,
    encoder_layer_mistakes,
    layer_norm_backward_mistakes,
    layer_norm_mistakes,
    positions_from_formula,
    positions_mistakes,
    rms_norm_mistakes,
    rope_by_complex_numbers,
    rope_mistakes,
    rotated_scores,
    transformer_mistakes,
)

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons. `python -m grader margins transformer` measures how much of them the
# reference and the alternatives of mutants.py use.
TOL64 = Tol(
    1e-9,
    1e-10,
    "float64: a few dozen operations per value (two norms, two attentions, a feed-forward of width <= 32 "
    "per layer, at most 5 layers); rounding differs from PyTorch by about 1e-15 relative on values of order 1",
)
TOL32 = Tol(
    1e-5,
    1e-5,
    "float32: PyTorch and a correct implementation round differently (another summation order, float64 "
    "inside, per-head loops) by up to about 1e-6 on values of order 1 after 5 layers; every mistake "
    "moves some value by more than 1e-3",
)
GRAD_TOL32 = Tol(5e-5, 5e-5, "float32 gradients: the backward pass of the same chain, summed over positions")
TOL_FD = Tol(
    1e-6,
    1e-7,
    "float64 central differences with step 1e-6: truncation ~ h**2 * |f'''| (1e-11) plus cancellation "
    "~ 1e-16 * |f| / h (1e-10 for |f| of order 1)",
)


def tol(dtype: torch.dtype, grad: bool = False) -> Tol:
    """The tolerance of an output (grad=False) or of a gradient in `dtype` (float64: the same)."""
    return TOL64 if dtype == F64 else GRAD_TOL32 if grad else TOL32


def scaled_tol(dtype: torch.dtype):
    """For layer_norm_backward's outputs: the absolute part relative to each output's largest |value|
    (gradients that cancel keep the rounding errors of their largest terms: grad_x sums E terms of
    size |g| * rstd)."""
    return lambda expected: tol(dtype).scaled(scale_of(expected))


def positions_tol(length: int) -> Tol:
    """sinusoidal_positions returns the default dtype (float32): one rounding of values <= 1 (6e-8),
    and a correct implementation may compute the angle p / base ** (2i / dim) in float32, off by a few
    units in the last place of p (1.2e-7 * p), which moves sin and cos by as much."""
    return Tol(0.0, 2e-7 + 4e-7 * length, f"float32 positions up to {length - 1}: 4e-7 * length absolute")


def rope_tol(dtype: torch.dtype, positions: torch.Tensor, x: torch.Tensor) -> Tol:
    """RoPE: the angle p * base ** (-2i / D) may be computed in x's dtype (a few units in the last
    place of p), which moves each rotated value by that much times |x|."""
    unit = 2.0**-24 if dtype == F32 else 2.0**-53
    slack = 8 * unit * float(positions.abs().max()) * scale_of(x)
    return tol(dtype).plus(atol=slack, why=f"plus 8 ulp of the largest position times max|x| ({slack:.2g})")


# ---------------------------------------------------------------------------------------------------
# The oracles: PyTorch


def torch_layer_norm(x, weight, bias, eps=1e-5):
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def torch_rms_norm(x, weight, eps=1e-6):
    """nn.RMSNorm(E, eps) holding `weight`."""
    module = nn.RMSNorm(x.shape[-1], eps=eps, dtype=x.dtype)
    return functional_call(module, {"weight": weight}, (x,))


@cache
def module(kind: str, embed: int, heads: int, feedforward: int, norm_first: bool, activation, dtype, layers=(1, 1)):
    """An eval-mode torch module of `kind` ("encoder", "decoder", "transformer"), dropout 0, batch
    first. `activation` is "relu", "gelu", or a function (used for a prediction: tanh gelu)."""
    options = dict(
        dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first, dtype=dtype, layer_norm_eps=1e-5
    )
    with warnings.catch_warnings():  # nn.Transformer warns that pre-norm disables its nested tensors
        warnings.simplefilter("ignore")
        if kind == "encoder":
            made = nn.TransformerEncoderLayer(embed, heads, feedforward, **options)
        elif kind == "decoder":
            made = nn.TransformerDecoderLayer(embed, heads, feedforward, **options)
        else:
            made = nn.Transformer(embed, heads, *layers, feedforward, **options)
    return made.eval()


def _eps_of(made, eps):
    for sub in made.modules():
        if isinstance(sub, nn.LayerNorm):
            sub.eps = eps


def run_module(kind, args, tensors, layers=(1, 1)):
    """The torch module of `kind` on the parameters and options of `args` (the learner's keyword
    arguments), with the input tensors `tensors` (they may require grad)."""
    p, x = args["params"], tensors[0]
    embed = x.shape[-1]
    feedforward = next(v for k, v in p.items() if k.endswith("linear1.weight")).shape[0]
    made = module(
        kind,
        embed,
        args["num_heads"],
        feedforward,
        args.get("norm_first", False),
        args.get("activation", "relu"),
        x.dtype,
        layers,
    )
    _eps_of(made, args.get("eps", 1e-5))
    if kind == "encoder":
        mask = args.get("mask")
        return functional_call(made, p, (x,), dict(src_mask=None if mask is None else ~mask))
    length = tensors[1].shape[1] if kind == "transformer" else x.shape[1]
    causal = ~torch.ones(length, length, dtype=torch.bool).tril()  # torch: True = may NOT attend
    if kind == "decoder":
        mask = args.get("memory_mask")
        return functional_call(
            made, p, (x, tensors[1]), dict(tgt_mask=causal, memory_mask=None if mask is None else ~mask)
        )
    return functional_call(made, p, (x, tensors[1]), dict(tgt_mask=causal))


INPUTS = {"encoder": ("x",), "decoder": ("x", "memory"), "transformer": ("src", "tgt")}
CALLS = {"encoder": "encoder_layer", "decoder": "decoder_layer", "transformer": "transformer"}
MODULES = {
    "encoder": "nn.TransformerEncoderLayer",
    "decoder": "nn.TransformerDecoderLayer",
    "transformer": "nn.Transformer",
}


def module_output(kind, args):
    """The torch module's output, its inputs requiring grad (so that eval mode takes the same path as
    training mode with dropout 0, not the fused fast path)."""
    names = INPUTS[kind]
    layers = (args.get("num_encoder_layers", 1), args.get("num_decoder_layers", 1))
    with torch.enable_grad():
        return run_module(kind, args, [args[n].detach().clone().requires_grad_(True) for n in names], layers).detach()


def module_backward(kind, args, grad_out):
    """(output, gradients of sum(output * grad_out) w.r.t. the inputs) through the torch module."""
    names = INPUTS[kind]
    layers = (args.get("num_encoder_layers", 1), args.get("num_decoder_layers", 1))
    return backward(lambda *ts: run_module(kind, args, list(ts), layers), [args[n] for n in names], grad_out)


# ---------------------------------------------------------------------------------------------------
# Inputs


def state_dict(kind: str, embed: int, heads: int, feedforward: int, dtype, seed, layers=(1, 1)) -> dict:
    """Random parameters under the module's own state_dict names: weights of size 1 / sqrt(fan_in),
    biases 0.3, norm weights 1 + 0.3 * noise (so that a missing or misplaced norm shows)."""
    names = module(kind, embed, heads, feedforward, False, "relu", F64, layers).state_dict()
    params = {}
    for i, (name, value) in enumerate(names.items()):
        shape = tuple(value.shape)
        if "norm" in name and name.endswith("weight"):
            params[name] = 1 + randn(shape, f"{seed}/{i}", dtype, 0.3)
        elif len(shape) == 2:
            params[name] = randn(shape, f"{seed}/{i}", dtype, 1 / math.sqrt(shape[1]))
        else:
            params[name] = randn(shape, f"{seed}/{i}", dtype, 0.3)
    return params


def padding_mask(length: int, memory: int, padded: int) -> torch.Tensor:
    """(length, memory) boolean, True = may attend: the last `padded` memory positions are padding."""
    mask = torch.ones(length, memory, dtype=torch.bool)
    mask[:, memory - padded :] = False
    return mask


def random_mask(length: int, seed) -> torch.Tensor:
    """(length, length) boolean, True = may attend, about 60% True, the diagonal always allowed."""
    gen = generator(seed)
    return (torch.rand(length, length, generator=gen) < 0.6) | torch.eye(length, dtype=torch.bool)


def make_layer(kind: str, spec: dict, seed) -> dict:
    """The learner's keyword arguments for `kind` from a spec: B, L (target or input length), S
    (memory/source length), E, H, F (feed-forward width), dtype, norm_first, activation, mask ("random"
    for the encoder, ("padding", n) for the decoder), layers (encoder, decoder) for the transformer."""
    s = dict(B=2, L=5, S=6, E=8, H=2, F=16, dtype=F64, norm_first=False, activation="relu", mask=None) | spec
    layers = s.get("layers", (1, 1))
    args = {}
    first, second = INPUTS[kind][0], INPUTS[kind][-1]
    if kind == "transformer":
        args["src"] = randn((s["B"], s["S"], s["E"]), f"{seed}/src", s["dtype"])
        args["tgt"] = randn((s["B"], s["L"], s["E"]), f"{seed}/tgt", s["dtype"])
    else:
        args[first] = randn((s["B"], s["L"], s["E"]), f"{seed}/x", s["dtype"])
        if kind == "decoder":
            args[second] = randn((s["B"], s["S"], s["E"]), f"{seed}/memory", s["dtype"])
    args["params"] = state_dict(kind, s["E"], s["H"], s["F"], s["dtype"], seed, layers)
    args["num_heads"] = s["H"]
    if kind == "encoder" and s["mask"] == "random":
        args["mask"] = random_mask(s["L"], f"{seed}/mask")
    if kind == "decoder" and s["mask"] is not None:
        args["memory_mask"] = padding_mask(s["L"], s["S"], s["mask"][1])
    if kind == "transformer":
        args["num_encoder_layers"], args["num_decoder_layers"] = layers
    args.update(norm_first=s["norm_first"], activation=s["activation"])
    if "eps" in s:
        args["eps"] = s["eps"]
    return args


def describe_layer(kind: str, args: dict) -> str:
    x = args[INPUTS[kind][0]]
    words = [dtype_name(x.dtype)]
    if kind == "transformer":
        words.append(f"src {shape_name(args['src'].shape)}, tgt {shape_name(args['tgt'].shape)}")
        words.append(f"{args['num_encoder_layers']} encoder and {args['num_decoder_layers']} decoder layers")
    elif kind == "decoder":
        words.append(f"x {shape_name(x.shape)}, memory {shape_name(args['memory'].shape)}")
    else:
        words.append(f"x {shape_name(x.shape)}")
    feedforward = next(v for k, v in args["params"].items() if k.endswith("linear1.weight")).shape[0]
    words.append(f"num_heads={args['num_heads']}, dim_feedforward={feedforward}")
    words.append("pre-norm (norm_first=True)" if args["norm_first"] else "post-norm (norm_first=False)")
    words.append(f"activation={args['activation']!r}")
    if args.get("mask") is not None:
        words.append(f"a random boolean mask {shape_name(args['mask'].shape)} (True = may attend)")
    if args.get("memory_mask") is not None:
        padded = int((~args["memory_mask"][0]).sum())
        words.append(f"memory_mask {shape_name(args['memory_mask'].shape)} hiding the last {padded} memory positions")
    if "eps" in args:
        words.append(f"eps={args['eps']:g}")
    return ", ".join(words)


# ---------------------------------------------------------------------------------------------------
# Checks


def call_impl(fn, args: dict, call: str):
    """fn(**args), failing if a tensor argument or a tensor of the params dict was modified in place."""
    params = args.get("params")
    before = {k: v.clone() for k, v in params.items()} if params is not None else {}
    result = call_checking_inputs(fn, args, call=call)
    for name, copy in before.items():
        check_unchanged(copy, params[name], name=f"params[{name!r}]", call=call)
    return result


def check_layer(impl, kind: str, args: dict, case: str) -> None:
    """encoder_layer / decoder_layer / transformer (**args) against the torch module, same state dict."""
    near = {"encoder": encoder_layer_mistakes, "decoder": decoder_layer_mistakes, "transformer": transformer_mistakes}[
        kind
    ](args)
    expected = module_output(kind, args)
    call = CALLS[kind]
    actual = call_impl(getattr(impl, call), args, call)
    where = f"{case}: {describe_layer(kind, args)} ({MODULES[kind]} with the same state_dict as reference)"
    x = args[INPUTS[kind][0]]
    check_output(actual, expected, name="output", of=call, case=where, tol=tol(x.dtype), near=near)


def check_layer_gradients(impl, kind: str, args: dict, seed, case: str) -> None:
    """The output and the gradients of sum(output * grad_out) w.r.t. the inputs (autograd through your
    function) equal those through the torch module."""
    names, call = INPUTS[kind], CALLS[kind]
    x = args[names[0]]
    shape = args["tgt"].shape if kind == "transformer" else x.shape
    grad_out = randn(shape, f"{seed}/grad_out", x.dtype)
    near = {"encoder": encoder_layer_mistakes, "decoder": decoder_layer_mistakes, "transformer": transformer_mistakes}[
        kind
    ](args)
    out, grads = module_backward(kind, args, grad_out)
    actual, got = call_with_grads(impl, call, dict(args), wrt=names, grad_out=grad_out)
    blank = [None] * len(names)
    check_outputs(
        (actual, *(got.get(n) for n in names)),
        (out, *grads),
        names=("output", *(f"gradient of sum(output * grad_out) w.r.t. {n}" for n in names)),
        of=call,
        case=f"{case}: {describe_layer(kind, args)} (autograd through {MODULES[kind]} as reference)",
        tol=[tol(x.dtype), *[tol(x.dtype, grad=True)] * len(names)],
        near=lambda: [(m, (p, *blank)) for m, p in near()],
    )


def check_layer_norm(impl, x, weight, bias, eps, case: str, expected=None, tolerance=None) -> None:
    near = layer_norm_mistakes(x, weight, bias, eps)
    oracle = " (F.layer_norm as reference)" if expected is None else ""
    expected = torch_layer_norm(x, weight, bias, eps) if expected is None else expected
    call = f"layer_norm(x, weight, bias, eps={eps:g})"
    actual = call_checking_inputs(impl.layer_norm, dict(x=x, weight=weight, bias=bias, eps=eps), call=call)
    check_output(actual, expected, name="output", of=call, case=case + oracle, tol=tolerance or tol(x.dtype), near=near)


def check_backward(impl, grad_out, x, weight, eps, expected, case: str, tolerance=None) -> None:
    """layer_norm_backward(grad_out, x, weight, eps) against `expected` (grad_x, grad_weight, grad_bias)."""
    near = layer_norm_backward_mistakes(grad_out, x, weight, eps)
    call = "layer_norm_backward"
    args = dict(grad_out=grad_out, x=x, weight=weight, eps=eps)
    actual = call_checking_inputs(impl.layer_norm_backward, args, call=call)
    check_outputs(
        actual,
        expected,
        names=("grad_x", "grad_weight", "grad_bias"),
        of=call,
        case=case,
        tol=tolerance or scaled_tol(x.dtype),
        near=near,
    )


def autograd_layer_norm(grad_out, x, weight, eps, dtype=None):
    """(grad_x, grad_weight, grad_bias) by autograd through F.layer_norm, computed in `dtype`."""
    dtype = dtype or x.dtype
    bias = torch.zeros_like(weight, dtype=dtype)
    grads = backward(
        lambda x, w, b: torch_layer_norm(x, w, b, eps), [x.to(dtype), weight.to(dtype), bias], grad_out.to(dtype)
    )[1]
    return tuple(g.to(x.dtype) for g in grads)


def check_positions(impl, length, dim, base, case: str, expected=None) -> None:
    near = positions_mistakes(length, dim, base)
    oracle = "" if expected is not None else " (the formula, element by element in float64, as reference)"
    expected = (positions_from_formula(length, dim, base) if expected is None else expected).to(
        torch.get_default_dtype()
    )
    call = f"sinusoidal_positions({length}, {dim}, base={base:g})"
    actual = impl.sinusoidal_positions(length, dim, base=base)
    check_output(actual, expected, name="output", of=call, case=case + oracle, tol=positions_tol(length), near=near)


def check_rope(impl, x, positions, base, case: str, expected=None) -> None:
    near = rope_mistakes(x, positions, base)
    oracle = "" if expected is not None else " (RoPE as complex numbers, view_as_complex * exp(i theta), as reference)"
    expected = (rope_by_complex_numbers(x, positions, base) if expected is None else expected).to(x.dtype)
    call = f"apply_rope(x, positions, base={base:g})"
    actual = call_checking_inputs(impl.apply_rope, dict(x=x, positions=positions, base=base), call=call)
    where = f"{case}: {describe(x.dtype, x.shape)}, positions {positions.tolist()}{oracle}"
    check_output(actual, expected, name="output", of=call, case=where, tol=rope_tol(x.dtype, positions, x), near=near)


# ---------------------------------------------------------------------------------------------------
# layer_norm and its backward pass


@pytest.mark.points(1)
def test_layer_norm_by_hand(impl):
    """x = [0, 2, 4, 6]: mean 3, biased variance 5; with eps = 4, sqrt(5 + 4) = 3."""
    # x - mean = [-3, -1, 1, 3], divided by 3: [-1, -1/3, 1/3, 1]; times weight [1, 2, 3, 4] plus
    # bias [0, 1, 0, -1]: [-1, 1/3, 1, 3]. (Unbiased variance 20/3, or sqrt(5) + 4, give other values.)
    x = torch.tensor([[0.0, 2.0, 4.0, 6.0]], dtype=F64)
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=F64)
    bias = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=F64)
    expected = torch.tensor([[-1.0, 1 / 3, 1.0, 3.0]], dtype=F64)
    check_layer_norm(impl, x, weight, bias, 4.0, "one row by hand, float64", expected=expected, tolerance=TOL64)


LAYER_NORM_CASES = {
    "float32 (2, 5, 8)": (F32, (2, 5, 8), 1.0, 0.0, 1e-5),
    "float64 (6, 4), eps 0.1": (F64, (6, 4), 1.0, 0.0, 0.1),
    "float32, inputs of magnitude 1e3": (F32, (3, 8), 1e3, 0.0, 1e-5),
    "float64, nearly constant rows (2 + 1e-3 noise)": (F64, (2, 3, 6), 1e-3, 2.0, 1e-5),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype, shape, scale, offset, eps", cases(LAYER_NORM_CASES))
def test_layer_norm_against_torch(impl, dtype, shape, scale, offset, eps):
    """layer_norm equals F.layer_norm over the last dimension (float32, float64, eps, hard inputs)."""
    x = (offset + randn(shape, "ln/x", F64, scale)).to(dtype)
    weight, bias = 1 + randn(shape[-1:], "ln/w", dtype, 0.3), randn(shape[-1:], "ln/b", dtype, 0.3)
    case = describe(dtype, shape, eps=eps) + f", inputs {offset:g} + noise of size {scale:g}"
    check_layer_norm(impl, x, weight, bias, eps, case)


@pytest.mark.points(1)
def test_layer_norm_gradients(impl):
    """Autograd through your layer_norm gives F.layer_norm's gradients w.r.t. x, weight and bias."""
    x, weight, bias = randn((2, 3, 6), "lng/x"), 1 + randn((6,), "lng/w", F64, 0.3), randn((6,), "lng/b", F64, 0.3)
    grad_out, near = randn(x.shape, "lng/g"), layer_norm_mistakes(x, weight, bias, 1e-5)
    out, grads = backward(lambda x, w, b: torch_layer_norm(x, w, b), [x, weight, bias], grad_out)
    args = dict(x=x, weight=weight, bias=bias, eps=1e-5)
    actual, got = call_with_grads(impl, "layer_norm", args, wrt=("x", "weight", "bias"), grad_out=grad_out)
    check_outputs(
        (actual, got.get("x"), got.get("weight"), got.get("bias")),
        (out, *grads),
        names=("output", "gradient w.r.t. x", "gradient w.r.t. weight", "gradient w.r.t. bias"),
        of="layer_norm",
        case=describe(F64, x.shape) + " (autograd through F.layer_norm as reference)",
        tol=TOL64,
        near=lambda: [(m, (p, None, None, None)) for m, p in near()],
    )


BACKWARD_CASES = {
    "float64 (4, 6)": (F64, (4, 6), 1.0, 0.0),
    "float32 (2, 3, 8), two leading dimensions": (F32, (2, 3, 8), 1.0, 0.0),
    "float64, inputs of magnitude 1e3": (F64, (3, 5), 1e3, 0.0),
    "float64, nearly constant rows (2 + 1e-3 noise)": (F64, (3, 5), 1e-3, 2.0),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype, shape, scale, offset", cases(BACKWARD_CASES))
def test_layer_norm_backward_against_autograd(impl, dtype, shape, scale, offset):
    """layer_norm_backward equals autograd through F.layer_norm (computed in float64, rounded)."""
    x = (offset + randn(shape, "lnb/x", F64, scale)).to(dtype)
    weight, grad_out = 1 + randn(shape[-1:], "lnb/w", dtype, 0.3), randn(shape, "lnb/g", dtype)
    expected = autograd_layer_norm(grad_out, x, weight, 1e-5, dtype=F64)
    case = describe(dtype, shape) + f", inputs {offset:g} + noise of size {scale:g} (autograd through F.layer_norm)"
    check_backward(impl, grad_out, x, weight, 1e-5, expected, case)


@pytest.mark.points(2)
def test_layer_norm_backward_central_differences(impl):
    """layer_norm_backward equals float64 central differences of sum(layer_norm(x) * grad_out)."""
    x, weight, bias = randn((3, 5), "fd/x"), 1 + randn((5,), "fd/w", F64, 0.3), randn((5,), "fd/b", F64, 0.3)
    grad_out = randn((3, 5), "fd/g")
    xs, ws, bs = x.clone(), weight.clone(), bias.clone()
    expected = central_differences(lambda: float((torch_layer_norm(xs, ws, bs) * grad_out).sum()), [xs, ws, bs])
    case = describe(F64, x.shape) + " (central differences with step 1e-6 as reference)"
    check_backward(impl, grad_out, x, weight, 1e-5, tuple(expected), case, tolerance=TOL_FD)


# ---------------------------------------------------------------------------------------------------
# rms_norm


@pytest.mark.parametrize(
    "dtype, shape, eps",
    cases({"float32 (2, 4, 8)": (F32, (2, 4, 8), 1e-6), "float64 (5, 6), eps 0.01": (F64, (5, 6), 1e-2)}),
)
def test_rms_norm_against_module(impl, dtype, shape, eps):
    """rms_norm equals nn.RMSNorm(E, eps) holding the same weight."""
    x, weight = 0.5 + randn(shape, "rms/x", dtype), 1 + randn(shape[-1:], "rms/w", dtype, 0.3)
    near = rms_norm_mistakes(x, weight, eps)
    expected = torch_rms_norm(x, weight, eps).detach()
    call = f"rms_norm(x, weight, eps={eps:g})"
    actual = call_checking_inputs(impl.rms_norm, dict(x=x, weight=weight, eps=eps), call=call)
    case = describe(dtype, shape, eps=eps) + ", inputs 0.5 + noise (nn.RMSNorm as reference)"
    check_output(actual, expected, name="output", of=call, case=case, tol=tol(dtype), near=near)


# ---------------------------------------------------------------------------------------------------
# sinusoidal_positions


def test_sinusoidal_positions_by_hand(impl):
    """length 2, dim 4: PE[0] = [0, 1, 0, 1]; PE[1] = [sin 1, cos 1, sin 0.01, cos 0.01]."""
    # Pair i = 1 has the angle p / 10000 ** (2 / 4) = p / 100.
    expected = torch.tensor([[0.0, 1.0, 0.0, 1.0], [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]])
    check_positions(impl, 2, 4, 10000.0, "by hand, float32 (the default dtype)", expected=expected)


@pytest.mark.parametrize(
    "length, dim, base",
    cases({"50 positions, dim 16": (50, 16, 10000.0), "7 positions, dim 6, base 100": (7, 6, 100.0)}),
)
def test_sinusoidal_positions_against_formula(impl, length, dim, base):
    """sinusoidal_positions equals the formula computed element by element in float64."""
    check_positions(impl, length, dim, base, f"length {length}, dim {dim}, base {base:g}, float32 (the default dtype)")


# ---------------------------------------------------------------------------------------------------
# apply_rope


def test_rope_by_hand(impl):
    """x = [1, 0, 1, 0] at positions 0 and 1 (D = 4): [1, 0, 1, 0] and [cos 1, sin 1, cos 0.01, sin 0.01]."""
    # Pair 0 turns by p radians, pair 1 by p / 100 (10000 ** (-2 / 4)); the point (1, 0) turned by t
    # counter-clockwise is (cos t, sin t).
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]], dtype=F64)
    expected = torch.tensor(
        [[1.0, 0.0, 1.0, 0.0], [math.cos(1), math.sin(1), math.cos(0.01), math.sin(0.01)]], dtype=F64
    )
    check_rope(impl, x, torch.tensor([0, 1]), 10000.0, "by hand", expected=expected)


ROPE_CASES = {
    "float32 (2, 3, 5, 8), positions 0..4": (F32, (2, 3, 5, 8), [0, 1, 2, 3, 4], 10000.0),
    "float64 (4, 6), positions out of order, base 500": (F64, (4, 6), [3, 0, 40, 1000], 500.0),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype, shape, positions, base", cases(ROPE_CASES))
def test_rope_against_complex_numbers(impl, dtype, shape, positions, base):
    """apply_rope equals multiplying each pair, as a complex number, by exp(i * p * base ** (-2i / D))."""
    x = randn(shape, "rope/x", dtype)
    check_rope(impl, x, torch.tensor(positions), base, describe(dtype, shape, base=base))


def test_rope_relative_positions(impl):
    """The score of q rotated at m and k rotated at n depends only on m - n, as Re(sum q conj(k) e^(i(m-n)theta))."""
    # q and k (heads 2, D 8) are rotated at positions m = n + d for n = 0, 3, 10: the scores of each
    # distance d are the same, and equal the complex-number formula for d.
    q, k = randn((2, 8), "rel/q"), randn((2, 8), "rel/k")
    for distance in (0, 1, 5):
        expected = rotated_scores(q, k, distance, 10000.0)
        for n in (0, 3, 10):
            m = n + distance
            rq = call_checking_inputs(
                impl.apply_rope, dict(x=q[:, None], positions=torch.tensor([m])), call="apply_rope"
            )
            rk = call_checking_inputs(
                impl.apply_rope, dict(x=k[:, None], positions=torch.tensor([n])), call="apply_rope"
            )
            scores = (rq * rk).sum(-1)[:, 0] if rq.shape == rk.shape == (2, 1, 8) else rq
            check_output(
                scores,
                expected,
                name="the scores (apply_rope(q, [m]) * apply_rope(k, [n])).sum(-1)",
                of="apply_rope",
                case=f"float64, 2 heads, D 8, m = {m}, n = {n} (m - n = {distance}; the complex formula as reference)",
                tol=TOL64,
            )


# ---------------------------------------------------------------------------------------------------
# encoder_layer, decoder_layer, transformer

ENCODER_CASES = {
    "post-norm, relu, float64, random mask": dict(mask="random"),
    "pre-norm, gelu, float32, 4 heads": dict(norm_first=True, activation="gelu", dtype=F32, H=4),
    "post-norm, gelu, float32, 8 heads, E 16": dict(activation="gelu", dtype=F32, H=8, E=16, F=32),
    "pre-norm, relu, float64, 1 head, length 1": dict(norm_first=True, H=1, L=1),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(ENCODER_CASES))
def test_encoder_layer_against_module(impl, name):
    """encoder_layer equals nn.TransformerEncoderLayer with the same state_dict."""
    check_layer(impl, "encoder", make_layer("encoder", ENCODER_CASES[name], f"enc/{name}"), name)


@pytest.mark.points(2)
def test_encoder_layer_gradients(impl):
    """Autograd through encoder_layer gives the module's gradient w.r.t. x (pre-norm, gelu, mask)."""
    spec = dict(norm_first=True, activation="gelu", mask="random", H=4)
    check_layer_gradients(impl, "encoder", make_layer("encoder", spec, "encg"), "encg", "pre-norm, gelu, mask")


DECODER_CASES = {
    "post-norm, relu, float64, L 5 != S 7, padding memory mask": dict(S=7, mask=("padding", 2)),
    "pre-norm, gelu, float32, 4 heads, no memory mask": dict(norm_first=True, activation="gelu", dtype=F32, H=4),
    "post-norm, gelu, float64, target length 1": dict(L=1, activation="gelu", S=4),
    "pre-norm, relu, float64, 8 heads, E 16, L 6 > S 3, padding mask": dict(
        norm_first=True, H=8, E=16, F=24, L=6, S=3, mask=("padding", 1)
    ),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(DECODER_CASES))
def test_decoder_layer_against_module(impl, name):
    """decoder_layer equals nn.TransformerDecoderLayer (causal tgt_mask) with the same state_dict."""
    check_layer(impl, "decoder", make_layer("decoder", DECODER_CASES[name], f"dec/{name}"), name)


@pytest.mark.points(2)
def test_decoder_layer_gradients(impl):
    """Autograd through decoder_layer gives the module's gradients w.r.t. x and memory."""
    spec = dict(S=4, mask=("padding", 1), activation="gelu")
    check_layer_gradients(impl, "decoder", make_layer("decoder", spec, "decg"), "decg", "post-norm, gelu, padding mask")


TRANSFORMER_CASES = {
    "post-norm, relu, float64, 2 + 2 layers": dict(layers=(2, 2), S=6, L=4),
    "pre-norm, gelu, float32, 1 + 2 layers, 4 heads": dict(
        layers=(1, 2), norm_first=True, activation="gelu", dtype=F32, H=4, S=3, L=5
    ),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(TRANSFORMER_CASES))
def test_transformer_against_module(impl, name):
    """transformer equals nn.Transformer (causal target mask, final norms) with the same state_dict."""
    check_layer(impl, "transformer", make_layer("transformer", TRANSFORMER_CASES[name], f"tr/{name}"), name)


@pytest.mark.points(2)
def test_transformer_gradients(impl):
    """Autograd through transformer gives nn.Transformer's gradients w.r.t. src and tgt."""
    spec = dict(layers=(1, 1), norm_first=True, S=4, L=3)
    check_layer_gradients(impl, "transformer", make_layer("transformer", spec, "trg"), "trg", "pre-norm, 1 + 1 layers")
