"""Golden merges for the hidden BPE tests: `.venv/bin/python data/bpe/make_golden.py` (from the root).

The hidden tests check that a learner's `train_fast` (and `train`, where it is quick enough) gives
exactly the merges of the reference's straightforward `train`, on corpora too large to run that slow
trainer at every test run (about a minute in all here). This script runs `solutions/bpe.py`'s
`train` once per case and writes `data/bpe/golden.json`: for each case the corpus recipe
(`tests.bpe.corpus.english_like(n_chars, seed, unicode)`), the SHA-256 of the generated text (so that a
change to the generator is caught instead of silently comparing other texts), the pattern, the
vocab size and the merges in creation order (merge k created id 256 + k).

It needs `solutions/`, so it runs in the project, not in a class release (which still gets the
JSON file).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bpe.corpus import GPT2_PATTERN, GPT4_PATTERN, english_like  # noqa: E402

PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN, None: None}

# (name, n_chars, seed, share of Unicode words, pattern, vocab_size)
CASES = [
    ("60k-gpt2-700", 60_000, 11, 0.015, "gpt2", 700),
    ("40k-gpt4-600", 40_000, 12, 0.015, "gpt4", 600),
    ("6k-no-pattern-400", 6_000, 13, 0.015, None, 400),
    ("12k-gpt2-exhausted", 12_000, 14, 0.015, "gpt2", 20_000),
    ("3k-gpt2-330", 3_000, 31, 0.015, "gpt2", 330),
    ("3k-gpt4-330", 3_000, 32, 0.015, "gpt4", 330),
    ("3k-unicode-gpt2-330", 3_000, 33, 0.3, "gpt2", 330),
]


def corpus_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main() -> None:
    spec = importlib.util.spec_from_file_location("reference_bpe", ROOT / "solutions" / "bpe.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    cases = []
    for name, n_chars, seed, unicode, pattern, vocab_size in CASES:
        text = english_like(n_chars, seed, unicode)
        start = time.time()
        merges = reference.train(text, vocab_size, PATTERNS[pattern])
        print(f"{name}: {len(merges)} merges in {time.time() - start:.1f} s")
        cases.append(
            {
                "name": name,
                "n_chars": n_chars,
                "seed": seed,
                "unicode": unicode,
                "pattern": pattern,
                "vocab_size": vocab_size,
                "sha256": corpus_digest(text),
                "merges": [list(pair) for pair in merges],
            }
        )
    out = Path(__file__).with_name("golden.json")
    out.write_text(
        json.dumps(
            {"made_by": "data/bpe/make_golden.py (the reference's train)", "cases": cases}, separators=(",", ":")
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
