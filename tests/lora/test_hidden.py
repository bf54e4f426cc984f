"""LoRA, hidden tests: peft called live (`get_peft_model` on a small torch model with
`LoraConfig(r, lora_alpha, target_modules=["proj"], lora_dropout=0.0, use_rslora)` holding the same A
and B: outputs, `merge_and_unload()` weights, the trainable parameter count, and the initial A drawn
with the same generator), more shapes against F.linear and autograd, and more fine-tuning runs.

Not shipped to learners; `make grade` and the instructor's grader run them. data/lora/make_golden.py
uses the peft oracles below to write the public tests' golden data.
"""

import math

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from grader.checks import fail
from grader.kit import F32, F64, Tol, check_output, randn
from tests.lora.key import forward_mistakes, lora_gradients_by_autograd, merge_mistakes
from tests.lora.test_public import (
    TOL_INIT,
    backward_args,
    check_backward,
    check_forward,
    describe_case,
    low_rank_target,
    make_case,
    make_layer,
    rank_limit,
    run_fine_tune,
    tol,
)

TOL64_EXACT = Tol(0.0, 0.0, "untouched tensors, exactly")

# ---------------------------------------------------------------------------------------------------
# peft, the oracle


class Tiny(nn.Module):
    """A small torch model: `proj` (the layer LoRA adapts) then a frozen `head`."""

    def __init__(self, inp: int, out: int, bias: bool, dtype):
        super().__init__()
        self.proj = nn.Linear(inp, out, bias=bias, dtype=dtype)
        self.head = nn.Linear(out, 2, dtype=dtype)

    def forward(self, x):
        return self.head(self.proj(x))


def peft_model(args: dict):
    """get_peft_model(Tiny holding args' weight and bias, LoraConfig(...)), its adapter set to args'
    lora_A and lora_B; returns (peft model, its LoRA Linear)."""
    weight, bias, lora_A = args["weight"], args["bias"], args["lora_A"]
    (out, inp), r = weight.shape, lora_A.shape[0]
    model = Tiny(inp, out, bias is not None, weight.dtype)
    with torch.no_grad():
        model.proj.weight.copy_(weight)
        if bias is not None:
            model.proj.bias.copy_(bias)
    config = LoraConfig(
        r=r, lora_alpha=args["alpha"], target_modules=["proj"], lora_dropout=0.0, use_rslora=args["use_rslora"]
    )
    model = get_peft_model(model, config)
    layer = model.base_model.model.proj
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(lora_A)
        layer.lora_B["default"].weight.copy_(args["lora_B"])
    return model, layer


def peft_results(args: dict) -> dict:
    """peft's output on args' x, its merge_and_unload() weight of proj, and its trainable count."""
    model, layer = peft_model(args)
    with torch.no_grad():
        output = layer(args["x"])
    trainable = model.get_nb_trainable_parameters()[0]
    merged_weight = model.merge_and_unload().proj.weight.detach().clone()
    return dict(output=output, merged_weight=merged_weight, trainable=trainable)


def peft_initial_A(dtype, r: int, inp: int, out: int, seed: int) -> torch.Tensor:
    """peft's default initialisation of lora_A for a base of `dtype`, drawn from the global generator
    seeded with `seed` (the same stream as torch.Generator().manual_seed(seed)): peft's own
    reset_lora_parameters on the layer once it holds the base's dtype."""
    model = Tiny(inp, out, True, dtype)
    config = LoraConfig(r=r, lora_alpha=8, target_modules=["proj"], lora_dropout=0.0)
    layer = get_peft_model(model, config).base_model.model.proj
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer.reset_lora_parameters("default", True)
    return layer.lora_A["default"].weight.detach().clone()


# ---------------------------------------------------------------------------------------------------
# Outputs, merging and the count, against peft live

