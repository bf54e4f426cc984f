"""micrograd, public tests: hand-worked graphs, then PyTorch autograd in float64 on the same
computations (every operator, random graphs with reuse, a 20,000-operation chain, networks and
30 steps of training on two moons).

Run with `make test topic=micrograd`. Learner code is reached only through the `impl` fixture: the
tests build expressions with `impl.Value(...)` and operators, call `.backward()` and read `.data`
and `.grad`. Each expression is written once (a "program" of steps, or a Python function) and run
twice: on your Values and on float64 torch tensors with autograd, the oracle. When a check fails,
`diagnose` runs a few tiny hand-worked probes on your engine and names the known mistakes they show.
"""

import contextlib
import math
import random

import pytest
import torch
import torch.nn.functional as F

from grader.checks import fail
from grader.kit import EXACT, F64, Tol, cases, rand, randn
from tests.micrograd.mistakes import MISTAKE

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons. Your engine computes in Python floats (float64), as the oracle.

HAND = Tol(0.0, 1e-12, "hand-worked to 16 digits; tanh and the sums round in the last bit")
TOL_OP = Tol(1e-13, 1e-13, "float64, one operation: math and torch may round differently by an ulp or two")
TOL_GRAPH = Tol(
    1e-9,
    1e-9,
    "float64, graphs of up to 200 nodes: each operation rounds at 1.1e-16 and a gradient sums "
    "products along every path, so a correct engine that adds in another order differs by far "
    "less than 1e-12 relative to the largest gradient; every mistake is of order 1",
)
TOL_CHAIN = Tol(
    1e-9,
    0.0,
    "float64, 20,000 operations in a row: rounding grows to about 20,000 * 1.1e-16 = 2e-12 relative",
)
TOL_NET = Tol(1e-11, 1e-11, "float64, networks of a few dozen weights: sums in another order differ by ~1e-15")
TOL_TRAIN = Tol(
    1e-9,
    1e-12,
    "float64, 30 steps of gradient descent: the last-bit differences of each step (sums in another "
    "order) are carried and amplified a little by the next steps, to about 1e-12 relative",
)


# ---------------------------------------------------------------------------------------------------
# Naming mistakes: tiny probes with hand-worked values, run on the learner's engine after a failure


def _probe(fn):
    """fn(), or the exception class it raised (a diagnosis never raises)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 (a probe of broken code may raise anything)
        return type(exc)


def diagnose(impl) -> list[str]:
    """Known mistakes your engine shows on tiny probes whose values are worked out by hand."""
    V, found = impl.Value, []

    def square():  # a = 3; b = a * a: db/da = 2a = 6 (3 when the grad is assigned, not accumulated)
        a = V(3.0)
        (a * a).backward()
        return a.grad

    def double():  # b = a + a: db/da = 2 (1 when the grad is assigned)
        a = V(3.0)
        (a + a).backward()
        return a.grad

    def shared():  # a = 2; h = a + 1 = 3; y = h * h: (y.grad, h.grad, a.grad) = (1, 6, 6)
        a = V(2.0)
        h = a + 1.0
        y = h * h
        y.backward()
        return (y.grad, h.grad, a.grad)

    def power():  # a = 3: d(a**2)/da = 6 (18 is 2 * 3**2)
        a = V(3.0)
        (a**2).backward()
        return a.grad

    def tanh_grad():  # a = 0.5: 1 - tanh(0.5)**2 = 0.78645 (0.75 is 1 - 0.5**2)
        a = V(0.5)
        a.tanh().backward()
        return a.grad

    def relu_at_zero():  # relu'(0) = 0, as PyTorch
        a = V(0.0)
        a.relu().backward()
        return a.grad

    def deep():  # 3000 additions in a row: deeper than Python's recursion limit (1000)
        x = V(1.0)
        for _ in range(3000):
            x = x + 1.0
        x.backward()
        return x.data

    def one_neuron():  # MLP(2, [1]) with w = (1, -2), b = 0.5 at x = (1, -1): 1 + 2 + 0.5 = 3.5, linear
        net = impl.MLP(2, [1], weights=[1.0, -2.0, 0.5])
        return net([1.0, -1.0]).data, [p.data for p in net.parameters()]

    def sgd():  # p = 1, grad of 3p is 3; a step of 0.5: p = 1 - 1.5 = -0.5, grad back to 0
        p = V(1.0)
        (p * 3.0).backward()
        impl.sgd_step([p], 0.5)
        return (p.data, p.grad)

    def loss():  # mse([1, 2], [0, 0]) = (1 + 4) / 2 = 2.5 (5 is the sum)
        return impl.mse([V(1.0), V(2.0)], [0.0, 0.0]).data

    def reflected_missing():  # 2 + a, 1 - a, 3 * a, 2 / a need __radd__, __rsub__, __rmul__, __rtruediv__
        for f in REFLECTED:
            try:
                f(V(2.0))
            except TypeError as exc:
                if "unsupported operand" in str(exc):
                    return True
        return False

    if _probe(square) == 3.0 or _probe(double) == 1.0:
        found.append("grad-assigned")
    shown = _probe(shared)
    if shown == (1.0, 6.0, 0.0):
        found.append("forward-order")
    if shown == (1.0, 6.0, 12.0):
        found.append("double-counting")
    if shown == (0.0, 0.0, 0.0):
        found.append("no-seed")
    if _probe(deep) is RecursionError:
        found.append("recursive-topo-sort")
    if _probe(reflected_missing) is True:
        found.append("reflected-operators-missing")
    got = _probe(tanh_grad)
    if isinstance(got, float) and abs(got - 0.75) < 1e-12:
        found.append("tanh-derivative-at-input")
    if _probe(power) == 18.0:
        found.append("pow-derivative")
    if _probe(relu_at_zero) == 1.0:
        found.append("relu-grad-at-zero")
    got = _probe(one_neuron)
    if isinstance(got, tuple) and isinstance(got[0], float) and abs(got[0] - math.tanh(3.5)) < 1e-12:
        found.append("tanh-on-last-layer")
    if isinstance(got, tuple) and (got[0] == -1.5 or got[1] == [0.5, 1.0, -2.0]):
        found.append("bias-first")
    if _probe(sgd) == (-0.5, 3.0):
        found.append("sgd-no-reset")
    if _probe(loss) == 5.0:
        found.append("mse-summed")
    return found


REFLECTED = [lambda a: 2 + a, lambda a: 1 - a, lambda a: 3 * a, lambda a: 2 / a]


def notes(impl, found=()) -> str:
    """The sentences of the mistakes `found` by the test, then of those `diagnose` shows."""
    text = "".join(f"\n{MISTAKE[m].sentence()}" for m in found)
    if impl is not None:
        shown = [m for m in diagnose(impl) if m not in found]
        if shown:
            text += "\nYour engine shows, on tiny hand-worked probes:" + "".join(
                f"\n{MISTAKE[m].sentence()}" for m in shown
            )
    return text


@contextlib.contextmanager
def operators_named(what: str):
    """Turn Python's "unsupported operand type" TypeError (a reflected operator missing: `2 * v`
    calls v.__rmul__) into a failure that names the mistake."""
    try:
        yield
    except TypeError as exc:
        if "unsupported operand" not in str(exc):
            raise
        fail(f"{what}: {exc}.\n{MISTAKE['reflected-operators-missing'].sentence()}")


# ---------------------------------------------------------------------------------------------------
# Comparing numbers read from Values


def _fmt_pair(got: float, expected: float) -> tuple[str, str]:
    """Both numbers with as few digits as tell them apart (6 to 17)."""
    for digits in range(6, 18):
        g, e = f"{got:.{digits}g}", f"{expected:.{digits}g}"
        if g != e or got == expected:
            break
    return g, e


def as_float(value, name: str) -> float:
    """A learner's number (.data or .grad) as a float, or a failure saying what it is instead."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"{name} should be a float, got {type(value).__name__} ({value!r:.80}).")
    return float(value)


