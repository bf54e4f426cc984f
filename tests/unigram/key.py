"""The unigram topic's answer key (grader/answers.py): brute force over every segmentation, the
independent oracle for `viterbi`, `forward_backward`, `em_step`, `prune` and (on tiny corpora)
`train`, and the outputs of the known mistakes, so that a wrong output is named after the mistake
it matches. A class release ships its results for the public tests, not this file.

Brute force enumerates all the segmentations of a text (2 ** (len - 1) of them at most when every
substring is a piece: 2,048 for 12 characters), so it is only used on short texts and words; it
shares no code with the reference. An unknown node (a character that is not a piece) scores
`min(pieces) - 10`, as in SentencePiece.
"""

from __future__ import annotations

import math

from grader.answers import recorded

SPACE = "\u2581"
UNK_PENALTY = 10.0


def all_segmentations(text: str, pieces: dict[str, float], unk_penalty: float = UNK_PENALTY):
    """[(score, (piece, ...)), ...]: every segmentation of `text`, each score summed left to right."""
    unk = min(pieces.values()) - unk_penalty
    found = []

    def extend(i: int, seg: tuple, score: float) -> None:
        if i == len(text):
            found.append((score, seg))
            return
        for j in range(i + 1, len(text) + 1):
            piece = text[i:j]
            if piece in pieces:
                extend(j, seg + (piece,), score + pieces[piece])
            elif j == i + 1:  # an unknown character: its own node, not a piece
                extend(j, seg + (piece,), score + unk)

    extend(0, (), 0.0)
    return found


def _logsumexp(values) -> float:
    values = list(values)
    top = max(values)
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def _tie_key(seg: tuple) -> list[int]:
    """Ties go to the longest last piece, then recursively: compare lengths from the end."""
    return [-len(p) for p in reversed(seg)]


def _best(text: str, pieces: dict[str, float], unk_penalty: float = UNK_PENALTY) -> tuple[float, list[str], float]:
    """(best score, best segmentation by the tie rule, gap to the best score of any other one)."""
    segs = all_segmentations(text, pieces, unk_penalty)
    top = max(score for score, _ in segs)
    tied = [seg for score, seg in segs if score == top]
    best = min(tied, key=_tie_key)
    others = [score for score, seg in segs if seg != best]
    gap = top - max(others) if others else math.inf
    return top, list(best), gap


@recorded
def brute_viterbi(text: str, pieces: dict[str, float], unk_penalty: float = UNK_PENALTY) -> tuple[list[str], float]:
    """(the best segmentation, by enumeration; its score's gap to the next best segmentation: 0 for
    an exact tie, which the tie rule decides)."""
    _, best, gap = _best(text, pieces, unk_penalty)
    return best, gap


def _posterior(text: str, pieces: dict[str, float]) -> tuple[float, dict[str, float]]:
    segs = all_segmentations(text, pieces)
    if not text:
        return 0.0, {}
    ll = _logsumexp(score for score, _ in segs)
    counts: dict[str, list[float]] = {}
    for score, seg in segs:
        p = math.exp(score - ll)
        for piece in seg:
            if piece in pieces:
                counts.setdefault(piece, []).append(p)
    return ll, {piece: math.fsum(ps) for piece, ps in counts.items()}


@recorded
def brute_forward_backward(text: str, pieces: dict[str, float]) -> tuple[float, dict[str, float]]:
    """(log of the summed probability of every segmentation, expected count of each piece that
    occurs in some segmentation), by enumeration."""
    return _posterior(text, pieces)


@recorded
def concatenated_forward_backward(words: list[str], pieces: dict[str, float]) -> tuple[float, dict[str, float]]:
    """forward_backward of "".join(words) when no piece spans two words (each word starts with "▁"
    and no piece holds "▁" after its first character): the sum of the words' log-likelihoods and
    of their expected counts, each word by enumeration (a long text from short ones)."""
    cache = {w: _posterior(w, pieces) for w in set(words)}
    ll = math.fsum(cache[w][0] for w in words)
    counts: dict[str, list[float]] = {}
    for w in words:
        for piece, c in cache[w][1].items():
            counts.setdefault(piece, []).append(c)
    return ll, {piece: math.fsum(cs) for piece, cs in counts.items()}


def _em(corpus, pieces, mistake=None):
    counts: dict[str, float] = {}
    for word, count in corpus.items():
        for piece, c in _posterior(word, pieces)[1].items():
            weight = 1 if mistake == "counts-not-weighted" else count
            counts[piece] = counts.get(piece, 0.0) + weight * c
    if mistake == "em-normalised-over-characters":
        total = math.fsum(c for p, c in counts.items() if len(p) == 1)
    else:
        total = math.fsum(counts.values())
    new = {p: math.log(c) - math.log(total) for p, c in counts.items() if c >= 1e-300}  # NEGLIGIBLE
    for piece, score in pieces.items():
        if piece not in new and (len(piece) == 1 or mistake == "em-keeps-unused"):
            new[piece] = score
    return new


