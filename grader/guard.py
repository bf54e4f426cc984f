"""From-scratch guard (docs/design.md rule 6): a topic's forbidden APIs, checked twice.

1. Statically: `find_forbidden(source, forbidden)` parses the learner's module and resolves every
   dotted reference through the module's imports (`import torch.nn.functional as F; F.conv2d` is
   `torch.nn.functional.conv2d`). A reference equal to a forbidden name or inside it is reported
   with its line. Two more kinds of entry need no import to be found:
   - `.name` forbids the attribute `name` on any object (`.backward` catches `loss.backward()`,
     `.softmax` catches `x.softmax(-1)`);
   - `name=` forbids the keyword argument `name` in any call, unless its value is the constant
     False or None (`requires_grad=` catches `torch.zeros(3, requires_grad=True)`).
2. At run time: `install_traps(forbidden)` wraps the forbidden callables (for a module: every
   function and every class constructor defined in it or its loaded submodules) so that a call made
   while a learner's file is on the call stack raises `ForbiddenAPIError` and is recorded, even if
   the learner's code catches the exception. Calls from the tests themselves (the oracles) pass
   through untouched.
3. Escape hatches, statically, for every topic: `find_escapes(source)` refuses what would let a
   module reach things by name at run time or leave the allowed libraries: code from strings
   (`exec`, `eval`, `compile`, `__import__`), look-ups by name (`getattr`, `vars`, `globals`, ...),
   imports outside ALLOWED_IMPORTS (or of ESCAPE_MODULES inside them), dunder attributes other than
   SAFE_DUNDERS, attribute names that lead from the allowed libraries into other modules (`.sys`,
   `.os`, `.ops`, `._C`, computed from the loaded libraries), their private names (`torch._fused_adam_`),
   frame and code attributes (`.f_globals`), and the keywords that turn on unpickling.

In grading mode (grader/worker.py calls `strict_calls()`) the run-time traps no longer look at file
names on the stack, which code compiled under another name could fake: a trap fires whenever the
worker is inside a call into the submission (`learner_call(topic)`) for a topic that forbids it.
The only exception is a call made directly by PyTorch's tensor printing, recognised by the identity
of its code objects, not by a file name. The submission cannot reach this module to switch the
traps off, because the static check above (run in the trusted process, before any of its code
runs) refuses every way of reaching it. docs/guard.md says what each mode stops and what it does not.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import os
import sys
import types
from dataclasses import dataclass


class ForbiddenAPIError(RuntimeError):
    """A learner's code called an API its topic forbids."""


@dataclass(frozen=True)
class Use:
    name: str  # the forbidden name that matched, e.g. "torch.optim"
    line: int
    text: str  # what the source said, resolved, e.g. "torch.optim.Adam"


def _matches(dotted: str, forbidden: tuple[str, ...]) -> str | None:
    for name in forbidden:
        if dotted == name or dotted.startswith(name + "."):
            return name
    return None


