"""LoRA, public tests: a hand-worked case, then peft's LoRA Linear through golden data (its outputs,
its merge_and_unload() weights, its trainable parameter count and its initial A, stored in
data/lora/golden.json by data/lora/make_golden.py, checked by SHA-256), PyTorch's F.linear and
autograd on more shapes, float64 central differences, torch.nn.init for the initial A, and the same
fine-tuning loop driven by autograd and torch.optim.Adam.

Run with `make test topic=lora`. Learner code is reached only through the `impl` fixture. peft itself
takes seconds to import, so only the hidden tests call it live.
"""

import hashlib
import json
import math

import pytest
import torch

from grader import paths
from grader.checks import check_unchanged, fail
from grader.kit import (
    F32,
    F64,
    Tol,
    call_checking_inputs,
    central_differences,
    check_output,
    check_outputs,
    dtype_name,
    randn,
    scale_of,
    shape_name,
)
from tests.lora.key import (
    backward_mistakes,
    fine_tune_by_autograd,
    fine_tune_mistakes,
    forward_mistakes,
    layer_output_mistakes,
    layer_state_mistakes,
    lora_gradients_by_autograd,
    lora_output_by_formula,
    merge_mistakes,
)
from tests.lora.mistakes import MISTAKE

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons. `python -m grader margins lora` measures how much of them the
# reference and the alternatives of mutants.py use.
TOL64 = Tol(
    1e-10,
    1e-12,
    "float64: sums of at most 16 products of values of order 1; peft, F.linear and a correct "
    "implementation (B A formed first, float64 or float32 anywhere) differ by about 1e-15",
)
TOL32 = Tol(
    2e-5,
    2e-6,
    "float32: sums of at most 16 products of values of order 1, in another order (B A formed first, "
    "the merged weight rounded once more) differ by a few 1e-7; every mistake moves some value by 1e-2 "
    "or more",
)
TOL_FD = Tol(1e-7, 1e-8, "float64 central differences with step 1e-6 of a function of order 10: ~1e-9")
TOL_INIT = {
    F64: Tol(1e-14, 0.0, "the same uniform draws, their bound 1/sqrt(in) computed another way (a few ulps)"),
    F32: Tol(1e-6, 0.0, "the same uniform draws, their bound 1/sqrt(in) computed another way (a few ulps)"),
}
TOL_TRAIN = Tol(
    1e-7,
    1e-10,
    "float64 Adam over 80 steps: gradients by hand and by autograd differ by ~1e-16, which Adam's "
    "normalisation (g / sqrt(v)) carries along the trajectory to about 1e-12",
)
TOL_UNMERGE = Tol(
    1e-10,
    1e-12,
    "float64: (W + s B A) - s B A rounds to W within an ulp of |s B A| (values of order 1)",
)


def tol(dtype: torch.dtype) -> Tol:
    return TOL64 if dtype == F64 else TOL32


# ---------------------------------------------------------------------------------------------------
# Inputs


def scale_words(alpha: float, use_rslora: bool) -> str:
    return f"alpha={alpha:g}, use_rslora={use_rslora}"


def make_case(name: str, dtype, lead, inp: int, out: int, r: int, alpha: float, rslora: bool, bias: bool) -> dict:
    """lora_forward's keyword arguments: x (*lead, in), weight (out, in) of size 1/sqrt(in), bias
    (out,) of size 0.3 or None, lora_A (r, in) of size 1/sqrt(in) and lora_B (out, r) of size 0.5
    (a trained adapter: not zero), all drawn from seeds named after the case."""
    return dict(
        x=randn((*lead, inp), f"{name}/x", dtype),
        weight=randn((out, inp), f"{name}/weight", dtype, 1 / math.sqrt(inp)),
        bias=randn((out,), f"{name}/bias", dtype, 0.3) if bias else None,
        lora_A=randn((r, inp), f"{name}/A", dtype, 1 / math.sqrt(inp)),
        lora_B=randn((out, r), f"{name}/B", dtype, 0.5),
        alpha=alpha,
        use_rslora=rslora,
    )


