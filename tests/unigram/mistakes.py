"""The unigram topic's known mistakes: the sentence a learner sees when their output looks like one.

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[greedy-longest-match]`. The mutants that commit each mistake (patches of the reference, used by
`make check`) are in `mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "spaces-not-collapsed",
        "normalize turns every space into its own '▁'; a run of spaces becomes ONE '▁' (' a  b' gives "
        "'▁a▁b'), and leading and trailing spaces go.",
    ),
    Mistake(
        "no-dummy-prefix",
        "normalize does not put '▁' in front of the text; SentencePiece adds one (add_dummy_prefix), "
        "so 'hello world' gives '▁hello▁world', and the first word looks like the others.",
    ),
    Mistake(
        "trailing-space-kept",
        "normalize keeps a '▁' at the end; trailing spaces go ('ab ' gives '▁ab'), and so does any "
        "'▁' left at the very end ('a▁' gives '▁a', '▁' gives '').",
    ),
    Mistake(
        "every-whitespace-is-space",
        "normalize treats tabs, newlines or other Unicode spaces as spaces (str.split() does); only "
        "U+0020 is a space for SentencePiece's identity normaliser: 'a\\tb' gives '▁a\\tb'.",
    ),
    Mistake(
        "greedy-longest-match",
        "viterbi takes the longest piece at each position (greedy) instead of the segmentation with the "
        "highest total log probability; use dynamic programming over end positions: best[j] = max over "
        "pieces text[i:j] of best[i] + score.",
    ),
    Mistake(
        "ties-to-shorter-piece",
        "viterbi breaks ties towards a shorter last piece; ties go to the segmentation whose last piece "
        "is the longest (update best[j] only on a strictly higher score, trying the longest piece first).",
    ),
    Mistake(
        "unknown-dropped",
        "an unknown character (one that is not a piece) is dropped or has no node; it must get a node "
        "of score min(pieces.values()) - unk_penalty and come out as its own one-character piece.",
    ),
    Mistake(
        "unknown-scored-zero",
        "an unknown character's node scores 0 (or the penalty alone) instead of min(pieces.values()) - "
        "unk_penalty: a log probability of 0 makes unknown characters the cheapest thing in the lattice.",
    ),
    Mistake(
        "linear-space",
        "probabilities are multiplied in linear space (exp of the scores): on a long text the product "
        "underflows to 0 and its log is -inf (or raises). Add log probabilities and combine paths with "
        "logsumexp (max + log(sum(exp(x - max)))).",
    ),
    Mistake(
        "backward-misaligned",
        "the expected counts do not cover the text: the backward pass is misaligned by one position. "
        "beta[i] is the log-sum over paths from position i to the end, and the posterior of a node "
        "from i to j is exp(alpha[i] + score + beta[j] - log_likelihood); the counts times the pieces' "
        "lengths (plus unknown characters) must add up to len(text).",
    ),
    Mistake(
        "unknown-counted",
        "forward_backward counts unknown characters as pieces; unknown nodes take part in the sums "
        "but are not pieces and get no expected count.",
    ),
    Mistake(
        "counts-not-weighted",
        "em_step adds each word's expected counts once; multiply them by the word's count in the "
        "corpus ({'▁the': 120} counts 120 times).",
    ),
    Mistake(
        "em-normalised-over-characters",
        "em_step divides by the expected counts of the single characters only; the total is the sum over all pieces.",
    ),
    Mistake(
        "em-keeps-unused",
        "em_step keeps pieces whose expected count is 0 (with their old score); drop them, except single characters.",
    ),
    Mistake(
        "em-keeps-underflowed",
        "em_step keeps a piece whose expected count is a tiny positive number (1e-310: what underflow "
        "leaves of a probability of e**-713); counts below NEGLIGIBLE (1e-300) are zero: drop the piece.",
    ),
    Mistake(
        "em-drops-characters",
        "em_step drops single characters whose expected count is 0; they keep their previous log "
        "probability (a tokenizer must be able to spell every character).",
    ),
    Mistake(
        "prune-drops-characters",
        "prune removes single characters; every single character is kept whatever its loss, and only "
        "the other pieces compete for the remaining size - (number of characters) places.",
    ),
    Mistake(
        "prune-by-frequency",
        "prune keeps the pieces used most often; rank by the loss of likelihood, count(x) * "
        "(score(x) - score of the best segmentation of x without x): a frequent piece that splits "
        "into two nearly as good pieces costs little.",
    ),
    Mistake(
        "prune-keeps-smallest-loss",
        "prune keeps the pieces with the smallest loss; keep those whose removal would cost the most "
        "(sort by loss, descending).",
    ),
    Mistake(
        "prune-not-renormalised",
        "prune returns the kept pieces with their old scores; renormalise them (subtract the logsumexp "
        "of the kept scores) so that their probabilities add up to 1.",
    ),
    Mistake(
        "train-wrong-size",
        "train does not return vocab_size pieces: prune to max(vocab_size, int(shrink * current)) each "
        "round, and stop once at most vocab_size pieces remain (after that round's EM steps).",
    ),
]

MISTAKE = by_id(MISTAKES)
