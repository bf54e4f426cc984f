"""autograd's known mistakes: the sentence a learner sees when their engine shows one.

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[grad-not-reduced]`. A mistake is named either because the output equals what the mistake
predicts on the test's own inputs (the predictions are computed in key.py), or because tiny probes
with hand-worked values, run on your engine after a failure, show it (`diagnose` in
test_public.py). The mutants that commit each mistake (patches of the reference, used by
`make check`) are in `mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "grad-not-reduced",
        "the gradient of a broadcast operand is not summed back to the operand's shape: for "
        "`x + y` with x of shape (3, 1) and y of shape (1, 4), the result's gradient g is (3, 4), "
        "and x.grad must be g.sum(dim=1, keepdim=True), of shape (3, 1), not g itself. Every copy "
        "broadcasting made contributes, so sum over the added leading dimensions and over the "
        "stretched size-1 dimensions.",
    ),
    Mistake(
        "reduce-forgets-size-one",
        "reducing a broadcast gradient sums the leading dimensions broadcasting added but not the "
        "dimensions where the operand has size 1: for y of shape (1, 4) added to x of shape "
        "(2, 3, 4), summing dimension 0 of g leaves (3, 4); dimension 0 of that must also be "
        "summed (keepdim=True) to give (1, 4).",
    ),
    Mistake(
        "sum-keepdim-not-restored",
        "sum's backward does not put back the summed dimensions when keepdim=False before "
        "expanding g to the input's shape: for x of shape (4, 4) and x.sum(dim=1), g has shape (4,) "
        "and must become (4, 1) (g.unsqueeze(1)) before expanding, otherwise broadcasting lines g "
        "up with the LAST dimension and every row gets the wrong values.",
    ),
    Mistake(
        "mean-divides-by-numel",
        "mean's backward divides by the input's whole number of elements instead of the number of "
        "elements each mean averaged: x of shape (2, 3), x.mean(dim=1) divides by 3, not by 6.",
    ),
    Mistake(
        "matmul-transpose-batched",
        "matmul's gradients use `.T`, which reverses ALL dimensions of a batched operand; for "
        "x @ y, grad_x = g @ y.mT and grad_y = x.mT @ g, where .mT (or transpose(-2, -1)) swaps "
        "only the last two dimensions.",
    ),
    Mistake(
        "matmul-batch-not-summed",
        "matmul's gradients are not summed over the batch dimensions that broadcasting added or "
        "stretched: for x of shape (2, 1, 3, 4) @ y of shape (5, 4, 2), x.mT @ g has shape "
        "(2, 5, 4, 2) and must be summed down to y's shape (5, 4, 2), and g @ y.mT down to "
        "(2, 1, 3, 4).",
    ),
    Mistake(
        "max-grad-to-all-ties",
        "max's gradient goes to every element equal to the maximum; like torch.max(x, dim), it "
        "goes only to the first maximum of each slice (the index max returns), the others get 0.",
    ),
    Mistake(
        "log-softmax-no-shift",
        "log_softmax computes log(sum(exp(x))) without subtracting the maximum first: exp(1e4) "
        "overflows to inf and the result is -inf or NaN. Compute m = max over dim, then "
        "(x - m) - log(sum(exp(x - m))).",
    ),
    Mistake(
        "repeated-index-assigned",
        "indexing's backward assigns g into the gradient (`grad[index] = g`), so an element "
        "selected several times keeps only one of its gradients; add them up (index_add_, or "
        "index_put_ with accumulate=True).",
    ),
    Mistake(
        "grad-assigned",
        "a gradient is assigned (`=`) where it must be added (`+=`): a tensor used several times "
        "in a graph (`a * a`, `h * h` with h = a + 1) keeps only one use's gradient, or a leaf's "
        "grad is replaced by a second backward pass instead of growing; with a = [3, -1], "
        "`(a * a).sum()` gives a.grad = [6, -2], not [3, -1].",
    ),
    Mistake(
        "div-denominator-sign",
        "the gradient of x / y with respect to the denominator y has the wrong sign: it is "
        "-g * x / y**2 (with x = 1, y = 2: -0.25, not 0.25).",
    ),
    Mistake(
        "forward-order",
        "backward() visits the nodes in topological order (leaves first) instead of REVERSE "
        "topological order (the result first): only the result's own operation passes its gradient "
        "on, so a leaf one operation below the result gets its gradient but a leaf two operations "
        "below gets none; iterate over reversed(order).",
    ),
    Mistake(
        "cross-entropy-summed",
        "cross_entropy sums -log_softmax(logits)[b, target[b]] over the batch instead of averaging "
        "it: divide by the batch size B (the loss and every gradient are B times too large).",
    ),
]

MISTAKE = by_id(MISTAKES)
