"""Gradients through a learner's function, as data (docs/design.md rule 8).

A test that needs the gradient of a learner's function (attention, for instance) must not run
autograd across the `impl` boundary itself: in grading mode the function runs in a sandboxed worker
and only plain tensors come back. It asks for the output and the gradients together:

    out, grads = call_with_grads(impl, "softmax", {"x": x, "dim": -1}, wrt=("x",), grad_out=g)

which computes `out = impl.softmax(x=x', dim=-1)` with `x'` a fresh leaf that requires grad, then
`out.backward(g)`, and returns `out` detached and `{"x": x'.grad}` (zeros where the gradient does
not reach an input). For a function returning a tuple, `grad_out` is a tuple too, one gradient
per output, or None for an output that takes no part (a returned cache, say): it comes back as is. In
learner mode that happens here; a grading proxy provides its own
`call_with_grads` method, which runs the same steps in its worker.
"""

from __future__ import annotations

import torch


def local_call_with_grads(fn, kwargs: dict, wrt: tuple[str, ...], grad_out: torch.Tensor):
    """The steps, for a plain callable `fn`: returns (detached output, {name: gradient})."""
    args = dict(kwargs)
    for name in wrt:
        args[name] = kwargs[name].detach().clone().requires_grad_(True)
    out = fn(**args)
    outs, gs = (out, grad_out) if isinstance(out, tuple) and isinstance(grad_out, tuple) else ((out,), (grad_out,))
    if len(outs) != len(gs) or not all(isinstance(o, torch.Tensor) for o, g in zip(outs, gs) if g is not None):
        return out, {}
    # sum(out * g) gives the same gradients as out.backward(g) and avoids the extra machinery torch
    # imports the first time a non-scalar backward runs (~0.3 s). An output of the wrong shape gets
    # no gradient here; the test's value check then reports its shape.
    terms = [(o * g).sum() for o, g in zip(outs, gs) if g is not None and o.requires_grad and o.shape == g.shape]
    if terms:
        sum(terms).backward()
    grads = {name: (args[name].grad if args[name].grad is not None else torch.zeros_like(args[name])) for name in wrt}
    detached = tuple(_detached(o) for o in outs)
    return (detached if isinstance(out, tuple) else detached[0]), grads


def call_with_grads(impl, name: str, kwargs: dict, wrt: tuple[str, ...], grad_out: torch.Tensor):
    """Call `impl.<name>(**kwargs)` and backpropagate `grad_out`: (output, {input name: gradient}).

    When the output does not depend on the inputs through autograd (a learner who detached it, or
    a non-tensor result), the gradients come back as zeros or the dict is empty; the test's value
    checks then say what is wrong.
    """
    own = getattr(type(impl), "call_with_grads", None)
    if own is not None:
        return own(impl, name, kwargs, wrt, grad_out)
    return local_call_with_grads(getattr(impl, name), kwargs, wrt, grad_out)


def _detached(value):
    """`value` with every tensor in it (nested in tuples and lists too) detached from autograd."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (tuple, list)):
        return type(value)(_detached(v) for v in value)
    return value
