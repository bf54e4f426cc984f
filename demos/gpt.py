"""Train YOUR GPT-2 on the standard library's docstrings, then let it write: `make demo topic=gpt`.

The text is every docstring of the Python standard library this interpreter ships (modules, classes and
functions, extracted with `ast`; the test packages left out): about 1.8 MB of English about
programming, no download. It is extracted once and cached in `out/cache/gpt/`.

The tokens come from YOUR byte-level BPE (`train_fast` and `encode` of exercises/bpe.py) when its
public tests pass, and are the text's UTF-8 bytes otherwise. Passing is found out by running
`python -m grader test bpe --suite public` on your bpe.py once per version of that file (the verdict is
cached under its SHA-256 in out/cache/gpt/), so later runs cost nothing; `--tokenizer bytes` skips it.

The model is your `gpt2_forward` on a parameter dict with GPT-2's names, trained with autograd and
torch.optim.AdamW (allowed here: the demo is not the exercise) on your `lm_loss`. It prints the loss,
the tokens per second, a sample greedy with your `generate_greedy`, samples at a few temperatures
drawn from your `next_token_probs` with your cache, and saves the loss curve as a PNG.

    python demos/gpt.py [--impl DIR] [--steps N] [--layers L] [--embed E] [--heads H] [--context T]
                        [--batch B] [--chars N] [--vocab V] [--tokenizer auto|bpe|bytes] [--seed S]
                        [--threads N]

The defaults take about a minute on one CPU core (a 2-layer model of width 96, context 64, on 400,000
characters for 500 steps); `--steps 3000 --layers 4 --embed 256 --context 128 --chars 2000000
--threads 4` trains a better one for longer.
This is a demonstration, not a test: `make test topic=gpt` is what checks your functions.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import os
import subprocess
import sys
import sysconfig
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script (`python demos/gpt.py`): make the project importable
    sys.path.insert(0, str(ROOT))

from grader import loader  # noqa: E402

CACHE = ROOT / "out" / "cache" / "gpt"
PICTURES = ROOT / "out" / "demos"
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PROMPT = "Return the "


def _fail(sentence: str) -> int:
    print(sentence, file=sys.stderr)
    return 1


def _learner_function(exc: BaseException, paths: list[Path]) -> tuple[str, int, Path] | None:
    """(function, line, file) of the deepest frame of the exception in one of the learner's files."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) in paths]
    return (frames[-1].name, frames[-1].lineno, Path(frames[-1].filename)) if frames else None


# ---------------------------------------------------------------------------------------------------
# The text


def _is_test(path: Path, stdlib: Path) -> bool:
    parts = path.relative_to(stdlib).parts
    return any(p in ("test", "tests", "idle_test", "site-packages", "dist-packages") for p in parts) or any(
        p.startswith("test_") for p in parts
    )


