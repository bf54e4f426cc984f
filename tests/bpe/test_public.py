"""BPE, public tests: hand-worked cases for every function, then the `tokenizers` BPE trainer
(Rust) on small generated corpora.

Run with `make test topic=bpe`. Learner code is reached only through the `impl` fixture. Each test
shows its inputs and the values expected, worked out by hand in its comments; the oracle
(`tokenizers_merges`) and the checks that report the first difference are at the end of this file.
All comparisons are exact: ids, merges and strings are integers and text, no rounding, no tolerance.
Merges are `{(id1, id2): new_id}` in creation order, new ids 256, 257, ...
"""

import json

import pytest

from grader.checks import fail
from tests.bpe.corpus import GPT2_PATTERN, GPT4_PATTERN, english_like, no_whitespace
from tests.bpe.key import spelled
from tests.bpe.mistakes import MISTAKE

# The classic example (Wikipedia's "aaabdaaabac"), worked by hand:
#   ids 97 97 97 98 100 97 97 97 98 97 99; (97, 97) occurs 4 times (overlapping positions count)
#   -> 256: 256 97 98 100 256 97 98 97 99; now (97, 98) and (256, 97) both occur twice: the
#   smallest pair, (97, 98), wins -> 257: 256 257 100 256 257 97 99; (256, 257) twice -> 258.
CLASSIC = "aaabdaaabac"
CLASSIC_MERGES = {(97, 97): 256, (97, 98): 257, (256, 257): 258}
CLASSIC_IDS = [258, 100, 258, 97, 99]
# With ties broken by dict order, (256, 97) (seen first) wins the tie instead -> 257:
# 257 98 100 257 98 97 99, then (257, 98) twice -> 258.
CLASSIC_DICT_ORDER = {(97, 97): 256, (256, 97): 257, (257, 98): 258}
# 'abcabcabc': ab, bc 3 times each (tie: (97, 98) is smaller) -> 256: 256 99 256 99 256 99;
# (256, 99) 3 times -> 257: 257 257 257; (257, 257) twice (overlapping) -> 258: 258 257;
# (258, 257) once -> 259.
ABC_MERGES = {(97, 98): 256, (256, 99): 257, (257, 257): 258, (258, 257): 259}


# ------------------------------------------------------------------------------------------------
# get_stats and merge

GET_STATS_CASES = [  # (ids, the pair counts expected)
    ([1, 2, 3, 1, 2], {(1, 2): 2, (2, 3): 1, (3, 1): 1}),  # 1 2 | 2 3 | 3 1 | 1 2: (1, 2) twice
    ([5, 5, 5], {(5, 5): 2}),  # positions 0-1 and 1-2 are both (5, 5)
    (list(CLASSIC.encode()), {(97, 97): 4, (97, 98): 2, (98, 100): 1, (100, 97): 1, (98, 97): 1, (97, 99): 1}),
    ([7], {}),
    ([], {}),
]


@pytest.mark.points(2)
def test_get_stats_by_hand(impl):
    """get_stats counts every pair of neighbours, overlapping ones included."""
    for ids, expected in GET_STATS_CASES:
        given = list(ids)
        got = impl.get_stats(given)
        if not isinstance(got, dict) or dict(got) != expected:
            once_each = got == dict.fromkeys(expected, 1)
            note = f"\n{MISTAKE['counts-without-repeats'].sentence()}" if once_each else ""
            fail(f"get_stats({ids}) returned {short(got, 200)}, expected {expected}." + note)
        if given != ids:
            fail(f"get_stats({ids}) changed its argument into {given}; it must only read it.")


