"""Golden data of peft's LoRA for the public tests: `.venv/bin/python data/lora/make_golden.py` (from the root).

peft takes seconds to import, more than a learner should wait at every test run, so the public tests
read what it gives from `data/lora/golden.json`, written here:
- for each case of `tests/lora/test_public.py`'s GOLDEN_CASES (inputs made by its `make_case`): the
  SHA-256 of the inputs (so that a change to the inputs is caught instead of silently comparing with
  outputs of other inputs), the output of peft's LoRA `Linear` holding the same A and B
  (`get_peft_model` with `LoraConfig(r, lora_alpha, target_modules=["proj"], lora_dropout=0.0,
  use_rslora)`), the weight `merge_and_unload()` leaves in that layer, and
  `get_nb_trainable_parameters()`'s count;
- for each case of GOLDEN_INIT: the lora_A of peft's default initialisation drawn from the global
  generator seeded with the case's seed (the same stream as `torch.Generator().manual_seed(seed)`).

Values are stored as JSON numbers written with Python's repr (exact for float64 and float32). The
public tests check the file's SHA-256 (test_public.py's GOLDEN_SHA256): after running this script,
put the SHA-256 it prints there. The peft oracles themselves are in `tests/lora/test_hidden.py`,
which calls them live.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import peft  # noqa: E402

from tests.lora.test_hidden import peft_initial_A, peft_results  # noqa: E402
from tests.lora.test_public import GOLDEN_CASES, GOLDEN_INIT, case_digest, make_case  # noqa: E402


def main() -> None:
    cases = {}
    for name, spec in GOLDEN_CASES.items():
        args = make_case(name, *spec)
        results = peft_results(args)
        cases[name] = {
            "inputs_sha256": case_digest(args),
            "output": results["output"].tolist(),
            "merged_weight": results["merged_weight"].tolist(),
            "trainable": int(results["trainable"]),
        }
    init = {name: {"lora_A": peft_initial_A(*spec).tolist()} for name, spec in GOLDEN_INIT.items()}
    data = {"made_by": "data/lora/make_golden.py", "peft": peft.__version__, "cases": cases, "init": init}
    out = Path(__file__).with_name("golden.json")
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}, SHA-256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
