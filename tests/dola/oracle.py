"""Oracles for the DoLa suite, all computed in float64 on the test's side.

- `jsd`: the Jensen-Shannon divergence from PyTorch's own KL divergence (`F.kl_div`, the primary
  oracle of the public suite; the hidden suite adds `scipy.spatial.distance.jensenshannon ** 2`).
- `predict_*`: each step of DoLa as the paper and the issue define it, built on `F.log_softmax` and
  `jsd`, with a switch `mistake=` that reproduces each known mistake. They serve as oracles where
  PyTorch has no DoLa of its own (composed from PyTorch pieces, written independently of the
  reference) and name the mistake a wrong output looks like.
- `final_layer_greedy`: plain greedy decoding of the model's output, the oracle for alpha = 1 and
  repetition_penalty = 1, which needs no DoLa at all.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tests.dola.mistakes import MISTAKE

f64 = torch.float64

JSD_MISTAKES = ["kl-reversed", "log-base-2", "mean-over-vocabulary", "jsd-not-halved"]
SELECT_MISTAKES = ["argmin", "one-layer-per-batch", "kl-reversed"]
CONTRAST_MISTAKES = [
    "threshold-absolute",
    "plausibility-from-premature",
    "contrast-raw-logits",
    "contrast-reversed",
    "implausible-zero",
]
PENALTY_MISTAKES = ["penalty-divides-negative", "penalty-counts-repeats"]
GREEDY_MISTAKES = (
    ["prompt-forgotten", "penalty-before-contrast"] + SELECT_MISTAKES + CONTRAST_MISTAKES + PENALTY_MISTAKES
)

# Tolerances, with their reasons.
# float64: every quantity here is a short sum (64 terms) of values of order 1 to 20: rounding stays
# near 1e-14; 1e-10 leaves room for any valid order of the arithmetic (entropy form, logaddexp).
TOL64 = dict(rtol=1e-10, atol=1e-10)
# float32 divergences: sums of 64 terms each rounded at ~6e-8 relative; the entropy form
# H(M) - (H(P) + H(Q)) / 2 cancels terms of size up to log V = 4.2, so a correct float32 answer
# may be off by ~1e-6 absolute. `python -m tests.dola.margins` measures how much the reference
# and the alternatives use.
TOL32_JSD = dict(rtol=1e-4, atol=5e-6)
# float32 scores (log-probabilities and their differences, up to ~30 in size): log_softmax
# rounds at ~2e-6 on values of order 10-30.
TOL32_SCORES = dict(rtol=1e-5, atol=2e-5)


def tol(dtype, kind="scores"):
    if dtype == f64:
        return TOL64
    return TOL32_JSD if kind == "jsd" else TOL32_SCORES


def _kl(a, log_b):
    """KL(A || B) summed over the last dimension, with F.kl_div (0 where A is 0)."""
    return F.kl_div(log_b.masked_fill(a == 0, 0.0), a, reduction="none").sum(-1)


def jsd(p_logits, q_logits, mistake: str | None = None):
    """JSD(softmax(p), softmax(q)) in float64 (natural log, summed), or as `mistake` computes it."""
    log_p = F.log_softmax(p_logits.detach().to(f64), dim=-1)
    log_q = F.log_softmax(q_logits.detach().to(f64), dim=-1)
    p = log_p.exp()
    q = log_q.exp()
    m = (p + q) / 2
    log_m = m.log()
    if mistake == "kl-reversed":  # KL(M || P) / 2 + KL(M || Q) / 2
        with torch.no_grad():
            return 0.5 * _kl(m, log_p) + 0.5 * _kl(m, log_q)
    value = 0.5 * _kl(p, log_m) + 0.5 * _kl(q, log_m)
    if mistake == "log-base-2":
        return value / math.log(2.0)
    if mistake == "mean-over-vocabulary":
        return value / p.shape[-1]
    if mistake == "jsd-not-halved":
        return 2 * value
    return value


def jsd_near(p_logits, q_logits, dtype):
    """Predicted outputs of the JSD mistakes (lazy: called only when a check fails)."""
    return lambda: [(MISTAKE[m], jsd(p_logits, q_logits, m).to(dtype)) for m in JSD_MISTAKES]


def predict_select(final_logits, candidate_logits, mistake: str | None = None):
    """(B,) index of the farthest candidate per example, or as `mistake` chooses."""
    divergence = jsd(
        final_logits.unsqueeze(0).expand_as(candidate_logits),
        candidate_logits,
        mistake if mistake in JSD_MISTAKES else None,
    )  # (L, B)
    if mistake == "argmin":
        return divergence.argmin(dim=0)
    if mistake == "one-layer-per-batch":
        return divergence.mean(dim=1).argmax().expand(divergence.shape[1]).clone()
    return divergence.argmax(dim=0)


def select_near(final_logits, candidate_logits):
    return lambda: [(MISTAKE[m], predict_select(final_logits, candidate_logits, m)) for m in SELECT_MISTAKES]


def predict_contrast(final_logits, premature_logits, alpha=0.1, mistake: str | None = None):
    """DoLa's contrast in float64, or as `mistake` computes it."""
    log_p = F.log_softmax(final_logits.detach().to(f64), dim=-1)
    log_q = F.log_softmax(premature_logits.detach().to(f64), dim=-1)
    if mistake == "threshold-absolute":
        plausible = log_p.exp() >= alpha
    elif mistake == "plausibility-from-premature":
        plausible = log_q >= log_q.max(dim=-1, keepdim=True).values + math.log(alpha)
    else:
        plausible = log_p >= log_p.max(dim=-1, keepdim=True).values + math.log(alpha)
    if mistake == "contrast-raw-logits":
        scores = final_logits.to(f64) - premature_logits.to(f64)
    elif mistake == "contrast-reversed":
        scores = log_q - log_p
    else:
        scores = log_p - log_q
    fill = 0.0 if mistake == "implausible-zero" else float("-inf")
    return scores.masked_fill(~plausible, fill)


