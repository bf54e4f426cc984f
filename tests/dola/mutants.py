"""Mutants of solutions/dola.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

KL_PM = "kl_pm = torch.where(p > 0, p * (log_p - log_m), torch.zeros_like(p)).sum(dim=-1)"
KL_QM = "kl_qm = torch.where(q > 0, q * (log_q - log_m), torch.zeros_like(q)).sum(dim=-1)"
JSD_RETURN = "return 0.5 * kl_pm + 0.5 * kl_qm"
SELECT = "return divergence.argmax(dim=0)  # argmax returns the first maximum"
PLAUSIBLE = 'return scores.masked_fill(log_p < threshold, float("-inf"))'
PENALISED = "penalised = torch.where(scores < 0, scores * penalty, scores / penalty)"
PRESENT = (
    "    present = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)\n"
    "    present = present.scatter(1, input_ids, True)  # (B, V): True for ids in the row\n"
)

MUTANTS = [
    Mutant(
        "kl-reversed",
        {
            KL_PM: "m = log_m.exp()\n    kl_pm = (m * (log_m - log_p)).sum(dim=-1)",
            KL_QM: "kl_qm = (m * (log_m - log_q)).sum(dim=-1)",
        },
    ),
    Mutant("log-base-2", {JSD_RETURN: "return (0.5 * kl_pm + 0.5 * kl_qm) / math.log(2.0)"}),
    Mutant(
        "mean-over-vocabulary",
        {KL_PM: KL_PM.replace(".sum(dim=-1)", ".mean(dim=-1)"), KL_QM: KL_QM.replace(".sum(dim=-1)", ".mean(dim=-1)")},
    ),
    Mutant("jsd-not-halved", {JSD_RETURN: "return kl_pm + kl_qm"}),
    Mutant("argmin", {SELECT: "return divergence.argmin(dim=0)"}),
    Mutant("one-layer-per-batch", {SELECT: "return divergence.mean(dim=1).argmax().repeat(divergence.shape[1])"}),
    Mutant("threshold-absolute", {PLAUSIBLE: 'return scores.masked_fill(log_p.exp() < alpha, float("-inf"))'}),
    Mutant(
        "plausibility-from-premature",
        {
            "threshold = log_p.max(dim=-1, keepdim=True).values + math.log(alpha)": (
                "threshold = log_q.max(dim=-1, keepdim=True).values + math.log(alpha)"
            ),
            PLAUSIBLE: 'return scores.masked_fill(log_q < threshold, float("-inf"))',
        },
    ),
    Mutant("contrast-raw-logits", {"scores = log_p - log_q": "scores = final_logits - premature_logits"}),
    Mutant("contrast-reversed", {"scores = log_p - log_q": "scores = log_q - log_p"}),
    Mutant("implausible-zero", {PLAUSIBLE: "return scores.masked_fill(log_p < threshold, 0.0)"}),
    Mutant("penalty-divides-negative", {PENALISED: "penalised = scores / penalty"}),
    Mutant(
        "penalty-counts-repeats",
        {
            PRESENT: "    counts = torch.zeros(scores.shape, dtype=torch.long).scatter_add(\n"
            "        1, input_ids, torch.ones_like(input_ids))\n"
            "    present = counts > 0\n",
            PENALISED: "penalised = torch.where(scores < 0, scores * penalty ** counts, scores / penalty ** counts)",
        },
    ),
    Mutant(
        "scores-modified-in-place",
        {
            "    return torch.where(present, penalised, scores)\n": (
                "    scores[present] = penalised[present]\n    return scores\n"
            )
        },
    ),
    Mutant(
        "penalty-before-contrast",
        {
            "batch]\n        scores = contrast_logits(final, premature, alpha)\n"
            "        scores = apply_repetition_penalty(scores, seq, repetition_penalty)\n": (
                "batch]\n        final = apply_repetition_penalty(final, seq, repetition_penalty)\n"
                "        scores = contrast_logits(final, premature, alpha)\n"
            )
        },
    ),
    Mutant(
        "prompt-forgotten",
        {
            "logits = model.layer_logits(seq)[:, :, -1]  # (N + 1, B, V)": (
                "fed = seq if seq.shape[1] == input_ids.shape[1] else seq[:, -1:]\n"
                "        logits = model.layer_logits(fed)[:, :, -1]"
            )
        },
    ),
]

LOG_M = "    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)  # log((P + Q) / 2), stable\n"

ALTERNATIVES = [
    Alternative(
        "jsd-entropy-form",
        "JSD = H(M) - (H(P) + H(Q)) / 2 with torch.special.xlogy (0 log 0 = 0) on probabilities",
        {
            LOG_M + "    p, q = log_p.exp(), log_q.exp()\n"
            "    # 0 * log(0 / m) = 0: where P is 0 the difference may be -inf or NaN, so select 0 instead.\n"
            f"    {KL_PM}\n    {KL_QM}\n    {JSD_RETURN}\n": "    p, q = log_p.exp(), log_q.exp()\n"
            "    m = (p + q) / 2\n"
            "    def entropy(x):\n"
            "        return -torch.special.xlogy(x, x).sum(dim=-1)\n"
            "    return entropy(m) - 0.5 * entropy(p) - 0.5 * entropy(q)\n"
        },
    ),
    Alternative(
        "jsd-kl-div",
        "F.kl_div on probabilities (its xlogy gives 0 where P = 0), in float64, cast back",
        {
            LOG_M: "    import torch.nn.functional as F\n"
            "    dtype = log_p.dtype\n"
            "    log_p, log_q = log_p.double(), log_q.double()\n"
            "    m = (log_p.exp() + log_q.exp()) / 2\n"
            "    log_m = m.log().masked_fill(m == 0, 0.0)\n"
            "    return (0.5 * F.kl_div(log_m, log_p.exp(), reduction='none').sum(-1)\n"
            "            + 0.5 * F.kl_div(log_m, log_q.exp(), reduction='none').sum(-1)).to(dtype)\n"
        },
    ),
    Alternative(
        "select-loop",
        "a Python loop over the examples and the candidates, first maximum by a strict comparison",
        {
            SELECT: "best = []\n"
            "    for b in range(final_logits.shape[0]):\n"
            "        values = [float(jensen_shannon_divergence(final_logits[b], c[b])) for c in candidate_logits]\n"
            "        index = 0\n"
            "        for l, value in enumerate(values):\n"
            "            if value > values[index]:\n"
            "                index = l\n"
            "        best.append(index)\n"
            "    return torch.tensor(best, dtype=torch.long)"
        },
    ),
    Alternative(
        "contrast-probability-space",
        "plausibility as p >= alpha * p_max on softmax probabilities, in float64, cast back",
        {
            PLAUSIBLE: "p = torch.softmax(final_logits.double(), dim=-1)\n"
            "    keep = p >= alpha * p.max(dim=-1, keepdim=True).values\n"
            "    return torch.where(keep, scores, torch.full_like(scores, float('-inf')))"
        },
    ),
    Alternative(
        "penalty-loops",
        "loops over the rows and the distinct ids of each row",
        {
            PRESENT
            + f"    {PENALISED}\n    return torch.where(present, penalised, scores)\n": "    out = scores.clone()\n"
            "    for b in range(scores.shape[0]):\n"
            "        for token in set(input_ids[b].tolist()):\n"
            "            s = out[b, token]\n"
            "            out[b, token] = s * penalty if s < 0 else s / penalty\n"
            "    return out\n"
        },
    ),
    Alternative(
        "greedy-preallocated",
        "fills a preallocated output tensor; gathers the premature rows with a loop over examples",
        {
            "    seq = input_ids\n    batch = torch.arange(input_ids.shape[0])\n"
            "    for _ in range(max_new_tokens):\n": "    B, T = input_ids.shape\n"
            "    out = torch.empty(B, T + max_new_tokens, dtype=torch.long)\n"
            "    out[:, :T] = input_ids\n"
            "    for step in range(max_new_tokens):\n"
            "        seq = out[:, :T + step]\n",
            "            premature = candidates[select_premature_layer(final, candidates), batch]\n": (
                "            chosen = select_premature_layer(final, candidates)\n"
                "            premature = torch.stack([candidates[int(chosen[b]), b] for b in range(B)])\n"
            ),
            "        seq = torch.cat([seq, scores.argmax(dim=-1, keepdim=True)], dim=1)\n    return seq\n": (
                "        out[:, T + step] = scores.argmax(dim=-1)\n    return out\n"
            ),
        },
    ),
]

TRIVIAL = [
    Trivial(
        "do-nothing",
        "zeros for the divergences and the selection, log_softmax for the contrast, the scores "
        "unchanged, the last prompt token repeated",
        (
            "return torch.zeros(p_logits.shape[:-1], dtype=p_logits.dtype)",
            "return list(which) if isinstance(which, list) else []",
            "return torch.zeros(final_logits.shape[0], dtype=torch.long)",
            "return torch.log_softmax(final_logits, dim=-1)",
            "return scores.clone()",
            "return torch.cat([input_ids, input_ids[:, -1:].expand(-1, max_new_tokens)], dim=1)",
        ),
    ),
]
