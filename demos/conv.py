"""Demonstration: a tiny CNN built on YOUR conv2d and pooling functions learns handwritten digits.

    make demo topic=conv                  your exercises/conv.py
    make demo topic=conv impl=solutions   the reference

Data: scikit-learn's 8x8 digits (1797 images shipped inside the package; a demo-only dependency,
installed on first use with a line saying so: SKLEARN below). Network: conv 1->8 (3x3, padding 1) -> ReLU -> max pool 2
-> conv 8->16 (3x3, padding 1) -> ReLU -> average pool 2 -> linear 64->10 -> softmax. The forward
and backward passes of the convolutions and poolings are your functions; the ReLU, the linear
layer, the loss and SGD with momentum are written out here, with no autograd anywhere. The test
accuracy is printed after every epoch: it should rise from chance (about 10%) to above 90%.
This is not a test: `make test topic=conv` is the judge. Pictures (their paths are printed):
out/conv_loss.png (training loss and test accuracy per epoch) and out/conv_filters.png (the first
layer's eight 3x3 filters before and after training).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grader.loader import LoadError, load_topic, resolve_impl  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _plot import ensure, loss_curve, pyplot, save  # noqa: E402

SKLEARN = "scikit-learn==1.9.1"  # the digits data set ships inside the package


def load_digits_tensors(seed: int):
    """(x_train, y_train, x_test, y_test): images (N, 1, 8, 8) scaled to [0, 1], labels 0-9."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    x, y = x[order], y[order]
    n_test = len(y) // 5
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


class TinyCNN:
    """The parameters, a forward pass that keeps what the backward pass needs, and the backward pass."""

    def __init__(self, conv, seed: int):
        self.conv = conv
        gen = torch.Generator().manual_seed(seed)

        def he(*shape, fan_in):
            return torch.randn(*shape, generator=gen) * (2.0 / fan_in) ** 0.5

        self.params = {
            "w1": he(8, 1, 3, 3, fan_in=9),
            "b1": torch.zeros(8),
            "w2": he(16, 8, 3, 3, fan_in=72),
            "b2": torch.zeros(16),
            "w3": he(10, 64, fan_in=64),
            "b3": torch.zeros(10),
        }

    def forward(self, x):
        c, p = self.conv, self.params
        z1 = c.conv2d(x, p["w1"], p["b1"], padding=1)  # (B, 8, 8, 8)
        a1 = torch.relu(z1)
        h1 = c.max_pool2d(a1, 2)  # (B, 8, 4, 4)
        z2 = c.conv2d(h1, p["w2"], p["b2"], padding=1)  # (B, 16, 4, 4)
        a2 = torch.relu(z2)
        h2 = c.avg_pool2d(a2, 2)  # (B, 16, 2, 2)
        flat = h2.reshape(len(x), -1)  # (B, 64)
        logits = flat @ p["w3"].T + p["b3"]
        return logits, (x, z1, a1, h1, z2, a2, h2, flat)

    def backward(self, grad_logits, saved):
        c, p = self.conv, self.params
        x, z1, a1, h1, z2, a2, h2, flat = saved
        grads = {"w3": grad_logits.T @ flat, "b3": grad_logits.sum(0)}
        grad_h2 = (grad_logits @ p["w3"]).reshape(h2.shape)
        grad_a2 = c.avg_pool2d_backward(grad_h2, a2, 2)
        grad_z2 = grad_a2 * (z2 > 0)
        grad_h1, grads["w2"], grads["b2"] = c.conv2d_backward(grad_z2, h1, p["w2"], padding=1)
        grad_a1 = c.max_pool2d_backward(grad_h1, a1, 2)
        grad_z1 = grad_a1 * (z1 > 0)
        _, grads["w1"], grads["b1"] = c.conv2d_backward(grad_z1, x, p["w1"], padding=1)
        return grads


def cross_entropy(logits, y):
    """Mean cross-entropy and its gradient with respect to the logits."""
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    loss = -log_probs[torch.arange(len(y)), y].mean()
    grad = log_probs.exp()
    grad[torch.arange(len(y)), y] -= 1.0
    return float(loss), grad / len(y)


def accuracy(model, x, y) -> float:
    logits, _ = model.forward(x)
    return float((logits.argmax(dim=1) == y).float().mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="exercises", help="folder holding conv.py")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if not ensure("sklearn", SKLEARN, "its 8x8 digits data set"):
        return 1
    folder = resolve_impl(args.impl)
    try:
        conv = load_topic("conv", folder)
    except LoadError as exc:
        print(exc)
        return 1

    x_train, y_train, x_test, y_test = load_digits_tensors(args.seed)
    model = TinyCNN(conv, args.seed)
    first_filters = model.params["w1"].clone()
    epoch_losses, accuracies = [], []
    velocity = {k: torch.zeros_like(v) for k, v in model.params.items()}
    print(
        f"Tiny CNN on scikit-learn's 8x8 digits ({len(y_train)} training, {len(y_test)} test images), "
        f"using {folder.name}/conv.py"
    )
    try:
        print(f"before training: test accuracy {accuracy(model, x_test, y_test):6.1%}")
        gen = torch.Generator().manual_seed(args.seed + 1)
        for epoch in range(1, args.epochs + 1):
            start, losses = time.perf_counter(), []
            order = torch.randperm(len(y_train), generator=gen)
            for first in range(0, len(order), args.batch):
                batch = order[first : first + args.batch]
                logits, saved = model.forward(x_train[batch])
                loss, grad_logits = cross_entropy(logits, y_train[batch])
                grads = model.backward(grad_logits, saved)
                for k, g in grads.items():  # SGD with momentum 0.9
                    velocity[k] = 0.9 * velocity[k] + g
                    model.params[k] = model.params[k] - args.lr * velocity[k]
                losses.append(loss)
            epoch_losses.append(sum(losses) / len(losses))
            accuracies.append(accuracy(model, x_test, y_test))
            print(
                f"epoch {epoch:2d}: training loss {epoch_losses[-1]:.3f}, "
                f"test accuracy {accuracies[-1]:6.1%} ({time.perf_counter() - start:.1f} s)"
            )
    except NotImplementedError:
        print(
            f"{folder / 'conv.py'} is not finished: a function still raises NotImplementedError. "
            f"`make test topic=conv` shows which."
        )
        return 1
    epochs = range(1, args.epochs + 1)
    title = f"Tiny CNN on 8x8 digits, your conv2d ({folder.name}/conv.py)"
    loss_curve(
        epoch_losses,
        "conv_loss",
        title,
        xs=epochs,
        xlabel="epoch",
        ylabel="training loss",
        extra={"test accuracy": (epochs, accuracies)},
    )
    draw_filters(first_filters, model.params["w1"])
    return 0


def draw_filters(before, after) -> None:
    """The first layer's filters (8, 1, 3, 3) before and after training, as two rows of small images."""
    plt = pyplot()
    n = before.shape[0]
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.8))
    for row, (label, weights) in enumerate((("before", before), ("after", after))):
        for i in range(n):
            ax = axes[row][i]
            ax.imshow(weights[i, 0].tolist(), cmap="coolwarm")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(label)
    fig.suptitle("conv1 filters (3x3), before and after training")
    save(fig, "conv_filters")


if __name__ == "__main__":
    sys.exit(main())
