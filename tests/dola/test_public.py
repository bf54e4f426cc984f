"""DoLa, public tests: hand-worked divergences, contrasts and penalties, PyTorch's KL divergence, and
greedy decoding of the provided tiny model.

Run with `make test topic=dola`. Learner code is reached only through the `impl` fixture. Each test
shows its inputs and its oracle: worked by hand, PyTorch (F.kl_div; plain greedy decoding of the
model's own output), or, where PyTorch has no DoLa, the answer key (tests/dola/key.py; in a class
release, its results stored on the reference).

Shapes: logits (..., V), V = 64 unless a test says otherwise; candidates (L, B, V); token ids are
LongTensors (B, T).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from grader.checks import check_tensor, fail, matching_mistakes
from grader.kit import EXACT, F32, F64, Tol, call_checking_inputs, cases, check_output, describe, randn
from provided.tiny_lm import TinyLM
from tests.dola.key import dola_scores, dola_tokens, farthest_candidates, mistakes_of
from tests.dola.mistakes import MISTAKE

INF = math.inf

# Tolerances, with their reasons.
TOL64 = Tol(
    1e-10,
    1e-10,
    "float64: short sums (64 terms) of values of order 1 to 20 round near 1e-14; "
    "1e-10 leaves room for any valid order of the arithmetic (entropy form, logaddexp)",
)
TOL32_JSD = Tol(
    1e-4,
    5e-6,
    "float32 divergences: 64 terms rounded at 6e-8 relative; the entropy form H(M) - (H(P) + H(Q)) / 2 "
    "cancels terms up to log V = 4.2, so a correct answer may be off by ~1e-6",
)
TOL32_SCORES = Tol(
    1e-5, 2e-5, "float32 log-probabilities and their differences (up to ~30): log_softmax rounds at ~2e-6"
)


def tol(dtype: torch.dtype, kind: str = "scores") -> Tol:
    """The tolerance for divergences ("jsd") or scores of `dtype`."""
    return TOL64 if dtype == F64 else TOL32_JSD if kind == "jsd" else TOL32_SCORES


# ---------------------------------------------------------------------------------------------------
# The oracles: PyTorch's KL divergence, and plain greedy decoding of the model


def torch_jsd(p_logits, q_logits):
    """(...) JSD(softmax(p), softmax(q)) in float64: F.kl_div(log M, P) is KL(P || M), summed over
    the vocabulary (log M set to 0 where P = 0, whose terms count 0 and would be 0 * -inf)."""
    p, q = (F.softmax(t.double(), dim=-1) for t in (p_logits, q_logits))
    log_m = ((p + q) / 2).log()
    return sum(0.5 * F.kl_div(log_m.masked_fill(r == 0, 0.0), r, reduction="none").sum(-1) for r in (p, q))


def plain_greedy(model, input_ids, max_new_tokens):
    """(B, T + max_new_tokens): greedy decoding of the model's normal output (DoLa with alpha = 1 and
    no penalty keeps only the final layer's top token, so it must decode the same)."""
    seq = input_ids.clone()
    while seq.shape[1] < input_ids.shape[1] + max_new_tokens:
        seq = torch.cat([seq, model.logits(seq)[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    return seq


def prompts(batch: int, length: int, seed: int, vocab_size: int = 64):
    """(batch, length) random token ids, the same on every run."""
    return torch.randint(0, vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------------
# The checks, each naming the known mistakes whose prediction (tests/dola/key.py) the output matches


def check_jsd(impl, p, q, case, expected=None):
    """jensen_shannon_divergence(p, q), (...) for (..., V) logits, against `expected` (default:
    torch_jsd); returns the output."""
    near = mistakes_of("jsd", p, q)
    expected = torch_jsd(p, q).to(p.dtype) if expected is None else expected
    out = impl.jensen_shannon_divergence(p.clone(), q.clone())
    of, tolerance = "jensen_shannon_divergence", tol(p.dtype, "jsd")
    check_output(out, expected, name="the divergences", of=of, case=case, tol=tolerance, near=near)
    return out


def check_layers(impl, n, which, expected):
    """candidate_layers(n, which) must return the list `expected`."""
    out = impl.candidate_layers(n, which)
    if not isinstance(out, list):
        fail(f"candidate_layers({n}, {which!r}) should return a list of ints, got {type(out).__name__} ({out!r:.80}).")
    if out != expected:
        fail(
            f"candidate_layers({n}, {which!r}) returned {out}, expected {expected}.\n"
            f"  N <= 40: low = range(0, N // 2, 2), high = range(N // 2, N, 2); "
            f"N > 40: low = range(0, 20, 2), high = range(N - 20, N, 2)."
        )


def check_choice(impl, final, candidates, expected, case):
    """select_premature_layer(final (B, V), candidates (L, B, V)) must return `expected` (B,)."""
    near = mistakes_of("select", final, candidates)
    out = impl.select_premature_layer(final.clone(), candidates.clone())
    if isinstance(out, torch.Tensor) and out.dtype != torch.long:
        fail(f"select_premature_layer should return a LongTensor (int64) of positions, got {out.dtype}.")
    name = "the positions of the farthest candidates"
    check_output(out, expected, name=name, of="select_premature_layer", case=case, tol=EXACT, near=near)


def check_contrast(impl, final, premature, expected, case, tolerance, **alpha):
    """contrast_logits(final, premature, **alpha) against `expected` (no `alpha`: the default 0.1)."""
    near = mistakes_of("contrast", final, premature, alpha.get("alpha", 0.1))
    out = impl.contrast_logits(final.clone(), premature.clone(), **alpha)
    check_output(out, expected, name="the scores", of="contrast_logits", case=case, tol=tolerance, near=near)


def check_decoding(impl, model, input_ids, layers, n, expected, oracle, **settings):
    """dola_greedy(model, input_ids, layers, n, **settings) must return `expected`, (B, T + n), token
    for token (`oracle` says where it comes from). A difference is reported at its first new token,
    with the token the final layer alone would pick there (from the expected prefix) and the known
    mistakes that decode the same."""
    alpha, penalty = settings.get("alpha", 0.1), settings.get("repetition_penalty", 1.2)
    near = mistakes_of("decoding", model, input_ids, layers, n, alpha, penalty)
    (batch, length), given = input_ids.shape, ", ".join(f"{k}={v}" for k, v in settings.items())
    case = f"{model!r}, {batch} prompts of {length} tokens, layers {layers}, {n} new tokens, "
    case += f"{given or 'default alpha and repetition_penalty'} (oracle: {oracle})"
    out = impl.dola_greedy(model, input_ids.clone(), list(layers), n, **settings)
    name = "the prompts and new tokens from dola_greedy"
    if not (isinstance(out, torch.Tensor) and out.shape == expected.shape and out.dtype == expected.dtype):
        check_tensor(out, expected, name=name, case=case, rtol=0, atol=0)  # the type, shape or dtype
    if torch.equal(out, expected):
        return
    differ = out != expected
    row = int(differ.any(dim=1).nonzero()[0])
    col = int(differ[row].nonzero()[0])
    if bool(differ[:, :length].any()):
        message = f"the first {length} tokens of each row must be the prompt, unchanged; row {row} differs."
    else:
        alone = int(model.logits(expected[row : row + 1, :col])[0, -1].argmax())
        message = (
            f"{int(differ.any(dim=1).sum())} of {out.shape[0]} rows differ. Row {row} first differs at new "
            f"token {col - length + 1} (position {col}): got {int(out[row, col])}, expected "
            f"{int(expected[row, col])}; the final layer alone (plain greedy decoding from the same prefix) "
            f"would pick {alone} there.\n  expected row {row}: {expected[row].tolist()}\n"
            f"  got      row {row}: {out[row].tolist()}"
        )
    found = matching_mistakes(out, near, rtol=0.0, atol=0.0)
    fail(f"{name}, for {case}: {message}" + "".join("\n" + m.sentence() for m in found))


# ---------------------------------------------------------------------------------------------------
# jensen_shannon_divergence


@pytest.mark.points(2)
def test_jsd_two_tokens_by_hand(impl):
    """Two-token distributions whose divergence is worked out by hand (float64)."""
    p = torch.tensor([[0.0, -INF], [0.0, -INF], [1.5, -0.5], [0.0, 0.0], [0.0, -800.0]], dtype=F64)
    q = torch.tensor([[-INF, 0.0], [0.0, 0.0], [1.5, -0.5], [math.log(3.0), 0.0], [-800.0, 0.0]], dtype=F64)
    # Row 0: P = (1, 0), Q = (0, 1), M = (1/2, 1/2): KL(P||M) = KL(Q||M) = log 2, JSD = log 2 (the
    #        largest possible value), finite although P and Q have zeros.
    # Row 1: P = (1, 0), Q = (1/2, 1/2), M = (3/4, 1/4): KL(P||M) = log(4/3),
    #        KL(Q||M) = 1/2 log(2/3) + 1/2 log 2 = 1/2 log(4/3); JSD = 3/4 log(4/3) = 0.21576.
    # Row 2: equal distributions: 0.
    # Row 3: P = (1/2, 1/2), Q = (3/4, 1/4), M = (5/8, 3/8):
    #        KL(P||M) = 1/2 log(4/5) + 1/2 log(4/3) = 1/2 log(16/15),
    #        KL(Q||M) = 3/4 log(6/5) + 1/4 log(2/3);  JSD = 1/4 log(16/15) + 3/8 log(6/5) + 1/8 log(2/3).
    # Row 4: exp(-800) underflows to exactly 0 in float64: as row 0, log 2.
    row3 = 0.25 * math.log(16 / 15) + 0.375 * math.log(6 / 5) + 0.125 * math.log(2 / 3)
    expected = torch.tensor([math.log(2.0), 0.75 * math.log(4 / 3), 0.0, row3, math.log(2.0)], dtype=F64)
    case = "five two-token rows worked by hand, float64 (rows 0 and 4: P = (1, 0), Q = (0, 1) from -inf and -800)"
    check_jsd(impl, p, q, case, expected)


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype, shape", cases({"float32": (F32, (2, 3, 64)), "float64": (F64, (5, 64))}))
def test_jsd_matches_torch_kl_div(impl, dtype, shape):
    """Random logits: JSD = KL(P||M)/2 + KL(Q||M)/2 with PyTorch's F.kl_div as the reference."""
    p, q = randn(shape, 1, dtype, scale=3.0), randn(shape, 2, dtype, scale=3.0)
    check_jsd(impl, p, q, f"random logits N(0, 9), {describe(dtype, shape)}")


def test_jsd_properties(impl):
    """Symmetric, zero for equal (or shifted) logits, finite when probabilities are 0 (log 2 is the
    bound: see the hand-worked rows)."""
    p, q = randn((4, 64), 3, F32, scale=4.0), randn((4, 64), 4, F32, scale=4.0)
    forward = check_jsd(impl, p, q, "random float32 logits (4, 64)")
    backward = check_jsd(impl, q, p, "the same logits with the arguments swapped")
    # The two orders compute the same sums in a different order: float32 rounding only.
    check_tensor(
        backward,
        forward,
        name="JSD(Q, P) compared with JSD(P, Q)",
        case="random float32 logits (4, 64): the divergence is symmetric",
        **TOL32_JSD,
    )
    # Equal distributions, given as equal logits and as logits shifted by a constant: 0.
    check_jsd(impl, p, p + 7.0, "logits and the same logits + 7 (equal distributions)", torch.zeros(4))
    check_jsd(impl, p, p.clone(), "equal logits", torch.zeros(4))
    # Extreme logits in float32: probabilities exp(-300) are exactly 0 there, some logits are -inf.
    far = torch.full((3, 64), -300.0)
    far[0, 0], far[1, 5], far[2, 63] = 0.0, 0.0, 0.0
    near = far.clone()
    near[0, 1], near[1, 5], near[2, :32] = 0.0, -INF, 0.0
    near[1, 6] = 0.0
    far[2, 40:] = -INF
    check_jsd(impl, far, near, "float32 logits of 0, -300 and -inf (probabilities that underflow to exactly 0)")


# ---------------------------------------------------------------------------------------------------
# candidate_layers

BUCKETS = {
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


def test_candidate_layers_buckets(impl):
    """The paper's buckets of early layers for small and large models."""
    for (n, which), expected in BUCKETS.items():
        check_layers(impl, n, which, expected)


def test_candidate_layers_lists_and_errors(impl):
    """A list of layers in range is returned; anything else is a ValueError."""
    check_layers(impl, 8, [1, 3, 7], [1, 3, 7])
    check_layers(impl, 48, [0, 47], [0, 47])
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


def peaked(token, vocab=4, height=5.0):
    """(vocab,) logits: `height` on `token`, 0 elsewhere."""
    return torch.zeros(vocab).index_fill(0, torch.tensor([token]), height)


@pytest.mark.points(2)
def test_select_premature_layer_by_hand(impl):
    """Each example picks the candidate farthest from its final layer; the first one on ties."""
    # Example b's final distribution peaks on token b. Its candidates are: "same" (the final logits:
    # JSD 0), "flat" (uniform: JSD about 0.3) and "other" (peaked on token b + 2: JSD about 0.6, the
    # largest). Each example has them in a different order, so the answers are 2, 0 and 1.
    final = torch.stack([peaked(b) for b in range(3)])
    kinds = {"same": final, "flat": torch.zeros(3, 4), "other": torch.stack([peaked((b + 2) % 4) for b in range(3)])}
    orders = [("same", "flat", "other"), ("other", "same", "flat"), ("flat", "other", "same")]
    candidates = torch.stack([torch.stack([kinds[orders[b][l]][b] for b in range(3)]) for l in range(3)])
    case = "3 examples, candidates equal to the final layer, uniform and peaked elsewhere, in 3 orders"
    check_choice(impl, final, candidates, torch.tensor([2, 0, 1]), case)
    # Ties: two identical farthest candidates; the first one wins.
    flat, other = kinds["flat"], kinds["other"]
    ties = torch.stack([torch.stack([other[0], flat[1]]), torch.stack([flat[0], other[1]]), other[:2]])
    case = "2 examples whose two farthest candidates are identical (the first one wins)"
    check_choice(impl, final[:2], ties, torch.tensor([0, 1]), case)


def test_select_premature_layer_random(impl):
    """Random candidates at different distances: the farthest by JSD for every example (answer key)."""
    final = randn((6, 64), 5, F32, scale=3.0)
    gen = torch.Generator().manual_seed(6)
    scales = torch.stack([torch.randperm(4, generator=gen) for _ in range(6)], dim=1) * 0.7 + 0.3
    candidates = final + randn((4, 6, 64), 7, F32) * scales.unsqueeze(-1)
    expected = farthest_candidates(final, candidates)
    check_choice(impl, final, candidates, expected, "6 examples, 4 candidates of random logits (float32, V = 64)")


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
    p = torch.tensor([[0.4, 0.3, 0.25, 0.05], [0.9, 0.05, 0.03, 0.02]], dtype=F64)
    q = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]], dtype=F64)
    expected = torch.tensor(
        [[math.log(4), math.log(1.5), math.log(5 / 6), math.log(1 / 8)], [math.log(9 / 7), -INF, -INF, -INF]], dtype=F64
    )
    case = "two rows of four tokens worked by hand, alpha = 0.1 (the default), float64"
    check_contrast(impl, p.log() + 7.0, q.log() - 2.0, expected, case, TOL64)


def test_contrast_uniform_premature(impl):
    """A uniform premature layer leaves log p_final (+ log V) on the plausible tokens, -inf elsewhere."""
    # log_softmax of a uniform row is -log V everywhere, so the score is log p_final + log V.
    final, premature = randn((3, 64), 8, F32, scale=3.0), torch.zeros(3, 64)
    expected = dola_scores(final, premature, 0.1).float()
    case = "random final logits (3, 64), uniform premature logits, alpha = 0.1, float32"
    check_contrast(impl, final, premature, expected, case, TOL32_SCORES, alpha=0.1)


@pytest.mark.parametrize(
    "dtype, shape, alpha",
    cases({"float32-alpha0.3": (F32, (4, 64), 0.3), "float64-alpha0.05": (F64, (2, 3, 64), 0.05)}),
)
def test_contrast_random(impl, dtype, shape, alpha):
    """Random logits: log_softmax differences on the plausible set (answer key)."""
    final, premature = randn(shape, 9, dtype, scale=3.0), randn(shape, 10, dtype, scale=3.0)
    expected = dola_scores(final, premature, alpha).to(dtype)
    case = f"random logits, {describe(dtype, shape, alpha=alpha)}"
    check_contrast(impl, final, premature, expected, case, tol(dtype), alpha=alpha)


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
    near = mistakes_of("penalty", scores.clone(), ids, 1.2)
    out = call_checking_inputs(
        lambda scores: impl.apply_repetition_penalty(scores, ids.clone()),
        dict(scores=scores),
        call="apply_repetition_penalty(scores, input_ids)",
        mistake=MISTAKE["scores-modified-in-place"],
    )
    case, of = "two rows worked by hand, penalty 1.2 (the default), float32", "apply_repetition_penalty"
    check_output(out, expected, name="the scores", of=of, case=case, tol=TOL32_SCORES, near=near)


# ---------------------------------------------------------------------------------------------------
# dola_greedy

LAYERS = {"low": [0, 2], "high": [4, 6]}


@pytest.mark.points(2)
@pytest.mark.parametrize("bucket", ["low", "high"])
def test_dola_greedy_alpha_one_is_greedy(impl, bucket):
    """alpha = 1 and no penalty leave only the top final token: plain greedy decoding of the model."""
    model, ids = TinyLM(seed=0), prompts(2, 5, seed=5)
    expected = plain_greedy(model, ids, 6)
    oracle = "greedy decoding of the final layer"
    check_decoding(impl, model, ids, LAYERS[bucket], 6, expected, oracle, alpha=1.0, repetition_penalty=1.0)


@pytest.mark.points(2)
@pytest.mark.parametrize("bucket", ["low", "high"])
def test_dola_greedy(impl, bucket):
    """DoLa with the default alpha = 0.1 and repetition penalty 1.2, per-example layer selection."""
    model, ids, layers = TinyLM(seed=1), prompts(3, 4, seed=7), LAYERS[bucket]
    check_decoding(impl, model, ids, layers, 8, dola_tokens(model, ids, layers, 8), "the answer key")


def test_dola_greedy_single_candidate(impl):
    """One candidate layer: no selection, the contrast is with that layer."""
    model, ids = TinyLM(seed=2), prompts(2, 3, seed=8)
    expected = dola_tokens(model, ids, [3], 6, 0.2, 1.3)
    check_decoding(impl, model, ids, [3], 6, expected, "the answer key", alpha=0.2, repetition_penalty=1.3)
