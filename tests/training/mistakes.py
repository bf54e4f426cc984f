"""The training loop's known mistakes: the sentence a learner sees when their output looks like one.

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[kaiming-no-gain]`. What each mistake outputs is computed in `key.py` (the answer key) or, where
torch's own parts with other arguments give it, in the public tests; a wrong output is named only
after a mistake whose prediction matches it. The mutants that commit each mistake (patches of the
reference, used by `make check`) are in `mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    # initialisation
    Mistake(
        "kaiming-no-gain",
        "the Kaiming bound leaves out the gain; bound = sqrt(3) * gain / sqrt(fan), with gain sqrt(2) for "
        "relu and sqrt(2 / (1 + a**2)) for leaky_relu (torch.nn.init.calculate_gain).",
    ),
    Mistake(
        "kaiming-fan-out",
        "the Kaiming bound uses fan_out (shape[0] times the receptive field) under mode='fan_in'; for a "
        "weight of shape (out, in, ...), fan_in is in * receptive field, the size of dimension 1.",
    ),
    Mistake(
        "xavier-fan-in-only",
        "the Xavier bound uses fan_in only; xavier_uniform averages both fans: "
        "bound = gain * sqrt(6 / (fan_in + fan_out)).",
    ),
    Mistake(
        "fan-without-receptive-field",
        "the fans leave out the receptive field; for a convolution weight (out, in, kh, kw) fan_in is "
        "in * kh * kw and fan_out is out * kh * kw.",
    ),
    # batches
    Mistake(
        "last-batch-dropped",
        "the last, shorter batch is lost with drop_last=False; DataLoader keeps it (n = 10, batch_size 3 "
        "gives batches of 3, 3, 3 and 1).",
    ),
    Mistake(
        "permutation-per-batch",
        "each batch is cut from a new permutation; draw ONE permutation per epoch and cut it into "
        "consecutive batches, so that every index appears exactly once.",
    ),
    Mistake(
        "base-seed-not-drawn",
        "the order is not DataLoader's: its iterator first draws one int64 from the generator (its base "
        "seed, `torch.empty((), dtype=torch.int64).random_(generator=generator)`), and only then the "
        "permutation.",
    ),
    # sgd_step
    Mistake(
        "momentum-buffer-zero-start",
        "the momentum buffer starts at zero and is then updated, so the first step's buffer is "
        "(1 - dampening) * grad; torch.optim.SGD starts it AT the first gradient (buf = grad).",
    ),
    Mistake(
        "dampening-on-first-step",
        "dampening is applied on the first step; torch.optim.SGD's first buffer is the gradient itself, "
        "and (1 - dampening) scales the gradient only from the second step on.",
    ),
    Mistake(
        "nesterov-buffer-only",
        "with nesterov=True the update uses the buffer alone; Nesterov's update is "
        "grad + momentum * buf (with the new buffer).",
    ),
    Mistake(
        "weight-decay-after-momentum",
        "weight decay is added after the momentum; torch.optim.SGD adds weight_decay * param to the "
        "gradient first, and the buffer averages that sum.",
    ),
    Mistake(
        "maximize-ignored",
        "maximize=True is ignored; it negates the gradient first (before weight decay and momentum), so "
        "the parameters go uphill.",
    ),
    Mistake(
        "sgd-inputs-modified",
        "the inputs are modified in place (p.sub_(...), buf.mul_(...)); build new tensors so the caller's "
        "params, grads and bufs stay as they were.",
    ),
    # lr_at
    Mistake(
        "steplr-one-step-early",
        "the step schedule decays one step early; StepLR gives lr * gamma ** (step // step_size): the "
        "first decay is AT step step_size, not at step_size - 1.",
    ),
    Mistake(
        "cosine-t-max-minus-one",
        "the cosine reaches its minimum at T_max - 1; CosineAnnealingLR's angle is pi * step / T_max, "
        "reaching eta_min at step T_max.",
    ),
    Mistake(
        "warmup-starts-above-zero",
        "the warm-up starts at lr / warmup; at step 0 the rate is 0, lr * step / warmup, and it reaches "
        "lr at step == warmup, where the cosine starts.",
    ),
    # clip_grad_norm
    Mistake(
        "clip-per-tensor",
        "each tensor is clipped by its own norm; clip_grad_norm_ takes ONE norm over all the tensors "
        "together (the norm of the per-tensor norms) and scales every tensor by the same coefficient.",
    ),
    Mistake(
        "clip-scales-up",
        "gradients are scaled up when their norm is below max_norm; the coefficient "
        "max_norm / (total_norm + 1e-6) is clamped to at most 1.",
    ),
    # fit
    Mistake(
        "schedule-per-epoch",
        "the schedule is stepped per epoch; the learning rate of step k (counted over all batches of all "
        "epochs, from 0) is lr_at(k, schedule).",
    ),
    Mistake(
        "clip-after-update",
        "the gradients are clipped after the update, so the update uses them unclipped; clip first, "
        "then call sgd_step with the clipped gradients.",
    ),
]

MISTAKE = by_id(MISTAKES)
