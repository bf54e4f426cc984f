"""BPE, hidden tests: larger generated corpora against golden merges of the reference's `train`
(data/bpe/golden.json), the `tokenizers` trainer, the reference's encode on held-out text,
a property test (round trips of random Unicode text from every plane), Python's own UTF-8 decoder, and
edge cases (emoji, combining marks, special tokens made of regex metacharacters).

Not shipped to learners; `make grade` and the instructor's grader run them. Exact comparisons
throughout: ids and merges are integers.
"""

import collections
import importlib.util
import json
import random

import pytest

from grader import paths
from tests.bpe.corpus import english_like, no_whitespace
from tests.bpe.driver import (
    call_text,
    check_ids,
    check_like_tokenizers,
    check_merge_shape,
    check_merges,
    fail,
    short,
    train_call,
)
from tests.bpe.mistakes import MISTAKE
from tests.bpe.oracle import GPT2_PATTERN, GPT4_PATTERN, tokenizers_merges

PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN, None: None}


def _load_reference():
    """solutions/bpe.py, imported under a private name (hidden tests only: docs/design.md rule 4)."""
    spec = importlib.util.spec_from_file_location("_bpe_reference_for_hidden_tests", paths.SOLUTIONS / "bpe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _load_reference()


def _golden() -> dict:
    """The golden cases of data/bpe/make_golden.py, keyed by name, with their corpus regenerated
    and checked against the recorded SHA-256."""
    import hashlib

    data = json.loads((paths.ROOT / "data" / "bpe" / "golden.json").read_text())
    cases = {}
    for case in data["cases"]:
        text = english_like(case["n_chars"], case["seed"], case["unicode"])
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != case["sha256"]:
            raise RuntimeError(
                f"data/bpe/golden.json case {case['name']}: the corpus generator no longer "
                "makes the same text; run `.venv/bin/python data/bpe/make_golden.py`."
            )
        merges = {tuple(pair): 256 + k for k, pair in enumerate(case["merges"])}
        cases[case["name"]] = (text, PATTERNS[case["pattern"]], case["vocab_size"], merges)
    return cases


GOLDEN = _golden()
GPT2_MERGES = GOLDEN["60k-gpt2-700"][3]
GPT4_MERGES = GOLDEN["40k-gpt4-600"][3]
SPECIAL = {"<|endoftext|>": 1000, "<|fim|>": 1001, "<|fim|><|fim|>": 1002}


# ------------------------------------------------------------------------------------------------
# Training on larger corpora


@pytest.mark.points(3)
@pytest.mark.parametrize("name", ["60k-gpt2-700", "40k-gpt4-600", "12k-gpt2-exhausted"])
def test_train_fast_equals_train_on_larger_corpora(impl, name):
    """train_fast gives exactly the reference train's merges on 12,000 to 60,000 characters."""
    text, pattern, vocab_size, expected = GOLDEN[name]
    stops = len(expected) < vocab_size - 256
    result = train_call(impl, "train_fast", text, vocab_size, pattern, stops_early=stops)
    check_merges(
        result,
        expected,
        call=f"train_fast(corpus {name}, {vocab_size}, pattern)",
        case=f"{len(text)} characters of generated text; golden merges of train in data/bpe/golden.json"
        + ("; it runs out of pairs" if stops else ""),
        impl=impl,
    )


def test_train_without_pattern_on_6000_characters(impl):
    """train with no pattern (the whole text is one chunk) matches the golden merges."""
    text, pattern, vocab_size, expected = GOLDEN["6k-no-pattern-400"]
    result = train_call(impl, "train", text, vocab_size)
    check_merges(
        result,
        expected,
        call=f"train(corpus, {vocab_size})",
        case=f"{len(text)} characters, no pattern; golden merges in data/bpe/golden.json",
        impl=impl,
    )


@pytest.mark.points(2)
@pytest.mark.parametrize("name", ["3k-gpt2-330", "3k-gpt4-330", "3k-unicode-gpt2-330"])
def test_train_and_train_fast_on_small_corpora(impl, name):
    """train and train_fast give the golden merges on 3,000 characters (GPT-2, GPT-4, much Unicode)."""
    text, pattern, vocab_size, expected = GOLDEN[name]
    for fn in ("train", "train_fast"):
        result = train_call(impl, fn, text, vocab_size, pattern)
        check_merges(
            result,
            expected,
            call=f"{fn}(corpus {name}, {vocab_size}, pattern)",
            case=f"{len(text)} characters; golden merges of train in data/bpe/golden.json",
            impl=impl,
        )


@pytest.mark.points(2)
def test_train_fast_against_tokenizers(impl):
    """tokenizers' trainer: the same merges on 30,000 characters without spaces (vocab 700), the
    same number to exhaustion, and the same count on ordinary text."""
    text = no_whitespace(english_like(30_000, seed=41))
    check_like_tokenizers(
        train_call(impl, "train_fast", text, 700, GPT2_PATTERN),
        tokenizers_merges(text, 700),
        call="train_fast(corpus, 700, GPT2_PATTERN)",
        case=f"{len(text)} characters without spaces",
        impl=impl,
    )
    small = no_whitespace(english_like(3000, seed=42))
    check_like_tokenizers(
        train_call(impl, "train_fast", small, 20_000, GPT2_PATTERN, stops_early=True),
        tokenizers_merges(small, 20_000),
        call="train_fast(corpus, 20000, GPT2_PATTERN)",
        case=f"{len(small)} characters without spaces, trained until no pair is left",
        impl=impl,
    )
    spaced = english_like(10_000, seed=43)
    result = train_call(impl, "train_fast", spaced, 500, GPT2_PATTERN)
    check_merge_shape(result, "train_fast(corpus, 500, GPT2_PATTERN)")
    expected = len(tokenizers_merges(spaced, 500))
    if len(result) != expected:
        fail(
            f"train_fast(corpus, 500, GPT2_PATTERN) on {len(spaced)} characters of ordinary generated "
            f"text made {len(result)} merges; the tokenizers trainer makes {expected}.\n"
            + MISTAKE["wrong-number-of-merges"].sentence()
        )


def test_train_counts_like_tokenizers(impl):
    """train makes as many merges as the tokenizers trainer (vocab 360) on ordinary text."""
    text = english_like(2500, seed=44)
    result = train_call(impl, "train", text, 360, GPT2_PATTERN)
    check_merge_shape(result, "train(corpus, 360, GPT2_PATTERN)")
    expected = len(tokenizers_merges(text, 360))
    if len(result) != expected:
        fail(
            f"train(corpus, 360, GPT2_PATTERN) on {len(text)} characters made {len(result)} merges; the "
            f"tokenizers trainer makes {expected}.\n" + MISTAKE["wrong-number-of-merges"].sentence()
        )


@pytest.mark.points(2)
def test_train_edge_texts(impl):
    """One emoji, a combining mark with and without GPT-2's split, a long run of one letter."""
    # 😀 = 240 159 152 128: three pairs seen once each; the smallest, (152, 128), goes first.
    cases = [
        ("😀", 300, None, {(152, 128): 256, (159, 256): 257, (240, 257): 258}),
        # e + U+0301 = 101 204 129; GPT-2 cuts it into 'e' and the mark (not a letter): one pair.
        ("e\u0301", 300, None, {(101, 204): 256, (256, 129): 257}),
        ("e\u0301", 300, GPT2_PATTERN, {(204, 129): 256}),
        # 'aaaaa': (97, 97) 4 times -> 256 256 97; (256, 256) once, (256, 97) once -> (256, 97)
        # is smaller -> 257: 256 257; then (256, 257) -> 258.
        ("aaaaa", 300, None, {(97, 97): 256, (256, 97): 257, (256, 257): 258}),
    ]
    for fn in ("train", "train_fast"):
        for text, vocab_size, pattern, expected in cases:
            result = train_call(impl, fn, text, vocab_size, pattern, stops_early=True)
            check_merges(
                result,
                expected,
                call=call_text(fn, text, vocab_size, *([pattern] if pattern else [])),
                case="worked by hand",
                impl=impl,
            )


# ------------------------------------------------------------------------------------------------
# encode and decode

HELD_OUT = english_like(5000, seed=51)
WITH_SPECIAL = "<|endoftext|>" + HELD_OUT[:2000] + "<|fim|><|fim|><|fim|>" + HELD_OUT[2000:] + "<|endoftext|>"


@pytest.mark.points(3)
@pytest.mark.parametrize("which", ["gpt2", "gpt4", "gpt2-special", "no-pattern"])
def test_encode_held_out_text(impl, which):
    """encode of 5,000 held-out characters with 344 to 444 golden merges matches the reference."""
    merges, pattern = (GPT4_MERGES, GPT4_PATTERN) if which == "gpt4" else (GPT2_MERGES, GPT2_PATTERN)
    text, special = (WITH_SPECIAL, SPECIAL) if which == "gpt2-special" else (HELD_OUT, None)
    if which == "no-pattern":
        text, pattern, merges = HELD_OUT[:1500], None, GOLDEN["6k-no-pattern-400"][3]
    expected = REF.encode(text, merges, pattern, special)
    got = impl.encode(text, merges, pattern, special) if special else impl.encode(text, merges, pattern)
    check_ids(
        got,
        expected,
        call=f"encode(held-out text, merges{', pattern' if pattern else ''}{', special_tokens' if special else ''})",
        case=f"{which}: {len(text)} characters, {len(merges)} merges, the reference as oracle",
        impl=impl,
    )
    back = impl.decode(got, merges, special) if special else impl.decode(got, merges)
    if back != text:
        fail(
            f"decode(encode(held-out text)) does not give the text back ({which}); first difference at "
            f"character {next((i for i, (a, b) in enumerate(zip(back, text)) if a != b), min(len(back), len(text)))}."
        )


def random_text(rng: random.Random) -> str:
    """Up to 40 characters drawn from ASCII, whitespace, Latin-1, combining marks, CJK, emoji, any
    code point of any plane (surrogates excepted: they cannot be UTF-8 encoded), and pieces of
    special tokens."""
    pools = [
        lambda: chr(rng.randrange(32, 127)),
        lambda: rng.choice(" \n\t\r\x00\x0b"),
        lambda: chr(rng.randrange(0xA0, 0x100)),
        lambda: chr(rng.randrange(0x300, 0x370)),
        lambda: chr(rng.randrange(0x4E00, 0xA000)),
        lambda: chr(rng.randrange(0x1F300, 0x1FB00)),
        lambda: chr(rng.choice((rng.randrange(0, 0xD800), rng.randrange(0xE000, 0x110000)))),
        lambda: rng.choice(["<|endoftext|>", "<|fim|>", "<|", "|>", "'s", " the", "123"]),
    ]
    return "".join(rng.choice(pools)() for _ in range(rng.randrange(0, 41)))


@pytest.mark.points(2)
def test_round_trip_random_unicode(impl):
    """decode(encode(t)) == t for 300 random Unicode texts, with GPT-2's split and special tokens,
    and the ids are the reference's."""
    rng = random.Random(81)
    for _trial in range(300):
        text = random_text(rng)
        ids = impl.encode(text, GPT2_MERGES, GPT2_PATTERN, SPECIAL)
        check_ids(
            ids,
            REF.encode(text, GPT2_MERGES, GPT2_PATTERN, SPECIAL),
            call=f"encode({short(text)}, merges, GPT2_PATTERN, special_tokens)",
            case="444 golden merges; special tokens <|endoftext|> 1000, <|fim|> 1001, <|fim|><|fim|> 1002",
        )
        back = impl.decode(ids, GPT2_MERGES, SPECIAL)
        if back != text:
            fail(f"decode(encode({text!r})) gave {back!r}: the round trip must give the text back.")


def test_decode_bytes_like_python(impl):
    """decode of random ids (bytes and merged tokens) equals Python's bytes.decode(errors='replace')."""
    rng = random.Random(61)
    vocab = dict(enumerate(bytes([i]) for i in range(256)))
    for (a, b), new_id in GPT2_MERGES.items():
        vocab[new_id] = vocab[a] + vocab[b]
    for _trial in range(40):
        ids = [
            rng.choice((rng.randrange(256), rng.randrange(256, 700), rng.randrange(128, 256)))
            for _ in range(rng.randrange(1, 12))
        ]
        expected = b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")
        try:
            got = impl.decode(ids, GPT2_MERGES)
        except UnicodeDecodeError as exc:
            fail(f"decode({ids}, merges) raised UnicodeDecodeError ({exc}).\n" + MISTAKE["decode-strict"].sentence())
        if got != expected:
            fail(
                f"decode({ids}, merges) returned {got!r}; Python's bytes.decode('utf-8', errors='replace') "
                f"of their bytes gives {expected!r}."
            )


@pytest.mark.points(2)
def test_special_token_edge_cases(impl):
    """Special tokens with regex metacharacters, adjacent, overlapping, inside words, non-ASCII."""
    cases = [
        # regex metacharacters must be taken literally
        ("x[MASK](.*)y", None, {"[MASK]": 300, "(.*)": 301}, [120, 300, 301, 121]),
        # overlapping at different places: the leftmost match wins, 'c' is left over
        ("xabc", None, {"ab": 300, "bc": 301}, [120, 300, 99]),
        # the whole text is one special token; adjacent ones
        ("<|endoftext|>", GPT2_PATTERN, SPECIAL, [1000]),
        ("<|fim|><|endoftext|><|fim|>", GPT2_PATTERN, SPECIAL, [1001, 1000, 1001]),
        # inside a word, GPT-2's split around it
        (
            "hello<|endoftext|>world",
            GPT2_PATTERN,
            {"<|endoftext|>": 1000},
            REF.encode("hello", GPT2_MERGES, GPT2_PATTERN) + [1000] + REF.encode("world", GPT2_MERGES, GPT2_PATTERN),
        ),
        # a non-ASCII special token
        ("a<|🚀|>b", GPT2_PATTERN, {"<|🚀|>": 500}, [97, 500, 98]),
    ]
    for text, pattern, special, expected in cases:
        call = f"encode({text!r}, merges, {'GPT2_PATTERN' if pattern else 'None'}, {special})"
        check_ids(
            impl.encode(text, GPT2_MERGES, pattern, special),
            expected,
            call=call,
            near=[(MISTAKE["special-split-by-pattern"], REF.encode(text, GPT2_MERGES, pattern, None))],
        )
        back = impl.decode(expected, GPT2_MERGES, special)
        if back != text:
            fail(f"decode({expected}, merges, {special}) gave {back!r}, expected {text!r}.")


def test_get_stats_and_merge_on_random_lists(impl):
    """get_stats equals collections.Counter over the pairs, merge the reference, on random lists."""
    rng = random.Random(71)
    for _trial in range(60):
        ids = [rng.randrange(4) for _ in range(rng.randrange(0, 30))]
        stats = impl.get_stats(list(ids))
        expected = dict(collections.Counter(zip(ids, ids[1:])))
        if not isinstance(stats, dict) or dict(stats) != expected:
            fail(
                f"get_stats({ids}) returned {short(stats, 200)}, expected {expected} "
                f"(collections.Counter of the pairs)."
            )
        pair = (rng.randrange(4), rng.randrange(4))
        check_ids(
            impl.merge(list(ids), pair, 256), REF.merge(ids, pair, 256), call=f"merge({ids}, {pair}, 256)", impl=impl
        )