def read(values, attr: str, names: list[str]) -> list[float]:
    """[v.data for v in values] (or .grad), each checked to be a number."""
    out = []
    for v, name in zip(values, names):
        if not hasattr(v, attr):
            fail(f"{name}: expected a Value with a `{attr}` attribute, got {type(v).__name__} ({v!r:.80}).")
        out.append(as_float(getattr(v, attr), f"{name}.{attr}"))
    return out


def check_numbers(got, expected, names, *, what: str, case: str, tol: Tol, impl=None, found=()) -> None:
    """Fail unless every number of `got` is within `tol` of `expected` (|got - expected| <= atol +
    rtol * |expected|), naming the worst one, then the known mistakes it looks like."""
    got_t = torch.tensor([float(g) for g in got], dtype=F64)
    want = torch.as_tensor(expected, dtype=F64).reshape(-1)
    if bool(torch.isclose(got_t, want, rtol=tol.rtol, atol=tol.atol).all()):
        return
    excess = ((got_t - want).abs() - (tol.atol + tol.rtol * want.abs())).nan_to_num(nan=math.inf)
    k = int(torch.argmax(excess))
    g, e = _fmt_pair(float(got_t[k]), float(want[k]))
    bad = int((excess > 0).sum())
    fail(
        f"{what}, for {case}: {bad} of {len(want)} values are wrong beyond the tolerance "
        f"(|got - expected| <= {tol.atol:g} + {tol.rtol:g} * |expected|). Worst: {names[k]}: got {g}, "
        f"expected {e}, error {abs(float(got_t[k]) - float(want[k])):.3g}." + notes(impl, found)
    )


def scaled(tol: Tol, expected) -> Tol:
    """`tol` with its atol relative to the largest |expected| value."""
    return tol.scaled(float(torch.as_tensor(expected, dtype=F64).abs().max()))


def backward_named(out, what: str) -> None:
    """out.backward(), naming a recursive topological sort that hits the recursion limit."""
    try:
        out.backward()
    except RecursionError:
        fail(
            f"{what}: backward() raised RecursionError (maximum recursion depth exceeded).\n"
            + MISTAKE["recursive-topo-sort"].sentence()
        )


# ---------------------------------------------------------------------------------------------------
# Hand-worked graphs


def test_expression_by_hand(impl):
    """The classic: d = a * b + c with a = 2, b = -3, c = 10."""
    # d = 2 * -3 + 10 = 4
    # dd/da = b = -3, dd/db = a = 2, dd/dc = 1, dd/dd = 1 (the seed), and e = a * b gets dd/de = 1.
    a, b, c = impl.Value(2.0), impl.Value(-3.0), impl.Value(10.0)
    e = a * b
    d = e + c
    d.backward()
    names = ["d", "a", "b", "c", "e = a * b"]
    got = read([d], "data", ["d"]) + read([d, a, b, c, e], "grad", names)
    check_numbers(
        got,
        [4.0, 1.0, -3.0, 2.0, 1.0, 1.0],
        ["d.data", *[f"{n}.grad" for n in names]],
        what="d = a * b + c",
        case="a = 2, b = -3, c = 10 (by hand, exact)",
        tol=EXACT,
        impl=impl,
    )


def test_neuron_by_hand(impl):
    """A neuron by hand: o = tanh(x1 * w1 + x2 * w2 + b), the bias chosen so that o = 1 / sqrt(2)."""
    # n = 2 * -3 + 0 * 1 + 6.8813735870195432 = 0.8813735870195432 = atanh(1 / sqrt(2))
    # o = tanh(n) = 0.7071067811865476, and do/dn = 1 - o**2 = 0.5, so
    # x1.grad = w1 * 0.5 = -1.5, w1.grad = x1 * 0.5 = 1, x2.grad = w2 * 0.5 = 0.5, w2.grad = x2 * 0.5 = 0,
    # b.grad = n.grad = 0.5.
    x1, x2 = impl.Value(2.0), impl.Value(0.0)
    w1, w2 = impl.Value(-3.0), impl.Value(1.0)
    b = impl.Value(6.8813735870195432)
    n = x1 * w1 + x2 * w2 + b
    o = n.tanh()
    o.backward()
    names = ["x1", "w1", "x2", "w2", "b", "n"]
    got = read([n, o], "data", ["n", "o"]) + read([x1, w1, x2, w2, b, n], "grad", names)
    check_numbers(
        got,
        [0.8813735870195432, 0.7071067811865476, -1.5, 1.0, 0.5, 0.0, 0.5, 0.5],
        ["n.data", "o.data", *[f"{k}.grad" for k in names]],
        what="o = tanh(x1 * w1 + x2 * w2 + b)",
        case="x1 = 2, x2 = 0, w1 = -3, w2 = 1, b = 6.8813735870195432 (by hand)",
        tol=HAND,
        impl=impl,
    )


