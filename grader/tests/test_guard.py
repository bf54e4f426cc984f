"""The from-scratch guard (grader/guard.py): docs/design.md rule 6, checked statically and at run time.

The run-time traps are global to the process once installed; that is how the harness uses them too.
"""

import pytest
import torch

from grader import guard, loader
from grader.guard import ForbiddenAPIError, Use, describe, find_forbidden

OPTIM = ("torch.optim",)
CONV = ("torch.nn.functional.conv2d",)


def texts(uses):
    return [(u.line, u.text) for u in uses]


def test_module_alias_resolves_to_the_forbidden_function():
    """`import torch.nn.functional as F; F.conv2d(...)` is reported as torch.nn.functional.conv2d."""
    source = "import torch\nimport torch.nn.functional as F\n\ny = F.conv2d(x, w)\nz = F.relu(y)\n"
    uses = find_forbidden(source, CONV)
    assert uses == [Use("torch.nn.functional.conv2d", 4, "torch.nn.functional.conv2d")]


def test_from_import_is_reported_at_the_import():
    """`from torch.optim import Adam` is reported at its line, with the resolved name."""
    uses = find_forbidden("import torch\nfrom torch.optim import Adam\nopt = Adam([])\n", OPTIM)
    assert texts(uses) == [(2, "torch.optim.Adam")]
    assert uses[0].name == "torch.optim"


def test_full_dotted_reference_and_aliased_torch():
    """`torch.optim.SGD` and `t.optim.Adam` (torch imported as t) are both found, in line order."""
    source = "import torch as t\nimport torch\n\nb = t.optim.Adam\na = torch.optim.SGD\n"
    assert texts(find_forbidden(source, OPTIM)) == [(4, "torch.optim.Adam"), (5, "torch.optim.SGD")]


def test_submodule_import_through_parent_alias():
    """`from torch import nn` then `nn.functional.conv2d` resolves through the alias."""
    source = "from torch import nn\n\nout = nn.functional.conv2d(x, w)\n"
    assert texts(find_forbidden(source, CONV)) == [(3, "torch.nn.functional.conv2d")]


def test_imports_inside_functions_are_seen():
    """An import inside a function body is found as well as one at the top."""
    source = "def f():\n    import torch.optim as o\n    return o.Adam\n"
    uses = find_forbidden(source, OPTIM)
    assert (2, "torch.optim") in texts(uses)
    assert (3, "torch.optim.Adam") in texts(uses)


def test_comments_and_docstrings_are_not_reported():
    """Mentioning torch.optim in a comment, docstring or string is not a use."""
    source = (
        '"""Checked against torch.optim.Adam."""\n'
        "import torch\n"
        "# do not use torch.optim here\n"
        "NOTE = 'torch.optim.SGD'\n"
        'def f(x):\n    """Like torch.optim.Adam.step."""\n    return torch.sqrt(x)\n'
    )
    assert find_forbidden(source, OPTIM) == []


def test_prefix_must_end_on_a_dot():
    """`torch.optimize_something` does not match the forbidden `torch.optim`."""
    source = "import torch\ntorch.optimize_something()\nimport torch.optimizers_of_mine\n"
    assert find_forbidden(source, OPTIM) == []


def test_other_torch_calls_are_allowed():
    """Allowed torch functions are not reported, and no forbidden names means nothing to check."""
    source = "import torch\nimport torch.nn.functional as F\ny = torch.sqrt(F.relu(x))\n"
    assert find_forbidden(source, OPTIM + CONV) == []
    assert find_forbidden("import torch.optim\n", ()) == []


def test_exact_name_matches():
    """The forbidden name itself (not only names inside it) is reported."""
    assert texts(find_forbidden("import torch\nf = torch.nn.functional.conv2d\n", CONV)) == [
        (2, "torch.nn.functional.conv2d")
    ]


def test_describe_is_one_sentence_with_lines_and_reason():
    """describe names the file, the forbidden API, the reason and the lines, capped at five."""
    uses = [Use("torch.optim", n, f"torch.optim.X{n}") for n in range(1, 8)]
    message = describe(uses, "exercises/adam.py", "write it yourself")
    assert message.startswith("exercises/adam.py uses torch.optim, which this topic forbids: write it yourself.")
    assert "line 1 (torch.optim.X1)" in message and "line 5 (torch.optim.X5)" in message
    assert "line 6" not in message
    assert "and 2 more" in message


