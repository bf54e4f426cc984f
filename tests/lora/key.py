"""LoRA's answer key (grader/answers.py): the adapted layer's output as PyTorch's F.linear computes it,
its gradients and a fine-tuning run by autograd and torch.optim.Adam, and what each known mistake
outputs, so that a wrong output is named after the mistakes it matches. peft is the oracle wherever it
can be (the golden data of data/lora/, and live in the hidden tests); these functions cover the shapes
and runs the golden data does not hold. A class release ships their results for the public tests, not
this file.

The `*_mistakes` functions return a thunk (lazy): (Mistake, prediction of every output) pairs, computed
only once a check has failed, for kit.check_outputs(near=...). A prediction equal to the right output
is left out: it cannot tell that mistake from a correct answer on this input (rsLoRA with r = 1, say).
"""

import math

import torch
import torch.nn.functional as F

from grader.answers import recorded
from grader.kit import backward
from tests.lora.mistakes import MISTAKE

F64 = torch.float64


def _d(t):
    return None if t is None else t.detach().to(F64)


def scale_of(r: int, alpha: float, use_rslora: bool = False) -> float:
    """s = alpha / r, or alpha / sqrt(r) for rsLoRA (peft's `scaling`)."""
    return alpha / math.sqrt(r) if use_rslora else alpha / r


def _output(x, weight, bias, lora_A, lora_B, scale, order="AB"):
    """x W^T + b + scale (x A^T) B^T in float64 by F.linear (order "BA": the wrong order, x B A)."""
    x, weight, bias, lora_A, lora_B = _d(x), _d(weight), _d(bias), _d(lora_A), _d(lora_B)
    low_rank = F.linear(F.linear(x, lora_A), lora_B) if order == "AB" else (x @ lora_B) @ lora_A
    return F.linear(x, weight, bias) + scale * low_rank


def _differing(right, predictions):
    """(Mistake, prediction) pairs whose prediction differs from the right outputs (a tuple of them)."""
    found = []
    for m, pred in predictions:
        if pred is None:
            continue
        same = all(
            p is None or (p.shape == r.shape and torch.allclose(p.double(), r.double(), rtol=1e-12, atol=1e-14))
            for p, r in zip(pred, right)
        )
        if not same:
            found.append((MISTAKE[m], pred))
    return found


def _wrong_scales(r, alpha, use_rslora):
    """(mistake, the scale it uses) for the scale mistakes that apply to these settings."""
    found = [("scale-alpha", float(alpha))]
    if use_rslora:
        found.append(("rslora-ignored", alpha / r))
    else:
        found.append(("rslora-always", alpha / math.sqrt(r)))
    return found


# ---------------------------------------------------------------------------------------------------
# Oracles: PyTorch's F.linear, autograd and torch.optim.Adam


@recorded
def lora_output_by_formula(x, weight, bias, lora_A, lora_B, alpha, use_rslora=False):
    """F.linear(x, W, b) + s * F.linear(F.linear(x, A), B), computed in float64, in x's dtype."""
    scale = scale_of(lora_A.shape[0], alpha, use_rslora)
    return _output(x, weight, bias, lora_A, lora_B, scale).to(x.dtype)


@recorded
def lora_gradients_by_autograd(grad_out, x, weight, lora_A, lora_B, alpha, use_rslora=False):
    """(grad_x, grad_A, grad_B) of sum(output * grad_out) by autograd through the F.linear formula, in
    float64, rounded to x's dtype."""
    scale = scale_of(lora_A.shape[0], alpha, use_rslora)

    def f(x, a, b):
        return F.linear(x, _d(weight)) + scale * F.linear(F.linear(x, a), b)

    grads = backward(f, [_d(x), _d(lora_A), _d(lora_B)], _d(grad_out))[1]
    return tuple(g.to(x.dtype) for g in grads)


def initial_A(r, in_features, dtype, seed):
    """peft's default A: kaiming_uniform_(a=sqrt(5)) drawn in `dtype` from Generator().manual_seed(seed)."""
    a = torch.empty(r, in_features, dtype=dtype)
    torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5), generator=torch.Generator().manual_seed(seed))
    return a


