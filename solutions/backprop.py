"""The backward pass of a feed-forward network, by hand (no autograd).

A network is a chain of layers. Each layer is a linear map followed by an activation:

    z = h @ weight.T + bias          (the convention of torch.nn.Linear: weight is (out, in))
    a = activation(z)                relu, tanh, sigmoid or identity

and a loss compares the last output with the target. Backpropagation is the chain rule applied
from the loss back to the input: every function below receives `grad_out`, the gradient of the
loss with respect to its OUTPUT, and returns the gradient with respect to its INPUT(S). A gradient
always has the shape of the tensor it is the gradient of.

    linear:   grad_x = grad_out @ weight          grad_weight = grad_out^T @ x     grad_bias = sum of grad_out
    relu:     grad_x = grad_out where x > 0, else 0      (0 at x == 0, as PyTorch)
    tanh:     grad_x = grad_out * (1 - y**2)             with y = tanh(x), the OUTPUT
    sigmoid:  grad_x = grad_out * y * (1 - y)            with y = sigmoid(x), the OUTPUT
    mse:      loss = mean((pred - target)**2)            grad_pred = 2 * (pred - target) / N
    cross-entropy (integer targets, mean over the batch B):
              loss = mean_b(logsumexp(logits_b) - logits_b[target_b])
              grad_logits = (softmax(logits) - one_hot(target)) / B

Conventions: every result has the dtype of the inputs; no argument is modified in place; losses are
0-dimensional tensors. Without `torch.autograd`, `torch.func`, `.backward()` or `requires_grad`:
the point is to write the chain rule yourself.
"""

from __future__ import annotations

import torch
from torch import Tensor

ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")
LOSSES = ("mse", "cross_entropy")


