"""Byte-pair encoding (BPE), byte level, as GPT-2 uses it.

Text is encoded to UTF-8 bytes; the ids 0..255 are the bytes themselves. Training looks at the
sequence of ids, finds the most frequent pair of neighbours and replaces every occurrence of it by
a new id (256 for the first merge, 257 for the next, ...). `merges` records every merge as
`{(id1, id2): new_id}`, in the order the merges were created (a dict keeps insertion order).

    text "aaabdaaabac", vocab_size 259, no pattern (the classic example):
      ids  97 97 97 98 100 97 97 97 98 97 99      pair counts: (97, 97): 4, (97, 98): 2, ...
      merge (97, 97) -> 256:  256 97 98 100 256 97 98 97 99
      merge (97, 98) -> 257:  256 257 100 256 257 97 99     ((97, 98) and (256, 97) both occur
      merge (256, 257) -> 258: 258 100 258 97 99              twice: the smaller pair wins)
      merges = {(97, 97): 256, (97, 98): 257, (256, 257): 258}

Conventions of this kata:
- Pairs are counted at every position, overlapping ones included (`[a, a, a]` has the pair
  `(a, a)` twice), but a merge replaces them left to right without overlap (`[a, a, a]` becomes
  `[new, a]`).
- Ties (two pairs with the same count) go to the smallest pair: compare the first id, then the
  second, as Python compares tuples.
- With a `pattern` (a regular expression for the `regex` package, such as GPT2_SPLIT_PATTERN
  below), the text is first split into chunks with `regex.findall(pattern, text)`; pairs are
  counted inside chunks only, so no merge ever crosses a chunk boundary. Without one, the whole
  text is one chunk.
- Encoding applies the merges in the order they were created (lowest new id first), as GPT-2
  does, whatever the pair counts of the text being encoded.
- Special tokens (`{"<|endoftext|>": 1000}`) are found in the text first, before any splitting:
  each occurrence becomes its id and is never split or merged with its neighbours. Where two
  special tokens could match at the same place, the longest one wins.

Allowed: the standard library and `regex`. Not allowed: tokenizer libraries (`tokenizers`,
`tiktoken`, `sentencepiece`, `transformers`): the tests use `tokenizers` as a reference.
"""

from __future__ import annotations

import regex

# The split patterns of GPT-2 (Radford et al. 2019) and GPT-4 (tiktoken's cl100k_base). They need
# the `regex` package: Python's `re` knows neither `\p{L}` (letters) nor `\p{N}` (numbers).
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT4_SPLIT_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
                      r"""|\s*[\r\n]|\s+(?!\S)|\s+""")


def get_stats(ids: list[int]) -> dict[tuple[int, int], int]:
    """Count the pairs of consecutive ids.

    Args:
        ids: a list of token ids.

    Returns:
        `{(a, b): count}`: how many times `b` directly follows `a` in `ids`, counting every
        position (`[1, 1, 1]` gives `{(1, 1): 2}`). Empty for fewer than two ids. `ids` is not
        modified.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids` by `new_id`, scanning left to right.

    Occurrences do not overlap: once two ids have been merged, the second one cannot start another
    pair (`merge([5, 5, 5], (5, 5), 256)` is `[256, 5]`).

    Returns:
        A new list; `ids` is not modified.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def train(text: str, vocab_size: int, pattern: str | None = None) -> dict[tuple[int, int], int]:
    """Learn `vocab_size - 256` merges from `text`, the straightforward way.

    Each round counts the pairs in every chunk (the whole text when `pattern` is None, otherwise
    the chunks of `regex.findall(pattern, text)`), picks the most frequent pair (ties: the smallest
    pair), gives it the next new id (256, 257, ...) and merges it everywhere.

    Args:
        text: the training text (any Unicode; it is encoded to UTF-8 bytes).
        vocab_size: the size of the final vocabulary, the 256 bytes included; at least 256.
        pattern: a split pattern for the `regex` package, or None for no splitting.

    Returns:
        `merges`, `{(id1, id2): new_id}` in creation order, with new ids 256, 257, ... without gaps.
        Training stops early, with fewer merges, when no pair is left to merge.

    Raises:
        ValueError: if `vocab_size < 256`, with a message saying why.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def encode(
    text: str,
    merges: dict[tuple[int, int], int],
    pattern: str | None = None,
    special_tokens: dict[str, int] | None = None,
) -> list[int]:
    """Encode `text` into token ids with the learned `merges`.

    Steps: cut the text at its special tokens (each becomes its own id, longest match first);
    split every other piece with `pattern` if one is given; encode each chunk to UTF-8 bytes and
    apply the merges to it in the order they were created: repeatedly take, among the pairs
    present, the one with the lowest new id, and merge it everywhere in the chunk, until no pair
    of the chunk is a merge.

    Args:
        text: any Unicode text.
        merges: `{(id1, id2): new_id}` as `train` returns it.
        pattern: the split pattern used in training (or None).
        special_tokens: `{string: id}`, or None for none.

    Returns:
        The list of ids. `decode(encode(text, merges, ...), merges, ...)` gives `text` back.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def decode(ids: list[int], merges: dict[tuple[int, int], int],
           special_tokens: dict[str, int] | None = None) -> str:
    """Turn token ids back into text.

    Every id stands for a string of bytes: 0..255 for one byte, a merged id for the bytes of its
    two parts, a special token's id for the UTF-8 bytes of its string. The bytes of all ids are
    joined and decoded as UTF-8; bytes that are not valid UTF-8 become U+FFFD
    (`errors="replace"`), since a list of ids may cut a character in the middle.

    Raises:
        ValueError: for an id that is neither a byte, nor a merge, nor a special token; the
            message names the id.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def train_fast(text: str, vocab_size: int, pattern: str | None = None) -> dict[tuple[int, int], int]:
    """The same merges as `train`, computed incrementally (a stretch exercise).

    Count each distinct chunk once, with its number of occurrences as a weight. Keep the pair
    counts between rounds; after a merge, update only the counts of the chunks that contained the
    merged pair (subtract their old pairs, add their new ones), and find the most frequent pair
    without scanning every pair again (a heap with stale entries skipped, for instance).

    Same arguments, result and errors as `train`, including the tie rule (smallest pair first)
    and the early stop.
    """
    # YOUR CODE HERE
    raise NotImplementedError
