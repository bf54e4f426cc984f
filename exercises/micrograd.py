"""A scalar autograd engine (micrograd), and a small neural network trained with it.

A `Value` holds one number, `data`, and remembers how it was computed: the Values it was made from
(its children) and the operation. Every expression built from Values is therefore a graph, and
`backward()` on its output applies the chain rule through that graph, from the output back to the
leaves, filling in `grad` = d(output)/d(node) for every node.

Each operation knows its local derivatives. When the output of `z = x * y` has received its own
gradient `z.grad`, the operation passes it on to its children:

    z = x + y      x.grad += z.grad                 y.grad += z.grad
    z = x * y      x.grad += y.data * z.grad        y.grad += x.data * z.grad
    z = x ** k     x.grad += k * x.data**(k - 1) * z.grad          (k a plain number)
    z = tanh(x)    x.grad += (1 - z.data**2) * z.grad              (from the OUTPUT z)
    z = relu(x)    x.grad += (1 if x.data > 0 else 0) * z.grad     (0 at exactly 0, as PyTorch)
    z = sigmoid(x) x.grad += z.data * (1 - z.data) * z.grad
    z = exp(x)     x.grad += z.data * z.grad
    z = log(x)     x.grad += z.grad / x.data

Two rules make this correct on any graph:
- accumulate (`+=`), never assign: a node used in several places (`x * x`, `a + a`, a weight used
  by every sample) receives the SUM of the contributions of all its uses;
- visit the nodes in REVERSE topological order (the output first, each node only after every node
  that uses it), so that a node's gradient is complete before it is passed on. Sort the graph
  without recursion: a chain of 20,000 operations is deeper than Python's recursion limit.

Then a network out of Values: a `Neuron` computes `tanh(w . x + b)` (or `w . x + b`), a `Layer` is a
list of neurons, an `MLP` a list of layers, trained with `mse` and `sgd_step`.

Plain Python only: no torch, numpy, jax or autograd in this file (`math` and `random` are fine).
"""

from __future__ import annotations

import math
import random


class Value:
    """One scalar node of a computation graph.

    `Value(data, _children=(), _op="")`: `data` is the number (an int is converted to float);
    `_children` are the Values it was computed from and `_op` a label for the operation (both are
    for the engine's own use: users write `Value(2.0)` and combine Values with operators).
    `grad` starts at 0.0 and holds d(output)/d(this node) after `output.backward()`.

    Operators work with a Value or a plain int/float on either side (`a + 1`, `2 * a`, `1 - a`,
    `2 / a`), and `a ** k` takes a plain int or float `k` (not a Value). Every operator and method
    returns a NEW Value; none changes its operands' `data`.
    """

    def __init__(self, data, _children=(), _op=""):
        # YOUR CODE HERE
        raise NotImplementedError

    def __repr__(self):
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    def __add__(self, other):
        """self + other."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __mul__(self, other):
        """self * other."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __pow__(self, k):
        """self ** k, for a plain int or float k: d/dx x**k = k * x**(k - 1)."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __neg__(self):
        """-self."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __radd__(self, other):
        """other + self, when other is a plain number (2 + a)."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __sub__(self, other):
        """self - other."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __rsub__(self, other):
        """other - self, when other is a plain number (1 - a)."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __rmul__(self, other):
        """other * self, when other is a plain number (3 * a)."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __truediv__(self, other):
        """self / other."""
        # YOUR CODE HERE
        raise NotImplementedError

    def __rtruediv__(self, other):
        """other / self, when other is a plain number (2 / a)."""
        # YOUR CODE HERE
        raise NotImplementedError

    def tanh(self):
        """tanh(self); its derivative is 1 - tanh(x)**2, from the output."""
        # YOUR CODE HERE
        raise NotImplementedError

    def relu(self):
        """max(0, self); the derivative is 1 where self > 0 and 0 elsewhere, 0 at exactly 0."""
        # YOUR CODE HERE
        raise NotImplementedError

    def sigmoid(self):
        """1 / (1 + exp(-self)); its derivative is s * (1 - s) with s the output."""
        # YOUR CODE HERE
        raise NotImplementedError

    def exp(self):
        """e ** self; its derivative is itself."""
        # YOUR CODE HERE
        raise NotImplementedError

    def log(self):
        """The natural logarithm of self (self > 0); its derivative is 1 / self."""
        # YOUR CODE HERE
        raise NotImplementedError

    def backward(self):
        """Fill `grad` of this node (1.0) and of every node it depends on (d self / d node).

        Visits the nodes in reverse topological order, each exactly once, without recursion (a
        chain of 20,000 operations must work). Called once, on a graph whose grads are all 0.
        """
        # YOUR CODE HERE
        raise NotImplementedError