# Each: (build the output from the leaves, leaf values, hand-worked (out.data, grads of the leaves)).
REUSE = {
    "b = a + a": (lambda a: a + a, [3.0], (6.0, [2.0])),
    "b = a * a": (lambda a: a * a, [3.0], (9.0, [6.0])),
    "h = a + 1, y = h * h": (lambda a: (a + 1.0) * (a + 1.0), [2.0], (9.0, [6.0])),
    "h = a * 3, y = h + h * a": (lambda a: (lambda h: h + h * a)(a * 3.0), [2.0], (18.0, [15.0])),
    "y = a * b + a / b - a": (lambda a, b: a * b + a / b - a, [2.0, 4.0], (6.5, [3.25, 1.875])),
}
# h + h * a with h = 3a: y = 3a + 3a**2 = 6 + 12 = 18, dy/da = 3 + 6a = 15 (h is reached twice).
# a * b + a / b - a at a = 2, b = 4: 8 + 0.5 - 2 = 6.5; dy/da = b + 1/b - 1 = 3.25,
# dy/db = a - a / b**2 = 2 - 0.125 = 1.875.


@pytest.mark.parametrize("build, leaves, expected", cases(REUSE))
def test_reuse_by_hand(impl, build, leaves, expected):
    """A node used more than once receives the sum of its contributions (worked by hand)."""
    values = [impl.Value(v) for v in leaves]
    with operators_named("building the expression"):
        out = build(*values)
    backward_named(out, "backward()")
    names = ["a", "b"][: len(values)]
    got = read([out], "data", ["out"]) + read(values, "grad", names)
    check_numbers(
        got,
        [expected[0], *expected[1]],
        ["out.data", *[f"{n}.grad" for n in names]],
        what="the output and the leaves' grads",
        case=f"leaves {leaves} (by hand, exact)",
        tol=EXACT,
        impl=impl,
    )


# ---------------------------------------------------------------------------------------------------
# The oracle: the same computation on float64 torch tensors, with autograd


def torch_leaves(values):
    return [torch.tensor(float(v), dtype=F64, requires_grad=True) for v in values]


def oracle(build, leaves):
    """(output, grads of the leaves) of build(*leaves) by PyTorch autograd in float64."""
    ts = torch_leaves(leaves)
    out = build(*ts)
    grads = torch.autograd.grad(out, ts, allow_unused=True)
    return float(out.detach()), [0.0 if g is None else float(g) for g in grads]


def check_against_torch(impl, build, leaves, what: str, case: str, tol: Tol = TOL_OP) -> None:
    """build(*Values) against build(*torch tensors): the output's data and the leaves' grads."""
    expected_out, expected_grads = oracle(build, leaves)
    values = [impl.Value(v) for v in leaves]
    with operators_named(what):
        out = build(*values)
    backward_named(out, what)
    names = ["a", "b"][: len(values)]
    got = read([out], "data", [what]) + read([out, *values], "grad", [what, *names])
    expected = [expected_out, 1.0, *expected_grads]
    check_numbers(
        got,
        expected,
        [f"({what}).data", f"({what}).grad (backward() starts from 1)", *[f"{n}.grad" for n in names]],
        what=what,
        case=case,
        tol=scaled(tol, expected),
        impl=impl,
    )


# Every operator and method alone, with Values and plain numbers on either side.
# (build, leaf values, or a list of them checked one after the other); the same lambda runs on
# Values and on torch tensors.
OPERATORS = {
    "a + b": (lambda a, b: a + b, [1.5, -0.25]),
    "a + 2.5 (number on the right)": (lambda a: a + 2.5, [1.5]),
    "2.5 + a (number on the left)": (lambda a: 2.5 + a, [1.5]),
    "a - b": (lambda a, b: a - b, [1.5, -0.25]),
    "b - a": (lambda a, b: b - a, [1.5, -0.25]),
    "a - 2": (lambda a: a - 2, [0.75]),
    "1 - a": (lambda a: 1 - a, [0.75]),
    "a * b": (lambda a, b: a * b, [1.5, -0.25]),
    "a * -3": (lambda a: a * -3, [1.25]),
    "3 * a": (lambda a: 3 * a, [1.25]),
    "a / b": (lambda a, b: a / b, [1.5, -0.4]),
    "b / a": (lambda a, b: b / a, [1.5, -0.4]),
    "a / 4": (lambda a: a / 4, [0.7]),
    "2 / a": (lambda a: 2 / a, [0.7]),
    "-a": (lambda a: -a, [0.7]),
    "a ** 2": (lambda a: a**2, [-1.3]),
    "a ** 3, negative base": (lambda a: a**3, [-1.3]),
    "a ** 0": (lambda a: a**0, [1.7]),
    "a ** -1": (lambda a: a**-1, [1.7]),
    "a ** -2, negative base": (lambda a: a**-2, [-0.8]),
    "a ** 0.5": (lambda a: a**0.5, [2.3]),
    "a ** -1.5": (lambda a: a**-1.5, [0.6]),
    "a ** 2.7": (lambda a: a**2.7, [1.9]),
    "tanh(a)": (lambda a: a.tanh(), [0.8]),
    "tanh(a), negative": (lambda a: a.tanh(), [-2.1]),
    "relu(a) at 1.3, then at -0.7": (lambda a: a.relu(), [[1.3], [-0.7]]),
    "relu(a) at exactly 0": (lambda a: a.relu(), [0.0]),
    "sigmoid(a)": (lambda a: a.sigmoid(), [0.6]),
    "sigmoid(a), negative": (lambda a: a.sigmoid(), [-3.2]),
    "exp(a)": (lambda a: a.exp(), [-0.9]),
    "exp(a), larger": (lambda a: a.exp(), [2.2]),
    "log(a)": (lambda a: a.log(), [0.35]),
    "log(a), larger": (lambda a: a.log(), [7.5]),
}


