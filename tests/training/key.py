"""The training topic's answer key (grader/answers.py): what known mistakes output on a test's own
inputs, so that a wrong output is named after the mistake it matches. None of it is the oracle of a
test (torch.nn.init, DataLoader, torch.optim.SGD, lr_scheduler and clip_grad_norm_ are). A class
release ships these functions' results for the public tests, not this file.

Each function returns (mistake, prediction) pairs.
"""

import math

import torch

from grader.answers import recorded
from tests.training.mistakes import MISTAKE

_INT64 = torch.int64


def _fans(shape, receptive_field=True):
    receptive = math.prod(shape[2:]) if receptive_field else 1
    return shape[1] * receptive, shape[0] * receptive


@recorded
def init_bounds(kind, shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", gain=1.0):
    """(mistake, the bound of uniform(-bound, bound) it draws from) for kaiming_uniform (kind
    "kaiming", gain from torch.nn.init.calculate_gain) or xavier_uniform ("xavier")."""
    fan_in, fan_out = _fans(shape)
    bare_in, bare_out = _fans(shape, receptive_field=False)
    root3 = math.sqrt(3.0)
    if kind == "kaiming":
        g = torch.nn.init.calculate_gain(nonlinearity, a)
        fan, bare = (fan_in, bare_in) if mode == "fan_in" else (fan_out, bare_out)
        found = [(MISTAKE["kaiming-no-gain"], root3 / math.sqrt(fan))]
        if mode == "fan_in":
            found.append((MISTAKE["kaiming-fan-out"], root3 * g / math.sqrt(fan_out)))
        if len(shape) > 2:
            found.append((MISTAKE["fan-without-receptive-field"], root3 * g / math.sqrt(bare)))
        return found
    found = [(MISTAKE["xavier-fan-in-only"], root3 * gain * math.sqrt(1.0 / fan_in))]
    if len(shape) > 2:
        found.append((MISTAKE["fan-without-receptive-field"], root3 * gain * math.sqrt(2.0 / (bare_in + bare_out))))
    return found


def _draw(generator):
    torch.empty((), dtype=_INT64).random_(generator=generator)


def _cut(order, batch_size, stop):
    return [order[i : min(i + batch_size, stop)] for i in range(0, stop, batch_size)]


def _per_batch(generator, n, batch_size, stop):
    return [torch.randperm(n, generator=generator)[i : min(i + batch_size, stop)] for i in range(0, stop, batch_size)]


@recorded(lazy=True)
def batch_mistakes(n, batch_size, shuffle, drop_last, seed):
    """(mistake, the batches it gives) for batches(n, batch_size, shuffle, drop_last, generator) with
    a generator seeded with `seed`."""
    found = []
    full, stop = n - n % batch_size, (n - n % batch_size if drop_last else n)
    if not drop_last and n % batch_size:
        gen = torch.Generator().manual_seed(seed)
        _draw(gen)
        order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
        found.append((MISTAKE["last-batch-dropped"], _cut(order, batch_size, full)))
    if shuffle:
        gen = torch.Generator().manual_seed(seed)
        _draw(gen)
        found.append((MISTAKE["permutation-per-batch"], _per_batch(gen, n, batch_size, stop)))
        gen = torch.Generator().manual_seed(seed)
        found.append((MISTAKE["base-seed-not-drawn"], _cut(torch.randperm(n, generator=gen), batch_size, stop)))
    return found


@recorded(lazy=True)
def global_batch_mistakes(n, batch_size, drop_last, seed):
    """The same for shuffling with the global generator seeded with `seed` (which draws what a
    torch.Generator seeded with `seed` draws): DataLoader draws its base seed, then the seed of the
    sampler's own generator, which draws the permutation."""
    full, stop = n - n % batch_size, (n - n % batch_size if drop_last else n)

    def sampler(base_seed=True):
        gen = torch.Generator().manual_seed(seed)
        if base_seed:
            _draw(gen)
        return torch.Generator().manual_seed(int(torch.empty((), dtype=_INT64).random_(generator=gen).item()))

    found = []
    if not drop_last and n % batch_size:
        found.append((MISTAKE["last-batch-dropped"], _cut(torch.randperm(n, generator=sampler()), batch_size, full)))
    found.append((MISTAKE["permutation-per-batch"], _per_batch(sampler(), n, batch_size, stop)))
    order = torch.randperm(n, generator=sampler(base_seed=False))
    found.append((MISTAKE["base-seed-not-drawn"], _cut(order, batch_size, stop)))
    return found


def _sgd(
    params, grads, bufs, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False, mistake=None
):
    """(new_params, new_bufs) of one SGD step in float64, as written in the textbook order, or with `mistake`."""
    new_p, new_b = [], []
    for p, g, buf in zip(params, grads, bufs):
        dtype = p.dtype
        p, g = p.double(), g.double()
        buf = None if buf is None else buf.double()
        if maximize and mistake != "maximize-ignored":
            g = -g
        if weight_decay and mistake != "weight-decay-after-momentum":
            g = g + weight_decay * p
        if momentum:
            if buf is None:
                first = mistake in ("momentum-buffer-zero-start", "dampening-on-first-step")
                buf = (1 - dampening) * g if first else g.clone()
            else:
                buf = momentum * buf + (1 - dampening) * g
            if nesterov and mistake != "nesterov-buffer-only":
                g = g + momentum * buf
            else:
                g = buf
        if weight_decay and mistake == "weight-decay-after-momentum":
            g = g + weight_decay * p
        new_p.append((p - lr * g).to(dtype))
        new_b.append(None if buf is None else buf.to(dtype))
    return new_p, new_b


SGD_MISTAKES = (
    "momentum-buffer-zero-start",
    "dampening-on-first-step",
    "nesterov-buffer-only",
    "weight-decay-after-momentum",
    "maximize-ignored",
)


@recorded(lazy=True)
def sgd_mistakes(params, grads, bufs, lr, **hp):
    """(mistake, [new params..., new bufs...]) for one sgd_step call under each SGD mistake (a buffer
    that is None is not predicted)."""
    found = []
    for name in SGD_MISTAKES:
        new_p, new_b = _sgd(params, grads, bufs, lr, mistake=name, **hp)
        found.append((MISTAKE[name], [*new_p, *new_b]))
    return found


def _schedule(step, s, mistake=None):
    kind, lr = s["kind"], s["lr"]
    if kind == "step":
        shift = 1 if mistake == "steplr-one-step-early" else 0
        return lr * s["gamma"] ** ((step + shift) // s["step_size"])
    if kind == "cosine":
        t_max = s["T_max"] - (1 if mistake == "cosine-t-max-minus-one" else 0)
        return s["eta_min"] + (lr - s["eta_min"]) * (1 + math.cos(math.pi * step / t_max)) / 2
    warmup, total, low = s["warmup"], s["total"], s["min_lr"]
    if step < warmup:
        return lr * (step + (1 if mistake == "warmup-starts-above-zero" else 0)) / warmup
    if step > total:
        return low
    return low + (lr - low) * (1 + math.cos(math.pi * (step - warmup) / (total - warmup))) / 2


@recorded(lazy=True)
def schedule_mistakes(schedule, steps):
    """(mistake, [the rates of steps 0..steps-1 as a float64 tensor]) for the schedule's mistakes."""
    names = {
        "step": ["steplr-one-step-early"],
        "cosine": ["cosine-t-max-minus-one"],
        "warmup_cosine": ["warmup-starts-above-zero"] if schedule.get("warmup") else [],
    }[schedule["kind"]]
    return [
        (MISTAKE[name], [torch.tensor([_schedule(k, schedule, name) for k in range(steps)], dtype=torch.float64)])
        for name in names
    ]


@recorded(lazy=True)
def clip_mistakes(grads, max_norm, norm_type):
    """(mistake, [clipped grads..., total_norm or None]) for clip_grad_norm's mistakes."""
    norms = [torch.linalg.vector_norm(g, norm_type) for g in grads]
    total = torch.linalg.vector_norm(torch.stack(norms), norm_type)
    own = [g * torch.clamp(max_norm / (n + 1e-6), max=1.0) for g, n in zip(grads, norms)]
    up = [g * (max_norm / (total + 1e-6)) for g in grads]
    return [(MISTAKE["clip-per-tensor"], [*own, None]), (MISTAKE["clip-scales-up"], [*up, total])]
