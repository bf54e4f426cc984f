"""Train YOUR recurrent network on a short text, then let it write: `make demo topic=rnn`.

A character-level language model: every character is a one-hot input, your `rnn_forward` runs the
RNN over windows of the text, a softmax layer (written here) predicts the next character, your
`rnn_backward` gives the gradients of the RNN's weights, and Adam (written here) updates them. The
printed loss (cross-entropy per character, in nats) should fall from about ln(vocabulary size),
and the sample at the end should look more and more like the text. Sampling uses your `rnn_step`.

    python demos/rnn.py [--impl DIR] [--steps N] [--seed S]

`--impl` is the folder holding rnn.py (`exercises`, the default, `solutions`, or any path). This is a
demonstration, not a test: `make test topic=rnn` is what checks your functions. Picture: the loss
curve, out/rnn_loss.png (its path is printed).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import traceback
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a script (`python demos/rnn.py`): make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _plot import loss_curve  # noqa: E402

from grader import loader  # noqa: E402

# The text the model learns: written for this project, short and repetitive on purpose so that a
# small RNN learns its words in a few seconds.
TEXT = """\
the cat sat on the mat and the rat ran to the cat.
the cat ran to the rat and the rat sat on the mat.
a net that is recurrent reads one letter at a time,
and it keeps a state that it carries to the next one.
the state is a memory, the memory is a state,
and the gradient flows back through every step in time.
"""

HIDDEN, WINDOW, BATCH, LR, CLIP = 64, 32, 16, 1e-2, 5.0


def _fail(sentence: str) -> int:
    print(sentence, file=sys.stderr)
    return 1


def _learner_function(exc: BaseException, path: Path) -> tuple[str, int] | None:
    """(function name, line) of the deepest frame of the exception that lies in the learner's file."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return (frames[-1].name, frames[-1].lineno) if frames else None


def _probe(rnn) -> None:
    """Call each function the demo uses once on tiny inputs (the first one not written yet raises)."""
    x, h = torch.zeros(1, 2), torch.zeros(1, 3)
    w_ih, w_hh, b = torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3)
    rnn.rnn_step(x, h, w_ih, w_hh, b, b)
    hs = rnn.rnn_forward(x[None], h, w_ih, w_hh, b, b)
    rnn.rnn_backward(torch.zeros(1, 1, 3), x[None], hs, h, w_ih, w_hh)