@pytest.mark.parametrize("build, leaves", cases(OPERATORS))
def test_operator_against_torch(impl, build, leaves):
    """Each operator and method alone: its output's data and its inputs' grads match autograd."""
    for values in leaves if isinstance(leaves[0], list) else [leaves]:
        check_against_torch(impl, build, values, "out", f"leaves {values} (PyTorch autograd, float64, as reference)")


# ---------------------------------------------------------------------------------------------------
# Expression graphs as programs: a list of steps run the same way on Values and on torch tensors

# A step is (op, i, j): node i op node j, or node i op a number j, or a number i op node j.
STEP = {
    "+": lambda x, y: x + y,
    "-": lambda x, y: x - y,
    "*": lambda x, y: x * y,
    "/": lambda x, y: x / y,
    "**": lambda x, k: x**k,
    "neg": lambda x, _: -x,
    "tanh": lambda x, _: x.tanh(),
    "relu": lambda x, _: x.relu(),
    "sigmoid": lambda x, _: x.sigmoid(),
    "exp": lambda x, _: x.exp(),
    "log": lambda x, _: x.log(),
}
# Steps whose left operand is a number (`2 + node`): the reflected operators.
NUMBER_LEFT = {"c+": "+", "c-": "-", "c*": "*", "c/": "/"}
# Steps whose right operand is a number (`node + 2`).
NUMBER_RIGHT = {"+c": "+", "-c": "-", "*c": "*", "/c": "/", "**": "**"}


def run_step(nodes, op, i, j):
    """The node that step (op, i, j) makes from `nodes` (Values or torch tensors)."""
    if op in NUMBER_LEFT:
        return STEP[NUMBER_LEFT[op]](i, nodes[j])
    if op in NUMBER_RIGHT:
        return STEP[NUMBER_RIGHT[op]](nodes[i], j)
    return STEP[op](nodes[i], None if j is None else nodes[j])


def run_program(leaves, program):
    nodes = list(leaves)
    for op, i, j in program:
        nodes.append(run_step(nodes, op, i, j))
    return nodes


def step_text(k: int, op: str, i, j) -> str:
    """ "node 12 = node 3 * node 7": a step in words."""
    if op in NUMBER_LEFT:
        body = f"{i:g} {NUMBER_LEFT[op]} node {j}"
    elif op in NUMBER_RIGHT:
        body = f"node {i} {NUMBER_RIGHT[op]} {j:g}"
    elif op == "neg":
        body = f"-node {i}"
    elif j is None:
        body = f"{op}(node {i})"
    else:
        body = f"node {i} {op} node {j}"
    return f"node {k} = {body}"


def operands(op: str, i, j) -> list[int]:
    """The node numbers step (op, i, j) reads."""
    if op in NUMBER_LEFT:
        return [j]
    if op in NUMBER_RIGHT or j is None:
        return [i]
    return [i, j]


def describe_node(k: int, n_leaves: int, program) -> str:
    """How node k is made and which nodes use it."""
    made = f"node {k} (a leaf)" if k < n_leaves else step_text(k, *program[k - n_leaves])
    users = [n_leaves + s for s, step in enumerate(program) if k in operands(*step)]
    used = ", ".join(step_text(u, *program[u - n_leaves]) for u in users[:4])
    more = f" and {len(users) - 4} more" if len(users) > 4 else ""
    return f"{made}; used by {used}{more}" if users else made


def torch_graph(leaves, program):
    """(data of every node, grad of the last node with respect to every node) by autograd."""
    ts = torch_leaves(leaves)
    nodes = run_program(ts, program)
    for n in nodes[len(ts) :]:
        n.retain_grad()
    nodes[-1].backward()
    grads = [0.0 if n.grad is None else float(n.grad) for n in nodes]
    return [float(n.detach()) for n in nodes], grads


def check_program(impl, leaves, program, case: str, tol: Tol = TOL_GRAPH) -> None:
    """The program on Values against the same program on torch tensors: every node's data, then
    every node's grad (d last node / d node) after backward() on the last node."""
    data, grads = torch_graph(leaves, program)
    values = [impl.Value(v) for v in leaves]
    with operators_named(f"building the graph ({case})"):
        nodes = run_program(values, program)
    backward_named(nodes[-1], f"backward() on the graph's output ({case})")
    names = [describe_node(k, len(leaves), program) for k in range(len(nodes))]
    check_numbers(
        read(nodes, "data", names),
        data,
        names,
        what="the nodes' data",
        case=case,
        tol=scaled(tol, data),
        impl=impl,
    )
    check_numbers(
        read(nodes, "grad", names),
        grads,
        names,
        what="the nodes' grads after backward() on the last node",
        case=case,
        tol=scaled(tol, grads),
        impl=impl,
    )


