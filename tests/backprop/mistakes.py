"""The known mistakes of a manual backward pass: the sentence a learner sees when an output looks
like one. What each mistake outputs (so that a wrong output is named after the mistakes it matches,
and only those) is computed in `key.py`, the answer key.

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[bias-grad-averaged]`. The mutants that commit each mistake (patches of the reference, used by
`make check`) are in `mutants.py`, which is not shipped to a class.
"""

import torch

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "grad-x-transposed",
        "grad_x multiplies by weight.T; with y = x @ weight.T + bias and weight of shape (out, in), "
        "grad_x is grad_out @ weight, of shape (..., in). (With a square weight both multiply, so "
        "only the values show it.)",
    ),
    Mistake(
        "grad-weight-transposed",
        "grad_weight is transposed (x.T @ grad_out has shape (in, out)); weight is (out, in), so "
        "grad_weight = grad_out.T @ x, flattening all leading dimensions into rows first.",
    ),
    Mistake(
        "bias-grad-not-summed",
        "the bias gradient is not summed over the batch: the same bias is added at every position "
        "of every leading dimension, so grad_bias sums grad_out over ALL of them, down to shape "
        "(out_features,).",
    ),
    Mistake(
        "bias-grad-averaged",
        "the bias gradient is averaged over the batch instead of summed; the loss's own 1/N is "
        "already inside grad_out, so dividing again makes it too small by the batch size.",
    ),
    Mistake(
        "tanh-derivative-at-input",
        "the tanh derivative is taken at the input instead of the output: tanh_backward receives "
        "y = tanh(x), so dy/dx = 1 - y**2 (not 1 - tanh(y)**2), and network_gradients must pass "
        "it the layer's OUTPUT, not its pre-activation z.",
    ),
    Mistake(
        "sigmoid-derivative-at-input",
        "the sigmoid derivative is taken at the input instead of the output: sigmoid_backward "
        "receives y = sigmoid(x), so dy/dx = y * (1 - y) (not sigmoid(y) * (1 - sigmoid(y))), and "
        "network_gradients must pass it the layer's OUTPUT, not its pre-activation z.",
    ),
    Mistake(
        "mse-grad-no-mean",
        "the MSE gradient misses the 1/N of the mean: grad_pred = 2 * (pred - target) / N with N = pred.numel().",
    ),
    Mistake(
        "mse-grad-no-factor-2",
        "the MSE gradient misses the factor 2 of the square: d/dp (p - t)**2 = 2 * (p - t), so "
        "grad_pred = 2 * (pred - target) / N.",
    ),
    Mistake(
        "mse-divides-by-batch",
        "the MSE gradient divides by the batch size instead of the number of elements; the loss "
        "is the mean over ALL elements, so N = pred.numel() (the two agree only with one output "
        "per example).",
    ),
    Mistake(
        "ce-no-max-shift",
        "cross-entropy exponentiates the raw logits and overflows (exp(89) is already inf in "
        "float32); subtract each row's maximum first: logsumexp(l) = m + log(sum(exp(l - m))), "
        "and softmax(l) = softmax(l - m).",
    ),
    Mistake(
        "ce-log-of-softmax",
        "the cross-entropy loss takes the log of the softmax, which underflows to log(0) = -inf "
        "for a target far below the row's maximum; compute log-probabilities directly: "
        "(logits - m) - log(sum(exp(logits - m))).",
    ),
    Mistake(
        "ce-grad-no-mean",
        "the cross-entropy gradient misses the 1/B of the mean over the batch: "
        "grad_logits = (softmax(logits) - one_hot(target)) / B.",
    ),
    Mistake(
        "relu-passes-negative",
        "the ReLU gradient passes where x < 0 (no mask, or the mask inverted); relu is flat "
        "there, so grad_x = grad_out only where x > 0, and 0 elsewhere.",
    ),
    Mistake(
        "relu-grad-at-zero",
        "the ReLU gradient passes at x == 0; PyTorch uses the subgradient 0 there, so the mask is x > 0, not x >= 0.",
    ),
    Mistake(
        "layers-reversed",
        "the gradients of the layers come back in reverse order (the order the backward pass "
        "visits them); grad_weights[0] and grad_biases[0] belong to the FIRST layer.",
    ),
    Mistake(
        "inputs-modified-in-place",
        "an input tensor is modified in place (grad_out[x <= 0] = 0, pred.sub_(...)); build new "
        "tensors (torch.where, plain arithmetic) so the caller's tensors stay as they were.",
    ),
]

MISTAKE = by_id(MISTAKES)

# The activations network_gradients supports, as PyTorch computes them.
ACT_FNS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda z: z}
