"""GPT's answer key (grader/answers.py): GPT-2's forward pass, the sampling filters and the loss as the
textbook computes them (float64), with a switch that commits each known mistake, so that a wrong output
is named after the mistakes it matches. It is never the oracle: Hugging Face's GPT2LMHeadModel and its
warpers are (golden data in the public suite, the library live in the hidden one), and PyTorch's
cross-entropy for the loss. A class release ships its results for the public tests, not this file.

The `*_mistakes` functions return a thunk (lazy): (Mistake, predicted outputs) pairs, computed only once
a check has failed, for kit.check_outputs(near=...). A prediction equal to the right output is left out:
it cannot tell that mistake from a correct answer on this input.
"""

import math

import torch
import torch.nn.functional as F

from grader.answers import recorded
from tests.gpt.mistakes import MISTAKE

F64 = torch.float64

FORWARD_MISTAKES = [
    "conv1d-transposed",
    "gelu-exact",
    "no-causal-mask",
    "attention-scaled-by-embed",
    "positions-restart",
    "causal-mask-ignores-past",
    "post-norm",
    "ln-f-missing",
    "eps-ignored",
]
PROBS_MISTAKES = [
    "temperature-multiplied",
    "top-p-before-temperature",
    "top-k-ties-by-index",
    "top-p-drops-crossing",
    "top-p-ignores-top-k",
    "not-renormalised",
]


def _d(t):
    return t.detach().to(F64)


def _forward(ids, params, n_head, eps=1e-5, past=None, mistake=None):
    """GPT-2's forward in float64 with `mistake` (one of FORWARD_MISTAKES) committed: (logits, present)."""
    p = {k: _d(v) for k, v in params.items() if v.is_floating_point()}
    batch, length = ids.shape
    embed = p["transformer.wte.weight"].shape[1]
    head_dim = embed // n_head
    n_layer = len({k.split(".")[2] for k in p if k.startswith("transformer.h.")})
    past_length = 0 if past is None else past[0][0].shape[2]
    eps = 1e-5 if mistake == "eps-ignored" else eps

    def norm(h, name):
        mean = h.mean(-1, keepdim=True)
        var = ((h - mean) ** 2).mean(-1, keepdim=True)
        return (h - mean) / torch.sqrt(var + eps) * p[name + ".weight"] + p[name + ".bias"]

    def conv1d(h, name, linear=False):
        weight = p[name + ".weight"]
        return h @ (weight.T if linear else weight) + p[name + ".bias"]

    start = 0 if mistake == "positions-restart" else past_length
    x = p["transformer.wte.weight"][ids] + p["transformer.wpe.weight"][torch.arange(start, start + length)]
    keys = past_length + length
    if mistake == "no-causal-mask":
        mask = torch.ones(length, keys, dtype=torch.bool)
    elif mistake == "causal-mask-ignores-past":
        mask = torch.ones(length, keys, dtype=torch.bool).tril()
    else:
        mask = torch.ones(length, keys, dtype=torch.bool).tril(diagonal=past_length)
    scale = 1 / math.sqrt(embed if mistake == "attention-scaled-by-embed" else head_dim)
    gelu = "none" if mistake == "gelu-exact" else "tanh"
    present = []
    for i in range(n_layer):
        pre = f"transformer.h.{i}."

        def attention(h, pre=pre, i=i):
            q, k, v = conv1d(h, pre + "attn.c_attn").split(embed, dim=-1)
            q, k, v = (t.reshape(batch, length, n_head, head_dim).transpose(1, 2) for t in (q, k, v))
            if past is not None:
                k, v = torch.cat([_d(past[i][0]), k], dim=2), torch.cat([_d(past[i][1]), v], dim=2)
            present.append((k, v))
            scores = (q @ k.transpose(-2, -1) * scale).masked_fill(~mask, float("-inf"))
            out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, embed)
            return conv1d(out, pre + "attn.c_proj", linear=mistake == "conv1d-transposed")

        def mlp(h, pre=pre):
            return conv1d(F.gelu(conv1d(h, pre + "mlp.c_fc"), approximate=gelu), pre + "mlp.c_proj")

        if mistake == "post-norm":
            x = norm(x + attention(x), pre + "ln_1")
            x = norm(x + mlp(x), pre + "ln_2")
        else:
            x = x + attention(norm(x, pre + "ln_1"))
            x = x + mlp(norm(x, pre + "ln_2"))
    if mistake != "ln-f-missing":
        x = norm(x, "transformer.ln_f")
    return x @ p["lm_head.weight"].T, present


def _flat(logits, present):
    return [logits, *(t for pair in present for t in pair)]


def _differing(right, predictions):
    """(Mistake, prediction) for the predictions that differ from the right outputs somewhere."""
    found = []
    for m, pred in predictions:
        if pred is None:
            continue
        same = len(pred) == len(right) and all(
            p is None or (p.shape == r.shape and torch.equal(p.double(), r.double())) for p, r in zip(pred, right)
        )
        if not same:
            found.append((m, pred))
    # A wrong output that two mistakes both predict names neither (a greedy run two mistakes send to
    # the same tokens, a top-p set two mistakes choose alike): only distinct predictions are kept.
    return [(MISTAKE[m], pred) for m, pred in found if not any(o != m and _alike(pred, q) for o, q in found)]


def _alike(a, b) -> bool:
    return len(a) == len(b) and all(
        x is None or y is None or (x.shape == y.shape and torch.allclose(x.double(), y.double(), rtol=1e-4, atol=1e-6))
        for x, y in zip(a, b)
    )


