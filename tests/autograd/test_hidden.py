"""autograd, hidden tests: leaves' gradients against float64 central differences on small graphs,
more random graphs, a graph of about 450 nodes, and training in float32.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch
import torch.nn.functional as F

from grader import kit
from grader.kit import F32, F64, Tol, cases, central_differences, dtype_name, randn, shape_name
from tests.autograd.test_public import (
    GRAPHS,
    LEAF_SHAPES,
    LR,
    N_CLASSES,
    N_HIDDEN,
    N_IN,
    N_SAMPLES,
    compare,
    draw,
    grads_of,
    leaves,
    named_failures,
    network,
    random_program,
    run_both,
    run_program,
    scaled_tol,
    training_data,
)

H = 1e-6
TOL_FD = Tol(
    1e-6,
    1e-7,
    "float64 central differences with step 1e-6: truncation ~ h**2 * |f'''| (1e-12) plus cancellation "
    "~ 1e-16 * |f| / h (1e-10 for |f| of order 1), both well inside",
)


@pytest.mark.parametrize("fn, specs", cases({k: v for k, v in GRAPHS.items() if "relu" not in k and "max" not in k}))
def test_graph_against_central_differences(impl, fn, specs):
    """The leaves' gradients of small smooth graphs against float64 central differences of the same
    loss computed with torch (no autograd at all)."""
    gen = kit.generator(f"differences {fn.__name__}")
    inputs = [draw(spec, gen, F64) for spec in specs]
    nudged = [x.clone() for x in inputs]
    expected = central_differences(lambda: float(fn(*nudged)), nudged, h=H)
    xs = leaves(impl, inputs)
    names = [f"input {k}" for k in range(len(inputs))]
    with named_failures(impl, fn.__doc__.strip()):
        fn(*xs).backward()
        got = grads_of(xs, names)
    scale = max(kit.scale_of(e) for e in expected)
    with named_failures(impl, fn.__doc__.strip()):
        kit.check_outputs(
            got,
            expected,
            names=[f"{n}.grad" for n in names],
            of=f"the graph ({fn.__doc__.strip()})",
            case="float64 (central differences as reference)",
            tol=TOL_FD.scaled(scale),
        )


MORE = {f"random, {n} steps, seed {seed}": (n, seed) for n, seed in [(20, 11), (45, 12), (80, 13), (150, 14)]}


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("n_steps, seed", cases(MORE))
def test_more_random_graphs(impl, n_steps, seed, dtype):
    """More random graphs over broadcasting leaves (up to about 450 nodes counting the engine's
    constants and the final sums), against autograd."""
    program = random_program(n_steps, seed)
    gen = kit.generator(f"hidden program {n_steps} {seed} {dtype_name(dtype)}")
    inputs = [randn(s, gen, dtype=dtype) for s in LEAF_SHAPES]
    names = [f"leaf {k} of shape {shape_name(s)}" for k, s in enumerate(LEAF_SHAPES)]
    fn = lambda *xs: run_program(program, xs)  # noqa: E731
    got, expected = run_both(impl, fn, inputs, None, names, "the random graph")
    compare(impl, got, expected, names, "the random graph", f"{dtype_name(dtype)}, {n_steps} steps", scaled_tol(dtype))


def test_training_in_float32(impl):
    """20 steps of the public test's network in float32: the loss before every step follows torch
    (float32 rounding carried over 20 steps: rtol 1e-3)."""
    x, labels, params = training_data()
    x, params = x.float(), [p.float() for p in params]
    expected, current = [], list(params)
    for _ in range(20):
        loss, grads = kit.backward(lambda *p: F.cross_entropy(network(x, *p), labels), current)
        expected.append(loss)
        current = [p - LR * g for p, g in zip(current, grads)]
    got, current = [], list(params)
    with named_failures(impl, "training in float32"):
        xs = impl.Tensor(x.clone())
        for _ in range(20):
            ps = leaves(impl, current)
            loss = impl.cross_entropy(network(xs, *ps), labels.clone())
            loss.backward()
            got.append(loss.data)
            current = [p - LR * g for p, g in zip(current, grads_of(ps, ["w1", "b1", "w2", "b2"]))]
    with named_failures(impl, "training in float32"):
        kit.check_tensor(
            torch.stack([torch.as_tensor(v).reshape(()) for v in got]),
            torch.stack(expected),
            name="the loss before each of 20 steps",
            case=f"float32, {N_SAMPLES} samples, {N_IN} -> {N_HIDDEN} relu -> {N_CLASSES}, lr {LR}",
            rtol=1e-3,
            atol=1e-5,
        )