def describe_case(args: dict) -> str:
    x, w, a = args["x"], args["weight"], args["lora_A"]
    bias = "bias" if args.get("bias") is not None else "no bias"
    return (
        f"{dtype_name(x.dtype)}, x {shape_name(x.shape)}, weight {shape_name(w.shape)}, {bias}, "
        f"r={a.shape[0]}, {scale_words(args['alpha'], args['use_rslora'])}"
    )


# The cases of the golden data: data/lora/make_golden.py builds these inputs with make_case, runs peft
# on them and stores what it gives (SHA-256 of the inputs included).
# (dtype, leading dimensions of x, in, out, r, alpha, use_rslora, bias)
GOLDEN_CASES = {
    "float64, x (2, 3, 5), out 4, r 2, alpha 8": (F64, (2, 3), 5, 4, 2, 8.0, False, True),
    "float64, square 6 x 6, r 3, alpha 6, no bias": (F64, (4,), 6, 6, 3, 6.0, False, False),
    "float32, rsLoRA, x (3, 8), out 5, r 4, alpha 16": (F32, (3,), 8, 5, 4, 16.0, True, True),
    "float64, rsLoRA, r 7 > out 3": (F64, (2,), 4, 3, 7, 5.0, True, True),
}
# The initial A of peft's default initialisation: (dtype, r, in, out, seed)
GOLDEN_INIT = {
    "float32, r 4, in 8, seed 0": (F32, 4, 8, 5, 0),
    "float64, r 3, in 5, seed 7": (F64, 3, 5, 4, 7),
}
GOLDEN_FILE = paths.ROOT / "data" / "lora" / "golden.json"
GOLDEN_SHA256 = "ab9b47fccadf26a0f9670b760b062ff2a8807eb6a5cfa1abc1829a1769a21aa9"


def digest(tensors) -> str:
    """SHA-256 of the tensors' dtypes, shapes and bytes, in order (None as the word None)."""
    h = hashlib.sha256()
    for t in tensors:
        if t is None:
            h.update(b"None")
            continue
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def case_digest(args: dict) -> str:
    return digest([args[k] for k in ("x", "weight", "bias", "lora_A", "lora_B")])


_golden: dict = {}


def golden() -> dict:
    """data/lora/golden.json, after checking its SHA-256 (fails with a sentence if it changed)."""
    if not _golden:
        raw = GOLDEN_FILE.read_bytes()
        if hashlib.sha256(raw).hexdigest() != GOLDEN_SHA256:
            fail(
                "data/lora/golden.json is not the file these tests were written for (its SHA-256 "
                "differs): run `.venv/bin/python data/lora/make_golden.py` and update GOLDEN_SHA256."
            )
        _golden.update(json.loads(raw))
    return _golden


def golden_case(name: str) -> tuple[dict, dict]:
    """(lora_forward's arguments, peft's results) of a golden case, its inputs checked by SHA-256."""
    args = make_case(name, *GOLDEN_CASES[name])
    stored = golden()["cases"][name]
    if stored["inputs_sha256"] != case_digest(args):
        fail(f"golden case {name!r}: the inputs are no longer those peft was run on; run data/lora/make_golden.py.")
    return args, stored


def as_tensor(values, dtype) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


# ---------------------------------------------------------------------------------------------------
# Checks


def check_forward(impl, args: dict, expected: torch.Tensor, case: str) -> None:
    near = forward_mistakes(**args)
    call = f"lora_forward(x, weight, bias, lora_A, lora_B, {scale_words(args['alpha'], args['use_rslora'])})"
    actual = call_checking_inputs(impl.lora_forward, args, call=call)
    check_output(actual, expected, name="output", of=call, case=case, tol=tol(args["x"].dtype), near=near)


def backward_args(args: dict, seed) -> dict:
    grad_out = randn((*args["x"].shape[:-1], args["weight"].shape[0]), f"{seed}/grad_out", args["x"].dtype)
    return dict(grad_out=grad_out, **{k: v for k, v in args.items() if k != "bias"})


