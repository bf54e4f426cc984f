"""GPT, hidden tests: Hugging Face's `transformers` live (GPT2LMHeadModel, its cache, `generate`, the
logits warpers) on many random small configurations, float32 and float64, and the loss against the
model's own `labels=` loss.

Not shipped to learners; `make grade` and the instructor's grader run them. data/gpt/make_golden.py
builds its models with `hf_model` from here.
"""

import warnings

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from grader.kit import EXACT, F32, F64, cases, check_output, check_outputs, generator, randn, shape_name
from tests.gpt.key import chunked_mistakes, forward_mistakes, greedy_mistakes, top_p_clearance
from tests.gpt.test_public import (
    CACHE,
    CONV1D,
    call_impl,
    check_loss,
    check_probs,
    forward_result,
    gpt2_params,
    output_names,
    scaled_tol,
)

MIN_GAP = 1e-3  # a greedy step whose best two logits are closer than this could flip on rounding


def hf_model(cfg: dict, params: dict) -> GPT2LMHeadModel:
    """GPT2LMHeadModel of `cfg` holding `params` (the old buffers left out), eval mode, no dropout."""
    config = GPT2Config(
        vocab_size=cfg["vocab"],
        n_positions=cfg["n_positions"],
        n_embd=cfg["n_embd"],
        n_layer=cfg["n_layer"],
        n_head=cfg["n_head"],
        layer_norm_epsilon=cfg.get("eps", 1e-5),
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,  # inside the vocabulary (GPT-2's 50256 is not)
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(config).to(cfg["dtype"]).eval()
    weights = {k: v for k, v in params.items() if not k.endswith((".attn.bias", ".attn.masked_bias"))}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"state_dict mismatch: missing {missing}, unexpected {unexpected}")
    return model


def run_model(model, ids, past=None):
    """(logits, [(K, V) per layer]) of the model, with `past` a list of (K, V) or None."""
    from transformers import DynamicCache

    cache = None
    if past is not None:
        cache = DynamicCache(config=model.config)
        for i, (k, v) in enumerate(past):
            cache.update(k.clone(), v.clone(), i)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model(ids, past_key_values=cache, use_cache=True)
    return out.logits, [(layer.keys.clone(), layer.values.clone()) for layer in out.past_key_values.layers]


def random_config(seed: str) -> dict:
    """1 to 3 layers, 1 to 4 heads, E 16 to 64, V 50 to 300, P 16 to 64, float32 or float64, an eps
    among 1e-5, 1e-6 and 1e-3, batch 1 to 3, sometimes the old attn.bias buffers."""
    gen = generator(seed)

    def pick(low, high):
        return int(torch.randint(low, high + 1, (), generator=gen))

    n_head = pick(1, 4)
    head_dims = [d for d in (4, 8, 16) if 16 <= n_head * d <= 64]
    head_dim = head_dims[pick(0, len(head_dims) - 1)]
    return dict(
        dtype=(F32, F64)[pick(0, 1)],
        n_layer=pick(1, 3),
        n_head=n_head,
        n_embd=n_head * head_dim,
        vocab=pick(50, 300),
        n_positions=pick(16, 64),
        eps=(1e-5, 1e-6, 1e-3)[pick(0, 2)],
        batch=pick(1, 3),
        buffers=bool(pick(0, 1)),
    )


def describe(cfg: dict) -> str:
    words = [
        f"{cfg['dtype']}".replace("torch.", ""),
        f"{cfg['n_layer']} layers",
        f"{cfg['n_head']} heads",
        f"E {cfg['n_embd']}, V {cfg['vocab']}, P {cfg['n_positions']}, eps {cfg['eps']:g}",
    ]
    return ", ".join(words) + (", old attn.bias buffers" if cfg.get("buffers") else "")


def model_case(seed: str, length: int | None = None):
    cfg = random_config(seed)
    params = gpt2_params(cfg, seed)
    length = length or int(torch.randint(1, cfg["n_positions"] + 1, (), generator=generator(seed + "/T")))
    ids = torch.randint(0, cfg["vocab"], (cfg["batch"], length), generator=generator(seed + "/ids"))
    return cfg, params, ids, hf_model(cfg, params)


