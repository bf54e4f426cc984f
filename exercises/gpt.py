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
    # YOUR CODE HERE
    raise NotImplementedError


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
    # YOUR CODE HERE
    raise NotImplementedError


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
    # YOUR CODE HERE
    raise NotImplementedError


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
    # YOUR CODE HERE
    raise NotImplementedError
