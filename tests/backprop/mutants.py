"""Mutants of solutions/backprop.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

GRAD_W = "grad_weight = rows_out.T @ rows_x"
GRAD_B = "grad_bias = rows_out.sum(dim=0)"
RELU = "return torch.where(x > 0, grad_out, torch.zeros_like(grad_out))"
MSE_GRAD = "grad_pred = 2 * diff / diff.numel()"
CE_SHIFT = "shifted = logits - logits.max(dim=1, keepdim=True).values"
CE_GRAD = "grad_logits = (exp / total - one_hot) / batch"
RETURN_NET = "return value, grad, grad_weights[::-1], grad_biases[::-1]"

MUTANTS = [
    Mutant("grad-x-transposed", {"grad_x = grad_out @ weight\n": "grad_x = grad_out @ weight.T\n"}),
    Mutant("grad-weight-transposed", {GRAD_W: "grad_weight = rows_x.T @ rows_out"}),
    Mutant("bias-grad-not-summed", {GRAD_B: "grad_bias = grad_out.clone()"}),
    Mutant("bias-grad-not-summed", {GRAD_B: "grad_bias = grad_out.sum(dim=0)"}, id="bias-grad-first-dim-only"),
    Mutant("bias-grad-averaged", {GRAD_B: "grad_bias = rows_out.mean(dim=0)"}),
    Mutant(
        "tanh-derivative-at-input",
        {"return grad_out * (1 - y * y)": "return grad_out * (1 - torch.tanh(y) ** 2)"},
        id="tanh-derivative-of-y",
    ),
    Mutant(
        "tanh-derivative-at-input",
        {"grad = tanh_backward(grad, a)": "grad = tanh_backward(grad, z)"},
        id="network-tanh-at-z",
    ),
    Mutant(
        "sigmoid-derivative-at-input",
        {"return grad_out * y * (1 - y)": "return grad_out * torch.sigmoid(y) * (1 - torch.sigmoid(y))"},
        id="sigmoid-derivative-of-y",
    ),
    Mutant(
        "sigmoid-derivative-at-input",
        {"grad = sigmoid_backward(grad, a)": "grad = sigmoid_backward(grad, z)"},
        id="network-sigmoid-at-z",
    ),
    Mutant("mse-grad-no-mean", {MSE_GRAD: "grad_pred = 2 * diff"}),
    Mutant("mse-grad-no-factor-2", {MSE_GRAD: "grad_pred = diff / diff.numel()"}),
    Mutant("mse-divides-by-batch", {MSE_GRAD: "grad_pred = 2 * diff / diff.shape[0]"}),
    Mutant("ce-no-max-shift", {CE_SHIFT: "shifted = logits"}),
    Mutant("ce-log-of-softmax", {"log_probs = shifted - torch.log(total)": "log_probs = torch.log(exp / total)"}),
    Mutant("ce-grad-no-mean", {CE_GRAD: "grad_logits = exp / total - one_hot"}),
    Mutant(
        "relu-passes-negative",
        {RELU: "return torch.where(x < 0, grad_out, torch.zeros_like(grad_out))"},
        id="relu-mask-inverted",
    ),
    Mutant("relu-passes-negative", {RELU: "return grad_out.clone()"}, id="relu-no-mask"),
    Mutant("relu-grad-at-zero", {RELU: "return torch.where(x >= 0, grad_out, torch.zeros_like(grad_out))"}),
    Mutant("layers-reversed", {RETURN_NET: "return value, grad, grad_weights, grad_biases"}),
    Mutant("inputs-modified-in-place", {RELU: "grad_out[x <= 0] = 0\n    return grad_out"}, id="relu-in-place"),
]

ALTERNATIVES = [
    Alternative(
        "float64-inside",
        "network_gradients converts everything to float64, computes, and casts the results back",
        (
            (
                "    # Forward, keeping what the backward pass needs",
                "    dtype = x.dtype\n"
                "    x = x.double()\n"
                '    target = target.double() if loss == "mse" else target\n'
                '    layers = [dict(layer, weight=layer["weight"].double(), bias=layer["bias"].double())\n'
                "              for layer in layers]\n"
                "    # Forward, keeping what the backward pass needs",
            ),
            (
                RETURN_NET,
                "return (value.to(dtype), grad.to(dtype), [g.to(dtype) for g in grad_weights[::-1]],\n"
                "            [g.to(dtype) for g in grad_biases[::-1]])",
            ),
        ),
    ),
    Alternative(
        "einsum-and-masks",
        "einsum over the leading dimensions, the ReLU mask as a multiplication, relu_backward "
        "given the layer's output, sigmoid' as y - y**2, tanh' as (1 - y)(1 + y)",
        (
            ((GRAD_W, 'grad_weight = torch.einsum("...o,...i->oi", grad_out, x)')),
            (GRAD_B, 'grad_bias = torch.einsum("...o->o", grad_out)'),
            (RELU, "return grad_out * (x > 0).to(grad_out.dtype)"),
            ("return grad_out * (1 - y * y)", "return grad_out * ((1 - y) * (1 + y))"),
            ("return grad_out * y * (1 - y)", "return grad_out * (y - y ** 2)"),
            ("grad = relu_backward(grad, z)", "grad = relu_backward(grad, a)"),
        ),
    ),
    Alternative(
        "logsumexp-softmax",
        "cross-entropy with torch.logsumexp, torch.softmax and F.one_hot; MSE with a sum divided by N",
        (
            (
                CE_SHIFT + "\n    exp = torch.exp(shifted)\n    total = exp.sum(dim=1, keepdim=True)\n"
                "    log_probs = shifted - torch.log(total)",
                "log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)",
            ),
            (
                "one_hot = torch.zeros_like(logits).scatter_(1, target.long().reshape(-1, 1), 1.0)",
                "one_hot = torch.nn.functional.one_hot(target.long(), logits.shape[1]).to(logits.dtype)",
            ),
            (CE_GRAD, "grad_logits = (torch.softmax(logits, dim=1) - one_hot) / batch"),
            ("loss = (diff * diff).mean()", "loss = (diff ** 2).sum() / diff.numel()"),
            (MSE_GRAD, "grad_pred = diff * (2.0 / diff.numel())"),
        ),
    ),
    Alternative(
        "loops-over-layers-by-index",
        "network_gradients fills preallocated lists by layer index, the linear step written out "
        "inline with the leading dimensions flattened",
        (
            (
                "    grad_weights, grad_biases = [], []\n"
                "    for layer, (h, z, a) in zip(reversed(layers), reversed(saved)):",
                "    grad_weights, grad_biases = [None] * len(layers), [None] * len(layers)\n"
                "    for k in range(len(layers) - 1, -1, -1):\n"
                "        layer, (h, z, a) = layers[k], saved[k]",
            ),
            (
                '        grad, grad_w, grad_b = linear_backward(grad, h, layer["weight"])\n'
                "        grad_weights.append(grad_w)\n"
                "        grad_biases.append(grad_b)\n",
                "        flat_g = grad.reshape(-1, grad.shape[-1])\n"
                "        grad_weights[k] = flat_g.T @ h.reshape(-1, h.shape[-1])\n"
                "        grad_biases[k] = flat_g.sum(dim=0)\n"
                '        grad = grad @ layer["weight"]\n',
            ),
            (RETURN_NET, "return value, grad, grad_weights, grad_biases"),
        ),
    ),
]

TRIVIAL = [
    Trivial(
        "zeros",
        "every gradient is zeros of the right shape and every loss is 0",
        (
            "return torch.zeros_like(x), torch.zeros_like(weight), torch.zeros_like(weight[:, 0])",
            "return torch.zeros_like(grad_out)",
            "return torch.zeros_like(grad_out)",
            "return torch.zeros_like(grad_out)",
            "return pred.new_zeros(()), torch.zeros_like(pred)",
            "return logits.new_zeros(()), torch.zeros_like(logits)",
            "return (x.new_zeros(()), torch.zeros_like(x), [torch.zeros_like(l['weight']) for l in layers],\n"
            "        [torch.zeros_like(l['bias']) for l in layers])",
        ),
    ),
    Trivial(
        "pass-through",
        "activations pass grad_out through unchanged, linear_backward returns grad_out for all three, "
        "losses return the difference from the target",
        (
            "return grad_out, grad_out, grad_out",
            "return grad_out",
            "return grad_out",
            "return grad_out",
            "return (pred - target).abs().sum(), pred - target",
            "return logits.sum(), logits.clone()",
            "return x.sum(), x.clone(), [l['weight'] for l in layers], [l['bias'] for l in layers]",
        ),
    ),
]


# Mistakes that give exactly the same output on some inputs, where naming both is true (make check
# fails a mutant whose failures name any other mistake than its own).
COINCIDENCES = {
    frozenset({"mse-grad-no-mean", "mse-divides-by-batch"}): "a batch of 1: dividing by the batch size divides by 1",
}
