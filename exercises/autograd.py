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
    # YOUR CODE HERE
    raise NotImplementedError


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
        # YOUR CODE HERE
        raise NotImplementedError

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
        # YOUR CODE HERE
        raise NotImplementedError

    def __add__(self, other):
        """self + other, broadcasting."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __radd__(self, other):
        """other + self, for a number other."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __neg__(self):
        """-self."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __sub__(self, other):
        """self - other, broadcasting."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __rsub__(self, other):
        """other - self, for a number other."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __mul__(self, other):
        """self * other, broadcasting."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __rmul__(self, other):
        """other * self, for a number other."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __truediv__(self, other):
        """self / other, broadcasting."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __rtruediv__(self, other):
        """other / self, for a number other."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __pow__(self, k):
        """self ** k, for a number k."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __matmul__(self, other):
        """self @ other as torch.matmul, for operands of 2 or more dimensions (batch dimensions,
        all but the last two, broadcast)."""
        # YOUR CODE HERE
        raise NotImplementedError

    def _dims(self, dim):
        """`dim` (None, an int or a tuple of ints, negative allowed) as a tuple of dimensions >= 0;
        None is every dimension."""
        # YOUR CODE HERE
        raise NotImplementedError

    def sum(self, dim=None, keepdim=False):
        """The sum over `dim` (None: every dimension; an int or a tuple, negative allowed), like
        torch.sum. Backward: g gets the summed dimensions back (when keepdim is False they are gone
        from g) and is expanded to self's shape."""
        # YOUR CODE HERE
        raise NotImplementedError

    def mean(self, dim=None, keepdim=False):
        """The mean over `dim` (as sum). Backward: as sum's, divided by the number of elements each
        mean averaged (the product of the reduced dimensions' sizes, not the whole size)."""
        # YOUR CODE HERE
        raise NotImplementedError

    def max(self, dim, keepdim=False):
        """The largest values along `dim` (the values only, like torch.max(x, dim).values). The
        gradient goes to the first maximum of each slice, as torch's."""
        # YOUR CODE HERE
        raise NotImplementedError

    def reshape(self, *shape):
        """The same values in another shape: t.reshape(2, 3) or t.reshape((2, 3)), -1 allowed."""
        # YOUR CODE HERE
        raise NotImplementedError

    def transpose(self, dim0, dim1):
        """dim0 and dim1 swapped, like torch.transpose."""
        # YOUR CODE HERE
        raise NotImplementedError

    def exp(self):
        """e ** self, elementwise."""
        # YOUR CODE HERE
        raise NotImplementedError

    def log(self):
        """The natural logarithm, elementwise (self > 0)."""
        # YOUR CODE HERE
        raise NotImplementedError

    def relu(self):
        """max(self, 0), elementwise; the derivative is 0 at exactly 0, as torch's."""
        # YOUR CODE HERE
        raise NotImplementedError

    def tanh(self):
        """tanh, elementwise."""
        # YOUR CODE HERE
        raise NotImplementedError

    def sigmoid(self):
        """1 / (1 + exp(-self)), elementwise."""
        # YOUR CODE HERE
        raise NotImplementedError

    def log_softmax(self, dim):
        """log(softmax(self)) along `dim`: self - log(sum(exp(self))), computed with the maximum
        subtracted first (self - max is at most 0, so exp never overflows: finite for inputs of
        magnitude 1e4)."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __getitem__(self, index):
        """self[index] with ints, slices and integer index tensors (torch's indexing rules). The
        gradients of an element selected several times add up."""
        # YOUR CODE HERE
        raise NotImplementedError

    def _accumulate(self, g):
        """Add `g` to this leaf's grad (None: the grad becomes g), in data's dtype."""
        # YOUR CODE HERE
        raise NotImplementedError

    def backward(self, grad=None):
        """Add d(self)/d(leaf), times `grad`, to the `grad` of every leaf with requires_grad=True
        that self depends on.

        `grad` is the gradient of the loss with respect to self (a torch.Tensor of self's shape);
        None means 1, allowed only when self has one element (else a RuntimeError). The nodes are
        visited in reverse topological order, without recursion; a node used several times gets the
        sum of its uses' gradients. Leaves keep adding across backward passes, until zero_grad().
        """
        # YOUR CODE HERE
        raise NotImplementedError

    def zero_grad(self):
        """Set grad back to None."""
        # YOUR CODE HERE
        raise NotImplementedError


def cross_entropy(logits, target):
    """The mean over the batch of -log_softmax(logits)[b, target[b]], as a 0-dim Tensor.

    `logits`: a Tensor (B, C); `target`: a torch.long tensor (B,) of class indices. Built from the
    operations above (log_softmax, indexing, mean), so its backward needs nothing new.
    """
    # YOUR CODE HERE
    raise NotImplementedError
