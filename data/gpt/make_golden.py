"""Golden outputs of Hugging Face's GPT-2 for the public GPT tests:
`.venv/bin/python data/gpt/make_golden.py` (from the root; about 10 s, most of it importing transformers).

The public tests (tests/gpt/test_public.py) must not import `transformers` (seconds of import at every
run), so this script runs it once on the tests' own inputs and writes `data/gpt/golden.pt`:

- "models": for each config of `CONFIGS`, the parameters made by `gpt2_params` loaded into a
  `GPT2LMHeadModel` (eval mode, dropout 0, the default attention implementation), the logits and the
  cache (`past_key_values`, per layer `.keys` and `.values`) of one forward pass over `token_ids`, and
  for the cases of `GENERATE_CASES` the ids of `generate(do_sample=False, eos_token_id=None)`;
- "warpers": for each case of `WARPER_CASES`, softmax of the logits through `TemperatureLogitsWarper`,
  `TopKLogitsWarper` and `TopPLogitsWarper` (those asked for, in that order).

Each entry records the SHA-256 of its inputs (`digest`), which the tests compare with what their recipes
make. The script refuses cases with no single right answer: a greedy step whose best logit leads the
second by less than 1e-3 (rounding could swap them), a top_p within 1e-4 of a cumulative boundary or
splitting a group of tied tokens. It prints the file's SHA-256: put it in test_public.py's
GOLDEN_SHA256.

It builds its models with `hf_model` of tests/gpt/test_hidden.py, so it runs in the project, not in a
class release (which still gets golden.pt).
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.gpt.key import top_p_clearance  # noqa: E402
from tests.gpt.test_hidden import hf_model  # noqa: E402
from tests.gpt.test_public import (  # noqa: E402
    CONFIGS,
    GENERATE_CASES,
    WARPER_CASES,
    config_inputs,
    digest,
    warper_logits,
)

OUT = ROOT / "data" / "gpt" / "golden.pt"
MIN_GAP, MIN_CLEARANCE = 1e-3, 1e-4


def top2_gap(logits: torch.Tensor) -> float:
    best = logits.double().topk(2, dim=-1).values
    return float((best[..., 0] - best[..., 1]).min())


def models() -> dict:
    out = {}
    for name, cfg in CONFIGS.items():
        _, params, ids = config_inputs(name)
        model = hf_model(cfg, params)
        with torch.no_grad():
            result = model(ids, use_cache=True)
        cache = result.past_key_values
        entry = {
            "inputs_sha256": digest([params[k] for k in sorted(params)] + [ids]),
            "logits": result.logits.clone(),
            "present": [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers],
            "generated": {},
        }
        gap = top2_gap(result.logits)
        print(f"{name}: logits up to {float(result.logits.abs().max()):.1f}, smallest top-2 gap {gap:.2g}")
        if gap < MIN_GAP:
            raise SystemExit(f"{name}: two logits within {MIN_GAP:g}; the one-token greedy test would be ambiguous")
        for case, (config, prompt, new) in GENERATE_CASES.items():
            if config != name:
                continue
            with torch.no_grad():
                generated = model.generate(
                    ids[:, :prompt],
                    do_sample=False,
                    max_new_tokens=new,
                    eos_token_id=None,
                    pad_token_id=0,
                    output_scores=True,
                    return_dict_in_generate=True,
                )
            gap = min(top2_gap(s) for s in generated.scores)
            print(f"  generate {case}: smallest top-2 gap {gap:.2g}")
            if gap < MIN_GAP:
                raise SystemExit(f"{case}: a greedy step is within {MIN_GAP:g} of a tie; choose another case")
            entry["generated"][f"{prompt}+{new}"] = generated.sequences.clone()
        out[name] = entry
    return out


def warpers() -> dict:
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    out = {}
    for name, (dtype, temperature, top_k, top_p, kind) in WARPER_CASES.items():
        logits = warper_logits(dtype, kind, f"gpt/warpers/{name}")
        chain = [TemperatureLogitsWarper(temperature)]
        chain += [TopKLogitsWarper(top_k)] if top_k is not None else []
        chain += [TopPLogitsWarper(top_p)] if top_p is not None else []
        scores = logits.clone()
        for warper in chain:
            scores = warper(None, scores)
        probs = scores.softmax(dim=-1)
        if top_p is not None:
            clearance = top_p_clearance(logits, temperature, top_k, top_p)
            print(f"{name}: top_p {clearance:.2g} from the nearest boundary")
            if clearance < MIN_CLEARANCE:
                raise SystemExit(f"{name}: top_p is within {MIN_CLEARANCE:g} of a boundary; choose another case")
        kept = (probs > 0).sum(-1).tolist()
        print(f"{name}: tokens kept per row {kept}")
        out[name] = {"inputs_sha256": digest([logits]), "probs": probs}
    return out


def main() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = {"models": models(), "warpers": warpers()}
    torch.save(data, OUT)
    size = OUT.stat().st_size
    print(
        f"wrote {OUT.relative_to(ROOT)} ({size / 1000:.0f} kB), SHA-256 {hashlib.sha256(OUT.read_bytes()).hexdigest()}"
    )


if __name__ == "__main__":
    main()
