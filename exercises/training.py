"""The training loop's parts, by hand: initialisation, mini-batches, SGD with momentum, learning-rate
schedules, gradient clipping, and a loop that puts them together.

Autograd is allowed here (the loop calls it for the gradients); what you write is everything around
it, in the conventions of PyTorch, so that every part can be compared with PyTorch's own:

- `kaiming_uniform`, `xavier_uniform`: `torch.nn.init.kaiming_uniform_` and `xavier_uniform_`.
  For a weight of shape (out, in) or (out, in, kh, kw, ...), the receptive field is the product of
  the sizes after the second, `fan_in = in * receptive` and `fan_out = out * receptive`.

      kaiming:  bound = sqrt(3) * gain / sqrt(fan)        fan = fan_in or fan_out (`mode`)
      xavier:   bound = sqrt(3) * gain * sqrt(2 / (fan_in + fan_out))

  and the values are drawn by `torch.empty(shape).uniform_(-bound, bound, generator=generator)`
  (the default dtype), computing the bound in exactly this order (`std` first, then
  `sqrt(3.0) * std`), so that the same generator state gives torch's numbers bit for bit.
  The gains (`torch.nn.init.calculate_gain`): 1 for "linear", "sigmoid" and the conv names, 5/3 for
  "tanh", sqrt(2) for "relu", sqrt(2 / (1 + a**2)) for "leaky_relu", 3/4 for "selu".
- `batches`: the index batches of `torch.utils.data.DataLoader(range(n), batch_size, shuffle,
  drop_last, generator)` for one epoch. DataLoader's iterator first draws one int64 from the
  generator (its "base seed", used for worker processes, not for the order), then, when shuffling
  with a generator, `torch.randperm(n, generator=generator)`, and, as the epoch ends, a second
  `torch.randperm(n, generator=generator)` whose result is not used (RandomSampler's loop asks for
  the remainder `num_samples % n` of a last permutation: an empty slice of a new one). When
  shuffling without a generator, it draws one more int64 from the global generator and seeds a
  fresh `torch.Generator()` with it for both permutations. One permutation per epoch, cut into
  consecutive batches; the last, shorter batch is kept unless `drop_last`.
- `sgd_step`: one update of `torch.optim.SGD`, for every parameter:

      g = -grad if maximize else grad
      g = g + weight_decay * p                           (when weight_decay != 0)
      buf = g (a copy) on the first step, else momentum * buf + (1 - dampening) * g
                                                         (when momentum != 0)
      g = g + momentum * buf if nesterov else buf        (when momentum != 0)
      p = p - lr * g

- `lr_at`: the learning rate at a 0-based step of a schedule.
- `clip_grad_norm`: `torch.nn.utils.clip_grad_norm_`: one norm over all the tensors together, and
  every tensor multiplied by `min(1, max_norm / (total_norm + 1e-6))`.
- `fit`: mini-batch training of a ReLU network with the parts above.

Conventions: no argument is modified in place (return new tensors); results keep the dtype of the
inputs. Without `torch.optim`, `torch.nn.init`, `torch.utils.data` or torch's gradient clipping.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of `shape`, as torch.nn.init computes them."""
    # YOUR CODE HERE
    raise NotImplementedError


