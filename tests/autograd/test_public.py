"""autograd, public tests: your Tensor against PyTorch autograd on identical computations, in
float64 and float32 (every operation alone, broadcasting, batched matmul, reductions over every
dimension, indexing with repeated indices, log_softmax and cross_entropy at magnitude 1e4, reuse,
two backward passes, random graphs) and 50 steps of training a two-layer network.

Run with `make test topic=autograd`. Learner code is reached only through the `impl` fixture: the
tests make leaves with `impl.Tensor(data, requires_grad=True)`, combine them with operators and
methods, call `.backward(grad)` and read `.data` and `.grad`. Each computation is written once (a
Python function) and run twice: on your Tensors and on torch tensors with autograd, the oracle.
When a check fails, the output is compared with what each known mistake would give on the same
inputs, and `diagnose` runs a few tiny probes with hand-worked values on your engine.
"""

import contextlib
import random

import pytest
import torch
import torch.nn.functional as F

from grader import kit
from grader.checks import check_tensor, fail
from grader.guard import ForbiddenAPIError
from grader.kit import F32, F64, Tol, cases, check_outputs, dtype_name, randn, scale_of, shape_name
from tests.autograd.key import last_pass_only, op_mistakes
from tests.autograd.mistakes import MISTAKE

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons. Gradients are sums of products: a correct engine may sum in another
# order (a broadcast gradient reduced dimension by dimension, a logsumexp instead of a max shift), so
# the absolute part is relative to the output's largest |value| (Tol.scaled).

TOL64 = Tol(
    1e-10,
    1e-10,
    "float64: 1.1e-16 per operation; graphs of a few dozen operations and sums of a few hundred terms "
    "stay below 1e-13 relative, and every mistake is of order 1",
)
TOL32 = Tol(
    1e-4,
    1e-4,
    "float32: 6e-8 per operation; the same graphs reach a few 1e-6 relative to the largest value when "
    "a correct engine rounds in another order (python -m grader margins measures it)",
)
TOL_TRAIN = Tol(
    1e-8,
    1e-10,
    "float64, 50 steps of SGD: each step's last-bit differences (sums in another order) are carried "
    "into the next weights and grow a little, far below 1e-10 relative",
)


def tol(dtype: torch.dtype, scale: float = 1.0) -> Tol:
    """The tolerance for an output of `dtype` whose largest |value| is `scale`."""
    return (TOL64 if dtype == F64 else TOL32).scaled(scale)


def tol_logits(dtype: torch.dtype, logits: torch.Tensor) -> Tol:
    """Outputs computed from logits of magnitude up to 1e4: the logits themselves are known only to
    eps * |logit| (1e-3 for 1e4 in float32), and a correct engine may round there (x - max, or
    x - logsumexp(x)), so every output may be off by a few eps * max|logit| absolute."""
    slack = 8 * torch.finfo(dtype).eps * scale_of(logits)
    return lambda expected: tol(dtype, scale_of(expected)).plus(
        atol=slack, why="plus 8 eps * max|logit| for logits of magnitude 1e4"
    )


# ---------------------------------------------------------------------------------------------------
# Naming mistakes: tiny probes with hand-worked values, run on your engine after a failure


def _probe(fn):
    """fn(), or the exception class it raised (a diagnosis never raises)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 (a probe of broken code may raise anything)
        return type(exc)


def _values(t) -> list | None:
    """A learner's grad as nested lists (shape included), or None when it is not a tensor."""
    return t.tolist() if isinstance(t, torch.Tensor) else None


