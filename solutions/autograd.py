"""A tensor autograd engine: PyTorch's autograd, written yourself, on top of torch's arrays.

A `Tensor` wraps a torch.Tensor, `data`, and remembers how it was computed: the Tensors it was made
from (its parents) and a function that turns the gradient of the result into the gradients of the
parents. `backward()` on a result walks that graph from the result back to the leaves and fills in
`grad` = d(result)/d(leaf) for every leaf created with `requires_grad=True`. torch is only the array
library here: its own autograd (`.backward()` on torch tensors, `torch.autograd`, `torch.func`,
`requires_grad_()`, `.grad_fn`) and `torch.nn` are off limits. The guard refuses the attribute names
`grad_fn` and `requires_grad_` wherever they appear, so give your own attributes other names
(`_parents`, `_backward`); `requires_grad=True` and a method called `backward` are yours to use.

The rule of every operation: given `g`, the gradient of the loss with respect to the result (same
shape as the result), return the gradient with respect to each operand (same shape as THAT operand).

    z = x + y          gx = g                  gy = g
    z = x * y          gx = g * y              gy = g * x
    z = x / y          gx = g / y              gy = -g * x / y**2
    z = x ** k         gx = g * k * x**(k - 1)                  (k a number)
    z = x @ y          gx = g @ y^T            gy = x^T @ g      (^T: swap the LAST two dimensions)
    z = x.sum(dims)    gx = g, put back to x's shape (re-insert the summed dimensions, then expand)
    z = x.mean(dims)   gx = the same, divided by the number of elements each mean averaged
    z = x.max(dim)     gx = g at the position of the (first) maximum, 0 elsewhere
    z = exp(x)         gx = g * z          log: g / x       tanh: g * (1 - z**2)
    z = sigmoid(x)     gx = g * z * (1 - z)                  relu: g * (x > 0)
    z = log_softmax(x) gx = g - exp(z) * g.sum(dim, keepdim=True)
    z = x[index]       gx = zeros of x's shape with g ADDED at the indexed places (repeats add up)

Broadcasting (NumPy rules: shapes aligned from the right, missing leading dimensions added, size-1
dimensions stretched) copies an operand; each copy contributes to the loss, so the operand's
gradient is the SUM of g over its copies: sum over the added leading dimensions and over every
dimension where the operand has size 1 (keepdim), giving back exactly the operand's shape.

Two rules make the walk correct on any graph (as in micrograd):
- accumulate, never assign: a tensor used several times receives the SUM of the gradients of all its
  uses; a leaf keeps adding across backward passes until `zero_grad()`;
- visit the nodes in REVERSE topological order (the result first, each node only after every node
  that uses it), without recursion.
"""

from __future__ import annotations

import torch