# ---------------------------------------------------------------------------------------------------
# gpt2_forward


@pytest.mark.parametrize("seed", [f"random config {i}" for i in range(12)])
def test_forward_random_configs(impl, seed):
    """gpt2_forward equals GPT2LMHeadModel (logits and past_key_values) on random small configs."""
    cfg, params, ids, model = model_case(f"gpt/hidden/{seed}")
    logits, present = run_model(model, ids)
    near = forward_mistakes(ids, params, cfg["n_head"], cfg["eps"])
    call = f"gpt2_forward(input_ids, params, n_head={cfg['n_head']}, eps={cfg['eps']:g})"
    args = dict(input_ids=ids, params=params, n_head=cfg["n_head"], eps=cfg["eps"])
    result = call_impl(impl.gpt2_forward, args, call, mistakes=CONV1D)
    check_outputs(
        forward_result(result, cfg["n_layer"], call),
        [logits, *(t for pair in present for t in pair)],
        names=output_names(cfg["n_layer"]),
        of="gpt2_forward",
        case=f"{seed}: {describe(cfg)}, input_ids {shape_name(ids.shape)} (GPT2LMHeadModel live)",
        tol=scaled_tol(cfg["dtype"]),
        near=near,
    )


@pytest.mark.parametrize("seed", [f"random past {i}" for i in range(6)])
def test_forward_with_model_past(impl, seed):
    """gpt2_forward(new ids, past = the model's own cache of a prefix) equals the model called with that
    cache: the new logits and the grown cache."""
    cfg, params, ids, model = model_case(f"gpt/hidden/{seed}")
    total = ids.shape[1]
    if total < 2:
        ids = torch.cat([ids, ids], dim=1)[:, : cfg["n_positions"]]
        total = ids.shape[1]
    cached = int(torch.randint(1, total, (), generator=generator(seed + "/cut")))
    _, past = run_model(model, ids[:, :cached])
    logits, present = run_model(model, ids[:, cached:], past)
    new = ids[:, cached:]
    near = forward_mistakes(new, params, cfg["n_head"], cfg["eps"], past)
    prefix = dict(input_ids=ids[:, :cached], params=params, n_head=cfg["n_head"], eps=cfg["eps"])
    call_impl(impl.gpt2_forward, prefix, "gpt2_forward(prefix, ...)", mistakes=CONV1D)
    call = f"gpt2_forward(input_ids[:, {cached}:], params, n_head={cfg['n_head']}, past=<the model's cache>)"
    args = dict(input_ids=new, params=params, n_head=cfg["n_head"], eps=cfg["eps"], past=past)
    result = call_impl(impl.gpt2_forward, args, call, mistakes=CACHE)
    check_outputs(
        forward_result(result, cfg["n_layer"], call),
        [logits, *(t for pair in present for t in pair)],
        names=output_names(cfg["n_layer"]),
        of="gpt2_forward with past",
        case=f"{seed}: {describe(cfg)}, {cached} cached tokens, {total - cached} new (GPT2LMHeadModel live)",
        tol=scaled_tol(cfg["dtype"]),
        near=near,
    )


CACHE_CASES = {
    "token by token, random config 0": ("cache 0", None),
    "token by token, random config 1": ("cache 1", None),
    "chunks 5, 1, 3, 2, random config 2": ("cache 2", (5, 1, 3, 2)),
    "chunks 1, 7, 1, random config 3": ("cache 3", (1, 7, 1)),
    "one chunk of the whole length P, random config 4": ("cache 4", "P"),
}


