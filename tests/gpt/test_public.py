"""GPT, public tests: your GPT-2 against Hugging Face's `GPT2LMHeadModel` holding the same weights
(logits, the key/value cache, greedy generation), your sampling filters against its temperature, top-k
and top-p warpers, and your loss against PyTorch's cross-entropy.

Run with `make test topic=gpt`. Learner code is reached only through the `impl` fixture.

Importing `transformers` takes seconds, so these tests read what it computed from golden data,
`data/gpt/golden.pt`, made by `.venv/bin/python data/gpt/make_golden.py` (the hidden tests call the
library live). The inputs are made here, by the recipes below (`gpt2_params`, `warper_logits`); the file
holds Hugging Face's outputs for them and a SHA-256 of the inputs, so that a recipe that no longer makes
the same numbers is caught instead of silently compared with other outputs.
"""

import hashlib
import math
from functools import cache

import pytest
import torch
import torch.nn.functional as F

from grader import paths
from grader.checks import check_tuple, check_unchanged, fail
from grader.kit import (
    EXACT,
    F32,
    F64,
    Tol,
    call_checking_inputs,
    cases,
    check_output,
    check_outputs,
    dtype_name,
    generator,
    randn,
    scale_of,
    shape_name,
    tensor_list,
)
from tests.gpt.key import chunked_mistakes, forward_mistakes, greedy_mistakes, loss_mistakes, probs_mistakes
from tests.gpt.mistakes import MISTAKE

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons. `python -m grader margins gpt` measures how much of them the
# reference and the alternatives of mutants.py use.
TOL64 = Tol(
    1e-10,
    1e-10,
    "float64: a few hundred operations per value (3 layers of attention, a 4E-wide MLP, 4 layer norms); "
    "another order of summation moves logits of size 10 by about 1e-14",
)
TOL32 = Tol(
    2e-5,
    2e-5,
    "float32: Hugging Face and a correct implementation round differently (fused attention, another "
    "summation order, float64 inside) by up to about 2e-6 on logits of size 10 after 2 layers; every "
    "mistake moves some logit by more than 1e-3",
)
PROBS64 = Tol(1e-12, 1e-15, "float64 probabilities: one division, an exp and a sum over V <= 64 tokens")
PROBS32 = Tol(1e-5, 1e-7, "float32 probabilities: rounding of the exp and the sum (about 1e-7 relative per step)")
LOSS64 = Tol(1e-12, 1e-12, "float64 loss: a log-sum-exp over V and a mean over B * (T - 1) values")
LOSS32 = Tol(1e-5, 1e-6, "float32 loss: a log-sum-exp over V and a mean; a correct float64 inside differs by ~1e-7")


def tol(dtype: torch.dtype) -> Tol:
    return TOL64 if dtype == F64 else TOL32


def scaled_tol(dtype: torch.dtype):
    """Logits and keys: the absolute part relative to the output's largest |value| (a logit near 0
    is a sum of terms of size 10, with their rounding)."""
    return lambda expected: tol(dtype).scaled(scale_of(expected))


# ---------------------------------------------------------------------------------------------------
# Inputs: small GPT-2s with the weights scaled up (Hugging Face initialises with std 0.02, where the
# GELU flavour, the attention scale or a missing mask change the logits by less than float32 rounding)

CONFIGS = {
    "float32, 2 layers, 2 heads, E 32, V 96, P 32": dict(
        dtype=F32, n_layer=2, n_head=2, n_embd=32, vocab=96, n_positions=32, batch=2, length=9
    ),
    "float64, 1 layer, 4 heads, E 16, V 50, P 16, eps 1e-3, old attn.bias buffers": dict(
        dtype=F64, n_layer=1, n_head=4, n_embd=16, vocab=50, n_positions=16, batch=3, length=6, eps=1e-3, buffers=True
    ),
    "float64, 3 layers, 2 heads, E 24, V 120, P 24": dict(
        dtype=F64, n_layer=3, n_head=2, n_embd=24, vocab=120, n_positions=24, batch=2, length=10
    ),
    "float32, 1 layer, 4 heads, E 64, V 300, P 64": dict(
        dtype=F32, n_layer=1, n_head=4, n_embd=64, vocab=300, n_positions=64, batch=1, length=12
    ),
}
FLOAT32, SMALL, DEEP, WIDE = CONFIGS