def random_program(n_nodes: int, seed: int, n_leaves: int = 4, kink: float = 0.0):
    """(leaf values, program) of a random graph of `n_nodes` nodes in all (or one more), leaves included.

    Operands are drawn from the last few nodes (depth) or from any node (reuse: diamonds, nodes
    used many times, a node as both operands); a hub node is picked far more often. Steps are kept
    only where they are defined and tame (log and fractional powers of values > 0.1, divisions by
    values away from 0, exp below 2.5, |values| < 20), judged on torch's values. The nodes that no
    step uses are added up at the end, so that every node reaches the output. `kink` > 0 keeps
    relu's input at least that far from 0 (for central differences).
    """
    rng = random.Random(seed)
    leaves = [round(rng.uniform(-2, 2), 3) for _ in range(n_leaves)]
    values = [torch.tensor(v, dtype=F64) for v in leaves]
    program, used = [], set()
    hub = rng.randrange(n_leaves)
    ops = ["+", "-", "*", "/", "+c", "c+", "-c", "c-", "*c", "c*", "/c", "c/", "**", "neg"]
    ops += ["tanh", "relu", "sigmoid", "exp", "log"]
    # The graph ends with one addition per unused node but one: stop when that makes n_nodes (or one more).
    while len(values) + max(len(values) - len(used) - 1, 0) < n_nodes:

        def pick():
            r = rng.random()
            if r < 0.25:
                return hub
            if r < 0.7:
                return rng.randrange(max(0, len(values) - 6), len(values))
            return rng.randrange(len(values))

        op, i, j = rng.choice(ops), pick(), None
        x = float(values[i])
        if op in ("+", "-", "*", "/"):
            j = pick() if rng.random() < 0.9 else i
            if op == "/" and abs(float(values[j])) < 0.3:
                continue
        elif op in NUMBER_RIGHT:
            j = rng.choice([2.0, 2, 3, -1, 0.5, -1.5, 2.7]) if op == "**" else round(rng.uniform(-3, 3), 2)
            if op == "**" and not isinstance(j, int) and x < 0.1:
                continue
            if op == "**" and j < 0 and abs(x) < 0.3 or op == "/c" and abs(j) < 0.3:
                continue
        elif op in NUMBER_LEFT:
            i, j = round(rng.uniform(-3, 3), 2), i
            if op == "c/" and abs(x) < 0.3:
                continue
        elif op == "log" and x < 0.1 or op == "exp" and x > 2.5 or op == "relu" and abs(x) < kink:
            continue
        new = run_step(values, op, i, j)
        if not math.isfinite(float(new)) or abs(float(new)) > 20:
            continue
        program.append((op, i, j))
        values.append(new)
        used.update(operands(op, i, j))
    sinks = [k for k in range(len(values)) if k not in used]
    total = sinks[0]
    for k in sinks[1:]:
        program.append(("+", total, k))
        total = n_leaves + len(program) - 1
    return leaves, program


def diamonds(levels: int):
    """x; then `levels` times: p = tanh(x), q = x * 1.1, x = p + q: 2**levels paths to the leaf."""
    program, x = [], 0
    for _ in range(levels):
        base = 1 + len(program)
        program += [("tanh", x, None), ("*c", x, 1.1), ("+", base, base + 1)]
        x = base + 2
    return [0.3], program


def used_fifty_times():
    """h = tanh(a); out = the sum over 50 numbers c of h * c: h is an operand 50 times."""
    program, total = [("tanh", 0, None)], None  # node 1 = h (one leaf: step s makes node s + 1)
    for k in range(50):
        program.append(("*c", 1, round(0.1 * (k - 25), 2)))
        term = len(program)
        if total is None:
            total = term
        else:
            program.append(("+", total, term))
            total = len(program)
    return [0.45], program


BOTH_OPERANDS = (
    [1.7, -0.6],
    [
        ("*", 0, 0),  # 2: a * a
        ("+", 0, 0),  # 3: a + a
        ("/", 1, 1),  # 4: b / b
        ("-", 1, 1),  # 5: b - b
        ("*", 2, 2),  # 6: (a * a) * (a * a)
        ("+", 3, 3),  # 7: (a + a) + (a + a)
        ("*", 4, 5),  # 8
        ("+", 6, 7),  # 9
        ("+", 9, 8),  # 10
        ("+", 10, 4),  # 11: the output
    ],
)
DIAMOND = ([1.5], [("*c", 0, 2.0), ("+c", 0, 3.0), ("*", 1, 2)])  # (2a) * (a + 3)

GRAPHS = {
    "a diamond: (2a) * (a + 3)": DIAMOND,
    "a node as both operands": BOTH_OPERANDS,
    "one node used 50 times": used_fifty_times(),
    "12 stacked diamonds (4096 paths)": diamonds(12),
    "random, 20 nodes": random_program(20, seed=1),
    "random, 60 nodes": random_program(60, seed=2, n_leaves=5),
    "random, 199 nodes": random_program(199, seed=3, n_leaves=6),
}


@pytest.mark.parametrize("leaves, program", cases(GRAPHS))
def test_graph_against_torch(impl, leaves, program):
    """Graphs with reuse: every node's data and grad match autograd on the same graph."""
    check_program(impl, leaves, program, f"a graph of {len(leaves) + len(program)} nodes (autograd as reference)")


# ---------------------------------------------------------------------------------------------------
# Deeper than the recursion limit

CHAIN = [
    lambda x, c: x * 1.001,
    lambda x, c: x + c,
    lambda x, c: x.tanh(),
    lambda x, c: 0.999 * x,
    lambda x, c: x - 0.0002,
]


def chain(x, c, length: int = 20_000):
    """`length` operations in a row, cycling through *1.001, +c, tanh, 0.999*, -0.0002 (c is used
    length / 5 times)."""
    for k in range(length):
        x = CHAIN[k % 5](x, c)
    return x


def test_chain_of_20000_operations(impl):
    """backward() through 20,000 operations in a row (far deeper than Python's recursion limit)."""
    x0, c0 = -0.4, 0.0003
    tx, tc = torch_leaves([x0, c0])
    ty = chain(tx, tc)
    gx, gc = torch.autograd.grad(ty, [tx, tc])
    expected = [float(ty.detach()), float(gx), float(gc)]
    x, c = impl.Value(x0), impl.Value(c0)
    with operators_named("building the chain"):
        y = chain(x, c)
    backward_named(y, "backward() on a chain of 20,000 operations")
    check_numbers(
        read([y], "data", ["y"]) + read([x, c], "grad", ["x", "c"]),
        expected,
        ["y.data (the end of the chain)", "x.grad (its start)", "c.grad (c is added 4000 times)"],
        what="a chain of 20,000 operations",
        case="x = -0.4, c = 0.0003 (autograd as reference)",
        tol=TOL_CHAIN,
        impl=impl,
    )