def check_backward(impl, bargs: dict, expected, case: str, tolerance=None) -> None:
    near = backward_mistakes(**bargs)
    call = f"lora_backward(grad_out, x, weight, lora_A, lora_B, {scale_words(bargs['alpha'], bargs['use_rslora'])})"
    actual = call_checking_inputs(impl.lora_backward, bargs, call=call)
    dtype = bargs["x"].dtype
    check_outputs(
        actual,
        expected,
        names=("grad_x", "grad_A", "grad_B"),
        of=call,
        case=case,
        tol=tolerance or (lambda e: tol(dtype).scaled(scale_of(e))),
        near=near,
    )


def make_layer(impl, args: dict, seed: int = 0):
    """LoRALinear over args' weight and bias, its adapter then set to args' lora_A and lora_B (with the
    given load_adapter), and a copy of the caller's tensors to check they stay untouched."""
    r = args["lora_A"].shape[0]
    layer = impl.LoRALinear(args["weight"], args["bias"], r, args["alpha"], use_rslora=args["use_rslora"], seed=seed)
    layer.load_adapter(args["lora_A"], args["lora_B"])
    return layer


def in_sandbox(impl) -> bool:
    """Whether the learner's module runs in the grader's sandbox (grading mode), where tensors come
    back as plain data: their requires_grad flags do not cross, so the flags are checked in learner
    mode only."""
    return type(impl).__name__ == "ProxyImpl"


# ---------------------------------------------------------------------------------------------------
# lora_forward


def test_forward_by_hand(impl):
    """x = [1, 2], W = I, b = [0, 1], A = [[1, 1], [1, -1]], B = [[1, 0], [1, 1]], alpha 4, r 2: [7, 7]."""
    # x W^T + b = [1, 3]; x A^T = [3, -1]; (x A^T) B^T = [3, 2]; s = alpha / r = 2: [1 + 6, 3 + 4].
    # (The scale alpha = 4 would give [13, 11]; alpha / sqrt(r) = 2.83, [9.49, 8.66]; x B A, [9, 5].)
    args = dict(
        x=torch.tensor([[1.0, 2.0]], dtype=F64),
        weight=torch.eye(2, dtype=F64),
        bias=torch.tensor([0.0, 1.0], dtype=F64),
        lora_A=torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=F64),
        lora_B=torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=F64),
        alpha=4.0,
        use_rslora=False,
    )
    check_forward(impl, args, torch.tensor([[7.0, 7.0]], dtype=F64), "by hand, float64")


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(GOLDEN_CASES))
def test_forward_against_peft(impl, name):
    """lora_forward equals peft's LoRA Linear (lora_dropout=0) holding the same A and B (golden data)."""
    args, stored = golden_case(name)
    expected = as_tensor(stored["output"], args["x"].dtype)
    check_forward(impl, args, expected, f"{name}: {describe_case(args)} (peft's output, data/lora/golden.json)")


# (dtype, leading dimensions, in, out, r, alpha, use_rslora, bias)
SHAPE_CASES = {
    "r 1": (F64, (3,), 5, 4, 1, 2.0, False, True),
    "r = min(in, out) = 4": (F64, (2,), 6, 4, 4, 2.0, False, True),
    "r 9 > out 2 and > in 3": (F64, (4,), 3, 2, 9, 3.0, False, True),
    "three leading dimensions, bias None": (F32, (2, 2, 3), 5, 6, 2, 4.0, False, False),
    "x without leading dimensions (in,)": (F64, (), 5, 3, 2, 4.0, True, True),
    "square 5 x 5, float32": (F32, (6,), 5, 5, 2, 8.0, False, True),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(SHAPE_CASES))
def test_forward_shapes(impl, name):
    """lora_forward equals F.linear(x, W, b) + s F.linear(F.linear(x, A), B) on more shapes."""
    args = make_case(name, *SHAPE_CASES[name])
    expected = lora_output_by_formula(**args)
    check_forward(impl, args, expected, f"{name}: {describe_case(args)} (F.linear in float64 as reference)")


# ---------------------------------------------------------------------------------------------------
# lora_backward

