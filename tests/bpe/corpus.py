"""Inputs of the BPE suite and benchmark, generated here (nothing is downloaded).

`english_like(n_chars, seed)` writes seeded, English-looking prose: a Zipf-distributed vocabulary
of made-up and common words, capitals, contractions ('s, 't, 're, ...), numbers (years, prices,
decimals), punctuation, quotes, paragraphs, and now and then a word with accents, a CJK word, an
emoji or a combining mark. The same (n_chars, seed) always gives the same text, on any machine
(it uses only `random.Random` and plain string operations).

`no_whitespace(text)` turns such a text into one whose bytes are all printable ASCII without
spaces (33..126): on those bytes the `tokenizers` BPE trainer breaks ties between equally frequent
pairs exactly as this kata does (smallest pair first), so its merges must equal ours one for one.
With spaces or non-ASCII bytes, its ByteLevel alphabet orders some bytes differently (the space is
shown as U+0120 and sorts after the letters), and only the number of merges is comparable.

GPT2_PATTERN and GPT4_PATTERN are the split patterns the texts are cut with (GPT-2's, and GPT-4's
cl100k_base, as OpenAI published them); the stub carries the same constants.
"""

from __future__ import annotations

import random

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
    r"""|\s*[\r\n]|\s+(?!\S)|\s+"""
)
COMMON = (
    "the of and to in is was for on that with as by at from it he she they we you this be "
    "are not or his her their an which had have but one all were when there can more if "
    "out so what up about into than them only other new some time could these two may "
    "first then do any like my now over such our man me even most made after also did "
    "many before must through back years where much your way well down should because "
    "each just those people how too little state good very make world still own see men "
    "work long get here between both life being under never day same another know while "
    "last might us great old year off come since against go came right used take three"
).split()
ONSETS = "b c d f g h j k l m n p r s t v w br ch cl dr fl gr pl pr sh st str th tr wh".split() + [""]
VOWELS = "a e i o u ai ea ee oo ou y".split()
CODAS = ["", "", *"n r s t l nd ng st ck rt sh m".split()]
SUFFIXES = ["", "", "", *"s ed ing ly er tion ness ment able".split()]
UNICODE_WORDS = [
    *"café naïve Zürich façade déjà crème São Ångström smörgåsbord 東京 日本語 北京".split(),
    *"Москва Ελλάδα שלום مرحبا 😀 🚀 👍🏽".split(),
    "e\u0301te\u0301",  # decomposed: e + combining acute accent
    "n\u0303o",
]
CONTRACTIONS = "'s 't 're 've 'm 'll 'd".split()


def _word(rng: random.Random) -> str:
    syllables = rng.choice((1, 1, 2, 2, 2, 3))
    body = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))
    return body + rng.choice(SUFFIXES)


def _vocabulary(rng: random.Random, size: int = 3000) -> tuple[list[str], list[float]]:
    words = list(COMMON) + [_word(rng) for _ in range(size - len(COMMON))]
    weights = [1.0 / (rank + 2) ** 1.07 for rank in range(len(words))]  # Zipf-like
    return words, weights


def _number(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return str(rng.randint(1800, 2030))
    if kind < 0.5:
        return f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"
    if kind < 0.7:
        return f"${rng.randint(1, 9999)}"
    if kind < 0.85:
        return f"{rng.randint(1, 100)}%"
    return str(rng.randint(0, 10 ** rng.randint(1, 7)))


def _sentence(rng: random.Random, words: list[str], weights: list[float], unicode: float) -> str:
    n = rng.randint(4, 18)
    out = []
    for i, word in enumerate(rng.choices(words, weights, k=n)):
        r = rng.random()
        if r < 0.04:
            word = _number(rng)
        elif r < 0.04 + unicode:
            word = rng.choice(UNICODE_WORDS)
        elif r < 0.075 + unicode:
            word = word + rng.choice(CONTRACTIONS)
        if i == 0 or (r > 0.97):
            word = word[:1].upper() + word[1:]
        if i < n - 1 and rng.random() < 0.08:
            word += rng.choice((",", ",", ";", ":", " -"))
        out.append(word)
    text = " ".join(out)
    if rng.random() < 0.08:
        text = f'"{text}"'
    elif rng.random() < 0.05:
        text = f"({text})"
    return text + rng.choice((".", ".", ".", ".", "!", "?", "...", "."))


def english_like(n_chars: int, seed: int = 0, unicode: float = 0.015) -> str:
    """`n_chars` characters (cut at the end) of seeded English-like prose; `unicode` is the share of
    words taken from UNICODE_WORDS (accents, CJK, Cyrillic, Greek, Hebrew, Arabic, emoji, combining
    marks)."""
    rng = random.Random(seed)
    words, weights = _vocabulary(rng)
    paragraphs: list[str] = []
    total = 0
    while total < n_chars:
        paragraph = " ".join(_sentence(rng, words, weights, unicode) for _ in range(rng.randint(2, 7)))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return "\n\n".join(paragraphs)[:n_chars]


def no_whitespace(text: str) -> str:
    """`text` with every whitespace run turned into one '_' and every non-ASCII character dropped:
    printable ASCII 33..126 only."""
    ascii_only = "".join(c for c in text if 33 <= ord(c) <= 126 or c.isspace())
    return "_".join(ascii_only.split())
