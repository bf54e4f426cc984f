"""Pictures for the demos: PNG files under out/ (git-ignored), drawn with matplotlib's Agg backend.

    from _plot import loss_curve, save
    path = loss_curve([2.9, 2.1, 1.7], "rnn_loss", "RNN, character-level", xs=[1, 25, 50], xlabel="step")

Every function prints the path it wrote ("picture: out/rnn_loss.png"). matplotlib is in
requirements.txt (installed by the set-up); where it is missing anyway it is installed on first use,
with a line saying so, from the version pinned there.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out"


def _pinned() -> str:
    try:
        text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    except OSError:
        return "matplotlib"
    found = re.search(r"^matplotlib==\S+", text, re.M)
    return found.group(0) if found else "matplotlib"


def pyplot():
    """matplotlib.pyplot on the Agg backend (no window, PNG files only), installed first if missing."""
    try:
        import matplotlib
    except ImportError:
        spec = _pinned()
        print(f"The demo draws its pictures with matplotlib, which is not installed: installing {spec} ...")
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", spec])
        if done.returncode != 0:
            raise SystemExit(f"Could not install {spec}; install it with `.venv/bin/pip install {spec}`.") from None
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ensure(module: str, spec: str, why: str) -> bool:
    """Import `module`, installing `spec` with pip first (with a line saying so) where it is missing.
    False, with a sentence printed, when that fails."""
    import importlib

    try:
        importlib.import_module(module)
        return True
    except ImportError as exc:
        if exc.name != module.split(".")[0]:  # installed but broken: installing again would not help
            print(f"{spec.split('==')[0]} is installed but does not import ({exc}).")
            return False
    print(f"This demo needs {spec} ({why}); installing it once into this environment ...", flush=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", spec])
    importlib.invalidate_caches()
    if done.returncode == 0:
        try:
            importlib.import_module(module)
            return True
        except ImportError:
            pass
    print(f"Could not install {spec}: install it with `{sys.executable} -m pip install {spec}` and run the demo again.")
    return False


def save(fig, name: str) -> Path:
    """Write `fig` to out/<name>.png, close it, print and return the path."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    print(f"picture: {shown}")
    return path


def loss_curve(losses, name: str, title: str, xs=None, xlabel: str = "step", ylabel: str = "loss", extra=None) -> Path:
    """A loss curve (and, in `extra`, more curves as {label: (xs, ys)}) saved as out/<name>.png."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    xs = list(xs) if xs is not None else list(range(1, len(losses) + 1))
    ax.plot(xs, list(losses), marker="o", markersize=3, label=ylabel)
    for label, (x2, y2) in (extra or {}).items():
        ax.plot(list(x2), list(y2), marker="s", markersize=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if extra:
        ax.legend()
    return save(fig, name)


def heat_map(matrix, name: str, title: str, xticks=None, yticks=None, xlabel="", ylabel="", cmap="viridis") -> Path:
    """A matrix (rows x columns, a torch tensor or nested lists) as a coloured grid with a colour bar."""
    plt = pyplot()
    values = matrix.tolist() if hasattr(matrix, "tolist") else matrix
    rows, cols = len(values), len(values[0]) if values else 0
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * cols + 2), max(3, 0.35 * rows + 1.5)))
    image = ax.imshow(values, cmap=cmap, aspect="auto")
    fig.colorbar(image, ax=ax)
    if xticks is not None:
        ax.set_xticks(range(len(xticks)), list(xticks), rotation=60, ha="right", fontsize=8)
    if yticks is not None:
        ax.set_yticks(range(len(yticks)), list(yticks), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return save(fig, name)
