"""A tiny decoder-only language model for the DoLa topic (provided: use it, do not write it).

    from provided.tiny_lm import TinyLM
    model = TinyLM()                      # vocabulary 64, width 32, 8 layers, 4 heads, seed 0
    logits = model.layer_logits(ids)      # (num_layers + 1, B, T, V)

A GPT-style pre-norm transformer: token and position embeddings, `num_layers` blocks of causal
self-attention and a GELU MLP, each added to the residual stream, then a final layer norm and an
LM head (a separate matrix, not tied to the embeddings). Its weights are random but deterministic:
the same arguments always give the same model, so its "text" is meaningless but reproducible.

`layer_logits(input_ids)` is the early exit DoLa needs (Chuang et al. 2023, as in the paper's
code): entry j < num_layers is the LM head applied to hidden state j WITHOUT the final norm
(entry 0: the embeddings; entry j: the residual stream after block j), and the last entry,
number `num_layers`, is the model's normal output, the LM head after the final norm.

The constructor takes plain numbers only and keeps them in `self.init_kwargs` (see
provided/README.md): the grader can rebuild the same model elsewhere from them. The model is
written with elementary tensor operations only (no nn.Module, no fused attention or softmax), so it
runs the same whatever APIs a topic forbids; it never keeps a gradient graph, and it runs its
matrix products on one thread (restoring the caller's setting), which is fastest at this size.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["TinyLM"]


def _layer_norm(x: Tensor, gain: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gain + bias


def _softmax(x: Tensor) -> Tensor:
    """Softmax over the last dimension, by hand; rows of -inf except one entry are fine."""
    shifted = x - x.max(dim=-1, keepdim=True).values
    e = torch.exp(shifted)
    return e / e.sum(dim=-1, keepdim=True)


class _OneThread:
    """Run the model's tiny matrix products on one thread, then restore the setting.

    On matrices this small, starting and synchronising a thread pool costs more than the work
    (from 1.5 ms to 10-100 ms per call when other processes keep the cores busy).
    """

    def __enter__(self):
        self._threads = torch.get_num_threads()
        if self._threads != 1:
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        if self._threads != 1:
            torch.set_num_threads(self._threads)
        return False


def _gelu(x: Tensor) -> Tensor:
    """GELU, tanh approximation (as GPT-2)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


