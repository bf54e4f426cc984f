"""BPE, hidden tests: larger generated corpora against golden merges of the reference's `train`
(data/bpe/golden.json), the `tokenizers` trainer, the reference's encode on held-out text,
a property test (round trips of random Unicode text from every plane), Python's own UTF-8 decoder, and
edge cases (emoji, combining marks, special tokens made of regex metacharacters).

Not shipped to learners; `make grade` and the instructor's grader run them. Exact comparisons
throughout: ids and merges are integers.
"""

import collections
import hashlib
import importlib.util
import json
import random

import pytest

from grader import paths
from grader.checks import fail
from grader.kit import cases
from tests.bpe.corpus import GPT2_PATTERN, GPT4_PATTERN, english_like, no_whitespace
from tests.bpe.key import spelled
from tests.bpe.mistakes import MISTAKE
from tests.bpe.test_public import (
    check_encoding,
    check_ids,
    check_merge_shape,
    check_training,
    diagnose,
    notes,
    short,
    tokenizers_merges,
    trained,
)


def _load_reference():
    """solutions/bpe.py, imported under a private name (hidden tests only: docs/design.md rule 4)."""
    spec = importlib.util.spec_from_file_location("_bpe_reference_for_hidden_tests", paths.SOLUTIONS / "bpe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _load_reference()


def _golden() -> dict:
    """The golden cases of data/bpe/make_golden.py, {name: (text, pattern, vocab_size, merges)}, with
    their corpus regenerated and checked against the recorded SHA-256."""
    data = json.loads((paths.ROOT / "data" / "bpe" / "golden.json").read_text())
    patterns = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN, None: None}
    golden = {}
    for case in data["cases"]:
        text = english_like(case["n_chars"], case["seed"], case["unicode"])
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != case["sha256"]:
            raise RuntimeError(
                f"data/bpe/golden.json case {case['name']}: the corpus generator no longer "
                "makes the same text; run `.venv/bin/python data/bpe/make_golden.py`."
            )
        merges = {tuple(pair): 256 + k for k, pair in enumerate(case["merges"])}
        golden[case["name"]] = (text, patterns[case["pattern"]], case["vocab_size"], merges)
    return golden


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
    case = f"corpus {name}, {len(text)} characters; golden merges of train in data/bpe/golden.json"
    check_training(impl, "train_fast", text, vocab_size, expected, pattern, case=case, stops_early=stops)


def test_train_without_pattern_on_6000_characters(impl):
    """train with no pattern (the whole text is one chunk) matches the golden merges."""
    text, _, vocab_size, expected = GOLDEN["6k-no-pattern-400"]
    case = f"{len(text)} characters, no pattern; golden merges in data/bpe/golden.json"
    check_training(impl, "train", text, vocab_size, expected, case=case)


@pytest.mark.points(2)
@pytest.mark.parametrize("name", ["3k-gpt2-330", "3k-gpt4-330", "3k-unicode-gpt2-330"])
def test_train_and_train_fast_on_small_corpora(impl, name):
    """train and train_fast give the golden merges on 3,000 characters (GPT-2, GPT-4, much Unicode)."""
    text, pattern, vocab_size, expected = GOLDEN[name]
    for fn in ("train", "train_fast"):
        case = f"corpus {name}; golden merges of train in data/bpe/golden.json"
        check_training(impl, fn, text, vocab_size, expected, pattern, case=case)


def check_merge_count(impl, fn: str, text: str, vocab_size: int) -> None:
    """On ordinary text (spaces, Unicode) tokenizers orders some bytes differently: only the number
    of merges it makes is compared."""
    result, call = trained(impl, fn, (text, vocab_size, GPT2_PATTERN))
    check_merge_shape(result, call)
    expected = len(tokenizers_merges(text, vocab_size))
    if len(result) != expected:
        # The count is named only when get_stats and merge show no mistake of their own (notes).
        count = [] if diagnose(impl) else ["wrong-number-of-merges"]
        fail(
            f"{call} on {len(text)} characters of ordinary generated text made {len(result)} merges; the "
            f"tokenizers trainer makes {expected}." + notes(count, impl)
        )


@pytest.mark.points(2)
def test_train_fast_against_tokenizers(impl):
    """tokenizers' trainer: the same merges on 30,000 characters without spaces (vocab 700), the
    same number to exhaustion, and the same count on ordinary text."""
    text = no_whitespace(english_like(30_000, seed=41))
    case = f"{len(text)} characters without spaces, the tokenizers BPE trainer as reference"
    check_training(impl, "train_fast", text, 700, tokenizers_merges(text, 700), GPT2_PATTERN, case=case)
    small = no_whitespace(english_like(3000, seed=42))
    case = f"{len(small)} characters without spaces, trained until no pair is left, the tokenizers trainer as reference"
    expected = tokenizers_merges(small, 20_000)
    check_training(impl, "train_fast", small, 20_000, expected, GPT2_PATTERN, case=case, stops_early=True)
    check_merge_count(impl, "train_fast", english_like(10_000, seed=43), 500)


