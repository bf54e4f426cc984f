"""GPT-2 from scratch: a forward pass that runs Hugging Face's `GPT2LMHeadModel` weights, a key/value
cache for generation, greedy decoding, the sampling filters (temperature, top-k, top-p) and the
language-modelling loss.

GPT-2 is a stack of pre-norm decoder blocks (no cross-attention) between an embedding and an output
layer whose weight is the embedding's (tied):

    x = wte[input_ids] + wpe[positions]                  positions T_past, ..., T_past + T - 1
    for each layer:
        x = x + attn(ln_1(x))                            causal multi-head self-attention
        x = x + mlp(ln_2(x))                             mlp(h) = c_proj(gelu_tanh(c_fc(h)))
    logits = ln_f(x) @ wte.T                             (lm_head.weight is wte.weight)

Parameters are the `state_dict` of `transformers.GPT2LMHeadModel`, names and shapes as they are:

    transformer.wte.weight (V, E)          transformer.wpe.weight (P, E)
    transformer.h.{i}.ln_1.weight, .bias (E,)
    transformer.h.{i}.attn.c_attn.weight (E, 3E), .bias (3E,)   q, k, v side by side, in that order
    transformer.h.{i}.attn.c_proj.weight (E, E), .bias (E,)
    transformer.h.{i}.ln_2.weight, .bias (E,)
    transformer.h.{i}.mlp.c_fc.weight (E, 4E), .bias (4E,)
    transformer.h.{i}.mlp.c_proj.weight (4E, E), .bias (E,)
    transformer.ln_f.weight, .bias (E,)    lm_head.weight (V, E), the same tensor as wte's

GPT-2's linear layers are `Conv1D` modules whose weight is stored (in, out), the TRANSPOSE of
`nn.Linear`'s (out, in): `y = x @ weight + bias`. The number of layers is the number of distinct i in
the `transformer.h.{i}.` keys. Keys the forward does not need (older versions' `attn.bias` and
`attn.masked_bias` buffers) are ignored.

Attention: E splits into n_head heads of head_dim = E / n_head features; scores are
q @ k.T / sqrt(head_dim); a query at absolute position t attends to the keys at positions <= t (the
cached past included). The GELU is GPT-2's tanh approximation ("gelu_new"):
0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))), `F.gelu(x, approximate="tanh")`.

Conventions: every result keeps the parameters' dtype (the logits') and nothing passed in is modified.
`F.scaled_dot_product_attention`, `F.layer_norm` and `F.gelu` are allowed (earlier topics are where
they are written by hand); `transformers`, `nn.MultiheadAttention`, `F.multi_head_attention_forward`
and `nn.Transformer*` are not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def gpt2_forward(
    input_ids: Tensor, params: dict, n_head: int, eps: float = 1e-5, past: list | None = None
) -> tuple[Tensor, list]:
    """GPT-2's forward pass, as `GPT2LMHeadModel(config)(input_ids, past_key_values=...)` in eval mode.

    Args:
        input_ids: (B, T) long, token ids in [0, V).
        params: the model's state_dict (names in the module docstring); float32 or float64.
        n_head: the number of attention heads (divides E).
        eps: the layer norms' epsilon (`config.layer_norm_epsilon`).
        past: None, or the `present` of an earlier call: the sequence so far (T_past tokens) as keys
            and values, which this call extends. Positions then continue from T_past (the new tokens
            are at positions T_past, ..., T_past + T - 1, and T_past + T <= P), and each new token
            attends to every past token and to the new tokens up to itself.

    Returns:
        `(logits, present)`: logits (B, T, V) in the parameters' dtype, the next-token scores at each
        new position; present, a list with one `(K, V)` tuple per layer, each of shape
        (B, n_head, T_past + T, head_dim): the keys and values of the past followed by the new ones
        (after the c_attn projection, split into heads), to pass as `past` to the next call.
    """
    ### BEGIN SOLUTION
    batch, length = input_ids.shape
    embed = params["transformer.wte.weight"].shape[1]
    head_dim = embed // n_head
    n_layer = len({key.split(".")[2] for key in params if key.startswith("transformer.h.")})
    past_length = 0 if past is None else past[0][0].shape[2]

    def norm(h: Tensor, name: str) -> Tensor:
        return F.layer_norm(h, (embed,), params[name + ".weight"], params[name + ".bias"], eps)

    def heads(t: Tensor) -> Tensor:  # (B, T, E) -> (B, n_head, T, head_dim)
        return t.reshape(batch, length, n_head, head_dim).transpose(1, 2)

    positions = torch.arange(past_length, past_length + length, device=input_ids.device)
    x = params["transformer.wte.weight"][input_ids] + params["transformer.wpe.weight"][positions]
    # New token i sits at position past_length + i and sees the keys 0, ..., past_length + i.
    mask = torch.ones(length, past_length + length, dtype=torch.bool, device=x.device).tril(diagonal=past_length)
    present = []
    for i in range(n_layer):
        p = f"transformer.h.{i}."
        qkv = norm(x, p + "ln_1") @ params[p + "attn.c_attn.weight"] + params[p + "attn.c_attn.bias"]
        q, k, v = (heads(t) for t in qkv.split(embed, dim=-1))
        if past is not None:
            k = torch.cat([past[i][0], k], dim=2)
            v = torch.cat([past[i][1], v], dim=2)
        present.append((k, v))
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        attended = attended.transpose(1, 2).reshape(batch, length, embed)
        x = x + attended @ params[p + "attn.c_proj.weight"] + params[p + "attn.c_proj.bias"]
        hidden = norm(x, p + "ln_2") @ params[p + "mlp.c_fc.weight"] + params[p + "mlp.c_fc.bias"]
        hidden = F.gelu(hidden, approximate="tanh")
        x = x + hidden @ params[p + "mlp.c_proj.weight"] + params[p + "mlp.c_proj.bias"]
    logits = norm(x, "transformer.ln_f") @ params["lm_head.weight"].T
    return logits, present
    ### END SOLUTION


def generate_greedy(params: dict, n_head: int, input_ids: Tensor, max_new_tokens: int) -> Tensor:
    """Greedy decoding with the key/value cache, as `GPT2LMHeadModel.generate(input_ids,
    do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=None)`.

    The prompt runs through `gpt2_forward` once; after it, each step runs the newest token alone,
    with the `present` of the step before as `past`. The next token is the argmax of the last
    position's logits (the first index among equal maxima, as torch.argmax). There is no stopping
    at an end-of-text token, and the layer norms' epsilon is 1e-5 (GPT-2's).

    Args:
        params, n_head: as in gpt2_forward.
        input_ids: (B, T) long, the prompts (all of length T); T + max_new_tokens <= P.
        max_new_tokens: how many tokens to add, >= 1 (else ValueError).

    Returns:
        (B, T + max_new_tokens) long: the prompt followed by the generated tokens.
    """
    ### BEGIN SOLUTION
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    logits, past = gpt2_forward(input_ids, params, n_head)
    tokens = [input_ids]
    for step in range(max_new_tokens):
        next_token = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
        tokens.append(next_token)
        if step + 1 < max_new_tokens:
            logits, past = gpt2_forward(next_token, params, n_head, past=past)
    return torch.cat(tokens, dim=1)
    ### END SOLUTION


def next_token_probs(
    logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """The distribution to sample the next token from, as Hugging Face's `TemperatureLogitsWarper`,
    `TopKLogitsWarper` and `TopPLogitsWarper` applied in that order, then a softmax.

    1. temperature: logits / temperature (below 1 sharpens the distribution, above 1 flattens it);
    2. top-k (if top_k is not None): keep the tokens whose scaled logit is >= the k-th largest; every
       token TIED with the k-th is kept too, so more than k may remain;
    3. top-p (if top_p is not None), on the distribution left by step 2: sort the kept tokens from
       most to least likely and keep the smallest set of most likely tokens whose probability reaches
       top_p: a token stays when the probability of the tokens ranked strictly before it is below
       top_p, so the token that crosses the threshold stays, and the most likely token always does;
    4. softmax over the kept tokens; every removed token has probability exactly 0.

    Args:
        logits: (B, V), float32 or float64.
        temperature: > 0, else ValueError.
        top_k: None, or an int with 1 <= top_k <= V, else ValueError.
        top_p: None, or a float with 0 < top_p <= 1, else ValueError.

    Returns:
        (B, V) probabilities in the logits' dtype, each row summing to 1.
    """
    ### BEGIN SOLUTION
    vocab = logits.shape[-1]
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if top_k is not None and not 1 <= top_k <= vocab:
        raise ValueError(f"top_k must be between 1 and the vocabulary size {vocab}, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    scores = logits / temperature
    if top_k is not None:
        kth = scores.topk(top_k, dim=-1).values[..., -1:]  # the k-th largest, (B, 1)
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p is not None:
        sorted_scores, order = scores.sort(dim=-1, descending=True)
        sorted_probs = sorted_scores.softmax(dim=-1)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the tokens ranked before
        remove_sorted = before >= top_p
        remove_sorted[..., 0] = False
        remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
        scores = scores.masked_fill(remove, float("-inf"))
    return scores.softmax(dim=-1)
    ### END SOLUTION


def lm_loss(logits: Tensor, input_ids: Tensor) -> Tensor:
    """The language-modelling loss: position t predicts token t + 1.

        loss = mean over b < B and t < T - 1 of  -log softmax(logits[b, t])[input_ids[b, t + 1]]

    (the mean over the B * (T - 1) predictions; the last position has nothing to predict), as
    `GPT2LMHeadModel(input_ids, labels=input_ids).loss`.

    Args:
        logits: (B, T, V), float32 or float64, T >= 2.
        input_ids: (B, T) long, the tokens the logits were computed from.

    Returns:
        A 0-dim tensor in the logits' dtype.
    """
    ### BEGIN SOLUTION
    vocab = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, vocab), input_ids[:, 1:].reshape(-1))
    ### END SOLUTION
