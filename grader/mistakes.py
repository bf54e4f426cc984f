"""Known mistakes (docs/design.md rule 3), the mutants that commit them, and valid alternatives.

Each topic has two files:

- `tests/<topic>/mistakes.py` defines `MISTAKES`, a list of `Mistake`: an id and the sentence a
  learner reads when their output looks like it. Shipped with the public tests, which name them.
- `tests/<topic>/mutants.py` defines `MUTANTS` (a list of `Mutant`) and `ALTERNATIVES` (a list of
  `Alternative`): small textual patches of `solutions/<topic>.py`. Every `(old, new)` pair replaces
  text that must occur exactly once in the reference, so a patch that no longer applies fails
  loudly. Like the hidden tests, this file quotes the reference and is not shipped to a class.

`make check` runs the topic's whole suite on every mutant and requires (a) that it fails and (b) that
some failure message names its mistake: the mistake's tag (e.g. `[no-bias-correction]`) appears in
the output. Every alternative must pass every test: correct code written another way is not punished.
`TRIVIAL` (a list of `Trivial`), if given, fills the solution blocks with do-nothing bodies: every
test must fail on those, so that no test hands out points for code that does not do the work.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    id: str  # short name, letters and dashes
    says: str  # the sentence a learner reads when their output looks like this mistake

    @property
    def tag(self) -> str:
        return f"[{self.id}]"

    def sentence(self) -> str:
        return f"Known mistake {self.tag}: {self.says}"


@dataclass(frozen=True)
class Mutant:
    id: str  # unique per topic; often the mistake's id
    mistake: str  # the id of the Mistake the suite must name when it fails on this mutant
    patch: tuple[tuple[str, str], ...]  # (old, new) replacements turning the reference into the mutant


@dataclass(frozen=True)
class Alternative:
    id: str
    says: str  # what is different about this correct version
    patch: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Trivial:
    """A do-nothing implementation (it returns its inputs, say): every test must fail on it."""
    id: str
    says: str
    bodies: tuple[str, ...]  # one body per solution block of the reference, in order


class PatchError(ValueError):
    pass


def apply_patch(source: str, patch: tuple[tuple[str, str], ...], what: str) -> str:
    for old, new in patch:
        count = source.count(old)
        if count != 1:
            raise PatchError(f"{what}: the text to replace occurs {count} times in the reference "
                             f"(must be exactly once): {old!r}")
        source = source.replace(old, new)
    return source


def correct_variants(topic: str, alternatives) -> dict[str, str]:
    """{"reference": code, <alternative id>: code, ...}: the reference of `topic` and each valid
    alternative applied to it, solution markers removed (what the margins scripts measure)."""
    from grader import paths, stubs
    source = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
    codes = {"reference": stubs.strip_markers(source)}
    codes.update({a.id: stubs.strip_markers(apply_patch(source, a.patch, a.id)) for a in alternatives})
    return codes


def correct_modules(topic: str, alternatives) -> dict[str, dict]:
    """correct_variants(), each executed: {name: its module namespace}."""
    modules = {}
    for name, code in correct_variants(topic, alternatives).items():
        namespace: dict = {"__name__": f"variant_{name}"}
        exec(compile(code, f"<{topic} {name}>", "exec"), namespace)
        modules[name] = namespace
    return modules


def by_id(mistakes: list[Mistake]) -> dict[str, Mistake]:
    return {m.id: m for m in mistakes}
