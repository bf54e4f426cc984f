"""Mutants of solutions/micrograd.py, one or more per known mistake, correct alternatives, and
do-nothing implementations.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, pass on every alternative and fail every test on each trivial
implementation. This file quotes the reference, so like `test_hidden.py` it stays with the project
and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

# Every accumulation of a gradient in the reference (one per local derivative).
ACCUMULATIONS = [
    "self.grad += out.grad\n",
    "other.grad += out.grad\n",
    "self.grad += other.data * out.grad",
    "other.grad += self.data * out.grad",
    "self.grad += k * self.data ** (k - 1) * out.grad",
    "self.grad += (1 - t * t) * out.grad",
    "self.grad += (self.data > 0) * out.grad",
    "self.grad += s * (1 - s) * out.grad",
    "self.grad += out.data * out.grad",
    "self.grad += out.grad / self.data",
]
SORT = """        topo, visited = [], set()
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
            elif node not in visited:
                visited.add(node)
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
"""
RECURSIVE_SORT = """        topo, visited = [], set()

        def build(node):
            if node not in visited:
                visited.add(node)
                for child in node._prev:
                    build(child)
                topo.append(node)

        build(self)
"""
REFLECTED = {
    '''    def __radd__(self, other):
        """other + self, when other is a plain number (2 + a)."""
        ### BEGIN SOLUTION
        return self + other
        ### END SOLUTION
''': "",
    '''    def __rsub__(self, other):
        """other - self, when other is a plain number (1 - a)."""
        ### BEGIN SOLUTION
        return other + (-self)
        ### END SOLUTION
''': "",
    '''    def __rmul__(self, other):
        """other * self, when other is a plain number (3 * a)."""
        ### BEGIN SOLUTION
        return self * other
        ### END SOLUTION
''': "",
    '''    def __rtruediv__(self, other):
        """other / self, when other is a plain number (2 / a)."""
        ### BEGIN SOLUTION
        return other * self**-1
        ### END SOLUTION
''': "",
}

MUTANTS = [
    Mutant("grad-assigned", {old: old.replace("+=", "=") for old in ACCUMULATIONS}),
    Mutant(
        "grad-assigned",
        {"self.grad += out.grad\n": "self.grad = out.grad\n", "other.grad += out.grad\n": "other.grad = out.grad\n"},
        id="grad-assigned-in-add-only",
    ),
    Mutant("forward-order", {"for node in reversed(topo):": "for node in topo:"}),
    Mutant(
        "double-counting",
        {
            "                stack.extend((child, False) for child in node._prev)\n": (
                "                stack.extend((child, False) for child in node._prev)\n"
                "            else:\n"
                "                topo.append(node)\n"
            )
        },
    ),
    Mutant("recursive-topo-sort", {SORT: RECURSIVE_SORT}),
    Mutant("reflected-operators-missing", REFLECTED),
    Mutant(
        "reflected-operators-missing",
        {
            """        ### BEGIN SOLUTION
        return self * other
        ### END SOLUTION
""": """        ### BEGIN SOLUTION
        return NotImplemented
        ### END SOLUTION
"""
        },
        id="rmul-missing",
    ),
    Mutant("tanh-derivative-at-input", {"(1 - t * t) * out.grad": "(1 - self.data**2) * out.grad"}),
    Mutant("pow-derivative", {"k * self.data ** (k - 1) * out.grad": "k * self.data**k * out.grad"}),
    Mutant("relu-grad-at-zero", {"(self.data > 0) * out.grad": "(self.data >= 0) * out.grad"}),
    Mutant("no-seed", {"        self.grad = 1.0\n        for node": "        for node"}),
    Mutant("tanh-on-last-layer", {"nonlin=i != len(nouts) - 1": "nonlin=True"}),
    Mutant("bias-first", {"return self.w + [self.b]": "return [self.b] + self.w"}, id="bias-first-listed"),
    Mutant(
        "bias-first",
        {
            "return self.w + [self.b]": "return [self.b] + self.w",
            "self.w = [Value(x) for x in weights[:nin]]": "self.w = [Value(x) for x in weights[1:]]",
            "self.b = Value(weights[nin])": "self.b = Value(weights[0])",
        },
        id="bias-first-read-and-listed",
    ),
    Mutant("sgd-no-reset", {"        p.grad = 0.0\n": ""}),
    Mutant("mse-summed", {"return total * (1.0 / len(preds))": "return total"}),
]

ALTERNATIVES = [
    Alternative(
        "kahn-topological-order",
        "orders the nodes by Kahn's algorithm: a node is processed once every node that uses it "
        "has been (counting uses first), an explicit queue instead of a depth-first search",
        {
            SORT
            + """        self.grad = 1.0
        for node in reversed(topo):
            node._backward()
""": """        users, seen, stack = {}, {self}, [self]
        while stack:
            node = stack.pop()
            for child in node._prev:
                users[child] = users.get(child, 0) + 1
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        self.grad = 1.0
        ready = [self]
        while ready:
            node = ready.pop()
            node._backward()
            for child in node._prev:
                users[child] -= 1
                if users[child] == 0:
                    ready.append(child)
