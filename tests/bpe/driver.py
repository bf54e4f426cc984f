"""Checks shared by the public and the hidden BPE suites: call the learner (through `impl`),
compare with the expected merges or ids, and fail with a sentence that says which call, which
input, where the first difference is, and which known mistake the output looks like.

Everything compared here is exact (integers, dicts, strings): there is no tolerance to state.
This module does not import torch, so the BPE suite starts in a fraction of a second.
"""

from __future__ import annotations

import pytest

from grader.mistakes import Mistake
from tests.bpe.mistakes import MISTAKE
from tests.bpe.oracle import GPT2_PATTERN, GPT4_PATTERN, as_bytes, show

_fail = pytest.fail


def fail(message: str) -> None:
    """Fail the current test with `message` and no harness traceback."""
    _fail(message, pytrace=False)


def short(value, limit: int = 70) -> str:
    """repr(value), cut to about `limit` characters, saying how long the whole was."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = (
        f"{len(value)} {'items' if isinstance(value, (list, tuple, dict)) else 'chars'}"
        if hasattr(value, "__len__")
        else "cut"
    )
    return f"{text[: limit - 5]} ... ({size})"


def call_text(fn: str, text: str, *rest) -> str:
    """`fn('text', 300, GPT2_PATTERN)` for a message."""
    names = {GPT2_PATTERN: "GPT2_PATTERN", GPT4_PATTERN: "GPT4_PATTERN"}
    extra = "".join(f", {names.get(r, repr(r)) if isinstance(r, str) else r!r}" for r in rest)
    return f"{fn}({short(text)}{extra})"


def _notes(found) -> str:
    return "".join(f"\n{m.sentence()}" for m in found)


def diagnose(impl) -> list[Mistake]:
    """Known mistakes that the learner's own get_stats and merge show on three tiny probes.

    Used to explain a failure of train or encode (which may call them). A probe that raises, or a
    function that is not written yet, is skipped.
    """
    found = []
    probes = [
        (lambda: impl.merge([5, 5, 5], (5, 5), 256), ([256, 256], [256, 256, 5]), "overlapping-merge"),
        (lambda: impl.merge([1, 2, 3], (1, 2), 256), ([256],), "merge-drops-last"),
        (lambda: impl.get_stats([1, 2, 1, 2]), ({(1, 2): 1, (2, 1): 1},), "counts-without-repeats"),
    ]
    for probe, wrong, mistake in probes:
        try:
            got = probe()
        except Exception:  # noqa: BLE001 (a diagnosis must never raise)
            continue
        if any(got == w for w in wrong):
            found.append(MISTAKE[mistake])
    return found


def _diagnosis_note(impl, already=()) -> str:
    found = [m for m in diagnose(impl) if m not in already] if impl is not None else []
    if not found:
        return ""
    return "\nYour own get_stats/merge show, on tiny probes:" + _notes(found)


def check_merge_shape(result, call: str) -> dict:
    """Fail unless `result` is a merges dict: {(id1, id2): new_id}, new ids 256, 257, ... in
    insertion order, each pair made of ids that exist before it (ids never reused)."""
    if not isinstance(result, dict):
        fail(f"{call} should return a dict {{(id1, id2): new_id}}, got {type(result).__name__} ({short(result)}).")
    known = 256
    for k, (pair, new_id) in enumerate(result.items()):
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(i, int) for i in pair)):
            fail(f"{call}: key number {k} is {pair!r}; every key must be a tuple of two int ids.")
        if not isinstance(new_id, int) or new_id != 256 + k:
            fail(
                f"{call}: merge number {k} (in creation order) got the id {new_id!r}; new ids are "
                f"256, 257, ... in the order the merges are created, without gaps, never reused "
                f"(so this one must be {256 + k})."
            )
        if not all(0 <= i < known for i in pair):
            fail(
                f"{call}: merge number {k}, {pair} -> {new_id}, uses an id that does not exist "
                f"yet (only 0..{known - 1} do)."
            )
        known += 1
    return result


def check_merges(result, expected: dict, *, call: str, case: str = "", near=(), impl=None) -> None:
    """Fail unless the merges `result` equal `expected` (same pairs, same ids, same order).

    near: (Mistake, predicted merges) pairs, or a function returning them (called on failure).
    impl: given, a failure also reports what the learner's get_stats and merge show (diagnose).
    """
    check_merge_shape(result, call)
    if list(result.items()) == list(expected.items()):
        return
    where = f"{call}{f' ({case})' if case else ''}"
    found = [
        m for m, predicted in (near() if callable(near) else near) if list(result.items()) == list(predicted.items())
    ]
    got, want = list(result.items()), list(expected.items())
    common = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
    if common == min(len(got), len(want)):
        if MISTAKE["wrong-number-of-merges"] not in found:
            found.append(MISTAKE["wrong-number-of-merges"])
        fail(
            f"{where}: {len(got)} merges, expected {len(want)}; the first {common} agree "
            f"(merges after them are missing or extra)." + _notes(found) + _diagnosis_note(impl, found)
        )
    got_b, want_b = as_bytes(result), as_bytes(expected)
    fail(
        f"{where}: merge number {common} (new id {256 + common}) differs: got {got[common][0]} "
        f"({show(got_b[common])}), expected {want[common][0]} ({show(want_b[common])}). "
        f"{len(got)} merges returned, {len(want)} expected; "
        + (f"the first {common} agree." if common else "the very first merge differs.")
        + _notes(found)
        + _diagnosis_note(impl, found)
    )


def check_ids(result, expected: list[int], *, call: str, case: str = "", near=(), impl=None) -> None:
    """Fail unless `result` is the list of ints `expected`; name a predicted mistake it equals."""
    where = f"{call}{f' ({case})' if case else ''}"
    if not isinstance(result, list) or not all(isinstance(i, int) for i in result):
        fail(f"{where} should return a list of int ids, got {short(result)}.")
    if result == expected:
        return
    found = [m for m, predicted in (near() if callable(near) else near) if result == predicted]
    first = next((k for k, (g, w) in enumerate(zip(result, expected)) if g != w), min(len(result), len(expected)))
    fail(
        f"{where}: got {short(result, 120)}, expected {short(expected, 120)} "
        f"({len(result)} ids for {len(expected)}; first difference at position {first})."
        + _notes(found)
        + _diagnosis_note(impl, found)
    )


def train_call(impl, fn: str, text: str, vocab_size: int, pattern=None, stops_early=False):
    """impl.<fn>(text, vocab_size, pattern); a ValueError for a valid vocab_size fails with a
    sentence (naming no-early-stop when this text runs out of pairs before vocab_size)."""
    call = call_text(fn, text, vocab_size, *([pattern] if pattern else []))
    try:
        return getattr(impl, fn)(text, vocab_size, pattern) if pattern else getattr(impl, fn)(text, vocab_size)
    except ValueError as exc:
        note = (
            "\nThis text runs out of pairs before vocab_size is reached." + _notes([MISTAKE["no-early-stop"]])
            if stops_early
            else ""
        )
        fail(f"{call} raised ValueError ({exc}) although vocab_size >= 256 is valid." + note)


def check_like_tokenizers(result, expected: list[tuple[bytes, bytes]], *, call: str, case: str, impl=None) -> None:
    """Fail unless the merges `result`, as byte strings, equal `expected` (tokenizers' merges)."""
    check_merge_shape(result, call)
    got = as_bytes(result)
    if got == expected:
        return
    k = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), min(len(got), len(expected)))
    found = []
    if k < min(len(got), len(expected)):
        what = f"merge number {k} is {show(got[k])}, tokenizers made {show(expected[k])}"
    else:
        what = f"{len(got)} merges, tokenizers made {len(expected)}"
        found.append(MISTAKE["wrong-number-of-merges"])
    fail(
        f"{call} ({case}, the tokenizers BPE trainer as reference): {what}; the first {k} merges "
        f"agree." + _notes(found) + _diagnosis_note(impl, found)
    )
