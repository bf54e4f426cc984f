"""Train a two-layer GCN made of YOUR gcn_conv on Zachary's karate club: `make demo topic=gnn`.

Zachary's karate club is a graph of 34 members and the 78 friendships between them (each listed in
both directions); the club split into four communities. PyTorch Geometric ships it
(`torch_geometric.datasets.KarateClub()`, no download) with one labelled member per community. The
model: two layers of your `gcn_conv` (34 one-hot features -> 16 -> 2, tanh), then a linear
classifier into the 4 communities, trained with Adam on the 4 labelled members only. The printed
accuracy is over all 34 members: the graph carries the labels to the others. The picture is each
member's learned 2-D embedding (the second layer's output), coloured by its true community, with
the friendships drawn: out/gnn_karate.png (its path is printed).

    python demos/gnn.py [--impl DIR] [--epochs N] [--seed S]

`--impl` is the folder holding gnn.py (`exercises`, the default, `solutions`, or any path). This is a
demonstration, not a test: `make test topic=gnn` is what checks your functions.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import traceback
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a script (`python demos/gnn.py`): make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _plot import pyplot, save  # noqa: E402

from grader import loader  # noqa: E402

HIDDEN, LR = 16, 0.01


def _fail(sentence: str) -> int:
    print(sentence, file=sys.stderr)
    return 1


def _learner_function(exc: BaseException, path: Path) -> tuple[str, int] | None:
    """(function name, line) of the deepest frame of the exception that lies in the learner's file."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return (frames[-1].name, frames[-1].lineno) if frames else None


def karate_club():
    """(x (34, 34) one-hot, edge_index (2, 156), labels (34,), train_mask (34,)) from PyG's copy."""
    from torch_geometric.datasets import KarateClub

    data = KarateClub()[0]
    return data.x.float(), data.edge_index, data.y, data.train_mask


def train(gnn, epochs: int, seed: int):
    """Train the model; returns (embedding (34, 2), predictions (34,), the loss every tenth epoch)."""
    x, edge_index, labels, train_mask = karate_club()
    gen = torch.Generator().manual_seed(seed)

    def glorot(rows, cols):
        bound = math.sqrt(6 / (rows + cols))
        return ((torch.rand(rows, cols, generator=gen) * 2 - 1) * bound).requires_grad_(True)

    params = {
        "w1": glorot(HIDDEN, x.shape[1]),
        "b1": torch.zeros(HIDDEN, requires_grad=True),
        "w2": glorot(2, HIDDEN),
        "b2": torch.zeros(2, requires_grad=True),
        "w_out": glorot(4, 2),
        "b_out": torch.zeros(4, requires_grad=True),
    }
    optimizer = torch.optim.Adam(params.values(), lr=LR)

    def forward():
        h = torch.tanh(gnn.gcn_conv(x, edge_index, params["w1"], params["b1"]))
        embedding = torch.tanh(gnn.gcn_conv(h, edge_index, params["w2"], params["b2"]))
        return embedding, embedding @ params["w_out"].T + params["b_out"]

    print(
        f"Training a two-layer GCN of your gcn_conv on Zachary's karate club: {x.shape[0]} members, "
        f"{edge_index.shape[1] // 2} friendships, 4 communities, {int(train_mask.sum())} labelled members."
    )
    losses, start = [], time.time()
    for epoch in range(1, epochs + 1):
        _, logits = forward()
        loss = torch.nn.functional.cross_entropy(logits[train_mask], labels[train_mask])
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss became {value} at epoch {epoch}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if epoch % 10 == 0:
            losses.append(value)
        if epoch % max(1, epochs // 6) == 0 or epoch == 1:
            print(f"  epoch {epoch:4d}   loss {value:.4f}   ({time.time() - start:.1f} s)")
    with torch.no_grad():
        embedding, logits = forward()
    return embedding, logits.argmax(dim=1), labels, edge_index, train_mask


def picture(embedding, labels, edge_index, train_mask, accuracy: float, shown: str) -> Path:
    """The 2-D embedding, coloured by true community, friendships as grey lines, labelled members ringed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.4))
    points = embedding.tolist()
    for s, t in edge_index.T.tolist():
        if s < t:
            ax.plot([points[s][0], points[t][0]], [points[s][1], points[t][1]], color="0.8", lw=0.6, zorder=1)
    ax.scatter(embedding[:, 0], embedding[:, 1], c=labels.tolist(), cmap="tab10", vmin=0, vmax=9, s=70, zorder=2)
    ax.scatter(
        embedding[train_mask, 0], embedding[train_mask, 1], facecolors="none", edgecolors="black", s=180, zorder=3
    )
    for i, (px, py) in enumerate(points):
        ax.annotate(str(i), (px, py), fontsize=6, ha="center", va="center", zorder=4)
    ax.set_title(f"Karate club: 2-D embedding of your GCN ({shown}), accuracy {accuracy:.0%}")
    ax.set_xlabel("embedding 0")
    ax.set_ylabel("embedding 1")
    return save(fig, "gnn_karate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="exercises", help="folder holding gnn.py (default exercises)")
    parser.add_argument("--epochs", type=int, default=200, help="training epochs (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    folder = loader.resolve_impl(args.impl)
    path = loader.topic_file("gnn", folder).resolve()
    shown = loader.display(path)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # the graph is tiny: one thread is fastest, and fair to a busy machine
    try:
        gnn = loader.load_topic("gnn", folder)
    except loader.LoadError as exc:
        return _fail(str(exc))
    try:
        embedding, predicted, labels, edge_index, train_mask = train(gnn, args.epochs, args.seed)
    except NotImplementedError as exc:
        where = _learner_function(exc, path)
        name = where[0] if where else "a function"
        return _fail(
            f"The demo trains a GCN with your gcn_conv (which uses your gcn_norm and scatter_sum), but {name} "
            f"in {shown} is not written yet: write it (`make test topic=gnn` checks it), then run the demo again."
        )
    except FloatingPointError as exc:
        return _fail(
            f"Training stopped: {exc}. Your functions probably contain a mistake; `make test topic=gnn` says which."
        )
    except Exception as exc:  # the learner's code raised: one sentence, with the line
        where = _learner_function(exc, path)
        at = f" in {where[0]} ({shown} line {where[1]})" if where else ""
        return _fail(
            f"The demo stopped because your code raised {type(exc).__name__}{at}: {str(exc).rstrip('.')}. "
            f"`make test topic=gnn` helps find out why."
        )
    accuracy = float((predicted == labels).float().mean())
    unlabelled = ~train_mask
    rest = float((predicted[unlabelled] == labels[unlabelled]).float().mean())
    print(
        f"\nAccuracy over all {len(labels)} members: {accuracy:.0%} "
        f"({rest:.0%} of the {int(unlabelled.sum())} unlabelled)."
    )
    picture(embedding, labels, edge_index, train_mask, accuracy, shown)
    if accuracy >= 0.6:
        print("Four labels were enough: the friendships carried them to the rest of the club.")
    else:
        print("The accuracy is low: if `make test topic=gnn` is not green yet, it says what is wrong.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
