"""micrograd, hidden tests: more random graphs, central differences, operators at harder values,
bigger networks, a network called on several samples, and 150 steps of training on two moons
that must reach 95% training accuracy.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch

from grader.checks import fail
from grader.kit import F64, Tol, cases, central_differences, randn
from tests.micrograd.test_public import (
    LR,
    MOONS,
    NET,
    TOL_GRAPH,
    TOL_NET,
    backward_named,
    check_against_torch,
    check_numbers,
    check_program,
    flat_of,
    learner_training,
    moons_setup,
    notes,
    operators_named,
    random_program,
    read,
    run_program,
    scaled,
    torch_forward,
    torch_params,
    uniform_weights,
    weight_count,
    weighted_sum,
)

TOL_FD = Tol(
    1e-6,
    1e-7,
    "float64 central differences with step 1e-6: truncation ~ h**2 * |f'''| (1e-12) plus "
    "cancellation ~ 1e-16 * |f| / h (1e-10 for |f| of order 1), both well inside",
)


def _graphs(sizes) -> dict:
    """{"random, N nodes, seed S": (leaves, program)} for (about N nodes, seed, leaf count) triples."""
    out = {}
    for n, seed, n_leaves in sizes:
        leaves, program = random_program(n, seed=seed, n_leaves=n_leaves)
        out[f"random, {len(leaves) + len(program)} nodes, seed {seed}"] = (leaves, program)
    return out


MORE_GRAPHS = _graphs([(30, 11, 2), (80, 12, 3), (120, 13, 8), (199, 14, 4), (199, 15, 10), (150, 16, 1)])


@pytest.mark.parametrize("leaves, program", cases(MORE_GRAPHS))
def test_more_random_graphs(impl, leaves, program):
    """More random graphs with reuse, every node's data and grad against autograd."""
    n = len(leaves) + len(program)
    check_program(impl, leaves, program, f"a random graph of {n} nodes (autograd as reference)")


@pytest.mark.parametrize("n, seed", [(40, 21), (120, 22)])
def test_graph_against_central_differences(impl, n, seed):
    """The leaves' grads of a random graph match float64 central differences (relu inputs kept at
    least 1e-3 from 0, where the difference quotient would straddle the kink)."""
    leaves, program = random_program(n, seed=seed, n_leaves=5, kink=1e-3)
    at = torch.tensor(leaves, dtype=F64)

    def f():
        return float(run_program(list(at), program)[-1])

    (expected,) = central_differences(f, [at], h=1e-6)
    values = [impl.Value(v) for v in leaves]
    with operators_named("building the graph"):
        nodes = run_program(values, program)
    backward_named(nodes[-1], "backward()")
    names = [f"leaf {k}.grad" for k in range(len(leaves))]
    check_numbers(
        read(values, "grad", names),
        expected,
        names,
        what="the leaves' grads",
        case=f"a random graph of {n} nodes, seed {seed} (central differences as reference)",
        tol=scaled(TOL_FD, expected),
        impl=impl,
    )


HARDER = {
    "sigmoid(a) at 30": (lambda a: a.sigmoid(), [30.0]),
    "sigmoid(a) at -30": (lambda a: a.sigmoid(), [-30.0]),
    "tanh(a) at 12": (lambda a: a.tanh(), [12.0]),
    "exp(a) at -20": (lambda a: a.exp(), [-20.0]),
    "log(a) at 0.001": (lambda a: a.log(), [0.001]),
    "a ** 3, integer base": (lambda a: a**3, [-2]),
    "a ** 0.25": (lambda a: a**0.25, [81.0]),
    "relu(a) at a tiny positive, then at -0.0": (lambda a: a.relu(), [[1e-300], [-0.0]]),
    "a * a * a": (lambda a: a * a * a, [1.1]),
    "a / a": (lambda a: a / a, [0.3]),
    "(1 - a) / (2 + a) * 3": (lambda a: (1 - a) / (2 + a) * 3, [0.4]),
    "2 / (a * b) - b / 4": (lambda a, b: 2 / (a * b) - b / 4, [0.5, -1.5]),
    "-(a ** -0.5) + exp(b) * log(a)": (lambda a, b: -(a**-0.5) + b.exp() * a.log(), [2.0, 0.1]),
}