def param_shapes(cfg: dict) -> dict:
    """The names and shapes of GPT2LMHeadModel's state_dict (lm_head.weight left out: it is wte's)."""
    e, v, p = cfg["n_embd"], cfg["vocab"], cfg["n_positions"]
    shapes = {"transformer.wte.weight": (v, e), "transformer.wpe.weight": (p, e)}
    for i in range(cfg["n_layer"]):
        block = {
            "ln_1.weight": (e,),
            "ln_1.bias": (e,),
            "attn.c_attn.weight": (e, 3 * e),  # Conv1D: (in, out)
            "attn.c_attn.bias": (3 * e,),
            "attn.c_proj.weight": (e, e),
            "attn.c_proj.bias": (e,),
            "ln_2.weight": (e,),
            "ln_2.bias": (e,),
            "mlp.c_fc.weight": (e, 4 * e),
            "mlp.c_fc.bias": (4 * e,),
            "mlp.c_proj.weight": (4 * e, e),
            "mlp.c_proj.bias": (e,),
        }
        shapes |= {f"transformer.h.{i}.{name}": shape for name, shape in block.items()}
    return shapes | {"transformer.ln_f.weight": (e,), "transformer.ln_f.bias": (e,)}


def gpt2_params(cfg: dict, seed: str) -> dict:
    """Random GPT-2 parameters: embeddings N(0, 1); c_attn and c_fc weights of std 2 / sqrt(E) (attention
    scores and GELU inputs of a few units, where the GELU flavours and the attention scales differ);
    the output projections of std 1 / sqrt(fan_in); biases of std 0.3; norm weights 1 + 0.3 * noise.
    `lm_head.weight` is the same tensor as `transformer.wte.weight`, as in the model's state_dict.
    With `buffers`, the (1, 1, P, P) `attn.bias` masks and `attn.masked_bias` of older versions."""
    gen, dtype, e = generator(seed), cfg["dtype"], cfg["n_embd"]
    params = {}
    for name, shape in param_shapes(cfg).items():
        if name.endswith(("wte.weight", "wpe.weight")):
            params[name] = randn(shape, gen, dtype)
        elif ".ln_" in name and name.endswith("weight"):
            params[name] = 1 + randn(shape, gen, dtype, 0.3)
        elif name.endswith(("c_attn.weight", "c_fc.weight")):
            params[name] = randn(shape, gen, dtype, 2 / math.sqrt(e))
        elif name.endswith("weight"):
            params[name] = randn(shape, gen, dtype, 1 / math.sqrt(shape[0]))
        else:
            params[name] = randn(shape, gen, dtype, 0.3)
    params["lm_head.weight"] = params["transformer.wte.weight"]
    if cfg.get("buffers"):
        size = cfg["n_positions"]
        for i in range(cfg["n_layer"]):
            params[f"transformer.h.{i}.attn.bias"] = (
                torch.ones(size, size, dtype=torch.bool).tril().view(1, 1, size, size)
            )
            params[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4, dtype=dtype)
    return params


def token_ids(cfg: dict, seed: str) -> torch.Tensor:
    """(batch, length) token ids, uniform over the vocabulary."""
    return torch.randint(0, cfg["vocab"], (cfg["batch"], cfg["length"]), generator=generator(seed))


