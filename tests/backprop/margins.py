"""How close correct implementations come to the tolerances: `python -m tests.backprop.margins`.

For the reference and every alternative in mutants.py, runs the networks of the public and hidden
suites (and the cross-entropy cases with huge logits) against their oracles and prints the worst
|error| / (atol + rtol * |expected|) per dtype: 1.0 would be a false failure. Project-only (it
reads mutants.py).
"""

import torch

from grader.mistakes import correct_modules
from tests.backprop.mutants import ALTERNATIVES
from tests.backprop.oracle import autograd_loss, autograd_network, make_network, randn, scale_of, tol, tol_logits
from tests.backprop.test_hidden import RANDOM
from tests.backprop.test_public import PUBLIC_NETWORKS


def _modules():
    return correct_modules("backprop", ALTERNATIVES)


def _ratio(actual, expected, t) -> float:
    a, e = actual.double(), expected.double()
    return float(((a - e).abs() / (t["atol"] + t["rtol"] * e.abs())).max()) if e.numel() else 0.0


def _keep_worst(worst: dict, key, ratio: float, label: str) -> None:
    if ratio > worst.get(key, (-1.0, ""))[0]:
        worst[key] = (ratio, label)


def _check_ce(worst, name, module, logits, target, label):
    expected = autograd_loss("cross_entropy", logits, target)
    got = module["cross_entropy_loss"](logits.clone(), target)
    r = max(_ratio(got[k], expected[k], tol_logits(logits.dtype, logits, scale_of(expected[k]), what))
            for k, what in enumerate(("loss", "grad")))
    _keep_worst(worst, (name, f"cross-entropy {str(logits.dtype)[6:]}"), r, label)


def main() -> None:
    cases = [(f"public {k}", *v, 7) for k, v in PUBLIC_NETWORKS.items()]
    cases += [(f"hidden random {i}", *spec, 200 + i) for i, spec in enumerate(RANDOM)]
    cases += [(f"hidden depth 5 {loss}", [6, 16, 12, 16, 8, 4], ["tanh", "relu", "sigmoid", "relu", "identity"],
               8, torch.float32, loss, 31) for loss in ("mse", "cross_entropy")]
    worst: dict = {}
    for name, module in _modules().items():
        for label, widths, acts, batch, dtype, loss, seed in cases:
            x, target, layers = make_network(widths, acts, batch, dtype, loss, seed=seed)
            expected = autograd_network(x, target, layers, loss)
            got = module["network_gradients"](x.clone(), target.clone(), layers, loss=loss)
            pairs = [(got[0], expected[0]), (got[1], expected[1]), *zip(got[2], expected[2]),
                     *zip(got[3], expected[3])]
            r = max(_ratio(a, e, tol(dtype, scale_of(e))) for a, e in pairs)
            _keep_worst(worst, (name, str(dtype)[6:]), r, label)
        for dtype, scale in ((torch.float32, 1e4), (torch.float64, 1e4), (torch.float64, 1e6)):
            gen = torch.Generator().manual_seed(13)
            logits = randn((6, 10), gen, dtype, scale)
            target = (logits.argmax(dim=1) + 1) % 10
            _check_ce(worst, name, module, logits, target, f"random logits {scale:g}")
            tied = torch.full((2, 4), scale, dtype=dtype)
            tied[1] = -scale
            _check_ce(worst, name, module, tied, torch.tensor([3, 0]), f"tied logits {scale:g}")
    for (name, kind), (r, label) in sorted(worst.items()):
        print(f"{name:28} {kind:24} worst {r:.3g} of the tolerance ({label})")


if __name__ == "__main__":
    main()