# (dtype, leading dimensions of x, in, out, r, alpha, use_rslora, bias)
PEFT_CASES = {
    "float64, r 1": (F64, (3,), 6, 4, 1, 2.0, False, True),
    "float64, r = min(in, out) = 5": (F64, (2, 2), 7, 5, 5, 10.0, False, True),
    "float64, r 12 > out 4 and > in 6, rsLoRA": (F64, (3,), 6, 4, 12, 6.0, True, True),
    "float32, three leading dimensions, no bias": (F32, (2, 1, 3), 8, 6, 3, 9.0, False, False),
    "float32, square 7 x 7, rsLoRA, r 4": (F32, (5,), 7, 7, 4, 6.0, True, True),
    "float64, square 5 x 5, r 2, alpha 3": (F64, (4,), 5, 5, 2, 3.0, False, True),
    "float64, x (in,)": (F64, (), 5, 3, 2, 8.0, False, True),
}


@pytest.mark.parametrize("name", list(PEFT_CASES))
def test_forward_against_peft_live(impl, name):
    """lora_forward and layer(x) equal peft's LoRA Linear holding the same A and B."""
    args = make_case(f"hidden/{name}", *PEFT_CASES[name])
    expected = peft_results(args)["output"]
    case = f"{name}: {describe_case(args)} (peft's LoRA Linear as reference)"
    check_forward(impl, args, expected, case)
    layer = make_layer(impl, args)
    check_output(
        layer(args["x"]),
        expected,
        name="output",
        of="layer(x)",
        case=case,
        tol=tol(args["x"].dtype),
        near=forward_mistakes(**args),
    )


@pytest.mark.parametrize("name", list(PEFT_CASES))
def test_merge_against_peft_live(impl, name):
    """merge() gives peft's merge_and_unload() weight; unmerge() gives W back; the outputs stay peft's."""
    args = make_case(f"hidden/{name}", *PEFT_CASES[name])
    results = peft_results(args)
    dtype = args["x"].dtype
    layer = make_layer(impl, args)
    case = f"{name}: {describe_case(args)}"
    layer.merge()
    near = merge_mistakes(args["weight"], args["lora_A"], args["lora_B"], args["alpha"], args["use_rslora"])
    check_output(
        layer.weight,
        results["merged_weight"],
        name="layer.weight",
        of="merge()",
        case=case + " (peft's merge_and_unload())",
        tol=tol(dtype),
        near=near,
    )
    check_output(
        layer(args["x"]), results["output"], name="layer(x)", of="merge()", case=case + " (peft)", tol=tol(dtype)
    )
    layer.unmerge()
    check_output(layer.weight, args["weight"], name="layer.weight", of="merge(), unmerge()", case=case, tol=tol(dtype))
    check_output(
        layer(args["x"]),
        results["output"],
        name="layer(x)",
        of="merge(), unmerge()",
        case=case + " (peft)",
        tol=tol(dtype),
    )


@pytest.mark.parametrize("name", list(PEFT_CASES))
def test_trainable_count_against_peft_live(impl, name):
    """num_trainable() equals peft's get_nb_trainable_parameters()[0] (only A and B train)."""
    args = make_case(f"hidden/{name}", *PEFT_CASES[name])
    expected = peft_results(args)["trainable"]
    layer = make_layer(impl, args)
    count = layer.num_trainable()
    if count != expected:
        fail(f"num_trainable() is {count!r}; peft counts {expected} trainable values for {describe_case(args)}.")


# (dtype, r, in, out, seed)
INIT_CASES = {
    "float32, r 1, in 3, seed 0": (F32, 1, 3, 2, 0),
    "float32, r 8, in 16, seed 123": (F32, 8, 16, 4, 123),
    "float64, r 5, in 4 (r > in), seed 2024": (F64, 5, 4, 6, 2024),
    "float64, r 2, in 9, seed 1": (F64, 2, 9, 9, 1),
}


