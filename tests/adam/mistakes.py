"""Adam's known mistakes, each a mutant of solutions/adam.py with the sentence a learner sees.

`make check` turns every entry into a mutant (the patch applied to the reference), runs the suite on
it, and requires a failure whose message carries the mistake's tag, e.g. `[no-bias-correction]`.
`ALTERNATIVES` are correct versions written differently; they must pass every test.
"""

from grader.mistakes import Alternative, Mistake

M_HAT = "m_hat = new_m / (1 - beta1 ** step)"
V_HAT = "v_hat = new_v / (1 - beta2 ** step)"

MISTAKES = [
    Mistake(
        "no-bias-correction",
        "the moments are used without bias correction; divide m by (1 - beta1**step) and v by "
        "(1 - beta2**step), or the first steps are far too small (m and v start at zero).",
        ((M_HAT, "m_hat = new_m"), (V_HAT, "v_hat = new_v")),
    ),
    Mistake(
        "bias-correction-m-only",
        "only the first moment is bias-corrected; v also needs dividing by (1 - beta2**step).",
        ((V_HAT, "v_hat = new_v"),),
    ),
    Mistake(
        "bias-correction-v-only",
        "only the second moment is bias-corrected; m also needs dividing by (1 - beta1**step).",
        ((M_HAT, "m_hat = new_m"),),
    ),
    Mistake(
        "eps-inside-sqrt",
        "eps is added inside the square root; torch.optim.Adam divides by sqrt(v_hat) + eps.",
        (("(torch.sqrt(v_hat) + eps)", "torch.sqrt(v_hat + eps)"),),
    ),
    Mistake(
        "step-from-zero",
        "the step is counted from 0; `step` is 1 on the first update, so the bias correction of "
        "the first step is 1 - beta**1 (with 1 - beta**0 = 0 the first update divides by zero).",
        (("beta1 ** step", "beta1 ** (step - 1)"), ("beta2 ** step", "beta2 ** (step - 1)")),
    ),
    Mistake(
        "class-step-from-zero",
        "Adam.step passes 0 as the step number on the first update; count the step before using it.",
        (("        self.t += 1\n        for i, grad", "        for i, grad"),
         ("        return list(self.params)", "        self.t += 1\n        return list(self.params)")),
        named_as="step-from-zero",
    ),
    Mistake(
        "weight-decay-swapped",
        "L2 and decoupled weight decay are swapped; decoupled_weight_decay=False adds "
        "weight_decay * param to the gradient, True (AdamW) multiplies param by (1 - lr * weight_decay).",
        (("if decoupled_weight_decay:", "if not decoupled_weight_decay:"),),
    ),
    Mistake(
        "weight-decay-without-lr",
        "decoupled weight decay is not scaled by the learning rate; AdamW multiplies param by "
        "(1 - lr * weight_decay), not (1 - weight_decay).",
        (("param * (1 - lr * weight_decay)", "param * (1 - weight_decay)"),),
    ),
    Mistake(
        "v-not-squared",
        "the second moment averages grad instead of grad**2 (v = beta2 * v + (1 - beta2) * grad * grad).",
        (("(1 - beta2) * grad * grad", "(1 - beta2) * grad"),),
    ),
    Mistake(
        "betas-swapped",
        "beta1 and beta2 are swapped; betas = (beta1, beta2) with beta1 (0.9) for m and beta2 (0.999) for v.",
        (("beta1, beta2 = betas", "beta2, beta1 = betas"),),
    ),
    Mistake(
        "ascent",
        "the update goes uphill; subtract lr * m_hat / (sqrt(v_hat) + eps) from the parameter.",
        (("param - lr * m_hat", "param + lr * m_hat"),),
    ),
    Mistake(
        "inputs-modified-in-place",
        "the inputs are modified in place (m.mul_(...), param.sub_(...)); build new tensors "
        "(m = beta1 * m + ...) so the caller's tensors stay as they were.",
        (("new_m = beta1 * m + (1 - beta1) * grad", "new_m = m.mul_(beta1).add_((1 - beta1) * grad)"),
         ("new_v = beta2 * v + (1 - beta2) * grad * grad",
          "new_v = v.mul_(beta2).add_((1 - beta2) * grad * grad)")),
    ),
    Mistake(
        "shared-state",
        "optimizers share their moments (state kept on the class, or a mutable default); every "
        "Adam instance needs its own m, v and step count.",
        (("class Adam:\n", "class Adam:\n    _moments: dict = {}\n"),
         ("self.m = [torch.zeros_like(p) for p in self.params]",
          "self.m = Adam._moments.setdefault('m', [torch.zeros_like(p) for p in self.params])"),
         ("self.v = [torch.zeros_like(p) for p in self.params]",
          "self.v = Adam._moments.setdefault('v', [torch.zeros_like(p) for p in self.params])")),
    ),
]

ALTERNATIVES = [
    Alternative(
        "torch-style-arithmetic",
        "the association torch.optim uses: lerp for m, step size lr / bc1, denominator "
        "sqrt(v) / sqrt(bc2) + eps, addcdiv",
        (("new_m = beta1 * m + (1 - beta1) * grad", "new_m = torch.lerp(m, grad, 1 - beta1)"),
         ("new_param = param - lr * m_hat / (torch.sqrt(v_hat) + eps)",
          "bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step\n"
          "    denom = new_v.sqrt() / (bc2 ** 0.5) + eps\n"
          "    new_param = param.clone().addcdiv_(new_m, denom, value=-lr / bc1)")),
    ),
    Alternative(
        "float64-inside",
        "computes in float64 and casts the results back to the parameter's dtype",
        (("    beta1, beta2 = betas\n",
          "    beta1, beta2 = betas\n    dtype = param.dtype\n"
          "    param, grad, m, v = param.double(), grad.double(), m.double(), v.double()\n"),
         ("    return new_param, new_m, new_v\n",
          "    return new_param.to(dtype), new_m.to(dtype), new_v.to(dtype)\n")),
    ),
    Alternative(
        "in-place-on-copies",
        "clones the inputs, then updates the copies in place",
        (("new_m = beta1 * m + (1 - beta1) * grad", "new_m = m.clone().mul_(beta1).add_(grad, alpha=1 - beta1)"),
         ("new_v = beta2 * v + (1 - beta2) * grad * grad",
          "new_v = v.clone().mul_(beta2).addcmul_(grad, grad, value=1 - beta2)")),
    ),
    Alternative(
        "pow-and-math",
        "uses grad ** 2, torch.pow and math.sqrt on the bias corrections",
        (("new_v = beta2 * v + (1 - beta2) * grad * grad", "new_v = beta2 * v + (1 - beta2) * grad ** 2"),
         ("new_param = param - lr * m_hat / (torch.sqrt(v_hat) + eps)",
          "new_param = param - lr * m_hat / (torch.pow(v_hat, 0.5) + eps)")),
    ),
]
