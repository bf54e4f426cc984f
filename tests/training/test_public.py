"""The training loop's parts, public tests: every part against PyTorch's own.

Run with `make test topic=training`. Learner code is reached only through the `impl` fixture.

- kaiming_uniform, xavier_uniform: torch.nn.init with the same generator (exactly the same numbers),
  and, for large shapes, the empirical bound and variance against the formula;
- batches: torch.utils.data.DataLoader's batches for one epoch (exactly), and the generator's state
  afterwards (DataLoader's own draws included);
- sgd_step: torch.optim.SGD's update (its functional form, `torch.optim.sgd.sgd`, what SGD.step
  runs) over 200 steps, your outputs fed back in, the first wrong step reported;
- lr_at: torch.optim.lr_scheduler's StepLR and CosineAnnealingLR, step by step;
- clip_grad_norm: torch.nn.utils.clip_grad_norm_ on lists of mixed shapes, norms 1, 2, 3 and inf;
- fit: the same loop written with torch's optimizer step, scheduler, clipping and DataLoader (equal
  losses and parameters), and two real tasks.

Grading mode (a sandboxed worker runs your code, and only data crosses: docs/design.md rule 8)
cannot hand your function a torch.Generator, and the worker's global random state is its own: there,
the tests that pass a generator check what holds for any random state (shape, dtype, bounds, every
index once in batches of the right sizes); see docs/training.md.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import CosineAnnealingLR, StepLR
from torch.optim.sgd import sgd as functional_sgd  # what torch.optim.SGD.step calls
from torch.utils.data import DataLoader

from grader.checks import check_tensor, fail, is_close
from grader.kit import (
    EXACT,
    F32,
    F64,
    Tol,
    call_checking_inputs,
    cases,
    check_output,
    check_outputs,
    dtype_name,
    generator,
    randn,
    scale_of,
    shape_name,
)
from tests.training.key import (
    batch_mistakes,
    clip_mistakes,
    global_batch_mistakes,
    init_bounds,
    schedule_mistakes,
    sgd_mistakes,
)
from tests.training.mistakes import MISTAKE

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons

TOL_SGD64 = Tol(
    1e-10,
    1e-10,
    "float64, 200 steps: each step rounds at 1e-16 relative; a correct step written in another order "
    "differs from torch by a few ulps per step, far below 1e-10 after 200 steps",
)
# float32: each step rounds the parameter and the buffer at 6e-8 relative, and a correct step written
# in another order (or in float64, rounded once) differs from torch's by that much per step; the
# momentum buffer carries the differences on (up to 1 / (1 - momentum) = 10 times), so 200 steps stay
# within 1e-5 per 100 steps (python -m grader margins measures how much the alternatives use).
TOL_SGD32 = Tol(2e-5, 2e-5, "float32, 200 steps: 1e-5 per 100 steps")
TOL_LR = Tol(
    1e-12,
    1e-15,
    "float64 numbers: torch's schedulers multiply the previous rate by a factor each step (StepLR by "
    "gamma, CosineAnnealingLR by a ratio of cosines), which rounds differently from the closed form "
    "by a few ulps per step",
)
TOL_CLIP64 = Tol(1e-12, 1e-14, "float64: a norm summed in another order differs by a few ulps")
TOL_CLIP32 = Tol(
    1e-5,
    1e-7,
    "float32: a norm of up to 30 values summed in another order (or in float64) differs by a few "
    "times 6e-8 relative, and so does the coefficient it gives",
)
TOL_FIT = Tol(
    1e-8,
    1e-10,
    "float64, 15 to 20 steps of SGD: the forward pass, the loss or the norm written another way "
    "differs by a few ulps, carried into the next weights and grown a little by each step",
)
# How close an output must be to a wrong bound's numbers to be named after it: the numbers of
# uniform_(-b, b) scale with b, but a bound computed in another order rounds differently.
INIT_NAMING_RTOL = 1e-5


def tol_sgd(dtype: torch.dtype) -> Tol:
    return TOL_SGD64 if dtype == F64 else TOL_SGD32


# ---------------------------------------------------------------------------------------------------
# Initialisation


def torch_bound(kind: str, shape, kw: dict) -> float:
    """The bound torch.nn.init's uniform draws from, from its own fans and gain."""
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    if kind == "kaiming":
        mode = kw.get("mode", "fan_in")
        gain = torch.nn.init.calculate_gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0.0))
        return math.sqrt(3.0) * gain / math.sqrt(fan_in if mode == "fan_in" else fan_out)
    return math.sqrt(3.0) * kw.get("gain", 1.0) * math.sqrt(2.0 / (fan_in + fan_out))


def torch_init(kind: str, shape, kw: dict, generator=None) -> torch.Tensor:
    init = torch.nn.init.kaiming_uniform_ if kind == "kaiming" else torch.nn.init.xavier_uniform_
    return init(torch.empty(shape), generator=generator, **kw)


def call_init(impl, kind: str, shape, kw: dict, generator=None):
    fn = impl.kaiming_uniform if kind == "kaiming" else impl.xavier_uniform
    return fn(tuple(shape), generator=generator, **kw)


def init_call(kind: str, shape, kw: dict) -> str:
    args = ", ".join([shape_name(shape), *[f"{k}={v!r}" for k, v in kw.items()]])
    return f"{kind}_uniform({args})"


def check_init_values(got, expected: torch.Tensor, call: str, case: str, wrong_bounds, bound: float) -> None:
    """Exact equality with torch's numbers; a miss whose numbers are torch's scaled by a known
    mistake's bound over the right one is named after that mistake."""
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == expected.dtype:
        found = [m for m, b in wrong_bounds if is_close(got, expected * (b / bound), INIT_NAMING_RTOL, 0.0)]
    else:
        found = []
    check_tensor(got, expected, name=f"the tensor from {call}", case=case, near=[(m, got) for m in found], **EXACT)