@recorded
def brute_em_step(corpus: dict[str, int], pieces: dict[str, float]) -> dict[str, float]:
    """em_step from expected counts by enumeration."""
    return _em(corpus, pieces)


@recorded(lazy=True)
def em_step_mistakes(corpus: dict[str, int], pieces: dict[str, float]) -> list[tuple[str, dict[str, float]]]:
    """(mistake id, what em_step returns with that mistake)."""
    names = ["counts-not-weighted", "em-normalised-over-characters", "em-keeps-unused"]
    return [(m, _em(corpus, pieces, m)) for m in names]


def _prune(corpus, pieces, size, mistake=None):
    chars = [p for p in pieces if len(p) == 1]
    used: dict[str, int] = {}
    for word, count in corpus.items():
        for piece in _best(word, pieces)[1]:
            used[piece] = used.get(piece, 0) + count
    loss = {}
    for x in pieces:
        if len(x) == 1:
            continue
        if mistake == "prune-by-frequency":
            loss[x] = used.get(x, 0)
        elif used.get(x, 0) == 0:
            loss[x] = 0.0
        else:
            without = {p: s for p, s in pieces.items() if p != x}
            loss[x] = used[x] * (pieces[x] - _best(x, without)[0])
    ranked = sorted(loss, key=lambda x: (-loss[x], -pieces[x], x))
    if mistake == "prune-keeps-smallest-loss":
        kept = chars + ranked[::-1][: max(0, size - len(chars))]
    else:
        kept = chars + ranked[: max(0, size - len(chars))]
    if mistake == "prune-not-renormalised":
        return {p: pieces[p] for p in kept}
    norm = _logsumexp(pieces[p] for p in kept)
    return {p: pieces[p] - norm for p in kept}


@recorded
def brute_prune(corpus: dict[str, int], pieces: dict[str, float], size: int) -> dict[str, float]:
    """prune by its definition, every Viterbi segmentation by enumeration."""
    return _prune(corpus, pieces, size)


@recorded
def prune_losses(corpus: dict[str, int], pieces: dict[str, float]) -> dict[str, float]:
    """{piece: loss} for the pieces of more than one character (for messages and tie checks)."""
    used: dict[str, int] = {}
    for word, count in corpus.items():
        for piece in _best(word, pieces)[1]:
            used[piece] = used.get(piece, 0) + count
    out = {}
    for x in pieces:
        if len(x) > 1:
            without = {p: s for p, s in pieces.items() if p != x}
            out[x] = used.get(x, 0) * (pieces[x] - _best(x, without)[0]) if used.get(x, 0) else 0.0
    return out


@recorded(lazy=True)
def prune_mistakes(corpus: dict[str, int], pieces: dict[str, float], size: int) -> list[tuple[str, dict[str, float]]]:
    """(mistake id, what prune returns with that mistake)."""
    names = ["prune-by-frequency", "prune-keeps-smallest-loss", "prune-not-renormalised"]
    return [(m, _prune(corpus, pieces, size, m)) for m in names]


def _train(corpus, vocab_size, seed_size=10000, em_iters=2, shrink=0.75, mistake=None):
    freq: dict[str, int] = {}
    chars: dict[str, int] = {}
    for word, count in corpus.items():
        for i in range(len(word)):
            chars[word[i]] = chars.get(word[i], 0) + count
            for j in range(i + 2, min(len(word), i + 16) + 1):
                freq[word[i:j]] = freq.get(word[i:j], 0) + count
    ranked = sorted(freq, key=lambda s: (-freq[s], -len(s), s))[: max(0, seed_size - len(chars))]
    seed = {**chars, **{s: freq[s] for s in ranked}}
    total = sum(seed.values())
    pieces = {p: math.log(f / total) for p, f in seed.items()}
    while True:
        for _ in range(em_iters):
            pieces = _em(corpus, pieces)
        if len(pieces) <= vocab_size or all(len(p) == 1 for p in pieces):
            return pieces
        target = (
            int(shrink * len(pieces)) if mistake == "train-wrong-size" else max(vocab_size, int(shrink * len(pieces)))
        )
        pieces = _prune(corpus, pieces, target)


@recorded
def brute_train(
    corpus: dict[str, int], vocab_size: int, seed_size: int = 10000, em_iters: int = 2, shrink: float = 0.75
) -> dict[str, float]:
    """train by its definition, with EM and pruning by enumeration (tiny corpora only)."""
    return _train(corpus, vocab_size, seed_size, em_iters, shrink)