LEARNER = """\
import torch


def sneaky(p):
    return getattr(torch, "op" + "tim").SGD([p], lr=0.1)


def sneaky_but_caught(p):
    try:
        getattr(torch, "op" + "tim").SGD([p], lr=0.1)
    except Exception:
        return "caught"
    return "not trapped"


def honest(p):
    return torch.sqrt(p.detach() * p.detach())
"""


@pytest.fixture
def learner(tmp_path):
    """A learner module loaded by the loader (which registers its file and installs the traps)."""
    (tmp_path / "adam.py").write_text(LEARNER, encoding="utf-8")
    guard.install_traps(OPTIM)
    module = loader.load_topic("adam", tmp_path, escapes=False)  # the run-time layer on its own
    guard.register_learner_file(str((tmp_path / "adam.py").resolve()))
    return module


def test_runtime_trap_stops_a_hidden_forbidden_call(learner):
    """A call to torch.optim that the static check cannot see raises ForbiddenAPIError and is recorded."""
    p = torch.zeros(3, requires_grad=True)
    before = len(guard.violations)
    with pytest.raises(ForbiddenAPIError) as info:
        learner.sneaky(p)
    assert "SGD" in str(info.value)
    assert len(guard.violations) == before + 1
    assert "adam.py:5" in guard.violations[-1]


def test_runtime_trap_records_a_call_even_when_caught(learner):
    """Learner code that catches the error still leaves a violation behind."""
    p = torch.zeros(3, requires_grad=True)
    before = len(guard.violations)
    assert learner.sneaky_but_caught(p) == "caught"
    assert len(guard.violations) == before + 1
    assert "adam.py:10" in guard.violations[-1]


