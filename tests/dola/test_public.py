"""DoLa, public tests: hand-worked divergences and contrasts, PyTorch's KL divergence, and greedy
decoding of the provided tiny model.

Run with `make test topic=dola`. Learner code is reached only through the `impl` fixture.
"""

import math

import pytest
import torch

from grader.checks import check_tensor, check_unchanged, fail
from provided.tiny_lm import TinyLM
from tests.dola import oracle as O
from tests.dola.driver import check_greedy, check_index
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


def _logits(shape, seed, scale=3.0, dtype=f32):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen, dtype=f64) * scale).to(dtype)


def _check_jsd(impl, p, q, case, expected=None):
    expected = O.jsd(p, q).to(p.dtype) if expected is None else expected
    out = impl.jensen_shannon_divergence(p.clone(), q.clone())
    check_tensor(
        out,
        expected,
        name="jensen_shannon_divergence",
        case=case,
        near=O.jsd_near(p, q, p.dtype),
        **O.tol(p.dtype, "jsd"),
    )
    return out


# ---------------------------------------------------------------------------------------------------
# jensen_shannon_divergence


@pytest.mark.points(2)
def test_jsd_two_tokens_by_hand(impl):
    """Two-token distributions whose divergence is worked out by hand (float64)."""
    p = torch.tensor([[0.0, -INF], [0.0, -INF], [1.5, -0.5], [0.0, 0.0], [0.0, -800.0]], dtype=f64)
    q = torch.tensor([[-INF, 0.0], [0.0, 0.0], [1.5, -0.5], [math.log(3.0), 0.0], [-800.0, 0.0]], dtype=f64)
    # Row 0: P = (1, 0), Q = (0, 1), M = (1/2, 1/2): KL(P||M) = KL(Q||M) = log 2, JSD = log 2 (the
    #        largest possible value), finite although P and Q have zeros.
    # Row 1: P = (1, 0), Q = (1/2, 1/2), M = (3/4, 1/4): KL(P||M) = log(4/3),
    #        KL(Q||M) = 1/2 log(2/3) + 1/2 log 2 = 1/2 log(4/3); JSD = 3/4 log(4/3) = 0.21576.
    # Row 2: equal distributions: 0.
    # Row 3: P = (1/2, 1/2), Q = (3/4, 1/4), M = (5/8, 3/8):
    #        KL(P||M) = 1/2 log(4/5) + 1/2 log(4/3) = 1/2 log(16/15),
    #        KL(Q||M) = 3/4 log(6/5) + 1/4 log(2/3);  JSD = 1/4 log(16/15) + 3/8 log(6/5) + 1/8 log(2/3).
    # Row 4: exp(-800) underflows to exactly 0 in float64: as row 0, log 2.
    expected = torch.tensor(
        [
            math.log(2.0),
            0.75 * math.log(4 / 3),
            0.0,
            0.25 * math.log(16 / 15) + 0.375 * math.log(6 / 5) + 0.125 * math.log(2 / 3),
            math.log(2.0),
        ],
        dtype=f64,
    )
    _check_jsd(
        impl,
        p,
        q,
        "five two-token rows worked by hand (float64; rows 0 and 4 are P = (1, 0) "
        "and Q = (0, 1), with -inf logits and with logits -800)",
        expected,
    )


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype,shape", [(f32, (2, 3, 64)), (f64, (5, 64))], ids=["float32", "float64"])
def test_jsd_matches_torch_kl_div(impl, dtype, shape):
    """Random logits: JSD = KL(P||M)/2 + KL(Q||M)/2 with PyTorch's F.kl_div as the reference."""
    p, q = _logits(shape, 1, dtype=dtype), _logits(shape, 2, dtype=dtype)
    _check_jsd(impl, p, q, f"random logits of shape {shape} ({dtype}), N(0, 9)")


