"""Find and import a learner's topic file, turning every way it can go wrong into one sentence.

`resolve_impl("solutions")` and `resolve_impl("exercises")` name the project's folders; any other
value is a folder path. `load_topic(topic, folder)` imports `folder/<topic>.py` under a private
module name (never `exercises.<topic>`, so two folders can be loaded side by side) after the guard's
static check and with the guard's run-time traps in place.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

from grader import catalog, guard, paths


class LoadError(Exception):
    """The learner's module cannot be used; the message is the sentence to show."""


def resolve_impl(impl: str | None) -> Path:
    if impl in (None, "", "exercises"):
        return paths.EXERCISES
    if impl == "solutions":
        return paths.SOLUTIONS
    return Path(impl).expanduser().resolve()


def topic_file(topic: str, folder: Path) -> Path:
    return folder / f"{topic}.py"


def display(path: Path) -> str:
    try:
        return str(path.relative_to(paths.ROOT))
    except ValueError:
        return str(path)


def _error_line(exc: BaseException, path: Path) -> str:
    """`line N` of the deepest frame in the learner's file, or '' when none."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
    return f" at line {frames[-1].lineno}" if frames else ""


# Test-only switch, read by the trusted side: the grader's own tests set it to prove that the
# sandbox holds even for code the static escape check would refuse (grader/tests/test_hostile.py).
SKIP_ESCAPES = "KATA_TEST_SKIP_ESCAPE_CHECK"


def check_source(topic: str, folder: Path, escapes: bool = True) -> tuple[Path, str]:
    """Read `folder/<topic>.py` and check it without running it: it exists, is UTF-8, parses, and
    uses no forbidden API and no escape hatch (the static guard, grader/guard.py). Returns
    (resolved path, source); raises LoadError. `escapes=False` leaves out the escape check (the
    worker: the trusted side has made it already)."""
    path = topic_file(topic, folder).resolve()
    shown = display(path)
    if not path.is_file():
        raise LoadError(
            f"{shown} does not exist: this topic's file is missing (expected {path.name} in {display(folder)})."
        )
    try:
        source = path.read_text(encoding="utf-8-sig")  # a BOM is fine, as for Python
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"{shown} cannot be read as UTF-8 text ({exc.__class__.__name__}: {exc}).") from None
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        at = f" at line {exc.lineno}" if exc.lineno else ""
        raise LoadError(f"{shown} has a syntax error{at}: {exc.msg}. Fix it and run the tests again.") from None
    except ValueError as exc:  # null bytes
        raise LoadError(f"{shown} cannot be compiled: {exc}.") from None
    info = catalog.get(topic)
    uses = guard.find_forbidden(source, info.forbidden)
    if uses:
        raise LoadError(guard.describe(uses, shown, info.forbidden_reason))
    if escapes and os.environ.get(SKIP_ESCAPES) != "1":
        hatches = guard.find_escapes(source)
        if hatches:
            raise LoadError(guard.describe_escapes(hatches, shown))
    return path, source


def load_topic(topic: str, folder: Path, escapes: bool = True) -> ModuleType:
    """Import `folder/<topic>.py`. Raises LoadError with a sentence for the learner."""
    path, _ = check_source(topic, folder, escapes)
    shown = display(path)
    info = catalog.get(topic)
    guard.install_traps(info.forbidden, topic)
    guard.register_learner_file(str(path), topic)
    name = f"_kata_impl_{topic}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except guard.ForbiddenAPIError as exc:
        sys.modules.pop(name, None)
        raise LoadError(f"{shown} calls a forbidden API while it is imported: {exc}.") from None
    except Exception as exc:  # the learner's module failed while it was imported
        sys.modules.pop(name, None)
        raise LoadError(
            f"{shown} failed while it was imported{_error_line(exc, path)}: {exc.__class__.__name__}: {exc}"
        ) from None
    return module