def stdlib_docstrings() -> str:
    """Every docstring of the standard library (module, class, function), cleaned by ast.get_docstring,
    separated by blank lines; cached in out/cache/gpt/ per Python version."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    cached = CACHE / f"stdlib-docstrings-{sys.version_info.major}.{sys.version_info.minor}.txt"
    if cached.exists():
        return cached.read_text(encoding="utf-8")
    print(f"Extracting the docstrings of {stdlib} (once; cached in {cached.relative_to(ROOT)}) ...")
    start, docs = time.time(), []
    for path in sorted(stdlib.rglob("*.py")):
        if _is_test(path, stdlib):
            continue
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 20:
                    docs.append(doc.strip())
    text = "\n\n".join(docs) + "\n"
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(text, encoding="utf-8")
    print(f"  {len(docs)} docstrings, {len(text) / 1e6:.2f} MB of text in {time.time() - start:.1f} s")
    return text


# ---------------------------------------------------------------------------------------------------
# Tokens


def bpe_passes(folder: Path) -> bool:
    """Whether folder/bpe.py passes its public tests: run once per version of the file (SHA-256),
    the verdict cached in out/cache/gpt/."""
    path = loader.topic_file("bpe", folder)
    if not path.exists():
        return False
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    verdicts = CACHE / "bpe-verdicts.json"
    known = json.loads(verdicts.read_text()) if verdicts.exists() else {}
    if digest not in known:
        print(f"Running the public bpe tests on {loader.display(path)} once, to choose the tokenizer ...")
        cmd = [sys.executable, "-m", "grader", "test", "bpe", "--impl", str(folder), "--suite", "public", "-x"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        known[digest] = done.returncode == 0
        CACHE.mkdir(parents=True, exist_ok=True)
        verdicts.write_text(json.dumps(known, indent=1))
    return known[digest]


class Bytes:
    name = "UTF-8 bytes"
    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")


class LearnerBPE:
    """Your BPE: train_fast on the first `train_chars` characters, with GPT-2's split pattern."""

    def __init__(self, bpe, text: str, vocab_size: int, train_chars: int):
        start = time.time()
        self.bpe = bpe
        self.merges = bpe.train_fast(text[:train_chars], vocab_size, GPT2_PATTERN)
        self.vocab_size = 256 + len(self.merges)
        self.name = f"your BPE ({len(self.merges)} merges, trained on {train_chars:,} characters)"
        print(f"Trained {self.name} in {time.time() - start:.1f} s")

    def encode(self, text: str) -> list[int]:
        return self.bpe.encode(text, self.merges, GPT2_PATTERN)

    def decode(self, ids: list[int]) -> str:
        return self.bpe.decode(ids, self.merges)


def choose_tokenizer(folder: Path, text: str, args, learner_files: list[Path]):
    """Your BPE when it passes its public tests (and --tokenizer is not bytes), else bytes."""
    if args.tokenizer == "bytes":
        return Bytes()
    if not bpe_passes(folder):
        print("Your bpe.py does not pass its public tests yet (`make test topic=bpe`): tokens are bytes.")
        return Bytes()
    try:
        bpe = loader.load_topic("bpe", folder)
        learner_files.append(loader.topic_file("bpe", folder).resolve())
        return LearnerBPE(bpe, text, args.vocab, min(len(text), 100_000))
    except Exception as exc:  # noqa: BLE001 - a demo falls back to bytes, with a sentence
        print(f"Your BPE could not be used ({type(exc).__name__}: {exc}); using bytes.")
        return Bytes()


# ---------------------------------------------------------------------------------------------------
# The model


def _probe(gpt) -> None:
    """Call each function the demo uses once on tiny inputs (the first one not written yet raises)."""
    params = init_params(8, 4, 8, 1, torch.Generator().manual_seed(0))
    ids = torch.zeros(1, 2, dtype=torch.long)
    with torch.no_grad():
        logits, _ = gpt.gpt2_forward(ids, params, 2)
        gpt.lm_loss(logits, ids)
        gpt.next_token_probs(logits[:, -1], temperature=0.5)
        gpt.generate_greedy(params, 2, ids, 1)


def init_params(vocab: int, positions: int, embed: int, layers: int, gen: torch.Generator) -> dict:
    """GPT-2's initialisation: N(0, 0.02) weights, the residual projections scaled by 1 / sqrt(2 L),
    zero biases, unit norm weights; lm_head.weight IS wte (tied)."""

    def normal(*shape, std=0.02):
        return (torch.randn(*shape, generator=gen) * std).requires_grad_()

    def zeros(*shape):
        return torch.zeros(*shape).requires_grad_()

    def ones(*shape):
        return torch.ones(*shape).requires_grad_()

    residual = 0.02 / math.sqrt(2 * layers)
    params = {
        "transformer.wte.weight": normal(vocab, embed),
        "transformer.wpe.weight": normal(positions, embed, std=0.01),
    }
    for i in range(layers):
        p = f"transformer.h.{i}."
        params |= {
            p + "ln_1.weight": ones(embed),
            p + "ln_1.bias": zeros(embed),
            p + "attn.c_attn.weight": normal(embed, 3 * embed),
            p + "attn.c_attn.bias": zeros(3 * embed),
            p + "attn.c_proj.weight": normal(embed, embed, std=residual),
            p + "attn.c_proj.bias": zeros(embed),
            p + "ln_2.weight": ones(embed),
            p + "ln_2.bias": zeros(embed),
            p + "mlp.c_fc.weight": normal(embed, 4 * embed),
            p + "mlp.c_fc.bias": zeros(4 * embed),
            p + "mlp.c_proj.weight": normal(4 * embed, embed, std=residual),
            p + "mlp.c_proj.bias": zeros(embed),
        }
    params |= {"transformer.ln_f.weight": ones(embed), "transformer.ln_f.bias": zeros(embed)}
    params["lm_head.weight"] = params["transformer.wte.weight"]
    return params


