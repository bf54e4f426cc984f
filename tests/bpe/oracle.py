"""Oracles for the BPE suite.

- `tokenizers_merges(text, vocab_size)`: the Rust BPE trainer of Hugging Face's `tokenizers`
  package (ByteLevel pre-tokenizer, which splits with GPT-2's pattern, no prefix space, all 256
  bytes in the initial alphabet), its merges returned as pairs of byte strings in creation order.
  On printable ASCII without spaces it must agree with this kata merge for merge (see
  tests/bpe/corpus.py for why); on other text, in the number of merges.
- `as_bytes(merges)`: a learner's `{(id1, id2): new_id}` as pairs of byte strings, so that two
  merge lists can be compared whatever ids they use, and shown readably.
- Python's own `bytes.decode(..., errors="replace")` is the oracle of `decode` on invalid UTF-8.
"""

from __future__ import annotations

import json

# The split pattern the tests pass (GPT-2's and GPT-4's, as published by OpenAI in the GPT-2
# encoder and in tiktoken); the stub carries the same constants.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
    r"""|\s*[\r\n]|\s+(?!\S)|\s+"""
)


def _byte_level_alphabet() -> dict[str, int]:
    """The character ByteLevel shows for each byte (GPT-2's bytes_to_unicode), inverted: printable
    bytes stand for themselves, the others (space, control bytes, 127..160, 173) for 256 + n."""
    shown = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = dict(zip(shown, shown))
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    return {chr(c): b for b, c in chars.items()}


_CHAR_TO_BYTE = _byte_level_alphabet()


def tokenizers_merges(text: str, vocab_size: int) -> list[tuple[bytes, bytes]]:
    """The merges of the `tokenizers` BPE trainer on `text`, as byte strings, in creation order."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([text], trainer=trainer)
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    out = []
    for merge in merges:
        left, right = merge if isinstance(merge, list) else merge.split(" ")
        out.append((bytes(_CHAR_TO_BYTE[c] for c in left), bytes(_CHAR_TO_BYTE[c] for c in right)))
    return out


def as_bytes(merges: dict) -> list[tuple[bytes, bytes]]:
    """`{(id1, id2): new_id}` (in creation order) as [(bytes of id1, bytes of id2), ...].

    Assumes the shape was checked (driver.check_merge_shape): merge k made the id 256 + k from ids
    that existed before it.
    """
    pieces = [bytes([b]) for b in range(256)]  # pieces[i]: the bytes id i stands for
    out = []
    for left, right in merges:
        out.append((pieces[left], pieces[right]))
        pieces.append(pieces[left] + pieces[right])
    return out


def show(pair: tuple[bytes, bytes]) -> str:
    """A merge for a message: b'th' + b'e'."""
    return f"{pair[0]!r} + {pair[1]!r}"