def diagnose(impl) -> list[str]:
    """Known mistakes your engine shows on tiny probes whose values are worked out by hand."""
    T, found = impl.Tensor, []

    def leaf(values):
        return T(torch.tensor(values, dtype=F64), requires_grad=True)

    def square():  # a = [3, -1]: d/da sum(a * a) = 2a = [6, -2]; [3, -1] keeps one use only
        a = leaf([3.0, -1.0])
        (a * a).sum().backward()
        return _values(a.grad)

    def square_of_sum():  # h = a + 1 = [2, 3]; d/da sum(h * h) = 2h = [4, 6]; [2, 3] keeps one use
        a = leaf([1.0, 2.0])
        h = a + 1.0
        (h * h).sum().backward()
        return _values(a.grad)

    def two_passes():  # d/da sum(2a) + d/da sum(3a) = [5, 5]; [3, 3] if the second pass replaces
        a = leaf([1.0, 2.0])
        (a * 2.0).sum().backward()
        (a * 3.0).sum().backward()
        return _values(a.grad)

    def depths():  # one operation below: [1, 1]; two operations below: d/da sum(2a) = [2, 2]
        a, b = leaf([1.0, 2.0]), leaf([1.0, 2.0])
        a.sum().backward()
        (b * 2.0).sum().backward()
        return _values(a.grad), _values(b.grad)

    def broadcast_same_rank():  # a (2, 1) + b (1, 3), summed: a.grad = [[3], [3]], b.grad = [[2, 2, 2]]
        a, b = leaf([[1.0], [2.0]]), leaf([[1.0, 2.0, 3.0]])
        (a + b).sum().backward()
        return _values(a.grad)

    def broadcast_leading():  # c (1, 3) + d (2, 2, 3), summed: c.grad = [[4, 4, 4]]
        c, d = leaf([[1.0, 2.0, 3.0]]), leaf(torch.zeros(2, 2, 3).tolist())
        (c + d).sum().backward()
        return _values(c.grad)

    def sum_rows():  # x (2, 2), x.sum(dim=1) with grad [1, 10]: [[1, 1], [10, 10]] ([[1, 10], [1, 10]] unrestored)
        x = leaf([[1.0, 2.0], [3.0, 4.0]])
        x.sum(dim=1).backward(torch.tensor([1.0, 10.0], dtype=F64))
        return _values(x.grad)

    def mean_rows():  # x (2, 3), sum of x.mean(dim=1): every grad 1/3 (1/6 divides by the whole size)
        x = leaf(torch.ones(2, 3).tolist())
        x.mean(dim=1).sum().backward()
        return _values(x.grad)

    def batched_matmul():  # sum(a @ b), b = arange(8).reshape(2, 2, 2): a.grad = ones @ b.mT (see below)
        a = leaf(torch.ones(2, 2, 2).tolist())
        b = T(torch.arange(8.0, dtype=F64).reshape(2, 2, 2))
        (a @ b).sum().backward()
        return _values(a.grad)

    def matmul_batch():  # a (2, 2, 2) @ w (2, 2), summed: w.grad has w's shape (2, 2)
        a, w = leaf(torch.ones(2, 2, 2).tolist()), leaf([[1.0, 2.0], [3.0, 4.0]])
        (a @ w).sum().backward()
        return None if w.grad is None else tuple(w.grad.shape)

    def ties():  # [1, 3, 3].max(0): the gradient goes to the first 3 only
        x = leaf([1.0, 3.0, 3.0])
        x.max(0).backward()
        return _values(x.grad)

    def big():  # log_softmax([1e4, 0]) = [0, -1e4], finite
        x = T(torch.tensor([1e4, 0.0], dtype=F64))
        return _values(x.log_softmax(0).data)

    def repeated():  # x[[0, 0, 2]].sum(): index 0 twice -> [2, 0, 1]
        x = leaf([1.0, 2.0, 3.0])
        x[torch.tensor([0, 0, 2])].sum().backward()
        return _values(x.grad)

    def division():  # d(a / b)/db at a = 1, b = 2: -a / b**2 = -0.25; also d(2 / b)/db = -0.5
        a, b, c = leaf([1.0]), leaf([2.0]), leaf([2.0])
        (a / b).sum().backward()
        (2.0 / c).sum().backward()
        return _values(b.grad), _values(c.grad)

    if _probe(square) == [3.0, -1.0] or _probe(square_of_sum) == [2.0, 3.0] or _probe(two_passes) == [3.0, 3.0]:
        found.append("grad-assigned")
    shown = _probe(depths)
    if isinstance(shown, tuple) and shown[0] == [1.0, 1.0] and shown[1] in (None, [0.0, 0.0]):
        found.append("forward-order")
    if _probe(broadcast_same_rank) == [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]:
        leading = _probe(broadcast_leading)
        if leading == [[[1.0] * 3] * 2] * 2:
            found.append("grad-not-reduced")
        if leading == [[2.0] * 3] * 2:
            found.append("reduce-forgets-size-one")
    if _probe(sum_rows) == [[1.0, 10.0], [1.0, 10.0]]:
        found.append("sum-keepdim-not-restored")
    if _probe(mean_rows) == [[1 / 6] * 3] * 2:
        found.append("mean-divides-by-numel")
    # ones @ b.mT sums each row of b: [[1, 5], [9, 13]] per batch; with b.T (every dimension reversed)
    # the batches mix: [[2, 10], [4, 12]].
    if _probe(batched_matmul) == [[[2.0, 10.0]] * 2, [[4.0, 12.0]] * 2]:
        found.append("matmul-transpose-batched")
    if _probe(matmul_batch) == (2, 2, 2):
        found.append("matmul-batch-not-summed")
    if _probe(ties) == [0.0, 1.0, 1.0]:
        found.append("max-grad-to-all-ties")
    got = _probe(big)
    if isinstance(got, list) and not all(abs(v) < float("inf") for v in got):
        found.append("log-softmax-no-shift")
    if _probe(repeated) == [1.0, 0.0, 1.0]:
        found.append("repeated-index-assigned")
    shown = _probe(division)
    if isinstance(shown, tuple) and (shown[0] == [0.25] or shown[1] == [0.5]):
        found.append("div-denominator-sign")
    return found


def notes(impl, message: str = "") -> str:
    """The sentences of the mistakes your engine shows on the probes, except those `message` names."""
    shown = [m for m in diagnose(impl) if MISTAKE[m].tag not in message]
    if not shown:
        return ""
    return "\nYour engine shows, on tiny hand-worked probes:" + "".join(f"\n{MISTAKE[m].sentence()}" for m in shown)