MERGE_CASES = [
    # (ids, pair, new_id, expected, [(mistake, what that mistake returns), ...])
    ([1, 2, 3, 1, 2], (1, 2), 256, [256, 3, 256], []),
    # 5 5 5: the first two merge, the third 5 is left (it cannot pair with a 5 already used).
    ([5, 5, 5], (5, 5), 256, [256, 5], [("overlapping-merge", [256, 256]), ("overlapping-merge", [256, 256, 5])]),
    ([5, 5, 5, 5], (5, 5), 300, [300, 300], [("overlapping-merge", [300] * 3), ("overlapping-merge", [300] * 3 + [5])]),
    # The last id, 3, is not part of a pair and must stay.
    ([1, 2, 3], (1, 2), 256, [256, 3], [("merge-drops-last", [256])]),
    ([3, 1, 2], (1, 2), 9, [3, 9], []),
    ([2, 1, 2, 1], (1, 2), 256, [2, 256, 1], [("merge-drops-last", [2, 256])]),
    # No occurrence (the pair is ordered: (2, 1) is not (1, 2)): nothing changes.
    ([2, 1], (1, 2), 256, [2, 1], [("merge-drops-last", [2])]),
    ([], (1, 2), 256, [], []),
]


@pytest.mark.points(2)
def test_merge_by_hand(impl):
    """merge replaces each occurrence left to right, without overlaps, and keeps the rest."""
    for ids, pair, new_id, expected, near in MERGE_CASES:
        got = impl.merge(list(ids), pair, new_id)
        check_ids(got, expected, call=f"merge({ids}, {pair}, {new_id})", near=near, impl=impl)


def test_merge_leaves_input_unchanged(impl):
    """merge returns a new list and leaves the list it was given as it was."""
    ids = [1, 2, 1, 2, 7]
    out = impl.merge(ids, (1, 2), 256)
    if ids != [1, 2, 1, 2, 7]:
        fail(
            f"merge([1, 2, 1, 2, 7], (1, 2), 256) changed its argument into {ids}.\n"
            + MISTAKE["merge-in-place"].sentence()
        )
    check_ids(out, [256, 256, 7], call="merge([1, 2, 1, 2, 7], (1, 2), 256)")


# ------------------------------------------------------------------------------------------------
# train


@pytest.mark.points(2)
def test_train_classic_example(impl):
    """train('aaabdaaabac', 259): (97, 97) -> 256, then the tie goes to the smaller pair (97, 98)."""
    check_training(
        impl, "train", CLASSIC, 259, CLASSIC_MERGES, case="worked by hand in tests/bpe/test_public.py",
        near=[("ties-by-dict-order", CLASSIC_DICT_ORDER)],
    )  # fmt: skip
    # 'zab': (122, 97) and (97, 98) once each. The smaller, (97, 98), wins, although (122, 97) is
    # seen first.
    check_training(
        impl, "train", "zab", 257, {(97, 98): 256}, case="a tie at the first merge",
        near=[("ties-by-dict-order", {(122, 97): 256})],
    )  # fmt: skip


def test_train_merge_creates_the_next_best_pair(impl):
    """train('abcabcabc', 260): each merge creates the pair that is merged next (ABC_MERGES above)."""
    check_training(impl, "train", "abcabcabc", 260, ABC_MERGES, case="worked by hand")


@pytest.mark.points(2)
def test_train_number_of_merges_and_early_stop(impl):
    """vocab_size - 256 merges; fewer when the text runs out of pairs; none for '' or one byte."""
    cases = [  # (text, vocab_size, expected merges, whether the text runs out of pairs first)
        (CLASSIC, 258, {(97, 97): 256, (97, 98): 257}, False),
        (CLASSIC, 256, {}, False),
        # 'ab' has one pair: one merge, then nothing is left although 44 more were allowed.
        ("ab", 300, {(97, 98): 256}, True),
        # 'é' is two bytes, 195 169: one merge.
        ("é", 260, {(195, 169): 256}, True),
        ("", 300, {}, True),
        ("x", 300, {}, True),
    ]
    for text, vocab_size, expected, stops_early in cases:
        case = "stops early: no pair left" if stops_early else ""
        check_training(impl, "train", text, vocab_size, expected, case=case, stops_early=stops_early)