@pytest.mark.parametrize("name", list(INIT_CASES))
def test_initial_A_against_peft_live(impl, name):
    """lora_A equals peft's default initialisation drawn with the same generator seed."""
    dtype, r, inp, out, seed = INIT_CASES[name]
    expected = peft_initial_A(dtype, r, inp, out, seed)
    weight = randn((out, inp), f"hidden init/{name}", dtype)
    layer = impl.LoRALinear(weight, None, r, 8.0, seed=seed)
    call = f"LoRALinear(weight, None, r={r}, alpha=8, seed={seed})"
    check_output(
        layer.lora_A,
        expected,
        name="lora_A",
        of=call,
        case=f"{name} (peft's reset_lora_parameters)",
        tol=TOL_INIT[dtype],
    )
    check_output(layer.lora_B, torch.zeros(out, r, dtype=dtype), name="lora_B", of=call, case=name, tol=TOL_INIT[dtype])


def test_layers_are_independent(impl):
    """Two layers over the same weight: merging one changes neither the other nor the caller's weight."""
    args = make_case("hidden/independent", F64, (3,), 4, 4, 2, 4.0, False, True)
    kept = args["weight"].clone()
    first, second = make_layer(impl, args), impl.LoRALinear(args["weight"], args["bias"], 2, 4.0)
    first.merge()
    check_output(
        second.weight, kept, name="second layer's weight", of="first.merge()", case="two layers", tol=TOL64_EXACT
    )
    check_output(
        args["weight"], kept, name="the caller's weight", of="first.merge()", case="two layers", tol=TOL64_EXACT
    )


# ---------------------------------------------------------------------------------------------------
# Gradients and training

MORE_BACKWARD = {
    "float64, three leading dimensions, rsLoRA": (F64, (2, 2, 2), 5, 4, 3, 6.0, True, True),
    "float32, r 10 > in 4 and > out 3": (F32, (6,), 4, 3, 10, 5.0, False, True),
    "float64, square 3 x 3, r 3": (F64, (5,), 3, 3, 3, 2.0, False, False),
}


@pytest.mark.parametrize("name", list(MORE_BACKWARD))
def test_backward_more_cases(impl, name):
    """lora_backward equals autograd through the F.linear formula on more shapes."""
    args = make_case(f"hidden/{name}", *MORE_BACKWARD[name])
    bargs = backward_args(args, f"hidden/{name}")
    check_backward(impl, bargs, lora_gradients_by_autograd(**bargs), f"{name}: {describe_case(args)} (autograd)")


def test_fine_tune_without_bias_and_other_seed(impl):
    """fine_tune with bias None, r 3 on a rank-3 change, seed 5: autograd's trajectory, a 100x fall."""
    data = low_rank_target("hidden/ft", 5, 7, 3)
    data["Y"] = data["Y"] - data["bias"]
    data["bias"] = None
    losses = run_fine_tune(impl, data, 3, 6.0, 100, 0.05, 5, "base (5, 7), no bias, a change of rank 3, float64")
    if not float(losses[-1]) < float(losses[0]) / 100:
        fail(f"fine_tune: the loss fell from {float(losses[0]):.4g} to {float(losses[-1]):.4g}, less than 100x.")


def test_fine_tune_rank_limit_rank_two(impl):
    """A change of rank 5, adapters of rank 2: the loss stays at or above the rank 2 floor."""
    data = low_rank_target("hidden/limit", 6, 6, 5)
    losses = run_fine_tune(impl, data, 2, 4.0, 150, 0.05, 2, "base (6, 6), a change of rank 5, r=2, float64")
    floor = rank_limit(data, 2)
    if float(losses[-1]) < floor * (1 - 1e-9):
        fail(f"fine_tune with r=2 reached the loss {float(losses[-1]):.6g}, below the rank 2 floor {floor:.6g}.")
    if not float(losses[-1]) > float(losses[0]) / 100 or not math.isfinite(float(losses[-1])):
        fail("fine_tune with r=2 on a change of rank 5: the loss fell 100x, which no rank 2 adapter can do here.")
