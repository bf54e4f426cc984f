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
    # Which defence must stop it: "any" cases are also graded with the static escape check left out
    # (grader/tests/test_hostile.py's second run), to prove the sandbox and the run-time traps hold
    # on their own; "static" cases are stopped only by the escape check, which keeps code out of the
    # harness's reach (in-process state cannot be protected from code in the same process).
    layer: str = "any"
    finding: str = ""  # the security issue's finding this case reproduces, if any


def _prefix(code: str) -> str:
    """The stub, then `code` at module level (it runs while the file is imported)."""
    return "{stub}\n\n" + code.strip("\n") + "\n"


def _sabotage(code: str) -> str:
    """The reference, with adam_step replaced by `code` (indented as its body)."""
    body = "\n".join("    " + line for line in code.strip("\n").splitlines())
    return "{reference}\n\n_honest_step = adam_step\n\ndef adam_step(*args, **kwargs):\n" + body + "\n"


def _unless(attack: str) -> str:
    """The reference, then `attack` at module level, which adds to `_escaped` a note of each thing
    that worked. Unless something worked, the functions are taken away again: the case earns its
    points only by escaping."""
    return (
        "{reference}\n\n_escaped = ''\n"
        + attack.strip("\n")
        + "\nif not _escaped:\n    adam_step = None\n    Adam = None\nelse:\n    print('ESCAPED:', _escaped)\n"
    )


# adam_step through PyTorch's own Adam, reached by REACH (an expression for torch.optim.Adam):
# correct to the tests' tolerances, so it earns full marks wherever the guard lets it through.
_OPTIM_STEP = """
def _optim_step(param, grad, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                decoupled_weight_decay=False):
    p = param.detach().clone().requires_grad_(True)
    opt = REACH([p], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                decoupled_weight_decay=decoupled_weight_decay)
    p.grad = grad.detach().clone()
    opt.state[p] = {"step": torch.tensor(float(step - 1)), "exp_avg": m.detach().clone(),
                    "exp_avg_sq": v.detach().clone()}
    opt.step()
    return p.detach().clone(), opt.state[p]["exp_avg"].clone(), opt.state[p]["exp_avg_sq"].clone()
"""

# adam_step through the fused kernel itself, reached through torch.ops.aten.
_ATEN_STEP = """
def adam_step(param, grad, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              decoupled_weight_decay=False):
    p, m2, v2 = param.detach().clone(), m.detach().clone(), v.detach().clone()
    kernel = torch.ops.aten._fused_adamw_ if decoupled_weight_decay else torch.ops.aten._fused_adam_
    kernel([p], [grad.detach().clone()], [m2], [v2], [], [torch.tensor(float(step))], lr=lr,
           beta1=betas[0], beta2=betas[1], weight_decay=weight_decay, eps=eps, amsgrad=False,
           maximize=False)
    return p, m2, v2
"""

_CLEAR_GUARD = (
    """
import sys
_guard = sys.modules["grader.guard"]
_guard._learner_files.clear()
_guard._strict[0] = False
_guard._calls.clear()
_guard.install_traps = lambda *a, **k: None
"""
    + _OPTIM_STEP.replace("REACH", "getattr(torch, 'op' + 'tim').Adam")
    + """
adam_step = _optim_step
"""
)

_COMPILED_ELSEWHERE = (
    "_SOURCE = " + repr("import torch\n" + _OPTIM_STEP.replace("REACH", "torch.optim.Adam")) + "\n"
    "exec(compile(_SOURCE, '/usr/lib/python3/dist-packages/numpy/__init__.py', 'exec'), globals())\n"
    "adam_step = _optim_step\n"
)

_PRIVILEGES = r"""
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND = 32, 4096
for _target in ("/kata/grader", "/kata", "/submission", "/", "/tmp"):
    if _libc.mount(None, _target.encode(), None, MS_REMOUNT | MS_BIND, None) == 0:
        _escaped += f"remounted {_target} writable; "
try:
    with open("/kata/grader/scoring.py", "a") as _f:
        _f.write("\n# patched by a submission\n")
    _escaped += "wrote into the grader; "
except OSError:
    pass
with open("/proc/self/status") as _f:
    for _line in _f:
        if _line.startswith(("CapEff", "CapPrm")) and int(_line.split()[1], 16):
            _escaped += _line.strip() + "; "
if os.getuid() == 0 or os.geteuid() == 0:
    _escaped += "runs as root; "
try:
    open("/etc/shadow").read(1)
    _escaped += "read /etc/shadow; "
except OSError:
    pass
"""

_WRITABLE = """
import os
_scratch = ("/tmp", "/dev/shm", "/proc", "/sys", "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
            "/dev/urandom")
_seen = 0
for _base, _dirs, _files in os.walk("/"):
    if _base.startswith(_scratch):
        _dirs[:] = []
        continue
    for _name in [*_dirs, *_files]:
        _path = os.path.join(_base, _name)
        _seen += 1
        if not _path.startswith(_scratch) and not os.path.islink(_path) and os.access(_path, os.W_OK):
            _escaped += f"{_path} is writable; "
            break
    if _escaped or _seen > 300_000:
        break
"""