def test_train_rejects_vocab_below_256(impl):
    """vocab_size < 256 is a ValueError with a message (the 256 bytes are always in the vocabulary)."""
    for vocab_size in (255, 0, -5):
        with pytest.raises(ValueError) as info:
            impl.train("hello", vocab_size)
        if not str(info.value).strip():
            fail(
                f"train('hello', {vocab_size}) raised ValueError without a message; say why "
                f"(vocab_size must be at least 256)."
            )
    check_training(impl, "train", "hello", 257, {(101, 108): 256}, case="the smallest of four pairs seen once each")


@pytest.mark.points(2)
def test_train_pattern_keeps_merges_inside_chunks(impl):
    """With a pattern, pairs are counted inside the chunks of regex.findall only."""
    # GPT-2 splits 'ab.ab.ab' into ab . ab . ab: one pair, (97, 98), three times -> 256; then every
    # chunk is one token and training stops. Across chunks, (46, 256) would come next.
    check_training(
        impl, "train", "ab.ab.ab", 258, {(97, 98): 256}, GPT2_PATTERN, case="chunks ab . ab . ab",
        near=[("merges-cross-chunks", {(97, 98): 256, (46, 256): 257})], stops_early=True,
    )  # fmt: skip
    # Any pattern works, not only GPT-2's: r'[^,]+|,' cuts 'a b,a b' into 'a b' ',' 'a b'.
    # (97, 32) and (32, 98) twice each: (32, 98) is smaller -> 256; then (97, 256) twice -> 257.
    # Across chunks (one chunk 97 32 98 44 97 32 98) the same two, then 257 44 257: (44, 257) is
    # smaller than (257, 44) -> 258, and (257, 258) -> 259.
    check_training(
        impl, "train", "a b,a b", 300, {(32, 98): 256, (97, 256): 257}, r"[^,]+|,", case="chunks 'a b' ',' 'a b'",
        near=[("merges-cross-chunks", {(32, 98): 256, (97, 256): 257, (44, 257): 258, (257, 258): 259})],
        stops_early=True,
    )  # fmt: skip


@pytest.mark.points(2)
def test_train_matches_tokenizers(impl):
    """train equals the tokenizers BPE trainer merge for merge on a small corpus (GPT-2 split)."""
    # On printable ASCII without spaces, tokenizers breaks ties as this kata does (see corpus.py).
    text = no_whitespace(english_like(2500, seed=5))
    case = f"{len(text)} characters of generated text without spaces, the tokenizers BPE trainer as reference"
    check_training(impl, "train", text, 320, tokenizers_merges(text, 320), GPT2_PATTERN, case=case)


# ------------------------------------------------------------------------------------------------
# encode


@pytest.mark.points(2)
def test_encode_by_hand(impl):
    """encode applies the merges in creation order, again and again, inside each chunk."""
    check_encoding(
        impl, CLASSIC, CLASSIC_MERGES, CLASSIC_IDS, case="merges of the classic example",
        near=[("encode-raw-bytes-only", [256, 257, 100, 256, 257, 97, 99])],
    )  # fmt: skip
    # 'abcbc' = 97 98 99 98 99 with (97, 98) -> 256 created before (98, 99) -> 257: 256 first gives
    # 256 99 98 99, then 257: [256, 99, 257]. By frequency, (98, 99) (twice) would go first:
    # 97 257 257, after which (97, 98) is gone.
    merges = {(97, 98): 256, (98, 99): 257}
    check_encoding(impl, "abcbc", merges, [256, 99, 257], near=[("encode-by-frequency", [97, 257, 257])])
    check_encoding(impl, "", CLASSIC_MERGES, [])
    check_encoding(impl, "é", {}, [195, 169], case="UTF-8 bytes, no merges")


def test_encode_with_pattern(impl):
    """encode splits with the pattern first: no merge crosses a chunk boundary."""
    merges = {(97, 98): 256, (256, 32): 257}
    # GPT-2 chunks 'ab', ' ab': 256 and 32 256; (256, 32) never occurs inside a chunk.
    check_encoding(impl, "ab ab", merges, [256, 32, 256], GPT2_PATTERN, near=[("merges-cross-chunks", [257, 256])])
    # Without a pattern the text is one chunk: 256 32 256, then (256, 32) -> 257.
    check_encoding(impl, "ab ab", merges, [257, 256], case="no pattern")


