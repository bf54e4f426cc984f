"""Unigram tokenizer, hidden tests: SentencePiece on thousands of strings (its normaliser; the encode of
unigram models it trains on generated corpora of several sizes, vocabularies and alphabets, with rare
and unseen characters), brute force over every segmentation on many more short texts and unknown
penalties, a 10,000-character text through forward_backward and viterbi, em_step and prune on more
corpora, train by its definition and against SentencePiece's own models on larger corpora, and the
arguments left unmodified.

Not shipped to learners; `make grade` and the instructor's grader run them. The tolerances, the
tie margins and the checks are those of test_public.py.
"""

from __future__ import annotations

import random

import pytest

from grader.checks import fail
from tests.unigram.key import (
    brute_em_step,
    brute_forward_backward,
    brute_train,
    brute_viterbi,
    concatenated_forward_backward,
    prune_losses,
    top_two_gap,
    train_mistakes,
    viterbi_mistakes,
)
from tests.unigram.mistakes import MISTAKE
from tests.unigram.test_public import (
    SPACE,
    TIE,
    TIE_F32,
    TOL_COUNT_LONG,
    TOL_LOGP,
    check_forward_backward,
    check_normalized,
    check_prune,
    check_scores,
    check_segmentation,
    check_train_against_sentencepiece,
    generated_lines,
    random_pieces,
    random_texts,
    sentencepiece_model,
    sentencepiece_normalize,
    word_counts,
)

# ---------------------------------------------------------------------------------------------------
# normalize


