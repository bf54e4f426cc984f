"""The training loop's parts, hidden tests: every SGD option combination over 200 steps against the
torch.optim.SGD class itself, more gains and shapes for the initialisers, more batch layouts, longer
schedules, edge cases of clipping (zero gradients, one tensor, large values) and fit with three
layers against torch.optim.SGD and its schedulers.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import itertools
import math

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, StepLR

from grader.kit import F32, F64, cases, check_outputs, dtype_name, randn, scale_of
from tests.training.key import batch_mistakes, init_bounds, schedule_mistakes
from tests.training.mistakes import MISTAKE
from tests.training.test_public import (
    SHAPES,
    TOL_FIT,
    TOL_LR,
    batch_call,
    call_init,
    check_batches,
    check_clip,
    check_init_values,
    check_sgd_trajectory,
    fit_data,
    fit_result,
    gradient_sequences,
    init_call,
    learner_schedule,
    mlp,
    torch_bound,
    torch_init,
    torch_schedule,
    torch_training_loop,
)

# The first torch.optim.SGD(...) of a process imports torch._dynamo (about 1 s, far more on a busy
# machine): done here, once, so that no test's time depends on it.
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def every_combination():
    """Every valid option combination of torch.optim.SGD (Nesterov needs momentum and no dampening)."""
    table = {}
    for momentum, dampening, nesterov, maximize, weight_decay in itertools.product(
        (0.0, 0.9), (0.0, 0.5), (False, True), (False, True), (0.0, 0.1)
    ):
        if (momentum == 0 and (dampening or nesterov)) or (nesterov and dampening):
            continue
        hp = dict(
            momentum=momentum, dampening=dampening, nesterov=nesterov, maximize=maximize, weight_decay=weight_decay
        )
        for dtype in (F32, F64):
            words = ", ".join(f"{k} {v}" for k, v in hp.items() if v) or "plain"
            table[f"{words}, {dtype_name(dtype)}"] = (dtype, hp)
    return table


@pytest.mark.points(3)
@pytest.mark.parametrize("dtype, hp", cases(every_combination()))
def test_sgd_every_option_combination(impl, dtype, hp):
    """200 calls of sgd_step follow torch.optim.SGD for every valid combination of momentum, dampening,
    nesterov, maximize and weight decay, in float32 and float64."""
    gen = torch.Generator().manual_seed(40)
    params0 = [randn(s, gen, dtype) for s in SHAPES]
    grads = gradient_sequences(SHAPES, 200, dtype, seed=41)
    check_sgd_trajectory(impl, params0, grads, 0.02, hp, f"{dtype_name(dtype)}, shapes {SHAPES}")


INITS = {
    "kaiming (10, 20), selu": ("kaiming", (10, 20), dict(nonlinearity="selu")),
    "kaiming (10, 20), sigmoid, fan_out": ("kaiming", (10, 20), dict(nonlinearity="sigmoid", mode="fan_out")),
    "kaiming (7, 9), linear": ("kaiming", (7, 9), dict(nonlinearity="linear")),
    "kaiming (5, 6), leaky_relu a=0.01": ("kaiming", (5, 6), dict(a=0.01)),
    "kaiming conv1d (4, 3, 5), conv1d": ("kaiming", (4, 3, 5), dict(nonlinearity="conv1d")),
    "kaiming conv3d (2, 3, 2, 2, 2), relu": ("kaiming", (2, 3, 2, 2, 2), dict(nonlinearity="relu")),
    "xavier (1, 100)": ("xavier", (1, 100), dict()),
    "xavier conv (3, 5, 2, 4), gain 0.5": ("xavier", (3, 5, 2, 4), dict(gain=0.5)),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("kind, shape, kw", cases(INITS))
def test_init_more_gains_and_shapes(impl, kind, shape, kw):
    """Exactly torch.nn.init's numbers for every gain of calculate_gain and 3-d and 5-d weights."""
    call = init_call(kind, shape, {**kw, "generator": "g"})
    bound = torch_bound(kind, shape, kw)
    wrong = init_bounds(kind, shape, **kw)
    mine, theirs = torch.Generator().manual_seed(99), torch.Generator().manual_seed(99)
    expected = torch_init(kind, shape, kw, theirs)
    check_init_values(
        call_init(impl, kind, shape, kw, mine), expected, call, "a generator seeded with 99", wrong, bound
    )


