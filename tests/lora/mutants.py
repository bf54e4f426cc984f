"""Mutants of solutions/lora.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

SCALE = "scale = alpha / math.sqrt(r) if use_rslora else alpha / r"
FWD_SCALE = f"    {SCALE}\n    out = x @ weight.T"
BWD_SCALE = f"    {SCALE}\n    grad_flat"
LAYER_SCALE = "self.scaling = alpha / math.sqrt(r) if use_rslora else alpha / r"
LORA_PATH = "scale * ((x @ lora_A.T) @ lora_B.T)"
INIT_A = "torch.nn.init.kaiming_uniform_(lora_A, a=math.sqrt(5), generator=generator)"
INIT_B = "self.lora_B = torch.zeros(out_features, r, dtype=weight.dtype, requires_grad=True)"
DELTA = "delta = self.scaling * (self.lora_B @ self.lora_A).detach()"
MERGE = f"        if self.merged:\n            return\n        {DELTA}\n        self.weight = self.weight + delta\n"
UNMERGE = (
    f"        if not self.merged:\n            return\n        {DELTA}\n        self.weight = self.weight - delta\n"
    "        self.merged = False\n"
)
COPY = "self.weight = weight.detach().clone()"
GRAD_X = "grad_x = grad_out @ weight + (grad_hidden @ lora_A).reshape(x.shape)"
RECORD = "            losses.append(float((diff * diff).mean()))\n"
STEP = "            optimizer.step()\n"
FORWARD_BODY = (
    "    out = x @ weight.T + scale * ((x @ lora_A.T) @ lora_B.T)\n    if bias is not None:\n"
    "        out = out + bias\n    return out\n"
)
BACKWARD_BODY = (
    "    grad_flat = grad_out.reshape(-1, grad_out.shape[-1])  # (N, out)\n"
    "    x_flat = x.reshape(-1, x.shape[-1])  # (N, in)\n"
    "    hidden = x_flat @ lora_A.T  # (N, r): what B sees\n"
    "    grad_hidden = scale * (grad_flat @ lora_B)  # (N, r): dL/d(x A^T)\n"
    f"    {GRAD_X}\n"
    "    grad_A = grad_hidden.T @ x_flat\n"
    "    grad_B = scale * (grad_flat.T @ hidden)\n"
)
TRAIN_LOOP = (
    "    with torch.no_grad():\n"
    "        for _ in range(steps):\n"
    "            diff = lora_forward(X, layer.weight, layer.bias, lora_A, lora_B, alpha) - Y\n"
    + RECORD
    + "            grad_out = 2 * diff / diff.numel()\n"
    "            _, lora_A.grad, lora_B.grad = lora_backward(grad_out, X, layer.weight, lora_A, lora_B, alpha)\n" + STEP
)


def _scale_mutant(mistake: str, forward: str, layer: str) -> Mutant:
    """The scale `forward` (an expression of alpha and r) in lora_forward, lora_backward and the layer."""
    return Mutant(
        mistake,
        {
            FWD_SCALE: FWD_SCALE.replace(SCALE, f"scale = {forward}"),
            BWD_SCALE: BWD_SCALE.replace(SCALE, f"scale = {forward}"),
            LAYER_SCALE: f"self.scaling = {layer}",
        },
    )


MUTANTS = [
    _scale_mutant("scale-alpha", "alpha", "alpha"),
    _scale_mutant("rslora-always", "alpha / math.sqrt(r)", "alpha / math.sqrt(r)"),
    _scale_mutant("rslora-ignored", "alpha / r", "alpha / r"),
    Mutant(
        "b-random-init",
        {
            INIT_B: "self.lora_B = torch.nn.init.kaiming_uniform_(torch.empty(out_features, r, dtype=weight.dtype), "
            "a=math.sqrt(5), generator=generator).requires_grad_(True)"
        },
    ),
    Mutant("a-zero-init", {INIT_A: "torch.nn.init.zeros_(lora_A)"}),
    Mutant("ab-wrong-order", {LORA_PATH: "scale * ((x @ lora_B) @ lora_A)"}),
    Mutant("merge-transposed", {MERGE: MERGE.replace("self.weight + delta", "self.weight + delta.T")}),
    Mutant("merge-no-scale", {MERGE: MERGE.replace("self.scaling * (self.lora_B", "(self.lora_B")}),
    Mutant("unmerge-twice", {UNMERGE: UNMERGE.replace("self.weight - delta", "self.weight - 2 * delta")}),
    Mutant("unmerge-never", {UNMERGE: UNMERGE.replace("        self.weight = self.weight - delta\n", "")}),
    Mutant("unmerge-never", {UNMERGE: "        return\n"}, id="unmerge-does-nothing"),
    Mutant("not-idempotent", {MERGE: MERGE.replace("        if self.merged:\n            return\n", "")}),
    Mutant(
        "not-idempotent",
        {UNMERGE: UNMERGE.replace("        if not self.merged:\n            return\n", "")},
        id="not-idempotent-unmerge",
    ),
    Mutant("base-trainable", {COPY: "self.weight = weight.clone()"}),
    Mutant(
        "base-trainable",
        {COPY: "self.weight = weight.detach().clone().requires_grad_(True)"},
        id="base-trainable-flag",
    ),
    Mutant(
        "base-trainable",
        {
            "        return [self.lora_A, self.lora_B]\n": "        base = [self.weight] if self.bias is None else "
            "[self.weight, self.bias]\n        return base + [self.lora_A, self.lora_B]\n",
            "lora_A, lora_B = layer.trainable_parameters()": "lora_A, lora_B = layer.lora_A, layer.lora_B",
        },
        id="base-trainable-counted",
    ),
    Mutant(
        "weight-not-copied",
        {COPY: "self.weight = weight.detach()", "self.weight = self.weight + delta": "self.weight += delta"},
    ),
    Mutant("grad-a-missing-b", {"grad_A = grad_hidden.T @ x_flat": "grad_A = scale * grad_flat.T @ x_flat"}),
    Mutant("grad-x-base-only", {GRAD_X: "grad_x = grad_out @ weight"}),
    Mutant(
        "losses-after-update",
        {
            RECORD: "",
            STEP: STEP + "            after = lora_forward(X, layer.weight, layer.bias, lora_A, lora_B, alpha) - Y\n"
            "            losses.append(float((after * after).mean()))\n",
        },
    ),
    Mutant(
        "mse-not-mean",
        {RECORD: RECORD.replace(".mean()", ".sum()"), "grad_out = 2 * diff / diff.numel()": "grad_out = 2 * diff"},
    ),
]

ALTERNATIVES = [
    Alternative(
        "merged-weight-first",
        "lora_forward forms the merged weight W + s B A first and calls F.linear; lora_backward uses einsum "
        "over the leading dimensions without flattening them",
        {
            FORWARD_BODY: "    merged = weight + scale * (lora_B @ lora_A)\n"
            "    return torch.nn.functional.linear(x, merged, bias)\n",
            BACKWARD_BODY: (
                "    hidden = torch.einsum('...i,ri->...r', x, lora_A)\n"
                "    grad_hidden = scale * torch.einsum('...o,or->...r', grad_out, lora_B)\n"
                "    grad_x = torch.einsum('...o,oi->...i', grad_out, weight + scale * (lora_B @ lora_A))\n"
                "    grad_A = torch.einsum('...r,...i->ri', grad_hidden, x)\n"
                "    grad_B = scale * torch.einsum('...o,...r->or', grad_out, hidden)\n"
            ),
        },
    ),
    Alternative(
        "float64-inside",
        "lora_forward and lora_backward compute in float64 and round once to x's dtype; the scale is "
        "alpha * r ** -0.5 for rsLoRA",
        {
            FWD_SCALE: FWD_SCALE.replace("alpha / math.sqrt(r)", "alpha * r**-0.5"),
            FORWARD_BODY: (
                "    x64, w64 = x.double(), weight.double()\n"
                "    out = x64 @ w64.T + scale * ((x64 @ lora_A.double().T) @ lora_B.double().T)\n"
                "    if bias is not None:\n"
                "        out = out + bias.double()\n"
                "    return out.to(x.dtype)\n"
            ),
            BACKWARD_BODY: (
                "    g64, x64 = grad_out.double(), x.double()\n"
                "    a64, b64, w64 = lora_A.double(), lora_B.double(), weight.double()\n"
                "    grad_flat = g64.reshape(-1, g64.shape[-1])\n"
                "    x_flat = x64.reshape(-1, x64.shape[-1])\n"
                "    grad_hidden = scale * (grad_flat @ b64)\n"
                "    grad_x = (g64 @ w64 + (grad_hidden @ a64).reshape(x.shape)).to(x.dtype)\n"
                "    grad_A = (grad_hidden.T @ x_flat).to(x.dtype)\n"
                "    grad_B = (scale * (grad_flat.T @ (x_flat @ a64.T))).to(x.dtype)\n"
            ),
        },
    ),
    Alternative(
        "layer-by-other-means",
        "A drawn by uniform_(-1/sqrt(in), 1/sqrt(in)) with the generator, merge and unmerge in place on "
        "the layer's own copy, the merged forward by F.linear, num_trainable as r (in + out), fine_tune "
        "through layer.forward with autograd on (gradients detached), zero_grad between steps",
        {
            INIT_A: "bound = 1 / math.sqrt(in_features)\n        lora_A.uniform_(-bound, bound, generator=generator)",
            MERGE: MERGE.replace("self.weight = self.weight + delta", "self.weight.add_(delta)"),
            UNMERGE: UNMERGE.replace("self.weight = self.weight - delta", "self.weight.sub_(delta)"),
            "            out = x @ self.weight.T\n            return out if self.bias is None else out + self.bias\n": (
                "            return torch.nn.functional.linear(x, self.weight, self.bias)\n"
            ),
            "        return sum(p.numel() for p in self.trainable_parameters())\n": (
                "        out_features, in_features = self.weight.shape\n"
                "        return self.lora_A.shape[0] * (in_features + out_features)\n"
            ),
            TRAIN_LOOP: (
                "    for _ in range(steps):\n"
                "        optimizer.zero_grad()\n"
                "        diff = (layer.forward(X) - Y).detach()\n"
                "        losses.append(torch.mean(diff**2).item())\n"
                "        grads = lora_backward(diff * (2.0 / Y.numel()), X, layer.weight, lora_A, lora_B, alpha)\n"
                "        lora_A.grad, lora_B.grad = grads[1].detach(), grads[2].detach()\n"
                "        optimizer.step()\n"
            ),
        },
    ),
]

TRIVIAL = [
    Trivial(
        "zeros",
        "every function returns zeros of the right shape, the layer holds zeros, merge and unmerge do nothing",
        (
            "return torch.zeros(*x.shape[:-1], weight.shape[0], dtype=x.dtype)",
            "return torch.zeros_like(x), torch.zeros_like(lora_A), torch.zeros_like(lora_B)",
            "self.weight, self.bias, self.merged = torch.zeros_like(weight), None, False\n"
            "        self.lora_A = torch.zeros(r, weight.shape[1], dtype=weight.dtype)\n"
            "        self.lora_B = torch.zeros(weight.shape[0], r, dtype=weight.dtype)",
            "return torch.zeros(*x.shape[:-1], self.weight.shape[0], dtype=x.dtype)",
            "return None",
            "return None",
            "return []",
            "return 0",
            "return torch.zeros(r, weight.shape[1], dtype=weight.dtype), "
            "torch.zeros(weight.shape[0], r, dtype=weight.dtype), [0.0] * steps",
        ),
    ),
]
