"""DoLa, hidden tests: SciPy's Jensen-Shannon distance, more shapes, dtypes and edge values, and the
reference on the provided model for several seeds, prompts, batch sizes and both buckets.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from grader.checks import check_tensor, check_unchanged, fail
from grader.pytest_plugin import load_impl
from provided.tiny_lm import TinyLM
from tests.dola import oracle as O
from tests.dola.driver import check_greedy, check_index, run_greedy
from tests.dola.mistakes import MISTAKE

f32, f64 = torch.float32, torch.float64
INF = float("inf")


@pytest.fixture(autouse=True)
def _one_thread():
    """Every tensor here is tiny: one thread is faster than waking a pool of them (which, on a busy
    machine, costs milliseconds per operation). The caller's setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _reference():
    """The reference solution (solutions/dola.py), the oracle of last resort (docs/design.md rule 4)."""
    return load_impl("dola", "solutions")


def _logits(shape, seed, scale=3.0, dtype=f32):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen, dtype=f64) * scale).to(dtype)


def _scipy_jsd(p_logits, q_logits):
    """scipy.spatial.distance.jensenshannon (natural log) squared, on float64 probabilities."""
    p = torch.softmax(p_logits.double(), dim=-1).numpy()
    q = torch.softmax(q_logits.double(), dim=-1).numpy()
    return torch.from_numpy(np.asarray(jensenshannon(p, q, axis=-1) ** 2, dtype=np.float64))


# ---------------------------------------------------------------------------------------------------
# jensen_shannon_divergence against SciPy

JSD_CASES = {
    "float32 (7, 64), N(0, 1)": (f32, (7, 64), 1.0),
    "float32 (2, 3, 4, 64), N(0, 25)": (f32, (2, 3, 4, 64), 5.0),
    "float64 (5, 1000), N(0, 4)": (f64, (5, 1000), 2.0),
    "float64 (3, 2), N(0, 100)": (f64, (3, 2), 10.0),
    "float32 single row (64,)": (f32, (64,), 3.0),
    "float64 very peaked, N(0, 2500)": (f64, (4, 64), 50.0),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(JSD_CASES))
def test_jsd_against_scipy(impl, name):
    """JSD = scipy.spatial.distance.jensenshannon(p, q, axis=-1) ** 2 on many shapes and scales."""
    dtype, shape, scale = JSD_CASES[name]
    p, q = _logits(shape, 11, scale, dtype), _logits(shape, 12, scale, dtype)
    out = impl.jensen_shannon_divergence(p.clone(), q.clone())
    check_tensor(
        out,
        _scipy_jsd(p, q).to(dtype),
        name="jensen_shannon_divergence",
        case=name + " (SciPy)",
        near=O.jsd_near(p, q, dtype),
        **O.tol(dtype, "jsd"),
    )


def test_jsd_extremes(impl):
    """Disjoint supports reach log 2; -inf logits and float32 underflow stay finite; 0 for equal."""
    V = 64
    p = torch.full((4, V), -INF)
    q = torch.full((4, V), -INF)
    p[0, :32], q[0, 32:] = 0.0, 0.0  # disjoint uniform halves: log 2
    p[1, 0], q[1, 1] = 0.0, 0.0  # disjoint single tokens: log 2
    p[2, :10], q[2, :10] = torch.arange(10.0), torch.arange(10.0)  # same support and values: 0
    p[3] = torch.linspace(-500, 0, V)  # most probabilities underflow to 0 in float32
    q[3] = torch.linspace(0, -500, V)
    expected = torch.tensor([math.log(2), math.log(2), 0.0, float(_scipy_jsd(p[3], q[3]))])
    out = impl.jensen_shannon_divergence(p.clone(), q.clone())
    check_tensor(
        out,
        expected,
        name="jensen_shannon_divergence",
        case="-inf logits, disjoint supports and underflow, float32",
        near=O.jsd_near(p, q, f32),
        **O.TOL32_JSD,
    )


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