@pytest.mark.points(2)
def test_encode_special_tokens(impl):
    """Special tokens become their ids, at the start and the end, longest first, never merged."""
    check_encoding(
        impl, "<|endoftext|>hi<|endoftext|>", {}, [300, 104, 105, 300], GPT2_PATTERN, {"<|endoftext|>": 300},
        near=[("special-split-by-pattern", [*b"<|endoftext|>", 104, 105, *b"<|endoftext|>"])],
    )  # fmt: skip
    # 'h' and 'i' would merge, but a special token stands between them.
    check_encoding(impl, "h<|x|>i", {(104, 105): 256}, [104, 300, 105], None, {"<|x|>": 300})
    # Two special tokens match at position 0: the longer one wins, then the shorter one is left.
    check_encoding(
        impl, "<|end|><|end|><|end|>x", {}, [301, 300, 120], GPT2_PATTERN, {"<|end|>": 300, "<|end|><|end|>": 301},
        near=[("special-not-longest", [300, 300, 300, 120])],
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# decode


@pytest.mark.points(2)
def test_decode_by_hand(impl):
    """decode joins the bytes of every id and decodes UTF-8 with errors='replace'."""
    cases = [  # (ids, merges, special tokens, the text expected)
        (CLASSIC_IDS, CLASSIC_MERGES, None, CLASSIC),
        ([300, 104, 105], {}, {"<|endoftext|>": 300}, "<|endoftext|>hi"),
        ([], CLASSIC_MERGES, None, ""),
        # 0xFF is never valid UTF-8; 195 alone is the first half of a two-byte character.
        ([255, 104], {}, None, "\ufffdh"),
        ([104, 195], {}, None, "h\ufffd"),
        # (240, 159) is the start of a 4-byte emoji: valid only with the rest of the character.
        ([256], {(240, 159): 256}, None, "\ufffd"),
        ([256, 152, 128], {(240, 159): 256}, None, "\U0001f600"),
    ]
    for ids, merges, special, expected in cases:
        args = (list(ids), merges, special) if special else (list(ids), merges)
        call = call_text("decode", *args)
        try:
            got = impl.decode(*args)
        except UnicodeDecodeError as exc:
            fail(
                f"{call} raised UnicodeDecodeError ({exc}); expected {expected!r}.\n"
                + MISTAKE["decode-strict"].sentence()
            )
        if got != expected:
            fail(f"{call} returned {short(got)}, expected {expected!r}.")


def test_decode_unknown_id(impl):
    """An id that is neither a byte, nor a merge, nor a special token is a ValueError naming it."""
    try:
        got = impl.decode([104, 999], CLASSIC_MERGES)
    except ValueError as exc:
        if "999" not in str(exc):
            fail(f"decode([104, 999], merges) raised ValueError({str(exc)!r}), which does not name the unknown id 999.")
    except (KeyError, IndexError) as exc:
        fail(
            f"decode([104, 999], merges) raised {type(exc).__name__}({exc}).\n" + MISTAKE["unknown-id-error"].sentence()
        )
    else:
        fail(
            f"decode([104, 999], merges) returned {short(got)} instead of raising ValueError.\n"
            + MISTAKE["unknown-id-error"].sentence()
        )
    check_encoding(impl, "aab", CLASSIC_MERGES, [256, 98], case="merges of the classic example")


@pytest.mark.points(2)
def test_round_trip_unicode(impl):
    """decode(encode(t)) == t for emoji, combining marks, CJK, controls; merges may cut characters."""
    # 😀 is F0 9F 98 80 (240 159 152 128): these merges build it in three steps, so 256 and 257
    # hold incomplete characters; e + U+0301 (combining acute) is 101 204 129.
    merges = {(240, 159): 256, (256, 152): 257, (257, 128): 258, (204, 129): 259, (101, 259): 260}
    check_encoding(impl, "😀e\u0301😀", merges, [258, 260, 258])
    texts = ["", "a", "é", "😀", "e\u0301", "👍🏽", "日本語", "a\x00b", "\r\n\t ", "Hello, world! 123"]
    texts += ["naïve café 😀😀 e\u0301te\u0301", "<|endoftext|> text"]
    for text in texts:
        for pattern in (None, GPT2_PATTERN):
            ids = impl.encode(text, merges, pattern)
            back = impl.decode(ids, merges)
            if back != text:
                fail(
                    f"decode({call_text('encode', text, merges, pattern)}, merges) gave {back!r}; the round "
                    f"trip must give the text back. encode returned {ids}."
                )


# ------------------------------------------------------------------------------------------------
# train_fast (the stretch exercise)


@pytest.mark.points(2)
def test_train_fast_by_hand(impl):
    """train_fast gives train's merges on the hand-worked cases, with each chunk weighted by its count."""
    fast = "train_fast"
    check_training(impl, fast, CLASSIC, 259, CLASSIC_MERGES, near=[("ties-by-dict-order", CLASSIC_DICT_ORDER)])
    check_training(
        impl, fast, "zab", 257, {(97, 98): 256}, case="a tie at the first merge",
        near=[("ties-by-dict-order", {(122, 97): 256})],
    )  # fmt: skip
    check_training(impl, fast, "abcabcabc", 260, ABC_MERGES)
    check_training(
        impl, fast, "ab.ab.ab", 258, {(97, 98): 256}, GPT2_PATTERN,
        near=[("merges-cross-chunks", {(97, 98): 256, (46, 256): 257})], stops_early=True,
    )  # fmt: skip
    # Chunks: 'zz' once, ' zz' 3 times, ' ab', ' abc', ' abd' once each. Weighted: (122, 122) 4
    # times wins. Counting each distinct chunk once: (122, 122) 2, (32, 97) and (97, 98) 3.
    check_training(
        impl, fast, "zz zz zz zz ab abc abd", 257, {(122, 122): 256}, GPT2_PATTERN,
        near=[("counts-without-repeats", {(32, 97): 256})],
    )  # fmt: skip
    for text, vocab_size in (("", 300), ("x", 300), (CLASSIC, 256)):
        check_training(impl, fast, text, vocab_size, {}, stops_early=True)
    with pytest.raises(ValueError):
        impl.train_fast("hello", 255)


@pytest.mark.points(2)
def test_train_fast_matches_tokenizers(impl):
    """train_fast equals the tokenizers BPE trainer merge for merge on 20,000 characters."""
    text = no_whitespace(english_like(20_000, seed=6))
    case = f"{len(text)} characters of generated text without spaces, the tokenizers BPE trainer as reference"
    check_training(impl, "train_fast", text, 400, tokenizers_merges(text, 400), GPT2_PATTERN, case=case)


# ------------------------------------------------------------------------------------------------
# The oracle: Hugging Face's tokenizers (Rust)


def _byte_of_char() -> dict[str, int]:
    """The byte each character of ByteLevel's alphabet stands for (GPT-2's bytes_to_unicode,
    inverted): printable bytes show as themselves, the others (space, controls, 127..160, 173) as
    chr(256), chr(257), ... in byte order."""
    shown = [*range(33, 127), *range(161, 173), *range(174, 256)]
    others = [b for b in range(256) if b not in shown]
    return {chr(b): b for b in shown} | {chr(256 + n): b for n, b in enumerate(others)}


BYTE_OF_CHAR = _byte_of_char()


def tokenizers_merges(text: str, vocab_size: int) -> dict[tuple[int, int], int]:
    """The merges of the `tokenizers` BPE trainer on `text`, written as this kata writes them.

    The trainer splits with GPT-2's pattern (ByteLevel pre-tokenizer, no prefix space) and starts
    from all 256 bytes. Each merge it lists is two strings of ByteLevel characters; in bytes, a
    merge's left and right parts are tokens made before it, and merge k gets the id 256 + k.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # not loaded with the tests

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False, initial_alphabet=alphabet)
    tokenizer.train_from_iterator([text], trainer=trainer)
    id_of = {bytes([b]): b for b in range(256)}  # a token's bytes -> its id
    merges: dict = {}  # (id, id) -> new id
    for merged in json.loads(tokenizer.to_str())["model"]["merges"]:
        parts = merged if isinstance(merged, list) else merged.split(" ")  # "left right" in older versions
        left, right = (bytes(BYTE_OF_CHAR[c] for c in part) for part in parts)
        merges[id_of[left], id_of[right]] = id_of[left + right] = 256 + len(merges)
    return merges


# ------------------------------------------------------------------------------------------------
# Checks: call the learner, compare exactly, say where the first difference is and which known
# mistake the output matches


def short(value, limit: int = 70) -> str:
    """repr(value), cut to about `limit` characters, saying how long the whole was."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} {'chars' if isinstance(value, str) else 'items'}" if hasattr(value, "__len__") else "cut"
    return f"{text[: limit - 5]} ... ({size})"


PATTERN_NAMES = {GPT2_PATTERN: "GPT2_PATTERN", GPT4_PATTERN: "GPT4_PATTERN"}


def call_text(fn: str, *args) -> str:
    """`train('aaabdaaabac', 259, GPT2_PATTERN)`: a call for a message."""
    shown = (PATTERN_NAMES[a] if isinstance(a, str) and a in PATTERN_NAMES else short(a, 80) for a in args)
    return f"{fn}({', '.join(shown)})"


def diagnose(impl) -> list[str]:
    """Known mistakes that the learner's own get_stats and merge show on three tiny probes, to explain
    a failure of train or encode (which may call them). A probe that raises is skipped."""
    probes = [  # (the call, the outputs that show the mistake, the mistake)
        (lambda: impl.merge([5, 5, 5], (5, 5), 256), ([256, 256], [256, 256, 5]), "overlapping-merge"),
        (lambda: impl.merge([1, 2, 3], (1, 2), 256), ([256],), "merge-drops-last"),
        (lambda: impl.get_stats([1, 2, 1, 2]), ({(1, 2): 1, (2, 1): 1},), "counts-without-repeats"),
    ]
    found = []
    for probe, wrong, mistake in probes:
        try:
            if any(probe() == w for w in wrong):
                found.append(mistake)
        except Exception:  # noqa: BLE001 (a diagnosis must never raise)
            continue
    return found


def notes(found: list[str], impl=None) -> str:
    """The sentences of the mistakes `found`, then of those the learner's own get_stats and merge show
    (`diagnose`, when `impl` is given)."""
    text = "".join(f"\n{MISTAKE[m].sentence()}" for m in found)
    shown = [m for m in diagnose(impl) if m not in found] if impl is not None else []
    if shown:
        text += "\nYour own get_stats/merge show, on tiny probes:" + notes(shown)
    return text


def check_ids(result, expected: list[int], *, call: str, case: str = "", near=(), impl=None) -> None:
    """Fail unless `result` is the list of ints `expected`.

    near: (mistake id, the ids that mistake gives) pairs, named when `result` equals one;
    impl: given, a failure also reports what the learner's get_stats and merge show (`diagnose`).
    """
    where = f"{call} ({case})" if case else call
    if not isinstance(result, list) or not all(isinstance(i, int) for i in result):
        fail(f"{where} should return a list of int ids, got {short(result)}.")
    if result == expected:
        return
    found = [m for m, predicted in near if result == predicted]
    first = next((k for k, (g, w) in enumerate(zip(result, expected)) if g != w), min(len(result), len(expected)))
    fail(
        f"{where}: got {short(result, 120)}, expected {short(expected, 120)} ({len(result)} ids for "
        f"{len(expected)}; first difference at position {first})." + notes(found, impl)
    )


def check_encoding(impl, text, merges, expected, pattern=None, special=None, *, case="", near=()) -> None:
    """impl.encode(text, merges[, pattern[, special]]) must return the ids `expected` (check_ids)."""
    args = (text, merges, pattern, special) if special else (text, merges, pattern) if pattern else (text, merges)
    check_ids(impl.encode(*args), expected, call=call_text("encode", *args), case=case, near=near, impl=impl)


def check_merge_shape(result, call: str) -> dict:
    """Fail unless `result` is a merges dict: {(id1, id2): new_id}, new ids 256, 257, ... in
    insertion order, each pair made of ids that exist before it (ids never reused)."""
    if not isinstance(result, dict):
        fail(f"{call} should return a dict {{(id1, id2): new_id}}, got {type(result).__name__} ({short(result)}).")
    for k, (pair, new_id) in enumerate(result.items()):
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(i, int) for i in pair)):
            fail(f"{call}: key number {k} is {pair!r}; every key must be a tuple of two int ids.")
        if not isinstance(new_id, int) or new_id != 256 + k:
            fail(
                f"{call}: merge number {k} (in creation order) got the id {new_id!r}; new ids are 256, 257, "
                f"... in the order the merges are created, without gaps, never reused (so this one must be {256 + k})."
            )
        if not all(0 <= i < 256 + k for i in pair):
            fail(f"{call}: merge number {k}, {pair} -> {new_id}, uses an id that does not exist yet (0..{255 + k} do).")
    return result