def test_train_counts_like_tokenizers(impl):
    """train makes as many merges as the tokenizers trainer (vocab 360) on ordinary text."""
    check_merge_count(impl, "train", english_like(2500, seed=44), 360)


@pytest.mark.points(2)
def test_train_edge_texts(impl):
    """One emoji, a combining mark with and without GPT-2's split, a long run of one letter."""
    # 😀 = 240 159 152 128: three pairs seen once each; the smallest, (152, 128), goes first.
    edges = [
        ("😀", 300, None, {(152, 128): 256, (159, 256): 257, (240, 257): 258}),
        # e + U+0301 = 101 204 129; GPT-2 cuts it into 'e' and the mark (not a letter): one pair.
        ("e\u0301", 300, None, {(101, 204): 256, (256, 129): 257}),
        ("e\u0301", 300, GPT2_PATTERN, {(204, 129): 256}),
        # 'aaaaa': (97, 97) 4 times -> 256 256 97; (256, 256) once, (256, 97) once -> (256, 97)
        # is smaller -> 257: 256 257; then (256, 257) -> 258.
        ("aaaaa", 300, None, {(97, 97): 256, (256, 97): 257, (256, 257): 258}),
    ]
    for fn in ("train", "train_fast"):
        for text, vocab_size, pattern, expected in edges:
            check_training(impl, fn, text, vocab_size, expected, pattern, case="worked by hand", stops_early=True)


# ------------------------------------------------------------------------------------------------
# encode and decode

HELD_OUT = english_like(5000, seed=51)
WITH_SPECIAL = "<|endoftext|>" + HELD_OUT[:2000] + "<|fim|><|fim|><|fim|>" + HELD_OUT[2000:] + "<|endoftext|>"
HELD_OUT_CASES = {  # (text, merges, pattern, special tokens)
    "gpt2": (HELD_OUT, GPT2_MERGES, GPT2_PATTERN, None),
    "gpt4": (HELD_OUT, GPT4_MERGES, GPT4_PATTERN, None),
    "gpt2-special": (WITH_SPECIAL, GPT2_MERGES, GPT2_PATTERN, SPECIAL),
    "no-pattern": (HELD_OUT[:1500], GOLDEN["6k-no-pattern-400"][3], None, None),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("text, merges, pattern, special", cases(HELD_OUT_CASES))
def test_encode_held_out_text(impl, text, merges, pattern, special):
    """encode of 5,000 held-out characters with 344 to 444 golden merges matches the reference."""
    expected = REF.encode(text, merges, pattern, special)
    case = f"{len(text)} characters, {len(merges)} merges, the reference as oracle"
    check_encoding(impl, text, merges, expected, pattern, special, case=case)
    back = impl.decode(expected, merges, special) if special else impl.decode(expected, merges)
    if back != text:
        at = next((i for i, (a, b) in enumerate(zip(back, text)) if a != b), min(len(back), len(text)))
        fail(f"decode(encode(held-out text)) does not give the text back; first difference at character {at}.")


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
    vocab = [bytes([b]) for b in range(256)] + spelled(GPT2_MERGES)
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
    hello_world = [
        *REF.encode("hello", GPT2_MERGES, GPT2_PATTERN),
        1000,
        *REF.encode("world", GPT2_MERGES, GPT2_PATTERN),
    ]
    edges = [
        # regex metacharacters must be taken literally
        ("x[MASK](.*)y", None, {"[MASK]": 300, "(.*)": 301}, [120, 300, 301, 121]),
        # overlapping at different places: the leftmost match wins, 'c' is left over
        ("xabc", None, {"ab": 300, "bc": 301}, [120, 300, 99]),
        # the whole text is one special token; adjacent ones
        ("<|endoftext|>", GPT2_PATTERN, SPECIAL, [1000]),
        ("<|fim|><|endoftext|><|fim|>", GPT2_PATTERN, SPECIAL, [1001, 1000, 1001]),
        # inside a word, GPT-2's split around it
        ("hello<|endoftext|>world", GPT2_PATTERN, {"<|endoftext|>": 1000}, hello_world),
        # a non-ASCII special token
        ("a<|🚀|>b", GPT2_PATTERN, {"<|🚀|>": 500}, [97, 500, 98]),
    ]
    for text, pattern, special, expected in edges:
        as_plain_text = REF.encode(text, GPT2_MERGES, pattern, None)
        near = [("special-split-by-pattern", as_plain_text)]
        check_encoding(impl, text, GPT2_MERGES, expected, pattern, special, case="444 golden merges", near=near)
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
            fail(f"get_stats({ids}) returned {short(stats, 200)}, expected {expected} (Counter of the pairs).")
        pair = (rng.randrange(4), rng.randrange(4))
        check_ids(
            impl.merge(list(ids), pair, 256), REF.merge(ids, pair, 256), call=f"merge({ids}, {pair}, 256)", impl=impl
        )
