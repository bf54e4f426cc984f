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
    # YOUR CODE HERE
    raise NotImplementedError


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
    # YOUR CODE HERE
    raise NotImplementedError


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
    # YOUR CODE HERE
    raise NotImplementedError


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
    # YOUR CODE HERE
    raise NotImplementedError


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
    # YOUR CODE HERE
    raise NotImplementedError


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
    # YOUR CODE HERE
    raise NotImplementedError