def _chunked(ids, params, n_head, eps, chunks, mistake=None):
    """The forward run chunk by chunk (each call given the previous call's present): the logits of
    every chunk concatenated along T, and the last present, flattened."""
    past, parts, start = None, [], 0
    for size in chunks:
        logits, past = _forward(ids[:, start : start + size], params, n_head, eps, past, mistake)
        parts.append(logits)
        start += size
    return _flat(torch.cat(parts, dim=1), past)


# ---------------------------------------------------------------------------------------------------
# Mistakes' predictions


@recorded(lazy=True)
def forward_mistakes(ids, params, n_head, eps=1e-5, past=None):
    """[logits, K_0, V_0, K_1, ...] of gpt2_forward under each forward mistake."""
    right = _flat(*_forward(ids, params, n_head, eps, past))
    return _differing(right, [(m, _flat(*_forward(ids, params, n_head, eps, past, m))) for m in FORWARD_MISTAKES])


@recorded(lazy=True)
def chunked_mistakes(ids, params, n_head, eps, chunks):
    """[all logits, K_0, V_0, ...] of the forward run chunk by chunk with its own cache, under each
    forward mistake."""
    right = _chunked(ids, params, n_head, eps, chunks)
    return _differing(right, [(m, _chunked(ids, params, n_head, eps, chunks, m)) for m in FORWARD_MISTAKES])


def _greedy(params, n_head, ids, new, mistake=None):
    logits, past = _forward(ids, params, n_head, mistake=mistake)
    tokens = [ids]
    for step in range(new):
        tokens.append(logits[:, -1].argmax(-1, keepdim=True))
        if step + 1 < new:
            logits, past = _forward(tokens[-1], params, n_head, past=past, mistake=mistake)
    return torch.cat(tokens, dim=1)


@recorded(lazy=True)
def greedy_mistakes(params, n_head, ids, new):
    """The ids generate_greedy returns under each forward mistake (a one-item prediction)."""
    right = [_greedy(params, n_head, ids, new)]
    return _differing(right, [(m, [_greedy(params, n_head, ids, new, m)]) for m in FORWARD_MISTAKES])


def _probs(logits, temperature=1.0, top_k=None, top_p=None, mistake=None):
    """next_token_probs in float64 with `mistake` (one of PROBS_MISTAKES) committed."""
    raw = _d(logits)
    scores = raw * temperature if mistake == "temperature-multiplied" else raw / temperature
    keep = torch.ones_like(scores, dtype=torch.bool)
    if top_k is not None:
        if mistake == "top-k-ties-by-index":
            index = scores.topk(top_k, dim=-1).indices
            keep = torch.zeros_like(keep).scatter(-1, index, True)
        else:
            keep = scores >= scores.topk(top_k, dim=-1).values[..., -1:]
    if top_p is not None:
        if mistake == "top-p-ignores-top-k":
            base = scores
        else:
            base = (raw if mistake == "top-p-before-temperature" else scores).masked_fill(~keep, float("-inf"))
        probs = base.softmax(-1)
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        through = sorted_probs.cumsum(-1)
        remove = through >= top_p if mistake == "top-p-drops-crossing" else through - sorted_probs >= top_p
        remove[..., 0] = False
        keep = keep & ~torch.zeros_like(remove).scatter(-1, order, remove)
    if mistake == "not-renormalised":
        return scores.softmax(-1) * keep
    return scores.masked_fill(~keep, float("-inf")).softmax(-1)


@recorded(lazy=True)
def probs_mistakes(logits, temperature=1.0, top_k=None, top_p=None):
    """next_token_probs(logits, ...) under each sampling mistake (one-item predictions)."""
    right = [_probs(logits, temperature, top_k, top_p)]
    found = [(m, [_probs(logits, temperature, top_k, top_p, m)]) for m in PROBS_MISTAKES]
    return _differing(right, found)


@recorded(lazy=True)
def loss_mistakes(logits, ids):
    """lm_loss without the shift, and summed instead of averaged."""
    logits, vocab = _d(logits), logits.shape[-1]
    shifted = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1), reduction="none")
    unshifted = F.cross_entropy(logits.reshape(-1, vocab), ids.reshape(-1))
    return _differing([shifted.mean()], [("lm-loss-no-shift", [unshifted]), ("lm-loss-sum", [shifted.sum()])])


# ---------------------------------------------------------------------------------------------------
# Not recorded: for the hidden tests and data/gpt/make_golden.py (never imported by test_public.py)


def top_p_clearance(logits, temperature, top_k, top_p) -> float:
    """How far `top_p` lies from the nearest cumulative boundary of the distribution it filters
    (the mass ranked before each token, after temperature and top-k), in probability; 0.0 when a
    group of tied tokens straddles the threshold (then no order of the ties is the right one)."""
    scores = _d(logits) / temperature
    if top_k is not None:
        scores = scores.masked_fill(scores < scores.topk(top_k, dim=-1).values[..., -1:], float("-inf"))
    probs = scores.softmax(-1).sort(dim=-1, descending=True).values
    before = probs.cumsum(-1) - probs
    worst = float((before - top_p).abs().min())
    for row, row_before in zip(probs, before):
        kept = row_before < top_p
        for value in row[row > 0].unique():
            group = kept[row == value]
            if bool(group.any()) and not bool(group.all()):
                return 0.0
    return worst