@recorded(lazy=True)
def train_mistakes(corpus: dict[str, int], vocab_size: int, **options) -> list[tuple[str, dict[str, float]]]:
    """(mistake id, what train returns with that mistake)."""
    return [("train-wrong-size", _train(corpus, vocab_size, **options, mistake="train-wrong-size"))]


@recorded
def greedy_longest_match(text: str, pieces: dict[str, float]) -> list[str]:
    """What a greedy tokenizer gives: at each position the longest piece (or one unknown character)."""
    out, i = [], 0
    longest = max(len(p) for p in pieces)
    while i < len(text):
        for j in range(min(len(text), i + longest), i, -1):
            if text[i:j] in pieces or j == i + 1:
                out.append(text[i:j])
                i = j
                break
    return out


@recorded
def corpus_scores(corpus: dict[str, int], pieces: dict[str, float]) -> tuple[float, float]:
    """(log-likelihood per character, tokens per character) of `corpus` under `pieces` renormalised
    to sum to 1: the forward log-likelihood (over all segmentations) and the length of the Viterbi
    segmentation of each word, by dynamic programming (words may be long for enumeration). Used to
    compare a trained model with SentencePiece's."""
    norm = _logsumexp(pieces.values())
    logp = {p: s - norm for p, s in pieces.items()}
    unk = min(logp.values()) - UNK_PENALTY
    longest = max(len(p) for p in logp)
    ll, tokens, chars = [], 0, 0
    for word, count in corpus.items():
        n = len(word)
        alpha = [0.0] + [-math.inf] * n
        best = [(0.0, 0)] + [(-math.inf, 0)] * n
        for j in range(1, n + 1):
            options = []
            for i in range(max(0, j - longest), j):
                s = logp.get(word[i:j], unk if i == j - 1 else None)
                if s is not None:
                    options.append((alpha[i] + s, (best[i][0] + s, best[i][1] + 1)))
            alpha[j] = _logsumexp(a for a, _ in options)
            best[j] = max((b for _, b in options), key=lambda b: (b[0], -b[1]))
        ll.append(count * alpha[n])
        tokens += count * best[n][1]
        chars += count * n
    return math.fsum(ll) / chars, tokens / chars


@recorded(lazy=True)
def viterbi_mistakes(
    text: str, pieces: dict[str, float], unk_penalty: float = UNK_PENALTY
) -> list[tuple[str, list[str]]]:
    """(mistake id, what viterbi returns with that mistake), by enumeration (short texts)."""
    segs = all_segmentations(text, pieces, unk_penalty)
    top = max(score for score, _ in segs)
    shorter_last = min((seg for score, seg in segs if score == top), key=lambda seg: [len(p) for p in reversed(seg)])
    zero = all_segmentations(text, pieces, unk_penalty=min(pieces.values()))  # unknown nodes scoring 0
    top0 = max(score for score, _ in zero)
    best0 = min((seg for score, seg in zero if score == top0), key=_tie_key)
    return [
        ("greedy-longest-match", greedy_longest_match.__wrapped__(text, pieces)),
        ("ties-to-shorter-piece", list(shorter_last)),
        ("unknown-scored-zero", list(best0)),
    ]


@recorded
def top_two_gap(text: str, pieces: dict[str, float], unk_penalty: float = UNK_PENALTY) -> float:
    """The score of the best segmentation minus that of the second best (0 for a tie), by dynamic
    programming keeping the two best paths to every position (for texts too long to enumerate):
    how far a text is from a tie that float32 sums (SentencePiece's) could break another way."""
    unk = min(pieces.values()) - unk_penalty
    longest = max(len(p) for p in pieces)
    top = [[0.0]] + [[] for _ in text]
    for j in range(1, len(text) + 1):
        options = []
        for i in range(max(0, j - longest), j):
            s = pieces.get(text[i:j], unk if i == j - 1 else None)
            if s is not None:
                options.extend(v + s for v in top[i])
        top[j] = sorted(options, reverse=True)[:2]
    return top[-1][0] - top[-1][1] if len(top[-1]) > 1 else math.inf


@recorded(lazy=True)
def normalize_mistakes(text: str) -> list[tuple[str, str]]:
    """(mistake id, what normalize returns with that mistake)."""
    import re

    inner = re.sub(" +", SPACE, text.lstrip(" "))
    return [
        ("spaces-not-collapsed", (SPACE + text.lstrip(" ").replace(" ", SPACE)).rstrip(SPACE)),
        ("no-dummy-prefix", inner.rstrip(SPACE)),
        ("trailing-space-kept", SPACE + inner if text.strip(" ") else ""),
        ("every-whitespace-is-space", (SPACE + SPACE.join(text.split())).rstrip(SPACE)),
    ]