BACKWARD_CASES = {
    "float64, x (2, 3, 5), out 4, r 2": (F64, (2, 3), 5, 4, 2, 8.0, False, True),
    "float64, rsLoRA, r 6 > out 3": (F64, (4,), 5, 3, 6, 3.0, True, True),
    "float32, square 4 x 4, r 4 = out": (F32, (5,), 4, 4, 4, 2.0, False, True),
    "float64, r 1, x (in,)": (F64, (), 3, 5, 1, 2.0, False, True),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(BACKWARD_CASES))
def test_backward_against_autograd(impl, name):
    """lora_backward equals autograd through the F.linear formula (in float64, rounded)."""
    args = make_case(name, *BACKWARD_CASES[name])
    bargs = backward_args(args, name)
    expected = lora_gradients_by_autograd(**bargs)
    check_backward(impl, bargs, expected, f"{name}: {describe_case(args)} (autograd as reference)")


@pytest.mark.points(2)
def test_backward_central_differences(impl):
    """lora_backward equals float64 central differences of sum(lora_forward(...) * grad_out)."""
    args = make_case("fd", F64, (3,), 4, 3, 2, 6.0, False, True)
    bargs = backward_args(args, "fd")
    xs, a_s, bs = args["x"].clone(), args["lora_A"].clone(), args["lora_B"].clone()
    w, b, g = args["weight"], args["bias"], bargs["grad_out"]

    def loss() -> float:
        return float(((xs @ w.T + b + 3.0 * (xs @ a_s.T) @ bs.T) * g).sum())

    expected = tuple(central_differences(loss, [xs, a_s, bs]))
    case = f"{describe_case(args)} (central differences with step 1e-6 as reference)"
    check_backward(impl, bargs, expected, case, tolerance=TOL_FD)


# ---------------------------------------------------------------------------------------------------
# LoRALinear


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(GOLDEN_INIT))
def test_layer_initialisation(impl, name):
    """lora_A is peft's default draw (kaiming_uniform_, a = sqrt(5), from Generator().manual_seed(seed),
    in weight's dtype), lora_B zeros; A and B trainable, the base frozen; the caller's tensors intact."""
    dtype, r, inp, out, seed = GOLDEN_INIT[name]
    weight, bias = randn((out, inp), f"{name}/weight", dtype), randn((out,), f"{name}/bias", dtype)
    peft_A = as_tensor(golden()["init"][name]["lora_A"], dtype)
    torch_A = torch.empty(r, inp, dtype=dtype)
    torch.nn.init.kaiming_uniform_(torch_A, a=math.sqrt(5), generator=torch.Generator().manual_seed(seed))
    call = f"LoRALinear(weight, bias, r={r}, alpha=8, seed={seed})"
    layer = call_checking_inputs(impl.LoRALinear, dict(weight=weight, bias=bias, r=r, alpha=8.0, seed=seed), call=call)
    case = f"{name}: weight {shape_name(weight.shape)} {dtype_name(dtype)}"
    lora_A, lora_B = layer.lora_A, layer.lora_B
    if isinstance(lora_A, torch.Tensor) and lora_A.shape == (r, inp) and not lora_A.detach().any():
        fail(f"{call}.lora_A is all zeros, for {case}.\n{MISTAKE['a-zero-init'].sentence()}")
    for oracle, expected in (("torch.nn.init.kaiming_uniform_", torch_A), ("peft's lora_A, golden data", peft_A)):
        check_output(lora_A, expected, name="lora_A", of=call, case=f"{case} ({oracle})", tol=TOL_INIT[dtype])
    zeros = torch.zeros(out, r, dtype=dtype)
    if isinstance(lora_B, torch.Tensor) and lora_B.shape == zeros.shape and lora_B.detach().any():
        fail(f"{call}.lora_B is not zeros, for {case}.\n{MISTAKE['b-random-init'].sentence()}")
    check_output(lora_B, zeros, name="lora_B", of=call, case=case, tol=Tol(0, 0, "zeros exactly"))
    check_output(layer.weight, weight, name="weight", of=call, case=case, tol=Tol(0, 0, "a copy, exactly"))
    check_output(layer.bias, bias, name="bias", of=call, case=case, tol=Tol(0, 0, "a copy, exactly"))
    if layer.merged is not False:
        fail(f"{call}.merged is {layer.merged!r}; a new layer is not merged (False).")
    if not in_sandbox(impl):
        for attr, wanted in (("lora_A", True), ("lora_B", True), ("weight", False), ("bias", False)):
            if getattr(layer, attr).requires_grad is not wanted:
                says = "should require grad (it is trained)" if wanted else "should not require grad (it is frozen)"
                extra = "" if wanted else f"\n{MISTAKE['base-trainable'].sentence()}"
                fail(f"{call}.{attr}.requires_grad is {not wanted}: it {says}.{extra}")