@contextlib.contextmanager
def named_failures(impl, what: str):
    """Run learner code: an exception it raises (other than 'not written yet' or a forbidden call)
    becomes a failure saying what raised it, and any failure gets the probes' findings appended."""
    try:
        yield
    except (NotImplementedError, ForbiddenAPIError):
        raise
    except pytest.fail.Exception as exc:
        fail(str(exc.msg) + notes(impl, str(exc.msg)))
    except Exception as exc:  # noqa: BLE001 (learner code may raise anything)
        fail(f"{what} raised {type(exc).__name__}: {exc}" + notes(impl))


# ---------------------------------------------------------------------------------------------------
# Running one computation on your Tensors and on torch's


def leaves(impl, tensors):
    """Your leaves: impl.Tensor(copy, requires_grad=True) for each input tensor."""
    return [impl.Tensor(t.clone(), requires_grad=True) for t in tensors]


def grads_of(xs, names) -> list:
    """The leaves' grads; a leaf a backward pass did not reach (grad None) fails here."""
    out = []
    for x, name in zip(xs, names):
        g = x.grad
        if g is None:
            fail(f"{name}.grad is None after backward(): the backward pass did not reach this leaf.")
        out.append(g)
    return out


def run_both(impl, fn, inputs, grad_out, names, what):
    """(your result and leaves' grads, autograd's): fn on your leaves, then .backward(grad_out)."""
    expected_out, expected_grads = kit.backward(fn, inputs, grad_out)
    xs = leaves(impl, inputs)
    with named_failures(impl, what):
        out = fn(*xs)
        out.backward(None if grad_out is None else grad_out.clone())
        got = [out.data, *grads_of(xs, names)]
    return got, [expected_out, *expected_grads]


def compare(impl, got, expected, names, what, case, tol_of, near=None):
    """check_outputs over (result, grads), naming the mistakes whose prediction explains them all."""
    pairs = None
    if near is not None:

        def pairs():
            return [(MISTAKE[m], p) for m, p in near()]

    with named_failures(impl, what):
        check_outputs(
            got,
            expected,
            names=["the result", *[f"{n}.grad" for n in names]],
            of=what,
            case=case,
            tol=tol_of,
            near=pairs,
        )


def scaled_tol(dtype):
    return lambda expected: tol(dtype, scale_of(expected))


def draw(spec, seed, dtype):
    """An input: (shape, kind) drawn from a seeded generator; kind says which values: "normal",
    "positive" (0.5 to 2.5, for log and fractional powers), "away" (|x| >= 0.5, for denominators),
    "ties" (small integers, so that maxima repeat), "zeros" (normal with some exact zeros, for relu),
    "big" (normal times 1e4)."""
    shape, kind = spec if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str) else (spec, "normal")
    x = randn(shape, seed, dtype=F64)
    if kind == "positive":
        x = 0.5 + 2 * torch.rand(shape, generator=seed, dtype=F64)
    elif kind == "away":
        x = torch.where(x < 0, x - 0.5, x + 0.5)
    elif kind == "ties":
        x = torch.randint(0, 3, shape, generator=seed).to(F64)
    elif kind == "zeros":
        x = torch.where(x.abs() < 0.5, torch.zeros_like(x), x)
    elif kind == "big":
        x = x * 1e4
    return x.to(dtype)


# ---------------------------------------------------------------------------------------------------
# Every operation alone, in float64 and float32

rows_of = torch.tensor([0, 2, 0, 0])
cols_of = torch.tensor([1, 1, 0])
pair_rows, pair_cols = torch.tensor([3, 0, 3]), torch.tensor([1, 1, 1])


def vmax(x, dim, keepdim=False):
    """max along dim, the values only: torch's max returns (values, indices), yours the values."""
    return x.max(dim, keepdim=keepdim).values if isinstance(x, torch.Tensor) else x.max(dim, keepdim=keepdim)