_FOREIGN_FORK = """
import ctypes, mmap, os, platform
if platform.machine() == "x86_64":
    # fork (2 in the i386 table) through the 32-bit entry: mov eax, 2; int 0x80; ret
    _page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    _page.write(bytes([0xB8, 0x02, 0, 0, 0, 0xCD, 0x80, 0xC3]))
    _addr = ctypes.addressof(ctypes.c_char.from_buffer(_page))
    _pid = ctypes.CFUNCTYPE(ctypes.c_int)(_addr)()
    if _pid == 0:
        os._exit(0)
    if _pid > 0:
        _escaped += f"forked {_pid} through int 0x80; "
    _pid = ctypes.CDLL(None).syscall(0x40000000 | 57)  # fork in the x32 table
    if _pid == 0:
        os._exit(0)
    if _pid > 0:
        _escaped += f"forked {_pid} through the x32 table; "
"""

_SCRATCH = """
import os
_stored = 0
_block = b"x" * (8 << 20)
for _folder in ("/tmp", "/dev/shm", "/dev", "/var/tmp"):
    for _i in range(200):
        try:
            with open(f"{_folder}/fill-{_i}", "wb") as _f:
                _f.write(_block)
            _stored += len(_block)
        except OSError:
            break
try:
    for _i in range(64):
        _fd = os.memfd_create(f"fill-{_i}")
        os.write(_fd, _block)
        _stored += len(_block)
except (OSError, AttributeError):
    pass
if _stored > 300 << 20:  # more than the sandbox's bounded /tmp, /dev and /dev/shm together
    _escaped += f"stored {_stored >> 20} MiB outside the memory limit; "
"""


