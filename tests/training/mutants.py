"""Mutants of solutions/training.py, one or more per known mistake, correct alternatives, and
do-nothing implementations.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, pass on every alternative, and fail every test on a trivial
implementation. This file quotes the reference, so like `test_hidden.py` it stays with the project
and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

KAIMING_GAIN = "gain = _gain(nonlinearity, a)"
FAN_CHOICE = 'fan = fan_in if mode == "fan_in" else fan_out'
XAVIER_STD = "std = gain * math.sqrt(2.0 / float(fan_in + fan_out))"
BASE_SEED = "    torch.empty((), dtype=torch.int64).random_(generator=generator)  # DataLoader's base seed\n"
STOP = "stop = n - n % batch_size if drop_last else n"
CUT = "return [order[start : min(start + batch_size, stop)] for start in range(0, stop, batch_size)]"
FIRST_BUF = "buf = g.clone()"
NESTEROV = "            g = g + momentum * buf if nesterov else buf\n"
CLIP_RETURN = "return [g * coef for g in grads], total_norm"

BUF_FIRST = (
    "            if buf is None:\n                buf = g.clone()\n"
    "            else:\n                buf = momentum * buf"
)
BUF_ZERO = "            if buf is None:\n                buf = torch.zeros_like(g)\n            buf = momentum * buf"
DECAY = "        if weight_decay != 0:\n            g = g + weight_decay * p\n"
APPEND = "        new_params.append(p - lr * g)"
PER_BATCH = (
    "fresh = [torch.randperm(n, generator=generator) if shuffle else order for _ in range(0, stop, batch_size)]\n"
    "    return [f[s : min(s + batch_size, stop)] for f, s in zip(fresh, range(0, stop, batch_size))]"
)
OWN_NORM = (
    "own = [torch.linalg.vector_norm(g, norm_type) for g in grads]\n"
    "    return [g * torch.clamp(max_norm / (m + 1e-6), max=1.0) for g, m in zip(grads, own)], total_norm"
)
CLIP_IN_FIT = "            if max_norm is not None:\n                grads, _ = clip_grad_norm(grads, max_norm)\n"
LOSS_APPEND = "            losses.append(value.item())"
COSINE = 'return low + (lr - low) * (1 + math.cos(math.pi * step / schedule["T_max"])) / 2'
STEP_LR = 'return lr * schedule["gamma"] ** (step // schedule["step_size"])'
NORMS = (
    "    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])\n"
    "    total_norm = torch.linalg.vector_norm(norms, norm_type)\n"
)
NORMS_BY_LOOP = (
    "    if norm_type == float('inf'):\n"
    "        total = max(float(g.abs().max()) if g.numel() else 0.0 for g in grads)\n"
    "    else:\n"
    "        total = sum(float((g.double().abs() ** norm_type).sum()) for g in grads) ** (1.0 / norm_type)\n"
    "    total_norm = torch.tensor(total, dtype=grads[0].dtype)\n"
)

MUTANTS = [
    Mutant("kaiming-no-gain", {KAIMING_GAIN: "gain = 1"}),
    Mutant("kaiming-fan-out", {FAN_CHOICE: "fan = fan_out"}),
    Mutant("xavier-fan-in-only", {XAVIER_STD: "std = gain * math.sqrt(1.0 / float(fan_in))"}),
    Mutant("fan-without-receptive-field", {"receptive *= size": "receptive *= 1"}),
    Mutant("last-batch-dropped", {STOP: "stop = n - n % batch_size"}),
    Mutant("permutation-per-batch", {CUT: PER_BATCH}),
    Mutant("base-seed-not-drawn", {BASE_SEED: ""}),
    Mutant("momentum-buffer-zero-start", {BUF_FIRST: BUF_ZERO}),
    Mutant("dampening-on-first-step", {FIRST_BUF: "buf = (1 - dampening) * g"}),
    Mutant("nesterov-buffer-only", {NESTEROV: "            g = buf\n"}),
    Mutant("weight-decay-after-momentum", {DECAY: "", APPEND: DECAY + APPEND}),
    Mutant("maximize-ignored", {"        g = -grad if maximize else grad\n": "        g = grad\n"}),
    Mutant("sgd-inputs-modified", {APPEND: "        new_params.append(p.sub_(lr * g))"}),
    Mutant("steplr-one-step-early", {'(step // schedule["step_size"])': '((step + 1) // schedule["step_size"])'}),
    Mutant(
        "cosine-t-max-minus-one", {'math.pi * step / schedule["T_max"]': 'math.pi * step / (schedule["T_max"] - 1)'}
    ),
    Mutant("warmup-starts-above-zero", {"return lr * step / warmup": "return lr * (step + 1) / warmup"}),
    Mutant("clip-per-tensor", {CLIP_RETURN: OWN_NORM}),
    Mutant(
        "clip-scales-up",
        {"coef = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)": "coef = max_norm / (total_norm + 1e-6)"},
    ),
    Mutant("schedule-per-epoch", {"lr_at(step, schedule)": "lr_at(epoch, schedule)"}),
    Mutant("clip-after-update", {CLIP_IN_FIT: "", LOSS_APPEND: CLIP_IN_FIT + LOSS_APPEND}),
]

ALTERNATIVES = [
    Alternative(
        "float64-sgd",
        "sgd_step computes in float64 and rounds the results to the parameter's dtype",
        {
            "        g = -grad if maximize else grad\n": "        dtype = p.dtype\n"
            "        p, grad = p.double(), grad.double()\n"
            "        buf = None if buf is None else buf.double()\n"
            "        g = -grad if maximize else grad\n",
            APPEND + "\n        new_bufs.append(buf)": "        new_params.append((p - lr * g).to(dtype))\n"
            "        new_bufs.append(None if buf is None else buf.to(dtype))",
        },
    ),
    Alternative(
        "torch-style-sgd",
        "torch's own arithmetic on copies: add with alpha, mul_ / add_ on a cloned buffer",
        {
            "            g = g + weight_decay * p\n": "            g = g.add(p, alpha=weight_decay)\n",
            "buf = momentum * buf + (1 - dampening) * g": (
                "buf = buf.clone().mul_(momentum).add_(g, alpha=1 - dampening)"
            ),
            NESTEROV: "            g = g.add(buf, alpha=momentum) if nesterov else buf\n",
            APPEND: "        new_params.append(p.add(g, alpha=-lr))",
        },
    ),
    Alternative(
        "norm-by-loop",
        "the norms written with sums of powers (in float64) and the max of |g|, instead of vector_norm",
        {NORMS: NORMS_BY_LOOP},
    ),
    Alternative(
        "cosine-by-squared-cosine",
        "the cosine schedule as eta_min + (lr - eta_min) * cos(pi * t / (2 T))**2 (the same number)",
        {COSINE: 'return low + (lr - low) * math.cos(math.pi * step / (2 * schedule["T_max"])) ** 2'},
    ),
    Alternative(
        "step-schedule-by-loop",
        "StepLR's rate by multiplying gamma once per finished period, as the scheduler does",
        {
            STEP_LR: 'for _ in range(step // schedule["step_size"]):\n'
            '            lr = lr * schedule["gamma"]\n        return lr'
        },
    ),
    Alternative(
        "fit-with-f-linear",
        "fit's forward pass with F.linear, the cross-entropy by log_softmax and gather",
        {
            "h = h @ leaves[i].T + leaves[count + i]": "h = F.linear(h, leaves[i], leaves[count + i])",
            "value = F.cross_entropy(h, y[index])": "value = -F.log_softmax(h, dim=1)"
            ".gather(1, y[index][:, None]).mean()",
        },
    ),
    Alternative(
        "batches-by-split",
        "batches with torch.split of the order (the remainder removed first when drop_last)",
        {CUT: "return list(torch.split(order[:stop], batch_size)) if stop else []"},
    ),
]

TRIVIAL = [
    Trivial(
        "returns-inputs",
        "zeros for the initialisers, batches of one index in order, the parameters unchanged, lr as given, the "
        "gradients unclipped, fit returning its inputs",
        (
            "return shape[1], shape[0]",
            "return 1",
            "return torch.zeros(tuple(shape))",
            "return torch.zeros(tuple(shape))",
            "return [torch.arange(n)[i : i + 1] for i in range(n)]",
            "return [p.clone() for p in params], list(bufs)",
            'return schedule["lr"]',
            "return [g.clone() for g in grads], torch.tensor(0.0)",
            "return [w.clone() for w in weights], [b.clone() for b in biases], []",
        ),
    ),
]

# Mistakes that give exactly the same output on every input, where naming both is true (make check
# fails a mutant whose failures name any other mistake than its own).
COINCIDENCES = {
    frozenset({"momentum-buffer-zero-start", "dampening-on-first-step"}): "a buffer started at zero and then "
    "updated is (1 - dampening) * grad after the first step, exactly what dampening the first step gives",
}