# name: (kind of mistakes to predict, the operation, input specs, parameters)
OPS = {
    "x + y, (3, 1) with (1, 4)": ("binary", lambda x, y: x + y, [(3, 1), (1, 4)], {}),
    "x + y, (5,) with (2, 3, 5)": ("binary", lambda x, y: x + y, [(5,), (2, 3, 5)], {}),
    "x + y, (1, 3) with (2, 2, 3)": ("binary", lambda x, y: x + y, [(1, 3), (2, 2, 3)], {}),
    "x + y, 0-dim with (2, 3)": ("binary", lambda x, y: x + y, [(), (2, 3)], {}),
    "x + 2.5": ("binary", lambda x: x + 2.5, [(2, 3)], {}),
    "2.5 + x": ("binary", lambda x: 2.5 + x, [(2, 3)], {}),
    "x - y, (2, 3, 5) with (5,)": ("binary", lambda x, y: x - y, [(2, 3, 5), (5,)], {}),
    "x - y, (4, 1) with (1, 3)": ("binary", lambda x, y: x - y, [(4, 1), (1, 3)], {}),
    "x - 0.5": ("binary", lambda x: x - 0.5, [(3,)], {}),
    "1.5 - x": ("binary", lambda x: 1.5 - x, [(2, 3)], {}),
    "x * y, (3, 1) with (1, 4)": ("binary", lambda x, y: x * y, [(3, 1), (1, 4)], {}),
    "x * y, (2, 2, 3) with (1, 3)": ("binary", lambda x, y: x * y, [(2, 2, 3), (1, 3)], {}),
    "x * y, (2, 3) with 0-dim": ("binary", lambda x, y: x * y, [(2, 3), ()], {}),
    "x * 0.5": ("binary", lambda x: x * 0.5, [(2, 3)], {}),
    "-3 * x": ("binary", lambda x: -3 * x, [(2, 3)], {}),
    "x / y, (3, 1) with (1, 4)": ("binary", lambda x, y: x / y, [(3, 1), ((1, 4), "away")], {"denominator": 1}),
    "x / y, (2, 3) with (3,)": ("binary", lambda x, y: x / y, [(2, 3), ((3,), "away")], {"denominator": 1}),
    "x / y, same shape (2, 3)": ("binary", lambda x, y: x / y, [(2, 3), ((2, 3), "away")], {"denominator": 1}),
    "x / y, 0-dim y": ("binary", lambda x, y: x / y, [(2, 3), ((), "away")], {"denominator": 1}),
    "x / 4": ("binary", lambda x: x / 4, [(2, 3)], {}),
    "2 / x": ("binary", lambda x: 2 / x, [((2, 3), "away")], {"denominator": 0}),
    "-x": ("unary", lambda x: -x, [(2, 3)], {}),
    "x ** 2": ("unary", lambda x: x**2, [(2, 3)], {}),
    "x ** 3": ("unary", lambda x: x**3, [(2, 3)], {}),
    "x ** 0.5": ("unary", lambda x: x**0.5, [((2, 3), "positive")], {}),
    "x ** -1": ("unary", lambda x: x**-1, [((2, 3), "away")], {}),
    "x ** -1.5": ("unary", lambda x: x**-1.5, [((2, 3), "positive")], {}),
    "x @ y, (3, 4) @ (4, 2)": ("matmul", lambda x, y: x @ y, [(3, 4), (4, 2)], {}),
    "x @ y, (2, 1, 3, 4) @ (5, 4, 2)": ("matmul", lambda x, y: x @ y, [(2, 1, 3, 4), (5, 4, 2)], {}),
    "x @ y, (3, 4) @ (5, 4, 2)": ("matmul", lambda x, y: x @ y, [(3, 4), (5, 4, 2)], {}),
    "x @ y, (2, 3, 4) @ (4, 5)": ("matmul", lambda x, y: x @ y, [(2, 3, 4), (4, 5)], {}),
    "x @ y, (3, 3, 3) @ (3, 3, 3)": ("matmul", lambda x, y: x @ y, [(3, 3, 3), (3, 3, 3)], {}),
    "x.max(1), ties": ("max", lambda x: vmax(x, 1), [((3, 4), "ties")], {"dim": 1}),
    "x.max(0, keepdim=True), ties": (
        "max",
        lambda x: vmax(x, 0, True),
        [((3, 4), "ties")],
        {"dim": 0, "keepdim": True},
    ),
    "x.max(-1), (2, 3, 4)": ("max", lambda x: vmax(x, -1), [((2, 3, 4), "ties")], {"dim": -1}),
    "x.reshape(6, 2)": ("unary", lambda x: x.reshape(6, 2), [(3, 4)], {}),
    "x.reshape(-1)": ("unary", lambda x: x.reshape(-1), [(3, 4)], {}),
    "x.reshape((2, 2, 3))": ("unary", lambda x: x.reshape((2, 2, 3)), [(3, 4)], {}),
    "x.transpose(0, 1)": ("unary", lambda x: x.transpose(0, 1), [(3, 4)], {}),
    "x.transpose(0, 2), (2, 3, 4)": ("unary", lambda x: x.transpose(0, 2), [(2, 3, 4)], {}),
    "x.transpose(-1, -2), (2, 3, 4)": ("unary", lambda x: x.transpose(-1, -2), [(2, 3, 4)], {}),
    "x.exp()": ("unary", lambda x: x.exp(), [(2, 3)], {}),
    "x.log()": ("unary", lambda x: x.log(), [((2, 3), "positive")], {}),
    "x.relu(), some exact zeros": ("unary", lambda x: x.relu(), [((3, 4), "zeros")], {}),
    "x.tanh()": ("unary", lambda x: x.tanh(), [(2, 3)], {}),
    "x.sigmoid()": ("unary", lambda x: x.sigmoid(), [(2, 3)], {}),
    "x.log_softmax(1)": ("log_softmax", lambda x: x.log_softmax(1), [(3, 5)], {"dim": 1}),
    "x.log_softmax(0)": ("log_softmax", lambda x: x.log_softmax(0), [(3, 5)], {"dim": 0}),
    "x.log_softmax(-1), magnitude 1e4": ("log_softmax", lambda x: x.log_softmax(-1), [((4, 5), "big")], {"dim": -1}),
    "x.log_softmax(1), (2, 3, 4), magnitude 1e4": (
        "log_softmax",
        lambda x: x.log_softmax(1),
        [((2, 3, 4), "big")],
        {"dim": 1},
    ),
    "x[1]": ("index", lambda x: x[1], [(5, 3)], {"index": 1}),
    "x[1:4]": ("index", lambda x: x[1:4], [(5, 3)], {"index": slice(1, 4)}),
    "x[:, 2]": ("index", lambda x: x[:, 2], [(5, 3)], {"index": (slice(None), 2)}),
    "x[[0, 2, 0, 0]], repeated rows": ("index", lambda x: x[rows_of], [(5, 3)], {"index": rows_of}),
    "x[:, [1, 1, 0]], repeated columns": (
        "index",
        lambda x: x[:, cols_of],
        [(5, 3)],
        {"index": (slice(None), cols_of)},
    ),
    "x[[3, 0, 3], [1, 1, 1]], a repeated pair": (
        "index",
        lambda x: x[pair_rows, pair_cols],
        [(5, 3)],
        {"index": (pair_rows, pair_cols)},
    ),
}


