"""Mutants of solutions/adam.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

M_HAT = "m_hat = new_m / (1 - beta1 ** step)"
V_HAT = "v_hat = new_v / (1 - beta2 ** step)"
INIT_M = "self.m = [torch.zeros_like(p) for p in self.params]"
INIT_V = "self.v = [torch.zeros_like(p) for p in self.params]"

MUTANTS = [
    Mutant("no-bias-correction", {M_HAT: "m_hat = new_m", V_HAT: "v_hat = new_v"}),
    Mutant("bias-correction-m-only", {V_HAT: "v_hat = new_v"}),
    Mutant("bias-correction-v-only", {M_HAT: "m_hat = new_m"}),
    Mutant("eps-inside-sqrt", {"(torch.sqrt(v_hat) + eps)": "torch.sqrt(v_hat + eps)"}),
    Mutant("step-from-zero", {"beta1 ** step": "beta1 ** (step - 1)", "beta2 ** step": "beta2 ** (step - 1)"}),
    Mutant(
        "step-from-zero",
        id="class-step-from-zero",
        patch={
            "        self.t += 1\n        for i, grad": "        for i, grad",
            "        return list(self.params)": "        self.t += 1\n        return list(self.params)",
        },
    ),
    Mutant("weight-decay-swapped", {"if decoupled_weight_decay:": "if not decoupled_weight_decay:"}),
    Mutant("weight-decay-without-lr", {"param * (1 - lr * weight_decay)": "param * (1 - weight_decay)"}),
    Mutant("v-not-squared", {"(1 - beta2) * grad * grad": "(1 - beta2) * grad"}),
    Mutant("betas-swapped", {"beta1, beta2 = betas": "beta2, beta1 = betas"}),
    Mutant("ascent", {"param - lr * m_hat": "param + lr * m_hat"}),
    Mutant(
        "inputs-modified-in-place",
        {
            "new_m = beta1 * m + (1 - beta1) * grad": "new_m = m.mul_(beta1).add_((1 - beta1) * grad)",
            "new_v = beta2 * v + (1 - beta2) * grad * grad": "new_v = v.mul_(beta2).add_((1 - beta2) * grad * grad)",
        },
    ),
    Mutant(
        "shared-state",
        {
            "class Adam:\n": "class Adam:\n    _moments: dict = {}\n",
            INIT_M: "self.m = Adam._moments.setdefault('m', [torch.zeros_like(p) for p in self.params])",
            INIT_V: "self.v = Adam._moments.setdefault('v', [torch.zeros_like(p) for p in self.params])",
        },
    ),
]

ALTERNATIVES = [
    Alternative(
        "torch-style-arithmetic",
        "the association torch.optim uses: lerp for m, step size lr / bc1, denominator "
        "sqrt(v) / sqrt(bc2) + eps, addcdiv",
        (
            ("new_m = beta1 * m + (1 - beta1) * grad", "new_m = torch.lerp(m, grad, 1 - beta1)"),
            (
                "new_param = param - lr * m_hat / (torch.sqrt(v_hat) + eps)",
                "bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step\n"
                "    denom = new_v.sqrt() / (bc2 ** 0.5) + eps\n"
                "    new_param = param.clone().addcdiv_(new_m, denom, value=-lr / bc1)",
            ),
        ),
    ),
    Alternative(
        "float64-inside",
        "computes in float64 and casts the results back to the parameter's dtype",
        (
            (
                "    beta1, beta2 = betas\n",
                "    beta1, beta2 = betas\n    dtype = param.dtype\n"
                "    param, grad, m, v = param.double(), grad.double(), m.double(), v.double()\n",
            ),
            (
                "    return new_param, new_m, new_v\n",
                "    return new_param.to(dtype), new_m.to(dtype), new_v.to(dtype)\n",
            ),
        ),
    ),
    Alternative(
        "in-place-on-copies",
        "clones the inputs, then updates the copies in place",
        (
            ("new_m = beta1 * m + (1 - beta1) * grad", "new_m = m.clone().mul_(beta1).add_(grad, alpha=1 - beta1)"),
            (
                "new_v = beta2 * v + (1 - beta2) * grad * grad",
                "new_v = v.clone().mul_(beta2).addcmul_(grad, grad, value=1 - beta2)",
            ),
        ),
    ),
    Alternative(
        "pow-and-math",
        "uses grad ** 2, torch.pow and math.sqrt on the bias corrections",
        (
            ("new_v = beta2 * v + (1 - beta2) * grad * grad", "new_v = beta2 * v + (1 - beta2) * grad ** 2"),
            (
                "new_param = param - lr * m_hat / (torch.sqrt(v_hat) + eps)",
                "new_param = param - lr * m_hat / (torch.pow(v_hat, 0.5) + eps)",
            ),
        ),
    ),
]

TRIVIAL = [
    Trivial(
        "returns-inputs",
        "adam_step returns copies of param, m and v; Adam keeps copies and never changes them",
        (
            "return param.clone(), m.clone(), v.clone()",
            "self.params = [p.clone() for p in params]",
            "return list(self.params)",
        ),
    ),
    Trivial(
        "sgd",
        "plain gradient descent (p - lr * g) with the moments left at their inputs",
        (
            "return param - lr * grad, m.clone(), v.clone()",
            "self.params = [p.clone() for p in params]\nself.lr = lr",
            "self.params = [p - self.lr * g for p, g in zip(self.params, grads)]\nreturn list(self.params)",
        ),
    ),
]


# Mistakes that give exactly the same output on some inputs, where naming both is true (make check
# fails a mutant whose failures name any other mistake than its own).
COINCIDENCES = {
    frozenset(
        {"no-bias-correction", "bias-correction-m-only"}
    ): "beta1 = 0 (or beta1**step rounds to 0): m needs no correction",
    frozenset({"no-bias-correction", "bias-correction-v-only"}): "beta2 = 0: v needs no correction",
}
