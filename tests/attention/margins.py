"""How close correct implementations come to the tolerances: `python -m tests.attention.margins`.

For the reference and every alternative in mutants.py, runs the float32 and float64 cases of the
public and hidden suites (attention, multi-head attention and their gradients) against PyTorch and
prints the worst |error| / (atol + rtol * |expected|): 1.0 would be a false failure.
Project-only (it reads mutants.py).
"""

import torch

from grader.gradients import local_call_with_grads
from grader.mistakes import correct_modules
from tests.attention.driver import make_case, make_mha
from tests.attention.mutants import ALTERNATIVES
from tests.attention.oracle import MHA_INPUTS, MHA_PARAMS, randn, tol, torch_mha, torch_sdpa_with_grads
from tests.attention.test_hidden import GRADIENT_CASES, MHA_GRADIENT_CASES, MORE_MHA, MORE_SDPA
from tests.attention.test_public import MHA_CASES, SDPA_CASES


def _modules():
    return correct_modules("attention", ALTERNATIVES)


def _ratio(actual, expected, t) -> float:
    a, e = actual.detach().double(), expected.detach().double()
    finite = torch.isfinite(e)
    return float(((a - e).abs()[finite] / (t["atol"] + t["rtol"] * e.abs()[finite])).max())


def main() -> None:
    modules = _modules()
    worst = {name: {} for name in modules}
    sdpa = {**SDPA_CASES, **MORE_SDPA, **{f"grad: {k}": v for k, v in GRADIENT_CASES.items()}}
    for _label, spec in sdpa.items():
        q, k, v, options = make_case(spec, seed=10)
        grad_out = randn(*q.shape[:-1], v.shape[-1], seed=11, dtype=q.dtype)
        expected, expected_grads = torch_sdpa_with_grads(
            q, k, v, grad_out, options.get("mask"), options.get("is_causal", False), options.get("scale")
        )
        kind = str(q.dtype)[6:]
        for name, ns in modules.items():
            out, grads = local_call_with_grads(
                ns["scaled_dot_product_attention"], dict(q=q, k=k, v=v, **options), ("q", "k", "v"), grad_out
            )
            r = worst[name]
            r[f"sdpa {kind}"] = max(r.get(f"sdpa {kind}", 0.0), _ratio(out, expected, tol(q.dtype)))
            for n in ("q", "k", "v"):
                r[f"grad {kind}"] = max(
                    r.get(f"grad {kind}", 0.0), _ratio(grads[n], expected_grads[n], tol(q.dtype, grad=True))
                )
    for _label, spec in {**MHA_CASES, **MORE_MHA, **MHA_GRADIENT_CASES}.items():
        args = make_mha(spec, seed=30)
        dtype = args["query"].dtype
        grad_out = randn(*args["query"].shape, seed=31, dtype=dtype)
        expected, expected_grads = torch_mha(args, grad_out)
        wrt = tuple(n for n in MHA_INPUTS + MHA_PARAMS if args[n] is not None)
        kind = str(dtype)[6:]
        for name, ns in modules.items():
            out, grads = local_call_with_grads(ns["multi_head_attention"], dict(args), wrt, grad_out)
            r = worst[name]
            r[f"mha {kind}"] = max(r.get(f"mha {kind}", 0.0), _ratio(out, expected, tol(dtype)))
            for n in wrt:
                r[f"mha grad {kind}"] = max(
                    r.get(f"mha grad {kind}", 0.0), _ratio(grads[n], expected_grads[n], tol(dtype, grad=True))
                )
    for name, r in worst.items():
        print(f"{name:38} " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(r.items())))


if __name__ == "__main__":
    main()