def test_normalize_matches_sentencepiece_on_3000_strings(impl):
    """normalize equals SentencePiece's identity normaliser on 3,000 strings of every kind of space."""
    rng = random.Random(70)
    alphabet = list("ab€é漢") + [
        "\U0001f600",
        " ",
        " ",
        " ",
        " ",
        "▁",
        "▁",
        "\t",
        "\n",
        "\r",
        "\u3000",
        "\u00a0",
        "\u2009",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        check_normalized(
            impl, text, sentencepiece_normalize(text), case="SentencePieceNormalizer(rule_name='identity')"
        )


# ---------------------------------------------------------------------------------------------------
# viterbi against SentencePiece

# (seed, lines, distinct words, alphabet of the corpus, vocab_size with its 3 control symbols)
MODELS = {
    "10 letters, 60 pieces": (1, 200, 80, "abcdefghij", 60),
    "26 letters, 300 pieces": (3, 1500, 500, "abcdefghijklmnopqrstuvwxyz", 300),
    "accents and CJK, 100 pieces": (4, 600, 200, "aeiouéèàüßñ漢字かな", 100),
}
UNSEEN = "xyzQ€ç\U0001f600"


def unknown_isolated_texts(seed: int, known: str, count: int, longest: int) -> list[str]:
    """Strings of known characters with, now and then, a rare or unseen one (never two unknown side by
    side: encode merges runs of them), and runs of 1 to 3 spaces."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(1, longest)):
            if chars and rng.random() < 0.12:
                chars.append(" " * rng.randint(1, 3))
            elif rng.random() < 0.06 and (not chars or chars[-1] not in UNSEEN):
                chars.append(rng.choice(UNSEEN))
            else:
                chars.append(rng.choice(known))
        out.append("".join(chars))
    return out


@pytest.mark.points(3)
@pytest.mark.parametrize("name", list(MODELS))
def test_viterbi_matches_sentencepiece_on_1000_strings(impl, name):
    """viterbi(normalised text, SentencePiece's pieces and scores) equals its encode on 1,000 strings."""
    seed, n_lines, n_types, alphabet, vocab_size = MODELS[name]
    lines = generated_lines(seed, n_lines, n_types, alphabet) + ["ŷ ðŷ"]  # two rare characters
    processor, pieces = sentencepiece_model(lines, vocab_size)
    assert "ŷ" in pieces and "ð" in pieces
    # Known: the characters that are pieces (a rare one too: character_coverage=1.0); letters of the
    # alphabet that the generated corpus happens not to use are unknown, like UNSEEN.
    known = "".join(sorted(c for c in pieces if len(c) == 1 and c != SPACE and c not in UNSEEN))
    checked = 0
    for text in unknown_isolated_texts(seed + 100, known, 1000, 60):
        normalised = sentencepiece_normalize(text)
        if not normalised or top_two_gap(normalised, pieces) < TIE_F32:
            continue
        checked += 1
        expected = processor.encode(text, out_type=str)
        case = f"SentencePiece's unigram model '{name}' (text {text!r})"
        check_segmentation(impl, normalised, pieces, expected, case=case)
    assert checked > 900, checked


def test_viterbi_10000_characters_matches_sentencepiece(impl):
    """viterbi on a 10,000-character text equals SentencePiece's encode."""
    seed, n_lines, n_types, alphabet, vocab_size = MODELS["26 letters, 300 pieces"]
    lines = generated_lines(seed, n_lines, n_types, alphabet)
    processor, pieces = sentencepiece_model(lines, vocab_size)
    # No piece holds "▁" after its first character, so the words are segmented independently: keep the
    # words clear of ties (float32), then join them.
    assert not any(SPACE in p[1:] for p in pieces)
    known = [c for c in pieces if len(c) == 1 and c != SPACE]
    rng = random.Random(8)
    words, length = [], 0
    while length < 10_000:
        word = SPACE + "".join(rng.choice(known) for _ in range(rng.randint(1, 12)))
        if top_two_gap(word, pieces) >= TIE_F32 and length + len(word) <= 10_000:
            words.append(word)
            length += len(word)
        elif length + len(word) > 10_000:
            break
    text = "".join(words)
    expected = processor.encode(text.replace(SPACE, " "), out_type=str)
    check_segmentation(impl, text, pieces, expected, case=f"{len(text)} characters, SentencePiece's encode")


# ---------------------------------------------------------------------------------------------------
# brute force


@pytest.mark.points(2)
@pytest.mark.parametrize("unk_penalty", [10.0, 0.0, 3.5, 25.0])
def test_viterbi_brute_force_more(impl, unk_penalty):
    """viterbi equals the best segmentation, enumerated, on 240 texts, with several unknown penalties."""
    checked = 0
    for seed in range(4):
        pieces = random_pieces(40 + seed, "▁abcd", 20, longest=5, missing="d" if seed % 2 else "")
        for text in random_texts(40 + seed, "▁abcde", 60):
            best, gap = brute_viterbi(text, pieces, unk_penalty)
            if gap < TIE:
                continue
            checked += 1
            case = f"random pieces (seed {40 + seed}), brute force, unk_penalty={unk_penalty}"
            kw = {} if unk_penalty == 10.0 else {"unk_penalty": unk_penalty}
            check_segmentation(
                impl, text, pieces, best, case=case, near=viterbi_mistakes(text, pieces, unk_penalty), **kw
            )
    assert checked > 180, checked


@pytest.mark.points(2)
def test_forward_backward_brute_force_more(impl):
    """forward_backward equals the sums over every segmentation on 300 more texts (unknowns included)."""
    for seed in range(5):
        pieces = random_pieces(60 + seed, "▁abcd", 18, longest=5, missing="d" if seed % 2 else "")
        for text in random_texts(60 + seed, "▁abcde", 60):
            expected = brute_forward_backward(text, pieces)
            check_forward_backward(impl, text, pieces, expected, case=f"random pieces (seed {60 + seed}), brute force")


def test_forward_backward_10000_characters_with_unknowns(impl):
    """10,000 characters with unknown ones: finite, and the sum of its words' sums (enumerated)."""
    pieces = random_pieces(80, "▁abc", 14, longest=3)
    pieces = {p: s for p, s in pieces.items() if SPACE not in p[1:]}
    rng = random.Random(81)
    words, length = [], 0
    while True:
        word = SPACE + "".join(rng.choice("abcx") for _ in range(rng.randint(1, 7)))
        if length + len(word) > 10_000:
            break
        words.append(word)
        length += len(word)
    expected = concatenated_forward_backward(words, pieces)
    case = f"{length} characters, {len(words)} words, 'x' unknown"
    check_forward_backward(impl, "".join(words), pieces, expected, case=case, tol_count=TOL_COUNT_LONG)


# ---------------------------------------------------------------------------------------------------
# em_step, prune, train

CORPORA = {
    "six words": ({"▁ab": 5, "▁abc": 3, "▁b": 2, "▁cab": 1, "▁a": 4, "▁bca": 2}, random_pieces(90, "▁abc", 18)),
    "long words": ({"▁abcabc": 2, "▁cabbage": 1, "▁bad": 7, "▁ace": 3}, random_pieces(91, "▁abcdeg", 24)),
    "unknown letters": ({"▁abx": 3, "▁xa": 2, "▁bb": 5}, random_pieces(92, "▁ab", 10)),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(CORPORA))
def test_em_step_more(impl, name):
    """em_step equals its definition with expected counts by enumeration."""
    corpus, pieces = CORPORA[name]
    given_corpus, given_pieces = dict(corpus), dict(pieces)
    got = impl.em_step(given_corpus, given_pieces)
    check_unmodified("em_step", corpus, given_corpus)
    check_unmodified("em_step", pieces, given_pieces)
    chars = [p for p in pieces if len(p) == 1]
    if isinstance(got, dict) and any(c not in got for c in chars):
        fail(f"em_step, for {name}: single characters missing.\n" + MISTAKE["em-drops-characters"].sentence())
    check_scores(got, brute_em_step(corpus, pieces), name="em_step(corpus, pieces)", case=name, tol=TOL_LOGP)


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(CORPORA))
def test_prune_more(impl, name):
    """prune equals its definition (Viterbi by enumeration) at several sizes."""
    corpus, pieces = CORPORA[name]
    losses = sorted(v for v in prune_losses(corpus, pieces).values() if v > 0)
    assert all(b - a > 1e-6 for a, b in zip(losses, losses[1:])), "test data too close to a tie"
    chars = sum(len(p) == 1 for p in pieces)
    for size in sorted({chars - 1, chars, chars + 1, chars + 3, len(pieces) - 2, len(pieces)}):
        check_prune(impl, corpus, pieces, size, case=name)
    given_corpus, given_pieces = dict(corpus), dict(pieces)
    impl.prune(given_corpus, given_pieces, chars + 1)
    check_unmodified("prune", corpus, given_corpus)
    check_unmodified("prune", pieces, given_pieces)


TINY = {
    "seven words, vocab 9": ({"▁ab": 6, "▁abc": 3, "▁bcab": 2, "▁cab": 2, "▁a": 4, "▁bca": 2, "▁ca": 1}, 9, {}),
    "eight words, shrink 0.6, 3 EM steps": (
        {"▁the": 9, "▁then": 3, "▁hen": 2, "▁ten": 4, "▁net": 1, "▁tent": 2, "▁eh": 1, "▁het": 1},
        14,
        {"shrink": 0.6, "em_iters": 3},
    ),
    "fewer places than characters": ({"▁abcdef": 2, "▁fed": 1}, 4, {}),
    "seed_size 12": ({"▁abab": 4, "▁baba": 3, "▁aab": 2}, 6, {"seed_size": 12}),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(TINY))
def test_train_by_definition(impl, name):
    """train equals its definition run with brute-force EM and pruning."""
    corpus, vocab_size, options = TINY[name]
    expected = brute_train(corpus, vocab_size, **options)
    given = dict(corpus)
    got = impl.train(given, vocab_size, **options)
    check_unmodified("train", corpus, given)
    check_scores(got, expected, name="train(corpus, vocab_size)", case=name, tol=TOL_LOGP,
                 near=train_mistakes(corpus, vocab_size, **options))  # fmt: skip


LARGER = {
    "170 words, 120 pieces": (2, 400, 200, 120),
    "250 words, 200 pieces": (4, 1000, 300, 200),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("name", list(LARGER))
def test_train_near_sentencepiece_larger(impl, name):
    """train on larger corpora: as good as SentencePiece's own model of the same size, within the margin."""
    seed, n_lines, n_types, vocab_size = LARGER[name]
    lines = generated_lines(seed, n_lines, n_types, "abcdefghijklmnopqrstuvwxyz")
    _, theirs = sentencepiece_model(lines, vocab_size + 3)
    check_train_against_sentencepiece(impl, word_counts(lines), vocab_size, theirs, case=name)


def check_unmodified(function: str, before: dict, after: dict) -> None:
    """No function changes the dicts it is given (in grading mode they are copies anyway)."""
    if before != after:
        text = repr(after)
        fail(f"{function} modified its argument: it became {text if len(text) < 200 else text[:200] + ' ...'}.")
