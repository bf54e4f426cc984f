"""autograd's answer key (grader/answers.py): what known mistakes output on a test's own inputs, so
that a wrong output is named after the mistake it matches. Each prediction applies a mistaken
gradient rule with torch operations (or torch autograd on inputs copied to a broadcast shape); none
is the oracle of a test (PyTorch autograd is). A class release ships their results for the public
tests, not this file.

Each function returns (mistake id, prediction) pairs, a prediction listing every output of the
test's call in order (the result, then the gradient of each input), None where the mistake does not
change an output or cannot be predicted there.
"""

import torch

from grader import kit
from grader.answers import recorded


def _sum_to(grad, shape):
    """grad summed over the leading dimensions it has beyond `shape`, then over the size-1 ones."""
    lead = grad.dim() - len(shape)
    if lead > 0:
        grad = grad.sum(dim=tuple(range(lead)))
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(dim=dims, keepdim=True) if dims else grad


def _leading_summed(grad, shape):
    lead = grad.dim() - len(shape)
    return grad.sum(dim=tuple(range(lead))) if lead > 0 else grad


def _unreduced(fn, inputs, grad_out, full_shapes):
    """The gradients with respect to the inputs copied to `full_shapes` (broadcasting's copies, kept)."""
    expanded = [x.expand(s).clone() for x, s in zip(inputs, full_shapes)]
    return list(kit.backward(fn, expanded, grad_out)[1])


def _reverse(t):
    """t.T on a tensor of any rank: every dimension reversed."""
    return t.permute(*range(t.dim() - 1, -1, -1))


def _predictions(kind, fn, inputs, grad_out, params):
    out, grads = kit.backward(fn, inputs, grad_out)
    found = []
    if kind in ("binary", "matmul"):
        if kind == "binary":
            full = torch.broadcast_shapes(*[x.shape for x in inputs])
            shapes = [full] * len(inputs)
        else:
            a, b = inputs
            batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            shapes = [batch + a.shape[-2:], batch + b.shape[-2:]]
        unreduced = _unreduced(fn, inputs, grad_out, shapes)
        found.append(("grad-not-reduced", [None, *unreduced]))
        found.append(
            ("reduce-forgets-size-one", [None, *[_leading_summed(g, x.shape) for g, x in zip(unreduced, inputs)]])
        )
        if kind == "matmul":
            found.append(("matmul-batch-not-summed", [None, *unreduced]))
            a, b = inputs
            try:
                swapped = [_sum_to(grad_out @ _reverse(b), a.shape), _sum_to(_reverse(a) @ grad_out, b.shape)]
            except RuntimeError:  # the shapes do not fit: the mistaken code raises an error instead
                swapped = None
            if swapped is not None and all(s.shape == x.shape for s, x in zip(swapped, inputs)):
                found.append(("matmul-transpose-batched", [None, *swapped]))
    if "denominator" in params:
        k = params["denominator"]
        flipped = [None] * len(inputs)
        flipped[k] = -grads[k]
        found.append(("div-denominator-sign", [None, *flipped]))
    if kind == "sum" and not params.get("keepdim", False):
        (x,) = inputs
        try:
            wrong = torch.broadcast_to(grad_out, x.shape).clone()
        except RuntimeError:
            wrong = None
        if wrong is not None:
            found.append(("sum-keepdim-not-restored", [None, wrong]))
    if kind == "mean":
        (x,) = inputs
        count = x.numel() // max(out.numel(), 1)
        found.append(("mean-divides-by-numel", [None, grads[0] * count / x.numel()]))
    if kind == "max":
        (x,) = inputs
        dim, keepdim = params["dim"], params.get("keepdim", False)
        values = x.amax(dim=dim, keepdim=True)
        g = grad_out if keepdim else grad_out.unsqueeze(dim)
        found.append(("max-grad-to-all-ties", [None, (x == values) * g]))
    if kind == "log_softmax":
        (x,) = inputs
        dim = params["dim"]
        found.append(("log-softmax-no-shift", [x - x.exp().sum(dim=dim, keepdim=True).log(), None]))
    if kind == "index":
        (x,) = inputs
        positions = torch.arange(x.numel()).reshape(x.shape)[params["index"]].reshape(-1)
        grad = torch.zeros(x.numel(), dtype=x.dtype)
        grad[positions] = grad_out.reshape(-1)
        found.append(("repeated-index-assigned", [None, grad.reshape(x.shape)]))
    if kind == "cross_entropy":
        (x,) = inputs
        batch = x.shape[0]
        found.append(("cross-entropy-summed", [out * batch, grads[0] * batch]))
        naive = x - x.exp().sum(dim=1, keepdim=True).log()
        loss = -naive[torch.arange(batch), params["target"]].mean()
        found.append(("log-softmax-no-shift", [loss, None]))
    return found


@recorded(lazy=True)
def op_mistakes(kind, fn, inputs, grad_out, params):
    """(mistake id, [result, gradient of each input]) for the mistakes an operation of `kind`
    ("binary", "matmul", "sum", "mean", "max", "log_softmax", "index", "cross_entropy", or another
    name for none) may show, given fn (the operation on torch tensors), its tensor inputs, the
    gradient passed to backward (None for a scalar result) and the case's parameters."""
    return _predictions(kind, fn, inputs, grad_out, params)


@recorded(lazy=True)
def last_pass_only(fn, inputs):
    """grad-assigned on a leaf: after two backward passes, the gradients of the second one alone
    (fn returns the two losses; the second is what a replaced grad keeps)."""
    return [("grad-assigned", list(kit.backward(lambda *xs: fn(*xs)[1], inputs)[1]))]