# ---------------------------------------------------------------------------------------------------
# Neurons, layers, networks: torch networks with the same weights


def layer_sizes(nin: int, nouts) -> list[tuple[int, int]]:
    sizes = [nin, *nouts]
    return list(zip(sizes[:-1], sizes[1:]))


def weight_count(nin: int, nouts) -> int:
    return sum((i + 1) * o for i, o in layer_sizes(nin, nouts))


def torch_params(nin: int, nouts, flat):
    """[(W, b)] leaves of each layer from the flat list (neuron by neuron: its weights, its bias)."""
    out, start = [], 0
    for i, o in layer_sizes(nin, nouts):
        block = torch.tensor(flat[start : start + (i + 1) * o], dtype=F64).reshape(o, i + 1)
        out.append((block[:, :i].clone().requires_grad_(True), block[:, i].clone().requires_grad_(True)))
        start += (i + 1) * o
    return out


def torch_forward(params, x, last_tanh: bool = False):
    """The network on a batch x of shape (B, nin): tanh on hidden layers, the last one linear."""
    h = x
    for k, (w, b) in enumerate(params):
        h = F.linear(h, w, b)
        if k < len(params) - 1 or last_tanh:
            h = torch.tanh(h)
    return h


def flat_of(pairs) -> torch.Tensor:
    """Weights (or their gradients) of every layer in parameters() order."""
    return torch.cat([torch.cat([w, b[:, None]], dim=1).reshape(-1) for w, b in pairs])


def uniform_weights(count: int, seed) -> list[float]:
    return rand((count,), seed, low=-1.0, high=1.0).tolist()


def check_outputs_kind(out, nout: int, what: str):
    """A Value when the last layer has one output, a list of `nout` Values otherwise; returns a list."""
    if nout == 1:
        if isinstance(out, (list, tuple)):
            fail(f"{what} should return a Value when the last layer has one output, got a {type(out).__name__}.")
        return [out]
    if not isinstance(out, list) or len(out) != nout:
        size = f" of length {len(out)}" if isinstance(out, (list, tuple)) else ""
        fail(f"{what} should return a list of {nout} Values, got {type(out).__name__}{size}.")
    return out


def weighted_sum(outs, ws):
    """outs[0] * ws[0] + outs[1] * ws[1] + ... (a scalar to call backward() on)."""
    total = outs[0] * ws[0]
    for o, w in zip(outs[1:], ws[1:]):
        total = total + o * w
    return total


def check_network_params(params, flat, what: str, case: str, impl) -> None:
    """parameters() holds one Value per weight, whose data are the given weights in order."""
    if not isinstance(params, list) or len(params) != len(flat):
        size = f" of length {len(params)}" if isinstance(params, (list, tuple)) else ""
        fail(
            f"{what}.parameters() should be a list of {len(flat)} Values (every weight, then bias, neuron by "
            f"neuron, layer by layer), got {type(params).__name__}{size}." + notes(impl)
        )
    check_numbers(
        read(params, "data", [f"parameters()[{k}]" for k in range(len(flat))]),
        flat,
        [f"parameters()[{k}].data" for k in range(len(flat))],
        what=f"the data of {what}.parameters(), which must be the weights given, in order",
        case=case,
        tol=EXACT,
        impl=impl,
    )


NETWORKS = {
    "2 -> 3 -> 1": (2, [3, 1]),
    "3 -> 4 -> 4 -> 1": (3, [4, 4, 1]),
    "4 -> 5 -> 2 (two outputs)": (4, [5, 2]),
    "3 -> 1 (one linear neuron)": (3, [1]),
    "2 -> 3 (one linear layer, three outputs)": (2, [3]),
}


@pytest.mark.parametrize("nin, nouts", cases(NETWORKS))
def test_mlp_against_torch(impl, nin, nouts):
    """MLP(nin, nouts, weights=flat): its parameters, its output and every gradient (the weights'
    and the inputs') match a torch network with the same weights."""
    case = f"MLP({nin}, {nouts}) (a torch network with the same weights as reference)"
    flat = uniform_weights(weight_count(nin, nouts), f"mlp {nin} {nouts}")
    x = randn((nin,), f"x {nin} {nouts}").tolist()
    mix = randn((nouts[-1],), f"mix {nin} {nouts}").tolist()
    tparams = torch_params(nin, nouts, flat)
    tx = torch.tensor(x, dtype=F64, requires_grad=True)
    tout = torch_forward(tparams, tx[None])[0]
    grads = torch.autograd.grad((tout * torch.tensor(mix, dtype=F64)).sum(), [tx, *[t for p in tparams for t in p]])
    gx, gparams = grads[0], flat_of(list(zip(grads[1::2], grads[2::2])))

    net = impl.MLP(nin, nouts, weights=list(flat))
    params = net.parameters()
    check_network_params(params, flat, "the MLP", case, impl)
    xs = [impl.Value(v) for v in x]
    outs = check_outputs_kind(net(xs), nouts[-1], "calling the MLP")
    check_numbers(
        read(outs, "data", [f"output {k}" for k in range(len(outs))]),
        tout.detach(),
        [f"output {k}" for k in range(len(outs))],
        what="the MLP's output",
        case=case,
        tol=scaled(TOL_NET, tout.detach()),
        impl=impl,
        found=["tanh-on-last-layer"] if _matches(outs, torch.tanh(tout.detach())) else (),
    )
    with operators_named("combining the outputs"):
        total = weighted_sum(outs, mix)
    backward_named(total, "backward() on the network's output")
    names = [f"parameters()[{k}].grad" for k in range(len(flat))] + [f"x[{k}].grad (an input)" for k in range(nin)]
    expected = torch.cat([gparams, gx])
    check_numbers(
        read(params, "grad", names[: len(flat)]) + read(xs, "grad", names[len(flat) :]),
        expected,
        names,
        what="the gradients of the MLP's weights and inputs",
        case=case,
        tol=scaled(TOL_NET, expected),
        impl=impl,
    )


