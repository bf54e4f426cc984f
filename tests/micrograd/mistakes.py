"""micrograd's known mistakes: the sentence a learner sees when their engine shows one.

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g.
`[grad-assigned]`. Most are named by tiny hand-worked probes run on the learner's own engine when a
check fails (`diagnose` in test_public.py: `b = a * a` with a = 3 gives a.grad 6, and 3 when the
gradient is assigned instead of accumulated). The mutants that commit each mistake (patches of the
reference, used by `make check`) are in `mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "grad-assigned",
        "a gradient is assigned (`self.grad = ...`) instead of accumulated (`self.grad += ...`), so "
        "a node used more than once (`a * a`, `a + a`, a weight used by every sample) keeps only "
        "the contribution of its last use; with a = 3, `(a * a).backward()` must give a.grad = 6, not 3.",
    ),
    Mistake(
        "forward-order",
        "backward() calls the nodes' backward functions in topological order (leaves first) "
        "instead of REVERSE topological order (output first), so a node passes on its gradient "
        "before it has received it; iterate over reversed(topo).",
    ),
    Mistake(
        "double-counting",
        "the topological sort puts a node reached along two paths into the order twice, so its "
        "gradient is passed on twice; each node must appear exactly once (keep a set of visited "
        "nodes and add a node to the order only the first time it is finished).",
    ),
    Mistake(
        "recursive-topo-sort",
        "the topological sort is recursive and fails past Python's recursion limit (about 1000 "
        "nested calls) on a deep graph such as a chain of 20,000 operations; sort with an "
        "explicit stack (a list of nodes still to visit) instead of recursion.",
    ),
    Mistake(
        "reflected-operators-missing",
        "the reflected operators are missing: with only __add__, __mul__, __sub__ and "
        "__truediv__, `2 + a`, `3 * a`, `1 - a` and `2 / a` fail with 'unsupported operand type', "
        "because Python then calls a.__radd__, __rmul__, __rsub__ and __rtruediv__.",
    ),
    Mistake(
        "tanh-derivative-at-input",
        "tanh's derivative is computed from its input x (1 - x**2) instead of its output: "
        "d tanh(x)/dx = 1 - tanh(x)**2 = 1 - out.data**2.",
    ),
    Mistake(
        "pow-derivative",
        "the derivative of x**k is written k * x**k; it is k * x**(k - 1) (with a = 3, "
        "`(a ** 2).backward()` gives a.grad = 6, not 18).",
    ),
    Mistake(
        "relu-grad-at-zero",
        "relu's gradient is 1 at exactly 0; PyTorch (and this kata) use 0 there: pass the "
        "gradient only where the input is > 0.",
    ),
    Mistake(
        "no-seed",
        "backward() does not start by setting the output's own grad to 1.0 (d out / d out = 1), "
        "so every gradient it passes on is 0.",
    ),
    Mistake(
        "tanh-on-last-layer",
        "the MLP's last layer applies tanh; hidden layers use tanh, the last layer is linear "
        "(nonlin=False), so the network can output any real number.",
    ),
    Mistake(
        "bias-first",
        "a neuron's parameters are listed (or read from `weights`) with the bias first; the order "
        "is the neuron's nin weights, then its bias.",
    ),
    Mistake(
        "sgd-no-reset",
        "sgd_step does not reset each parameter's grad to 0.0 after the update, so the next "
        "backward() adds the new gradient to the old one.",
    ),
    Mistake(
        "mse-summed",
        "mse sums the squared differences instead of averaging them; divide the sum by the number of predictions.",
    ),
]

MISTAKE = by_id(MISTAKES)
