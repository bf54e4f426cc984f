"""Known mistakes (docs/design.md rule 3), the mutants that commit them, and valid alternatives.

Each topic has two files:

- `tests/<topic>/mistakes.py` defines `MISTAKES`, a list of `Mistake`: an id and the sentence a
  learner reads when their output looks like it. Shipped with the public tests, which name them.
- `tests/<topic>/mutants.py` defines `MUTANTS` (a list of `Mutant`) and `ALTERNATIVES` (a list of
  `Alternative`): small textual patches of `solutions/<topic>.py`, written `{old: new, ...}`
  (`Mutant("ascent", {"p - lr": "p + lr"})`: the mutant's id is its mistake's unless `id=` says
  otherwise). Every old text must occur exactly once in the reference, so a patch that no longer
  applies fails loudly. Like the hidden tests, this file quotes the reference and is not shipped to a class.

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


Patch = tuple[tuple[str, str], ...]


def as_pairs(patch) -> Patch:
    """A patch as (old, new) pairs: from a dict {old: new, ...} (the one form new lists use) or from
    a sequence of pairs (the form older lists use)."""
    items = patch.items() if isinstance(patch, dict) else patch
    pairs = tuple((str(old), str(new)) for old, new in items)
    if not pairs:
        raise ValueError("a patch needs at least one (old, new) replacement")
    return pairs


@dataclass(frozen=True, init=False)
class Mutant:
    """A known mistake applied to the reference.

    Compact form: `Mutant("ascent", {"param - lr * m_hat": "param + lr * m_hat"})`: the mistake's id,
    then the patch {old: new, ...}; the mutant's id is the mistake's unless `id=` gives another (when
    several mutants commit one mistake). The older form `Mutant(id, mistake, ((old, new), ...))`
    still works, so lists written that way need no change.
    """

    id: str  # unique per topic; by default the mistake's id
    mistake: str  # the id of the Mistake the suite must name when it fails on this mutant
    patch: Patch  # (old, new) replacements turning the reference into the mutant

    def __init__(self, mistake: str, patch, legacy_patch=None, *, id: str | None = None) -> None:
        if legacy_patch is not None:  # Mutant(id, mistake, patch)
            if not isinstance(patch, str) or id is not None:
                raise TypeError("Mutant(id, mistake, patch) or Mutant(mistake, {old: new}, id=...)")
            id, mistake, patch = mistake, patch, legacy_patch
        object.__setattr__(self, "id", id or mistake)
        object.__setattr__(self, "mistake", mistake)
        object.__setattr__(self, "patch", as_pairs(patch))


@dataclass(frozen=True)
class Alternative:
    id: str
    says: str  # what is different about this correct version
    patch: Patch  # {old: new} or (old, new) pairs; kept as pairs

    def __post_init__(self) -> None:
        object.__setattr__(self, "patch", as_pairs(self.patch))


@dataclass(frozen=True)
class Trivial:
    """A do-nothing implementation (it returns its inputs, say): every test must fail on it."""

    id: str
    says: str
    bodies: tuple[str, ...]  # one body per solution block of the reference, in order


class PatchError(ValueError):
    pass


def apply_patch(source: str, patch, what: str) -> str:
    """`source` with each (old, new) replacement of `patch` (pairs or a dict) made in order; every
    old text must occur exactly once at its turn."""
    for old, new in as_pairs(patch):
        count = source.count(old)
        if count != 1:
            raise PatchError(
                f"{what}: the text to replace occurs {count} times in the reference (must be exactly once): {old!r}"
            )
        source = source.replace(old, new)
    return source


def by_id(mistakes: list[Mistake]) -> dict[str, Mistake]:
    return {m.id: m for m in mistakes}
