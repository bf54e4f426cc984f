"""Generate a learner's stub from a reference solution (DESIGN rule 1: single source).

Code between a line `### BEGIN SOLUTION` and a line `### END SOLUTION` (the nbgrader markers) is
replaced by

    # YOUR CODE HERE
    raise NotImplementedError

indented like the BEGIN marker. Everything else (docstrings, signatures, imports) is kept as is.
"""

from __future__ import annotations

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"


class MarkerError(ValueError):
    """The solution markers in a reference are unbalanced or misplaced."""


def make_stub(source: str, filename: str = "<solution>") -> str:
    out: list[str] = []
    inside_since: int | None = None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside_since is not None:
                raise MarkerError(f"{filename}:{number}: {BEGIN} inside the block opened at line {inside_since}")
            inside_since = number
            indent = line[: len(line) - len(line.lstrip())]
            nl = line[len(line.rstrip("\r\n")):] or "\n"  # keep the file's line endings
            out.append(f"{indent}# YOUR CODE HERE{nl}{indent}raise NotImplementedError{nl}")
        elif stripped == END:
            if inside_since is None:
                raise MarkerError(f"{filename}:{number}: {END} without a {BEGIN} before it")
            inside_since = None
        elif BEGIN in line or END in line:
            raise MarkerError(f"{filename}:{number}: a solution marker must stand alone on its line")
        elif inside_since is None:
            out.append(line)
    if inside_since is not None:
        raise MarkerError(f"{filename}:{inside_since}: {BEGIN} is never closed by {END}")
    return "".join(out)


def strip_markers(source: str) -> str:
    """The reference without its marker lines (what `make diff` compares against)."""
    return "".join(line for line in source.splitlines(keepends=True)
                   if line.strip() not in (BEGIN, END))