def _train(weight, bias, X, Y, r, alpha, steps, lr, seed, scale=None, a_zero=False):
    """A, B and the losses (float64 tensor) of `steps` Adam updates on the MSE, gradients by autograd."""
    scale = scale_of(r, alpha) if scale is None else scale
    lora_A = (
        torch.zeros(r, weight.shape[1], dtype=weight.dtype)
        if a_zero
        else initial_A(r, weight.shape[1], weight.dtype, seed)
    )
    lora_A.requires_grad_(True)
    lora_B = torch.zeros(weight.shape[0], r, dtype=weight.dtype, requires_grad=True)
    optimizer = torch.optim.Adam([lora_A, lora_B], lr=lr)
    losses = []
    for _ in range(steps):
        out = F.linear(X, weight, bias) + scale * F.linear(F.linear(X, lora_A), lora_B)
        loss = ((out - Y) ** 2).mean()
        losses.append(float(loss.detach()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return lora_A.detach(), lora_B.detach(), torch.tensor(losses, dtype=F64)


@recorded
def fine_tune_by_autograd(weight, bias, X, Y, r, alpha, steps, lr, seed=0):
    """(lora_A, lora_B, losses as a float64 tensor): the same training loop with autograd's gradients
    (loss.backward()) and torch.optim.Adam, from peft's initialisation with the same generator."""
    return _train(weight, bias, X, Y, r, alpha, steps, lr, seed)


# ---------------------------------------------------------------------------------------------------
# Mistakes' predictions


@recorded(lazy=True)
def forward_mistakes(x, weight, bias, lora_A, lora_B, alpha, use_rslora=False):
    """lora_forward's output with a wrong scale, and with A and B in the wrong order (in == out)."""
    r = lora_A.shape[0]
    right = (_output(x, weight, bias, lora_A, lora_B, scale_of(r, alpha, use_rslora)),)
    found = [(m, (_output(x, weight, bias, lora_A, lora_B, s),)) for m, s in _wrong_scales(r, alpha, use_rslora)]
    if weight.shape[0] == weight.shape[1]:
        scale = scale_of(r, alpha, use_rslora)
        found.append(("ab-wrong-order", (_output(x, weight, bias, lora_A, lora_B, scale, order="BA"),)))
    return [(m, p[0]) for m, p in _differing(right, found)]


def _gradients(grad_out, x, weight, lora_A, lora_B, scale, mistake=None):
    g, x, weight, lora_A, lora_B = _d(grad_out), _d(x), _d(weight), _d(lora_A), _d(lora_B)
    g_flat, x_flat = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
    grad_hidden = scale * g_flat @ lora_B
    low = (grad_hidden @ lora_A).reshape(x.shape)
    grad_x = g @ weight + (0 if mistake == "grad-x-base-only" else low)
    grad_A = scale * g_flat.T @ x_flat if mistake == "grad-a-missing-b" else grad_hidden.T @ x_flat
    grad_B = scale * g_flat.T @ (x_flat @ lora_A.T)
    return grad_x, grad_A, grad_B


@recorded(lazy=True)
def backward_mistakes(grad_out, x, weight, lora_A, lora_B, alpha, use_rslora=False):
    """(grad_x, grad_A, grad_B) without B in grad_A, without the adapter's path in grad_x, and with a
    wrong scale."""
    r = lora_A.shape[0]
    scale = scale_of(r, alpha, use_rslora)
    right = _gradients(grad_out, x, weight, lora_A, lora_B, scale)
    found = [
        (m, _gradients(grad_out, x, weight, lora_A, lora_B, scale, m)) for m in ("grad-a-missing-b", "grad-x-base-only")
    ]
    found += [(m, _gradients(grad_out, x, weight, lora_A, lora_B, s)) for m, s in _wrong_scales(r, alpha, use_rslora)]
    return _differing(right, found)


def _delta(lora_A, lora_B, scale):
    return scale * _d(lora_B) @ _d(lora_A)


@recorded(lazy=True)
def merge_mistakes(weight, lora_A, lora_B, alpha, use_rslora=False):
    """The merged weight with (B A)^T added (in == out), without the scale, and with a wrong scale."""
    r = lora_A.shape[0]
    scale = scale_of(r, alpha, use_rslora)
    w = _d(weight)
    right = (w + _delta(lora_A, lora_B, scale),)
    found = [("merge-no-scale", (w + _delta(lora_A, lora_B, 1.0),))]
    if weight.shape[0] == weight.shape[1]:
        found.append(("merge-transposed", (w + _delta(lora_A, lora_B, scale).T,)))
    found += [(m, (w + _delta(lora_A, lora_B, s),)) for m, s in _wrong_scales(r, alpha, use_rslora)]
    return [(m, p[0]) for m, p in _differing(right, found)]


@recorded(lazy=True)
def layer_state_mistakes(weight, lora_A, lora_B, alpha, use_rslora, state):
    """The layer's weight after a sequence of calls, `state` being "merged twice" (expected W + s B A),
    "unmerged" (expected W) or "unmerged twice" (expected W), under the mistakes that change it."""
    w = _d(weight)
    delta = _delta(lora_A, lora_B, scale_of(lora_A.shape[0], alpha, use_rslora))
    if state == "merged twice":
        right, found = (w + delta,), [("not-idempotent", (w + 2 * delta,))]
    elif state == "unmerged":
        right, found = (w,), [("unmerge-twice", (w - delta,)), ("unmerge-never", (w + delta,))]
    else:
        right, found = (w,), [("not-idempotent", (w - delta,)), ("unmerge-twice", (w - 2 * delta,))]
    return [(m, p[0]) for m, p in _differing(right, found)]


@recorded(lazy=True)
def layer_output_mistakes(x, weight, bias, lora_A, lora_B, alpha, use_rslora, state):
    """The layer's output (..., out) in `state` ("merged", "merged twice", "unmerged", "unmerged twice")
    under the mistakes that change it: the merged weight as each merge and unmerge mistake leaves it,
    plus the adapter's path while the layer believes it is unmerged."""
    r = lora_A.shape[0]
    scale = scale_of(r, alpha, use_rslora)
    zero_B = torch.zeros_like(_d(lora_B))
    right = (_output(x, weight, bias, lora_A, lora_B, scale),)
    w = _d(weight)
    delta = _delta(lora_A, lora_B, scale)

    def merged_with(new_weight):  # a merged layer: the plain linear layer with that weight
        return (_output(x, new_weight, bias, lora_A, zero_B, scale),)

    def unmerged_with(new_weight):  # an unmerged layer: that weight plus the adapter's path
        return (_output(x, new_weight, bias, lora_A, lora_B, scale),)

    if state == "merged":
        found = [("merge-no-scale", merged_with(w + _delta(lora_A, lora_B, 1.0)))]
        if weight.shape[0] == weight.shape[1]:
            found.append(("merge-transposed", merged_with(w + delta.T)))
        found += [(m, merged_with(w + _delta(lora_A, lora_B, s))) for m, s in _wrong_scales(r, alpha, use_rslora)]
    elif state == "merged twice":
        found = [("not-idempotent", merged_with(w + 2 * delta))]
    elif state == "unmerged":
        found = [("unmerge-twice", unmerged_with(w - delta)), ("unmerge-never", unmerged_with(w + delta))]
    else:
        found = [("not-idempotent", unmerged_with(w - delta)), ("unmerge-twice", unmerged_with(w - 2 * delta))]
    return [(m, p[0]) for m, p in _differing(right, found)]


@recorded(lazy=True)
def fine_tune_mistakes(weight, bias, X, Y, r, alpha, steps, lr, seed=0):
    """(lora_A, lora_B, losses) with the losses recorded after each update, with A starting at zero,
    with a wrong scale, and with the summed instead of the mean squared error (losses only)."""
    right = _train(weight, bias, X, Y, r, alpha, steps, lr, seed)
    a, b, losses = _train(weight, bias, X, Y, r, alpha, steps + 1, lr, seed)
    found = [("losses-after-update", (None, None, losses[1:]))]
    found.append(("a-zero-init", _train(weight, bias, X, Y, r, alpha, steps, lr, seed, a_zero=True)))
    found += [
        (m, _train(weight, bias, X, Y, r, alpha, steps, lr, seed, scale=s)) for m, s in _wrong_scales(r, alpha, False)
    ]
    found.append(("mse-not-mean", (None, None, right[2] * Y.numel())))
    return _differing(right, found)