def test_layer_base_frozen_even_when_given_trainable_tensors(impl):
    """Given nn.Linear-like tensors that require grad, the layer's weight and bias do not."""
    weight = randn((3, 4), "frozen/weight").requires_grad_(True)
    bias = randn((3,), "frozen/bias").requires_grad_(True)
    layer = impl.LoRALinear(weight, bias, 2, 4.0)
    call = "LoRALinear(weight, bias, r=2, alpha=4) with weight and bias requiring grad"
    check_output(layer.weight, weight.detach(), name="weight", of=call, case="float64", tol=Tol(0, 0, "a copy"))
    if not in_sandbox(impl):
        for attr in ("weight", "bias"):
            if getattr(layer, attr).requires_grad:
                fail(
                    f"{call}: layer.{attr}.requires_grad is True (it keeps the caller's graph or flag); "
                    f"the base is frozen: {attr}.detach().clone().\n{MISTAKE['base-trainable'].sentence()}"
                )


def test_layer_starts_as_the_base_layer(impl):
    """At initialisation (B = 0) the layer's output is the base layer's, x W^T + b."""
    args = make_case("start", F64, (2, 3), 5, 4, 2, 8.0, False, True)
    layer = impl.LoRALinear(args["weight"], args["bias"], 2, 8.0, seed=3)
    expected = args["x"] @ args["weight"].T + args["bias"]
    actual = layer(args["x"])
    says = f"\n{MISTAKE['b-random-init'].sentence()}"
    if not (isinstance(actual, torch.Tensor) and actual.shape == expected.shape):
        check_output(actual, expected, name="output", of="layer(x)", case="a new layer", tol=TOL64)
    elif not torch.allclose(actual.detach(), expected, rtol=TOL64.rtol, atol=TOL64.atol):
        fail(f"LoRALinear(...)(x) at initialisation is not the base layer's output x W^T + b.{says}")


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(GOLDEN_CASES))
def test_layer_forward_against_peft(impl, name):
    """layer(x), its adapter set to A and B, equals peft's output (golden); layer.forward(x) too."""
    args, stored = golden_case(name)
    expected = as_tensor(stored["output"], args["x"].dtype)
    layer = make_layer(impl, args)
    near = forward_mistakes(**args)
    case = f"{name}: {describe_case(args)} (peft's output, data/lora/golden.json)"
    for call, actual in (("layer(x)", layer(args["x"])), ("layer.forward(x)", layer.forward(args["x"]))):
        check_output(actual, expected, name="output", of=call, case=case, tol=tol(args["x"].dtype), near=near)