def test_jsd_properties(impl):
    """Symmetric, zero for equal (or shifted) logits, finite when probabilities are 0 (log 2 is the
    bound: see the hand-worked rows)."""
    p, q = _logits((4, 64), 3, scale=4.0), _logits((4, 64), 4, scale=4.0)
    forward = _check_jsd(impl, p, q, "random float32 logits (4, 64)")
    backward = _check_jsd(impl, q, p, "the same logits with the arguments swapped")
    # The two orders compute the same sums in a different order: float32 rounding only.
    check_tensor(
        backward,
        forward,
        name="JSD(Q, P) compared with JSD(P, Q)",
        case="random float32 logits (4, 64): the divergence is symmetric",
        **O.TOL32_JSD,
    )
    # Equal distributions, given as equal logits and as logits shifted by a constant: 0.
    _check_jsd(impl, p, p + 7.0, "logits and the same logits + 7 (equal distributions)", torch.zeros(4))
    _check_jsd(impl, p, p.clone(), "equal logits", torch.zeros(4))
    # Extreme logits in float32: probabilities exp(-300) are exactly 0 there, some logits are -inf.
    far = torch.full((3, 64), -300.0)
    far[0, 0], far[1, 5], far[2, 63] = 0.0, 0.0, 0.0
    near = far.clone()
    near[0, 1], near[1, 5], near[2, :32] = 0.0, -INF, 0.0
    near[1, 6] = 0.0
    far[2, 40:] = -INF
    _check_jsd(impl, far, near, "float32 logits of 0, -300 and -inf (probabilities that underflow to exactly 0)")


# ---------------------------------------------------------------------------------------------------
# candidate_layers


def _check_layers(impl, n, which, expected):
    out = impl.candidate_layers(n, which)
    if not isinstance(out, list):
        fail(f"candidate_layers({n}, {which!r}) should return a list of ints, got {type(out).__name__} ({out!r:.80}).")
    if out != expected:
        fail(
            f"candidate_layers({n}, {which!r}) returned {out}, expected {expected}.\n"
            f"  N <= 40: low = range(0, N // 2, 2), high = range(N // 2, N, 2); "
            f"N > 40: low = range(0, 20, 2), high = range(N - 20, N, 2)."
        )


def test_candidate_layers_buckets(impl):
    """The paper's buckets of early layers for small and large models."""
    cases = {
        (8, "low"): [0, 2],
        (8, "high"): [4, 6],
        (9, "low"): [0, 2],
        (9, "high"): [4, 6, 8],
        (32, "low"): [0, 2, 4, 6, 8, 10, 12, 14],
        (32, "high"): [16, 18, 20, 22, 24, 26, 28, 30],
        (40, "low"): [0, 2, 4, 6, 8, 10, 12, 14, 16, 18],
        (40, "high"): [20, 22, 24, 26, 28, 30, 32, 34, 36, 38],
        (41, "low"): [0, 2, 4, 6, 8, 10, 12, 14, 16, 18],
        (41, "high"): [21, 23, 25, 27, 29, 31, 33, 35, 37, 39],
        (80, "high"): [60, 62, 64, 66, 68, 70, 72, 74, 76, 78],
    }
    for (n, which), expected in cases.items():
        _check_layers(impl, n, which, expected)


def test_candidate_layers_lists_and_errors(impl):
    """A list of layers in range is returned; anything else is a ValueError."""
    _check_layers(impl, 8, [1, 3, 7], [1, 3, 7])
    _check_layers(impl, 48, [0, 47], [0, 47])
    for which in ("middle", [0, 8], [-1, 2], None):
        try:
            impl.candidate_layers(8, which)
        except ValueError:
            continue
        fail(
            f'candidate_layers(8, {which!r}) should raise ValueError: only "low", "high" or a '
            f"list of layers in [0, 8) are valid."
        )


# ---------------------------------------------------------------------------------------------------
# select_premature_layer


def _peaked(token, vocab=4, height=5.0):
    row = torch.zeros(vocab)
    row[token] = height
    return row


@pytest.mark.points(2)
def test_select_premature_layer_by_hand(impl):
    """Each example picks the candidate farthest from its final layer; the first one on ties."""
    # Example b's final distribution peaks on token b. Its candidates are: "same" (the final logits:
    # JSD 0), "flat" (uniform: JSD about 0.3) and "other" (peaked on token b + 2: JSD about 0.6, the
    # largest). Each example has them in a different order, so the answers are 2, 0 and 1.
    final = torch.stack([_peaked(b) for b in range(3)])
    same, flat = final, torch.zeros(3, 4)
    other = torch.stack([_peaked((b + 2) % 4) for b in range(3)])
    orders = [("same", "flat", "other"), ("other", "same", "flat"), ("flat", "other", "same")]
    pick = {"same": same, "flat": flat, "other": other}
    cands = torch.stack([torch.stack([pick[orders[b][l]][b] for b in range(3)]) for l in range(3)])
    out = impl.select_premature_layer(final.clone(), cands.clone())
    check_index(
        out,
        torch.tensor([2, 0, 1]),
        name="select_premature_layer",
        case="3 examples, 3 "
        "candidates (equal to the final layer, uniform, peaked elsewhere) in a different order "
        "for each example",
        near=O.select_near(final, cands),
    )
    # Ties: two identical farthest candidates; the first one wins.
    final2, cands2 = (
        final[:2],
        torch.stack(
            [torch.stack([other[0], flat[1]]), torch.stack([flat[0], other[1]]), torch.stack([other[0], other[1]])]
        ),
    )
    out = impl.select_premature_layer(final2.clone(), cands2.clone())
    check_index(
        out,
        torch.tensor([0, 1]),
        name="select_premature_layer",
        case="2 examples whose two farthest candidates are identical (the first one wins)",
        near=O.select_near(final2, cands2),
    )