class Adam:
    """Plain Adam over a dict of tensors (the demo's own, so it runs before you have written one)."""

    def __init__(self, params: dict, lr: float, betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        self.t += 1
        b1, b2 = self.betas
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat, v_hat = self.m[k] / (1 - b1**self.t), self.v[k] / (1 - b2**self.t)
            params[k] = params[k] - self.lr * m_hat / (v_hat.sqrt() + self.eps)


def train(rnn, steps: int, seed: int, report_every: int) -> tuple[list[float], dict, list[str]]:
    chars = sorted(set(TEXT))
    index = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([index[ch] for ch in TEXT])
    vocab = len(chars)
    eye = torch.eye(vocab)
    gen = torch.Generator().manual_seed(seed)

    def uniform(*shape, fan):
        return (torch.rand(*shape, generator=gen) * 2 - 1) / math.sqrt(fan)

    params = {
        "weight_ih": uniform(HIDDEN, vocab, fan=HIDDEN),
        "weight_hh": uniform(HIDDEN, HIDDEN, fan=HIDDEN),
        "bias_ih": torch.zeros(HIDDEN),
        "bias_hh": torch.zeros(HIDDEN),
        "weight_hy": uniform(vocab, HIDDEN, fan=HIDDEN),
        "bias_y": torch.zeros(vocab),
    }
    opt = Adam(params, LR)
    losses, window_losses = [], []
    start = time.time()
    print(
        f"Training an RNN with your rnn_forward and rnn_backward: {len(TEXT)} characters of text, "
        f"{vocab} distinct, hidden size {HIDDEN}, windows of {WINDOW} characters, batch {BATCH}."
    )
    print(f"A model that guesses uniformly scores ln({vocab}) = {math.log(vocab):.2f}.")
    for step in range(1, steps + 1):
        starts = torch.randint(0, len(data) - WINDOW - 1, (BATCH,), generator=gen)
        idx = starts[None, :] + torch.arange(WINDOW)[:, None]  # (T, B)
        xs, targets = eye[data[idx]], data[idx + 1]  # (T, B, V) one-hot, (T, B)
        h0 = torch.zeros(BATCH, HIDDEN)
        rnn_args = {k: params[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        hs = rnn.rnn_forward(xs, h0, **rnn_args)
        logits = hs @ params["weight_hy"].T + params["bias_y"]  # (T, B, V)
        log_probs = torch.log_softmax(logits, dim=-1)
        loss = float(-log_probs.gather(-1, targets[..., None]).mean())
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss} at step {step}")
        # Softmax cross-entropy, by hand: d loss / d logits = (softmax - one-hot) / (T * B).
        grad_logits = (log_probs.exp() - eye[targets]) / (WINDOW * BATCH)
        grads = {
            "weight_hy": grad_logits.reshape(-1, vocab).T @ hs.reshape(-1, HIDDEN),
            "bias_y": grad_logits.sum(dim=(0, 1)),
        }
        grad_hs = grad_logits @ params["weight_hy"]
        _, _, grads["weight_ih"], grads["weight_hh"], grads["bias_ih"], grads["bias_hh"] = rnn.rnn_backward(
            grad_hs, xs, hs, h0, params["weight_ih"], params["weight_hh"]
        )
        norm = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
        if norm > CLIP:  # gradient clipping keeps an exploding step from wrecking the weights
            grads = {k: g * (CLIP / norm) for k, g in grads.items()}
        opt.step(params, grads)
        window_losses.append(loss)
        if step % report_every == 0 or step == 1:
            average = sum(window_losses) / len(window_losses)
            losses.append(average)
            print(f"  step {step:4d}   loss {average:.3f}   ({time.time() - start:.1f} s)")
            window_losses = []
    return losses, params, chars


def sample(rnn, params: dict, chars: list[str], length: int, seed: int, temperature: float = 0.7) -> str:
    """Let the model write `length` characters after the prompt "the ", one rnn_step at a time."""
    index = {ch: i for i, ch in enumerate(chars)}
    eye = torch.eye(len(chars))
    gen = torch.Generator().manual_seed(seed)
    rnn_args = {k: params[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    h = torch.zeros(1, HIDDEN)
    prompt = "the "
    for ch in prompt[:-1]:
        h = rnn.rnn_step(eye[index[ch]][None], h, **rnn_args)
    out, ch = list(prompt), prompt[-1]
    for _ in range(length):
        h = rnn.rnn_step(eye[index[ch]][None], h, **rnn_args)
        logits = (h @ params["weight_hy"].T + params["bias_y"])[0] / temperature
        ch = chars[int(torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen))]
        out.append(ch)
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="exercises", help="folder holding rnn.py (default exercises)")
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    folder = loader.resolve_impl(args.impl)
    path = loader.topic_file("rnn", folder).resolve()
    shown = loader.display(path)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # the matrices are small: one thread is fastest, and fair to a busy machine
    try:
        rnn = loader.load_topic("rnn", folder)
    except loader.LoadError as exc:
        return _fail(str(exc))
    try:
        _probe(rnn)
        losses, params, chars = train(rnn, args.steps, args.seed, report_every=max(1, args.steps // 12))
        text = sample(rnn, params, chars, 240, args.seed)
    except NotImplementedError as exc:
        where = _learner_function(exc, path)
        name = where[0] if where else "a function"
        return _fail(
            f"The demo trains an RNN with your rnn_step, rnn_forward and rnn_backward, but "
            f"{name} in {shown} is not written yet: write it (`make test topic=rnn` checks "
            f"it), then run the demo again."
        )
    except FloatingPointError as exc:
        return _fail(
            f"Training stopped: {exc}. Your functions probably contain a mistake; `make test topic=rnn` says which."
        )
    except Exception as exc:  # the learner's code raised: one sentence, with the line
        where = _learner_function(exc, path)
        at = f" in {where[0]} ({shown} line {where[1]})" if where else ""
        return _fail(
            f"The demo stopped because your code raised {type(exc).__name__}{at}: {str(exc).rstrip('.')}. "
            f"`make test topic=rnn` helps find out why."
        )
    every = max(1, args.steps // 12)
    steps = sorted({1, *range(every, args.steps + 1, every)})[: len(losses)]
    title = f"RNN language model, your rnn_forward/rnn_backward ({loader.display(folder)})"
    loss_curve(losses, "rnn_loss", title, xs=steps, ylabel="cross-entropy per character (nats)")
    print('\nA sample from the trained model (prompt "the ", temperature 0.7):\n')
    print(text)
    first, last = losses[0], losses[-1]
    if last < first - 0.5:
        print(f"\nThe loss fell from {first:.2f} to {last:.2f}: your RNN learned the text.")
    else:
        print(
            f"\nThe loss went from {first:.2f} to {last:.2f} and hardly fell: if `make test topic=rnn` "
            f"is not green yet, it says what is wrong."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
