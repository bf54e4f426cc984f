"""DoLa's answer key (grader/answers.py): DoLa written from its definition (Chuang et al. 2023;
docs/dola.md) in float64 on the test's side, independently of the reference, with a switch
`mistake=` that commits each known mistake. It is the oracle where PyTorch has no DoLa (the choice
of the premature layer, the contrast, the decoding) and predicts what each mistake outputs, so that
a wrong output is named after the mistakes it matches. A class release ships its results for the
public tests, not this file.
"""

import math

import torch
import torch.nn.functional as F

from grader.answers import recorded
from tests.dola.mistakes import MISTAKE

F64 = torch.float64


def _kl(a, log_b):
    """KL(A || B) summed over the last dimension, with F.kl_div (terms where A = 0 count 0)."""
    return F.kl_div(log_b.masked_fill(a == 0, 0.0), a, reduction="none").sum(-1)


def _jsd(p_logits, q_logits, mistake=None):
    """(...) JSD(softmax(p), softmax(q)), natural log, summed over V; or as `mistake` computes it."""
    log_p, log_q = (F.log_softmax(t.detach().to(F64), dim=-1) for t in (p_logits, q_logits))
    p, q = log_p.exp(), log_q.exp()
    m = (p + q) / 2
    if mistake == "kl-reversed":  # KL(M || P) / 2 + KL(M || Q) / 2
        return 0.5 * _kl(m, log_p) + 0.5 * _kl(m, log_q)
    value = 0.5 * _kl(p, m.log()) + 0.5 * _kl(q, m.log())
    factor = {"log-base-2": 1 / math.log(2.0), "mean-over-vocabulary": 1 / p.shape[-1], "jsd-not-halved": 2.0}
    return value * factor.get(mistake, 1.0)


def _select(final_logits, candidate_logits, mistake=None):
    """(B,) position in the (L, B, V) candidates of the farthest from the (B, V) final logits."""
    divergence = _jsd(final_logits.unsqueeze(0).expand_as(candidate_logits), candidate_logits, mistake)  # (L, B)
    if mistake == "argmin":
        return divergence.argmin(dim=0)
    if mistake == "one-layer-per-batch":
        return divergence.mean(dim=1).argmax().expand(divergence.shape[1]).clone()
    return divergence.argmax(dim=0)


def _contrast(final_logits, premature_logits, alpha=0.1, mistake=None):
    """(..., V) float64 scores log p - log q on the plausible tokens, -inf elsewhere."""
    log_p, log_q = (F.log_softmax(t.detach().to(F64), dim=-1) for t in (final_logits, premature_logits))
    if mistake == "threshold-absolute":
        plausible = log_p.exp() >= alpha
    else:
        log_r = log_q if mistake == "plausibility-from-premature" else log_p
        plausible = log_r >= log_r.max(dim=-1, keepdim=True).values + math.log(alpha)
    scores = {
        "contrast-raw-logits": final_logits.to(F64) - premature_logits.to(F64),
        "contrast-reversed": log_q - log_p,
    }.get(mistake, log_p - log_q)
    return scores.masked_fill(~plausible, 0.0 if mistake == "implausible-zero" else -math.inf)


def _penalise(scores, input_ids, penalty, mistake=None):
    """(B, V) float64 CTRL penalty from the count of each id in the (B, T) rows (a one-hot sum)."""
    counts = F.one_hot(input_ids, scores.shape[-1]).sum(dim=1)
    factor = torch.tensor(penalty, dtype=F64) ** (
        counts if mistake == "penalty-counts-repeats" else (counts > 0).long()
    )
    scores = scores.detach().to(F64)
    if mistake == "penalty-divides-negative":
        return scores / factor
    return torch.where(scores < 0, scores * factor, scores / factor)


def _decode(model, input_ids, layers, max_new_tokens, alpha=0.1, penalty=1.2, mistake=None, seen=None):
    """(B, T + max_new_tokens) greedy DoLa from the composition above, or with `mistake`. `seen`: a
    dict keeping the model's outputs for the sequences already run (the mistakes' decodings share
    their first steps)."""
    seq, batch, seen = input_ids.clone(), torch.arange(input_ids.shape[0]), {} if seen is None else seen
    for step in range(max_new_tokens):
        fed = seq[:, -1:] if mistake == "prompt-forgotten" and step > 0 else seq
        key = (tuple(fed.shape), fed.numpy().tobytes())
        if key not in seen:
            seen[key] = model.layer_logits(fed)[:, :, -1].to(F64)  # (N + 1, B, V)
        logits = seen[key]
        final, candidates = logits[-1], logits[list(layers)]
        premature = candidates[0] if len(layers) == 1 else candidates[_select(final, candidates, mistake), batch]
        if mistake == "penalty-before-contrast":
            scores = _contrast(_penalise(final, seq, penalty), premature, alpha)
        else:
            scores = _penalise(_contrast(final, premature, alpha, mistake), seq, penalty, mistake)
        seq = torch.cat((seq, scores.argmax(-1, keepdim=True)), dim=1)
    return seq


SELECT = ["argmin", "one-layer-per-batch", "kl-reversed"]
CONTRAST = ["threshold-absolute", "plausibility-from-premature", "contrast-raw-logits", "contrast-reversed"]
CONTRAST += ["implausible-zero"]
PENALTY = ["penalty-divides-negative", "penalty-counts-repeats"]
# kind: (the function, the mistakes one call of it can make)
KINDS = {
    "jsd": (_jsd, ["kl-reversed", "log-base-2", "mean-over-vocabulary", "jsd-not-halved"]),
    "select": (_select, SELECT),
    "contrast": (_contrast, CONTRAST),
    "penalty": (_penalise, PENALTY),
    "decoding": (_decode, ["prompt-forgotten", "penalty-before-contrast", *SELECT, *CONTRAST, *PENALTY]),
}


@recorded
def farthest_candidates(final_logits, candidate_logits):
    """(B,) LongTensor: the position of the candidate farthest from the final layer, per example."""
    return _select(final_logits, candidate_logits)


@recorded
def dola_scores(final_logits, premature_logits, alpha=0.1):
    """(..., V) float64 DoLa scores: log p_final - log p_premature on the plausible tokens, -inf elsewhere."""
    return _contrast(final_logits, premature_logits, alpha)


@recorded
def penalised(scores, input_ids, penalty=1.2):
    """(B, V) float64 scores after the CTRL repetition penalty (once per distinct id of the row)."""
    return _penalise(scores, input_ids, penalty)


@recorded
def dola_tokens(model, input_ids, layers, max_new_tokens, alpha=0.1, penalty=1.2):
    """(B, T + max_new_tokens) LongTensor: the prompts and the tokens of greedy DoLa."""
    return _decode(model, input_ids, layers, max_new_tokens, alpha, penalty)


@recorded(lazy=True)
def mistakes_of(kind, *args):
    """For check_output(near=...): (mistake, what one call of `kind` outputs under it) for each mistake
    of that kind ("jsd", "select", "contrast", "penalty" or "decoding", with that function's
    arguments). Lazy: computed only when a check has failed."""
    function, names = KINDS[kind]
    shared = {"seen": {}} if kind == "decoding" else {}
    dtype = torch.long if kind in ("select", "decoding") else args[0].dtype  # the dtype of the output
    return [(MISTAKE[name], function(*args, mistake=name, **shared).to(dtype)) for name in names]
