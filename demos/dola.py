"""See YOUR DoLa decoding: `make demo topic=dola` generates with your dola_greedy and draws, per
generated token, how far each early layer's distribution is from the final one.

The model is the provided TinyLM (random but fixed weights: its "text" is token ids, meaningless but
reproducible). Your `dola_greedy` generates from a prompt with the "high" bucket of
`candidate_layers`; then, for each generated token, your `jensen_shannon_divergence` compares every
early exit (layers 0 .. N-1) with the final layer at that position, and your `select_premature_layer`
names the candidate DoLa contrasts with. The picture:

    out/dola_jsd.png   JSD(final || layer j) as a heat map: layers down, generated tokens across,
                       a dot on the premature layer chosen for each token

In a trained model the early layers diverge most and the last ones least; TinyLM's weights are
random, so the picture shows your functions at work more than that pattern. This is a
demonstration, not a test: `make test topic=dola` is the judge.

    python demos/dola.py [--impl DIR] [--tokens N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _plot import pyplot, save  # noqa: E402

from grader.loader import LoadError, load_topic, resolve_impl  # noqa: E402
from provided.tiny_lm import TinyLM  # noqa: E402


def divergences(dola, model, seq: torch.Tensor, prompt_len: int, bucket: list[int]):
    """(N, new tokens) JSDs of every early exit from the final layer, and the premature layer per token."""
    logits = model.layer_logits(seq[:, :-1])[:, 0]  # (N + 1, T - 1, V): position t predicts token t + 1
    steps = logits[:, prompt_len - 1 :]  # the positions that predicted the generated tokens
    final, early = steps[-1], steps[:-1]  # (S, V), (N, S, V)
    jsd = dola.jensen_shannon_divergence(final.expand_as(early), early)  # (N, S)
    chosen = dola.select_premature_layer(final, early[bucket])  # (S,): positions in the bucket
    return jsd, [bucket[int(i)] for i in chosen]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="exercises", help="folder holding dola.py (default exercises)")
    parser.add_argument("--tokens", type=int, default=16, help="tokens to generate (default 16)")
    args = parser.parse_args(argv)
    folder = resolve_impl(args.impl)
    try:
        dola = load_topic("dola", folder)
    except LoadError as exc:
        print(exc)
        return 1
    torch.set_num_threads(1)
    model = TinyLM()
    prompt = torch.tensor([[1, 7, 3, 12, 5, 9]])
    try:
        bucket = dola.candidate_layers(model.num_layers, "high")
        seq = dola.dola_greedy(model, prompt, bucket, args.tokens)
        jsd, chosen = divergences(dola, model, seq, prompt.shape[1], bucket)
    except NotImplementedError:
        print(
            f"{folder / 'dola.py'} is not finished (a function still raises NotImplementedError); the demo uses "
            f"candidate_layers, dola_greedy, jensen_shannon_divergence and select_premature_layer. "
            f"`make test topic=dola` shows which to write first."
        )
        return 1
    except Exception as exc:  # the learner's code raised: one sentence
        print(f"The demo stopped: your code raised {type(exc).__name__}: {exc}. `make test topic=dola` helps.")
        return 1
    generated = seq[0, prompt.shape[1] :].tolist()
    print(f"prompt {prompt[0].tolist()} -> DoLa generated {generated} (candidate layers {bucket})")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(generated) + 2), 4))
    image = ax.imshow(jsd.tolist(), cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label="JSD(final, layer j), nats")
    ax.scatter(range(len(chosen)), chosen, color="red", s=18, label="premature layer chosen")
    ax.set_xticks(range(len(generated)), [f"t{t}" for t in generated], rotation=60, fontsize=8)
    ax.set_yticks(range(model.num_layers), [f"layer {j}" for j in range(model.num_layers)], fontsize=8)
    ax.set_xlabel("generated token")
    ax.set_title("DoLa: how far each early exit is from the final layer")
    ax.legend(loc="upper right", fontsize=8)
    save(fig, "dola_jsd")
    per_layer = jsd.mean(dim=1).tolist()
    print("mean JSD per layer: " + ", ".join(f"{j}: {v:.3f}" for j, v in enumerate(per_layer)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