@pytest.mark.parametrize("L,B,seed", [(2, 4, 20), (3, 2, 21), (5, 8, 22), (10, 3, 23)])
def test_select_random_shapes(impl, L, B, seed):
    """Random candidates, 2 to 10 layers: the argmax of SciPy's JSD per example."""
    final = _logits((B, 64), seed)
    scales = torch.rand(L, B, 1, generator=torch.Generator().manual_seed(seed + 100)) * 3 + 0.1
    cands = final + _logits((L, B, 64), seed + 200, 1.0) * scales
    expected = _scipy_jsd(final.unsqueeze(0).expand_as(cands), cands).argmax(dim=0)
    out = impl.select_premature_layer(final.clone(), cands.clone())
    check_index(
        out,
        expected,
        name="select_premature_layer",
        case=f"{L} candidates, {B} examples, random float32 logits",
        near=O.select_near(final, cands),
    )


def test_select_ties_take_the_first(impl):
    """Several identical farthest candidates: the first of them, for every example."""
    final = _logits((3, 64), 30)
    far = _logits((3, 64), 31, scale=6.0)
    close = final + 0.1
    cands = torch.stack([close, far, close, far, far])
    out = impl.select_premature_layer(final.clone(), cands.clone())
    check_index(
        out,
        torch.ones(3, dtype=torch.long),
        name="select_premature_layer",
        case="candidates [close, far, close, far, far] (identical far ones)",
        near=O.select_near(final, cands),
    )


# ---------------------------------------------------------------------------------------------------
# contrast_logits


CONTRAST_CASES = {
    "float32 (5, 64), alpha 0.01": (f32, (5, 64), 0.01, 3.0),
    "float32 (2, 2, 64), alpha 0.5": (f32, (2, 2, 64), 0.5, 3.0),
    "float64 (3, 1000), alpha 0.1": (f64, (3, 1000), 0.1, 2.0),
    "float64 (4, 64), alpha 1.0": (f64, (4, 64), 1.0, 3.0),
    "float32 (64,), alpha 0.2": (f32, (64,), 0.2, 4.0),
}


@pytest.mark.parametrize("name", list(CONTRAST_CASES))
def test_contrast_random_shapes(impl, name):
    """Random logits of several shapes and alphas, against F.log_softmax."""
    dtype, shape, alpha, scale = CONTRAST_CASES[name]
    final, premature = _logits(shape, 40, scale, dtype), _logits(shape, 41, scale, dtype)
    expected = O.predict_contrast(final, premature, alpha).to(dtype)
    out = impl.contrast_logits(final.clone(), premature.clone(), alpha=alpha)
    check_tensor(
        out,
        expected,
        name="contrast_logits",
        case=name,
        near=O.contrast_near(final, premature, alpha, dtype),
        **O.tol(dtype),
    )


def test_contrast_keeps_the_top_token(impl):
    """The top final token is always plausible, even when its premature probability is the largest."""
    final = torch.tensor([[2.0, 1.9, -5.0, 0.0]], dtype=f64)
    premature = torch.tensor([[9.0, 0.0, 0.0, 0.0]], dtype=f64)
    expected = O.predict_contrast(final, premature, 0.1)
    out = impl.contrast_logits(final.clone(), premature.clone(), alpha=0.1)
    check_tensor(
        out,
        expected,
        name="contrast_logits",
        case="a final top token that the premature layer likes even more (negative score), float64",
        near=O.contrast_near(final, premature, 0.1, f64),
        **O.TOL64,
    )


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
    expected = O.predict_penalty(scores, ids, penalty)
    before = scores.clone()
    out = impl.apply_repetition_penalty(scores, ids.clone(), penalty=penalty)
    check_unchanged(
        before, scores, name="scores", call="apply_repetition_penalty", mistake=MISTAKE["scores-modified-in-place"]
    )
    check_tensor(
        out,
        expected,
        name="apply_repetition_penalty",
        case=f"random scores (4, 64) with -inf, 30 ids per row with repeats, penalty {penalty}, float32",
        near=O.penalty_near(before, ids, penalty),
        **O.TOL32_SCORES,
    )