@pytest.mark.parametrize("seed, chunks", cases(CACHE_CASES))
def test_cache_equals_full_forward(impl, seed, chunks):
    """The tokens fed in pieces with your own cache give the model's logits and cache of one full pass."""
    cfg = random_config(f"gpt/hidden/{seed}")
    length = cfg["n_positions"] if chunks == "P" else min(cfg["n_positions"], 11 if chunks is None else sum(chunks))
    chunks = (length,) if chunks == "P" else (1,) * length if chunks is None else chunks
    cfg, params, ids, model = model_case(f"gpt/hidden/{seed}", length)
    logits, present = run_model(model, ids)
    near = chunked_mistakes(ids, params, cfg["n_head"], cfg["eps"], chunks)
    past, parts, start = None, [], 0
    for size in chunks:
        call = f"gpt2_forward(input_ids[:, {start}:{start + size}], ..., past=<your present>)"
        args = dict(
            input_ids=ids[:, start : start + size], params=params, n_head=cfg["n_head"], eps=cfg["eps"], past=past
        )
        flat = forward_result(
            call_impl(impl.gpt2_forward, args, call, mistakes=CONV1D if past is None else CACHE), cfg["n_layer"], call
        )
        parts.append(flat[0])
        past = [(flat[1 + 2 * i], flat[2 + 2 * i]) for i in range(cfg["n_layer"])]
        start += size
    got = torch.cat(parts, dim=1) if all(p.dim() == 3 for p in parts) else parts[0]
    check_outputs(
        [got, *(t for pair in past for t in pair)],
        [logits, *(t for pair in present for t in pair)],
        names=["logits of every chunk, concatenated"] + output_names(cfg["n_layer"])[1:],
        of="gpt2_forward with your cache",
        case=f"{seed}: {describe(cfg)}, chunks {list(chunks)} (GPT2LMHeadModel live, one full pass)",
        tol=scaled_tol(cfg["dtype"]),
        near=near,
    )


# ---------------------------------------------------------------------------------------------------
# generate_greedy


