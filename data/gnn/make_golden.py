"""Golden outputs of PyTorch Geometric for the public GNN tests: `.venv/bin/python data/gnn/make_golden.py`
(from the root; about ten seconds, most of it importing torch_geometric).

The public tests (tests/gnn/test_public.py) must not import torch_geometric, which takes seconds. For
each case of its GOLDEN_CASES this script builds the same inputs (`make_call`, seeded), runs PyG on
them (`pyg_with_grads`: gcn_norm, GCNConv, SAGEConv or GATConv holding the same parameters, outputs and
the gradients of sum(output * grad_out) w.r.t. the inputs) and writes `data/gnn/golden.json`: per
case the SHA-256 of its inputs and the results, each as dtype, shape and values (float32 values as the
float64 numbers they are exactly, NaN where PyG's gradient is NaN). The tests check the file's own
SHA-256 (GOLDEN_SHA256 in test_public.py: update it after rerunning this) and every case's inputs.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch_geometric  # noqa: E402

from tests.gnn.test_public import GOLDEN_CASES, digest, make_call, pyg_with_grads  # noqa: E402


def entry(t: torch.Tensor | None):
    if t is None:
        return None
    values = t.detach().reshape(-1).tolist()
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "values": values}


def main() -> None:
    cases = {}
    for name, spec in GOLDEN_CASES.items():
        args, wrt = make_call(spec, name)
        outputs, grads, _ = pyg_with_grads(spec["fn"], args, wrt, name)
        cases[name] = {
            "inputs_sha256": digest(args),
            "outputs": [entry(o) for o in outputs],
            "grads": [entry(g) for g in grads],
        }
    made_by = f"data/gnn/make_golden.py (torch_geometric {torch_geometric.__version__}, torch {torch.__version__})"
    text = json.dumps({"made_by": made_by, "cases": cases}, separators=(",", ":")) + "\n"
    out = Path(__file__).with_name("golden.json")
    out.write_text(text)
    print(f"wrote {out.relative_to(ROOT)} ({len(text)} bytes), sha256 {hashlib.sha256(text.encode()).hexdigest()}")


if __name__ == "__main__":
    main()
