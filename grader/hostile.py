"""A corpus of hostile and broken submissions, for the grader's own tests (grader/tests/test_hostile.py).

Each case is a submission for the `adam` topic: the files it holds, and the most points it may earn
(what its honest functions deserve). `make check` grades them all in one class run next to honest
submissions and proves that each earns no more than that, that the grader survives, and that every
honest submission scores exactly what it scores alone.

`build(folder, root, neighbour)` writes the cases as submission folders. `root` is the project
folder (a hostile student would know where the grader keeps its solutions), `neighbour` another
submission's folder (the one they would like to copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader import stubs

STUB_HEADER = "import torch\n"


@dataclass(frozen=True)
class Case:
    name: str
    says: str
    files: dict  # file name -> source; "{reference}" and "{stub}" expand, "{root}"/"{neighbour}" too
    max_points: float = 0.0
    escapes: tuple[str, ...] = ()  # files (under {root} or {neighbour}) the case tries to create
    isolation: bool = False  # only bubblewrap's file-system or network isolation stops this case
    parses: bool = True  # every case but one must be valid Python, or it would test nothing


def _prefix(code: str) -> str:
    """The stub, then `code` at module level (it runs while the file is imported)."""
    return "{stub}\n\n" + code.strip("\n") + "\n"


def _sabotage(code: str) -> str:
    """The reference, with adam_step replaced by `code` (indented as its body)."""
    body = "\n".join("    " + line for line in code.strip("\n").splitlines())
    return "{reference}\n\n_honest_step = adam_step\n\ndef adam_step(*args, **kwargs):\n" + body + "\n"


CASES = (
    Case("exit-at-import", "os._exit(0) while imported", {"adam.py": _prefix("import os\nos._exit(0)")}),
    Case("exit-in-call", "os._exit(0) inside adam_step", {"adam.py": _sabotage("import os\nos._exit(0)")}),
    Case("sys-exit-at-import", "sys.exit(0) while imported", {"adam.py": _prefix("import sys\nsys.exit(0)")}),
    Case("fake-summary", "prints a fake pytest summary on stdout and stderr, then exits", {"adam.py": _prefix(
        "import os, sys\nfor fd in (1, 2):\n    os.write(fd, b'\\n======= 37 passed in 0.50s =======\\n')\n"
        "sys.stdout.write('37 passed\\n')")}),
    Case("patch-comparisons", "monkeypatches torch.allclose, assert_close, numpy and pytest internals",
         {"adam.py": _prefix(
             "import torch, numpy, pytest, _pytest.outcomes\n"
             "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
             "torch.testing.assert_close = lambda *a, **k: None\nnumpy.allclose = lambda *a, **k: True\n"
             "pytest.fail = lambda *a, **k: None\n_pytest.outcomes.fail = lambda *a, **k: None\n"
             "def adam_step(param, grad, m, v, step, **kw):\n    return param, m, v\n"
             "class Adam:\n    def __init__(self, params, **kw):\n        self.params = list(params)\n"
             "    def step(self, grads):\n        return self.params")
             .replace("{stub}\n\n", "")}),
    Case("always-equal", "returns objects whose __eq__ is always true", {"adam.py": _sabotage(
        "class Yes:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
        "    def __getattr__(self, name): return lambda *a, **k: Yes()\n"
        "return Yes(), Yes(), Yes()")}),
    Case("lying-tensor", "returns a tensor subclass that claims to equal anything", {"adam.py": _sabotage(
        "import torch\nclass Liar(torch.Tensor):\n"
        "    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        if func.__name__ in ('allclose', 'equal', '__eq__', 'isclose', 'eq'): return True\n"
        "        return super().__torch_function__(func, types, args, kwargs or {})\n"
        "z = torch.zeros_like(args[0]).as_subclass(Liar)\nreturn z, z, z")}),
    Case("conftest", "ships a conftest.py that turns failures into passes", {
        "adam.py": "{stub}",
        "conftest.py": "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
                       "    outcome = yield\n    report = outcome.get_result()\n    report.outcome = 'passed'\n"}),
    Case("read-solutions", "looks for the reference, the hidden tests or a neighbour's file on disk", {
        "adam.py": "{stub}\n\n" + """