def check_merges(result, expected: dict, *, call: str, case: str = "", near=(), impl=None) -> None:
    """Fail unless the merges `result` equal `expected` (same pairs, same ids, same order), saying
    which merge differs first, in ids and in bytes.

    near: (mistake id, the merges that mistake gives) pairs, named when `result` equals one;
    impl: given, a failure also reports what the learner's get_stats and merge show (`diagnose`).
    """
    spelling = spelled(expected)  # the bytes of ids 256, 257, ... (the answer key: tests/bpe/key.py)
    check_merge_shape(result, call)
    got, want = list(result.items()), list(expected.items())
    if got == want:
        return
    where = f"{call} ({case})" if case else call
    found = [m for m, predicted in near if got == list(predicted.items())]
    k = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
    if k == min(len(got), len(want)):  # one list is the start of the other
        # The count itself is named only when get_stats and merge show no mistake of their own (a merge
        # that drops tokens also runs out of pairs early).
        count = [] if found or (impl is not None and diagnose(impl)) else ["wrong-number-of-merges"]
        fail(
            f"{where}: {len(got)} merges, expected {len(want)}; the first {k} agree (merges after them are "
            "missing or extra)." + notes(found or count, impl)
        )

    def show(pair):  # merge k's ids exist before it, and merges 0 .. k-1 agree: spelled as expected's
        return " + ".join(repr(bytes([i]) if i < 256 else spelling[i - 256]) for i in pair)

    fail(
        f"{where}: merge number {k} (new id {256 + k}) differs: got {got[k][0]} ({show(got[k][0])}), expected "
        f"{want[k][0]} ({show(want[k][0])}). {len(got)} merges returned, {len(want)} expected; "
        + (f"the first {k} agree." if k else "the very first merge differs.")
        + notes(found, impl)
    )


def trained(impl, fn: str, args: tuple, stops_early: bool = False) -> tuple:
    """(impl.<fn>(*args), the call in words) for fn "train" or "train_fast"; a ValueError (vocab_size
    is valid in every call of the tests) fails with a sentence, naming no-early-stop when
    `stops_early` says that the text runs out of pairs before vocab_size."""
    call = call_text(fn, *args)
    try:
        return getattr(impl, fn)(*args), call
    except ValueError as exc:
        why = "\nThis text runs out of pairs before vocab_size is reached." + notes(["no-early-stop"])
        fail(f"{call} raised ValueError ({exc}) although vocab_size >= 256 is valid." + (why if stops_early else ""))


def check_training(impl, fn, text, vocab_size, expected, pattern=None, *, case="", near=(), stops_early=False) -> None:
    """impl.<fn>(text, vocab_size[, pattern]), fn "train" or "train_fast", must return the merges
    `expected` (check_merges); `stops_early`: the text runs out of pairs first (see `trained`)."""
    args = (text, vocab_size, pattern) if pattern else (text, vocab_size)
    result, call = trained(impl, fn, args, stops_early)
    check_merges(result, expected, call=call, case=case, near=near, impl=impl)
