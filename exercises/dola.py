"""DoLa: decoding by contrasting layers (Chuang et al. 2023, arXiv 2309.03883).

A language model's later layers tend to add factual knowledge that its early layers lack. DoLa
decodes with the difference between the final ("mature") layer's log-probabilities and those of an
early ("premature") layer, read out by applying the LM head to that layer's hidden state (early
exit). For every new token:

1. mature  = log_softmax(final logits);  the candidates are a "bucket" of early layers.
2. premature layer = the candidate whose distribution is farthest from the mature one, by the
   Jensen-Shannon divergence, chosen for each example of the batch separately.
3. scores = mature log-probs - premature log-probs, only on the plausible tokens, those with
   log p_final >= max log p_final + log(alpha) (p at least alpha times the top probability);
   every other token scores -inf.
4. a repetition penalty (as in CTRL) on the tokens already in the sequence, then greedy argmax.

The model is provided (`provided/tiny_lm.py`): `model.layer_logits(input_ids)` returns
(num_layers + 1, B, T, V) logits, entry j < num_layers the early exit of hidden state j (0 the
embeddings), the last entry the model's normal output; `model.num_layers` is N.

Conventions: logits are float tensors with the vocabulary on the last dimension; results keep the
dtype of the logits; natural logarithms; no argument is modified in place. Written with plain
tensor operations (softmax and log_softmax are fine); no ready-made DoLa (`transformers`).
See docs/dola.md for the derivations and the choices made here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def jensen_shannon_divergence(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """The Jensen-Shannon divergence between softmax(p_logits) and softmax(q_logits).

        P = softmax(p_logits), Q = softmax(q_logits), M = (P + Q) / 2     (over the last dimension)
        JSD = KL(P || M) / 2 + KL(Q || M) / 2,   KL(P || M) = sum_v P_v * log(P_v / M_v)

    natural log, summed over the vocabulary (not averaged). A term with P_v = 0 counts 0
    (0 log 0 = 0), so the result stays finite when probabilities underflow to 0 or when logits are
    -inf (each row still needs one finite logit). 0 <= JSD <= log 2, symmetric, 0 for equal inputs.

    Args:
        p_logits, q_logits: (..., V) logits of the same dtype; their leading dimensions broadcast.

    Returns:
        (...) tensor: one divergence per row (the leading dimensions), dtype of the inputs.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def candidate_layers(num_layers: int, which) -> list[int]:
    """The candidate premature layers (indices into `layer_logits`), as in the paper's buckets.

    For a model of N = num_layers layers:
        N <= 40:  "low" is range(0, N // 2, 2),  "high" is range(N // 2, N, 2)
        N > 40:   "low" is range(0, 20, 2),      "high" is range(N - 20, N, 2)
    A list of ints is checked (every entry in [0, N), at least one entry) and returned as a new
    list. Anything else (another string, an entry out of range or not an int) is a ValueError.

    Example: candidate_layers(8, "low") == [0, 2]; candidate_layers(8, "high") == [4, 6].

    Returns:
        a list of ints.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def select_premature_layer(final_logits: Tensor, candidate_logits: Tensor) -> Tensor:
    """For each example, the candidate layer whose distribution is farthest from the final one.

    Args:
        final_logits: (B, V) logits of the final (mature) layer.
        candidate_logits: (L, B, V) logits of the L candidate layers.

    Returns:
        LongTensor (B,): for example b, the index l in [0, L) (a position in `candidate_logits`,
        not a layer number) maximising JSD(final_logits[b], candidate_logits[l, b]); the first such
        l on ties. Each example chooses on its own.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def contrast_logits(final_logits: Tensor, premature_logits: Tensor, alpha: float = 0.1) -> Tensor:
    """DoLa's scores: mature minus premature log-probabilities, on the plausible tokens only.

        log_p = log_softmax(final_logits),  log_q = log_softmax(premature_logits)
        plausible: log_p >= max(log_p) + log(alpha)      (adaptive plausibility constraint)
        score = log_p - log_q where plausible, -inf elsewhere

    The threshold is relative to the most likely token of each row (p >= alpha * p_max), not an
    absolute probability; the top token is always plausible. alpha = 1 keeps only the top token(s).

    Args:
        final_logits, premature_logits: (..., V) logits of the same shape.
        alpha: in (0, 1].

    Returns:
        (..., V) tensor of the dtype of the inputs.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def apply_repetition_penalty(scores: Tensor, input_ids: Tensor, penalty: float = 1.2) -> Tensor:
    """Penalise the tokens already in the sequence (Keskar et al. 2019, CTRL).

    For every token id present in row b of `input_ids` (counted once, however often it occurs),
    scores[b, id] becomes scores * penalty if it is negative and scores / penalty otherwise, so the
    token always becomes less likely for penalty > 1. -inf stays -inf; other tokens are unchanged.

    Args:
        scores: (B, V) float scores.
        input_ids: LongTensor (B, T) of ids in [0, V).
        penalty: > 0; 1.0 changes nothing.

    Returns:
        a new (B, V) tensor of the dtype of `scores`.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def dola_greedy(model, input_ids: Tensor, candidate_layers: list[int], max_new_tokens: int,
                alpha: float = 0.1, repetition_penalty: float = 1.2) -> Tensor:
    """Greedy decoding with DoLa.

    For each of `max_new_tokens` steps, with `seq` the whole sequence so far (prompt included):
        logits = model.layer_logits(seq)[:, :, -1]     the last position: (num_layers + 1, B, V)
        final = logits[-1];  candidates = logits[candidate_layers]             (L, B, V)
        premature = the candidate chosen by select_premature_layer, per example
                    (with a single candidate layer, that one, without a selection)
        scores = contrast_logits(final, premature, alpha)
        scores = apply_repetition_penalty(scores, seq, repetition_penalty)
        next token = argmax of the scores (the first on ties), appended to `seq`.
    The next step runs the model on the whole sequence again (no cache).

    Args:
        model: the provided TinyLM (or anything with `layer_logits` and `num_layers`).
        input_ids: LongTensor (B, T), the prompts (all of length T).
        candidate_layers: a list of layer indices in [0, model.num_layers), for example
            `candidate_layers(model.num_layers, "high")` (the function of the same name, called
            before: inside this function the argument hides it).
        max_new_tokens: how many tokens to add (0 returns the prompts).
        alpha: the plausibility constraint of contrast_logits.
        repetition_penalty: the penalty of apply_repetition_penalty (1.0: none).

    Returns:
        LongTensor (B, T + max_new_tokens): the prompts followed by the generated tokens.
    """
    # YOUR CODE HERE
    raise NotImplementedError