# Sampling filters: (dtype, temperature, top_k, top_p, kind of logits); "pairs" logits hold every value
# twice, so that with an odd k two tokens share the k-th value. top_p is kept clear of every cumulative boundary.
WARPER_CASES = {
    "float32, temperature 0.7, no filter": (F32, 0.7, None, None, "plain"),
    "float64, temperature 1.5, top_k 5, ties at the 5th value": (F64, 1.5, 5, None, "pairs"),
    "float32, top_k 1 (greedy)": (F32, 1.0, 1, None, "plain"),
    "float64, top_k = V (keeps everything)": (F64, 1.0, 40, None, "plain"),
    "float32, temperature 0.5, top_p 0.9": (F32, 0.5, None, 0.9, "plain"),
    "float64, top_p 0.02 (near 0)": (F64, 1.0, None, 0.02, "plain"),
    "float64, temperature 2.0, top_p 0.99 (near 1)": (F64, 2.0, None, 0.99, "plain"),
    "float32, temperature 1.3, top_k 7 with ties, then top_p 0.75": (F32, 1.3, 7, 0.75, "pairs"),
    "float64, temperature 0.8, top_k 20, then top_p 0.75": (F64, 0.8, 20, 0.75, "plain"),
}


def warper_logits(dtype: torch.dtype, kind: str, seed: str) -> torch.Tensor:
    """(4, 40) logits of size about 2; "pairs": 20 values per row, each at two places."""
    if kind == "pairs":
        values = randn((4, 20), seed, F64, 2.0)
        order = torch.randperm(40, generator=generator(f"{seed}/order"))
        return torch.cat([values, values], dim=-1)[:, order].to(dtype)
    return randn((4, 40), seed, F64, 2.0).to(dtype)


