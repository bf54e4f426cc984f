"""How close correct implementations come to the float32 tolerance: `python -m tests.adam.margins`.

For the reference and every alternative in mutants.py, runs the trajectories of the public and the
hidden suite against torch.optim.Adam and prints the worst |error| / (atol + rtol * |expected|)
over all steps: 1.0 would be a false failure. Project-only (it reads mutants.py).
"""

import torch

from grader.mistakes import correct_modules
from tests.adam.mutants import ALTERNATIVES
from tests.adam.oracle import gradient_sequence, tol, torch_trajectory
from tests.adam.test_hidden import LONG
from tests.adam.test_public import TRAJECTORIES


def _modules():
    return {name: ns["adam_step"] for name, ns in correct_modules("adam", ALTERNATIVES).items()}


def main() -> None:
    steps = {name: fn for name, fn in _modules().items()}
    # Seeds as in check_setting: the start from `seed`, the gradients from `seed + 1`.
    cases = [(f"public: {k}", v, 100, 1, 2) for k, v in TRAJECTORIES.items()]
    cases += [(f"hidden: {k}", v, 1000, 7, 8) for k, v in LONG.items()]
    for label, (dtype, shape, hp), n, seed_p, seed_g in cases:
        param0 = torch.randn(shape, generator=torch.Generator().manual_seed(seed_p),
                             dtype=torch.float64).to(dtype)
        grads = gradient_sequence(shape, n, dtype, seed=seed_g)
        expected = torch_trajectory(param0, grads, oracle="class", **hp)[0]
        t = tol(dtype, 1.0, n)
        row = []
        for name, adam_step in steps.items():
            p, m, v = param0.clone(), torch.zeros_like(param0), torch.zeros_like(param0)
            worst = 0.0
            for k, g in enumerate(grads, start=1):
                p, m, v = adam_step(p, g, m, v, k, **hp)
                e = expected[k - 1].double()
                worst = max(worst, float(((p.double() - e).abs() / (t["atol"] + t["rtol"] * e.abs())).max()))
            row.append(f"{name} {worst:.3f}")
        print(f"{label:36} {str(dtype):14} " + ", ".join(row))


if __name__ == "__main__":
    main()