MORE_BATCHES = {
    "n 1, batch 1, shuffled": (1, 1, True, False),
    "n 1000, batch 64, shuffled, drop_last": (1000, 64, True, True),
    "n 1000, batch 64, shuffled": (1000, 64, True, False),
    "n 9, batch 3, drop_last (no remainder)": (9, 3, True, True),
    "n 5, batch 2, in order": (5, 2, False, False),
}


@pytest.mark.parametrize("n, batch_size, shuffle, drop_last", cases(MORE_BATCHES))
def test_batches_more_layouts(impl, n, batch_size, shuffle, drop_last):
    """DataLoader's batches exactly, for one index, a thousand, and layouts with no remainder."""
    call = batch_call(n, batch_size, shuffle, drop_last)
    from torch.utils.data import DataLoader

    mine, theirs = torch.Generator().manual_seed(n), torch.Generator().manual_seed(n)
    expected = list(DataLoader(range(n), batch_size, shuffle=shuffle, drop_last=drop_last, generator=theirs))
    got = impl.batches(n, batch_size, shuffle=shuffle, drop_last=drop_last, generator=mine)
    check_batches(
        got, expected, call, f"a generator seeded with {n}", batch_mistakes(n, batch_size, shuffle, drop_last, n)
    )
    assert torch.equal(mine.get_state(), theirs.get_state()), f"{call}: the generator advanced differently"


def test_batches_two_epochs_from_one_generator(impl):
    """Two epochs drawn one after the other from one generator: DataLoader's two epochs (its draws
    decide where the second epoch starts)."""
    from torch.utils.data import DataLoader

    mine, theirs = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    loader = DataLoader(range(23), 5, shuffle=True, generator=theirs)
    for epoch in range(2):
        expected = list(loader)
        got = impl.batches(23, 5, shuffle=True, generator=mine)
        check_batches(got, expected, "batches(23, 5, shuffle=True, generator=g)", f"epoch {epoch}", lambda: [])


SCHEDULES = {
    "StepLR: step_size 7, gamma 0.1, 50 steps": (dict(kind="step", lr=0.5, step_size=7, gamma=0.1), 50),
    "StepLR: gamma 1.5 (growing)": (dict(kind="step", lr=0.5, step_size=2, gamma=1.5), 10),
    "cosine: T_max 1": (dict(kind="cosine", lr=0.5, T_max=1, eta_min=0.1), 2),
    "cosine: T_max 1000, eta_min 1e-6": (dict(kind="cosine", lr=1e-3, T_max=1000, eta_min=1e-6), 1001),
    "warmup_cosine: warmup 1, total 2": (dict(kind="warmup_cosine", lr=1.0, min_lr=0.0, warmup=1, total=2), 6),
    "warmup_cosine: warmup 100, total 1000": (
        dict(kind="warmup_cosine", lr=6e-4, min_lr=6e-5, warmup=100, total=1000),
        1100,
    ),
}


@pytest.mark.parametrize("schedule, steps", cases(SCHEDULES))
def test_lr_at_longer_and_edge_schedules(impl, schedule, steps):
    """lr_at against torch's schedulers over long runs and one-step periods."""
    from grader.kit import check_output

    near = schedule_mistakes(schedule, steps)
    check_output(
        learner_schedule(impl, schedule, steps),
        torch_schedule(schedule, steps),
        name=f"[lr_at(step, schedule) for step in range({steps})]",
        of="",
        case=str(schedule),
        tol=TOL_LR.scaled(schedule["lr"]),
        near=near,
    )


CLIP_EDGES = {
    "tiny gradients (1e-8), float64": ([torch.full((3, 2), 1e-8, dtype=F64), torch.zeros(4, dtype=F64)], 1.0, 2.0),
    "one tensor, float64, clipped": ([torch.linspace(-5, 5, 11, dtype=F64)], 1.0, 2.0),
    "large values (1e15), float64, inf-norm": (
        [torch.tensor([1e15, -3e15], dtype=F64), torch.ones(2, 2, dtype=F64)],
        1.0,
        math.inf,
    ),
    "norm equal to max_norm": ([torch.tensor([3.0, 4.0])], 5.0, 2.0),
    "1-norm of 6 tensors": ([torch.full((k,), float(k)) for k in range(1, 7)], 10.0, 1.0),
}