def _matches(values, expected: torch.Tensor) -> bool:
    """Whether the learner's Values hold `expected` (to TOL_NET); False if they cannot be read."""
    try:
        got = torch.tensor([float(v.data) for v in values], dtype=F64)
    except (AttributeError, TypeError, ValueError):
        return False
    return bool(torch.allclose(got, expected, rtol=TOL_NET.rtol, atol=TOL_NET.atol))


UNITS = {
    "Neuron(3), tanh": ("neuron", 3, 1, True),
    "Neuron(3, nonlin=False), linear": ("neuron", 3, 1, False),
    "Layer(3, 2), tanh": ("layer", 3, 2, True),
    "Layer(3, 1): still a list": ("layer", 3, 1, True),
    "Layer(2, 3, nonlin=False), linear": ("layer", 2, 3, False),
}


@pytest.mark.parametrize("kind, nin, nout, nonlin", cases(UNITS))
def test_neuron_and_layer(impl, kind, nin, nout, nonlin):
    """A Neuron and a Layer with their own random weights (read back through parameters(): each
    neuron's weights, then its bias), against torch with those weights."""
    unit = impl.Neuron(nin, nonlin=nonlin) if kind == "neuron" else impl.Layer(nin, nout, nonlin=nonlin)
    what = f"{'Neuron' if kind == 'neuron' else 'Layer'}({nin}{', ' + str(nout) if kind == 'layer' else ''})"
    params = unit.parameters()
    count = nout * (nin + 1)
    if not isinstance(params, list) or len(params) != count:
        fail(f"{what}.parameters() should be a list of {count} Values, got {params!r:.120}." + notes(impl))
    flat = read(params, "data", [f"parameters()[{k}]" for k in range(count)])
    if not all(-1.0 <= w <= 1.0 for w in flat) or len(set(flat)) < count:
        fail(f"{what}: weights and bias should be drawn from uniform(-1, 1), got {flat}.")
    x = randn((nin,), f"{kind} {nin} {nout}").tolist()
    tparams = torch_params(nin, [nout], flat)
    tx = torch.tensor(x, dtype=F64, requires_grad=True)
    tout = torch_forward(tparams, tx[None], last_tanh=nonlin)[0]
    grads = torch.autograd.grad(tout.sum(), [tx, *tparams[0]])
    xs = [impl.Value(v) for v in x]
    out = unit(xs)
    if kind == "layer":
        if not isinstance(out, list) or len(out) != nout:
            fail(f"calling {what} should return a list of {nout} Values (a list even for one), got {out!r:.120}.")
        outs = out
    else:
        outs = [out]
    case = f"{what} with the weights it drew, x = {[round(v, 4) for v in x]} (torch as reference)"
    check_numbers(
        read(outs, "data", [f"output {k}" for k in range(nout)]),
        tout.detach(),
        [f"output {k}" for k in range(nout)],
        what=f"the output of {what}",
        case=case,
        tol=scaled(TOL_NET, tout.detach()),
        impl=impl,
    )
    with operators_named("adding the outputs"):
        total = outs[0]
        for o in outs[1:]:
            total = total + o
    backward_named(total, "backward()")
    expected = torch.cat([flat_of([(grads[1], grads[2])]), grads[0]])
    names = [f"parameters()[{k}].grad" for k in range(count)] + [f"x[{k}].grad" for k in range(nin)]
    check_numbers(
        read(params, "grad", names[:count]) + read(xs, "grad", names[count:]),
        expected,
        names,
        what=f"the gradients of {what}'s parameters and inputs (backward() on the sum of its outputs)",
        case=case,
        tol=scaled(TOL_NET, expected),
        impl=impl,
    )


def test_mlp_weights(impl):
    """MLP(..., weights=): a wrong length is a ValueError; given weights draw no random numbers;
    weights=None draws every parameter from uniform(-1, 1)."""
    nin, nouts = 2, [3, 1]  # (2 + 1) * 3 + (3 + 1) * 1 = 13 weights
    flat = uniform_weights(13, "weights")
    for wrong in (flat[:-1], flat + [0.5]):
        try:
            impl.MLP(nin, nouts, weights=wrong)
        except ValueError:
            continue
        fail(f"MLP(2, [3, 1], weights=<{len(wrong)} floats>) should raise ValueError: it needs 13 weights.")
    state = random.getstate()
    net = impl.MLP(nin, nouts, weights=flat)
    if random.getstate() != state:
        fail("MLP(2, [3, 1], weights=...) drew random numbers; with weights given, nothing is drawn.")
    check_network_params(net.parameters(), flat, "MLP(2, [3, 1], weights=...)", "13 given weights", impl)
    random.seed(20240)
    drawn = [read(impl.MLP(nin, nouts).parameters(), "data", [f"parameters()[{k}]" for k in range(13)]) for _ in "ab"]
    for values in drawn:
        if len(values) != 13 or not all(-1.0 <= v <= 1.0 for v in values) or len(set(values)) < 13:
            fail(f"MLP(2, [3, 1]) should draw its 13 parameters from uniform(-1, 1), got {values}.")
    if drawn[0] == drawn[1]:
        fail("two MLP(2, [3, 1]) drew the same weights: draw them from Python's random module.")


# ---------------------------------------------------------------------------------------------------
# mse and sgd_step

LOSSES = {
    "one prediction": ([0.7], [-0.2]),
    "five predictions": ([0.5, -1.25, 2.0, 0.0, 3.5], [1.0, -1.0, -1.0, 0.25, 3.0]),
    "seven predictions, random": (randn((7,), "mse p").tolist(), randn((7,), "mse t").tolist()),
}


