"""LoRA's known mistakes: the sentence a learner sees when their output looks like one; what each
mistake outputs is computed in `key.py`, the answer key (so that a wrong output is named after the
mistakes it matches).

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g. `[scale-alpha]`.
The mutants that commit each mistake (patches of the reference, used by `make check`) are in
`mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "scale-alpha",
        "the adapter's path is scaled by alpha; LoRA scales it by s = alpha / r (alpha / sqrt(r) with "
        "use_rslora), r = lora_A.shape[0], so that the size of the update does not grow with the rank.",
    ),
    Mistake(
        "rslora-always",
        "the adapter's path is scaled by alpha / sqrt(r) although use_rslora is False; that is rank-"
        "stabilised LoRA (use_rslora=True); plain LoRA uses s = alpha / r.",
    ),
    Mistake(
        "rslora-ignored",
        "use_rslora is ignored; with use_rslora=True the scale is s = alpha / sqrt(r), not alpha / r.",
    ),
    Mistake(
        "b-random-init",
        "lora_B starts random; peft starts B at zeros (and A random), so that the adapted layer's output "
        "at initialisation is exactly the base layer's.",
    ),
    Mistake(
        "a-zero-init",
        "lora_A starts at zeros; with B also zero both gradients are zero (dL/dA needs B, dL/dB needs "
        "x A^T) and nothing ever learns. A is drawn by torch.nn.init.kaiming_uniform_(A, a=math.sqrt(5), "
        "generator=torch.Generator().manual_seed(seed)) in weight's dtype.",
    ),
    Mistake(
        "ab-wrong-order",
        "A and B are applied in the wrong order (x B A, which only runs when in == out); the adapter "
        "computes (x A^T) B^T: A (r, in) takes x down to r values, then B (out, r) up to out.",
    ),
    Mistake(
        "merge-transposed",
        "merge adds A^T B^T = (B A)^T, which only fits when in == out; the weight has nn.Linear's layout "
        "(out, in), and so has s B A = s (out, r) @ (r, in).",
    ),
    Mistake(
        "merge-no-scale",
        "merge adds B A without the scale; the merged weight is W + s B A, with the same s as forward "
        "(alpha / r, or alpha / sqrt(r) with use_rslora).",
    ),
    Mistake(
        "unmerge-twice",
        "unmerge takes out more than merge put in (s B A subtracted twice); after merge() then unmerge() "
        "the weight is the original W again, within rounding.",
    ),
    Mistake(
        "unmerge-never",
        "unmerge does not take s B A out of the weight (or does nothing); after unmerge() the weight is "
        "the original W again and merged is False, and forward adds the adapter's path itself.",
    ),
    Mistake(
        "not-idempotent",
        "a second merge() (or unmerge()) in a row changed the weight again; each does nothing when the "
        "layer is already merged (unmerged): look at self.merged first.",
    ),
    Mistake(
        "base-trainable",
        "the base is left trainable (its weight or bias requires grad, or is counted among the trainable "
        "parameters); the layer keeps a frozen copy, weight.detach().clone(), and only lora_A and lora_B "
        "are trainable.",
    ),
    Mistake(
        "weight-not-copied",
        "the layer changed the caller's tensor: it keeps the weight it was given, not a copy, and merge() "
        "then adds s B A to the caller's weight in place; keep weight.detach().clone().",
    ),
    Mistake(
        "grad-a-missing-b",
        "grad_A misses the multiplication by B; the adapter computes (x A^T) B^T, so dL/dA = s (g B)^T x "
        "with g = grad_out (shape (r, in)); s g^T x has the shape of W, (out, in).",
    ),
    Mistake(
        "grad-x-base-only",
        "grad_x follows only the frozen base's path (g W); x also reaches the output through the adapter: "
        "grad_x = g W + s (g B) A.",
    ),
    Mistake(
        "losses-after-update",
        "each loss is recorded after its update; losses[k] is the loss BEFORE update k, so losses[0] is "
        "the loss of the untouched base (B starts at zero).",
    ),
    Mistake(
        "mse-not-mean",
        "the loss is the sum of the squared errors; it is their mean over all N * out values, "
        "((y - Y) ** 2).mean(), and grad_out = 2 (y - Y) / (N * out).",
    ),
]

MISTAKE = by_id(MISTAKES)