@pytest.mark.parametrize("grads, max_norm, norm_type", cases(CLIP_EDGES))
def test_clip_grad_norm_edges(impl, grads, max_norm, norm_type):
    """clip_grad_norm_ on tiny gradients (the 1e-6 matters), a single tensor, huge values and a norm at the limit."""
    check_clip(impl, grads, max_norm, norm_type, "an edge case")


def real_torch_loop(weights, biases, X, y, loss, epochs, batch_size, schedule, **hp):
    """fit written with the torch.optim.SGD class, a real scheduler and clip_grad_norm_."""
    from torch.utils.data import DataLoader

    count = len(weights)
    params = [p.detach().clone().requires_grad_(True) for p in [*weights, *biases]]
    opt = torch.optim.SGD(
        params,
        lr=schedule["lr"],
        momentum=hp.get("momentum", 0.0),
        foreach=False,
        weight_decay=hp.get("weight_decay", 0.0),
    )
    if schedule["kind"] == "step":
        scheduler = StepLR(opt, step_size=schedule["step_size"], gamma=schedule["gamma"])
    else:
        scheduler = CosineAnnealingLR(opt, T_max=schedule["T_max"], eta_min=schedule["eta_min"])
    losses = []
    for epoch in range(epochs):
        loader = DataLoader(range(X.shape[0]), batch_size, shuffle=True, generator=torch.Generator().manual_seed(epoch))
        for index in loader:
            opt.zero_grad()
            out = mlp(params, count, X[index])
            value = (
                torch.nn.functional.cross_entropy(out, y[index])
                if loss == "cross_entropy"
                else torch.nn.functional.mse_loss(out, y[index])
            )
            value.backward()
            if hp.get("max_norm") is not None:
                torch.nn.utils.clip_grad_norm_(params, hp["max_norm"])
            opt.step()
            scheduler.step()
            losses.append(value.item())
    done = [p.detach() for p in params]
    return done[:count], done[count:], torch.tensor(losses, dtype=F64)


FITS = {
    "cross_entropy, 3 layers, momentum, StepLR, clipping": (
        "cross_entropy",
        dict(momentum=0.9, weight_decay=1e-4, max_norm=1.0),
        dict(kind="step", lr=0.05, step_size=5, gamma=0.7),
    ),
    "mse, 3 layers, cosine": ("mse", dict(momentum=0.5), dict(kind="cosine", lr=0.02, T_max=20, eta_min=1e-3)),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("loss, hp, schedule", cases(FITS))
def test_fit_against_torch_optim_sgd_class(impl, loss, hp, schedule):
    """fit with three layers against torch.optim.SGD, StepLR / CosineAnnealingLR and clip_grad_norm_
    used as a training script uses them."""
    sizes = (4, 6, 5, 3)
    weights, biases, X, y = fit_data(loss, 40, sizes, f"hidden {loss}")
    expected = real_torch_loop(weights, biases, X, y, loss, 4, 8, schedule, **hp)
    call = f"fit(weights, biases, X, y, {loss!r}, epochs=4, batch_size=8, schedule={schedule}, {hp})"
    out = impl.fit(weights, biases, X, y, loss, 4, 8, 0.0, schedule=schedule, **hp)
    got_w, got_b, losses = fit_result(out, 3, call)
    predictions = [
        (
            MISTAKE["schedule-per-epoch"],
            lambda: torch_training_loop(
                weights, biases, X, y, loss, 4, 8, 0.0, schedule=schedule, per_epoch=True, **hp
            ),
        ),
    ]
    check_outputs(
        [losses, *got_w, *got_b],
        [expected[2], *expected[0], *expected[1]],
        names=["losses", *[f"weights[{i}]" for i in range(3)], *[f"biases[{i}]" for i in range(3)]],
        of=call,
        case="float64, 40 examples, batches of 8, torch.optim.SGD as reference",
        tol=lambda e: TOL_FIT.scaled(scale_of(e)),
        near=lambda: [(m, [run()[2], *run()[0], *run()[1]]) for m, run in predictions],
    )
