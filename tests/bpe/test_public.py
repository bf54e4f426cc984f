"""BPE, public tests: hand-worked cases for every function, then the `tokenizers` BPE trainer
(Rust) on small generated corpora.

Run with `make test topic=bpe`. Learner code is reached only through the `impl` fixture. All
comparisons are exact: ids, merges and strings are integers and text, with no rounding involved.
"""

import pytest

from tests.bpe.corpus import english_like, no_whitespace
from tests.bpe.driver import call_text, check_ids, check_like_tokenizers, check_merges, fail, short, train_call
from tests.bpe.mistakes import MISTAKE
from tests.bpe.oracle import GPT2_PATTERN, tokenizers_merges

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


# ------------------------------------------------------------------------------------------------
# get_stats and merge


@pytest.mark.points(2)
def test_get_stats_by_hand(impl):
    """get_stats counts every pair of neighbours, overlapping ones included."""
    cases = [
        # 1 2 | 2 3 | 3 1 | 1 2: the pair (1, 2) twice.
        ([1, 2, 3, 1, 2], {(1, 2): 2, (2, 3): 1, (3, 1): 1}, {(1, 2): 1, (2, 3): 1, (3, 1): 1}),
        # 5 5 5: positions 0-1 and 1-2 are both (5, 5).
        ([5, 5, 5], {(5, 5): 2}, {(5, 5): 1}),
        (
            [97, 97, 97, 98, 100, 97, 97, 97, 98, 97, 99],
            {(97, 97): 4, (97, 98): 2, (98, 100): 1, (100, 97): 1, (98, 97): 1, (97, 99): 1},
            {(97, 97): 1, (97, 98): 1, (98, 100): 1, (100, 97): 1, (98, 97): 1, (97, 99): 1},
        ),
        ([7], {}, {}),
        ([], {}, {}),
    ]
    for ids, expected, deduplicated in cases:
        given = list(ids)
        got = impl.get_stats(given)
        if not isinstance(got, dict) or dict(got) != expected:
            note = f"\n{MISTAKE['counts-without-repeats'].sentence()}" if got == deduplicated else ""
            fail(f"get_stats({ids}) returned {short(got, 200)}, expected {expected}." + note)
        if given != ids:
            fail(f"get_stats({ids}) changed its argument into {given}; it must only read it.")


MERGE_CASES = [
    # (ids, pair, new_id, expected, {mistake: what that mistake returns})
    ([1, 2, 3, 1, 2], (1, 2), 256, [256, 3, 256], {}),
    # 5 5 5: the first two merge, the third 5 is left (it cannot pair with a 5 already used).
    ([5, 5, 5], (5, 5), 256, [256, 5], {"overlapping-merge": [[256, 256], [256, 256, 5]]}),
    ([5, 5, 5, 5], (5, 5), 300, [300, 300], {"overlapping-merge": [[300, 300, 300], [300, 300, 300, 5]]}),
    # The last id, 3, is not part of a pair and must stay.
    ([1, 2, 3], (1, 2), 256, [256, 3], {"merge-drops-last": [[256]]}),
    ([3, 1, 2], (1, 2), 9, [3, 9], {}),
    ([2, 1, 2, 1], (1, 2), 256, [2, 256, 1], {"merge-drops-last": [[2, 256]]}),
    # No occurrence (the pair is ordered: (2, 1) is not (1, 2)): nothing changes.
    ([2, 1], (1, 2), 256, [2, 1], {"merge-drops-last": [[2]]}),
    ([], (1, 2), 256, [], {}),
]


@pytest.mark.points(2)
def test_merge_by_hand(impl):
    """merge replaces each occurrence left to right, without overlaps, and keeps the rest."""
    for ids, pair, new_id, expected, wrong in MERGE_CASES:
        near = [(MISTAKE[m], w) for m, outs in wrong.items() for w in outs]
        check_ids(
            impl.merge(list(ids), pair, new_id), expected, call=f"merge({ids}, {pair}, {new_id})", near=near, impl=impl
        )


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
    result = train_call(impl, "train", CLASSIC, 259)
    check_merges(
        result,
        CLASSIC_MERGES,
        call=call_text("train", CLASSIC, 259),
        case="worked by hand in tests/bpe/test_public.py",
        near=[(MISTAKE["ties-by-dict-order"], CLASSIC_DICT_ORDER)],
        impl=impl,
    )
    # 'zab': (122, 97) and (97, 98) once each. The smaller, (97, 98), wins, although (122, 97) is
    # seen first.
    check_merges(
        train_call(impl, "train", "zab", 257),
        {(97, 98): 256},
        call="train('zab', 257)",
        case="a tie at the first merge",
        near=[(MISTAKE["ties-by-dict-order"], {(122, 97): 256})],
        impl=impl,
    )