@pytest.mark.parametrize("build, leaves", cases(HARDER))
def test_operators_at_harder_values(impl, build, leaves):
    """Operators at large, tiny and integer values, and small mixed expressions, against autograd."""
    for values in leaves if isinstance(leaves[0], list) else [leaves]:
        check_against_torch(impl, build, values, "out", f"leaves {values} (PyTorch autograd, float64, as reference)")


def test_mlp_on_several_samples(impl):
    """One MLP(3, [6, 6, 6, 2]) called on three samples of floats (not Values): the gradient of a
    weighted sum of all six outputs sums over the samples, as torch's over a batch."""
    nin, nouts = 3, [6, 6, 6, 2]
    flat = uniform_weights(weight_count(nin, nouts), "deep mlp")
    x = randn((3, nin), "deep x")
    mix = randn((3, 2), "deep mix")
    tparams = torch_params(nin, nouts, flat)
    tout = torch_forward(tparams, x)
    grads = torch.autograd.grad((tout * mix).sum(), [t for p in tparams for t in p])
    expected = flat_of(list(zip(grads[::2], grads[1::2])))
    net = impl.MLP(nin, nouts, weights=list(flat))
    outs = []
    for row in x.tolist():
        out = net(row)
        if not isinstance(out, list) or len(out) != 2:
            fail(f"calling MLP(3, [6, 6, 6, 2]) should return a list of 2 Values, got {out!r:.120}.")
        outs += out
    case = "MLP(3, [6, 6, 6, 2]) on 3 samples (a torch network with the same weights as reference)"
    check_numbers(
        read(outs, "data", [f"output {k % 2} of sample {k // 2}" for k in range(6)]),
        tout.detach().reshape(-1),
        [f"output {k % 2} of sample {k // 2}" for k in range(6)],
        what="the MLP's outputs",
        case=case,
        tol=scaled(TOL_NET, tout.detach()),
        impl=impl,
    )
    with operators_named("combining the outputs"):
        total = weighted_sum(outs, mix.reshape(-1).tolist())
    backward_named(total, "backward()")
    params = net.parameters()
    names = [f"parameters()[{k}].grad" for k in range(len(flat))]
    check_numbers(
        read(params, "grad", names),
        expected,
        names,
        what="the gradients of the weights, summed over the samples",
        case=case,
        tol=scaled(TOL_NET, expected),
        impl=impl,
    )


STEPS_TO_95 = 150


def test_training_reaches_95_percent(impl):
    """150 steps of gradient descent on two moons reach at least 95% training accuracy (the sign of
    the output is the class). The reference classifies all 16 points from step 120 on (the loss is
    0.064 at step 150); 150 steps of a Python engine take about a second."""
    x, y, flat = moons_setup()
    _, losses, preds = learner_training(impl, x, y, flat, STEPS_TO_95, LR)
    outputs = read(preds, "data", [f"prediction {k}" for k in range(len(preds))])
    correct = sum((o > 0) == (t > 0) for o, t in zip(outputs, y.tolist()))
    accuracy = correct / len(outputs)
    if accuracy < 0.95:
        fail(
            f"after {STEPS_TO_95} steps of MLP{NET} on {MOONS['n']} points of two moons (lr {LR}), the training "
            f"accuracy is {accuracy:.0%} ({correct} of {len(outputs)}), below 95%; the loss went from "
            f"{losses[0]:.4g} to {losses[-1]:.4g}." + notes(impl)
        )


@pytest.mark.parametrize("start", [0.0, 1e-12, -0.5])
def test_relu_graph_near_zero(impl, start):
    """relu inside a graph at and near 0: with a = c = 0.7, a - c is exactly 0, so relu(a - c + start)
    passes no gradient at start 0 (as PyTorch) nor below, and passes it for any start > 0."""
    check_against_torch(
        impl,
        lambda a, c: (a - c + start).relu() * 2.0,
        [0.7, 0.7],
        "relu(a - c + start) * 2",
        f"a = c = 0.7, start = {start} (autograd as reference)",
        tol=TOL_GRAPH,
    )