def op_case(name, dtype):
    """(inputs, grad_out) of an OPS case: drawn from a generator seeded by the case's name."""
    _, fn, specs, _ = OPS[name]
    gen = kit.generator(f"{name} {dtype_name(dtype)}")
    inputs = [draw(spec, gen, dtype) for spec in specs]
    out = fn(*inputs)
    return inputs, randn(out.shape, gen, dtype=dtype)


INPUT_NAMES = ["x", "y"]


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(OPS))
def test_operation_against_torch(impl, name, dtype):
    """Each operation alone: its result and the gradients of its inputs (after backward(g) with a
    random g of the result's shape) match PyTorch autograd on the same inputs."""
    kind, fn, _, params = OPS[name]
    inputs, grad_out = op_case(name, dtype)
    names = INPUT_NAMES[: len(inputs)]
    near = op_mistakes(kind, fn, inputs, grad_out, params)
    shapes = " with ".join(shape_name(x.shape) for x in inputs)
    case = (
        f"{dtype_name(dtype)}, x{'' if len(inputs) == 1 else ', y'} of shape {shapes} (PyTorch autograd as reference)"
    )
    got, expected = run_both(impl, fn, inputs, grad_out, names, name)
    big = kind == "log_softmax" and "1e4" in name
    compare(impl, got, expected, names, name, case, tol_logits(dtype, inputs[0]) if big else scaled_tol(dtype), near)


# ---------------------------------------------------------------------------------------------------
# Reductions over every dimension and tuples of dimensions, with and without keepdim

DIMS = {
    "dim None": None,
    "dim 0": 0,
    "dim 1": 1,
    "dim 2": 2,
    "dim -1": -1,
    "dims (0, 2)": (0, 2),
    "dims (1, -1)": (1, -1),
    "dims (0, 1, 2)": (0, 1, 2),
    "dims (-3, 1)": (-3, 1),
}
REDUCTIONS = {
    f"{op}, (2, 3, 4), {label}, keepdim={keepdim}": (op, (2, 3, 4), dim, keepdim)
    for op in ("sum", "mean")
    for label, dim in DIMS.items()
    for keepdim in (False, True)
}
REDUCTIONS.update(
    {
        f"{op}, (4, 4, 4), {label}": (op, (4, 4, 4), dim, False)
        for op in ("sum", "mean")
        for label, dim in {"dim 2": 2, "dim 1": 1, "dims (1, 2)": (1, 2)}.items()
    }
)


def reduce(x, op, dim, keepdim):
    """x.sum(dim, keepdim) or x.mean(...), the same call on torch's tensors and yours (torch's sum
    takes no dim=None with keepdim, so None is spelled as every dimension there)."""
    if dim is None and isinstance(x, torch.Tensor):
        dim = tuple(range(x.dim()))
    if dim is None:
        return getattr(x, op)(keepdim=keepdim) if keepdim else getattr(x, op)()
    return getattr(x, op)(dim, keepdim=keepdim)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("op, shape, dim, keepdim", cases(REDUCTIONS))
def test_reduction_against_torch(impl, op, shape, dim, keepdim, dtype):
    """sum and mean over every dimension and tuples of dimensions (negative ones included), with
    and without keepdim: the result and the input's gradient match autograd."""
    gen = kit.generator(f"{op} {shape} {dim} {keepdim} {dtype_name(dtype)}")
    x = randn(shape, gen, dtype=dtype)
    fn = lambda t: reduce(t, op, dim, keepdim)  # noqa: E731
    grad_out = randn(fn(x).shape, gen, dtype=dtype)
    what = f"x.{op}({'' if dim is None else dim}{', keepdim=True' if keepdim else ''})"
    near = op_mistakes(op, fn, [x], grad_out, {"keepdim": keepdim})
    case = f"{dtype_name(dtype)}, x of shape {shape_name(shape)} (PyTorch autograd as reference)"
    got, expected = run_both(impl, fn, [x], grad_out, ["x"], what)
    compare(impl, got, expected, ["x"], what, case, scaled_tol(dtype), near)


# ---------------------------------------------------------------------------------------------------
# cross_entropy, at ordinary and huge magnitudes