def unbroadcast(grad, shape):
    """Sum `grad`, the gradient of a broadcast result, back to an operand's `shape`.

    Sum over the leading dimensions that broadcasting added (grad has more dimensions than `shape`),
    then, with keepdim=True, over every dimension where `shape` has size 1 and grad does not.
    (A helper for your operators; the tests do not call it.)
    """
    ### BEGIN SOLUTION
    lead = grad.dim() - len(shape)
    if lead > 0:
        grad = grad.sum(dim=tuple(range(lead)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(dim=stretched, keepdim=True)
    return grad
    ### END SOLUTION


class Tensor:
    """A node of a computation graph over torch tensors.

    `Tensor(data, requires_grad=False)`: `data` is a torch.Tensor (float32 and float64 keep their
    dtype, other dtypes become float64), or a number or nested list (converted to float64).
    `grad` is None until a backward pass reaches this tensor, then a torch.Tensor of data's shape and
    dtype. `shape`, `dtype` and `requires_grad` read like torch's. The results of operations require
    grad when any operand does. `_parents` and `_backward` are for the engine's own use (the parents
    a result was computed from, and the function turning its gradient into theirs).

    Operators broadcast like torch and take a Tensor or a Python number on either side: `+ - * /`,
    unary `-`, `** k` (k a number) and `@` (torch.matmul for operands of 2 or more dimensions,
    batch dimensions broadcast). A number takes the Tensor's dtype. Every operation returns a NEW
    Tensor and leaves its operands' data unchanged.
    """

    def __init__(self, data, requires_grad=False, _parents=(), _backward=None):
        ### BEGIN SOLUTION
        if not isinstance(data, torch.Tensor):
            data = torch.tensor(data, dtype=torch.float64)
        elif data.dtype not in (torch.float32, torch.float64):
            data = data.to(torch.float64)
        self.data = data
        self.grad = None
        self._parents = tuple(_parents)
        self._backward = _backward
        self.requires_grad = bool(requires_grad) or any(p.requires_grad for p in self._parents)
        ### END SOLUTION

    def __repr__(self):
        return f"Tensor({self.data}, requires_grad={self.requires_grad})"

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def _lift(self, other):
        """`other` as a Tensor: a Tensor as it is, a number as a constant of this Tensor's dtype."""
        ### BEGIN SOLUTION
        if isinstance(other, Tensor):
            return other
        return Tensor(torch.as_tensor(other, dtype=self.data.dtype))
        ### END SOLUTION

    def __add__(self, other):
        """self + other, broadcasting."""
        ### BEGIN SOLUTION
        other = self._lift(other)

        def backward(g):
            return unbroadcast(g, self.shape), unbroadcast(g, other.shape)

        return Tensor(self.data + other.data, _parents=(self, other), _backward=backward)
        ### END SOLUTION

    def __radd__(self, other):
        """other + self, for a number other."""
        ### BEGIN SOLUTION
        return self + other
        ### END SOLUTION

    def __neg__(self):
        """-self."""
        ### BEGIN SOLUTION
        return self * -1.0
        ### END SOLUTION

    def __sub__(self, other):
        """self - other, broadcasting."""
        ### BEGIN SOLUTION
        return self + (-self._lift(other))
        ### END SOLUTION

    def __rsub__(self, other):
        """other - self, for a number other."""
        ### BEGIN SOLUTION
        return self._lift(other) - self
        ### END SOLUTION

    def __mul__(self, other):
        """self * other, broadcasting."""
        ### BEGIN SOLUTION
        other = self._lift(other)

        def backward(g):
            return unbroadcast(g * other.data, self.shape), unbroadcast(g * self.data, other.shape)

        return Tensor(self.data * other.data, _parents=(self, other), _backward=backward)
        ### END SOLUTION

    def __rmul__(self, other):
        """other * self, for a number other."""
        ### BEGIN SOLUTION
        return self * other
        ### END SOLUTION

    def __truediv__(self, other):
        """self / other, broadcasting."""
        ### BEGIN SOLUTION
        other = self._lift(other)

        def backward(g):
            grad_self = g / other.data
            grad_other = -g * self.data / other.data**2
            return unbroadcast(grad_self, self.shape), unbroadcast(grad_other, other.shape)

        return Tensor(self.data / other.data, _parents=(self, other), _backward=backward)
        ### END SOLUTION

    def __rtruediv__(self, other):
        """other / self, for a number other."""
        ### BEGIN SOLUTION
        return self._lift(other) / self
        ### END SOLUTION

    def __pow__(self, k):
        """self ** k, for a number k."""
        ### BEGIN SOLUTION
        def backward(g):
            return (g * k * self.data ** (k - 1),)

        return Tensor(self.data**k, _parents=(self,), _backward=backward)
        ### END SOLUTION

    def __matmul__(self, other):
        """self @ other as torch.matmul, for operands of 2 or more dimensions (batch dimensions,
        all but the last two, broadcast)."""
        ### BEGIN SOLUTION
        other = self._lift(other)
        a, b = self.data, other.data

        def backward(g):
            return unbroadcast(g @ b.mT, a.shape), unbroadcast(a.mT @ g, b.shape)

        return Tensor(a @ b, _parents=(self, other), _backward=backward)
        ### END SOLUTION

    def _dims(self, dim):
        """`dim` (None, an int or a tuple of ints, negative allowed) as a tuple of dimensions >= 0;
        None is every dimension."""
        ### BEGIN SOLUTION
        if dim is None:
            return tuple(range(self.data.dim()))
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        return tuple(sorted(d % self.data.dim() for d in dims))
        ### END SOLUTION

    def sum(self, dim=None, keepdim=False):
        """The sum over `dim` (None: every dimension; an int or a tuple, negative allowed), like
        torch.sum. Backward: g gets the summed dimensions back (when keepdim is False they are gone
        from g) and is expanded to self's shape."""
        ### BEGIN SOLUTION
        dims = self._dims(dim)

        def backward(g):
            if not keepdim:
                for d in dims:
                    g = g.unsqueeze(d)
            return (g.expand(self.shape),)

        return Tensor(self.data.sum(dim=dims, keepdim=keepdim), _parents=(self,), _backward=backward)
        ### END SOLUTION

    def mean(self, dim=None, keepdim=False):
        """The mean over `dim` (as sum). Backward: as sum's, divided by the number of elements each
        mean averaged (the product of the reduced dimensions' sizes, not the whole size)."""
        ### BEGIN SOLUTION
        dims = self._dims(dim)
        count = 1
        for d in dims:
            count *= self.shape[d]
        kept = [1 if d in dims else n for d, n in enumerate(self.shape)]

        def backward(g):
            return (g.reshape(kept).expand(self.shape) / count,)

        return Tensor(self.data.mean(dim=dims, keepdim=keepdim), _parents=(self,), _backward=backward)
        ### END SOLUTION

    def max(self, dim, keepdim=False):
        """The largest values along `dim` (the values only, like torch.max(x, dim).values). The
        gradient goes to the first maximum of each slice, as torch's."""
        ### BEGIN SOLUTION
        dim = dim % self.data.dim()
        values, index = self.data.max(dim=dim, keepdim=True)

        def backward(g):
            if not keepdim:
                g = g.unsqueeze(dim)
            return (torch.zeros_like(self.data).scatter(dim, index, g),)

        out = values if keepdim else values.squeeze(dim)
        return Tensor(out, _parents=(self,), _backward=backward)
        ### END SOLUTION

    def reshape(self, *shape):
        """The same values in another shape: t.reshape(2, 3) or t.reshape((2, 3)), -1 allowed."""
        ### BEGIN SOLUTION
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])

        def backward(g):
            return (g.reshape(self.shape),)

        return Tensor(self.data.reshape(shape), _parents=(self,), _backward=backward)
        ### END SOLUTION

    def transpose(self, dim0, dim1):
        """dim0 and dim1 swapped, like torch.transpose."""
        ### BEGIN SOLUTION
        def backward(g):
            return (g.transpose(dim0, dim1),)

        return Tensor(self.data.transpose(dim0, dim1), _parents=(self,), _backward=backward)
        ### END SOLUTION

    def exp(self):
        """e ** self, elementwise."""
        ### BEGIN SOLUTION
        out = self.data.exp()

        def backward(g):
            return (g * out,)

        return Tensor(out, _parents=(self,), _backward=backward)
        ### END SOLUTION

    def log(self):
        """The natural logarithm, elementwise (self > 0)."""
        ### BEGIN SOLUTION
        def backward(g):
            return (g / self.data,)

        return Tensor(self.data.log(), _parents=(self,), _backward=backward)
        ### END SOLUTION

    def relu(self):
        """max(self, 0), elementwise; the derivative is 0 at exactly 0, as torch's."""
        ### BEGIN SOLUTION
        def backward(g):
            return (g * (self.data > 0),)

        return Tensor(self.data.clamp(min=0), _parents=(self,), _backward=backward)
        ### END SOLUTION

    def tanh(self):
        """tanh, elementwise."""
        ### BEGIN SOLUTION
        out = self.data.tanh()

        def backward(g):
            return (g * (1 - out * out),)

        return Tensor(out, _parents=(self,), _backward=backward)
        ### END SOLUTION

    def sigmoid(self):
        """1 / (1 + exp(-self)), elementwise."""
        ### BEGIN SOLUTION
        out = self.data.sigmoid()

        def backward(g):
            return (g * out * (1 - out),)

        return Tensor(out, _parents=(self,), _backward=backward)
        ### END SOLUTION

    def log_softmax(self, dim):
        """log(softmax(self)) along `dim`: self - log(sum(exp(self))), computed with the maximum
        subtracted first (self - max is at most 0, so exp never overflows: finite for inputs of
        magnitude 1e4)."""
        ### BEGIN SOLUTION
        shifted = self.data - self.data.amax(dim=dim, keepdim=True)
        out = shifted - shifted.exp().sum(dim=dim, keepdim=True).log()

        def backward(g):
            return (g - out.exp() * g.sum(dim=dim, keepdim=True),)

        return Tensor(out, _parents=(self,), _backward=backward)
        ### END SOLUTION

    def __getitem__(self, index):
        """self[index] with ints, slices and integer index tensors (torch's indexing rules). The
        gradients of an element selected several times add up."""
        ### BEGIN SOLUTION
        positions = torch.arange(self.data.numel()).reshape(self.shape)[index]

        def backward(g):
            grad = torch.zeros(self.data.numel(), dtype=g.dtype)
            grad.index_add_(0, positions.reshape(-1), g.reshape(-1))
            return (grad.reshape(self.shape),)

        return Tensor(self.data[index], _parents=(self,), _backward=backward)
        ### END SOLUTION

    def _accumulate(self, g):
        """Add `g` to this leaf's grad (None: the grad becomes g), in data's dtype."""
        ### BEGIN SOLUTION
        g = g.to(self.data.dtype)
        self.grad = g.clone() if self.grad is None else self.grad + g
        ### END SOLUTION

    def backward(self, grad=None):
        """Add d(self)/d(leaf), times `grad`, to the `grad` of every leaf with requires_grad=True
        that self depends on.

        `grad` is the gradient of the loss with respect to self (a torch.Tensor of self's shape);
        None means 1, allowed only when self has one element (else a RuntimeError). The nodes are
        visited in reverse topological order, without recursion; a node used several times gets the
        sum of its uses' gradients. Leaves keep adding across backward passes, until zero_grad().
        """
        ### BEGIN SOLUTION
        if grad is None:
            if self.data.numel() != 1:
                raise RuntimeError("backward() without a grad needs a tensor of one element")
            grad = torch.ones_like(self.data)
        grad = torch.as_tensor(grad, dtype=self.data.dtype).expand(self.shape)
        if not self._parents:
            if self.requires_grad:
                self._accumulate(grad)
            return
        order, seen = [], set()
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((parent, False) for parent in node._parents)
        grads = {self: grad}
        for node in reversed(order):
            g = grads.pop(node, None)
            if g is None or not node._parents:
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                if not parent.requires_grad:
                    continue
                if not parent._parents:
                    parent._accumulate(pg)
                elif parent in grads:
                    grads[parent] = grads[parent] + pg
                else:
                    grads[parent] = pg
        ### END SOLUTION

    def zero_grad(self):
        """Set grad back to None."""
        ### BEGIN SOLUTION
        self.grad = None
        ### END SOLUTION


def cross_entropy(logits, target):
    """The mean over the batch of -log_softmax(logits)[b, target[b]], as a 0-dim Tensor.

    `logits`: a Tensor (B, C); `target`: a torch.long tensor (B,) of class indices. Built from the
    operations above (log_softmax, indexing, mean), so its backward needs nothing new.
    """
    ### BEGIN SOLUTION
    rows = torch.arange(logits.shape[0])
    picked = logits.log_softmax(1)[rows, target]
    return -picked.mean()
    ### END SOLUTION