class Neuron:
    """`Neuron(nin, nonlin=True, weights=None)`: tanh(w . x + b) when `nonlin`, else w . x + b.

    `weights`: None draws the nin weights and the bias from uniform(-1, 1) with Python's `random`;
    otherwise a list of nin + 1 floats, the weights then the bias (a wrong length is a ValueError,
    and nothing is drawn). Calling the neuron on a list of nin floats or Values returns a Value.
    """

    def __init__(self, nin, nonlin=True, weights=None):
        # YOUR CODE HERE
        raise NotImplementedError

    def __call__(self, x):
        # YOUR CODE HERE
        raise NotImplementedError

    def parameters(self):
        """The neuron's Values: its nin weights, then its bias."""
        # YOUR CODE HERE
        raise NotImplementedError


class Layer:
    """`Layer(nin, nout, nonlin=True, weights=None)`: nout neurons, each reading the same nin inputs.

    `weights`: None (each neuron draws its own), or a list of nout * (nin + 1) floats, neuron by
    neuron in the order of `parameters()` (a wrong length is a ValueError). Calling the layer
    returns a LIST of nout Values, even when nout == 1.
    """

    def __init__(self, nin, nout, nonlin=True, weights=None):
        # YOUR CODE HERE
        raise NotImplementedError

    def __call__(self, x):
        # YOUR CODE HERE
        raise NotImplementedError

    def parameters(self):
        """Neuron by neuron, each neuron's weights then its bias."""
        # YOUR CODE HERE
        raise NotImplementedError


class MLP:
    """`MLP(nin, nouts, weights=None)`: layers of sizes nin -> nouts[0] -> ... -> nouts[-1].

    Hidden layers use tanh; the LAST layer is linear. Calling the MLP on a list of nin floats or
    Values returns a Value when the last layer has one output, else a list of Values.

    `parameters()` lists every weight and bias as Values: layer by layer, neuron by neuron, each
    neuron's nin weights then its bias. `weights` is a flat list of floats in exactly that order,
    of length sum over layers of nout * (nin + 1) (a wrong length is a ValueError, and no random
    numbers are drawn); None draws each from uniform(-1, 1) with Python's `random` module.
    """

    def __init__(self, nin, nouts, weights=None):
        # YOUR CODE HERE
        raise NotImplementedError

    def __call__(self, x):
        # YOUR CODE HERE
        raise NotImplementedError

    def parameters(self):
        """Layer by layer, neuron by neuron, each neuron's weights then its bias."""
        # YOUR CODE HERE
        raise NotImplementedError


def mse(preds, targets):
    """The mean of (pred - target)**2 over two lists of equal length, as a Value.

    `preds` are Values (the network's outputs), `targets` floats or Values. The mean, not the sum:
    the loss of N samples is their sum divided by N.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def sgd_step(params, lr):
    """One step of gradient descent: `p.data -= lr * p.grad`, then `p.grad = 0.0`, for every p.

    Resetting the grads is part of the step: the next `backward()` starts from a graph whose grads
    are all 0.
    """
    # YOUR CODE HERE
    raise NotImplementedError