@pytest.mark.parametrize("seed", [f"generate {i}" for i in range(8)])
def test_generate_greedy_random_configs(impl, seed):
    """generate_greedy equals GPT2LMHeadModel.generate(do_sample=False, eos_token_id=None) up to P tokens."""
    cfg = random_config(f"gpt/hidden/{seed}") | {"eps": 1e-5}
    params = gpt2_params(cfg, f"gpt/hidden/{seed}")
    model = hf_model(cfg, params)
    gen = generator(f"gpt/hidden/{seed}/lengths")
    prompt = int(torch.randint(1, cfg["n_positions"] // 2 + 1, (), generator=gen))
    new = int(torch.randint(1, cfg["n_positions"] - prompt + 1, (), generator=gen))
    ids = torch.randint(0, cfg["vocab"], (cfg["batch"], prompt), generator=gen)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.generate(
            ids,
            do_sample=False,
            max_new_tokens=new,
            eos_token_id=None,
            pad_token_id=0,
            output_scores=True,
            return_dict_in_generate=True,
        )
    gaps = [float((lambda t: t[..., 0] - t[..., 1])(s.double().topk(2).values).min()) for s in out.scores]
    # The seeds are fixed: this holds for every one of them (else the case would have no single answer).
    assert min(gaps) > MIN_GAP, f"{seed}: a greedy step within {min(gaps):.2g} of a tie; choose another seed"
    near = greedy_mistakes(params, cfg["n_head"], ids, new)
    call = f"generate_greedy(params, n_head={cfg['n_head']}, input_ids, max_new_tokens={new})"
    args = dict(params=params, n_head=cfg["n_head"], input_ids=ids, max_new_tokens=new)
    actual = call_impl(impl.generate_greedy, args, call)
    case = f"{seed}: {describe(cfg)}, prompt {shape_name(ids.shape)}, {new} new tokens (GPT2LMHeadModel.generate)"
    check_output(actual, out.sequences, name="token ids", of=call, case=case, tol=EXACT, near=near)


def test_generate_greedy_rejects_negative(impl):
    """max_new_tokens = -1 raises ValueError."""
    cfg = random_config("gpt/hidden/reject")
    params = gpt2_params(cfg, "gpt/hidden/reject")
    with pytest.raises(ValueError):
        impl.generate_greedy(params, cfg["n_head"], torch.zeros(1, 2, dtype=torch.long), -1)


# ---------------------------------------------------------------------------------------------------
# next_token_probs


def hf_probs(logits, temperature, top_k, top_p):
    scores = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k is not None:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p is not None:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return scores.softmax(dim=-1)


def clear_top_p(logits, temperature, top_k, top_p) -> float:
    """top_p, or the nearest value (by steps of 0.2% of it, then of 1 - it) at least 1e-5 from every
    cumulative boundary and splitting no group of ties."""
    for step in range(200):
        for candidate in (top_p * (1 - 0.002 * step), top_p + (1 - top_p) * 0.002 * step):
            if 0 < candidate <= 1 and top_p_clearance(logits, temperature, top_k, candidate) > 1e-5:
                return candidate
    raise AssertionError(f"no clear top_p near {top_p}")


def random_logits(seed: str, dtype, vocab: int, kind: str) -> torch.Tensor:
    if kind == "whole numbers":  # ties everywhere
        return randn((3, vocab), seed, F64, 1.5).round().to(dtype)
    return randn((3, vocab), seed, F64, 2.5).to(dtype)


WARPERS = {}
for _i, (_t, _k, _p, _kind) in enumerate(
    [
        (0.3, None, None, "plain"),
        (3.0, None, None, "plain"),
        (1.0, 3, None, "whole numbers"),
        (0.6, 10, None, "whole numbers"),
        (2.2, 1, None, "whole numbers"),
        (1.0, "V", None, "plain"),
        (1.0, None, 0.001, "plain"),
        (0.4, None, 0.05, "plain"),
        (1.7, None, 0.5, "plain"),
        (1.0, None, 0.9, "plain"),
        (2.5, None, 0.99, "plain"),
        (1.2, None, 0.999, "plain"),
        (1.0, None, 1.0, "plain"),
        (0.7, 12, 0.8, "plain"),
        (1.5, 30, 0.97, "plain"),
        (0.9, 5, 0.3, "plain"),
    ]
):
    for _dtype in (F32, F64):
        for _vocab in (50, 300):
            _name = f"{str(_dtype)[6:]}, V {_vocab}, temperature {_t}, top_k {_k}, top_p near {_p}, {_kind} logits"
            WARPERS[_name] = (_dtype, _vocab, _t, _k, _p, _kind)


@pytest.mark.parametrize("name", list(WARPERS))
def test_next_token_probs_against_warpers(impl, name):
    """next_token_probs equals softmax of Hugging Face's temperature, top-k and top-p warpers (live)."""
    dtype, vocab, temperature, top_k, top_p, kind = WARPERS[name]
    top_k = vocab if top_k == "V" else top_k
    logits = random_logits(f"gpt/hidden/warpers/{name}", dtype, vocab, kind)
    if top_p is not None:
        top_p = clear_top_p(logits, temperature, top_k, top_p)
    expected = hf_probs(logits, temperature, top_k, top_p)
    check_probs(impl, logits, temperature, top_k, top_p, expected, f"{name} (top_p {top_p}; the warpers live)")


# ---------------------------------------------------------------------------------------------------
# lm_loss


@pytest.mark.parametrize("seed", [f"loss {i}" for i in range(3)])
def test_lm_loss_against_model_loss(impl, seed):
    """lm_loss of the model's logits equals GPT2LMHeadModel(input_ids, labels=input_ids).loss."""
    cfg, params, ids, model = model_case(f"gpt/hidden/{seed}")
    if ids.shape[1] < 2:
        ids = torch.cat([ids, ids], dim=1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model(ids, labels=ids)
    # Hugging Face computes its loss in float32 whatever the model's dtype.
    logits = out.logits.float()
    check_loss(
        impl, logits, ids, out.loss.float(), f"{seed}: {describe(cfg)}, ids {shape_name(ids.shape)} (labels= loss)"
    )


@pytest.mark.parametrize(
    "dtype, batch, length, vocab",
    cases({"float64, batch 1, T 2, V 7": (F64, 1, 2, 7), "float32, (5, 33, 120), large logits": (F32, 5, 33, 120)}),
)
def test_lm_loss_more_shapes(impl, dtype, batch, length, vocab):
    """lm_loss equals F.cross_entropy on the shifted tokens for the smallest T and larger shapes."""
    logits = randn((batch, length, vocab), f"gpt/hidden/loss/{dtype}", dtype, 8.0)
    ids = torch.randint(0, vocab, (batch, length), generator=generator(f"gpt/hidden/loss/ids/{dtype}"))
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
    check_loss(impl, logits, ids, expected, f"{dtype}, logits {shape_name(logits.shape)} (F.cross_entropy)")