def _gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain of `torch.nn.init.calculate_gain(nonlinearity, param)`."""
    # YOUR CODE HERE
    raise NotImplementedError


def kaiming_uniform(
    shape: tuple[int, ...],
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """A new tensor of `shape` (default dtype) drawn as `torch.nn.init.kaiming_uniform_` draws it.

    Args:
        shape: (out, in) or (out, in, kh, kw, ...).
        a: the negative slope of leaky_relu (used by the gain only for "leaky_relu"); 0 gives
            relu's gain sqrt(2).
        mode: "fan_in" (keeps the forward pass's variance) or "fan_out" (the backward pass's).
        nonlinearity: the name of the nonlinearity after this layer, for the gain.
        generator: where the random numbers come from; None for torch's global generator.

    Returns:
        Values uniform in [-bound, bound] with bound = sqrt(3) * gain / sqrt(fan).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def xavier_uniform(shape: tuple[int, ...], gain: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """A new tensor of `shape` (default dtype) drawn as `torch.nn.init.xavier_uniform_` draws it.

    Returns:
        Values uniform in [-bound, bound] with bound = sqrt(3) * gain * sqrt(2 / (fan_in + fan_out)).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def batches(
    n: int, batch_size: int, shuffle: bool = False, drop_last: bool = False, generator: torch.Generator | None = None
) -> list[Tensor]:
    """One epoch of index batches, exactly those of
    `DataLoader(range(n), batch_size, shuffle=shuffle, drop_last=drop_last, generator=generator)`.

    Returns:
        A list of int64 tensors of indices into range(n), in order; every batch has `batch_size`
        indices except the last, which has the rest (dropped when `drop_last`). The generator (or
        the global one) advances exactly as DataLoader's iteration advances it.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def sgd_step(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor | None],
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> tuple[list[Tensor], list[Tensor | None]]:
    """One update of `torch.optim.SGD` over a list of parameters.

    Args:
        params, grads: the parameters and their gradients, one tensor each, in the same order.
        bufs: the momentum buffers from the previous step, one per parameter: None before the
            first step (no buffer yet).
        lr, momentum, dampening, weight_decay, nesterov, maximize: as in torch.optim.SGD.

    Returns:
        (new_params, new_bufs): new tensors. While `momentum` is 0 there is no buffer and every
        entry of new_bufs stays None; otherwise each is the buffer after this step. The inputs are
        left unchanged.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def lr_at(step: int, schedule: dict) -> float:
    """The learning rate at 0-based `step` of `schedule`, one of:

    - {"kind": "step", "lr", "step_size", "gamma"}: `lr * gamma ** (step // step_size)`, StepLR's
      value after `step` calls of scheduler.step();
    - {"kind": "cosine", "lr", "T_max", "eta_min"}: CosineAnnealingLR's value,
      `eta_min + (lr - eta_min) * (1 + cos(pi * step / T_max)) / 2`, for 0 <= step <= T_max;
    - {"kind": "warmup_cosine", "lr", "min_lr", "warmup", "total"}: `lr * step / warmup` while
      step < warmup, then the cosine from `lr` (at step == warmup) down to `min_lr` (at
      step == total), and `min_lr` after total. `warmup` may be 0; total > warmup.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def clip_grad_norm(grads: list[Tensor], max_norm: float, norm_type: float = 2.0) -> tuple[list[Tensor], Tensor]:
    """Clip gradients by their global norm, as `torch.nn.utils.clip_grad_norm_` does.

    Args:
        grads: tensors of any shapes (one dtype).
        max_norm: the largest norm allowed.
        norm_type: p of the p-norm; `float("inf")` for the largest absolute value.

    Returns:
        (clipped, total_norm): new tensors, each grad times min(1, max_norm / (total_norm + 1e-6)),
        and the norm of all the grads together (the norm of the per-tensor norms) before clipping,
        a 0-dim tensor. The inputs are left unchanged.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def fit(
    weights: list[Tensor],
    biases: list[Tensor],
    X: Tensor,
    y: Tensor,
    loss: str,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    schedule: dict | None = None,
    max_norm: float | None = None,
    seed: int = 0,
) -> tuple[list[Tensor], list[Tensor], list[float]]:
    """Train the MLP `x -> W_L(... relu(W_1 x + b_1) ...) + b_L` with mini-batch SGD.

    Args:
        weights, biases: the layers' parameters, W_i of shape (out, in) and b_i of shape (out,),
            first layer first; ReLU between layers, none after the last.
        X: inputs, (n, in). y: targets, integer classes (n,) for "cross_entropy", (n, out) for "mse".
        loss: "cross_entropy" (mean over the batch) or "mse" (mean over all elements).
        epochs, batch_size: epoch e (from 0) visits
            `batches(n, batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed + e))`.
        lr, momentum, weight_decay: for sgd_step (dampening 0, no Nesterov).
        schedule: None for the constant `lr`; otherwise the learning rate of step k (counted over
            all epochs, from 0) is `lr_at(k, schedule)` and `lr` is not used.
        max_norm: when set, the gradients are clipped to this global 2-norm before each update.

    Per batch: forward, loss, autograd gradients of the loss, clipping (when max_norm is set), then
    one sgd_step at this step's learning rate.

    Returns:
        (weights, biases, losses): the trained parameters (new tensors, no autograd history), and
        every step's loss (a float) computed before that step's update.
    """
    # YOUR CODE HERE
    raise NotImplementedError
