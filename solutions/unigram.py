"""SentencePiece's unigram tokenizer (Kudo 2018): normalisation, Viterbi segmentation,
forward-backward, EM and pruning, and the trainer built from them.

A unigram model is a set of pieces, each with a log probability: `pieces = {"▁the": -3.2, "t":
-5.1, ...}`. A text is segmented into pieces; a segmentation's score is the sum of its pieces' log
probabilities, and the tokenizer picks the segmentation with the highest score (Viterbi). "▁"
(U+2581, "lower one eighth block") stands for a space, so that spaces are ordinary characters
of the pieces.

    normalize("Hello  world ") == "▁Hello▁world"
    pieces = {"▁": -2.0, "a": -3.0, "b": -3.0, "ab": -4.0, "▁ab": -7.0}
    viterbi("▁ab", pieces) == ["▁", "ab"]       # -2 - 4 = -6 beats "▁ab" (-7) and ▁ a b (-8)

The lattice. Every piece that occurs in the text at position i (text[i:j] == piece) is a node
from i to j with the piece's score; a segmentation is a path of nodes from 0 to len(text). A
character that is not itself a piece also gets an *unknown* node of score
`min(pieces.values()) - unk_penalty` (SentencePiece's rule, penalty 10.0), so that every text has
at least one segmentation. Dynamic programming over the lattice's end positions gives the best
path (Viterbi: max and arg max) or the total over all paths (forward: logsumexp), in time
`len(text) * (longest piece length)`, never by enumerating the exponentially many paths.

Conventions of this kata:
- Everything stays in log space (floats of Python, float64): a product of probabilities of a
  10,000-character text is far below the smallest float, its log is not.
- Ties in viterbi go to the segmentation whose last piece is the longest, then recursively on the
  rest, as SentencePiece breaks them.
- An unknown character comes out of viterbi as its own one-character piece; SentencePiece's
  `encode` also merges runs of unknown characters into one piece, which this kata does not.
- `corpus` is `{normalised word: count}`, e.g. `{"▁the": 120, "▁cat": 3}`: training works on
  words (SentencePiece splits sentences at spaces, the "▁" staying at the start of each word).
- "Single characters" are the pieces of length 1: the trainer never removes them.
- The functions never modify the dicts they are given.

Allowed: the standard library (math, collections, ...), and torch or numpy if you like. Not
allowed: `sentencepiece`, `tokenizers`, `transformers` (the tests use `sentencepiece` as the
reference).
"""

from __future__ import annotations

import math
import re

SPACE = "\u2581"  # "▁", what a space becomes
UNK_PENALTY = 10.0  # SentencePiece's kUnkPenalty: unknown nodes score min(pieces) - 10
# An expected count below this is zero: EM drives the probability of a redundant piece down
# exponentially, and a count of 1e-320 is what underflow leaves of one (it is 0.0 or not depending
# on the order of the operations, so it must not decide whether a piece stays).
NEGLIGIBLE = 1e-300


def normalize(text: str) -> str:
    """Normalise `text` as SentencePiece does with `normalization_rule_name="identity"` (no
    Unicode mapping) and its other defaults (`add_dummy_prefix`, `remove_extra_whitespaces`,
    `escape_whitespaces`).

    - Only U+0020 (" ") is a space: tabs, newlines, U+00A0 or U+3000 are ordinary characters.
    - Leading spaces go; every run of spaces inside the text becomes one "▁".
    - One "▁" is put in front (the dummy prefix), so that a word at the start of the text looks
      like a word after a space.
    - Trailing spaces go; in fact every "▁" at the very end of the result goes, including "▁"
      characters that were in the input ("a▁" gives "▁a") and the prefix itself ("▁" gives "").
      A "▁" elsewhere in the input is kept as it is, never merged with its neighbours
      ("▁a▁▁b" gives "▁▁a▁▁b").
    - Empty or all-space text gives "".

    Examples: normalize(" Hello  world ") == "▁Hello▁world"; normalize("a\\tb") == "▁a\\tb";
    normalize("   ") == "".
    """
    ### BEGIN SOLUTION
    collapsed = re.sub(" +", SPACE, text.lstrip(" "))
    return (SPACE + collapsed).rstrip(SPACE)
    ### END SOLUTION


