"""DoLa, hidden tests: SciPy's Jensen-Shannon distance, more shapes, dtypes and edge values, and the
reference on the provided model for several seeds, prompts, batch sizes and both buckets.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from grader.checks import check_tensor, fail
from grader.kit import EXACT, F32, F64, call_checking_inputs, cases, check_output, randn
from grader.pytest_plugin import load_impl
from provided.tiny_lm import TinyLM
from tests.dola.key import dola_scores, dola_tokens, mistakes_of, penalised
from tests.dola.mistakes import MISTAKE
from tests.dola.test_public import (
    TOL32_SCORES,
    TOL64,
    check_choice,
    check_contrast,
    check_decoding,
    check_jsd,
    plain_greedy,
    prompts,
    tol,
)

INF = math.inf


def scipy_jsd(p_logits, q_logits):
    """scipy.spatial.distance.jensenshannon (natural log) squared, on float64 probabilities."""
    p = torch.softmax(p_logits.double(), dim=-1).numpy()
    q = torch.softmax(q_logits.double(), dim=-1).numpy()
    return torch.from_numpy(np.asarray(jensenshannon(p, q, axis=-1) ** 2, dtype=np.float64))


# ---------------------------------------------------------------------------------------------------
# jensen_shannon_divergence against SciPy

JSD_CASES = {
    "float32 (7, 64), N(0, 1)": (F32, (7, 64), 1.0),
    "float32 (2, 3, 4, 64), N(0, 25)": (F32, (2, 3, 4, 64), 5.0),
    "float64 (5, 1000), N(0, 4)": (F64, (5, 1000), 2.0),
    "float64 (3, 2), N(0, 100)": (F64, (3, 2), 10.0),
    "float32 single row (64,)": (F32, (64,), 3.0),
    "float64 very peaked, N(0, 2500)": (F64, (4, 64), 50.0),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype, shape, scale", cases(JSD_CASES))
def test_jsd_against_scipy(impl, dtype, shape, scale):
    """JSD = scipy.spatial.distance.jensenshannon(p, q, axis=-1) ** 2 on many shapes and scales."""
    p, q = randn(shape, 11, dtype, scale), randn(shape, 12, dtype, scale)
    check_jsd(impl, p, q, f"{dtype}, shape {shape}, N(0, {scale**2:g}) (SciPy)", scipy_jsd(p, q).to(dtype))


def test_jsd_extremes(impl):
    """Disjoint supports reach log 2; -inf logits and float32 underflow stay finite; 0 for equal."""
    p, q = torch.full((4, 64), -INF), torch.full((4, 64), -INF)
    p[0, :32], q[0, 32:] = 0.0, 0.0  # disjoint uniform halves: log 2
    p[1, 0], q[1, 1] = 0.0, 0.0  # disjoint single tokens: log 2
    p[2, :10], q[2, :10] = torch.arange(10.0), torch.arange(10.0)  # same support and values: 0
    p[3] = torch.linspace(-500, 0, 64)  # most probabilities underflow to 0 in float32
    q[3] = torch.linspace(0, -500, 64)
    expected = torch.tensor([math.log(2), math.log(2), 0.0, float(scipy_jsd(p[3], q[3]))])
    check_jsd(impl, p, q, "-inf logits, disjoint supports and underflow, float32", expected)


# ---------------------------------------------------------------------------------------------------
# candidate_layers


@pytest.mark.parametrize("n", [1, 2, 3, 7, 24, 39, 40, 41, 60, 61, 100])
def test_candidate_layers_many_sizes(impl, n):
    """The buckets for many model depths, including both sides of N = 40."""
    for which in ("low", "high"):
        if n <= 40:
            expected = list(range(0, n // 2, 2)) if which == "low" else list(range(n // 2, n, 2))
        else:
            expected = list(range(0, 20, 2)) if which == "low" else list(range(n - 20, n, 2))
        out = impl.candidate_layers(n, which)
        if not isinstance(out, list) or out != expected:
            fail(f"candidate_layers({n}, {which!r}) returned {out!r}, expected {expected}.")


def test_candidate_layers_rejects(impl):
    """Strings other than "low" and "high", and lists with a layer out of range, raise ValueError."""
    for n, which in ((8, "High"), (8, ""), (8, [8]), (60, [0, 60]), (8, [3, -2]), (8, 5), (8, {"low": 1})):
        with pytest.raises(ValueError):
            impl.candidate_layers(n, which)
    out = impl.candidate_layers(12, [11, 0, 5])
    if out != [11, 0, 5]:
        fail(f"candidate_layers(12, [11, 0, 5]) returned {out!r}, expected the list itself.")


# ---------------------------------------------------------------------------------------------------
# select_premature_layer


@pytest.mark.parametrize("L, B, seed", [(2, 4, 20), (3, 2, 21), (5, 8, 22), (10, 3, 23)])
def test_select_random_shapes(impl, L, B, seed):
    """Random candidates, 2 to 10 layers: the argmax of SciPy's JSD per example."""
    final = randn((B, 64), seed, F32, scale=3.0)
    scales = torch.rand(L, B, 1, generator=torch.Generator().manual_seed(seed + 100)) * 3 + 0.1
    candidates = final + randn((L, B, 64), seed + 200, F32) * scales
    expected = scipy_jsd(final.unsqueeze(0).expand_as(candidates), candidates).argmax(dim=0)
    check_choice(impl, final, candidates, expected, f"{L} candidates, {B} examples, random float32 logits")