CROSS = {
    "B 4, C 5": ((4, 5), 1.0),
    "B 1, C 3": ((1, 3), 1.0),
    "B 6, C 4, magnitude 1e4": ((6, 4), 1e4),
}


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("shape, scale", cases(CROSS))
def test_cross_entropy_against_torch(impl, shape, scale, dtype):
    """cross_entropy(logits, target): the mean loss over the batch and the logits' gradient match
    F.cross_entropy and autograd, finite for logits of magnitude 1e4."""
    gen = kit.generator(f"cross entropy {shape} {scale} {dtype_name(dtype)}")
    logits = randn(shape, gen, dtype=dtype, scale=scale)
    target = torch.randint(0, shape[1], (shape[0],), generator=gen)
    fn = lambda x: F.cross_entropy(x, target)  # noqa: E731
    near = op_mistakes("cross_entropy", fn, [logits], None, {"target": target})
    case = (
        f"{dtype_name(dtype)}, logits of shape {shape_name(shape)}, magnitude {scale:g} (F.cross_entropy as reference)"
    )
    expected_out, expected_grads = kit.backward(fn, [logits])
    (x,) = leaves(impl, [logits])
    with named_failures(impl, "cross_entropy(logits, target)"):
        loss = impl.cross_entropy(x, target.clone())
        loss.backward()
        got = [loss.data, *grads_of([x], ["logits"])]
    compare(
        impl,
        got,
        [expected_out, *expected_grads],
        ["logits"],
        "cross_entropy(logits, target)",
        case,
        tol_logits(dtype, logits),
        near,
    )


# ---------------------------------------------------------------------------------------------------
# Graphs: broadcasting shapes, reuse, random programs


def composite_broadcast(x, y):
    """(3, 1) with (1, 4)."""
    h = x * y + x
    return (h.tanh() * y - x / (y.exp() + 1.0)).sum()


def composite_leading(x, y):
    """(5,) with (2, 3, 5)."""
    d = y - x
    return ((d**2).sum(-1) * 0.5 + (x.sigmoid() * y).mean(dim=(0, 1)).sum()).mean()


def composite_scalars(s, x):
    """0-dim s with (2, 3), and Python numbers on both sides."""
    return (2.0 * s * x - x / s + s**2 - 1.5 / (x.exp() + s * s) + (3.0 - s) * 0.5).sum()


def composite_reuse(x, y):
    """h = x * y used three times, x used four times."""
    h = x * y
    return (h * h + h.exp() * x - x / (h.tanh() + 2.0) + x).sum()


def composite_matmul(x, w, b):
    """A batch of matrices through a shared weight, a bias and a reduction."""
    h = (x @ w + b).relu()
    return (h.transpose(-1, -2) @ h).reshape(-1).sum() / 10.0


def composite_softmax(x, w):
    """log_softmax of a product, indexed with repeated rows, then max."""
    z = (x @ w).log_softmax(1)
    return vmax(z[rows_of], 1).sum() + z[:, 1].mean()


GRAPHS = {
    "broadcast (3, 1) with (1, 4)": (composite_broadcast, [(3, 1), (1, 4)]),
    "broadcast (5,) with (2, 3, 5)": (composite_leading, [(5,), (2, 3, 5)]),
    "0-dim with (2, 3), numbers on both sides": (composite_scalars, [((), "away"), (2, 3)]),
    "a tensor used several times": (composite_reuse, [(3, 4), (3, 4)]),
    "batched matmul, bias, relu, transpose, reshape": (composite_matmul, [(2, 3, 4), (4, 5), (5,)]),
    "log_softmax, repeated indices, max": (composite_softmax, [(4, 3), (3, 5)]),
}


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("fn, specs", cases(GRAPHS))
def test_graph_against_torch(impl, fn, specs, dtype):
    """Graphs of several operations over broadcasting shapes, with reuse: the loss and every leaf's
    gradient (backward() with no argument, on a 0-dim loss) match autograd."""
    gen = kit.generator(f"graph {fn.__name__} {dtype_name(dtype)}")
    inputs = [draw(spec, gen, dtype) for spec in specs]
    names = [f"input {k}" for k in range(len(inputs))]
    shapes = ", ".join(shape_name(x.shape) for x in inputs)
    case = f"{dtype_name(dtype)}, inputs of shapes {shapes} (autograd as reference)"
    got, expected = run_both(impl, fn, inputs, None, names, fn.__doc__.strip())
    compare(impl, got, expected, names, f"the graph ({fn.__doc__.strip()})", case, scaled_tol(dtype))


# A random program: leaves of shapes that broadcast to (3, 4), then steps applied to earlier nodes.
LEAF_SHAPES = [(3, 1), (1, 4), (4,), (), (3, 4)]
STEPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / (b.sigmoid() + 0.5),
    "tanh": lambda a, b: a.tanh(),
    "sigmoid": lambda a, b: a.sigmoid(),
    "relu": lambda a, b: a.relu(),
    "exp": lambda a, b: (a.tanh()).exp(),
    "square": lambda a, b: a**2 * 0.5,
    "2 - a": lambda a, b: 2.0 - a,
    "a / 3": lambda a, b: a / 3.0,
    "sum rows": lambda a, b: a.sum(-1, keepdim=True) * 0.25,
    "mean cols": lambda a, b: a.mean(0, keepdim=True) if len(a.shape) == 2 else a * 1.5,
}