def viterbi(text: str, pieces: dict[str, float], unk_penalty: float = UNK_PENALTY) -> list[str]:
    """The best segmentation of `text` (already normalised) into pieces.

    Args:
        text: a normalised string (what `normalize` returns), possibly empty.
        pieces: `{piece: log probability}`, non-empty.
        unk_penalty: an unknown node (a character that is not itself a piece) scores
            `min(pieces.values()) - unk_penalty`.

    Returns:
        The pieces of the segmentation with the highest total score, in order; they concatenate
        to `text`. An unknown character is its own one-character item. Ties go to the
        segmentation whose last piece is the longest (then the same rule on the text before it).
        `[]` for "".

    Work on end positions: best[j] = max over nodes (i -> j) of best[i] + score(node), keeping
    where the best node starts, then walk back from len(text).
    """
    ### BEGIN SOLUTION
    unk_score = min(pieces.values()) - unk_penalty
    longest = max(len(p) for p in pieces)
    n = len(text)
    best = [0.0] + [-math.inf] * n
    start_of = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(max(0, j - longest), j):  # longest last piece first: it wins ties
            score = pieces.get(text[i:j])
            if score is None and i == j - 1:
                score = unk_score  # a character that is not a piece: an unknown node
            if score is not None and best[i] + score > best[j]:
                best[j], start_of[j] = best[i] + score, i
    out, j = [], n
    while j > 0:
        out.append(text[start_of[j] : j])
        j = start_of[j]
    return out[::-1]
    ### END SOLUTION


def forward_backward(text: str, pieces: dict[str, float]) -> tuple[float, dict[str, float]]:
    """The total log probability of `text` over all its segmentations, and each piece's expected
    count under the posterior over segmentations.

    Args:
        text: a normalised string, possibly empty.
        pieces: `{piece: log probability}`, non-empty. Unknown nodes take part as in `viterbi`
            (score `min(pieces.values()) - 10`), but they are not pieces and are not counted.

    Returns:
        `(log_likelihood, expected_counts)`: `log_likelihood = log sum over segmentations s of
        exp(score(s))` (0.0 for ""), and `expected_counts[piece] = sum over segmentations s of
        P(s | text) * (occurrences of piece in s)`. Pieces with expected count 0 may be left out.

    forward:  alpha[0] = 0, alpha[j] = logsumexp over nodes (i -> j, score) of alpha[i] + score
    backward: beta[n] = 0,  beta[i] = logsumexp over nodes (i -> j, score) of score + beta[j]
    posterior of a node (i -> j): exp(alpha[i] + score + beta[j] - alpha[n])
    Everything in log space: the text may have 10,000 characters.
    """
    ### BEGIN SOLUTION
    unk_score = min(pieces.values()) - UNK_PENALTY
    longest = max(len(p) for p in pieces)
    n = len(text)
    nodes: list[list[tuple[int, str | None, float]]] = [[] for _ in range(n + 1)]  # nodes[j]: ending at j
    for j in range(1, n + 1):
        for i in range(max(0, j - longest), j):
            piece = text[i:j]
            if piece in pieces:
                nodes[j].append((i, piece, pieces[piece]))
            elif i == j - 1:
                nodes[j].append((i, None, unk_score))

    def logsumexp(values: list[float]) -> float:
        top = max(values)
        return top + math.log(sum(math.exp(v - top) for v in values))

    alpha = [0.0] * (n + 1)
    for j in range(1, n + 1):
        alpha[j] = logsumexp([alpha[i] + score for i, _, score in nodes[j]])
    starting: list[list[tuple[int, float]]] = [[] for _ in range(n + 1)]
    for j in range(1, n + 1):
        for i, _, score in nodes[j]:
            starting[i].append((j, score))
    beta = [0.0] * (n + 1)
    for i in range(n - 1, -1, -1):
        beta[i] = logsumexp([score + beta[j] for j, score in starting[i]])
    log_likelihood = alpha[n]
    counts: dict[str, float] = {}
    for j in range(1, n + 1):
        for i, piece, score in nodes[j]:
            if piece is not None:
                counts[piece] = counts.get(piece, 0.0) + math.exp(alpha[i] + score + beta[j] - log_likelihood)
    return log_likelihood, counts
    ### END SOLUTION


def em_step(corpus: dict[str, int], pieces: dict[str, float]) -> dict[str, float]:
    """One iteration of EM: expected counts (E), then new log probabilities from them (M).

    Args:
        corpus: `{normalised word: count}`.
        pieces: `{piece: log probability}` (not modified).

    Returns:
        A new dict. With `c[x] = sum over words w of count(w) * expected_counts(w)[x]` (from
        `forward_backward`) and `total = sum of c over all pieces`, every piece with
        `c[x] >= NEGLIGIBLE` (1e-300) gets `log(c[x] / total)`. A piece with a smaller count
        (zero: it occurs in no word, or its probability has underflowed) is dropped, except a
        single character, which keeps its previous log probability.
    """
    ### BEGIN SOLUTION
    counts: dict[str, float] = {}
    for word, count in corpus.items():
        for piece, expected in forward_backward(word, pieces)[1].items():
            counts[piece] = counts.get(piece, 0.0) + count * expected
    total = sum(counts.values())
    new = {piece: math.log(c / total) for piece, c in counts.items() if c >= NEGLIGIBLE}
    for piece, score in pieces.items():
        if len(piece) == 1 and piece not in new:
            new[piece] = score
    return new
    ### END SOLUTION