"""
        },
    ),
    Alternative(
        "sub-and-div-direct",
        "a - b and a / b with their own local derivatives instead of a + (-b) and a * b**-1",
        {
            "        return self + (-other)\n": """        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data - other.data, (self, other), "-")

        def _backward():
            self.grad += out.grad
            other.grad -= out.grad

        out._backward = _backward
        return out
""",
            "        return self * other**-1\n": """        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data / other.data, (self, other), "/")

        def _backward():
            self.grad += out.grad / other.data
            other.grad -= self.data / other.data**2 * out.grad

        out._backward = _backward
        return out
""",
            "        return other + (-self)\n": "        return Value(other) - self\n",
            "        return other * self**-1\n": "        return Value(other) / self\n",
        },
    ),
    Alternative(
        "activations-by-formula",
        "tanh from exp ((e^2x - 1) / (e^2x + 1)), a naive sigmoid 1 / (1 + e^-x), relu with max(), "
        "the local derivatives written with out.data",
        {
            "        t = math.tanh(self.data)\n": (
                "        e = math.exp(2 * self.data)\n        t = (e - 1) / (e + 1)\n"
            ),
            """        if self.data >= 0:
            s = 1.0 / (1.0 + math.exp(-self.data))
        else:
            e = math.exp(self.data)
            s = e / (1.0 + e)
""": "        s = 1 / (1 + math.exp(-self.data))\n",
            'out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")': (
                'out = Value(max(0.0, self.data), (self,), "relu")'
            ),
            "self.grad += (self.data > 0) * out.grad": "self.grad += (1.0 if out.data > 0 else 0.0) * out.grad",
            "self.grad += k * self.data ** (k - 1) * out.grad": (
                "self.grad += (k * out.data / self.data if self.data != 0 else k * self.data ** (k - 1)) * out.grad"
            ),
        },
    ),
    Alternative(
        "loops-and-other-sums",
        "a neuron sums from 0 (with __radd__) and adds the bias last; mse divides at the end; the "
        "parameters are gathered with loops and extend",
        {
            "act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)": (
                "act = sum(wi * xi for wi, xi in zip(self.w, x)) + self.b"
            ),
            "return total * (1.0 / len(preds))": "return total / len(preds)",
            "return [p for layer in self.layers for p in layer.parameters()]": (
                "params = []\n        for layer in self.layers:\n            params.extend(layer.parameters())\n"
                "        return params"
            ),
        },
    ),
    Alternative(
        "mlp-assigns-through-parameters",
        "the MLP builds its layers without weights of their own (zeros, nothing drawn), then writes "
        "the given weights through parameters(), in their order",
        {
            "            chunk = None if weights is None else list(weights[start : start + counts[i]])\n": (
                "            chunk = None if weights is None else [0.0] * counts[i]\n"
            ),
            "            start += counts[i]\n": (
                "            start += counts[i]\n"
                "        if weights is not None:\n"
                "            for p, w in zip(self.parameters(), weights):\n"
                "                p.data = float(w)\n"
            ),
        },
    ),
]

# The solution blocks of the reference, in order: Value.__init__, __add__, __mul__, __pow__,
# __neg__, __radd__, __sub__, __rsub__, __rmul__, __truediv__, __rtruediv__, tanh, relu, sigmoid,
# exp, log, backward; Neuron.__init__, __call__, parameters; Layer (the same three); MLP (the same
# three); mse; sgd_step.
_VALUE_OPS = 15  # __add__ ... log


def _bodies(init: str, op: str, backward: str, neuron_call: str, layer_call: str, mlp_call: str, loss: str):
    return (
        init,
        *[op] * _VALUE_OPS,
        backward,
        "self.nin = nin",
        neuron_call,
        "return []",
        "self.nout = nout",
        layer_call,
        "return []",
        "self.nin = nin",
        mlp_call,
        "return []",
        loss,
        "pass",
    )


TRIVIAL = [
    Trivial(
        "zeros",
        "Values keep their data, every operation returns Value(0.0), backward() does nothing, "
        "networks have no parameters and output zeros, mse is 0 and sgd_step does nothing",
        _bodies(
            "self.data = float(data)\nself.grad = 0.0",
            "return Value(0.0)",
            "pass",
            "return Value(0.0)",
            "return [Value(0.0) for _ in range(self.nout)]",
            "return Value(0.0)",
            "return Value(0.0)",
        ),
    ),
    Trivial(
        "identity",
        "every operation returns its Value unchanged, backward() only sets the output's grad to 1, "
        "networks return their first input and mse its first prediction",
        _bodies(
            "self.data = float(data)\nself.grad = 0.0",
            "return self",
            "self.grad = 1.0",
            "return x[0]",
            "return [x[0] for _ in range(self.nout)]",
            "return x[0]",
            "return preds[0]",
        ),
    ),
]

# No two mistakes give the same output where the suite names them.
COINCIDENCES: dict = {}