def test_penalty_float64_single_token(impl):
    """One id per row, float64: exact arithmetic of the two branches; penalty 1.0 changes nothing."""
    scores = torch.tensor([[-1.5, 0.0, 2.0], [0.25, -0.5, 3.0]], dtype=f64)
    ids = torch.tensor([[0], [1]])
    expected = torch.tensor([[-1.5 * 1.5, 0.0, 2.0], [0.25, -0.5 * 1.5, 3.0]], dtype=f64)
    out = impl.apply_repetition_penalty(scores.clone(), ids.clone(), penalty=1.5)
    check_tensor(
        out,
        expected,
        name="apply_repetition_penalty",
        case="float64, penalty 1.5, one id per row",
        near=O.penalty_near(scores, ids, 1.5),
        **O.TOL64,
    )
    # penalty 1.0 changes nothing.
    out = impl.apply_repetition_penalty(scores.clone(), ids.clone(), penalty=1.0)
    check_tensor(out, scores, name="apply_repetition_penalty", case="float64, penalty 1.0 (no change)", rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------------
# dola_greedy against the reference on the provided model

GREEDY_CASES = {
    # name: (model kwargs, batch, prompt length, prompt seed, layers, new tokens, kwargs)
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
@pytest.mark.parametrize("name", list(GREEDY_CASES))
def test_dola_greedy_against_reference(impl, name):
    """Several seeds, prompts, batch sizes and buckets: the same tokens as the reference."""
    model_kwargs, batch, length, seed, bucket, n, kwargs = GREEDY_CASES[name]
    model = TinyLM(**model_kwargs)
    ids = O.prompts(batch, length, seed)
    ref = _reference()
    layers = ref.candidate_layers(model.num_layers, bucket) if isinstance(bucket, str) else bucket
    expected = ref.dola_greedy(model, ids.clone(), layers, n, **kwargs)
    alpha, penalty = kwargs.get("alpha", 0.1), kwargs.get("repetition_penalty", 1.2)
    check_greedy(
        impl,
        model,
        ids,
        layers,
        n,
        expected,
        case=f"{model!r}, {batch} prompts of {length} "
        f"tokens, layers {layers}, {n} new tokens, {kwargs or 'default alpha and penalty'} "
        f"(the reference as oracle)",
        near=O.greedy_near(model, ids, layers, n, alpha, penalty),
        **kwargs,
    )


def test_dola_greedy_zero_new_tokens_and_prompt_unchanged(impl):
    """max_new_tokens = 0 returns the prompts; the caller's prompt tensor is left as it was."""
    model = TinyLM(seed=8)
    ids = O.prompts(2, 4, 70)
    out = run_greedy(impl, model, ids, [4, 6], 0)
    check_tensor(out, ids, name="dola_greedy's output", case="max_new_tokens = 0", rtol=0, atol=0)
    before = ids.clone()
    out = impl.dola_greedy(model, ids, [4, 6], 5)
    check_unchanged(before, ids, name="input_ids", call="dola_greedy(model, input_ids, [4, 6], 5)")
    expected = O.predict_greedy(model, before, [4, 6], 5)
    check_greedy(
        impl,
        model,
        before,
        [4, 6],
        5,
        expected,
        case="TinyLM(seed=8), 2 prompts of 4 tokens, layers [4, 6], 5 new tokens",
        near=O.greedy_near(model, before, [4, 6], 5, 0.1, 1.2),
    )


@pytest.mark.parametrize("seed", [0, 9])
def test_dola_greedy_alpha_one_long(impl, seed):
    """alpha = 1, no penalty: plain greedy decoding of the final layer over 20 tokens."""
    model = TinyLM(seed=seed)
    ids = O.prompts(3, 4, 80 + seed)
    expected = O.final_layer_greedy(model, ids, 20)
    check_greedy(
        impl,
        model,
        ids,
        [0, 2, 4, 6],
        20,
        expected,
        case=f"TinyLM(seed={seed}), alpha=1.0, repetition_penalty=1.0, 20 new tokens (greedy "
        f"decoding of the final layer as oracle)",
        near=O.greedy_near(model, ids, [0, 2, 4, 6], 20, 1.0, 1.0),
        alpha=1.0,
        repetition_penalty=1.0,
    )