def test_select_premature_layer_random(impl):
    """Random candidates at different distances: the argmax of PyTorch's JSD for every example."""
    final = _logits((6, 64), 5)
    gen = torch.Generator().manual_seed(6)
    scales = torch.stack([torch.randperm(4, generator=gen) for _ in range(6)], dim=1) * 0.7 + 0.3
    cands = final + _logits((4, 6, 64), 7, scale=1.0) * scales.unsqueeze(-1)
    expected = O.predict_select(final, cands)
    out = impl.select_premature_layer(final.clone(), cands.clone())
    check_index(
        out,
        expected,
        name="select_premature_layer",
        case="6 examples, 4 candidates of random logits (float32, V = 64)",
        near=O.select_near(final, cands),
    )


# ---------------------------------------------------------------------------------------------------
# contrast_logits


@pytest.mark.points(2)
def test_contrast_by_hand(impl):
    """Four tokens worked by hand: relative plausibility threshold, log-probabilities, -inf."""
    # Row 0: p = (.4, .3, .25, .05), q = (.1, .2, .3, .4). With alpha = 0.1 (the default) the
    #   threshold is 0.1 * 0.4 = 0.04, so all four tokens are plausible (an absolute threshold
    #   p >= 0.1 would drop the last one). Scores log(p / q) = log 4, log 1.5, log(5/6), log(1/8).
    # Row 1: p = (.9, .05, .03, .02), q = (.7, .1, .1, .1): only token 0 reaches 0.09 (q would
    #   call every token plausible). Scores log(9/7), -inf, -inf, -inf.
    # The logits are log p + 7 and log q - 2: subtracting raw logits adds 9 to every score.
    p = torch.tensor([[0.4, 0.3, 0.25, 0.05], [0.9, 0.05, 0.03, 0.02]], dtype=f64)
    q = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]], dtype=f64)
    final, premature = p.log() + 7.0, q.log() - 2.0
    expected = torch.tensor(
        [[math.log(4), math.log(1.5), math.log(5 / 6), math.log(1 / 8)], [math.log(9 / 7), -INF, -INF, -INF]], dtype=f64
    )
    out = impl.contrast_logits(final.clone(), premature.clone())
    check_tensor(
        out,
        expected,
        name="contrast_logits",
        case="two rows of four tokens worked by hand, alpha = 0.1 (the default), float64",
        near=O.contrast_near(final, premature, 0.1, f64),
        **O.TOL64,
    )


def test_contrast_uniform_premature(impl):
    """A uniform premature layer leaves log p_final (+ log V) on the plausible tokens, -inf elsewhere."""
    # log_softmax of a uniform row is -log V everywhere, so the score is log p_final + log V.
    final = _logits((3, 64), 8)
    premature = torch.zeros(3, 64)
    log_p = torch.log_softmax(final.double(), dim=-1)
    plausible = log_p >= log_p.max(dim=-1, keepdim=True).values + math.log(0.1)
    expected = (log_p + math.log(64)).masked_fill(~plausible, -INF).float()
    out = impl.contrast_logits(final.clone(), premature.clone(), alpha=0.1)
    check_tensor(
        out,
        expected,
        name="contrast_logits",
        case="random final logits (3, 64), uniform premature logits, alpha = 0.1, float32",
        near=O.contrast_near(final, premature, 0.1, f32),
        **O.TOL32_SCORES,
    )


@pytest.mark.parametrize(
    "dtype,shape,alpha", [(f32, (4, 64), 0.3), (f64, (2, 3, 64), 0.05)], ids=["float32-alpha0.3", "float64-alpha0.05"]
)
def test_contrast_random(impl, dtype, shape, alpha):
    """Random logits: log_softmax differences on the plausible set, against F.log_softmax."""
    final, premature = _logits(shape, 9, dtype=dtype), _logits(shape, 10, dtype=dtype)
    expected = O.predict_contrast(final, premature, alpha).to(dtype)
    out = impl.contrast_logits(final.clone(), premature.clone(), alpha=alpha)
    check_tensor(
        out,
        expected,
        name="contrast_logits",
        case=f"random logits {shape}, alpha = {alpha}, {dtype}",
        near=O.contrast_near(final, premature, alpha, dtype),
        **O.tol(dtype),
    )