def test_oracles_are_not_blocked(learner):
    """The tests' own calls of torch.optim still work after the traps are in place."""
    p = torch.ones(3, requires_grad=True)
    before = len(guard.violations)
    opt = torch.optim.SGD([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    assert torch.allclose(p.detach(), torch.full((3,), 0.9))
    adam = torch.optim.Adam([torch.zeros(2, requires_grad=True)])
    assert isinstance(adam, torch.optim.Optimizer)
    assert len(guard.violations) == before


def test_allowed_learner_code_runs(learner):
    """Learner code using only allowed APIs runs normally under the traps."""
    before = len(guard.violations)
    assert torch.equal(learner.honest(torch.tensor([-2.0, 3.0])), torch.tensor([2.0, 3.0]))
    assert len(guard.violations) == before


def test_install_traps_is_idempotent(learner):
    """Installing the same traps again does not wrap a trap inside a trap."""
    guard.install_traps(OPTIM)
    init = torch.optim.SGD.__dict__["__init__"]
    assert getattr(init, "__kata_trap__", False)
    assert not getattr(init.__wrapped__, "__kata_trap__", False)


def test_a_forbidden_module_keeps_its_own_getattr(monkeypatch):
    """A module-level __getattr__ (lazy submodules, as torch.utils.data's datapipes have) is plumbing:
    trapping it would make every attribute miss on the module a forbidden call. Its functions are
    trapped all the same."""
    import types

    lazy = types.ModuleType("torch._kata_lazy_module")

    def __getattr__(name):
        raise AttributeError(name)

    def helper():
        return 1

    __getattr__.__module__ = helper.__module__ = lazy.__name__
    lazy.__getattr__, lazy.helper = __getattr__, helper
    monkeypatch.setitem(__import__("sys").modules, lazy.__name__, lazy)
    monkeypatch.setattr(torch, "_kata_lazy_module", lazy, raising=False)
    guard.install_traps((lazy.__name__,), "lazytopic")
    assert vars(lazy)["__getattr__"] is __getattr__
    assert getattr(vars(lazy)["helper"], "__kata_trap__", False)


def test_unknown_forbidden_names_are_ignored():
    """A forbidden name that does not exist in this torch version is skipped, not an error."""
    guard.install_traps(("torch.no_such_module_for_kata", "torch.nn.no_such_function"))


def test_attribute_entries_catch_methods_on_any_object():
    """`.backward` and `.softmax` catch the method on any object, whatever it is called."""
    source = (
        "def f(loss, x):\n    loss.backward()\n    y = x.softmax(-1)\n"
        "    return (x * 2).log_softmax(0), x.softmax_like\n"
    )
    uses = find_forbidden(source, (".backward", ".softmax", ".log_softmax"))
    assert texts(uses) == [(2, "loss.backward"), (3, "x.softmax"), (4, "(x * 2).log_softmax")]


def test_keyword_entries_ignore_false_and_none():
    """`requires_grad=` catches True or a variable, not the harmless False or None."""
    source = (
        "import torch\na = torch.zeros(2, requires_grad=True)\nb = torch.zeros(2, requires_grad=False)\n"
        "c = torch.ones(2, requires_grad=None)\nd = torch.ones(2, requires_grad=flag)\n"
    )
    uses = find_forbidden(source, ("requires_grad=",))
    assert texts(uses) == [(2, "requires_grad=True"), (5, "requires_grad=flag")]


def test_tensor_method_trap_fires_only_for_learner_code(tmp_path):
    """A dotted Tensor method (torch.Tensor.backward) is trapped at run time; the tests' own calls pass."""
    (tmp_path / "adam.py").write_text(
        "import torch\n\ndef grad_of_square(x):\n    x = x.detach().requires_grad_()\n"
        "    getattr(x * x, 'back' + 'ward')(torch.ones_like(x))\n    return x.grad\n",
        encoding="utf-8",
    )
    module = loader.load_topic("adam", tmp_path, escapes=False)  # the run-time layer on its own
    guard.install_traps(("torch.Tensor.backward",))
    guard.register_learner_file(str((tmp_path / "adam.py").resolve()))
    with pytest.raises(ForbiddenAPIError):
        module.grad_of_square(torch.ones(2))
    x = torch.ones(2, requires_grad=True)
    (x * x).sum().backward()  # the test's own use of autograd is untouched
    assert torch.equal(x.grad, torch.full((2,), 2.0))


def test_a_name_forbidden_by_one_topic_stays_allowed_in_another(tmp_path):
    """Traps are per topic: rnn forbidding torch.autograd does not flag an adam file's no_grad()."""
    code = "import torch\n\ndef quiet(x):\n    with torch.autograd.grad_mode.no_grad():\n        return x * 2\n"
    for topic in ("adamlike", "rnnlike"):
        (tmp_path / f"{topic}.py").write_text(code, encoding="utf-8")
    import importlib.util

    modules = {}
    for topic in ("adamlike", "rnnlike"):
        path = str((tmp_path / f"{topic}.py").resolve())
        spec = importlib.util.spec_from_file_location(f"_guard_{topic}", path)
        modules[topic] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[topic])
        guard.register_learner_file(path, topic)
    guard.install_traps(("torch.autograd.grad_mode.no_grad",), "rnnlike")
    before = len(guard.violations)
    assert torch.equal(modules["adamlike"].quiet(torch.ones(1)), torch.full((1,), 2.0))
    assert len(guard.violations) == before
    with pytest.raises(ForbiddenAPIError):
        modules["rnnlike"].quiet(torch.ones(1))


def test_printing_a_tensor_is_not_a_forbidden_autograd_call(tmp_path):
    """torch's tensor printing uses no_grad and forward_ad: a learner's print(x) must still work."""
    (tmp_path / "printer.py").write_text(
        "import torch\n\ndef show(x):\n    return f'{x}' + repr(x * 2)\n", encoding="utf-8"
    )
    import importlib.util

    path = str((tmp_path / "printer.py").resolve())
    spec = importlib.util.spec_from_file_location("_guard_printer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    guard.register_learner_file(path, "printer")
    guard.install_traps(("torch.autograd",), "printer")
    before = len(guard.violations)
    assert "tensor" in module.show(torch.ones(2))
    assert len(guard.violations) == before


# ---------------------------------------------------------------------------------------------------
# Escape hatches (static) and grading mode's run-time traps

ESCAPES = [
    ("import sys\n", "import sys"),
    ("import ctypes as c\n", "import ctypes"),
    ("from importlib import import_module\n", "from importlib import"),
    ("from . import adam\n", "a relative import"),
    ("import torch.utils.cpp_extension\n", "import torch.utils.cpp_extension"),
    ("import torch\nx = getattr(torch, 'op' + 'tim')\n", "getattr"),
    ("exec(compile('x = 1', '/usr/lib/python3/x.py', 'exec'))\n", "exec"),
    ("import torch\nf = torch.ops.aten._fused_adam_\n", ".ops"),
    ("import torch\nf = [torch][0]._C\n", "._C"),
    ("class A:\n    def f(self):\n        return self._fused_adam_\n", "._fused_adam_"),
    ("import torch\nm = torch.nn.modules.module.sys\n", ".sys"),
    ("g = (i for i in [1]).gi_frame.f_back\n", ".gi_frame"),
    ("x = type(1).__subclasses__()\n", ".__subclasses__"),
    ("import torch\nt = torch.load('w', weights_only=False)\n", "weights_only="),
    ("import numpy\na = numpy.load('w', **{'allow_pickle': True})\n", "'allow_pickle'"),
    ("import torch\nf = torch.compile(len)\n", "torch.compile"),
]


@pytest.mark.parametrize("source, named", ESCAPES, ids=[e[1] for e in ESCAPES])
def test_escape_hatches_are_found(source, named):
    """Each way of reaching objects by name, leaving the allowed libraries or reaching kernels is
    reported with its line, and the sentence names it."""
    uses = guard.find_escapes(source)
    assert uses, source
    assert named in guard.describe_escapes(uses, "adam.py")


def test_ordinary_code_has_no_escape_hatches():
    """What kata files really do passes: allowed imports, own private attributes and classes,
    __init__ and __name__, shadowed builtin names, regex.compile, tensor .data."""
    source = (
        "from __future__ import annotations\nimport math, heapq, collections\nimport regex\n"
        "import torch\nimport torch.nn.functional as F\nfrom typing import Optional\n\n"
        "class Adam:\n    def __init__(self, params):\n        super().__init__()\n"
        "        self._moments = {}\n        self.params = list(params)\n\n"
        "def f(x, vars=None):\n    finder = regex.compile('a|b')\n    compile = len\n"
        "    return F.relu(x).data, type(x).__name__, compile([1]), Adam._moments, vars\n"
    )
    assert guard.find_escapes(source) == []


def test_every_reference_and_stub_is_free_of_escape_hatches():
    """The references (and so the stubs made from them) pass the escape check: it refuses nothing a
    topic needs."""
    from grader import catalog, paths
    from grader.selfcheck import committed_stub  # the stubs as committed, not a learner's working copies

    for topic in catalog.names():
        reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
        for folder, source in (("solutions", reference), ("exercises", committed_stub(topic)[0])):
            assert guard.find_escapes(source) == [], (folder, topic)


@pytest.fixture
def strict():
    """Grading mode's trap decision (what grader/worker.py switches on), restored afterwards."""
    saved = (guard._strict[0], list(guard._calls))
    guard.strict_calls()
    yield
    guard._strict[0] = saved[0]
    guard._calls[:] = saved[1]


def test_strict_traps_ignore_file_names(strict):
    """In grading mode a forbidden call fires inside a submission call even from code compiled
    under a library's file name, and never outside one (the tests' own oracles)."""
    guard.install_traps(OPTIM, "adam")
    scope: dict = {"torch": torch}
    code = compile(
        "def step(p):\n    return torch.optim.SGD([p], lr=0.1)\n", torch.optim.__file__, "exec"
    )  # looks like PyTorch's own file on the stack
    exec(code, scope)
    p = torch.zeros(2, requires_grad=True)
    with guard.learner_call("adam"):
        with pytest.raises(ForbiddenAPIError):
            scope["step"](p)
    assert isinstance(scope["step"](p), torch.optim.SGD)  # outside a submission call: the oracle's


def test_strict_traps_let_tensor_printing_through(strict):
    """torch's own tensor printing calls torch.autograd functions that backprop forbids: a learner's
    print still works in grading mode, and a direct call is still caught."""
    guard.install_traps(("torch.autograd",), "backprop")
    with guard.learner_call("backprop"):
        assert "tensor" in str(torch.ones(2, requires_grad=True) * 2)
        with pytest.raises(ForbiddenAPIError):
            torch.autograd.grad((torch.ones(1, requires_grad=True) * 2).sum(), [])
