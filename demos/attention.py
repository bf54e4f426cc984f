"""See YOUR attention at work: `make demo topic=attention` draws attention maps made by your functions.

A sentence whose words repeat; each word gets a fixed random vector (the same word, the same
vector), used as its query and its key, so a query scores high against the keys of the same word.
Your `scaled_dot_product_attention` is called with the identity matrix as the values: its output is
then the attention weights themselves, softmax(q k^T * scale + mask), one row per query. Two maps:

    out/attention_map.png          without a mask: every word looks at every occurrence of itself
    out/attention_causal_map.png   is_causal=True: only at itself and earlier occurrences (upper
                                   triangle empty)

A row that is not a probability distribution (negative, or not summing to 1) is reported. This is a
demonstration, not a test: `make test topic=attention` is the judge.

    python demos/attention.py [--impl DIR] [--sharpness S]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _plot import heat_map  # noqa: E402

from grader.loader import LoadError, load_topic, resolve_impl  # noqa: E402

SENTENCE = "the cat sat on the mat and the cat saw the rat on the mat".split()


def attention_weights(attention, words: list[str], sharpness: float, causal: bool) -> torch.Tensor:
    """(L, L) weights from the learner's scaled_dot_product_attention, values = identity."""
    vocab = sorted(set(words))
    gen = torch.Generator().manual_seed(0)
    table = torch.nn.functional.normalize(torch.randn(len(vocab), 16, generator=gen), dim=-1)
    x = table[[vocab.index(w) for w in words]] * sharpness  # (L, 16)
    q = k = x[None]  # (1, L, 16)
    v = torch.eye(len(words))[None]  # (1, L, L): the output is the weights
    return attention.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=1.0)[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="exercises", help="folder holding attention.py (default exercises)")
    parser.add_argument("--sharpness", type=float, default=3.0, help="length of the word vectors (default 3)")
    args = parser.parse_args(argv)
    folder = resolve_impl(args.impl)
    try:
        attention = load_topic("attention", folder)
    except LoadError as exc:
        print(exc)
        return 1
    labels = [f"{i}:{w}" for i, w in enumerate(SENTENCE)]
    try:
        maps = {causal: attention_weights(attention, SENTENCE, args.sharpness, causal) for causal in (False, True)}
    except NotImplementedError:
        print(
            f"{folder / 'attention.py'}: scaled_dot_product_attention (or the softmax it uses) is not "
            f"written yet; `make test topic=attention` shows what to do first."
        )
        return 1
    except Exception as exc:  # the learner's code raised: one sentence
        print(f"The demo stopped: your scaled_dot_product_attention raised {type(exc).__name__}: {exc}")
        return 1
    for causal, weights in maps.items():
        if tuple(weights.shape) != (len(SENTENCE), len(SENTENCE)):
            print(f"Expected weights of shape {(len(SENTENCE),) * 2}, got {tuple(weights.shape)}.")
            return 1
        sums = weights.sum(-1)
        if (weights < -1e-6).any() or not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
            print("Some rows are not probability distributions (negative, or not summing to 1): see the picture.")
        name = "attention_causal_map" if causal else "attention_map"
        title = "causal self-attention (is_causal=True)" if causal else "self-attention, no mask"
        heat_map(weights, name, title, xticks=labels, yticks=labels, xlabel="key", ylabel="query", cmap="magma")
    row = SENTENCE.index("cat", 2)
    top = maps[True][row].topk(2)
    print(
        f'In the causal map, word {row} ("cat") puts {float(top.values[0]):.0%} of its attention on word '
        f"{int(top.indices[0])} and {float(top.values[1]):.0%} on word {int(top.indices[1])}: itself and the "
        f"earlier cat."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