# ---------------------------------------------------------------------------------------------------
# apply_repetition_penalty


@pytest.mark.points(2)
def test_repetition_penalty_by_hand(impl):
    """Negative scores of seen tokens times 1.2, positive ones divided by 1.2, once per token."""
    scores = torch.tensor([[-2.0, 3.0, 0.6, -INF, 1.5], [0.0, -1.0, 4.8, 2.0, -3.0]])
    ids = torch.tensor([[0, 1, 3, 0], [2, 4, 0, 2]])
    # Row 0 saw 0 (twice), 1, 3: -2 * 1.2 = -2.4, 3 / 1.2 = 2.5, -inf stays; 2 and 4 are untouched.
    # Row 1 saw 2 (twice), 4, 0: 0 stays 0, 4.8 / 1.2 = 4, -3 * 1.2 = -3.6; 1 and 3 are untouched.
    expected = torch.tensor([[-2.4, 2.5, 0.6, -INF, 1.5], [0.0, -1.0, 4.0, 2.0, -3.6]])
    before = scores.clone()
    out = impl.apply_repetition_penalty(scores, ids.clone())
    check_unchanged(
        before,
        scores,
        name="scores",
        call="apply_repetition_penalty(scores, input_ids)",
        mistake=MISTAKE["scores-modified-in-place"],
    )
    check_tensor(
        out,
        expected,
        name="apply_repetition_penalty",
        case="two rows worked by hand, penalty 1.2 (the default), float32",
        near=O.penalty_near(before, ids, 1.2),
        **O.TOL32_SCORES,
    )


# ---------------------------------------------------------------------------------------------------
# dola_greedy


@pytest.mark.points(2)
@pytest.mark.parametrize("bucket", ["low", "high"])
def test_dola_greedy_alpha_one_is_greedy(impl, bucket):
    """alpha = 1 and no penalty leave only the top final token: plain greedy decoding of the model."""
    model = TinyLM(seed=0)
    ids = O.prompts(2, 5, seed=5)
    layers = {"low": [0, 2], "high": [4, 6]}[bucket]
    expected = O.final_layer_greedy(model, ids, 6)
    check_greedy(
        impl,
        model,
        ids,
        layers,
        6,
        expected,
        near=O.greedy_near(model, ids, layers, 6, 1.0, 1.0),
        case=f"TinyLM(seed=0), 2 prompts of 5 tokens, {bucket} layers {layers}, 6 new tokens, "
        f"alpha=1.0, repetition_penalty=1.0 (the oracle: greedy decoding of the final layer)",
        alpha=1.0,
        repetition_penalty=1.0,
    )


@pytest.mark.points(2)
@pytest.mark.parametrize("bucket", ["low", "high"])
def test_dola_greedy(impl, bucket):
    """DoLa with the default alpha = 0.1 and repetition penalty 1.2, per-example layer selection."""
    model = TinyLM(seed=1)
    ids = O.prompts(3, 4, seed=7)
    layers = {"low": [0, 2], "high": [4, 6]}[bucket]
    expected = O.predict_greedy(model, ids, layers, 8)
    check_greedy(
        impl,
        model,
        ids,
        layers,
        8,
        expected,
        near=O.greedy_near(model, ids, layers, 8, 0.1, 1.2),
        case=f"TinyLM(seed=1), 3 prompts of 4 tokens, {bucket} layers {layers}, 8 new tokens, "
        f"default alpha and repetition_penalty",
    )


def test_dola_greedy_single_candidate(impl):
    """One candidate layer: no selection, the contrast is with that layer."""
    model = TinyLM(seed=2)
    ids = O.prompts(2, 3, seed=8)
    expected = O.predict_greedy(model, ids, [3], 6, 0.2, 1.3)
    check_greedy(
        impl,
        model,
        ids,
        [3],
        6,
        expected,
        near=O.greedy_near(model, ids, [3], 6, 0.2, 1.3),
        case="TinyLM(seed=2), 2 prompts of 3 tokens, candidate layers [3], 6 new tokens, "
        "alpha=0.2, repetition_penalty=1.3",
        alpha=0.2,
        repetition_penalty=1.3,
    )
