"""BPE's known mistakes: the sentence a learner sees when their output looks like one.

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[overlapping-merge]`. The mutants that commit each mistake (patches of the reference, used by
`make check`) are in `mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "overlapping-merge",
        "merge lets occurrences of the pair overlap (merge([5, 5, 5], (5, 5), 256) gives two new "
        "tokens); after replacing a pair, skip both of its ids, so [5, 5, 5] becomes [256, 5].",
    ),
    Mistake(
        "merge-drops-last",
        "merge loses the last id when it is not part of a pair (a loop `while i < len(ids) - 1` "
        "that never appends ids[-1]); merge([1, 2, 3], (1, 2), 256) is [256, 3].",
    ),
    Mistake(
        "merge-in-place",
        "merge changes the list it is given; build and return a new list, leaving `ids` as it was.",
    ),
    Mistake(
        "counts-without-repeats",
        "pairs are counted on deduplicated tokens: each distinct pair (or each distinct chunk) "
        "counts once, whatever its number of occurrences. A pair that occurs 4 times counts 4; "
        "in train_fast, a chunk seen 3 times adds 3 to each of its pairs.",
    ),
    Mistake(
        "ties-by-dict-order",
        "ties between equally frequent pairs are broken by dict order (the pair seen first, as "
        "max(stats, key=stats.get) does) or by another order; the rule is the smallest pair: "
        "compare the first id, then the second (min over (-count, pair)).",
    ),
    Mistake(
        "wrong-number-of-merges",
        "train makes the wrong number of merges: vocab_size counts the 256 byte tokens, so it "
        "makes vocab_size - 256 merges (new ids 256 .. vocab_size - 1), fewer only when no pair "
        "is left.",
    ),
    Mistake(
        "no-early-stop",
        "training does not stop when no pair is left (max() or min() of an empty dict raises "
        "ValueError); stop and return the merges made so far.",
    ),
    Mistake(
        "encode-by-frequency",
        "encode applies merges by their frequency in the text being encoded; apply them in the "
        "order they were created (among the pairs present, the one with the lowest new id "
        "first), as in training.",
    ),
    Mistake(
        "encode-raw-bytes-only",
        "encode applies only the merges of two raw bytes (ids < 256), or passes over the bytes "
        "once; merges of merged tokens (e.g. (256, 257) -> 258) must be applied too, repeatedly, "
        "until no pair of the chunk is a merge.",
    ),
    Mistake(
        "decode-strict",
        "decode uses errors='strict', so ids that cut a UTF-8 character (or stray bytes) raise "
        "UnicodeDecodeError; decode with errors='replace', which gives U+FFFD.",
    ),
    Mistake(
        "unknown-id-error",
        "an unknown id in decode must raise ValueError naming the id (not KeyError, not a silent skip).",
    ),
    Mistake(
        "merges-cross-chunks",
        "merges cross chunk boundaries: with a pattern, count pairs inside each chunk of "
        "regex.findall(pattern, text) separately, never across two chunks (nor across chunks "
        "glued back together).",
    ),
    Mistake(
        "special-split-by-pattern",
        "special tokens are split by the pattern (GPT-2's splits '<|endoftext|>' into '<|', "
        "'endoftext', '|>'); cut the text at the special tokens first, then split the pieces "
        "between them.",
    ),
    Mistake(
        "special-not-longest",
        "when two special tokens match at the same place, the shorter (or the first in the "
        "dict) wins; the longest one must win (try them longest first).",
    ),
]

MISTAKE = by_id(MISTAKES)