def random_program(n_steps: int, seed: int):
    """[(step name, i, j)]: node len(LEAF_SHAPES) + k = STEPS[name](node i, node j); every node
    feeds the final sum (nodes no step uses are added to the loss)."""
    rng = random.Random(seed)
    program, n = [], len(LEAF_SHAPES)
    for _ in range(n_steps):
        name = rng.choice(list(STEPS))
        i = rng.randrange(max(0, n - 5), n) if rng.random() < 0.7 else rng.randrange(n)
        program.append((name, i, rng.randrange(n)))
        n += 1
    return program


def run_program(program, xs):
    nodes = list(xs)
    used = set()
    for name, i, j in program:
        nodes.append(STEPS[name](nodes[i], nodes[j]))
        used.update((i, j) if name in ("+", "-", "*", "/") else (i,))
    loss = None
    for k, node in enumerate(nodes):
        if k not in used:
            term = node.sum()
            loss = term if loss is None else loss + term
    return loss


PROGRAMS = {f"random, {n} steps, seed {seed}": (n, seed) for n, seed in [(12, 1), (30, 2), (60, 3)]}


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("n_steps, seed", cases(PROGRAMS))
def test_random_graph_against_torch(impl, n_steps, seed, dtype):
    """Random graphs over leaves of shapes (3, 1), (1, 4), (4,), () and (3, 4): every binary step
    broadcasts, nodes are reused; the loss and the leaves' gradients match autograd."""
    program = random_program(n_steps, seed)
    gen = kit.generator(f"program {n_steps} {seed} {dtype_name(dtype)}")
    inputs = [randn(s, gen, dtype=dtype) for s in LEAF_SHAPES]
    names = [f"leaf {k} of shape {shape_name(s)}" for k, s in enumerate(LEAF_SHAPES)]
    steps = ", ".join(f"node {len(LEAF_SHAPES) + k} = {n}(node {i}, node {j})" for k, (n, i, j) in enumerate(program))
    case = f"{dtype_name(dtype)}, program: {steps[:600]}{'...' if len(steps) > 600 else ''} (autograd as reference)"
    fn = lambda *xs: run_program(program, xs)  # noqa: E731
    got, expected = run_both(impl, fn, inputs, None, names, "the random graph")
    compare(impl, got, expected, names, "the random graph", case, scaled_tol(dtype))


# ---------------------------------------------------------------------------------------------------
# Backward: the default gradient, accumulation over passes, zero_grad


def test_backward_default_gradient(impl):
    """backward() with no argument starts from 1 on a one-element result (0-dim or shape (1, 1)) and
    needs a gradient otherwise (it raises)."""
    x0 = torch.tensor([[1.5, -2.0], [0.5, 3.0]], dtype=F64)
    (x,) = leaves(impl, [x0])
    with named_failures(impl, "(x * x).sum().backward()"):
        (x * x).sum().backward()
        got = grads_of([x], ["x"])[0]
    check_tensor(got, 2 * x0, name="x.grad", case="sum(x * x), x = [[1.5, -2], [0.5, 3]] (2x, exact)", rtol=0, atol=0)
    (y,) = leaves(impl, [x0])
    with named_failures(impl, "y.sum(dim=(0, 1), keepdim=True).backward()"):
        y.sum(dim=(0, 1), keepdim=True).backward()
        got = grads_of([y], ["y"])[0]
    check_tensor(got, torch.ones(2, 2, dtype=F64), name="y.grad", case="a (1, 1) result", rtol=0, atol=0)
    (z,) = leaves(impl, [x0])
    with named_failures(impl, "z * 2.0"):
        doubled = z * 2.0
    try:
        doubled.backward()
    except (NotImplementedError, ForbiddenAPIError):
        raise
    except Exception:  # noqa: BLE001 (any exception will do)
        return
    fail(
        "(z * 2.0).backward() with no gradient, on a result of shape (2, 2), should raise an error: backward() "
        "starts from 1 only for a one-element result."
    )


def test_two_backward_passes_accumulate(impl):
    """Two backward passes over two graphs add up in the leaves' grads (like torch); zero_grad()
    sets grad back to None, and the next pass starts from there."""
    gen = kit.generator("two passes")
    inputs = [randn((3, 4), gen), randn((4,), gen)]
    pair = lambda x, y: ((x * y).sum(), (x.exp() * y + y).mean())  # noqa: E731
    _, both = kit.backward(lambda x, y: pair(x, y)[0] + pair(x, y)[1], inputs)
    _, second = kit.backward(lambda x, y: pair(x, y)[1], inputs)
    near = last_pass_only(pair, inputs)
    xs = leaves(impl, inputs)
    names = ["x", "y"]
    with named_failures(impl, "two backward passes"):
        first, then = pair(*xs)
        first.backward()
        then.backward()
        got = grads_of(xs, names)
    with named_failures(impl, "two backward passes"):
        check_outputs(
            got,
            list(both),
            names=["x.grad", "y.grad"],
            of="sum(x * y).backward() then mean(exp(x) * y + y).backward()",
            case="float64, x (3, 4), y (4,) (autograd of the sum of both losses as reference)",
            tol=scaled_tol(F64),
            near=lambda: [(MISTAKE[m], p) for m, p in near()],
        )
    with named_failures(impl, "zero_grad()"):
        for x in xs:
            x.zero_grad()
        cleared = [x.grad for x in xs]
    if any(g is not None for g in cleared):
        fail(f"after zero_grad(), grad should be None, got {[type(g).__name__ for g in cleared]}.")
    with named_failures(impl, "a pass after zero_grad()"):
        pair(*xs)[1].backward()
        got = grads_of(xs, names)
    with named_failures(impl, "a pass after zero_grad()"):
        check_outputs(
            got,
            list(second),
            names=["x.grad", "y.grad"],
            of="mean(exp(x) * y + y).backward() after zero_grad()",
            case="float64, x (3, 4), y (4,) (autograd as reference)",
            tol=scaled_tol(F64),
        )


