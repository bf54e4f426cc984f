"""LoRA (Hu et al., 2021), by hand: a low-rank adapter beside a frozen linear layer, its backward pass,
a layer that merges the adapter into its weight and takes it out again, and fine-tuning that trains the
adapter alone.

A linear layer `y = x W^T + b` (W of shape (out, in), as nn.Linear) is adapted by two small matrices,
A of shape (r, in) and B of shape (out, r), the rank r much smaller than in and out:

    y = x W^T + b + s (x A^T) B^T        s = alpha / r              (LoRA)
                                         s = alpha / sqrt(r)        (rsLoRA, use_rslora=True)

W and b stay frozen; only A and B are trained (r (in + out) numbers instead of out * in). The update
s B A has rank at most r, and it can be folded into the weight once training is done (merge):
W' = W + s B A gives the same outputs with no extra cost at inference.

Initialisation (peft's default, `init_lora_weights=True`): A as nn.Linear's weight,
`kaiming_uniform_(A, a=sqrt(5))` (uniform in [-1/sqrt(in), 1/sqrt(in)]), and B = 0, so that the adapted
layer starts exactly as the base layer, and A gets a gradient as soon as B has moved.

The gradients of a loss L, with g = dL/dy (..., out) and h = x A^T (..., r), summed over every
leading position:

    dL/dx = g W + s (g B) A        dL/dB = s g^T h        dL/dA = s (g B)^T x

Conventions: x has any number of leading dimensions (..., in); results keep x's dtype; nothing passed
in is modified (LoRALinear keeps copies). `peft` and autograd (`.backward()`, `torch.autograd`,
`torch.func`) are not allowed: the gradients come from `lora_backward`. `torch.optim.Adam` is allowed in
`fine_tune`, and so are `torch.nn.init` and `requires_grad=True` (A and B are marked trainable, as
peft marks them, even though nothing here calls autograd).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def lora_forward(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    lora_A: Tensor,
    lora_B: Tensor,
    alpha: float,
    use_rslora: bool = False,
) -> Tensor:
    """The output of a LoRA linear layer (peft's LoRA `Linear` with lora_dropout=0).

    Args:
        x: (..., in), any number of leading dimensions.
        weight: (out, in), the frozen base weight (nn.Linear's layout); bias: (out,) or None.
        lora_A: (r, in); lora_B: (out, r). r is lora_A.shape[0] and may exceed in or out.
        alpha: the LoRA alpha. The adapter's path is scaled by s = alpha / r, or by
            s = alpha / sqrt(r) when use_rslora is True (rank-stabilised LoRA).

    Returns:
        x W^T + b + s (x A^T) B^T, of shape (..., out), in x's dtype. Computing x A^T first (then
        times B^T) costs r (in + out) per row; forming B A first would cost out * in.
    """
    ### BEGIN SOLUTION
    r = lora_A.shape[0]
    scale = alpha / math.sqrt(r) if use_rslora else alpha / r
    out = x @ weight.T + scale * ((x @ lora_A.T) @ lora_B.T)
    if bias is not None:
        out = out + bias
    return out
    ### END SOLUTION


def lora_backward(
    grad_out: Tensor,
    x: Tensor,
    weight: Tensor,
    lora_A: Tensor,
    lora_B: Tensor,
    alpha: float,
    use_rslora: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """The gradients of lora_forward, by hand (no autograd).

    Args:
        grad_out: (..., out), dL/dy for y = lora_forward(x, weight, bias, lora_A, lora_B, alpha,
            use_rslora); the bias does not enter any of the gradients below.
        x, weight, lora_A, lora_B, alpha, use_rslora: as in lora_forward.

    Returns:
        (grad_x, grad_A, grad_B): grad_x of x's shape, through BOTH paths, the frozen base and the
        adapter (g W + s (g B) A); grad_A of shape (r, in), s (g B)^T x; grad_B of shape (out, r),
        s g^T (x A^T); the last two summed over every leading position of x. All in x's dtype.
    """
    ### BEGIN SOLUTION
    r = lora_A.shape[0]
    scale = alpha / math.sqrt(r) if use_rslora else alpha / r
    grad_flat = grad_out.reshape(-1, grad_out.shape[-1])  # (N, out)
    x_flat = x.reshape(-1, x.shape[-1])  # (N, in)
    hidden = x_flat @ lora_A.T  # (N, r): what B sees
    grad_hidden = scale * (grad_flat @ lora_B)  # (N, r): dL/d(x A^T)
    grad_x = grad_out @ weight + (grad_hidden @ lora_A).reshape(x.shape)
    grad_A = grad_hidden.T @ x_flat
    grad_B = scale * (grad_flat.T @ hidden)
    return grad_x, grad_A, grad_B
    ### END SOLUTION


class LoRALinear:
    """A frozen linear layer with a LoRA adapter, initialised as peft does by default.

    `LoRALinear(weight, bias, r, alpha, use_rslora=False, seed=0)`:
        weight: (out, in); bias: (out,) or None. The layer keeps COPIES, as the attributes `weight`
            and `bias`, which do not require grad (the base is frozen); the caller's tensors are
            never modified, not even by merge().
        r: the rank; alpha, use_rslora: the scale s, as in lora_forward.
        seed: lora_A is drawn from `torch.Generator().manual_seed(seed)`, in weight's dtype, by
            `torch.nn.init.kaiming_uniform_(lora_A, a=math.sqrt(5), generator=...)` (peft's default:
            uniform in [-1/sqrt(in), 1/sqrt(in)]), shape (r, in); lora_B is zeros, (out, r). Both
            require grad (they are the trainable parameters).

    Attributes: weight, bias, lora_A, lora_B, merged (bool, False at first).
    Methods:
        forward(x): x (..., in) -> (..., out), lora_forward with the layer's tensors while unmerged,
            the plain linear layer x W^T + b with the merged weight while merged (the same outputs,
            within rounding). Calling the layer is forward.
        merge(): weight <- weight + s B A, merged = True; does nothing if already merged.
        unmerge(): weight <- weight - s B A, merged = False; does nothing if not merged.
        trainable_parameters(): [lora_A, lora_B], the layer's own tensors (what an optimizer gets).
        num_trainable(): the number of trainable values, r * in + out * r.
        load_adapter(lora_A, lora_B): given (not an exercise): copies an adapter into the layer.
    """

    def __init__(
        self, weight: Tensor, bias: Tensor | None, r: int, alpha: float, use_rslora: bool = False, seed: int = 0
    ):
        ### BEGIN SOLUTION
        self.weight = weight.detach().clone()
        self.bias = None if bias is None else bias.detach().clone()
        self.r, self.alpha, self.use_rslora = r, alpha, use_rslora
        self.scaling = alpha / math.sqrt(r) if use_rslora else alpha / r
        out_features, in_features = weight.shape
        generator = torch.Generator().manual_seed(seed)
        lora_A = torch.empty(r, in_features, dtype=weight.dtype)
        torch.nn.init.kaiming_uniform_(lora_A, a=math.sqrt(5), generator=generator)
        self.lora_A = lora_A.requires_grad_(True)
        self.lora_B = torch.zeros(out_features, r, dtype=weight.dtype, requires_grad=True)
        self.merged = False
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """(..., in) -> (..., out): the adapted layer's output (see the class docstring)."""
        ### BEGIN SOLUTION
        if self.merged:
            out = x @ self.weight.T
            return out if self.bias is None else out + self.bias
        return lora_forward(x, self.weight, self.bias, self.lora_A, self.lora_B, self.alpha, self.use_rslora)
        ### END SOLUTION

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def merge(self) -> None:
        """Fold s B A into weight (once: a second call does nothing)."""
        ### BEGIN SOLUTION
        if self.merged:
            return
        delta = self.scaling * (self.lora_B @ self.lora_A).detach()
        self.weight = self.weight + delta
        self.merged = True
        ### END SOLUTION

    def unmerge(self) -> None:
        """Take s B A out of weight again (once: a second call, or a call before merge, does nothing)."""
        ### BEGIN SOLUTION
        if not self.merged:
            return
        delta = self.scaling * (self.lora_B @ self.lora_A).detach()
        self.weight = self.weight - delta
        self.merged = False
        ### END SOLUTION

    def trainable_parameters(self) -> list[Tensor]:
        """[lora_A, lora_B]: the layer's own tensors, not copies."""
        ### BEGIN SOLUTION
        return [self.lora_A, self.lora_B]
        ### END SOLUTION

    def num_trainable(self) -> int:
        """The number of trainable values (as peft's get_nb_trainable_parameters counts them)."""
        ### BEGIN SOLUTION
        return sum(p.numel() for p in self.trainable_parameters())
        ### END SOLUTION

    def load_adapter(self, lora_A: Tensor, lora_B: Tensor) -> None:
        """Given, not an exercise: copy lora_A (r, in) and lora_B (out, r) into the layer's own lora_A
        and lora_B, in place (they keep requiring grad). The tests use it to put a known, or trained,
        adapter in your layer. Only while unmerged: the merged weight holds the old adapter."""
        if self.merged:
            raise RuntimeError("load_adapter needs an unmerged layer: call unmerge() first")
        with torch.no_grad():
            self.lora_A.copy_(lora_A)
            self.lora_B.copy_(lora_B)


def fine_tune(
    weight: Tensor,
    bias: Tensor | None,
    X: Tensor,
    Y: Tensor,
    r: int,
    alpha: float,
    steps: int,
    lr: float,
    seed: int = 0,
) -> tuple[Tensor, Tensor, list[float]]:
    """Train a LoRA adapter of rank r on a frozen layer to fit Y from X, with the mean squared error.

    Args:
        weight: (out, in), bias: (out,) or None: the frozen base (never modified).
        X: (N, in) inputs; Y: (N, out) targets.
        r, alpha: the adapter (s = alpha / r); seed: its initialisation.
        steps: the number of updates; lr: Adam's learning rate.

    Starts from `LoRALinear(weight, bias, r, alpha, seed=seed)`'s lora_A and lora_B and trains only
    them, with `torch.optim.Adam(layer.trainable_parameters(), lr=lr)` (default betas and eps). Each
    step: the loss L = mean((lora_forward(X, ...) - Y) ** 2) over all N * out values, then the
    gradients of A and B from YOUR lora_backward with grad_out = dL/dy = 2 (y - Y) / (N * out),
    stored in each parameter's `.grad`, then one `optimizer.step()`.

    Returns:
        (lora_A, lora_B, losses): the trained A (r, in) and B (out, r), in weight's dtype, and the
        `steps` losses as Python floats, each computed BEFORE its update (losses[0] is the loss of
        the untouched base, since B starts at zero).
    """
    ### BEGIN SOLUTION
    layer = LoRALinear(weight, bias, r, alpha, seed=seed)
    lora_A, lora_B = layer.trainable_parameters()
    optimizer = torch.optim.Adam([lora_A, lora_B], lr=lr)
    losses = []
    with torch.no_grad():
        for _ in range(steps):
            diff = lora_forward(X, layer.weight, layer.bias, lora_A, lora_B, alpha) - Y
            losses.append(float((diff * diff).mean()))
            grad_out = 2 * diff / diff.numel()
            _, lora_A.grad, lora_B.grad = lora_backward(grad_out, X, layer.weight, lora_A, lora_B, alpha)
            optimizer.step()
    return lora_A.detach().clone(), lora_B.detach().clone(), losses
    ### END SOLUTION
