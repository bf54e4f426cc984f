"""Generate a learner's stub from a reference solution (docs/design.md rule 1: single source).

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
    """The learner's stub: every solution block becomes `raise NotImplementedError`."""
    return fill_blocks(source, None, filename)


def fill_blocks(source: str, bodies: list[str] | None, filename: str = "<solution>") -> str:
    """Replace the solution blocks, in order, by `bodies` (each indented like its marker), or by the
    stub's `raise NotImplementedError` when `bodies` is None."""
    out: list[str] = []
    block = 0
    inside_since: int | None = None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside_since is not None:
                raise MarkerError(f"{filename}:{number}: {BEGIN} inside the block opened at line {inside_since}")
            inside_since = number
            indent = line[: len(line) - len(line.lstrip())]
            nl = line[len(line.rstrip("\r\n")) :] or "\n"  # keep the file's line endings
            if bodies is None:
                out.append(f"{indent}# YOUR CODE HERE{nl}{indent}raise NotImplementedError{nl}")
            elif block < len(bodies):
                out.extend(f"{indent}{body_line}{nl}" for body_line in bodies[block].splitlines())
            block += 1
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
    if bodies is not None and len(bodies) != block:
        raise MarkerError(f"{filename}: {len(bodies)} bodies given for {block} solution blocks")
    return "".join(out)


def strip_markers(source: str) -> str:
    """The reference without its marker lines (what `make diff` compares against)."""
    return "".join(line for line in source.splitlines(keepends=True) if line.strip() not in (BEGIN, END))