def check_in_bounds(got, shape, call: str, bound: float, wrong_bounds) -> None:
    """What holds for any random state: shape, the default dtype, values within [-bound, bound]."""
    expected_dtype = torch.get_default_dtype()
    if not isinstance(got, torch.Tensor):
        fail(f"{call} should return a torch.Tensor, got {type(got).__name__}.")
    if tuple(got.shape) != tuple(shape) or got.dtype != expected_dtype:
        fail(
            f"{call} returned a tensor of shape {shape_name(got.shape)} and dtype {dtype_name(got.dtype)}; "
            f"expected shape {shape_name(shape)} and the default dtype {dtype_name(expected_dtype)}."
        )
    top = float(got.abs().max())
    if not top <= bound * (1 + 1e-6) or float(got.std()) < 0.1 * bound:
        found = [m for m, b in wrong_bounds if abs(top - b) <= 1e-2 * b]
        fail(
            f"{call}: the values should be spread uniformly over [-bound, bound] with bound = {bound:.6g}; "
            f"the largest |value| is {top:.6g} and the standard deviation {float(got.std()):.6g}."
            + "".join(f"\n{m.sentence()}" for m in found)
        )


INITS = {
    "kaiming (48, 32), defaults (leaky_relu, a=0)": ("kaiming", (48, 32), dict()),
    "kaiming (20, 50), relu": ("kaiming", (20, 50), dict(nonlinearity="relu")),
    "kaiming (30, 10), leaky_relu a=0.2, fan_out": ("kaiming", (30, 10), dict(a=0.2, mode="fan_out")),
    "kaiming conv (8, 3, 3, 3), tanh": ("kaiming", (8, 3, 3, 3), dict(nonlinearity="tanh")),
    "kaiming conv (16, 4, 5, 5), relu, fan_out": ("kaiming", (16, 4, 5, 5), dict(mode="fan_out", nonlinearity="relu")),
    "xavier (40, 10)": ("xavier", (40, 10), dict()),
    "xavier conv (6, 2, 3, 3), gain 5/3": ("xavier", (6, 2, 3, 3), dict(gain=5 / 3)),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("kind, shape, kw", cases(INITS))
def test_init_draws_torch_numbers(impl, kind, shape, kw):
    """With the same generator state, kaiming_uniform / xavier_uniform return exactly torch.nn.init's
    numbers, and leave the generator where torch leaves it."""
    call = init_call(kind, shape, {**kw, "generator": "g"})
    bound = torch_bound(kind, shape, kw)
    wrong = init_bounds(kind, shape, **kw)
    mine, theirs = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    expected = torch_init(kind, shape, kw, theirs)
    got = call_init(impl, kind, shape, kw, mine)
    case = f"a generator seeded with 11, torch.nn.init.{kind}_uniform_ as reference (bound {bound:.6g})"
    check_init_values(got, expected, call, case, wrong, bound)
    if not torch.equal(mine.get_state(), theirs.get_state()):
        fail(f"{call}: the generator was advanced differently from torch's one uniform_ draw of the tensor.")


def test_init_global_generator(impl):
    """generator=None draws from the global generator: after torch.manual_seed(5), torch's numbers."""
    kind, shape, kw = "kaiming", (12, 7), dict(nonlinearity="relu")
    call = init_call(kind, shape, kw)
    bound = torch_bound(kind, shape, kw)
    wrong = init_bounds(kind, shape, **kw)
    torch.manual_seed(5)
    expected = torch_init(kind, shape, kw)
    torch.manual_seed(5)
    got = call_init(impl, kind, shape, kw)
    check_init_values(got, expected, call, "after torch.manual_seed(5), generator=None", wrong, bound)


LARGE = {
    "kaiming (512, 192), relu": ("kaiming", (512, 192), dict(nonlinearity="relu")),
    "kaiming conv (96, 64, 3, 3), defaults": ("kaiming", (96, 64, 3, 3), dict()),
    "xavier (1024, 128)": ("xavier", (1024, 128), dict()),
}


@pytest.mark.parametrize("kind, shape, kw", cases(LARGE))
def test_init_distribution(impl, kind, shape, kw):
    """Over 55,296 or more values: the largest |value| is the bound (within 1e-3: missing it has
    probability (1 - 1e-3)**N < 1e-23), the mean is 0 and the variance bound**2 / 3, each within
    6 standard errors of the estimate (uniform values: the variance's relative standard error is
    sqrt(4/5 / N) ~ 0.9 / sqrt(N))."""
    call = init_call(kind, shape, kw)
    bound = torch_bound(kind, shape, kw)
    wrong = init_bounds(kind, shape, **kw)
    torch.manual_seed(0)  # in learner mode the same numbers every run; any state passes
    got = call_init(impl, kind, shape, kw)
    check_in_bounds(got, shape, call, bound, wrong)
    values = got.detach().double().reshape(-1)
    n = values.numel()
    top, mean, var = float(values.abs().max()), float(values.mean()), float(values.var())
    var_tol = 6 * math.sqrt(0.8 / n)
    problems = []
    if top < bound * (1 - 1e-3):
        problems.append(f"the largest |value| is {top:.6g}, below the bound {bound:.6g}")
    if abs(mean) > 6 * bound / math.sqrt(3 * n):
        problems.append(f"the mean is {mean:.4g}, not 0 within {6 * bound / math.sqrt(3 * n):.2g}")
    if abs(var / (bound**2 / 3) - 1) > var_tol:
        problems.append(
            f"the variance is {var:.6g}, not bound**2 / 3 = {bound**2 / 3:.6g} within {var_tol:.1%} "
            f"(that is gain**2 / fan for Kaiming, 2 * gain**2 / (fan_in + fan_out) for Xavier)"
        )
    if problems:
        found = [m for m, b in wrong if abs(top - b) <= 1e-3 * b and abs(var / (b**2 / 3) - 1) <= var_tol]
        fail(f"{call}, {n} values: " + "; ".join(problems) + "." + "".join(f"\n{m.sentence()}" for m in found))


# ---------------------------------------------------------------------------------------------------
# Mini-batches


def batch_call(n, batch_size, shuffle, drop_last, generator="g") -> str:
    return f"batches({n}, {batch_size}, shuffle={shuffle}, drop_last={drop_last}, generator={generator})"


def describe_batches(bs) -> str:
    shown = [b.tolist() if isinstance(b, torch.Tensor) else repr(b) for b in bs[:6]]
    return str(shown)[:300] + (f" ... ({len(bs)} batches)" if len(bs) > 6 else "")


def same_batches(got, expected) -> bool:
    return (
        isinstance(got, (list, tuple))
        and len(got) == len(expected)
        and all(isinstance(g, torch.Tensor) and g.shape == e.shape and torch.equal(g, e) for g, e in zip(got, expected))
    )


def check_batches(got, expected: list, call: str, case: str, near) -> None:
    """The same batches, in the same order, as int64 index tensors."""
    if isinstance(got, (list, tuple)) and all(isinstance(g, torch.Tensor) for g in got):
        if any(g.dtype != torch.int64 for g in got):
            fail(f"{call}: the batches should be int64 index tensors (DataLoader's), got {got[0].dtype}.")
    if same_batches(got, expected):
        return
    found = [m for m, prediction in near() if same_batches(got, prediction)]
    shown = describe_batches(got) if isinstance(got, (list, tuple)) else type(got).__name__
    fail(
        f"{call}, for {case}: got {shown}; DataLoader gives {describe_batches(expected)}."
        + "".join(f"\n{m.sentence()}" for m in found)
    )


def check_batch_structure(got, n, batch_size, shuffle, drop_last, call) -> None:
    """What holds for any random state: the batch sizes, and every index once (in order when not
    shuffled)."""
    count = n // batch_size if drop_last else -(-n // batch_size)
    sizes = [batch_size] * (n // batch_size) + ([] if drop_last or n % batch_size == 0 else [n % batch_size])
    if not isinstance(got, (list, tuple)) or not all(isinstance(g, torch.Tensor) for g in got):
        fail(f"{call} should return a list of index tensors, got {type(got).__name__}.")
    got_sizes = [g.numel() for g in got]
    if got_sizes != sizes:
        found = [MISTAKE["last-batch-dropped"]] if got_sizes == sizes[: n // batch_size] and not drop_last else []
        fail(
            f"{call}: {len(got)} batches of sizes {got_sizes[:12]}; DataLoader gives {count} of sizes {sizes[:12]}."
            + "".join(f"\n{m.sentence()}" for m in found)
        )
    flat = torch.cat([g.reshape(-1) for g in got]) if got else torch.zeros(0, dtype=torch.int64)
    covered = n - n % batch_size if drop_last else n
    if shuffle:
        if drop_last:
            ok = flat.unique().numel() == covered and bool(((flat >= 0) & (flat < n)).all())
        else:
            ok = torch.equal(flat.sort().values, torch.arange(n))
        if not ok:
            per_batch = all(g.unique().numel() == g.numel() for g in got) and flat.unique().numel() < flat.numel()
            found = [MISTAKE["permutation-per-batch"]] if per_batch else []
            fail(
                f"{call}: the batches should hold every index of range({n}) once ({covered} of them); got "
                f"{describe_batches(got)}." + "".join(f"\n{m.sentence()}" for m in found)
            )
    elif not torch.equal(flat, torch.arange(covered)):
        fail(f"{call}: without shuffling the batches are 0, 1, 2, ... in order; got {describe_batches(got)}.")


BATCHES = {
    "n 10, batch 3, shuffled": (10, 3, True, False),
    "n 10, batch 3, shuffled, drop_last": (10, 3, True, True),
    "n 10, batch 3, in order": (10, 3, False, False),
    "n 10, batch 3, in order, drop_last": (10, 3, False, True),
    "n 12, batch 4, shuffled (no remainder)": (12, 4, True, False),
    "n 7, batch 10, shuffled (one short batch)": (7, 10, True, False),
    "n 7, batch 10, drop_last (no batch)": (7, 10, True, True),
    "n 100, batch 16, shuffled": (100, 16, True, False),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("n, batch_size, shuffle, drop_last", cases(BATCHES))
def test_batches_match_dataloader(impl, n, batch_size, shuffle, drop_last):
    """The batches of DataLoader(range(n), batch_size, shuffle, drop_last, generator) for one epoch,
    exactly, and the generator left where DataLoader leaves it."""
    call = batch_call(n, batch_size, shuffle, drop_last)
    near = batch_mistakes(n, batch_size, shuffle, drop_last, 21)
    mine, theirs = torch.Generator().manual_seed(21), torch.Generator().manual_seed(21)
    expected = list(DataLoader(range(n), batch_size, shuffle=shuffle, drop_last=drop_last, generator=theirs))
    got = impl.batches(n, batch_size, shuffle=shuffle, drop_last=drop_last, generator=mine)
    check_batches(got, expected, call, "a generator seeded with 21", near)
    if not torch.equal(mine.get_state(), theirs.get_state()):
        fail(
            f"{call}: the batches are right, but the generator was advanced differently from DataLoader's "
            "iteration, which draws one int64 (its base seed) and, when shuffling, two permutations (the "
            "second, unused, as the epoch ends): the next epoch would differ."
        )


@pytest.mark.parametrize("drop_last", [False, True], ids=["keep last", "drop_last"])
def test_batches_global_generator(impl, drop_last):
    """generator=None draws from the global generator as DataLoader does: its base seed, then a seed
    for a generator of the sampler's own."""
    n, batch_size = 11, 4
    call = batch_call(n, batch_size, True, drop_last, None)
    near = global_batch_mistakes(n, batch_size, drop_last, 8)
    torch.manual_seed(8)
    expected = list(DataLoader(range(n), batch_size, shuffle=True, drop_last=drop_last))
    after = torch.get_rng_state()
    torch.manual_seed(8)
    got = impl.batches(n, batch_size, shuffle=True, drop_last=drop_last)
    check_batches(got, expected, call, "after torch.manual_seed(8)", near)
    if not torch.equal(torch.get_rng_state(), after):
        fail(f"{call}: the global generator was advanced differently from DataLoader's two int64 draws.")


@pytest.mark.parametrize("n, batch_size, shuffle, drop_last", cases(BATCHES))
def test_batches_cover_every_index(impl, n, batch_size, shuffle, drop_last):
    """Whatever the random state: batches of batch_size (the last one shorter unless drop_last), every
    index of range(n) once."""
    got = impl.batches(n, batch_size, shuffle=shuffle, drop_last=drop_last)
    check_batch_structure(got, n, batch_size, shuffle, drop_last, batch_call(n, batch_size, shuffle, drop_last, None))


# ---------------------------------------------------------------------------------------------------
# sgd_step against torch.optim.SGD


SHAPES = [(3, 4), (5,), ()]


def sgd_options(hp: dict) -> dict:
    full = dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)
    full.update(hp)
    return full


def gradient_sequences(shapes, steps, dtype, seed):
    """`steps` lists of reproducible gradients (one per shape), their scale drifting from 1 to 0.1."""
    gen = torch.Generator().manual_seed(seed)
    drift = torch.logspace(0, -1, steps, dtype=F64)
    return [[randn(s, gen, dtype, float(d)) for s in shapes] for d in drift]


def torch_sgd(params0, grads, lr, hp):
    """(params, bufs) after each step of torch.optim.SGD's update (`torch.optim.sgd.sgd`, single-tensor
    path) from `params0` on the gradient lists `grads`."""
    params, bufs = [p.clone() for p in params0], [None] * len(params0)
    trajectory = []
    for step_grads in grads:
        functional_sgd(params, [g.clone() for g in step_grads], bufs, foreach=False, lr=lr, **sgd_options(hp))
        trajectory.append(([p.clone() for p in params], [None if b is None else b.clone() for b in bufs]))
    return trajectory


def sgd_result(out, count: int, call: str):
    """(new_params, new_bufs) of one call, with their structure checked."""
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        fail(f"{call} should return (new_params, new_bufs), two lists; got {type(out).__name__}.")
    new_p, new_b = out
    for name, value in (("new_params", new_p), ("new_bufs", new_b)):
        if not isinstance(value, (list, tuple)) or len(value) != count:
            fail(f"{call} should return {name} as a list with one entry per parameter ({count}).")
    return list(new_p), list(new_b)


def check_sgd_step(out, expected, near, momentum: float, call: str, case: str, t: Tol) -> bool:
    """Whether the step is right (quietly); on a wrong step, fail with the first wrong output."""
    new_p, new_b = sgd_result(out, len(expected[0]), call)
    exp_p, exp_b = expected
    if momentum == 0:
        if any(b is not None for b in new_b):
            fail(f"{call}, for {case}: with momentum 0 there is no buffer; every entry of new_bufs stays None.")
        actual, wanted = new_p, exp_p
        names = [f"new_params[{i}]" for i in range(len(exp_p))]
    else:
        if any(b is None for b in new_b):
            fail(f"{call}, for {case}: with momentum {momentum} every new buffer is a tensor, got None.")
        actual, wanted = [*new_p, *new_b], [*exp_p, *exp_b]
        names = [f"new_params[{i}]" for i in range(len(exp_p))] + [f"new_bufs[{i}]" for i in range(len(exp_b))]
    fine = all(
        isinstance(a, torch.Tensor) and a.shape == w.shape and a.dtype == w.dtype and is_close(a, w, t.rtol, t.atol)
        for a, w in zip(actual, wanted)
    )
    if not fine:
        pairs = None if near is None else (lambda: [(m, p[: len(actual)]) for m, p in near()])
        check_outputs(actual, wanted, names=names, of=call, case=case, tol=t, near=pairs)
    return fine


def check_sgd_trajectory(impl, params0, grads, lr, hp, case: str) -> None:
    """sgd_step applied len(grads) times from params0 (no buffers), each call given its own previous
    outputs, must follow torch.optim.SGD step by step."""
    expected = torch_sgd(params0, grads, lr, hp)
    t = tol_sgd(params0[0].dtype)
    params, bufs = [p.clone() for p in params0], [None] * len(params0)
    options = ", ".join(f"{k}={v}" for k, v in hp.items())
    call = f"sgd_step(params, grads, bufs, lr={lr}{', ' + options if options else ''})"
    for step, step_grads in enumerate(grads):
        # Named mistakes are predicted for every step before it is checked (the release stores them
        # per step: grader/answers.py); they are computed only for a step that fails.
        near = sgd_mistakes(params, step_grads, bufs, lr, **hp)
        out = impl.sgd_step(
            [p.clone() for p in params],
            [g.clone() for g in step_grads],
            [None if b is None else b.clone() for b in bufs],
            lr,
            **hp,
        )
        where = f"{case}, step {step + 1} of {len(grads)} (torch.optim.SGD as reference)"
        check_sgd_step(out, expected[step], near, hp.get("momentum", 0.0), call, where, t)
        params, bufs = sgd_result(out, len(params0), call)


SGD = {
    "plain, float32": (F32, dict()),
    "momentum 0.9, float64": (F64, dict(momentum=0.9)),
    "momentum 0.9, dampening 0.5, float32": (F32, dict(momentum=0.9, dampening=0.5)),
    "nesterov, weight decay 0.01, float64": (F64, dict(momentum=0.9, nesterov=True, weight_decay=0.01)),
    "momentum 0.5, weight decay 0.1, maximize, float32": (F32, dict(momentum=0.5, weight_decay=0.1, maximize=True)),
    "weight decay 0.1, maximize, no momentum, float64": (F64, dict(weight_decay=0.1, maximize=True)),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype, hp", cases(SGD))
def test_sgd_step_matches_torch_optim(impl, dtype, hp):
    """200 calls of sgd_step on three parameters (a matrix, a vector, a scalar) follow
    torch.optim.SGD step by step (the hidden suite tries every option combination)."""
    gen = torch.Generator().manual_seed(4)
    params0 = [randn(s, gen, dtype) for s in SHAPES]
    grads = gradient_sequences(SHAPES, 200, dtype, seed=5)
    check_sgd_trajectory(impl, params0, grads, 0.01, hp, f"{dtype_name(dtype)}, shapes {SHAPES}")


@pytest.mark.points(2)
def test_sgd_momentum_by_hand(impl):
    """Two steps with momentum 0.5 and dampening 0.5, in binary fractions: the first buffer IS the
    gradient (no dampening yet), the second is 0.5 * buf + (1 - 0.5) * grad."""
    # p = [1, -2], g1 = [0.5, 1], lr 0.25: buf1 = g1 = [0.5, 1], p1 = p - 0.25 * buf1 = [0.875, -2.25].
    # g2 = [1, -1]: buf2 = 0.5 * buf1 + 0.5 * g2 = [0.75, 0], p2 = p1 - 0.25 * buf2 = [0.6875, -2.25].
    hp = dict(momentum=0.5, dampening=0.5)
    p = torch.tensor([1.0, -2.0], dtype=F64)
    g1, g2 = torch.tensor([0.5, 1.0], dtype=F64), torch.tensor([1.0, -1.0], dtype=F64)
    call = "sgd_step([p], [g], bufs, lr=0.25, momentum=0.5, dampening=0.5)"
    steps = [
        (p, g1, None, torch.tensor([0.875, -2.25], dtype=F64), torch.tensor([0.5, 1.0], dtype=F64)),
        (
            torch.tensor([0.875, -2.25], dtype=F64),
            g2,
            torch.tensor([0.5, 1.0], dtype=F64),
            torch.tensor([0.6875, -2.25], dtype=F64),
            torch.tensor([0.75, 0.0], dtype=F64),
        ),
    ]
    for k, (param, grad, buf, want_p, want_b) in enumerate(steps):
        near = sgd_mistakes([param], [grad], [buf], 0.25, **hp)
        out = impl.sgd_step([param.clone()], [grad.clone()], [None if buf is None else buf.clone()], 0.25, **hp)
        case = (
            f"step {k + 1}, p = {param.tolist()}, grad = {grad.tolist()}, buf = {None if buf is None else buf.tolist()}"
        )
        check_sgd_step(out, ([want_p], [want_b]), near, 0.5, call, case, EXACT)


@pytest.mark.parametrize("momentum", [0.0, 0.9], ids=["no momentum", "momentum 0.9"])
def test_sgd_step_leaves_inputs_unchanged(impl, momentum):
    """sgd_step leaves params, grads and bufs as they were, and returns new tensors with torch's values."""
    gen = torch.Generator().manual_seed(6)
    params = [randn(s, gen, F32) for s in SHAPES]
    grads = [randn(s, gen, F32) for s in SHAPES]
    bufs = [randn(s, gen, F32) for s in SHAPES] if momentum else [None] * len(SHAPES)
    hp = dict(momentum=momentum, weight_decay=0.1)
    args = dict(params=params, grads=grads, bufs=bufs, lr=0.1, **hp)
    call = f"sgd_step(params, grads, bufs, lr=0.1, momentum={momentum}, weight_decay=0.1)"
    near = sgd_mistakes(params, grads, bufs, 0.1, **hp)
    out = call_checking_inputs(impl.sgd_step, args, call=call, mistake=MISTAKE["sgd-inputs-modified"])
    new_p, new_b = [p.clone() for p in params], [None if b is None else b.clone() for b in bufs]
    functional_sgd(new_p, [g.clone() for g in grads], new_b, foreach=False, lr=0.1, **sgd_options(hp))
    check_sgd_step(out, (new_p, new_b), near, momentum, call, "float32, given buffers", TOL_SGD32)


# ---------------------------------------------------------------------------------------------------
# lr_at against torch.optim.lr_scheduler


def stand_in_optimizer(lr: float) -> torch.optim.SGD:
    """A torch.optim.SGD holding only a learning rate, for a scheduler to read and write: the schedulers
    use nothing else (building a real one imports torch._dynamo on first use, about 1 s)."""
    opt = torch.optim.SGD.__new__(torch.optim.SGD)
    opt.param_groups, opt.defaults, opt._opt_called = [{"lr": lr}], {}, True
    return opt


def torch_schedule(schedule: dict, steps: int) -> torch.Tensor:
    """The learning rate of steps 0..steps-1: torch's scheduler value after `step` scheduler.step() calls
    (StepLR, CosineAnnealingLR; warmup_cosine: torch.linspace for the warm-up, CosineAnnealingLR from
    lr to min_lr over total - warmup steps, then min_lr)."""
    kind = schedule["kind"]
    if schedule["kind"] == "warmup_cosine":
        warmup, total = schedule["warmup"], schedule["total"]
        ramp = torch.linspace(0.0, schedule["lr"], warmup + 1, dtype=F64)[:warmup]
        cosine = torch_schedule(
            dict(kind="cosine", lr=schedule["lr"], T_max=total - warmup, eta_min=schedule["min_lr"]), total - warmup + 1
        )
        rest = torch.full((max(steps - total - 1, 0),), float(schedule["min_lr"]), dtype=F64)
        return torch.cat([ramp, cosine, rest])[:steps]
    opt = stand_in_optimizer(schedule["lr"])
    if kind == "step":
        scheduler = StepLR(opt, step_size=schedule["step_size"], gamma=schedule["gamma"])
    else:
        scheduler = CosineAnnealingLR(opt, T_max=schedule["T_max"], eta_min=schedule["eta_min"])
    values = []
    for _ in range(steps):
        values.append(scheduler.get_last_lr()[0])
        scheduler.step()
    return torch.tensor(values, dtype=F64)


def learner_schedule(impl, schedule: dict, steps: int) -> torch.Tensor:
    values = []
    for k in range(steps):
        value = impl.lr_at(k, dict(schedule))
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = float(value)
        if not isinstance(value, (int, float)):
            fail(f"lr_at({k}, {schedule}) should return a float, got {type(value).__name__}.")
        values.append(float(value))
    return torch.tensor(values, dtype=F64)


SCHEDULES = {
    "StepLR: lr 0.1, step_size 3, gamma 0.5": (dict(kind="step", lr=0.1, step_size=3, gamma=0.5), 20),
    "StepLR: lr 1, step_size 1, gamma 0.9": (dict(kind="step", lr=1.0, step_size=1, gamma=0.9), 30),
    "cosine: lr 0.1, T_max 10, eta_min 0.001": (dict(kind="cosine", lr=0.1, T_max=10, eta_min=0.001), 11),
    "cosine: lr 3e-4, T_max 100, eta_min 0": (dict(kind="cosine", lr=3e-4, T_max=100, eta_min=0.0), 101),
    "warmup_cosine: warmup 5, total 20": (dict(kind="warmup_cosine", lr=1e-3, min_lr=1e-5, warmup=5, total=20), 26),
    "warmup_cosine: no warm-up": (dict(kind="warmup_cosine", lr=0.5, min_lr=0.05, warmup=0, total=8), 12),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("schedule, steps", cases(SCHEDULES))
def test_lr_at_matches_torch_schedulers(impl, schedule, steps):
    """lr_at(step, schedule) for every step from 0: the value torch's scheduler holds after `step`
    calls of scheduler.step() (the output's index is the step)."""
    near = schedule_mistakes(schedule, steps)
    expected = torch_schedule(schedule, steps)
    got = learner_schedule(impl, schedule, steps)
    check_output(
        got,
        expected,
        name=f"[lr_at(step, schedule) for step in range({steps})]",
        of="",
        case=f"{schedule}",
        tol=TOL_LR.scaled(schedule["lr"]),
        near=near,
    )


# ---------------------------------------------------------------------------------------------------
# clip_grad_norm against torch.nn.utils.clip_grad_norm_

CLIP_SHAPES = [(3, 4), (5,), (2, 2, 2), ()]


def torch_clip(grads, max_norm, norm_type):
    """(clipped grads, total_norm) of torch.nn.utils.clip_grad_norm_ on parameters holding `grads`."""
    leaves = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for leaf, g in zip(leaves, grads):
        leaf.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(leaves, max_norm, norm_type)
    return [leaf.grad for leaf in leaves], total


def check_clip(impl, grads, max_norm, norm_type, case: str) -> None:
    call = f"clip_grad_norm(grads, max_norm={max_norm}, norm_type={norm_type})"
    near = clip_mistakes(grads, max_norm, norm_type)
    clipped, total = torch_clip(grads, max_norm, norm_type)
    out = call_checking_inputs(
        impl.clip_grad_norm, dict(grads=grads, max_norm=max_norm, norm_type=norm_type), call=call
    )
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[0], (list, tuple))):
        fail(f"{call} should return (clipped, total_norm): a list of tensors and a 0-dim tensor.")
    if len(out[0]) != len(grads):
        fail(f"{call} returned {len(out[0])} clipped tensors for {len(grads)} gradients.")
    t = TOL_CLIP64 if grads[0].dtype == F64 else TOL_CLIP32
    scale = max(scale_of(g) for g in grads)
    names = [f"clipped[{i}]" for i in range(len(grads))] + ["total_norm"]
    tols = [t.scaled(scale)] * len(grads) + [t.scaled(float(total))]
    check_outputs([*out[0], out[1]], [*clipped, total], names=names, of=call, case=case, tol=tols, near=near)


CLIPS = {
    "2-norm 5.5, clipped to 1": (2.0, 1.0),
    "2-norm, not clipped (max_norm 100)": (2.0, 100.0),
    "1-norm, clipped to 2": (1.0, 2.0),
    "3-norm, clipped to 0.5": (3.0, 0.5),
    "inf-norm, clipped to 0.1": (math.inf, 0.1),
    "inf-norm, not clipped": (math.inf, 50.0),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("norm_type, max_norm", cases(CLIPS))
def test_clip_grad_norm_matches_torch(impl, norm_type, max_norm, dtype):
    """Four gradients of mixed shapes (a matrix, a vector, a 3-d tensor, a scalar), clipped together."""
    gen = torch.Generator().manual_seed(7)
    grads = [randn(s, gen, dtype) for s in CLIP_SHAPES]
    shapes = ", ".join(shape_name(s) for s in CLIP_SHAPES)
    check_clip(impl, grads, max_norm, norm_type, f"{dtype_name(dtype)} gradients of shapes {shapes}")


def test_clip_grad_norm_by_hand(impl):
    """grads [3, 4] and [12]: the 2-norm is sqrt(9 + 16 + 144) = 13; max_norm 6.5 halves them (almost:
    the coefficient is 6.5 / (13 + 1e-6))."""
    grads = [torch.tensor([3.0, 4.0], dtype=F64), torch.tensor([12.0], dtype=F64)]
    check_clip(impl, grads, 6.5, 2.0, "float64 grads [3, 4] and [12], total norm 13")


# ---------------------------------------------------------------------------------------------------
# fit against the same loop made of torch's parts


def mlp(params, count, x):
    h = x
    for i in range(count):
        h = F.linear(h, params[i], params[count + i])
        if i < count - 1:
            h = torch.relu(h)
    return h


def torch_training_loop(
    weights,
    biases,
    X,
    y,
    loss,
    epochs,
    batch_size,
    lr,
    momentum=0.0,
    weight_decay=0.0,
    schedule=None,
    max_norm=None,
    seed=0,
    per_epoch=False,
    clip=True,
):
    """(weights, biases, losses tensor) from DataLoader, autograd, clip_grad_norm_, a StepLR or
    CosineAnnealingLR scheduler stepped after each batch (or each epoch: `per_epoch`) and
    torch.optim.SGD's update."""
    count = len(weights)
    params = [p.detach().clone().requires_grad_(True) for p in [*weights, *biases]]
    bufs, losses = [None] * len(params), []
    opt, scheduler = stand_in_optimizer(lr if schedule is None else schedule["lr"]), None
    if schedule is not None and schedule["kind"] == "step":
        scheduler = StepLR(opt, step_size=schedule["step_size"], gamma=schedule["gamma"])
    elif schedule is not None:
        scheduler = CosineAnnealingLR(opt, T_max=schedule["T_max"], eta_min=schedule["eta_min"])
    for e in range(epochs):
        loader = DataLoader(
            range(X.shape[0]), batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed + e)
        )
        for index in loader:
            out = mlp(params, count, X[index])
            value = F.cross_entropy(out, y[index]) if loss == "cross_entropy" else F.mse_loss(out, y[index])
            for p in params:
                p.grad = None
            value.backward()
            if max_norm is not None and clip:
                torch.nn.utils.clip_grad_norm_(params, max_norm)
            with torch.no_grad():
                functional_sgd(
                    params,
                    [p.grad for p in params],
                    bufs,
                    foreach=False,
                    lr=opt.param_groups[0]["lr"],
                    **sgd_options(dict(momentum=momentum, weight_decay=weight_decay)),
                )
            losses.append(float(value.detach()))
            if scheduler is not None and not per_epoch:
                scheduler.step()
        if scheduler is not None and per_epoch:
            scheduler.step()
    done = [p.detach() for p in params]
    return done[:count], done[count:], torch.tensor(losses, dtype=F64)


def fit_data(loss: str, n: int, sizes, seed: str):
    """Float64 data and starting parameters (torch.nn.init's Kaiming, seeded) for an MLP of `sizes`."""
    gen = generator(seed)
    X = randn((n, sizes[0]), gen)
    y = torch.randint(0, sizes[-1], (n,), generator=gen) if loss == "cross_entropy" else randn((n, sizes[-1]), gen)
    weights = [
        torch.nn.init.kaiming_uniform_(torch.empty(o, i, dtype=F64), generator=gen) for i, o in zip(sizes, sizes[1:])
    ]
    biases = [randn((o,), gen, F64, 0.1) for o in sizes[1:]]
    return weights, biases, X, y


def fit_result(out, count: int, call: str):
    if not (isinstance(out, (tuple, list)) and len(out) == 3):
        fail(f"{call} should return (weights, biases, losses).")
    weights, biases, losses = out
    for name, value in (("weights", weights), ("biases", biases)):
        if not isinstance(value, (list, tuple)) or len(value) != count:
            fail(f"{call} should return {name} as a list of {count} tensors.")
    if not isinstance(losses, (list, tuple)) or not all(isinstance(v, (int, float)) for v in losses):
        fail(f"{call} should return losses as a list of floats, one per step.")
    return list(weights), list(biases), torch.tensor([float(v) for v in losses], dtype=F64)


FITS = {
    "cross_entropy, lr 0.1": ("cross_entropy", dict(lr=0.1)),
    "cross_entropy, momentum 0.9, weight decay 1e-3, StepLR(4, 0.5)": (
        "cross_entropy",
        dict(lr=0.0, momentum=0.9, weight_decay=1e-3, schedule=dict(kind="step", lr=0.1, step_size=4, gamma=0.5)),
    ),
    "mse, cosine over 15 steps, clipped to 0.5": (
        "mse",
        dict(lr=0.0, schedule=dict(kind="cosine", lr=0.05, T_max=15, eta_min=0.0), max_norm=0.5),
    ),
    "mse, momentum 0.5, clipped to 0.1, seed 3": ("mse", dict(lr=0.05, momentum=0.5, max_norm=0.1, seed=3)),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("loss, hp", cases(FITS))
def test_fit_matches_torch_loop(impl, loss, hp):
    """fit on 48 examples, batches of 10 (the last of 8), 3 epochs: the losses of all 15 steps and the
    trained parameters equal those of the same loop made of DataLoader, clip_grad_norm_, StepLR or
    CosineAnnealingLR stepped after each batch, and torch.optim.SGD's update."""
    sizes = (3, 8, 4) if loss == "cross_entropy" else (3, 8, 2)
    weights, biases, X, y = fit_data(loss, 48, sizes, loss)
    args = dict(loss=loss, epochs=3, batch_size=10, **hp)
    expected = torch_training_loop(weights, biases, X, y, **args)
    predictions = []
    if "schedule" in hp:
        predictions.append(
            (MISTAKE["schedule-per-epoch"], lambda: torch_training_loop(weights, biases, X, y, per_epoch=True, **args))
        )
    if "max_norm" in hp:
        predictions.append(
            (MISTAKE["clip-after-update"], lambda: torch_training_loop(weights, biases, X, y, clip=False, **args))
        )

    def near():
        return [(m, [run()[2], *run()[0], *run()[1]]) for m, run in predictions]

    shown = ", ".join(f"{k}={v}" for k, v in args.items())
    call = f"fit(weights, biases, X, y, {shown})"
    out = impl.fit([w.clone() for w in weights], [b.clone() for b in biases], X.clone(), y.clone(), **args)
    got_w, got_b, got_losses = fit_result(out, len(weights), call)
    names = ["losses", *[f"weights[{i}]" for i in range(len(weights))], *[f"biases[{i}]" for i in range(len(biases))]]
    check_outputs(
        [got_losses, *got_w, *got_b],
        [expected[2], *expected[0], *expected[1]],
        names=names,
        of=call,
        case=f"float64, layer sizes {sizes}, the loop built from torch's parts as reference",
        tol=lambda e: TOL_FIT.scaled(scale_of(e)),
        near=near,
    )


def four_clusters(n: int, seed: int):
    """Points around (+-2, +-2), class k at the k-th corner, with standard deviation 0.6 per axis
    (a point is misclassified by the best boundary with probability about 2 * P(N > 3.3) = 0.1%)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=gen)
    corners = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]], dtype=F64)
    return corners[labels] + 0.6 * torch.randn(n, 2, generator=gen, dtype=F64), labels


@pytest.mark.points(2)
def test_fit_learns_four_clusters(impl):
    """A 2-16-4 ReLU network trained by fit (10 epochs of batches of 32, momentum 0.9, cosine schedule)
    classifies at least 97% of 400 new points of the four clusters correctly."""
    X, y = four_clusters(400, seed=1)
    X_test, y_test = four_clusters(400, seed=2)
    gen = torch.Generator().manual_seed(3)
    weights = [
        torch.nn.init.kaiming_uniform_(torch.empty(o, i, dtype=F64), generator=gen) for i, o in ((2, 16), (16, 4))
    ]
    biases = [torch.zeros(16, dtype=F64), torch.zeros(4, dtype=F64)]
    schedule = dict(kind="cosine", lr=0.1, T_max=130, eta_min=0.0)
    call = (
        "fit(weights, biases, X, y, 'cross_entropy', epochs=10, batch_size=32, lr=0.1, momentum=0.9, schedule=cosine)"
    )
    out = impl.fit(weights, biases, X, y, "cross_entropy", 10, 32, 0.1, momentum=0.9, schedule=schedule)
    got_w, got_b, losses = fit_result(out, 2, call)
    with torch.no_grad():
        predicted = mlp([*got_w, *got_b], 2, X_test).argmax(dim=1)
    accuracy = float((predicted == y_test).double().mean())
    if not accuracy >= 0.97:
        fail(
            f"{call}: {accuracy:.1%} of 400 test points classified correctly, expected at least 97% "
            f"(the loss went from {float(losses[0]):.4g} to {float(losses[-1]):.4g} over {len(losses)} steps)."
        )


@pytest.mark.points(2)
def test_fit_learns_a_regression(impl):
    """A 1-32-1 ReLU network fitted to y = sin(x) on [-3, 3] (200 points, batches of 20, 60 epochs,
    momentum 0.9, warm-up then cosine, clipping at 1) reaches a mean squared error below 0.01 (the
    reference reaches about 0.002; the target's variance is 0.47)."""
    gen = torch.Generator().manual_seed(4)
    X = torch.linspace(-3, 3, 200, dtype=F64).reshape(-1, 1)
    y = torch.sin(X)
    weights = [
        torch.nn.init.kaiming_uniform_(torch.empty(o, i, dtype=F64), generator=gen) for i, o in ((1, 32), (32, 1))
    ]
    biases = [randn((32,), gen, F64, 0.5), torch.zeros(1, dtype=F64)]
    schedule = dict(kind="warmup_cosine", lr=0.05, min_lr=1e-4, warmup=50, total=600)
    call = (
        "fit(weights, biases, X, y, 'mse', epochs=60, batch_size=20, lr=0.05, momentum=0.9, "
        "schedule=warmup_cosine, max_norm=1)"
    )
    out = impl.fit(weights, biases, X, y, "mse", 60, 20, 0.05, momentum=0.9, schedule=schedule, max_norm=1.0)
    got_w, got_b, _ = fit_result(out, 2, call)
    with torch.no_grad():
        error = float(F.mse_loss(mlp([*got_w, *got_b], 2, X), y))
    if not error < 0.01:
        fail(f"{call}: the mean squared error on the 200 points is {error:.4g}, expected below 0.01.")