def prune(corpus: dict[str, int], pieces: dict[str, float], size: int) -> dict[str, float]:
    """Keep the `size` pieces whose removal would cost the corpus the most (Kudo 2018, 3.2).

    Args:
        corpus: `{normalised word: count}`.
        pieces: `{piece: log probability}` (not modified).
        size: how many pieces to keep.

    Returns:
        A new dict: every single character of `pieces`, and of the other pieces the
        `size - (number of single characters)` with the largest loss, where

            loss(x) = count(x) * (pieces[x] - score of viterbi(x, pieces without x))

        `count(x)` is how many times x occurs in the words' Viterbi segmentations (with all of
        `pieces`), each word weighted by its count; the score of a segmentation is the sum of its
        pieces' log probabilities (unknown characters scoring `min - 10` of the pieces used). A
        piece that no Viterbi segmentation uses has loss 0. Ties in loss go to the piece with the
        higher log probability, then to the smaller string. The kept log probabilities are
        renormalised: each minus the logsumexp of the kept ones. With at least as many single
        characters as `size`, only the single characters remain.
    """
    ### BEGIN SOLUTION
    chars = [p for p in pieces if len(p) == 1]
    others = [p for p in pieces if len(p) > 1]
    used: dict[str, int] = {}
    for word, count in corpus.items():
        for piece in viterbi(word, pieces):
            used[piece] = used.get(piece, 0) + count
    loss = {}
    for x in others:
        if used.get(x, 0) == 0:
            loss[x] = 0.0
            continue
        without = {p: s for p, s in pieces.items() if p != x}
        unk_score = min(without.values()) - UNK_PENALTY
        alternative = sum(without.get(p, unk_score) for p in viterbi(x, without))
        loss[x] = used[x] * (pieces[x] - alternative)
    ranked = sorted(others, key=lambda x: (-loss[x], -pieces[x], x))
    kept = chars + ranked[: max(0, size - len(chars))]
    top = max(pieces[p] for p in kept)
    norm = top + math.log(sum(math.exp(pieces[p] - top) for p in kept))
    return {p: pieces[p] - norm for p in kept}
    ### END SOLUTION


def train(
    corpus: dict[str, int], vocab_size: int, seed_size: int = 10000, em_iters: int = 2, shrink: float = 0.75
) -> dict[str, float]:
    """Train a unigram model on `corpus` with `vocab_size` pieces.

    Args:
        corpus: `{normalised word: count}`.
        vocab_size: the number of pieces wanted (at least 1).
        seed_size: the size of the seed vocabulary.
        em_iters: EM steps per round.
        shrink: each pruning keeps `max(vocab_size, int(shrink * current size))` pieces
            (0 < shrink < 1).

    Returns:
        `{piece: log probability}`.

    1. Seed: every character of the corpus, plus the most frequent substrings of the words of 2 to
       16 characters, up to `seed_size` pieces in all (fewer if the corpus has fewer substrings).
       A substring's frequency counts all its occurrences (overlapping ones too) in every word,
       times the word's count; ties go to the longer substring, then to the smaller string. Each
       seed piece scores `log(frequency / sum of the seed pieces' frequencies)`.
    2. Rounds: `em_iters` calls of `em_step`; then stop if at most `vocab_size` pieces remain (or
       only single characters); otherwise `prune` to `max(vocab_size, int(shrink * current))`
       and start the next round. The returned scores are therefore EM's, after the last pruning.

    Raises:
        ValueError: if vocab_size < 1 or shrink is not strictly between 0 and 1.
    """
    ### BEGIN SOLUTION
    if vocab_size < 1 or not 0 < shrink < 1:
        raise ValueError(f"need vocab_size >= 1 and 0 < shrink < 1, got {vocab_size} and {shrink}")
    chars: dict[str, int] = {}
    substrings: dict[str, int] = {}
    for word, count in corpus.items():
        for i in range(len(word)):
            chars[word[i]] = chars.get(word[i], 0) + count
            for j in range(i + 2, min(len(word), i + 16) + 1):
                substrings[word[i:j]] = substrings.get(word[i:j], 0) + count
    ranked = sorted(substrings, key=lambda s: (-substrings[s], -len(s), s))
    frequency = {**chars, **{s: substrings[s] for s in ranked[: max(0, seed_size - len(chars))]}}
    total = sum(frequency.values())
    pieces = {p: math.log(f / total) for p, f in frequency.items()}
    while True:
        for _ in range(em_iters):
            pieces = em_step(corpus, pieces)
        if len(pieces) <= vocab_size or all(len(p) == 1 for p in pieces):
            return pieces
        pieces = prune(corpus, pieces, max(vocab_size, int(shrink * len(pieces))))
    ### END SOLUTION