@pytest.mark.points(3)
@pytest.mark.parametrize("name", list(GOLDEN_CASES))
def test_merge_and_unmerge(impl, name):
    """merge() gives peft's merge_and_unload() weight, and the same outputs; a second merge() does
    nothing; unmerge() restores W (merged False), the same outputs again; a second unmerge() does
    nothing; the caller's weight is never touched."""
    args, stored = golden_case(name)
    x, weight, dtype = args["x"], args["weight"], args["x"].dtype
    scale = dict(alpha=args["alpha"], use_rslora=args["use_rslora"])
    merged_weight = as_tensor(stored["merged_weight"], dtype)
    expected_out = as_tensor(stored["output"], dtype)
    near_merge = merge_mistakes(weight, args["lora_A"], args["lora_B"], **scale)
    near_states = {
        s: layer_state_mistakes(weight, args["lora_A"], args["lora_B"], args["alpha"], args["use_rslora"], s)
        for s in ("merged twice", "unmerged", "unmerged twice")
    }
    near_outputs = {
        s: layer_output_mistakes(
            x, weight, args["bias"], args["lora_A"], args["lora_B"], args["alpha"], args["use_rslora"], s
        )
        for s in ("merged", "merged twice", "unmerged", "unmerged twice")
    }
    kept = weight.clone()
    layer = make_layer(impl, args)
    case = f"{name}: {describe_case(args)}"
    weight_tol = TOL_UNMERGE if dtype == F64 else TOL32
    steps = (
        ("merge", "merged", True, merged_weight, near_merge, "peft's merge_and_unload() weight"),
        ("merge", "merged twice", True, merged_weight, near_states["merged twice"], "peft's, unchanged"),
        ("unmerge", "unmerged", False, weight, near_states["unmerged"], "the original weight"),
        ("unmerge", "unmerged twice", False, weight, near_states["unmerged twice"], "the original weight"),
    )
    done = []
    for method, state, flag, expected_weight, near, oracle in steps:
        getattr(layer, method)()
        done.append(f"{method}()")
        calls = ", ".join(done)
        if layer.merged is not flag:
            extra = f"\n{MISTAKE['unmerge-never'].sentence()}" if method == "unmerge" else ""
            fail(f"after {calls}, layer.merged is {layer.merged!r}, expected {flag}, for {case}.{extra}")
        check_output(
            layer.weight,
            expected_weight,
            name="layer.weight",
            of=f"after {calls}",
            case=f"{case} ({oracle})",
            tol=weight_tol,
            near=near,
        )
        check_output(
            layer(x),
            expected_out,
            name="layer(x)",
            of=f"after {calls}",
            case=f"{case} (peft's output)",
            tol=tol(dtype),
            near=near_outputs[state],
        )
        check_unchanged(
            kept,
            weight,
            name="weight",
            call=f"LoRALinear(weight, ...) then {calls}",
            mistake=MISTAKE["weight-not-copied"],
        )


@pytest.mark.parametrize("name", list(GOLDEN_CASES))
def test_trainable_parameters(impl, name):
    """trainable_parameters() is [lora_A, lora_B]; num_trainable() is peft's count, r (in + out)."""
    args, stored = golden_case(name)
    layer = make_layer(impl, args)
    r, (out, inp) = args["lora_A"].shape[0], args["weight"].shape
    params = layer.trainable_parameters()
    if not isinstance(params, (list, tuple)) or len(params) != 2:
        size = f" of {len(params)} items" if isinstance(params, (list, tuple)) else ""
        extra = (
            f"\n{MISTAKE['base-trainable'].sentence()}" if isinstance(params, (list, tuple)) and len(params) > 2 else ""
        )
        fail(f"trainable_parameters() should be the list [lora_A, lora_B], got a {type(params).__name__}{size}.{extra}")
    for got, want, what in zip(params, (args["lora_A"], args["lora_B"]), ("lora_A", "lora_B")):
        check_output(got, want, name=what, of="trainable_parameters()", case=name, tol=Tol(0, 0, "the same values"))
    count, expected = layer.num_trainable(), stored["trainable"]
    if count != expected:
        extra = f"\n{MISTAKE['base-trainable'].sentence()}" if isinstance(count, int) and count > expected else ""
        fail(
            f"num_trainable() is {count!r}, expected {expected} = r (in + out) = {r} * ({inp} + {out}) "
            f"(peft's get_nb_trainable_parameters), for {name}.{extra}"
        )


# ---------------------------------------------------------------------------------------------------
# fine_tune


