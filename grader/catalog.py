"""The catalog of topics: the one place every command reads a topic's facts from.

A topic named `T` has its stub in `exercises/T.py`, its reference in `solutions/T.py`, its suite in
`tests/T/` (`test_public.py`, `test_hidden.py`, `mistakes.py`, `hints.md`) and, if the stub's
docstring is not enough, `docs/T.md`.

`forbidden` lists dotted names the learner's module may not use (a module, class or function; a
module covers everything in it). The guard checks the source statically and traps the calls at run
time (see grader/guard.py). `points` is the topic's weight in the grade: a topic scores
points * (points of passed tests) / (points of all its tests), tests weighing 1 unless marked
`@pytest.mark.points(n)` (see grader/scoring.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    title: str
    order: int
    description: str
    points: int
    forbidden: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()
    # Why each forbidden name is forbidden, shown to the learner with the sentence that names it.
    forbidden_reason: str = ""


TOPICS: tuple[Topic, ...] = (
    Topic(
        name="adam",
        title="The Adam optimizer (and AdamW)",
        order=1,
        description="One Adam update by hand, then an optimizer class that keeps its own state; "
                    "L2 and decoupled (AdamW) weight decay; checked against torch.optim.Adam.",
        points=10,
        forbidden=("torch.optim", "torch._fused_adam_", "torch._fused_adamw_"),
        forbidden_reason="the point of this topic is to write the update yourself",
    ),
    # new topics go above this line (one Topic(...) entry each, in any order; `order` sorts them)
)


def names() -> list[str]:
    return [t.name for t in sorted(TOPICS, key=lambda t: t.order)]


def get(name: str) -> Topic:
    for topic in TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(name)


def ordered() -> list[Topic]:
    return sorted(TOPICS, key=lambda t: t.order)
