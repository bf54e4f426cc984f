"""Known mistakes, mutants and alternatives (grader/mistakes.py) and every topic's lists of them."""

import importlib
import re

import pytest

from grader import catalog, guard, paths
from grader.mistakes import Alternative, Mistake, Mutant, PatchError, apply_patch, by_id


def test_apply_patch_replaces_each_pair_in_order():
    """Every (old, new) pair is replaced; later pairs see the result of earlier ones."""
    source = "a = 1\nb = 2\n"
    assert apply_patch(source, (("a = 1", "a = 10"), ("a = 10\nb", "a = 10\nc")), "test") == "a = 10\nc = 2\n"


def test_apply_patch_refuses_missing_text():
    """Text that does not occur is an error naming the count and the text, never a silent no-op."""
    with pytest.raises(PatchError) as info:
        apply_patch("a = 1\n", (("b = 2", "b = 3"),), "adam mutant x")
    assert "adam mutant x" in str(info.value)
    assert "occurs 0 times" in str(info.value)
    assert "'b = 2'" in str(info.value)


def test_apply_patch_refuses_ambiguous_text():
    """Text that occurs twice is an error too: the patch must say exactly where it applies."""
    with pytest.raises(PatchError) as info:
        apply_patch("x = 1\nx = 1\n", (("x = 1", "x = 2"),), "m")
    assert "occurs 2 times" in str(info.value)


def test_mistake_tag_and_sentence():
    """A mistake's tag is its id in brackets; the sentence a learner reads carries the tag."""
    flipped = Mistake("kernel-flipped", "the kernel is flipped.")
    late = Mistake("mask-after-softmax", "the mask is applied after the softmax.")
    assert flipped.tag == "[kernel-flipped]"
    assert flipped.sentence() == "Known mistake [kernel-flipped]: the kernel is flipped."
    assert by_id([flipped, late]) == {"kernel-flipped": flipped, "mask-after-softmax": late}


def topic_lists():
    """(topic, MISTAKES, MUTANTS, ALTERNATIVES) for every topic in the catalog."""
    for name in catalog.names():
        mistakes = importlib.import_module(f"tests.{name}.mistakes")
        try:
            mutants = importlib.import_module(f"tests.{name}.mutants")
        except ModuleNotFoundError:  # a class release has no mutants.py (it quotes the reference)
            mutants = None
        yield (
            name,
            list(mistakes.MISTAKES),
            list(getattr(mutants, "MUTANTS", [])),
            list(getattr(mutants, "ALTERNATIVES", [])),
            mutants is not None,
        )


TOPICS = list(topic_lists())
IDS = [t[0] for t in TOPICS]
ID_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def reference(name):
    path = paths.SOLUTIONS / f"{name}.py"
    if not paths.SOLUTIONS.is_dir():
        pytest.skip("this copy is a class release: there is no solutions/ folder")
    return path.read_text(encoding="utf-8")


def need_mutants(name, present):
    if not present and not paths.SOLUTIONS.is_dir():
        pytest.skip("this copy is a class release: there is no mutants.py")
    assert present, f"tests/{name}/mutants.py is missing"


@pytest.mark.parametrize("name, mistakes, mutants, alternatives, present", TOPICS, ids=IDS)
def test_mistakes_are_well_formed(name, mistakes, mutants, alternatives, present):
    """Every topic lists mistakes with unique dashed ids and a sentence that carries the tag."""
    assert mistakes, f"{name} lists no known mistakes"
    ids = [m.id for m in mistakes]
    assert len(ids) == len(set(ids)), f"duplicate mistake ids in {name}: {ids}"
    for m in mistakes:
        assert isinstance(m, Mistake)
        assert ID_PATTERN.fullmatch(m.id), m.id
        assert m.says.strip(), f"{m.id} has no sentence"
        assert m.sentence().startswith(f"Known mistake [{m.id}]: ")


@pytest.mark.parametrize("name, mistakes, mutants, alternatives, present", TOPICS, ids=IDS)
def test_mutants_commit_known_mistakes(name, mistakes, mutants, alternatives, present):
    """Mutant and alternative ids are unique; each mutant names a listed mistake, and every mistake
    has at least one mutant that commits it."""
    need_mutants(name, present)
    ids = [m.id for m in mutants] + [a.id for a in alternatives]
    assert len(ids) == len(set(ids)), f"duplicate ids in tests/{name}/mutants.py: {ids}"
    known = {m.id for m in mistakes}
    for mutant in mutants:
        assert isinstance(mutant, Mutant)
        assert mutant.mistake in known, f"mutant {mutant.id} names unknown mistake {mutant.mistake!r}"
        assert mutant.patch, f"mutant {mutant.id} has no patch"
    for alternative in alternatives:
        assert isinstance(alternative, Alternative)
        assert alternative.says.strip() and alternative.patch, alternative.id
    assert known <= {m.mistake for m in mutants}, f"mistakes without a mutant: {known - {m.mistake for m in mutants}}"


@pytest.mark.parametrize("name, mistakes, mutants, alternatives, present", TOPICS, ids=IDS)
def test_every_patch_applies_and_changes_the_reference(name, mistakes, mutants, alternatives, present):
    """Each mutant and alternative applies cleanly to the reference, differs from it, compiles, and no
    two of them are the same program."""
    need_mutants(name, present)
    ref = reference(name)
    made = {}
    for item in [*mutants, *alternatives]:
        source = apply_patch(ref, item.patch, f"{name} {item.id}")
        assert source != ref, f"{item.id} does not change the reference"
        compile(source, f"{name}-{item.id}.py", "exec")
        assert source not in made.values(), f"{item.id} gives the same program as another entry"
        made[item.id] = source


@pytest.mark.parametrize("name, mistakes, mutants, alternatives, present", TOPICS, ids=IDS)
def test_patched_versions_respect_the_forbidden_list(name, mistakes, mutants, alternatives, present):
    """No mutant or alternative (nor the reference) uses an API its topic forbids, so the suite fails
    on a mutant for its mistake, not because of the guard."""
    need_mutants(name, present)
    forbidden = catalog.get(name).forbidden
    ref = reference(name)
    assert guard.find_forbidden(ref, forbidden) == []
    for item in [*mutants, *alternatives]:
        assert guard.find_forbidden(apply_patch(ref, item.patch, item.id), forbidden) == [], item.id