def test_constructor(impl):
    """Tensor(data): numbers and nested lists become float64, float32 and float64 tensors keep their
    dtype; grad is None until a backward pass; shape, dtype and requires_grad read like torch's."""
    t = impl.Tensor([[1, 2, 3], [4, 5, 6]])
    if tuple(t.shape) != (2, 3) or t.dtype != F64:
        fail(f"Tensor([[1, 2, 3], [4, 5, 6]]): expected shape (2, 3) and dtype float64, got {t.shape} and {t.dtype}.")
    check_tensor(
        t.data, torch.arange(1.0, 7.0, dtype=F64).reshape(2, 3), name="data", case="a nested list", rtol=0, atol=0
    )
    s = impl.Tensor(2.5)
    if tuple(s.shape) != () or s.dtype != F64:
        fail(f"Tensor(2.5): expected a 0-dim float64 tensor, got shape {s.shape} and dtype {s.dtype}.")
    f = impl.Tensor(torch.ones(4, dtype=F32), requires_grad=True)
    if f.dtype != F32 or f.requires_grad is not True or f.grad is not None:
        fail(
            f"Tensor(float32 tensor, requires_grad=True): expected dtype float32, requires_grad True, grad None; "
            f"got {f.dtype}, {f.requires_grad}, {f.grad}."
        )
    if impl.Tensor(torch.ones(2, dtype=F64)).requires_grad is not False:
        fail("Tensor(data) without requires_grad should have requires_grad False.")
    with named_failures(impl, "(f * 2.0).sum().backward()"):
        (f * 2.0).sum().backward()
        got = grads_of([f], ["f"])[0]
    check_tensor(got, torch.full((4,), 2.0, dtype=F32), name="f.grad", case="sum(2 f), float32 (exact)", rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------------
# Training a two-layer network with SGD

N_SAMPLES, N_IN, N_HIDDEN, N_CLASSES = 64, 4, 16, 3
LR, STEPS_TRAINED = 0.5, 50


def training_data():
    """Inputs from a seeded generator, labels from a random linear teacher; the initial weights."""
    gen = kit.generator("training")
    x = randn((N_SAMPLES, N_IN), gen)
    labels = (x @ randn((N_IN, N_CLASSES), gen)).argmax(dim=1)
    params = [
        randn((N_IN, N_HIDDEN), gen, scale=0.5),
        torch.zeros(N_HIDDEN, dtype=F64),
        randn((N_HIDDEN, N_CLASSES), gen, scale=0.5),
        torch.zeros(N_CLASSES, dtype=F64),
    ]
    return x, labels, params


def network(x, w1, b1, w2, b2):
    return (x @ w1 + b1).relu() @ w2 + b2


def torch_training(x, labels, params, steps):
    """The loss before each step of SGD, by autograd and F.cross_entropy."""
    losses = []
    for _ in range(steps):
        loss, grads = kit.backward(lambda *p: F.cross_entropy(network(x, *p), labels), params)
        losses.append(loss)
        params = [p - LR * g for p, g in zip(params, grads)]
    return torch.stack(losses)


def test_training_against_torch(impl):
    """50 steps of SGD (lr 0.5) of a two-layer network (4 -> 16 relu -> 3) with your cross_entropy on
    64 generated samples: the loss before every step follows the same network trained in torch.
    Each step makes new leaves from the current weights, runs backward() and reads their grads."""
    x, labels, params = training_data()
    expected = torch_training(x, labels, params, STEPS_TRAINED)
    losses, names = [], ["w1", "b1", "w2", "b2"]
    with named_failures(impl, "training"):
        xs = impl.Tensor(x.clone())
        for _ in range(STEPS_TRAINED):
            ps = leaves(impl, params)
            loss = impl.cross_entropy(network(xs, *ps), labels.clone())
            loss.backward()
            losses.append(loss.data)
            grads = grads_of(ps, names)
            for g, p, n in zip(grads, params, names):
                if not isinstance(g, torch.Tensor) or g.shape != p.shape:
                    fail(f"{n}.grad should be a tensor of shape {shape_name(p.shape)}, got {g!r:.80}.")
            params = [p - LR * g for p, g in zip(params, grads)]
    got = torch.stack([torch.as_tensor(v, dtype=F64).reshape(()) for v in losses])
    with named_failures(impl, "training"):
        check_tensor(
            got,
            expected,
            name=f"the loss before each of the {STEPS_TRAINED} steps",
            case=f"{N_SAMPLES} samples, {N_IN} -> {N_HIDDEN} relu -> {N_CLASSES}, lr {LR}, float64 (torch as oracle)",
            **TOL_TRAIN,
        )
