"""How much room the DoLa suite leaves to correct code: `python -m tests.dola.margins`.

1. Tolerances: for the reference and every alternative in mutants.py, the worst
   |error| / (atol + rtol * |expected|) of the divergences and contrasts of the random cases
   (1.0 would be a false failure).
2. Decisions: greedy decoding compares token ids exactly, so a case is safe only if no decision is
   close to a tie. For every step of every greedy case of both suites, in float64: the gap between
   the two best scores, between the two largest divergences (relative), and the distance of the
   plausibility threshold from the nearest log-probability (for alpha = 1, where only the top token
   is plausible: the gap between the two most likely tokens). Float32 rounding is about 1e-6 on these
   quantities; the smallest margins printed are far larger.
Project-only (it reads mutants.py and the reference).
"""

import math

import torch

from grader.mistakes import correct_modules
from provided.tiny_lm import TinyLM
from tests.dola import oracle as O
from tests.dola.mutants import ALTERNATIVES
from tests.dola.test_hidden import CONTRAST_CASES, GREEDY_CASES, JSD_CASES, _scipy_jsd

f32, f64 = torch.float32, torch.float64


def _modules():
    return correct_modules("dola", ALTERNATIVES)


def _logits(shape, seed, scale=3.0, dtype=f32):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen, dtype=f64) * scale).to(dtype)


def _ratio(actual, expected, t):
    a, e = actual.double(), expected.double()
    finite = torch.isfinite(e)
    if not torch.equal(torch.isfinite(a), finite):
        return float("inf")
    if not bool(finite.any()):
        return 0.0
    return float(((a - e).abs()[finite] / (t["atol"] + t["rtol"] * e.abs()[finite])).max())


def tolerance_use(modules):
    print("Worst error / tolerance (1.0 would fail):")
    for name, (dtype, shape, scale) in JSD_CASES.items():
        p, q = _logits(shape, 11, scale, dtype), _logits(shape, 12, scale, dtype)
        expected = _scipy_jsd(p, q)
        row = [
            f"{m} {_ratio(ns['jensen_shannon_divergence'](p, q), expected, O.tol(dtype, 'jsd')):.3f}"
            for m, ns in modules.items()
        ]
        print(f"  jsd {name:34} " + ", ".join(row))
    for name, (dtype, shape, alpha, scale) in CONTRAST_CASES.items():
        final, prem = _logits(shape, 40, scale, dtype), _logits(shape, 41, scale, dtype)
        expected = O.predict_contrast(final, prem, alpha)
        row = [
            f"{m} {_ratio(ns['contrast_logits'](final, prem, alpha), expected, O.tol(dtype)):.3f}"
            for m, ns in modules.items()
        ]
        print(f"  contrast {name:29} " + ", ".join(row))


def decision_margins(model, ids, layers, n, alpha, penalty):
    """Smallest (score gap, relative JSD gap, threshold distance) over the steps of one case."""
    seq = ids.clone()
    batch = torch.arange(seq.shape[0])
    score_gap = jsd_gap = threshold_gap = math.inf
    for _ in range(n):
        logits = model.layer_logits(seq)[:, :, -1].to(f64)
        final, cands = logits[-1], logits[layers]
        if len(layers) > 1:
            div = O.jsd(final.unsqueeze(0).expand_as(cands), cands)
            top = div.topk(2, dim=0).values
            jsd_gap = min(jsd_gap, float(((top[0] - top[1]) / top[0]).min()))
            premature = cands[div.argmax(dim=0), batch]
        else:
            premature = cands[0]
        log_p = torch.log_softmax(final, dim=-1)
        threshold = log_p.max(dim=-1, keepdim=True).values + math.log(alpha)
        if alpha < 1:
            threshold_gap = min(threshold_gap, float((log_p - threshold).abs().min()))
        else:  # only the top token is plausible: how far is the second one?
            top2 = log_p.topk(2, dim=-1).values
            threshold_gap = min(threshold_gap, float((top2[:, 0] - top2[:, 1]).min()))
        scores = O.predict_penalty(O.predict_contrast(final, premature, alpha), seq, penalty)
        best = scores.topk(2, dim=-1).values
        gap = best[:, 0] - best[:, 1]
        score_gap = min(
            score_gap, float(gap[torch.isfinite(gap)].min()) if bool(torch.isfinite(gap).any()) else math.inf
        )
        seq = torch.cat([seq, scores.argmax(dim=-1, keepdim=True)], dim=1)
    return score_gap, jsd_gap, threshold_gap


def main() -> None:
    tolerance_use(_modules())
    print(
        "\nGreedy cases: smallest gap between the two best scores, relative gap between the two "
        "largest divergences, distance of the plausibility threshold from a log-probability:"
    )
    cases = {
        "public alpha=1 low": (dict(seed=0), 2, 5, 5, [0, 2], 6, 1.0, 1.0),
        "public alpha=1 high": (dict(seed=0), 2, 5, 5, [4, 6], 6, 1.0, 1.0),
        "public low": (dict(seed=1), 3, 4, 7, [0, 2], 8, 0.1, 1.2),
        "public high": (dict(seed=1), 3, 4, 7, [4, 6], 8, 0.1, 1.2),
        "public single candidate": (dict(seed=2), 2, 3, 8, [3], 6, 0.2, 1.3),
        "hidden zero/unchanged": (dict(seed=8), 2, 4, 70, [4, 6], 5, 0.1, 1.2),
        "hidden alpha=1 seed 0": (dict(seed=0), 3, 4, 80, [0, 2, 4, 6], 20, 1.0, 1.0),
        "hidden alpha=1 seed 9": (dict(seed=9), 3, 4, 89, [0, 2, 4, 6], 20, 1.0, 1.0),
    }
    for name, (mk, b, t, seed, bucket, n, kw) in GREEDY_CASES.items():
        model = TinyLM(**mk)
        if isinstance(bucket, str):
            half = model.num_layers // 2
            bucket = list(range(0, half, 2)) if bucket == "low" else list(range(half, model.num_layers, 2))
        cases[f"hidden {name}"] = (mk, b, t, seed, bucket, n, kw.get("alpha", 0.1), kw.get("repetition_penalty", 1.2))
    for name, (mk, b, t, seed, layers, n, alpha, penalty) in cases.items():
        gaps = decision_margins(TinyLM(**mk), O.prompts(b, t, seed), layers, n, alpha, penalty)
        print(f"  {name:44} score {gaps[0]:.2e}  jsd {gaps[1]:.2e}  threshold {gaps[2]:.2e}")


if __name__ == "__main__":
    main()