def test_select_ties_take_the_first(impl):
    """Several identical farthest candidates: the first of them, for every example."""
    final, far = randn((3, 64), 30, F32, scale=3.0), randn((3, 64), 31, F32, scale=6.0)
    close = final + 0.1
    candidates = torch.stack([close, far, close, far, far])
    case = "candidates [close, far, close, far, far] (identical far ones)"
    check_choice(impl, final, candidates, torch.ones(3, dtype=torch.long), case)


# ---------------------------------------------------------------------------------------------------
# contrast_logits

CONTRAST_CASES = {
    "float32 (5, 64), alpha 0.01": (F32, (5, 64), 0.01, 3.0),
    "float32 (2, 2, 64), alpha 0.5": (F32, (2, 2, 64), 0.5, 3.0),
    "float64 (3, 1000), alpha 0.1": (F64, (3, 1000), 0.1, 2.0),
    "float64 (4, 64), alpha 1.0": (F64, (4, 64), 1.0, 3.0),
    "float32 (64,), alpha 0.2": (F32, (64,), 0.2, 4.0),
}


@pytest.mark.parametrize("dtype, shape, alpha, scale", cases(CONTRAST_CASES))
def test_contrast_random_shapes(impl, dtype, shape, alpha, scale):
    """Random logits of several shapes and alphas, against the answer key."""
    final, premature = randn(shape, 40, dtype, scale), randn(shape, 41, dtype, scale)
    expected = dola_scores(final, premature, alpha).to(dtype)
    check_contrast(impl, final, premature, expected, f"{dtype}, shape {shape}, alpha {alpha}", tol(dtype), alpha=alpha)


def test_contrast_keeps_the_top_token(impl):
    """The top final token is always plausible, even when its premature probability is the largest."""
    final = torch.tensor([[2.0, 1.9, -5.0, 0.0]], dtype=F64)
    premature = torch.tensor([[9.0, 0.0, 0.0, 0.0]], dtype=F64)
    case = "a final top token that the premature layer likes even more (negative score), float64"
    check_contrast(impl, final, premature, dola_scores(final, premature, 0.1), case, TOL64, alpha=0.1)


# ---------------------------------------------------------------------------------------------------
# apply_repetition_penalty


@pytest.mark.parametrize("penalty", [1.2, 2.5, 0.8])
def test_penalty_random(impl, penalty):
    """Random scores and ids (with repeats and -inf): as CTRL, once per distinct id."""
    gen = torch.Generator().manual_seed(50)
    scores = torch.randn(4, 64, generator=gen) * 3
    scores[0, :5] = -INF
    ids = torch.randint(0, 64, (4, 30), generator=gen)
    ids[0, :3] = torch.tensor([0, 1, 1])
    expected = penalised(scores, ids, penalty).float()
    near = mistakes_of("penalty", scores.clone(), ids, penalty)
    out = call_checking_inputs(
        lambda scores: impl.apply_repetition_penalty(scores, ids.clone(), penalty=penalty),
        dict(scores=scores),
        call="apply_repetition_penalty",
        mistake=MISTAKE["scores-modified-in-place"],
    )
    case = f"random scores (4, 64) with -inf, 30 ids per row with repeats, penalty {penalty}, float32"
    check_output(
        out, expected, name="the scores", of="apply_repetition_penalty", case=case, tol=TOL32_SCORES, near=near
    )