def digest(tensors) -> str:
    """SHA-256 of the tensors' bytes, in order (what the golden file records of the inputs)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def config_inputs(name: str) -> tuple[dict, dict, torch.Tensor]:
    """(cfg, params, input_ids) of a config."""
    cfg = CONFIGS[name]
    return cfg, gpt2_params(cfg, f"gpt/{name}"), token_ids(cfg, f"gpt/{name}/ids")


# ---------------------------------------------------------------------------------------------------
# The oracle: Hugging Face's outputs, stored

GOLDEN = paths.ROOT / "data" / "gpt" / "golden.pt"
GOLDEN_SHA256 = "e2ea4f8ea2343c4e1f71cd5c5729eaaad4982be6e23fad4159d5ff1d94bbc5be"
REMAKE = "remake it with `.venv/bin/python data/gpt/make_golden.py`"


@cache
def _golden() -> dict:
    if not GOLDEN.exists():
        fail(f"{GOLDEN.relative_to(paths.ROOT)} is missing: {REMAKE}.")
    if hashlib.sha256(GOLDEN.read_bytes()).hexdigest() != GOLDEN_SHA256:
        fail(
            f"{GOLDEN.relative_to(paths.ROOT)} is not the file these tests were written for (its SHA-256 "
            f"differs): {REMAKE}."
        )
    return torch.load(GOLDEN, weights_only=True)


def golden(section: str, name: str, inputs) -> dict:
    """The stored outputs for case `name`, after checking that the recipes still make its inputs."""
    entry = _golden()[section][name]
    if digest(inputs) != entry["inputs_sha256"]:
        fail(f"the inputs of case {name!r} are not those data/gpt/golden.pt was made from: {REMAKE}.")
    return entry


def model_golden(name: str) -> tuple[dict, dict, torch.Tensor, dict]:
    """(cfg, params, input_ids, Hugging Face's outputs) of a config."""
    cfg, params, ids = config_inputs(name)
    tensors = [params[k] for k in sorted(params)] + [ids]
    return cfg, params, ids, golden("models", name, tensors)


# ---------------------------------------------------------------------------------------------------
# Checks

# What PyTorch says when a matrix product or a concatenation gets tensors of the wrong shapes.
SHAPE_ERRORS = ("cannot be multiplied", "size mismatch", "must match", "shape", "size of tensor")
CONV1D = ("conv1d-transposed",)  # a shape error without past: a Conv1D weight used as nn.Linear's
CACHE = ("cache-wrong-dim",)  # a shape error with past only (after the same call without it worked)


def call_impl(fn, args: dict, call: str, mistakes: tuple = ()):
    """fn(**args), failing if a tensor argument, a parameter or a cached tensor was modified in place.
    A RuntimeError about shapes is reported with the known mistakes that raise one (`mistakes`: the
    caller names them only where nothing else could have raised it)."""
    params = dict(args.get("params", {}))
    for i, pair in enumerate(args.get("past") or []):
        params |= {f"past[{i}][{j}]": t for j, t in enumerate(pair) if isinstance(t, torch.Tensor)}
    before = {k: v.clone() for k, v in params.items()}
    try:
        result = call_checking_inputs(fn, args, call=call)
    except RuntimeError as exc:
        if mistakes and any(s in str(exc).lower() for s in SHAPE_ERRORS):
            fail(
                f"{call} raised RuntimeError: {exc}\nA shape error there is what this known mistake gives:\n"
                + "\n".join(MISTAKE[m].sentence() for m in mistakes)
            )
        raise
    for name, copy in before.items():
        check_unchanged(copy, params[name], name=name if name.startswith("past[") else f"params[{name!r}]", call=call)
    return result


def forward_result(result, n_layer: int, call: str) -> list:
    """[logits, K_0, V_0, K_1, V_1, ...] from gpt2_forward's (logits, present), failing with a sentence
    when it is not that structure."""
    logits, present = check_tuple(result, 2, name=call)
    tensor_list([logits], 1, f"the logits from {call}")
    if not isinstance(present, (list, tuple)) or len(present) != n_layer:
        size = f" of length {len(present)}" if isinstance(present, (list, tuple)) else ""
        fail(
            f"present from {call} should be a list with one (K, V) per layer ({n_layer}), got "
            f"{type(present).__name__}{size}."
        )
    flat = [logits]
    for i, pair in enumerate(present):
        flat += tensor_list(pair, 2, f"present[{i}] from {call}", per="of K and V")
    return flat


def output_names(n_layer: int) -> list[str]:
    return ["logits"] + [
        f"present[{i}][{j}] ({'keys' if j == 0 else 'values'} of layer {i})" for i in range(n_layer) for j in (0, 1)
    ]


def describe_config(name: str, ids: torch.Tensor, extra: str = "") -> str:
    return f"{name}, input_ids {shape_name(ids.shape)}{extra} (Hugging Face's GPT2LMHeadModel as reference)"


def expected_outputs(entry: dict) -> list:
    return [entry["logits"], *(t for pair in entry["present"] for t in pair)]


# ---------------------------------------------------------------------------------------------------
# gpt2_forward


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_against_hugging_face(impl, name):
    """gpt2_forward's logits and present equal GPT2LMHeadModel's logits and past_key_values."""
    cfg, params, ids, entry = model_golden(name)
    eps = cfg.get("eps", 1e-5)
    near = forward_mistakes(ids, params, cfg["n_head"], eps)
    call = f"gpt2_forward(input_ids, params, n_head={cfg['n_head']}, eps={eps:g})"
    args = dict(input_ids=ids, params=params, n_head=cfg["n_head"], eps=eps)
    result = call_impl(impl.gpt2_forward, args, call, mistakes=CONV1D)
    check_outputs(
        forward_result(result, cfg["n_layer"], call),
        expected_outputs(entry),
        names=output_names(cfg["n_layer"]),
        of="gpt2_forward",
        case=describe_config(name, ids),
        tol=scaled_tol(cfg["dtype"]),
        near=near,
    )


PAST_CASES = {
    "float32 config, 5 cached tokens, 4 new": (FLOAT32, 5),
    "float64 3-layer config, 3 cached tokens, 7 new": (DEEP, 3),
    "float64 1-layer config, 5 cached tokens, 1 new": (SMALL, 5),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name, cached", cases(PAST_CASES))
def test_forward_with_past_from_hugging_face(impl, name, cached):
    """gpt2_forward(new ids, past = the model's cache of the first tokens) gives the model's logits of
    the new positions and its whole cache."""
    # The keys and values of the first `cached` positions do not depend on the later tokens (the
    # attention is causal), so the model's cache of that prefix is its full cache cut at `cached`.
    cfg, params, ids, entry = model_golden(name)
    eps, n_head = cfg.get("eps", 1e-5), cfg["n_head"]
    past = [(k[:, :, :cached].clone(), v[:, :, :cached].clone()) for k, v in entry["present"]]
    new = ids[:, cached:]
    near = forward_mistakes(new, params, n_head, eps, past)
    call = (
        f"gpt2_forward(input_ids[:, {cached}:], params, n_head={n_head}, eps={eps:g}, past=<cache of {cached} tokens>)"
    )
    args = dict(input_ids=new, params=params, n_head=n_head, eps=eps, past=past)
    # First without past, so that a shape error with past can only come from the cache.
    prefix = dict(input_ids=ids[:, :cached], params=params, n_head=n_head, eps=eps)
    call_impl(impl.gpt2_forward, prefix, f"gpt2_forward(input_ids[:, :{cached}], ...)", mistakes=CONV1D)
    result = call_impl(impl.gpt2_forward, args, call, mistakes=CACHE)
    expected = expected_outputs(entry)
    expected[0] = entry["logits"][:, cached:]
    check_outputs(
        forward_result(result, cfg["n_layer"], call),
        expected,
        names=output_names(cfg["n_layer"]),
        of="gpt2_forward with past",
        case=describe_config(name, ids, f", the first {cached} tokens given as past"),
        tol=scaled_tol(cfg["dtype"]),
        near=near,
    )


CACHE_CASES = {
    "float32 config, token by token": (FLOAT32, (1,) * 9),
    "float64 3-layer config, prompt of 4 then chunks of 3, 1 and 2": (DEEP, (4, 3, 1, 2)),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name, chunks", cases(CACHE_CASES))
def test_cache_equals_full_forward(impl, name, chunks):
    """Feeding the tokens in pieces, each call given the present of the call before, gives the logits
    and the cache of one full forward pass (the model's)."""
    cfg, params, ids, entry = model_golden(name)
    eps, n_head = cfg.get("eps", 1e-5), cfg["n_head"]
    near = chunked_mistakes(ids, params, n_head, eps, chunks)
    past, parts, start = None, [], 0
    for size in chunks:
        call = f"gpt2_forward(input_ids[:, {start}:{start + size}], params, n_head={n_head}, past=<your present>)"
        args = dict(input_ids=ids[:, start : start + size], params=params, n_head=n_head, eps=eps, past=past)
        result = call_impl(impl.gpt2_forward, args, call, mistakes=CONV1D if past is None else CACHE)
        flat = forward_result(result, cfg["n_layer"], call)
        parts.append(flat[0])
        past = [(flat[1 + 2 * i], flat[2 + 2 * i]) for i in range(cfg["n_layer"])]
        start += size
    logits = torch.cat(parts, dim=1) if all(p.dim() == 3 for p in parts) else parts[0]
    check_outputs(
        [logits, *(t for pair in past for t in pair)],
        expected_outputs(entry),
        names=["logits of every chunk, concatenated"] + output_names(cfg["n_layer"])[1:],
        of="gpt2_forward with your cache",
        case=describe_config(name, ids, f", fed in chunks of {list(chunks)}"),
        tol=scaled_tol(cfg["dtype"]),
        near=near,
    )


# ---------------------------------------------------------------------------------------------------
# generate_greedy

GENERATE_CASES = {
    "float64 3-layer config, prompt of 4, 12 new tokens": (DEEP, 4, 12),
    "float32 config, prompt of 6, 10 new tokens": (FLOAT32, 6, 10),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("name, prompt, new", cases(GENERATE_CASES))
def test_generate_greedy_against_hugging_face(impl, name, prompt, new):
    """generate_greedy equals GPT2LMHeadModel.generate(do_sample=False, eos_token_id=None)."""
    # data/gpt/make_golden.py checks that every step's best logit leads the second by more than 1e-3,
    # so that no rounding difference can change the argmax.
    cfg, params, ids, entry = model_golden(name)
    expected = entry["generated"][f"{prompt}+{new}"]
    near = greedy_mistakes(params, cfg["n_head"], ids[:, :prompt], new)
    call = f"generate_greedy(params, n_head={cfg['n_head']}, input_ids[:, :{prompt}], max_new_tokens={new})"
    args = dict(params=params, n_head=cfg["n_head"], input_ids=ids[:, :prompt], max_new_tokens=new)
    actual = call_impl(impl.generate_greedy, args, call)
    case = describe_config(name, ids[:, :prompt], f", {new} new tokens") + " [generate]"
    check_output(actual, expected, name="token ids", of=call, case=case, tol=EXACT, near=near)


def test_generate_greedy_one_token_and_rejects_zero(impl):
    """max_new_tokens=1 adds one token (the argmax of the last logits); max_new_tokens=0 raises ValueError."""
    cfg, params, ids, entry = model_golden(DEEP)
    prompt = ids[:, :4]
    expected = torch.cat([prompt, entry["logits"][:, 3].argmax(-1, keepdim=True)], dim=1)
    args = dict(params=params, n_head=cfg["n_head"], input_ids=prompt, max_new_tokens=1)
    call = f"generate_greedy(params, n_head={cfg['n_head']}, input_ids[:, :4], max_new_tokens=1)"
    near = greedy_mistakes(params, cfg["n_head"], prompt, 1)
    actual = call_impl(impl.generate_greedy, args, call)
    case = f"{DEEP}, prompt of 4 (the argmax of the model's logits at position 3)"
    check_output(actual, expected, name="token ids", of=call, case=case, tol=EXACT, near=near)
    with pytest.raises(ValueError):
        impl.generate_greedy(params, cfg["n_head"], prompt, 0)


# ---------------------------------------------------------------------------------------------------
# next_token_probs


def check_probs(impl, logits, temperature, top_k, top_p, expected, case: str) -> None:
    near = probs_mistakes(logits, temperature, top_k, top_p)
    call = f"next_token_probs(logits, temperature={temperature:g}, top_k={top_k}, top_p={top_p})"
    args = dict(logits=logits, temperature=temperature, top_k=top_k, top_p=top_p)
    actual = call_checking_inputs(impl.next_token_probs, args, call=call)
    tolerance = PROBS64 if logits.dtype == F64 else PROBS32
    check_output(actual, expected, name="probabilities", of=call, case=case, tol=tolerance, near=near)


def test_next_token_probs_by_hand(impl):
    """Logits [2, 1, 1, 0, -1] at temperature 0.5 with top_k=2 keep both tokens tied at the 2nd value;
    logits [2, 1, 0, -1] with top_p=0.7 keep the token that crosses 0.7."""
    logits = torch.tensor([[2.0, 1.0, 1.0, 0.0, -1.0]], dtype=F64)
    # Divided by 0.5: [4, 2, 2, 0, -2]. Top-2: the 2nd largest is 2, shared by tokens 1 and 2, so three
    # tokens stay: softmax([4, 2, 2]) = [e^2, 1, 1] / (e^2 + 2).
    e2 = math.exp(2)
    expected = torch.tensor([[e2 / (e2 + 2), 1 / (e2 + 2), 1 / (e2 + 2), 0.0, 0.0]], dtype=F64)
    check_probs(impl, logits, 0.5, 2, None, expected, "by hand: top_k=2 with a tie at the 2nd value")
    # softmax([2, 1, 0, -1]) = [e^2, e, 1, 1/e] / 11.475 = [0.644, 0.237, 0.087, 0.032]. Token 0 alone
    # holds 0.644 < 0.7, so token 1 crosses the threshold (0.881) and stays; token 2 has 0.881 >= 0.7
    # ranked before it and goes. Kept: [e^2, e] / (e^2 + e).
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]], dtype=F64)
    expected = torch.tensor([[e2 / (e2 + math.e), math.e / (e2 + math.e), 0.0, 0.0]], dtype=F64)
    check_probs(impl, logits, 1.0, None, 0.7, expected, "by hand: top_p=0.7")


@pytest.mark.points(2)
@pytest.mark.parametrize("name", list(WARPER_CASES))
def test_next_token_probs_against_hugging_face(impl, name):
    """next_token_probs equals softmax of TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper."""
    dtype, temperature, top_k, top_p, kind = WARPER_CASES[name]
    logits = warper_logits(dtype, kind, f"gpt/warpers/{name}")
    expected = golden("warpers", name, [logits])["probs"]
    case = f"{name}: logits {shape_name(logits.shape)} {dtype_name(dtype)} (Hugging Face's warpers as reference)"
    check_probs(impl, logits, temperature, top_k, top_p, expected, case)


BAD_SETTINGS = {
    "temperature 0": dict(temperature=0.0),
    "temperature -1": dict(temperature=-1.0),
    "top_k 0": dict(top_k=0),
    "top_k V + 1": dict(top_k=6),
    "top_p 0": dict(top_p=0.0),
    "top_p 1.5": dict(top_p=1.5),
}


@pytest.mark.parametrize("settings", cases({k: (v,) for k, v in BAD_SETTINGS.items()}))
def test_next_token_probs_rejects_bad_settings(impl, settings):
    """temperature <= 0, top_k outside [1, V] and top_p outside (0, 1] raise ValueError."""
    with pytest.raises(ValueError):
        impl.next_token_probs(torch.zeros(2, 5), **settings)


# ---------------------------------------------------------------------------------------------------
# lm_loss


def check_loss(impl, logits, ids, expected, case: str) -> None:
    near = loss_mistakes(logits, ids)
    call = "lm_loss(logits, input_ids)"
    actual = call_checking_inputs(impl.lm_loss, dict(logits=logits, input_ids=ids), call=call)
    tolerance = LOSS64 if logits.dtype == F64 else LOSS32
    check_output(actual, expected, name="loss", of=call, case=case, tol=tolerance, near=near)


def test_lm_loss_by_hand(impl):
    """One sequence [0, 1, 1], uniform logits at position 0 and certain ones at position 1: (ln 3 + 0) / 2."""
    # Position 0 predicts token 1 with probability 1/3; position 1 puts logit 0 on token 1 and -inf
    # elsewhere... here -100 (probability e^-100, a loss of ~1e-43); position 2 predicts nothing.
    logits = torch.tensor([[[0.0, 0.0, 0.0], [-100.0, 0.0, -100.0], [5.0, -3.0, 2.0]]], dtype=F64)
    ids = torch.tensor([[0, 1, 1]])
    check_loss(impl, logits, ids, torch.tensor(math.log(3) / 2, dtype=F64), "by hand, float64")


@pytest.mark.parametrize(
    "dtype, batch, length, vocab",
    cases({"float32, (3, 7, 50)": (F32, 3, 7, 50), "float64, (2, 2, 300)": (F64, 2, 2, 300)}),
)
def test_lm_loss_against_cross_entropy(impl, dtype, batch, length, vocab):
    """lm_loss equals F.cross_entropy(logits[:, :-1] flattened, input_ids[:, 1:] flattened)."""
    logits = randn((batch, length, vocab), f"gpt/loss/{dtype}", dtype, 3.0)
    ids = torch.randint(0, vocab, (batch, length), generator=generator(f"gpt/loss/ids/{dtype}"))
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
    case = f"{dtype_name(dtype)}, logits {shape_name(logits.shape)} (F.cross_entropy on the shifted tokens)"
    check_loss(impl, logits, ids, expected, case)