def train(gpt, data: torch.Tensor, held_out: torch.Tensor, args, vocab: int) -> tuple[dict, list, list]:
    gen = torch.Generator().manual_seed(args.seed)
    params = init_params(vocab, args.context, args.embed, args.layers, gen)
    leaves = [p for name, p in params.items() if name != "lm_head.weight"]
    decay = [p for p in leaves if p.dim() == 2]
    rest = [p for p in leaves if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95)
    )
    warmup = max(1, args.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
        ),
    )
    count = sum(p.numel() for p in leaves)
    print(
        f"Training your GPT: {args.layers} layers, {args.heads} heads, width {args.embed}, context {args.context}, "
        f"{count / 1e6:.2f} M parameters; batches of {args.batch} x {args.context} tokens, {args.steps} steps."
    )
    print(f"A model that guesses uniformly scores ln({vocab}) = {math.log(vocab):.2f} nats per token.")
    losses, evals, seen = [], [], 0
    start = time.time()
    report = max(1, args.steps // 10)
    for step in range(1, args.steps + 1):
        starts = torch.randint(0, len(data) - args.context, (args.batch,), generator=gen)
        batch = data[starts[:, None] + torch.arange(args.context)]
        logits, _ = gpt.gpt2_forward(batch, params, args.heads)
        loss = gpt.lm_loss(logits, batch)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss became {value} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(leaves, 1.0)
        optimizer.step()
        schedule.step()
        losses.append(value)
        seen += batch.numel()
        if step % report == 0 or step == args.steps:
            took = time.time() - start
            held = evaluate(gpt, params, held_out, args)
            evals.append((step, held))
            recent = sum(losses[-report:]) / len(losses[-report:])
            print(
                f"  step {step:5d}   loss {recent:.3f}   held-out {held:.3f}   "
                f"{seen / took:,.0f} tokens/s   ({took:.0f} s)"
            )
    return params, losses, evals


def evaluate(gpt, params: dict, held_out: torch.Tensor, args) -> float:
    """The loss on (up to) 8 windows of held-out text."""
    usable = (len(held_out) - 1) // args.context
    windows = held_out[: min(usable, 8) * args.context].reshape(-1, args.context)
    with torch.no_grad():
        logits, _ = gpt.gpt2_forward(windows, params, args.heads)
        return float(gpt.lm_loss(logits, windows))


def sample(gpt, params: dict, prompt: list[int], args, temperature, top_k=None, top_p=None, seed=0) -> list[int]:
    """Tokens after `prompt`, each drawn from your next_token_probs, with your cache."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.tensor([prompt])
    with torch.no_grad():
        logits, past = gpt.gpt2_forward(ids, params, args.heads)
        out = list(prompt)
        while len(out) < args.context:
            probs = gpt.next_token_probs(logits[:, -1], temperature=temperature, top_k=top_k, top_p=top_p)
            token = int(torch.multinomial(probs, 1, generator=gen))
            out.append(token)
            if len(out) < args.context:
                logits, past = gpt.gpt2_forward(torch.tensor([[token]]), params, args.heads, past=past)
    return out


def save_curve(losses: list, evals: list, args, tokenizer_name: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no picture)")
        return None
    window = max(1, len(losses) // 50)
    smooth = [
        sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1])
        for i in range(len(losses))
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(losses) + 1), losses, color="0.8", linewidth=0.8, label="training batch")
    ax.plot(range(1, len(losses) + 1), smooth, color="C0", label=f"training, mean of {window} steps")
    ax.plot([s for s, _ in evals], [v for _, v in evals], "o-", color="C3", label="held-out text")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.set_title(f"Your GPT on the standard library's docstrings ({tokenizer_name.split(' (')[0]})")
    ax.legend()
    fig.tight_layout()
    PICTURES.mkdir(parents=True, exist_ok=True)
    path = PICTURES / "gpt_loss.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="exercises", help="folder holding gpt.py (and bpe.py); default exercises")
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--embed", type=int, default=96)
    parser.add_argument("--context", type=int, default=64, help="tokens per window, and the model's P")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--chars", type=int, default=400_000, help="characters of text to train on")
    parser.add_argument("--vocab", type=int, default=512, help="BPE vocabulary size (with your BPE)")
    parser.add_argument("--tokenizer", choices=("auto", "bpe", "bytes"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: fair to a shared machine)")
    args = parser.parse_args(argv)
    folder = loader.resolve_impl(args.impl)
    path = loader.topic_file("gpt", folder).resolve()
    shown = loader.display(path)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    try:
        gpt = loader.load_topic("gpt", folder)
    except loader.LoadError as exc:
        return _fail(str(exc))
    learner_files = [path]
    try:
        _probe(gpt)
        text = stdlib_docstrings()[: args.chars]
        tokenizer = choose_tokenizer(folder, text, args, learner_files)
        start = time.time()
        ids = torch.tensor(tokenizer.encode(text))
        print(
            f"{len(text):,} characters of docstrings -> {len(ids):,} tokens of {tokenizer.name} "
            f"({len(text) / len(ids):.2f} characters per token; encoded in {time.time() - start:.1f} s)."
        )
        cut = int(len(ids) * 0.95)
        params, losses, evals = train(gpt, ids[:cut], ids[cut:], args, tokenizer.vocab_size)
        prompt = tokenizer.encode(PROMPT)
        with torch.no_grad():
            greedy = gpt.generate_greedy(params, args.heads, torch.tensor([prompt]), args.context - len(prompt))
        samples = [("greedy (your generate_greedy)", greedy[0].tolist())]
        for temperature, top_k, top_p in ((0.5, None, None), (0.8, 40, None), (1.0, None, 0.9), (1.5, None, None)):
            words = (
                f"temperature {temperature}"
                + (f", top_k {top_k}" if top_k else "")
                + (f", top_p {top_p}" if top_p else "")
            )
            samples.append((words, sample(gpt, params, prompt, args, temperature, top_k, top_p, seed=args.seed)))
    except NotImplementedError as exc:
        where = _learner_function(exc, learner_files)
        name = where[0] if where else "a function"
        return _fail(
            f"The demo trains a GPT with your gpt2_forward, lm_loss, generate_greedy and next_token_probs, but "
            f"{name} in {loader.display(where[2]) if where else shown} is not written yet: write it "
            f"(`make test topic=gpt` checks it), then run the demo again."
        )
    except FloatingPointError as exc:
        return _fail(
            f"Training stopped: {exc}. Your functions probably contain a mistake; `make test topic=gpt` says which."
        )
    except Exception as exc:  # the learner's code raised: one sentence, with the line
        where = _learner_function(exc, learner_files)
        at = f" in {where[0]} ({loader.display(where[2])} line {where[1]})" if where else ""
        return _fail(
            f"The demo stopped because your code raised {type(exc).__name__}{at}: {str(exc).rstrip('.')}. "
            f"`make test topic=gpt` helps find out why."
        )
    for words, tokens in samples:
        print(f"\n--- {words} ---\n{tokenizer.decode(tokens)}")
    picture = save_curve(losses, evals, args, tokenizer.name)
    if picture:
        print(f"\nThe loss curve: {picture.relative_to(ROOT)}")
    first, last = evals[0][1], evals[-1][1]
    print(f"Held-out loss {last:.2f} nats per token (uniform guessing: {math.log(tokenizer.vocab_size):.2f}).")
    if last > math.log(tokenizer.vocab_size) - 0.5:
        print("It hardly fell: if `make test topic=gpt` is not green yet, it says what is wrong.")
    elif first > last:
        print(f"From {first:.2f} at the first report: your GPT learned some English about Python.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
