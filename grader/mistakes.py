"""Known mistakes as mutants of the reference (DESIGN rule 3), and valid alternatives.

Each topic's `tests/<topic>/mistakes.py` defines `MISTAKES` (a list of `Mistake`) and may define
`ALTERNATIVES` (a list of `Alternative`). Both are small textual patches of `solutions/<topic>.py`:
every `(old, new)` pair replaces text that must occur exactly once in the reference, so a patch that
no longer applies fails loudly instead of silently testing the reference.

`make check` runs the topic's whole suite on every mutant and requires (a) that it fails and (b) that
some failure message names the mistake: `tag(mistake)` (e.g. `[no-bias-correction]`) appears in the
output. Every alternative must pass every test: correct code written another way is not punished.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    id: str  # short name, letters and dashes
    says: str  # the sentence a learner reads when their output looks like this mistake
    patch: tuple[tuple[str, str], ...]  # (old, new) replacements turning the reference into the mutant
    named_as: str = ""  # another mistake's id when the tests name this mutant by that one

    @property
    def tag(self) -> str:
        return f"[{self.named_as or self.id}]"

    def sentence(self) -> str:
        return f"Known mistake {tag(self)}: {self.says}"


@dataclass(frozen=True)
class Alternative:
    id: str
    says: str  # what is different about this correct version
    patch: tuple[tuple[str, str], ...]


def tag(mistake: Mistake) -> str:
    return mistake.tag


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


def by_id(mistakes: list[Mistake]) -> dict[str, Mistake]:
    return {m.id: m for m in mistakes}