def _dotted(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def find_forbidden(source: str, forbidden: tuple[str, ...]) -> list[Use]:
    """Every place in `source` that refers to a forbidden name, in line order.

    Raises SyntaxError when the source does not parse (the loader reports that first anyway).
    """
    if not forbidden:
        return []
    tree = ast.parse(source)
    attributes = {name[1:]: name for name in forbidden if name.startswith(".")}
    keywords = {name[:-1]: name for name in forbidden if name.endswith("=")}
    forbidden = tuple(name for name in forbidden if not name.startswith(".") and not name.endswith("="))
    aliases: dict[str, str] = {}  # local name -> dotted module path it stands for
    uses: list[Use] = []

    def report(dotted: str, line: int) -> None:
        hit = _matches(dotted, forbidden)
        if hit:
            uses.append(Use(hit, line, dotted))

    # Imports first, wherever they are, so that aliases resolve in any order.
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                report(alias.name, node.lineno)
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if any(alias.name == "*" for alias in node.names):
                # `from torch import *` brings in whatever torch exports, forbidden names included.
                for name in forbidden:
                    if name == node.module or name.startswith(node.module + "."):
                        uses.append(Use(name, node.lineno, f"from {node.module} import *"))
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                report(full, node.lineno)
                aliases[alias.asname or alias.name] = full

    seen: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in attributes:
            uses.append(Use(attributes[node.attr], node.lineno, ast.unparse(node)[-60:]))
        elif isinstance(node, ast.keyword) and node.arg in keywords:
            value = node.value
            if not (isinstance(value, ast.Constant) and value.value in (False, None)):
                uses.append(Use(keywords[node.arg], value.lineno, f"{node.arg}={ast.unparse(value)}"))
        if isinstance(node, ast.Attribute) and id(node) not in seen:
            parts = _dotted(node)
            # Mark the inner attributes of this chain as seen: report the longest chain only once.
            inner = node.value
            while isinstance(inner, ast.Attribute):
                seen.add(id(inner))
                inner = inner.value
            if parts and parts[0] in aliases:
                report(".".join([aliases[parts[0]], *parts[1:]]), node.lineno)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in aliases:
            # A bare name imported from a forbidden place (`from torch.optim import Adam; Adam(...)`)
            # was already reported at its import; nothing more to add.
            pass
    uses.sort(key=lambda u: u.line)
    return uses


def describe(uses: list[Use], filename: str, reason: str = "") -> str:
    """One plain sentence (plus a line list) for the learner."""
    names = sorted({u.name for u in uses})
    lines = ", ".join(f"line {u.line} ({u.text})" for u in uses[:5])
    more = f" and {len(uses) - 5} more" if len(uses) > 5 else ""
    why = f": {reason}" if reason else ""
    return f"{filename} uses {', '.join(names)}, which this topic forbids{why}. Found at {lines}{more}."


# ---------------------------------------------------------------------------------------------------
# Run-time traps

_learner_files: dict[str, str | None] = {}  # learner file -> its topic (None: any topic)
_installed: set[str] = set()
_forbidden_by: dict[str, set[str | None]] = {}  # forbidden entry -> topics that forbid it
violations: list[str] = []  # "name (called from file:line)", appended by the traps


def register_learner_file(path: str, topic: str | None = None) -> None:
    """Calls made while this file is on the stack count as the learner's (for `topic`'s rules:
    a name forbidden by one topic stays allowed in another topic's file)."""
    _learner_files[path] = topic


_PRINTING = (f"torch{os.sep}_tensor_str.py",)
_strict: list[bool] = [False]  # grading mode: traps fire on the call state, not on file names
_calls: list[str | None] = []  # topics of the submission calls in progress (grading mode)
_printing_codes: set = set()  # code objects of torch's tensor printing
# Frames below which no learner frame of a test can be: pytest's call of a test function. The walk
# up the stack stops there (a trapped torch function called by an oracle thousands of times would
# otherwise walk pytest's forty-odd frames each time). Learner code run at import or in a fixture
# has no such frame under it, and is walked to the bottom.
_STOP_AT: set = set()


def stop_walks_at(*functions) -> None:
    """Let the learner-frame walk stop at these functions' frames (see _STOP_AT)."""
    _STOP_AT.update(getattr(f, "__code__", f) for f in functions)


def strict_calls() -> None:
    """Grading mode (the worker): traps fire whenever a call into the submission is in progress
    (`learner_call`), whatever file names the stack shows."""
    _strict[0] = True
    import torch._tensor_str as printing

    _printing_codes.update(v.__code__ for v in vars(printing).values() if isinstance(v, types.FunctionType))


class learner_call:
    """Context manager: the submission's code for `topic` may run inside (grading mode)."""

    def __init__(self, topic: str | None):
        self.topic = topic

    def __enter__(self):
        _calls.append(self.topic)

    def __exit__(self, *exc):
        _calls.pop()
        return False


class harness_call:
    """Context manager: the harness's own work inside a learner call (the autograd a test asked
    for), during which the traps stand aside."""

    def __enter__(self):
        self.saved = list(_calls)
        _calls.clear()

    def __exit__(self, *exc):
        _calls[:] = self.saved
        return False


def _strict_frame(topics: set[str | None]) -> types.FrameType | None:
    """Grading mode's decision: the caller's frame when a submission call is in progress for a
    topic that forbids the entry, unless torch's own printing made the call directly."""
    if not _calls:
        return None
    topic = _calls[-1]
    if not (topic is None or topic in topics or None in topics):
        return None
    caller = sys._getframe(3)
    if caller.f_code in _printing_codes:
        return None
    return caller


def _learner_frame(entries: set[str]) -> types.FrameType | None:
    """The innermost learner frame on the stack whose topic forbids one of `entries`."""
    if _strict[0]:
        return _strict_frame(set().union(*(_forbidden_by.get(e, set()) for e in entries)))
    topics = None  # computed once a learner frame is found (most calls find none)
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code in _STOP_AT:
            return None
        filename = code.co_filename
        if filename.endswith(_PRINTING):
            return None  # torch formatting a tensor for print() uses no_grad and forward_ad itself
        if filename in _learner_files:
            topic = _learner_files[filename]
            if topics is None:
                topics = set().union(*(_forbidden_by.get(e, set()) for e in entries))
            if topic is None or topic in topics or None in topics:
                return frame
        frame = frame.f_back
    return None


def _wrap(name: str, fn, entry: str):
    @functools.wraps(fn)
    def trapped(*args, **kwargs):
        if _learner_files or _strict[0]:
            frame = _learner_frame(trapped.__kata_entries__)
            if frame is not None:
                where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
                violations.append(f"{name} (called from {where})")
                raise ForbiddenAPIError(f"{name} is forbidden in this topic (called from {where})")
        return fn(*args, **kwargs)

    trapped.__kata_trap__ = True
    trapped.__kata_entries__ = {entry}
    return trapped


def _resolve(dotted: str):
    """The object a dotted name refers to, and its parent and attribute name."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        parent, attr = None, None
        for part in parts[cut:]:
            parent, attr, obj = obj, part, getattr(obj, part)
        return obj, parent, attr
    raise ImportError(dotted)


def _trap_callable(owner, attr: str, label: str, entry: str) -> None:
    current = inspect.getattr_static(owner, attr)
    if getattr(current, "__kata_trap__", False):
        current.__kata_entries__.add(entry)
        return
    if isinstance(current, (staticmethod, classmethod)):
        return  # rare in the APIs we forbid; the static check still covers them
    setattr(owner, attr, _wrap(label, current, entry))


def _trap_class(cls: type, label: str, entry: str) -> None:
    if "__init__" in vars(cls):
        _trap_callable(cls, "__init__", label, entry)


def install_traps(forbidden: tuple[str, ...], topic: str | None = None) -> None:
    """Wrap every forbidden callable (idempotent), for `topic`'s files (None: every learner file).
    Unknown names, `.attr` and `name=` entries (static only) are ignored, and so is an entry naming
    a whole library ("torch", "numpy": micrograd's): trapping every function of torch would put a
    stack walk on every torch call the tests make, for every topic in the process. A learner file
    reaches a library only by importing it (which the static check refuses, with the escape check
    refusing every indirect import) or through an object of it a test passes in, and a topic that
    forbids a whole library passes none."""
    for dotted in forbidden:
        _forbidden_by.setdefault(dotted, set()).add(topic)
        if dotted in _installed or dotted.startswith(".") or dotted.endswith("=") or "." not in dotted:
            continue
        if dotted.split(".")[0] not in sys.modules:
            continue  # not imported by anyone: trapping it would mean importing it (transformers: seconds);
            # the static check still reports every import of it in the learner's file
        _installed.add(dotted)
        try:
            obj, parent, attr = _resolve(dotted)
        except (ImportError, AttributeError):
            continue
        if isinstance(obj, types.ModuleType):
            prefix = obj.__name__
            modules = [
                m for n, m in list(sys.modules.items()) if m is not None and (n == prefix or n.startswith(prefix + "."))
            ]
            for module in modules:
                for key, value in list(vars(module).items()):
                    if key.startswith("__") and key.endswith("__"):
                        continue  # a module's own __getattr__ (lazy submodules) and friends are plumbing
                    if getattr(value, "__module__", None) is None:
                        continue
                    if not str(value.__module__).startswith(prefix):
                        continue
                    if value.__module__ == "torch.autograd.grad_mode":
                        continue  # no_grad and friends: printing a tensor uses them; harmless
                    if isinstance(value, type):
                        _trap_class(value, f"{value.__module__}.{value.__qualname__}", dotted)
                    elif isinstance(value, types.FunctionType):
                        _trap_callable(module, key, f"{module.__name__}.{key}", dotted)
        elif isinstance(obj, type):
            _trap_class(obj, dotted, dotted)
        elif callable(obj) and parent is not None:
            _trap_callable(parent, attr, dotted, dotted)


# ---------------------------------------------------------------------------------------------------
# Escape hatches (static, every topic): ways to reach objects by name or leave the allowed libraries

# Top-level modules a kata file may import. Everything a topic needs is here; what is not here
# (sys, os, ctypes, importlib, gc, inspect, pickle, operator, ...) could reach the harness itself.
ALLOWED_IMPORTS = frozenset(
    {
        "__future__",
        "torch",
        "numpy",
        "math",
        "cmath",
        "random",
        "re",
        "regex",
        "string",
        "collections",
        "itertools",
        "functools",
        "heapq",
        "bisect",
        "dataclasses",
        "typing",
        "unicodedata",
        "statistics",
        "copy",
        "abc",
        "enum",
        "numbers",
        "fractions",
        "decimal",
        "json",
        "time",
        "textwrap",
        "warnings",
        "provided",
    }
)
# Parts of the allowed libraries that load or compile code, reach kernels directly, or start
# processes: refused like a module outside the list.
ESCAPE_MODULES = (
    "torch.ops",
    "torch.library",
    "torch.utils.cpp_extension",
    "torch.hub",
    "torch.package",
    "torch.multiprocessing",
    "torch.serialization",
    "torch.jit",
    "torch.distributed",
    "torch.utils.model_zoo",
    "torch.compiler",
    "torch.export",
    "torch.fx",
    "torch.onnx",
    "torch.classes",
    "numpy.ctypeslib",
    "numpy.f2py",
    "numpy.distutils",
)
ESCAPE_CALLABLES = ("torch.compile",)
REFLECTIVE_BUILTINS = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "__import__",
        "globals",
        "locals",
        "vars",
        "getattr",
        "setattr",
        "delattr",
        "breakpoint",
        "__builtins__",
        "__loader__",
        "__spec__",
    }
)
SAFE_DUNDERS = frozenset({"__init__", "__name__", "__qualname__", "__doc__", "__class__"})
UNSAFE_KEYWORDS = frozenset({"allow_pickle", "weights_only", "pickle_module"})
_FRAME_PREFIXES = ("f_", "gi_", "cr_", "ag_", "tb_", "co_")


def module_allowed(name: str) -> bool:
    """Whether a kata file may import the module `name` (dotted)."""
    parts = name.split(".")
    if parts[0] not in ALLOWED_IMPORTS:
        return False
    if any(part.startswith("_") for part in parts[1:]):
        return False
    return not any(name == e or name.startswith(e + ".") for e in ESCAPE_MODULES)


_banned_names: dict[str, str] = {}


def banned_attribute_names() -> dict[str, str]:
    """{attribute name: why} for names no kata file may write after a dot, computed once from the
    allowed libraries as loaded (walking module dictionaries only, never getattr):
    - a name under which an allowed module holds a module that is not allowed (`sys`, `os`, `ops`,
      `_C`, `jit`): written after any object, it would lead out of the allowed libraries;
    - a private name (`_x`) of torch, torch.nn, torch.nn.functional, torch.Tensor, numpy or math
      (`_fused_adam_`, `_VF`): the kernels behind the public functions;
    - the attributes of frames, code objects, tracebacks and generators (`f_globals`, `gi_frame`)."""
    if _banned_names:
        return _banned_names
    import math

    import numpy
    import torch

    banned: dict[str, str] = {}
    seen: set[int] = set()
    stack: list[types.ModuleType] = [torch, numpy, math]
    while stack:
        module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        for key, value in list(vars(module).items()):
            if isinstance(value, types.ModuleType):
                name = str(vars(value).get("__name__", ""))
                if module_allowed(name):
                    stack.append(value)
                elif not (key.startswith("__") and key.endswith("__")):
                    banned.setdefault(key, f"it leads to the module {name}")
    roots = [
        vars(torch),
        vars(torch.nn),
        vars(torch.nn.functional),
        vars(numpy),
        vars(math),
        {k: None for k in dir(torch.Tensor)},
    ]
    for names in roots:
        for key in names:
            if key.startswith("_") and not key.startswith("__"):
                banned.setdefault(key, "it is a private part of PyTorch or NumPy")

    def gen():
        yield sys._getframe()

    sample = gen()
    frame = next(sample)
    for obj in (frame, frame.f_code, sample, _traceback_sample()):
        for key in dir(obj):
            if key.startswith(_FRAME_PREFIXES):
                banned.setdefault(key, "it reads the interpreter's frames or code")
    _banned_names.update(banned)
    return _banned_names


def _traceback_sample():
    try:
        raise ValueError
    except ValueError as exc:
        return exc.__traceback__


def find_escapes(source: str) -> list[Use]:
    """Every escape hatch in `source` (see the module docstring, part 3), in line order.
    Raises SyntaxError when the source does not parse."""
    tree = ast.parse(source)
    banned = banned_attribute_names()
    bound: set[str] = set()
    aliases: dict[str, str] = {}
    uses: list[Use] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if not module_allowed(alias.name):
                    uses.append(Use("import", node.lineno, f"import {alias.name}"))
                local = alias.asname or alias.name.split(".")[0]
                aliases[local] = alias.name if alias.asname else local
                bound.add(local)
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                uses.append(Use("import", node.lineno, "a relative import"))
                continue
            if not module_allowed(node.module):
                uses.append(Use("import", node.lineno, f"from {node.module} import ..."))
            for alias in node.names:
                if alias.name == "*":
                    continue
                why = _attribute_problem(alias.name, banned)
                if why:
                    uses.append(Use("attribute", node.lineno, f"from {node.module} import {alias.name}: {why}"))
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                bound.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in REFLECTIVE_BUILTINS and node.id not in bound:
                uses.append(Use("builtin", node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            why = _attribute_problem(node.attr, banned)
            parts = _dotted(node)
            if (
                why is None
                and parts
                and parts[0] in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                why = "it is a private part of a library"
            if why is None and parts and parts[0] in aliases:
                dotted = ".".join([aliases[parts[0]], *parts[1:]])
                hit = _matches(dotted, ESCAPE_CALLABLES + ESCAPE_MODULES)
                if hit:
                    why = f"{hit} loads or compiles code, or calls kernels directly"
            if why:
                uses.append(Use("attribute", node.lineno, f".{node.attr}: {why}"))
        elif isinstance(node, ast.keyword) and node.arg in UNSAFE_KEYWORDS:
            uses.append(Use("keyword", node.value.lineno, f"{node.arg}= (it turns on unpickling, which runs code)"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in UNSAFE_KEYWORDS:
            uses.append(Use("keyword", node.lineno, f"the string {node.value!r} (a keyword that turns on unpickling)"))
    uses.sort(key=lambda u: u.line)
    return uses


def _attribute_problem(name: str, banned: dict[str, str]) -> str | None:
    if name.startswith("__") and name.endswith("__"):
        return None if name in SAFE_DUNDERS else "dunder attributes reach the interpreter's internals"
    return banned.get(name)


def describe_escapes(uses: list[Use], filename: str) -> str:
    """One plain sentence (plus a line list) for the learner."""
    lines = "; ".join(f"line {u.line}: {u.text}" for u in uses[:5])
    more = f"; and {len(uses) - 5} more" if len(uses) > 5 else ""
    return (
        f"{filename} uses a way out of the kata's rules that no kata file may use ({lines}{more}). "
        f"Kata files import only {', '.join(sorted(ALLOWED_IMPORTS - {'__future__'}))}, and do not "
        f"run code from strings, look things up by name (getattr, vars, globals), use dunder "
        f"attributes other than {', '.join(sorted(SAFE_DUNDERS))}, or reach private parts of "
        f"PyTorch (docs/guard.md says why)."
    )
