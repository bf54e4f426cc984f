"""Adam, by hand.

Adam (Kingma & Ba, 2015) keeps two running averages per parameter: the first moment `m` (a momentum
of the gradient) and the second moment `v` (of the squared gradient). The step divides one by the
square root of the other, so every coordinate moves by roughly `lr`, whatever the scale of its
gradient.

One update, number `t` (1-based), for a parameter `p` with gradient `g`, in the conventions of
`torch.optim.Adam`:

    if weight_decay != 0 and not decoupled:      g = g + weight_decay * p        (L2, "Adam")
    if weight_decay != 0 and decoupled:          p = p * (1 - lr * weight_decay)  ("AdamW")
    m     = beta1 * m + (1 - beta1) * g
    v     = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1 ** t)                  bias correction: m and v start at 0
    v_hat = v / (1 - beta2 ** t)
    p     = p - lr * m_hat / (sqrt(v_hat) + eps)  eps outside the square root

AdamW (Loshchilov & Hutter, 2019) decays the weights directly instead of adding the decay to the
gradient, so the decay is not rescaled by 1 / sqrt(v_hat).

Conventions: every tensor argument keeps its shape and dtype in the results; `step` counts from 1;
no argument is modified in place (return new tensors). Without `torch.optim`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def adam_step(
    param: Tensor,
    grad: Tensor,
    m: Tensor,
    v: Tensor,
    step: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """One Adam update of one parameter.

    Args:
        param: the parameter's current value, any shape.
        grad: the gradient of the loss with respect to `param`, same shape.
        m: first-moment estimate from the previous step (zeros before the first step), same shape.
        v: second-moment estimate from the previous step (zeros before the first step), same shape.
        step: the 1-based number of this update (1 for the first).
        lr, betas, eps: as in `torch.optim.Adam`.
        weight_decay: decay coefficient; 0 disables it.
        decoupled_weight_decay: False adds `weight_decay * param` to the gradient (Adam with L2);
            True multiplies the parameter by `1 - lr * weight_decay` before the update (AdamW).

    Returns:
        `(new_param, new_m, new_v)`, new tensors of the shape and dtype of `param`. The inputs are
        left unchanged.
    """
    ### BEGIN SOLUTION
    beta1, beta2 = betas
    if weight_decay != 0:
        if decoupled_weight_decay:
            param = param * (1 - lr * weight_decay)
        else:
            grad = grad + weight_decay * param
    new_m = beta1 * m + (1 - beta1) * grad
    new_v = beta2 * v + (1 - beta2) * grad * grad
    m_hat = new_m / (1 - beta1 ** step)
    v_hat = new_v / (1 - beta2 ** step)
    new_param = param - lr * m_hat / (torch.sqrt(v_hat) + eps)
    return new_param, new_m, new_v
    ### END SOLUTION


class Adam:
    """An Adam optimizer over a list of tensors, with the state kept in the instance.

    `Adam(params, ...)` takes a list of tensors (the initial values) and the hyperparameters of
    `adam_step`. It keeps its own copies: the caller's tensors are never modified.

    Attributes:
        params: list of the current values, in the order given.

    Every instance has its own moments and step count: two optimizers never share state.
    """

    def __init__(
        self,
        params: list[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
    ) -> None:
        ### BEGIN SOLUTION
        self.params = [p.detach().clone() for p in params]
        self.lr, self.betas, self.eps = lr, betas, eps
        self.weight_decay = weight_decay
        self.decoupled_weight_decay = decoupled_weight_decay
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0
        ### END SOLUTION

    def step(self, grads: list[Tensor]) -> list[Tensor]:
        """Apply one update to every parameter.

        Args:
            grads: one gradient per parameter, in the order of `params`, same shapes.

        Returns:
            The new values of the parameters (also stored in `self.params`).
        """
        ### BEGIN SOLUTION
        self.t += 1
        for i, grad in enumerate(grads):
            self.params[i], self.m[i], self.v[i] = adam_step(
                self.params[i], grad, self.m[i], self.v[i], self.t,
                lr=self.lr, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay,
                decoupled_weight_decay=self.decoupled_weight_decay,
            )
        return list(self.params)
        ### END SOLUTION