def contrast_near(final_logits, premature_logits, alpha, dtype):
    return lambda: [
        (MISTAKE[m], predict_contrast(final_logits, premature_logits, alpha, m).to(dtype)) for m in CONTRAST_MISTAKES
    ]


def predict_penalty(scores, input_ids, penalty=1.2, mistake: str | None = None):
    """The CTRL penalty, one row and one distinct id at a time (loops: a different way from the
    vectorised reference), or as `mistake` applies it."""
    out = scores.detach().clone()
    for b in range(out.shape[0]):
        ids = input_ids[b].tolist()
        for token in ids if mistake == "penalty-counts-repeats" else sorted(set(ids)):
            s = out[b, token]
            if mistake == "penalty-divides-negative" or s >= 0:
                out[b, token] = s / penalty
            else:
                out[b, token] = s * penalty
    return out


def _penalty_fast(scores, input_ids, penalty, mistake=None):
    """predict_penalty without loops (for decoding, where it runs at every step): counts of every id
    from a one-hot sum."""
    counts = F.one_hot(input_ids, scores.shape[-1]).sum(dim=1)  # (B, V)
    times = counts if mistake == "penalty-counts-repeats" else (counts > 0).long()
    factor = torch.tensor(penalty, dtype=f64) ** times
    if mistake == "penalty-divides-negative":
        return scores / factor
    return torch.where(scores < 0, scores * factor, scores / factor)


def penalty_near(scores, input_ids, penalty):
    return lambda: [(MISTAKE[m], predict_penalty(scores, input_ids, penalty, m)) for m in PENALTY_MISTAKES]


def predict_greedy(
    model,
    input_ids,
    layers,
    max_new_tokens,
    alpha=0.1,
    repetition_penalty=1.2,
    mistake: str | None = None,
    against=None,
):
    """DoLa greedy decoding composed of the predictions above (float64 scores), or with `mistake`.

    With `against` (a learner's output), stops as soon as the prediction departs from it: the
    shorter result then matches nothing, and naming a mistake costs only the steps it agrees on.
    """
    seq = input_ids.clone()
    batch = torch.arange(seq.shape[0])
    for step in range(max_new_tokens):
        fed = seq[:, -1:] if (mistake == "prompt-forgotten" and step > 0) else seq
        logits = model.layer_logits(fed)[:, :, -1].to(f64)
        final, candidates = logits[-1], logits[list(layers)]
        if len(layers) == 1:
            premature = candidates[0]
        else:
            which = predict_select(final, candidates, mistake if mistake in SELECT_MISTAKES else None)
            premature = candidates[which, batch]
        if mistake == "penalty-before-contrast":
            final = _penalty_fast(final, seq, repetition_penalty)
            scores = predict_contrast(final, premature, alpha)
        else:
            scores = predict_contrast(final, premature, alpha, mistake if mistake in CONTRAST_MISTAKES else None)
            scores = _penalty_fast(scores, seq, repetition_penalty, mistake if mistake in PENALTY_MISTAKES else None)
        seq = torch.cat((seq, scores.argmax(-1).unsqueeze(1)), dim=1)
        if against is not None and not torch.equal(seq, against[:, : seq.shape[1]]):
            break
    return seq


def greedy_near(model, input_ids, layers, max_new_tokens, alpha, repetition_penalty):
    """A function of the learner's output giving (mistake, predicted decoding) pairs."""

    def near(actual):
        ok = (
            isinstance(actual, torch.Tensor)
            and actual.dim() == 2
            and actual.shape[0] == input_ids.shape[0]
            and actual.dtype == torch.long
        )
        return [
            (
                MISTAKE[m],
                predict_greedy(
                    model, input_ids, layers, max_new_tokens, alpha, repetition_penalty, m, actual if ok else None
                ),
            )
            for m in GREEDY_MISTAKES
        ]

    return near


def final_layer_greedy(model, input_ids, max_new_tokens):
    """Plain greedy decoding of the model's normal output (its last layer_logits entry)."""
    seq = input_ids.clone()
    for _step in range(max_new_tokens):
        seq = torch.cat([seq, model.logits(seq)[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    return seq


def prompts(batch, length, seed, vocab_size=64):
    return torch.randint(0, vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))