def test_train_merge_creates_the_next_best_pair(impl):
    """train('abcabcabc', 260): each merge creates the pair that is merged next."""
    # ab, bc 3 times each (tie: (97, 98) is smaller) -> 256: 256 99 256 99 256 99
    # (256, 99) 3 times -> 257: 257 257 257; (257, 257) twice (overlapping) -> 258: 258 257;
    # (258, 257) once -> 259.
    expected = {(97, 98): 256, (256, 99): 257, (257, 257): 258, (258, 257): 259}
    result = train_call(impl, "train", "abcabcabc", 260)
    check_merges(result, expected, call="train('abcabcabc', 260)", case="worked by hand", impl=impl)


@pytest.mark.points(2)
def test_train_number_of_merges_and_early_stop(impl):
    """vocab_size - 256 merges; fewer when the text runs out of pairs; none for '' or one byte."""
    cases = [
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
        result = train_call(impl, "train", text, vocab_size, stops_early=stops_early)
        check_merges(
            result,
            expected,
            call=call_text("train", text, vocab_size),
            case="stops early: no pair left" if stops_early else "",
            impl=impl,
        )


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
    check_merges(
        train_call(impl, "train", "hello", 257),
        {(101, 108): 256},
        call="train('hello', 257)",
        case="the smallest of four pairs seen once each",
    )


@pytest.mark.points(2)
def test_train_pattern_keeps_merges_inside_chunks(impl):
    """With a pattern, pairs are counted inside the chunks of regex.findall only."""
    # GPT-2 splits 'ab.ab.ab' into ab . ab . ab: one pair, (97, 98), three times -> 256; then every
    # chunk is one token and training stops. Across chunks, (46, 256) would come next.
    result = train_call(impl, "train", "ab.ab.ab", 258, GPT2_PATTERN, stops_early=True)
    check_merges(
        result,
        {(97, 98): 256},
        call="train('ab.ab.ab', 258, GPT2_PATTERN)",
        case="chunks ab . ab . ab",
        near=[(MISTAKE["merges-cross-chunks"], {(97, 98): 256, (46, 256): 257})],
        impl=impl,
    )
    # Any pattern works, not only GPT-2's: r'[^,]+|,' cuts 'a b,a b' into 'a b' ',' 'a b'.
    # (97, 32) and (32, 98) twice each: (32, 98) is smaller -> 256; then (97, 256) twice -> 257.
    # Across chunks (one chunk 97 32 98 44 97 32 98) the same two, then 257 44 257: (44, 257) is
    # smaller than (257, 44) -> 258, and (257, 258) -> 259.
    result = train_call(impl, "train", "a b,a b", 300, r"[^,]+|,", stops_early=True)
    check_merges(
        result,
        {(32, 98): 256, (97, 256): 257},
        call="train('a b,a b', 300, r'[^,]+|,')",
        case="chunks 'a b' ',' 'a b'",
        near=[(MISTAKE["merges-cross-chunks"], {(32, 98): 256, (97, 256): 257, (44, 257): 258, (257, 258): 259})],
        impl=impl,
    )


@pytest.mark.points(2)
def test_train_matches_tokenizers(impl):
    """train equals the tokenizers BPE trainer merge for merge on a small corpus (GPT-2 split)."""
    # On printable ASCII without spaces, tokenizers breaks ties as this kata does (see corpus.py).
    text = no_whitespace(english_like(2500, seed=5))
    expected = tokenizers_merges(text, 320)
    result = train_call(impl, "train", text, 320, GPT2_PATTERN)
    check_like_tokenizers(
        result,
        expected,
        call="train(corpus, 320, GPT2_PATTERN)",
        case=f"{len(text)} characters of generated text without spaces",
        impl=impl,
    )


# ------------------------------------------------------------------------------------------------
# encode


@pytest.mark.points(2)
def test_encode_by_hand(impl):
    """encode applies the merges in creation order, again and again, inside each chunk."""
    check_ids(
        impl.encode(CLASSIC, CLASSIC_MERGES),
        CLASSIC_IDS,
        call="encode('aaabdaaabac', merges)",
        case="merges of the classic example: (97, 97) -> 256, (97, 98) -> 257, (256, 257) -> 258",
        near=[(MISTAKE["encode-raw-bytes-only"], [256, 257, 100, 256, 257, 97, 99])],
        impl=impl,
    )
    # 'abcbc' = 97 98 99 98 99 with (97, 98) -> 256 created before (98, 99) -> 257: 256 first gives
    # 256 99 98 99, then 257: [256, 99, 257]. By frequency, (98, 99) (twice) would go first:
    # 97 257 257, after which (97, 98) is gone.
    check_ids(
        impl.encode("abcbc", {(97, 98): 256, (98, 99): 257}),
        [256, 99, 257],
        call="encode('abcbc', {(97, 98): 256, (98, 99): 257})",
        near=[(MISTAKE["encode-by-frequency"], [97, 257, 257])],
        impl=impl,
    )
    check_ids(impl.encode("", CLASSIC_MERGES), [], call="encode('', merges)")
    check_ids(impl.encode("é", {}), [195, 169], call="encode('é', {})", case="UTF-8 bytes, no merges")


def test_encode_with_pattern(impl):
    """encode splits with the pattern first: no merge crosses a chunk boundary."""
    merges = {(97, 98): 256, (256, 32): 257}
    # GPT-2 chunks 'ab', ' ab': 256 and 32 256; (256, 32) never occurs inside a chunk.
    check_ids(
        impl.encode("ab ab", merges, GPT2_PATTERN),
        [256, 32, 256],
        call="encode('ab ab', {(97, 98): 256, (256, 32): 257}, GPT2_PATTERN)",
        near=[(MISTAKE["merges-cross-chunks"], [257, 256])],
    )
    # Without a pattern the text is one chunk: 256 32 256, then (256, 32) -> 257.
    check_ids(
        impl.encode("ab ab", merges),
        [257, 256],
        call="encode('ab ab', {(97, 98): 256, (256, 32): 257})",
        case="no pattern",
    )


@pytest.mark.points(2)
def test_encode_special_tokens(impl):
    """Special tokens become their ids, at the start and the end, longest first, never merged."""
    special = {"<|endoftext|>": 300}
    as_bytes_only = [*b"<|endoftext|>", 104, 105, *b"<|endoftext|>"]
    check_ids(
        impl.encode("<|endoftext|>hi<|endoftext|>", {}, GPT2_PATTERN, special),
        [300, 104, 105, 300],
        call="encode('<|endoftext|>hi<|endoftext|>', {}, GPT2_PATTERN, {'<|endoftext|>': 300})",
        near=[(MISTAKE["special-split-by-pattern"], as_bytes_only)],
    )
    # 'h' and 'i' would merge, but a special token stands between them.
    check_ids(
        impl.encode("h<|x|>i", {(104, 105): 256}, None, {"<|x|>": 300}),
        [104, 300, 105],
        call="encode('h<|x|>i', {(104, 105): 256}, None, {'<|x|>': 300})",
    )
    # Two special tokens match at position 0: the longer one wins, then the shorter one is left.
    overlapping = {"<|end|>": 300, "<|end|><|end|>": 301}
    check_ids(
        impl.encode("<|end|><|end|><|end|>x", {}, GPT2_PATTERN, overlapping),
        [301, 300, 120],
        call="encode('<|end|><|end|><|end|>x', {}, GPT2_PATTERN, {'<|end|>': 300, '<|end|><|end|>': 301})",
        near=[(MISTAKE["special-not-longest"], [300, 300, 300, 120])],
    )


# ------------------------------------------------------------------------------------------------
# decode


@pytest.mark.points(2)
def test_decode_by_hand(impl):
    """decode joins the bytes of every id and decodes UTF-8 with errors='replace'."""
    cases = [
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
        call = f"decode({ids}, {merges or '{}'}{f', {special}' if special else ''})"
        try:
            got = impl.decode(list(ids), merges, special) if special else impl.decode(list(ids), merges)
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
    check_ids(
        impl.encode("aab", CLASSIC_MERGES),
        [256, 98],
        call="encode('aab', merges)",
        case="merges of the classic example",
    )


@pytest.mark.points(2)
def test_round_trip_unicode(impl):
    """decode(encode(t)) == t for emoji, combining marks, CJK, controls; merges may cut characters."""
    # 😀 is F0 9F 98 80 (240 159 152 128): these merges build it in three steps, so 256 and 257
    # hold incomplete characters; e + U+0301 (combining acute) is 101 204 129.
    merges = {(240, 159): 256, (256, 152): 257, (257, 128): 258, (204, 129): 259, (101, 259): 260}
    check_ids(
        impl.encode("😀e\u0301😀", merges),
        [258, 260, 258],
        call="encode('😀e\\u0301😀', merges)",
        case="merges (240, 159) -> 256, (256, 152) -> 257, (257, 128) -> 258, (204, 129) -> 259, (101, 259) -> 260",
    )
    texts = [
        "",
        "a",
        "é",
        "😀",
        "e\u0301",
        "👍🏽",
        "日本語",
        "a\x00b",
        "\r\n\t ",
        "Hello, world! 123",
        "naïve café 😀😀 e\u0301te\u0301",
        "<|endoftext|> text",
    ]
    for text in texts:
        for pattern in (None, GPT2_PATTERN):
            ids = impl.encode(text, merges, pattern)
            back = impl.decode(ids, merges)
            if back != text:
                fail(
                    f"decode(encode({text!r}, merges{', GPT2_PATTERN' if pattern else ''}), merges) "
                    f"gave {back!r}; the round trip must give the text back. encode returned {ids}."
                )


# ------------------------------------------------------------------------------------------------
# train_fast (the stretch exercise)


@pytest.mark.points(2)
def test_train_fast_by_hand(impl):
    """train_fast gives train's merges on the hand-worked cases, with each chunk weighted by its count."""
    check_merges(
        train_call(impl, "train_fast", CLASSIC, 259),
        CLASSIC_MERGES,
        call="train_fast('aaabdaaabac', 259)",
        near=[(MISTAKE["ties-by-dict-order"], CLASSIC_DICT_ORDER)],
        impl=impl,
    )
    check_merges(
        train_call(impl, "train_fast", "zab", 257),
        {(97, 98): 256},
        call="train_fast('zab', 257)",
        case="a tie at the first merge",
        near=[(MISTAKE["ties-by-dict-order"], {(122, 97): 256})],
        impl=impl,
    )
    check_merges(
        train_call(impl, "train_fast", "abcabcabc", 260),
        {(97, 98): 256, (256, 99): 257, (257, 257): 258, (258, 257): 259},
        call="train_fast('abcabcabc', 260)",
        impl=impl,
    )
    check_merges(
        train_call(impl, "train_fast", "ab.ab.ab", 258, GPT2_PATTERN, stops_early=True),
        {(97, 98): 256},
        call="train_fast('ab.ab.ab', 258, GPT2_PATTERN)",
        near=[(MISTAKE["merges-cross-chunks"], {(97, 98): 256, (46, 256): 257})],
        impl=impl,
    )
    # Chunks: 'zz' once, ' zz' 3 times, ' ab', ' abc', ' abd' once each. Weighted: (122, 122) 4
    # times wins. Counting each distinct chunk once: (122, 122) 2, (32, 97) and (97, 98) 3.
    check_merges(
        train_call(impl, "train_fast", "zz zz zz zz ab abc abd", 257, GPT2_PATTERN),
        {(122, 122): 256},
        call="train_fast('zz zz zz zz ab abc abd', 257, GPT2_PATTERN)",
        near=[(MISTAKE["counts-without-repeats"], {(32, 97): 256})],
        impl=impl,
    )
    for text, vocab_size in (("", 300), ("x", 300), (CLASSIC, 256)):
        check_merges(
            train_call(impl, "train_fast", text, vocab_size, stops_early=True),
            {},
            call=call_text("train_fast", text, vocab_size),
            impl=impl,
        )
    with pytest.raises(ValueError):
        impl.train_fast("hello", 255)


@pytest.mark.points(2)
def test_train_fast_matches_tokenizers(impl):
    """train_fast equals the tokenizers BPE trainer merge for merge on 20,000 characters."""
    text = no_whitespace(english_like(20_000, seed=6))
    expected = tokenizers_merges(text, 400)
    result = train_call(impl, "train_fast", text, 400, GPT2_PATTERN)
    check_like_tokenizers(
        result,
        expected,
        call="train_fast(corpus, 400, GPT2_PATTERN)",
        case=f"{len(text)} characters of generated text without spaces",
        impl=impl,
    )
