"""Adam's known mistakes: the sentence a learner sees when their output looks like one, and what
each mistake outputs is computed in `key.py`, the answer key (so that a wrong output is named after
the mistakes it matches).

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[no-bias-correction]`. The mutants that commit each mistake (patches of the reference, used by
`make check`) are in `mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "no-bias-correction",
        "the moments are used without bias correction; divide m by (1 - beta1**step) and v by "
        "(1 - beta2**step), or the first steps are far too small (m and v start at zero).",
    ),
    Mistake(
        "bias-correction-m-only",
        "only the first moment is bias-corrected; v also needs dividing by (1 - beta2**step).",
    ),
    Mistake(
        "bias-correction-v-only",
        "only the second moment is bias-corrected; m also needs dividing by (1 - beta1**step).",
    ),
    Mistake(
        "eps-inside-sqrt",
        "eps is added inside the square root; torch.optim.Adam divides by sqrt(v_hat) + eps.",
    ),
    Mistake(
        "step-from-zero",
        "the step is counted from 0 (in the exponent of the bias correction, or in Adam.step's "
        "counter); the first update is step 1, with bias correction 1 - beta**1 (with "
        "1 - beta**0 = 0 the first update divides by zero).",
    ),
    Mistake(
        "weight-decay-swapped",
        "L2 and decoupled weight decay are swapped; decoupled_weight_decay=False adds "
        "weight_decay * param to the gradient, True (AdamW) multiplies param by (1 - lr * weight_decay).",
    ),
    Mistake(
        "weight-decay-without-lr",
        "decoupled weight decay is not scaled by the learning rate; AdamW multiplies param by "
        "(1 - lr * weight_decay), not (1 - weight_decay).",
    ),
    Mistake(
        "v-not-squared",
        "the second moment averages grad instead of grad**2 (v = beta2 * v + (1 - beta2) * grad * grad).",
    ),
    Mistake(
        "betas-swapped",
        "beta1 and beta2 are swapped; betas = (beta1, beta2) with beta1 (0.9) for m and beta2 (0.999) for v.",
    ),
    Mistake(
        "ascent",
        "the update goes uphill; subtract lr * m_hat / (sqrt(v_hat) + eps) from the parameter.",
    ),
    Mistake(
        "inputs-modified-in-place",
        "the inputs are modified in place (m.mul_(...), param.sub_(...)); build new tensors "
        "(m = beta1 * m + ...) so the caller's tensors stay as they were.",
    ),
    Mistake(
        "shared-state",
        "optimizers share their moments (state kept on the class, or a mutable default); every "
        "Adam instance needs its own m, v and step count.",
    ),
]

MISTAKE = by_id(MISTAKES)