def test_penalty_float64_single_token(impl):
    """One id per row, float64: exact arithmetic of the two branches; penalty 1.0 changes nothing."""
    scores = torch.tensor([[-1.5, 0.0, 2.0], [0.25, -0.5, 3.0]], dtype=F64)
    ids = torch.tensor([[0], [1]])
    expected = torch.tensor([[-1.5 * 1.5, 0.0, 2.0], [0.25, -0.5 * 1.5, 3.0]], dtype=F64)
    near = mistakes_of("penalty", scores, ids, 1.5)
    out = impl.apply_repetition_penalty(scores.clone(), ids.clone(), penalty=1.5)
    case = "float64, penalty 1.5, one id per row"
    check_output(out, expected, name="the scores", of="apply_repetition_penalty", case=case, tol=TOL64, near=near)
    out = impl.apply_repetition_penalty(scores.clone(), ids.clone(), penalty=1.0)
    case = "float64, penalty 1.0 (no change)"
    check_output(out, scores, name="the scores", of="apply_repetition_penalty", case=case, tol=EXACT)


# ---------------------------------------------------------------------------------------------------
# dola_greedy against the reference on the provided model

GREEDY_CASES = {
    # name: (model kwargs, batch, prompt length, prompt seed, layers, new tokens, settings)
    "seed 0, high, defaults": (dict(seed=0), 4, 3, 60, "high", 10, dict()),
    "seed 1, low, defaults": (dict(seed=1), 2, 6, 61, "low", 10, dict()),
    "seed 2, high, alpha 0.3, penalty 1.5": (
        dict(seed=2),
        3,
        5,
        62,
        "high",
        8,
        dict(alpha=0.3, repetition_penalty=1.5),
    ),
    "seed 3, low, alpha 0.05, no penalty": (
        dict(seed=3),
        1,
        4,
        63,
        "low",
        12,
        dict(alpha=0.05, repetition_penalty=1.0),
    ),
    "seed 4, all layers as a list": (dict(seed=4), 3, 2, 64, [0, 1, 2, 3, 4, 5, 6, 7], 8, dict()),
    "seed 5, one prompt token": (dict(seed=5), 5, 1, 65, "high", 6, dict()),
    "12 layers, width 24, high": (dict(seed=6, num_layers=12, width=24, num_heads=3), 2, 4, 66, "high", 8, dict()),
    "12 layers, width 24, low": (dict(seed=7, num_layers=12, width=24, num_heads=3), 2, 4, 67, "low", 8, dict()),
}


@pytest.mark.points(3)
@pytest.mark.parametrize("model_kwargs, batch, length, seed, bucket, n, settings", cases(GREEDY_CASES))
def test_dola_greedy_against_reference(impl, model_kwargs, batch, length, seed, bucket, n, settings):
    """Several seeds, prompts, batch sizes and buckets: the same tokens as the reference."""
    model, ids = TinyLM(**model_kwargs), prompts(batch, length, seed)
    reference = load_impl("dola", "solutions")  # the oracle of last resort (docs/design.md rule 4)
    layers = reference.candidate_layers(model.num_layers, bucket) if isinstance(bucket, str) else bucket
    expected = reference.dola_greedy(model, ids.clone(), layers, n, **settings)
    check_decoding(impl, model, ids, layers, n, expected, "the reference", **settings)


def test_dola_greedy_zero_new_tokens_and_prompt_unchanged(impl):
    """max_new_tokens = 0 returns the prompts; the caller's prompt tensor is left as it was."""
    model, ids = TinyLM(seed=8), prompts(2, 4, 70)
    out = impl.dola_greedy(model, ids.clone(), [4, 6], 0)
    check_tensor(out, ids, name="dola_greedy's output", case="max_new_tokens = 0", rtol=0, atol=0)
    call = "dola_greedy(model, input_ids, [4, 6], 5)"
    call_checking_inputs(
        lambda input_ids: impl.dola_greedy(model, input_ids, [4, 6], 5), dict(input_ids=ids), call=call
    )
    check_decoding(impl, model, ids, [4, 6], 5, dola_tokens(model, ids, [4, 6], 5), "the answer key")


@pytest.mark.parametrize("seed", [0, 9])
def test_dola_greedy_alpha_one_long(impl, seed):
    """alpha = 1, no penalty: plain greedy decoding of the final layer over 20 tokens."""
    model, ids = TinyLM(seed=seed), prompts(3, 4, 80 + seed)
    expected, oracle = plain_greedy(model, ids, 20), "greedy decoding of the final layer"
    check_decoding(impl, model, ids, [0, 2, 4, 6], 20, expected, oracle, alpha=1.0, repetition_penalty=1.0)