def linear_backward(grad_out: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of `y = x @ weight.T + bias` with respect to x, weight and bias.

    Args:
        grad_out: dL/dy, shape (..., out_features): the same leading dimensions as x.
        x: the layer's input, shape (..., in_features). There may be any number of leading
            (batch) dimensions, including none (a single vector of shape (in_features,)).
        weight: shape (out_features, in_features), as in torch.nn.Linear.

    Returns:
        `(grad_x, grad_weight, grad_bias)` of shapes (..., in_features), (out_features,
        in_features) and (out_features,). Every position of every leading dimension is one use of
        the same weight and bias, so their gradients are SUMS over all leading dimensions (not
        means).
    """
    ### BEGIN SOLUTION
    grad_x = grad_out @ weight
    rows_out = grad_out.reshape(-1, grad_out.shape[-1])  # (N, out): all leading dims in one
    rows_x = x.reshape(-1, x.shape[-1])  # (N, in)
    grad_weight = rows_out.T @ rows_x
    grad_bias = rows_out.sum(dim=0)
    return grad_x, grad_weight, grad_bias
    ### END SOLUTION


def relu_backward(grad_out: Tensor, x: Tensor) -> Tensor:
    """Gradient of `relu(x)` with respect to x.

    Args:
        grad_out: dL/d relu(x), the shape of x.
        x: the INPUT of the ReLU, any shape.

    Returns:
        grad_out where x > 0 and 0 elsewhere; at x == 0 exactly the gradient is 0 (PyTorch's
        choice of subgradient). Same shape and dtype as grad_out.
    """
    ### BEGIN SOLUTION
    return torch.where(x > 0, grad_out, torch.zeros_like(grad_out))
    ### END SOLUTION


def tanh_backward(grad_out: Tensor, y: Tensor) -> Tensor:
    """Gradient of `tanh(x)` with respect to x, given the OUTPUT `y = tanh(x)`.

    Since d tanh(x) / dx = 1 - tanh(x)**2 = 1 - y**2, the output is all that is needed.

    Args:
        grad_out: dL/dy, the shape of y.
        y: the activation's output tanh(x), any shape.

    Returns:
        dL/dx, same shape and dtype as grad_out.
    """
    ### BEGIN SOLUTION
    return grad_out * (1 - y * y)
    ### END SOLUTION


def sigmoid_backward(grad_out: Tensor, y: Tensor) -> Tensor:
    """Gradient of `sigmoid(x)` with respect to x, given the OUTPUT `y = sigmoid(x)`.

    Since d sigmoid(x) / dx = sigmoid(x) * (1 - sigmoid(x)) = y * (1 - y).

    Args:
        grad_out: dL/dy, the shape of y.
        y: the activation's output sigmoid(x), any shape.

    Returns:
        dL/dx, same shape and dtype as grad_out.
    """
    ### BEGIN SOLUTION
    return grad_out * y * (1 - y)
    ### END SOLUTION


def mse_loss(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Mean squared error over ALL elements, and its gradient with respect to pred.

    Args:
        pred, target: tensors of the same shape (any shape, e.g. (B, outputs)).

    Returns:
        `(loss, grad_pred)`: loss = mean((pred - target)**2) as a 0-dimensional tensor (the
        default `reduction="mean"` of torch.nn.functional.mse_loss), and grad_pred =
        2 * (pred - target) / N with N = pred.numel(), the number of elements (not the batch
        size), shaped like pred.
    """
    ### BEGIN SOLUTION
    diff = pred - target
    loss = (diff * diff).mean()
    grad_pred = 2 * diff / diff.numel()
    return loss, grad_pred
    ### END SOLUTION


def cross_entropy_loss(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax cross-entropy with integer class targets, mean over the batch, and its gradient.

    Args:
        logits: shape (B, C), unnormalised scores.
        target: shape (B,), integer class indices in [0, C) (torch.int64).

    Returns:
        `(loss, grad_logits)`: loss = mean over b of (logsumexp(logits[b]) - logits[b, target[b]])
        as a 0-dimensional tensor (torch.nn.functional.cross_entropy with its defaults), and
        grad_logits = (softmax(logits) - one_hot(target)) / B, shape (B, C).
        Both stay finite for logits as large as 1e4 in magnitude: subtract each row's maximum
        before exponentiating (log-sum-exp trick).
    """
    ### BEGIN SOLUTION
    batch = logits.shape[0]
    shifted = logits - logits.max(dim=1, keepdim=True).values
    exp = torch.exp(shifted)
    total = exp.sum(dim=1, keepdim=True)
    log_probs = shifted - torch.log(total)
    picked = log_probs.gather(1, target.long().reshape(-1, 1)).reshape(-1)
    loss = -picked.sum() / batch
    one_hot = torch.zeros_like(logits).scatter_(1, target.long().reshape(-1, 1), 1.0)
    grad_logits = (exp / total - one_hot) / batch
    return loss, grad_logits
    ### END SOLUTION


def network_gradients(
    x: Tensor,
    target: Tensor,
    layers: list[dict],
    loss: str = "mse",
) -> tuple[Tensor, Tensor, list[Tensor], list[Tensor]]:
    """Forward pass, loss, and every gradient of a feed-forward network, computed by hand.

    Args:
        x: the input, shape (B, in_features) (B may be 1).
        target: for loss="mse", a tensor shaped like the network's output (B, out_features); for
            loss="cross_entropy", integer classes of shape (B,) and the last layer's output is
            the logits (B, C).
        layers: the layers in the order they are applied, each a dict
            `{"weight": W, "bias": b, "activation": name}` with W of shape (out, in), b of shape
            (out,) and name one of "relu", "tanh", "sigmoid", "identity". Layer k computes
            `a = activation(h @ W.T + b)` from the previous output h (x for the first layer).
            Put "identity" on the last layer to get raw scores.
        loss: "mse" (mse_loss on the last output) or "cross_entropy" (cross_entropy_loss on it).

    Returns:
        `(loss, grad_x, grad_weights, grad_biases)`: the loss (0-dimensional tensor), dL/dx
        (shape of x), and two lists in LAYER ORDER (index 0 is the first layer): dL/dW_k shaped
        like W_k and dL/db_k shaped like b_k. Everything keeps the dtype of x.

    Raises:
        ValueError: for an unknown activation or loss name.
    """
    ### BEGIN SOLUTION
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    for layer in layers:
        if layer["activation"] not in ACTIVATIONS:
            raise ValueError(f"unknown activation {layer['activation']!r}; expected one of {ACTIVATIONS}")

    # Forward, keeping what the backward pass needs: each layer's input, pre-activation, output.
    saved = []
    h = x
    for layer in layers:
        z = h @ layer["weight"].T + layer["bias"]
        name = layer["activation"]
        if name == "relu":
            a = torch.where(z > 0, z, torch.zeros_like(z))
        elif name == "tanh":
            a = torch.tanh(z)
        elif name == "sigmoid":
            a = torch.sigmoid(z)
        else:
            a = z
        saved.append((h, z, a))
        h = a

    if loss == "mse":
        value, grad = mse_loss(h, target)
    else:
        value, grad = cross_entropy_loss(h, target)

    # Backward: from the last layer to the first.
    grad_weights, grad_biases = [], []
    for layer, (h, z, a) in zip(reversed(layers), reversed(saved)):
        name = layer["activation"]
        if name == "relu":
            grad = relu_backward(grad, z)
        elif name == "tanh":
            grad = tanh_backward(grad, a)
        elif name == "sigmoid":
            grad = sigmoid_backward(grad, a)
        grad, grad_w, grad_b = linear_backward(grad, h, layer["weight"])
        grad_weights.append(grad_w)
        grad_biases.append(grad_b)
    return value, grad, grad_weights[::-1], grad_biases[::-1]
    ### END SOLUTION