@pytest.mark.parametrize("preds, targets", cases(LOSSES))
def test_mse_against_torch(impl, preds, targets):
    """mse(preds, targets): the mean of the squared differences and its gradients, as F.mse_loss."""
    tp = torch.tensor(preds, dtype=F64, requires_grad=True)
    tloss = F.mse_loss(tp, torch.tensor(targets, dtype=F64))
    (gp,) = torch.autograd.grad(tloss, [tp])
    ps = [impl.Value(v) for v in preds]
    loss = impl.mse(ps, list(targets))
    if not hasattr(loss, "data"):
        fail(f"mse should return a Value, got {type(loss).__name__} ({loss!r:.80}).")
    value = as_float(loss.data, "mse(...).data")
    n = len(preds)
    summed = n > 1 and math.isclose(value, n * float(tloss.detach()), rel_tol=1e-12)
    case = f"preds {[round(p, 4) for p in preds]}, targets {[round(t, 4) for t in targets]} (F.mse_loss as reference)"
    check_numbers(
        [value],
        [float(tloss.detach())],
        ["the loss"],
        what="mse(preds, targets).data",
        case=case,
        tol=TOL_OP,
        impl=impl,
        found=["mse-summed"] if summed else (),
    )
    backward_named(loss, "backward() on the loss")
    names = [f"preds[{k}].grad" for k in range(n)]
    check_numbers(
        read(ps, "grad", names), gp, names, what="the gradients of the loss", case=case, tol=TOL_OP, impl=impl
    )


def test_sgd_step(impl):
    """sgd_step(params, lr): each p.data -= lr * p.grad, then every grad is reset to 0.0."""
    start = [0.5, -1.5, 2.0, 0.25]
    lr = 0.1

    def loss_of(p):  # (p0 * p1 + 1)**2 + tanh(p2) * p3 + p0 / p2: every parameter gets its own gradient
        return (p[0] * p[1] + 1) ** 2 + p[2].tanh() * p[3] + p[0] / p[2]

    tp = torch_leaves(start)
    grads = torch.autograd.grad(loss_of(tp), tp)
    expected = [s - lr * float(g) for s, g in zip(start, grads)]
    params = [impl.Value(v) for v in start]
    with operators_named("building the loss"):
        loss = loss_of(params)
    backward_named(loss, "backward() on the loss")
    before = read(params, "grad", [f"params[{k}]" for k in range(4)])
    impl.sgd_step(params, lr)
    case = f"params {start}, lr {lr}, grads from autograd"
    check_numbers(
        read(params, "data", [f"params[{k}]" for k in range(4)]),
        expected,
        [f"params[{k}].data" for k in range(4)],
        what="the parameters after sgd_step",
        case=case,
        tol=TOL_OP,
        impl=impl,
    )
    after = read(params, "grad", [f"params[{k}]" for k in range(4)])
    check_numbers(
        after,
        [0.0] * 4,
        [f"params[{k}].grad" for k in range(4)],
        what="the grads after sgd_step (reset to 0.0 for the next backward())",
        case=case,
        tol=EXACT,
        impl=impl,
        found=["sgd-no-reset"] if after == before and any(before) else (),
    )


# ---------------------------------------------------------------------------------------------------
# Training on two moons


def two_moons(n: int, noise: float, seed: int):
    """n points on two interleaved half circles (labels +1 and -1) with Gaussian noise: the data
    set of scikit-learn's make_moons, generated here (nothing downloaded)."""
    half = n // 2
    t = torch.linspace(0, math.pi, half, dtype=F64)
    outer = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    inner = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    x = torch.cat([outer, inner]) + randn((2 * half, 2), seed, scale=noise)
    y = torch.cat([torch.ones(half, dtype=F64), -torch.ones(half, dtype=F64)])
    return x, y


MOONS = dict(n=16, noise=0.1, seed=0)
NET = (2, [4, 1])  # 2 inputs, 4 tanh units, 1 linear output: 17 weights
LR = 0.3


def moons_setup():
    x, y = two_moons(**MOONS)
    flat = uniform_weights(weight_count(*NET), "moons weights")
    return x, y, flat


def torch_training(x, y, flat, steps: int, lr: float):
    """(the loss before each step, the weights after the last) of full-batch gradient descent on
    the mean squared error, by autograd."""
    params, losses = torch_params(*NET, flat), []
    for _ in range(steps):
        loss = F.mse_loss(torch_forward(params, x)[:, 0], y)
        grads = torch.autograd.grad(loss, [t for p in params for t in p])
        losses.append(float(loss.detach()))
        with torch.no_grad():
            params = [
                ((w - lr * gw).requires_grad_(True), (b - lr * gb).requires_grad_(True))
                for (w, b), gw, gb in zip(params, grads[::2], grads[1::2])
            ]
    return losses, flat_of([(w.detach(), b.detach()) for w, b in params])


def learner_training(impl, x, y, flat, steps: int, lr: float):
    """(the MLP, the loss before each step, the predictions of the last forward pass): the classic
    loop, preds = [net(x) for x in xs]; loss = mse(preds, ys); loss.backward(); sgd_step(...)."""
    net = impl.MLP(*NET, weights=list(flat))
    xs, ys, losses, preds = x.tolist(), y.tolist(), [], []
    for _ in range(steps):
        preds = [net(row) for row in xs]
        loss = impl.mse(preds, ys)
        losses.append(read([loss], "data", ["the loss returned by mse"])[0])
        backward_named(loss, "backward() on the loss")
        impl.sgd_step(net.parameters(), lr)
    return net, losses, preds


def test_training_against_torch(impl):
    """30 steps of gradient descent on two moons: the loss before every step and the final weights
    follow torch (autograd on an equal network, F.mse_loss, the same updates)."""
    x, y, flat = moons_setup()
    expected_losses, expected_weights = torch_training(x, y, flat, 30, LR)
    net, losses, _ = learner_training(impl, x, y, flat, 30, LR)
    case = f"MLP{NET}, {MOONS['n']} points of two moons, lr {LR} (torch as reference)"
    check_numbers(
        losses,
        expected_losses,
        [f"the loss before step {k + 1}" for k in range(30)],
        what="the loss trajectory",
        case=case,
        tol=TOL_TRAIN,
        impl=impl,
    )
    params = net.parameters()
    names = [f"parameters()[{k}].data after 30 steps" for k in range(len(flat))]
    check_numbers(
        read(params, "data", names),
        expected_weights,
        names,
        what="the weights after 30 steps",
        case=case,
        tol=scaled(TOL_TRAIN, expected_weights),
        impl=impl,
    )
