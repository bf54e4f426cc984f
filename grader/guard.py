"""From-scratch guard (DESIGN rule 6): a topic's forbidden APIs, checked twice.

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
    return (f"{filename} uses {', '.join(names)}, which this topic forbids{why}. "
            f"Found at {lines}{more}.")


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


def _learner_frame(entries: set[str]) -> types.FrameType | None:
    """The innermost learner frame on the stack whose topic forbids one of `entries`."""
    topics = set().union(*(_forbidden_by.get(e, set()) for e in entries))
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.endswith(_PRINTING):
            return None  # torch formatting a tensor for print() uses no_grad and forward_ad itself
        if filename in _learner_files:
            topic = _learner_files[filename]
            if topic is None or topic in topics or None in topics:
                return frame
        frame = frame.f_back
    return None


def _wrap(name: str, fn, entry: str):
    @functools.wraps(fn)
    def trapped(*args, **kwargs):
        if _learner_files:
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
    Unknown names, `.attr` and `name=` entries (static only) are ignored."""
    for dotted in forbidden:
        _forbidden_by.setdefault(dotted, set()).add(topic)
        if dotted in _installed or dotted.startswith(".") or dotted.endswith("="):
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
            modules = [m for n, m in list(sys.modules.items())
                       if m is not None and (n == prefix or n.startswith(prefix + "."))]
            for module in modules:
                for key, value in list(vars(module).items()):
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
