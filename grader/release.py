"""`python -m grader release OUT`: the copy of the project a class receives.

It holds the stubs, the public tests with their helpers (mistakes, drivers, hints), the harness,
the docs and the Makefile; it leaves out `solutions/` and the files in PROJECT_ONLY (hidden tests,
and the mutant files, which quote the reference). A topic's answer key (`tests/<topic>/key.py`, code
that implements the exercise to predict outputs: grader/answers.py) is replaced by its results for
the public tests, recorded on the reference when the release is made (`answers.pt`). In the
release, `make test`, `make grade` and `make hint` work as in the full project; `make diff` says
there is no reference, and `make check` (which needs the references) is the project's, not the
class's.
"""

from __future__ import annotations

import ast
import importlib
import shutil
import textwrap
from pathlib import Path

from grader import answers, catalog, paths, runner

TOP_FILES = ["Makefile", "README.md", "requirements.txt", "pyproject.toml", ".gitignore"]
TOP_DIRS = ["exercises", "grader", "tests", "docs", "data", "provided", "demos", "bench"]
# Files that quote the references or need them: they stay with the project.
PROJECT_ONLY = ("test_hidden.py", "mutants.py")


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in PROJECT_ONLY or n in ("__pycache__", ".pytest_cache") or n.endswith(".pyc")}


def build(out: Path) -> list[str]:
    """Write the release into `out` (which must not exist). Returns the top-level entries."""
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose a new folder (nothing was written).")
    out.mkdir(parents=True)
    written = []
    for name in TOP_FILES:
        if (paths.ROOT / name).is_file():
            shutil.copy2(paths.ROOT / name, out / name)
            written.append(name)
    for name in TOP_DIRS:
        if (paths.ROOT / name).is_dir():
            shutil.copytree(paths.ROOT / name, out / name, ignore=_ignore)
            written.append(name + "/")
    for topic in catalog.names():
        replace_key(topic, out / "tests" / topic)
    return written


def replace_key(topic: str, folder: Path) -> None:
    """Record the topic's answer key on the reference's public suite into folder/answers.pt and
    write folder/key.py as the module that reads them. Nothing to do for a topic without a key."""
    if not (paths.topic_tests(topic) / "key.py").is_file():
        return
    functions = answers.key_functions(importlib.import_module(f"tests.{topic}.key"))
    status, records, output = runner.run_subprocess(
        topic, str(paths.SOLUTIONS), "public", extra=(f"--kata-record={folder / answers.ANSWERS_FILE}",)
    )
    failed = [r["nodeid"] for r in records if r["outcome"] != "passed"]
    if status != 0 or failed or not records:
        raise RuntimeError(
            f"{topic}: recording the answer key needs the reference to pass its public tests; "
            f"exit {status}, not passing: {failed[:5]}\n{output[-1500:]}"
        )
    (folder / "key.py").write_text(answers.released_key_module(topic, functions), encoding="utf-8")


# ---------------------------------------------------------------------------------------------------
# The proof that a release holds no answer key (grader/tests/test_release.py)


def api_names(topic: str) -> set[str]:
    """The names of the topic's API: the public top-level functions and classes of its reference."""
    tree = ast.parse((paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
    }


def named_like_the_api(folder: Path, topic: str) -> list[tuple[str, str, str, str]]:
    """(file name, name, the file's plain imports, source) for every function or class
    defined anywhere in folder/*.py whose name is one of the topic's API: the candidates for an answer
    key a student could copy."""
    names, found = api_names(topic), []
    for path in sorted(folder.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        imports = [
            ast.get_source_segment(text, n)
            for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom))
            and not any(m.startswith(("tests", "grader", "__future__")) for m in _imported_modules(n))
        ]
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
                source = ast.get_source_segment(text, node)
                found.append((path.name, node.name, "\n".join(imports), textwrap.dedent(source)))
    return found


def _imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [alias.name for alias in node.names]


def with_replaced(reference: str, name: str, imports: str, source: str) -> str:
    """The reference with its top-level definition of `name` replaced by `imports` (what `source`
    needs) and `source`."""
    tree = ast.parse(reference)
    node = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name)
    lines = reference.splitlines()
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    return "\n".join([*lines[:start], imports, source, *lines[node.end_lineno :]]) + "\n"