CASES = (
    Case("exit-at-import", "os._exit(0) while imported", {"adam.py": _prefix("import os\nos._exit(0)")}),
    Case("exit-in-call", "os._exit(0) inside adam_step", {"adam.py": _sabotage("import os\nos._exit(0)")}),
    Case("sys-exit-at-import", "sys.exit(0) while imported", {"adam.py": _prefix("import sys\nsys.exit(0)")}),
    Case(
        "fake-summary",
        "prints a fake pytest summary on stdout and stderr, then exits",
        {
            "adam.py": _prefix(
                "import os, sys\nfor fd in (1, 2):\n    os.write(fd, b'\\n======= 37 passed in 0.50s =======\\n')\n"
                "sys.stdout.write('37 passed\\n')"
            )
        },
    ),
    Case(
        "patch-comparisons",
        "monkeypatches torch.allclose, assert_close, numpy and pytest internals",
        {
            "adam.py": _prefix(
                "import torch, numpy, pytest, _pytest.outcomes\n"
                "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
                "torch.testing.assert_close = lambda *a, **k: None\nnumpy.allclose = lambda *a, **k: True\n"
                "pytest.fail = lambda *a, **k: None\n_pytest.outcomes.fail = lambda *a, **k: None\n"
                "def adam_step(param, grad, m, v, step, **kw):\n    return param, m, v\n"
                "class Adam:\n    def __init__(self, params, **kw):\n        self.params = list(params)\n"
                "    def step(self, grads):\n        return self.params"
            ).replace("{stub}\n\n", "")
        },
    ),
    Case(
        "always-equal",
        "returns objects whose __eq__ is always true",
        {
            "adam.py": _sabotage(
                "class Yes:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
                "    def __getattr__(self, name): return lambda *a, **k: Yes()\n"
                "return Yes(), Yes(), Yes()"
            )
        },
    ),
    Case(
        "lying-tensor",
        "returns a tensor subclass that claims to equal anything",
        {
            "adam.py": _sabotage(
                "import torch\nclass Liar(torch.Tensor):\n"
                "    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                "        if func.__name__ in ('allclose', 'equal', '__eq__', 'isclose', 'eq'): return True\n"
                "        return super().__torch_function__(func, types, args, kwargs or {})\n"
                "z = torch.zeros_like(args[0]).as_subclass(Liar)\nreturn z, z, z"
            )
        },
    ),
    Case(
        "conftest",
        "ships a conftest.py that turns failures into passes",
        {
            "adam.py": "{stub}",
            "conftest.py": "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\n"
            "def pytest_runtest_makereport(item, call):\n"
            "    outcome = yield\n    report = outcome.get_result()\n    report.outcome = 'passed'\n",
        },
    ),
    Case(
        "read-solutions",
        "looks for the reference, the hidden tests or a neighbour's file on disk",
        {
            "adam.py": "{stub}\n\n"
            + """
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
"""
        },
        isolation=True,
    ),
    Case(
        "write-outside",
        "writes files outside its folder",
        {
            "adam.py": _prefix(
                "import pathlib\nfor _p in ('{root}/.kata/escaped-write.txt', '{neighbour}/escaped-write.txt'):\n"
                "    try:\n        pathlib.Path(_p).parent.mkdir(parents=True, exist_ok=True)\n"
                "        pathlib.Path(_p).write_text('escaped')\n    except Exception:\n        pass"
            )
        },
        escapes=("{root}/.kata/escaped-write.txt", "{neighbour}/escaped-write.txt"),
        isolation=True,
    ),
    Case("endless-loop", "an endless Python loop in every call", {"adam.py": _sabotage("while True:\n    pass")}),
    Case(
        "long-c-call",
        "one C-level call that holds the GIL for minutes",
        {"adam.py": _sabotage("import re\nre.match(r'(a+)+$', 'a' * 60 + 'b')")},
    ),
    Case(
        "memory-bomb",
        "allocates far more memory than the machine has",
        {"adam.py": _sabotage("blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 28))")},
    ),
    Case(
        "fork-bomb",
        "forks without end",
        {
            "adam.py": _sabotage(
                "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
            )
        },
    ),
    Case(
        "alarm-and-swallow",
        "cancels alarms and swallows BaseException while looping",
        {
            "adam.py": _sabotage(
                "import signal\nwhile True:\n    try:\n        signal.alarm(0)\n        while True:\n            pass\n"
                "    except BaseException:\n        pass"
            )
        },
    ),
    Case(
        "network",
        "opens a network connection while imported",
        {
            "adam.py": _prefix(
                "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'leak')\n"
                "except OSError:\n    pass"
            )
        },
        isolation=True,
    ),
    Case("syntax-error", "does not parse", {"adam.py": "def adam_step(:\n    pass\n"}, parses=False),
    Case("missing-functions", "defines nothing the tests call", {"adam.py": "import torch\n\nHELLO = 1\n"}),
    Case(
        "wrong-types",
        "returns a list, a string and a wrongly shaped tensor",
        {"adam.py": _sabotage("import torch\nreturn [1.0], 'm', torch.zeros(7, 3)")},
    ),
    Case(
        "nans",
        "returns NaNs",
        {"adam.py": _sabotage("import torch\nnan = torch.full_like(args[0], float('nan'))\nreturn nan, nan, nan")},
    ),
    Case(
        "privileges",
        "remounts the read-only binds, patches the grader, checks its capabilities, "
        "uid and /etc/shadow; earns marks only if one works",
        {"adam.py": _unless(_PRIVILEGES)},
        finding="1",
    ),
    Case(
        "writable-anywhere",
        "looks for anything writable outside its scratch space",
        {"adam.py": _unless(_WRITABLE)},
        finding="1",
    ),
    Case(
        "foreign-abi-fork",
        "forks through the 32-bit int 0x80 entry and the x32 table",
        {"adam.py": _unless(_FOREIGN_FORK)},
        finding="2",
    ),
    Case(
        "scratch-hog",
        "stores as much as it can in /tmp, /dev, /dev/shm and memfds",
        {"adam.py": _unless(_SCRATCH)},
        finding="3",
    ),
    Case(
        "aten-kernel",
        "calls the fused Adam kernel through torch.ops.aten",
        {"adam.py": "{reference}\n" + _ATEN_STEP},
        layer="static",
        finding="4",
    ),
    Case(
        "compiled-elsewhere",
        "runs torch.optim.Adam from code compiled under a library's file name",
        {"adam.py": "{reference}\n" + _COMPILED_ELSEWHERE},
        finding="4",
    ),
    Case(
        "clear-guard",
        "clears the guard's registry and switches its traps off, then uses torch.optim",
        {"adam.py": "{reference}\n" + _CLEAR_GUARD},
        layer="static",
        finding="4",
    ),
    Case(
        "prints-megabytes",
        "prints 8 MB while imported and 20 KB in every call, otherwise the reference",
        {
            "adam.py": _sabotage("print('x' * 20_000)\nreturn _honest_step(*args, **kwargs)")
            + "\nprint('x' * 8_000_000)\n"
        },
        max_points=10.0,
    ),
)


def write_cases(folder: Path, cases, solution: str, **places: object) -> dict[str, Path]:
    """Write each case as `folder/<name>/`; returns {name: submission folder}. `solution` is the
    text of solutions/adam.py, with its solution markers (the stub is generated from it); "{stub}"
    and "{reference}" expand, and so does "{key}" for each keyword in `places`."""
    stub = stubs.make_stub(solution)
    reference = stubs.strip_markers(solution)
    if stub == reference:
        raise ValueError("the cases need the reference with its solution markers")
    made = {}
    for case in cases:
        target = folder / case.name
        target.mkdir(parents=True)
        for name, text in case.files.items():
            text = text.replace("{stub}", stub).replace("{reference}", reference)
            for key, value in places.items():
                text = text.replace("{" + key + "}", str(value))
            (target / name).write_text(text, encoding="utf-8")
        made[case.name] = target
    return made


def build(folder: Path, root: Path, neighbour: Path, port: int, solution: str) -> dict[str, Path]:
    """Write every case of CASES (write_cases), with the project folder, a neighbour's folder and a
    listening port filled in."""
    return write_cases(folder, CASES, solution, root=root, neighbour=neighbour, port=port)


def escapes(case: Case, root: Path, neighbour: Path) -> list[Path]:
    return [Path(p.replace("{root}", str(root)).replace("{neighbour}", str(neighbour))) for p in case.escapes]
