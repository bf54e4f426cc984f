"""DoLa's known mistakes: the sentence a learner sees when their output looks like one. What each
mistake outputs (so that a wrong output is named after the mistakes it matches) is computed in
`key.py`, the answer key.

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[kl-reversed]`. The mutants that commit each mistake (patches of the reference, used by
`make check`) are in `mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    # jensen_shannon_divergence
    Mistake(
        "kl-reversed",
        "the KL divergences point the wrong way: KL(M || P) and KL(M || Q) (what "
        "F.kl_div(log_p, m) computes, as in the paper's code) instead of KL(P || M) and KL(Q || M); "
        "JSD = sum P log(P / M) / 2 + sum Q log(Q / M) / 2.",
    ),
    Mistake(
        "log-base-2",
        "the divergence is in bits (log2); use the natural log, so that the largest value is log 2 = 0.693, not 1.",
    ),
    Mistake(
        "mean-over-vocabulary",
        "the KL terms are averaged over the vocabulary (.mean(-1), as in some public code) instead "
        "of summed: the divergence comes out V times too small.",
    ),
    Mistake(
        "jsd-not-halved",
        "the two KL terms are added without the factor 1/2: JSD = KL(P || M) / 2 + KL(Q || M) / 2, at most log 2.",
    ),
    # select_premature_layer
    Mistake(
        "argmin",
        "the candidate with the SMALLEST divergence is chosen; DoLa contrasts with the premature "
        "layer that differs most from the final one (argmax of the JSD).",
    ),
    Mistake(
        "one-layer-per-batch",
        "one layer is chosen for the whole batch (the divergence averaged over the examples, as in "
        "the paper's code); here every example chooses its own premature layer.",
    ),
    # contrast_logits
    Mistake(
        "threshold-absolute",
        "the plausibility threshold is an absolute probability (p >= alpha); it is relative to "
        "the top token: log p >= max log p + log(alpha), i.e. p >= alpha * p_max.",
    ),
    Mistake(
        "plausibility-from-premature",
        "the plausible tokens are chosen with the premature distribution; the constraint uses "
        "the final layer's probabilities.",
    ),
    Mistake(
        "contrast-raw-logits",
        "the raw logits are subtracted; DoLa subtracts log-probabilities: log_softmax(final) - log_softmax(premature).",
    ),
    Mistake(
        "contrast-reversed",
        "the contrast is reversed (premature minus final); the score is log p_final - log p_premature.",
    ),
    Mistake(
        "implausible-zero",
        "implausible tokens get the score 0 instead of -inf; 0 can beat the plausible tokens, "
        "whose contrast scores may be negative.",
    ),
    # apply_repetition_penalty
    Mistake(
        "penalty-divides-negative",
        "every score is divided by the penalty; a negative score divided by 1.2 grows (-2 -> -1.67) "
        "and the repeated token becomes MORE likely. Multiply negative scores, divide positive ones.",
    ),
    Mistake(
        "penalty-counts-repeats",
        "the penalty is applied once per occurrence of a token; a token present several times "
        "is penalised once (CTRL, and Hugging Face's RepetitionPenaltyLogitsProcessor).",
    ),
    Mistake(
        "scores-modified-in-place",
        "the scores passed in are modified in place (scores[...] = ..., scatter_); return a new "
        "tensor and leave the caller's scores as they were.",
    ),
    # dola_greedy
    Mistake(
        "penalty-before-contrast",
        "the repetition penalty is applied to the final logits before the contrast; DoLa penalises "
        "the contrasted scores, just before the argmax.",
    ),
    Mistake(
        "prompt-forgotten",
        "after the first step the model sees only the newest token; without a cache, run "
        "model.layer_logits on the whole sequence so far (prompt and generated tokens) at every step.",
    ),
]

MISTAKE = by_id(MISTAKES)
