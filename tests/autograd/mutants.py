"""Mutants of solutions/autograd.py, one or more per known mistake, correct alternatives, and
do-nothing implementations.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, pass on every alternative and fail every test on each trivial
implementation. This file quotes the reference, so like `test_hidden.py` it stays with the project
and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

UNBROADCAST = """    lead = grad.dim() - len(shape)
    if lead > 0:
        grad = grad.sum(dim=tuple(range(lead)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(dim=stretched, keepdim=True)
    return grad
"""
MATMUL_GRADS = "return unbroadcast(g @ b.mT, a.shape), unbroadcast(a.mT @ g, b.shape)"
SORT = """        order, seen = [], set()
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((parent, False) for parent in node._parents)
        grads = {self: grad}
        for node in reversed(order):
            g = grads.pop(node, None)
            if g is None or not node._parents:
                continue
"""
KAHN = """        users, seen, stack = {}, {self}, [self]
        while stack:
            node = stack.pop()
            for parent in node._parents:
                users[parent] = users.get(parent, 0) + 1
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        grads = {self: grad}
        ready = [self]
        while ready:
            node = ready.pop(0)
            g = grads.pop(node, None)
            for parent in node._parents:
                users[parent] -= 1
                if users[parent] == 0 and parent._parents:
                    ready.append(parent)
            if g is None or not node._parents:
                continue
"""
LOG_SOFTMAX = """        shifted = self.data - self.data.amax(dim=dim, keepdim=True)
        out = shifted - shifted.exp().sum(dim=dim, keepdim=True).log()

        def backward(g):
            return (g - out.exp() * g.sum(dim=dim, keepdim=True),)

        return Tensor(out, _parents=(self,), _backward=backward)
"""

MUTANTS = [
    Mutant("grad-not-reduced", {UNBROADCAST: "    return grad\n"}),
    Mutant("reduce-forgets-size-one", {"    if stretched:\n": "    if False:\n"}),
    Mutant(
        "sum-keepdim-not-restored",
        {
            "            if not keepdim:\n                for d in dims:": (
                "            if False:\n                for d in dims:"
            )
        },
    ),
    Mutant("mean-divides-by-numel", {"expand(self.shape) / count,)": "expand(self.shape) / self.data.numel(),)"}),
    Mutant(
        "matmul-transpose-batched",
        {MATMUL_GRADS: "return unbroadcast(g @ b.T, a.shape), unbroadcast(a.T @ g, b.shape)"},
    ),
    Mutant("matmul-batch-not-summed", {MATMUL_GRADS: "return g @ b.mT, a.mT @ g"}),
    Mutant(
        "max-grad-to-all-ties",
        {"return (torch.zeros_like(self.data).scatter(dim, index, g),)": "return ((self.data == values) * g,)"},
    ),
    Mutant(
        "log-softmax-no-shift", {"shifted = self.data - self.data.amax(dim=dim, keepdim=True)": "shifted = self.data"}
    ),
    Mutant(
        "repeated-index-assigned",
        {"grad.index_add_(0, positions.reshape(-1), g.reshape(-1))": "grad[positions.reshape(-1)] = g.reshape(-1)"},
    ),
    Mutant("grad-assigned", {"grads[parent] = grads[parent] + pg": "grads[parent] = pg"}, id="grad-assigned-in-graph"),
    Mutant(
        "grad-assigned",
        {"self.grad = g.clone() if self.grad is None else self.grad + g": "self.grad = g.clone()"},
        id="grad-assigned-on-leaves",
    ),
    Mutant(
        "div-denominator-sign",
        {"grad_other = -g * self.data / other.data**2": "grad_other = g * self.data / other.data**2"},
    ),
    Mutant("forward-order", {"for node in reversed(order):": "for node in order:"}),
    Mutant("cross-entropy-summed", {"return -picked.mean()": "return -picked.sum()"}),
]

ALTERNATIVES = [
    Alternative(
        "kahn-order",
        "visits the nodes by Kahn's algorithm (a node once every node that uses it is done, counting "
        "uses first) instead of a depth-first sort",
        {SORT: KAHN},
    ),
    Alternative(
        "reduce-with-a-loop",
        "reduces a broadcast gradient one dimension at a time: leading dimensions in a loop, then each "
        "size-1 dimension of the operand",
        {
            UNBROADCAST: """    while grad.dim() > len(shape):
        grad = grad.sum(dim=0)
    for i, n in enumerate(shape):
        if n == 1 and grad.shape[i] != 1:
            grad = grad.sum(dim=i, keepdim=True)
    return grad
"""
        },
    ),
    Alternative(
        "log-softmax-by-logsumexp",
        "log_softmax as x - logsumexp(x), its backward from the softmax",
        {
            LOG_SOFTMAX: """        out = self.data - torch.logsumexp(self.data, dim=dim, keepdim=True)

        def backward(g):
            softmax = torch.softmax(self.data, dim=dim)
            return (g - softmax * g.sum(dim=dim, keepdim=True),)

        return Tensor(out, _parents=(self,), _backward=backward)
"""
        },
    ),
    Alternative(
        "composed-operations",
        "log_softmax built from the engine's own operations (a constant max subtracted, exp, sum, log), "
        "subtraction and division built from +, * and ** -1, mean from sum",
        {
            LOG_SOFTMAX: """        shifted = self - Tensor(self.data.amax(dim=dim, keepdim=True))
        return shifted - shifted.exp().sum(dim, keepdim=True).log()
""",
            """        other = self._lift(other)

        def backward(g):
            grad_self = g / other.data
            grad_other = -g * self.data / other.data**2
            return unbroadcast(grad_self, self.shape), unbroadcast(grad_other, other.shape)

        return Tensor(self.data / other.data, _parents=(self, other), _backward=backward)
""": "        return self * self._lift(other) ** -1\n",
        },
    ),
    Alternative(
        "index-put-accumulate",
        "indexing's backward with index_put_(accumulate=True) on a zero gradient, through positions",
        {
            """            grad = torch.zeros(self.data.numel(), dtype=g.dtype)
            grad.index_add_(0, positions.reshape(-1), g.reshape(-1))
            return (grad.reshape(self.shape),)
""": """            grad = torch.zeros(self.data.numel(), dtype=g.dtype)
            grad.index_put_((positions.reshape(-1),), g.reshape(-1), accumulate=True)
            return (grad.reshape(self.shape),)
"""
        },
    ),
]

# The solution blocks of the reference, in order: unbroadcast; Tensor.__init__, _lift, __add__,
# __radd__, __neg__, __sub__, __rsub__, __mul__, __rmul__, __truediv__, __rtruediv__, __pow__,
# __matmul__, _dims, sum, mean, max, reshape, transpose, exp, log, relu, tanh, sigmoid, log_softmax,
# __getitem__, _accumulate, backward, zero_grad; cross_entropy.
_OPS = 25  # _lift ... __getitem__
INIT = (
    "self.data = data if isinstance(data, torch.Tensor) else torch.tensor(data, dtype=torch.float64)\n"
    "self.grad = None\nself.requires_grad = requires_grad"
)

TRIVIAL = [
    Trivial(
        "returns-self",
        "every operation returns its Tensor unchanged, backward() does nothing and cross_entropy returns its logits",
        ("return grad", INIT, *["return self"] * _OPS, "pass", "pass", "pass", "return logits"),
    ),
    Trivial(
        "zero-gradients",
        "operations compute nothing (a 0-dim zero), backward() sets every grad it can reach to zeros",
        (
            "return grad",
            INIT,
            *["return Tensor(0.0)"] * _OPS,
            "self.grad = torch.zeros_like(self.data)",
            "self.grad = torch.zeros_like(self.data)",
            "self.grad = None",
            "return Tensor(0.0)",
        ),
    ),
]

# Mistakes that give exactly the same output on some inputs, where naming both is true (make check
# fails a mutant whose failures name any other mistake than its own).
COINCIDENCES = {
    frozenset({"grad-not-reduced", "reduce-forgets-size-one"}): "operands of the same rank ((3, 1) with "
    "(1, 4)): broadcasting added no leading dimension, so summing the leading ones does nothing",
    frozenset({"grad-not-reduced", "matmul-batch-not-summed"}): "a matmul's broadcast batch dimensions: "
    "an engine that reduces no broadcast gradient does not reduce those either",
}