class TinyLM:
    """A tiny causal language model with deterministic random weights (float32, CPU).

    Args:
        vocab_size: number of token ids (ids are 0 .. vocab_size - 1).
        width: the hidden size (a multiple of num_heads).
        num_layers: number of transformer blocks.
        num_heads: attention heads per block.
        max_len: the longest sequence the position embeddings cover.
        seed: the seed of the weights.

    Attributes:
        vocab_size, width, num_layers, num_heads, max_len, seed: as given.
        init_kwargs: the constructor's arguments, as a dict of plain numbers.
    """

    def __init__(
        self,
        vocab_size: int = 64,
        width: int = 32,
        num_layers: int = 8,
        num_heads: int = 4,
        max_len: int = 64,
        seed: int = 0,
    ) -> None:
        for name, value in (
            ("vocab_size", vocab_size),
            ("width", width),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("max_len", max_len),
            ("seed", seed),
        ):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"TinyLM: {name} must be an int, got {type(value).__name__}")
        if min(vocab_size, width, num_layers, num_heads, max_len) < 1 or width % num_heads:
            raise ValueError("TinyLM: sizes must be positive and width a multiple of num_heads")
        self.init_kwargs = dict(
            vocab_size=vocab_size, width=width, num_layers=num_layers, num_heads=num_heads, max_len=max_len, seed=seed
        )
        self.vocab_size, self.width, self.num_layers = vocab_size, width, num_layers
        self.num_heads, self.max_len, self.seed = num_heads, max_len, seed

        gen = torch.Generator().manual_seed(seed)

        def randn(*shape: int, std: float) -> Tensor:
            return torch.randn(*shape, generator=gen) * std

        def near_one(n: int) -> Tensor:  # layer-norm gains: around 1, not all equal
            return 1.0 + randn(n, std=0.1)

        d, hidden = width, 4 * width
        self.token_embedding = randn(vocab_size, d, std=1.0)
        self.position_embedding = randn(max_len, d, std=0.3)
        # The blocks write into the residual stream with outputs of about the stream's size, so
        # that the early-exit distributions drift from layer to layer (what DoLa contrasts).
        self.blocks = []
        for _ in range(num_layers):
            self.blocks.append(
                dict(
                    ln1_gain=near_one(d),
                    ln1_bias=randn(d, std=0.1),
                    w_qkv=randn(d, 3 * d, std=1.0 / math.sqrt(d)),
                    w_out=randn(d, d, std=1.0 / math.sqrt(d)),
                    ln2_gain=near_one(d),
                    ln2_bias=randn(d, std=0.1),
                    w_in=randn(d, hidden, std=1.0 / math.sqrt(d)),
                    b_in=randn(hidden, std=0.1),
                    w_mlp_out=randn(hidden, d, std=1.0 / math.sqrt(hidden)),
                )
            )
        self.final_gain, self.final_bias = near_one(d), randn(d, std=0.1)
        self.lm_head = randn(d, vocab_size, std=2.5 / math.sqrt(d))
        causal = torch.ones(max_len, max_len, dtype=torch.bool).tril()
        self._blocked = ~causal  # True where a query may NOT look (a later key)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.init_kwargs.items())
        return f"TinyLM({args})"

    def _check_ids(self, input_ids) -> Tensor:
        if not isinstance(input_ids, Tensor):
            raise TypeError(f"TinyLM: input_ids must be a torch.Tensor, got {type(input_ids).__name__}")
        if input_ids.dim() != 2:
            raise ValueError(f"TinyLM: input_ids must have shape (B, T), got {tuple(input_ids.shape)}")
        if input_ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"TinyLM: input_ids must hold integer ids, got dtype {input_ids.dtype}")
        batch, length = input_ids.shape
        if batch < 1 or length < 1:
            raise ValueError(f"TinyLM: input_ids must hold at least one token, got {tuple(input_ids.shape)}")
        if length > self.max_len:
            raise ValueError(f"TinyLM: sequences of at most {self.max_len} tokens, got {length}")
        if bool((input_ids < 0).any()) or bool((input_ids >= self.vocab_size).any()):
            raise ValueError(f"TinyLM: token ids must lie in [0, {self.vocab_size})")
        return input_ids.long()

    def _block(self, x: Tensor, p: dict) -> Tensor:
        batch, length, d = x.shape
        heads, head_dim = self.num_heads, d // self.num_heads
        h = _layer_norm(x, p["ln1_gain"], p["ln1_bias"])
        q, k, v = (h @ p["w_qkv"]).split(d, dim=-1)
        q, k, v = (t.reshape(batch, length, heads, head_dim).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim)
        scores = scores.masked_fill(self._blocked[:length, :length], float("-inf"))
        attended = (_softmax(scores) @ v).transpose(1, 2).reshape(batch, length, d)
        x = x + attended @ p["w_out"]
        h = _layer_norm(x, p["ln2_gain"], p["ln2_bias"])
        return x + _gelu(h @ p["w_in"] + p["b_in"]) @ p["w_mlp_out"]

    def hidden_states(self, input_ids: Tensor) -> list[Tensor]:
        """The residual stream before the final norm: num_layers + 1 tensors of shape (B, T, width)
        (entry 0 the embeddings, entry j the output of block j)."""
        ids = self._check_ids(input_ids)
        with torch.no_grad(), _OneThread():
            x = self.token_embedding[ids] + self.position_embedding[: ids.shape[1]]
            states = [x]
            for p in self.blocks:
                x = self._block(x, p)
                states.append(x)
        return states

    def layer_logits(self, input_ids: Tensor) -> Tensor:
        """Early-exit logits of every layer, and the model's own output.

        Args:
            input_ids: LongTensor (B, T) of token ids in [0, vocab_size), 1 <= T <= max_len.

        Returns:
            float32 tensor (num_layers + 1, B, T, vocab_size). Entry j < num_layers is the LM head on
            hidden state j without the final norm (0: the embeddings); entry num_layers is the
            model's normal output, the LM head on the last hidden state after the final norm.
            Position t's logits predict token t + 1 from tokens 0..t (causal).
        """
        states = self.hidden_states(input_ids)
        with torch.no_grad(), _OneThread():
            final = _layer_norm(states[-1], self.final_gain, self.final_bias)
            return torch.stack(states[:-1] + [final]) @ self.lm_head

    def logits(self, input_ids: Tensor) -> Tensor:
        """The model's normal output, (B, T, vocab_size): the last entry of `layer_logits`."""
        return self.layer_logits(input_ids)[-1]