import os, pathlib


def _steal():
    for path in ('{root}/solutions/adam.py', '{neighbour}/adam.py'):
        try:
            return pathlib.Path(path).read_text()
        except OSError:
            pass
    for base, dirs, files in os.walk('/'):
        dirs[:] = [d for d in dirs if d not in ('proc', 'sys', 'dev', 'usr', 'site-packages')]
        for name in files:
            if name in ('adam.py', 'test_hidden.py') and base != '/submission':
                try:
                    text = open(os.path.join(base, name)).read()
                except OSError:
                    continue
                if 'def adam_step' in text and 'NotImplementedError' not in text:
                    return text
    return None


_text = _steal()
if _text:
    exec(_text)
"""}, isolation=True),
    Case("write-outside", "writes files outside its folder", {"adam.py": _prefix(
        "import pathlib\nfor _p in ('{root}/.kata/escaped-write.txt', '{neighbour}/escaped-write.txt'):\n"
        "    try:\n        pathlib.Path(_p).parent.mkdir(parents=True, exist_ok=True)\n"
        "        pathlib.Path(_p).write_text('escaped')\n    except Exception:\n        pass")},
         escapes=("{root}/.kata/escaped-write.txt", "{neighbour}/escaped-write.txt"), isolation=True),
    Case("endless-loop", "an endless Python loop in every call", {"adam.py": _sabotage("while True:\n    pass")}),
    Case("long-c-call", "one C-level call that holds the GIL for minutes", {"adam.py": _sabotage(
        "import re\nre.match(r'(a+)+$', 'a' * 60 + 'b')")}),
    Case("memory-bomb", "allocates far more memory than the machine has", {"adam.py": _sabotage(
        "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 28))")}),
    Case("fork-bomb", "forks without end", {"adam.py": _sabotage(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")}),
    Case("alarm-and-swallow", "cancels alarms and swallows BaseException while looping", {"adam.py": _sabotage(
        "import signal\nwhile True:\n    try:\n        signal.alarm(0)\n        while True:\n            pass\n"
        "    except BaseException:\n        pass")}),
    Case("network", "opens a network connection while imported", {"adam.py": _prefix(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'leak')\n"
        "except OSError:\n    pass")}, isolation=True),
    Case("syntax-error", "does not parse", {"adam.py": "def adam_step(:\n    pass\n"}, parses=False),
    Case("missing-functions", "defines nothing the tests call", {"adam.py": "import torch\n\nHELLO = 1\n"}),
    Case("wrong-types", "returns a list, a string and a wrongly shaped tensor", {"adam.py": _sabotage(
        "import torch\nreturn [1.0], 'm', torch.zeros(7, 3)")}),
    Case("nans", "returns NaNs", {"adam.py": _sabotage(
        "import torch\nnan = torch.full_like(args[0], float('nan'))\nreturn nan, nan, nan")}),
    Case("prints-megabytes", "prints 8 MB while imported and 20 KB in every call, otherwise the reference", {
        "adam.py": _sabotage("print('x' * 20_000)\nreturn _honest_step(*args, **kwargs)") + "\nprint('x' * 8_000_000)\n"},
         max_points=10.0),
)


def build(folder: Path, root: Path, neighbour: Path, port: int, solution: str) -> dict[str, Path]:
    """Write every case as `folder/<name>/`; returns {name: submission folder}. `solution` is the
    text of solutions/adam.py, with its solution markers (the stub is generated from it)."""
    stub = stubs.make_stub(solution)
    reference = stubs.strip_markers(solution)
    if stub == reference:
        raise ValueError("build() needs the reference with its solution markers")
    made = {}
    for case in CASES:
        target = folder / case.name
        target.mkdir(parents=True)
        for name, text in case.files.items():
            text = (text.replace("{stub}", stub)
                    .replace("{reference}", reference).replace("{root}", str(root))
                    .replace("{neighbour}", str(neighbour)).replace("{port}", str(port)))
            (target / name).write_text(text, encoding="utf-8")
        made[case.name] = target
    return made


def escapes(case: Case, root: Path, neighbour: Path) -> list[Path]:
    return [Path(p.replace("{root}", str(root)).replace("{neighbour}", str(neighbour))) for p in case.escapes]