def low_rank_target(name: str, out: int, inp: int, rank: int, n: int = 32) -> dict:
    """A frozen base (out, in) with bias, inputs X (n, in), and targets Y = X (W + D)^T + b for a
    change D of the given rank (a product of (out, rank) and (rank, in) normal matrices, / sqrt(in))."""
    weight = randn((out, inp), f"{name}/weight", F64, 1 / math.sqrt(inp))
    bias = randn((out,), f"{name}/bias", F64, 0.3)
    X = randn((n, inp), f"{name}/X")
    change = randn((out, rank), f"{name}/U") @ randn((rank, inp), f"{name}/V", F64, 1 / math.sqrt(inp))
    return dict(weight=weight, bias=bias, X=X, Y=X @ (weight + change).T + bias)


def run_fine_tune(impl, data: dict, r: int, alpha: float, steps: int, lr: float, seed: int, case: str):
    """fine_tune(...) checked against the autograd + torch.optim.Adam loop; returns the losses."""
    settings = dict(r=r, alpha=alpha, steps=steps, lr=lr, seed=seed)
    expected = fine_tune_by_autograd(**data, **settings)
    near = fine_tune_mistakes(**data, **settings)
    call = f"fine_tune(weight, bias, X, Y, r={r}, alpha={alpha:g}, steps={steps}, lr={lr:g}, seed={seed})"
    result = call_checking_inputs(impl.fine_tune, dict(**data, **settings), call=call)
    if isinstance(result, (tuple, list)) and len(result) == 3:
        losses = result[2]
        if not (isinstance(losses, list) and len(losses) == steps and all(isinstance(v, float) for v in losses)):
            fail(
                f"{call}: losses should be a list of {steps} Python floats (one per step), got {type(losses).__name__}."
            )
        result = (result[0], result[1], torch.tensor(losses, dtype=F64))
    check_outputs(
        result,
        expected,
        names=("lora_A", "lora_B", "losses"),
        of=call,
        case=f"{case} (autograd and torch.optim.Adam, from the same initialisation, as reference)",
        tol=TOL_TRAIN,
        near=near,
    )
    return result[2]


@pytest.mark.points(3)
def test_fine_tune_learns_a_low_rank_change(impl):
    """On Y = X (W + D)^T + b with D of rank 2, rank 2 training: the same trajectory as autograd with
    Adam, the loss falls by more than 100x, and the base (weight, bias) is not modified."""
    data = low_rank_target("ft", 6, 5, 2)
    losses = run_fine_tune(impl, data, 2, 4.0, 80, 0.05, 0, "base (6, 5), X (32, 5), a change of rank 2, float64")
    if not losses[-1] < losses[0] / 100:
        fail(f"fine_tune: the loss fell from {float(losses[0]):.4g} to {float(losses[-1]):.4g}, less than 100x.")


def rank_limit(data: dict, r: int) -> float:
    """The smallest mean squared error any adapter of rank r can reach: Y - X W^T - b = X D^T, and the
    best rank-r fit of X D^T is its truncated SVD (Eckart-Young; X has full column rank), so the loss
    is the sum of the squared singular values past the r-th, divided by N * out."""
    residual = data["Y"] - data["X"] @ data["weight"].T - data["bias"]
    singular = torch.linalg.svdvals(residual)
    return float((singular[r:] ** 2).sum()) / residual.numel()


@pytest.mark.points(2)
def test_fine_tune_rank_limit(impl):
    """On a change of rank 4, a rank 1 adapter stops at the best rank 1 fit: its loss comes close to
    that floor (the truncated SVD's) and never goes under it, far from the 100x fall of full rank."""
    data = low_rank_target("limit", 6, 5, 4)
    losses = run_fine_tune(impl, data, 1, 2.0, 150, 0.05, 1, "base (6, 5), a change of rank 4, r=1, float64")
    floor = rank_limit(data, 1)
    final = float(losses[-1])
    if final < floor * (1 - 1e-9):
        fail(f"fine_tune with r=1 reached the loss {final:.6g}, below what any rank 1 adapter can reach ({floor:.6g}).")
    if final > 1.05 * floor:
        fail(f"fine_tune with r=1: the loss stopped at {final:.6g}, more than 5% above the rank 1 floor {floor:.6g}.")
