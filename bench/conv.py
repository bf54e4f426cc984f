"""Benchmark: conv2d forward + backward by hand against PyTorch's F.conv2d with autograd.

    make bench topic=conv                 the reference (solutions/conv.py)
    make bench topic=conv impl=DIR        DIR/conv.py (for example exercises)

Case: x of shape (32, 16, 32, 32), 32 filters of 3x3, padding 1, stride 1, bias, float32 on the CPU.
One round is `conv2d` then `conv2d_backward` (grad_x, grad_weight, grad_bias) for the kata, and
`F.conv2d` then `.backward()` with autograd for PyTorch. The two are timed alternately in the same
run (so that machine load hits both alike); the medians and their ratio are printed. Goal: the
reference within 5 times PyTorch. The results are also compared once, so a fast wrong answer shows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

torch_conv2d = F.conv2d  # bound before the learner's module is loaded (and the guard's traps)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grader.loader import LoadError, load_topic, resolve_impl  # noqa: E402

GOAL = 5.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="solutions", help="folder holding conv.py (default: solutions)")
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds of each (default 15)")
    args = parser.parse_args(argv)
    folder = resolve_impl(args.impl)
    try:
        kata = load_topic("conv", folder)
    except LoadError as exc:
        print(exc)
        return 1

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 16, 32, 32, generator=gen)
    w = torch.randn(32, 16, 3, 3, generator=gen) / 12.0
    b = torch.randn(32, generator=gen)
    grad_out = torch.randn(32, 32, 32, 32, generator=gen)

    def by_hand():
        out = kata.conv2d(x, w, b, padding=1)
        return out, kata.conv2d_backward(grad_out, x, w, padding=1)

    def by_torch():
        xl, wl, bl = (t.clone().requires_grad_(True) for t in (x, w, b))
        out = torch_conv2d(xl, wl, bl, padding=1)
        out.backward(grad_out)
        return out.detach(), (xl.grad, wl.grad, bl.grad)

    try:
        mine, theirs = by_hand(), by_torch()
    except NotImplementedError:
        print(f"{folder / 'conv.py'}: conv2d or conv2d_backward is not written yet.")
        return 1
    worst = max(
        float((a - e).abs().max() / e.abs().max()) for a, e in zip((mine[0], *mine[1]), (theirs[0], *theirs[1]))
    )
    for _ in range(2):  # warm-up: allocator, thread pool, first autograd call
        by_hand(), by_torch()
    times = {"kata": [], "torch": []}
    for _ in range(args.repeat):
        for name, fn in (("kata", by_hand), ("torch", by_torch)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    kata_ms, torch_ms = (statistics.median(times[k]) * 1e3 for k in ("kata", "torch"))
    ratio = kata_ms / torch_ms
    print(
        f"conv2d forward + backward, x (32, 16, 32, 32), 32 filters 3x3, padding 1, float32, "
        f"{torch.get_num_threads()} threads, median of {args.repeat}:"
    )
    label = f"{folder.name}/conv.py (conv2d + conv2d_backward):"
    print(f"  {label:<52} {kata_ms:8.2f} ms")
    print(f"  {'F.conv2d + autograd backward:':<52} {torch_ms:8.2f} ms")
    print(f"  ratio: {ratio:.2f}x PyTorch (goal: within {GOAL:g}x) -> {'met' if ratio <= GOAL else 'NOT met'}")
    print(f"  largest difference from PyTorch over the four results: {worst:.1e} of each result's scale")
    return 0


if __name__ == "__main__":
    sys.exit(main())
