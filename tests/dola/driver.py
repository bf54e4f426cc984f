"""Run the learner's functions (through `impl`) and check the answers, for both suites.

Sequences of token ids are compared exactly; the first token that differs is reported with what the
final layer alone would have chosen there, and with the known mistakes whose decoding matches.
"""

from __future__ import annotations

import torch

from grader.checks import fail, matching_mistakes

_equal = torch.equal


def _same_integers(actual, expected: torch.Tensor, where: str, what: str, shape_hint: str, dtype_hint: str) -> bool:
    """Fail on a non-tensor, a wrong shape or a wrong dtype (each in one sentence); then whether
    the integers are all equal (the caller explains a difference)."""
    if not isinstance(actual, torch.Tensor):
        fail(f"{where}: expected a torch.Tensor of {what}, got {type(actual).__name__} ({actual!r:.80}).")
    if actual.shape != expected.shape:
        fail(f"{where}: wrong shape {tuple(actual.shape)}, expected {tuple(expected.shape)} ({shape_hint}).")
    if actual.dtype != expected.dtype:
        fail(f"{where}: wrong dtype {actual.dtype}, expected {expected.dtype} ({dtype_hint}).")
    return _equal(actual, expected)


def check_sequence(
    actual,
    expected: torch.Tensor,
    *,
    name: str,
    case: str,
    near=(),
    final_greedy: torch.Tensor | None = None,
    prompt_length: int = 0,
) -> None:
    """Fail unless `actual` equals `expected` (a LongTensor (B, T + n)) exactly.

    Token ids are integers: no tolerance. On a difference, the message gives the first new token that
    differs, the one the final layer alone would pick there (if given), and the matching mistakes.
    """
    where = f"{name}, for {case}"
    if _same_integers(
        actual, expected, where, "token ids", "the prompts, then the new tokens: (B, T + max_new_tokens)", "token ids"
    ):
        return
    found = matching_mistakes(actual, near, rtol=0.0, atol=0.0)
    differ = actual != expected
    if bool(differ[:, :prompt_length].any()):
        message = (
            f"{where}: the first {prompt_length} tokens of each row must be the prompt, "
            f"unchanged; row {int(differ[:, :prompt_length].any(1).nonzero()[0])} differs."
        )
    else:
        row = int(differ.any(dim=1).nonzero()[0])
        col = int(differ[row].nonzero()[0])
        message = (
            f"{where}: {int(differ.any(dim=1).sum())} of {actual.shape[0]} rows differ. "
            f"Row {row} first differs at new token {col - prompt_length + 1} "
            f"(position {col}): got {int(actual[row, col])}, expected {int(expected[row, col])}."
        )
        if final_greedy is not None:
            message += (
                f" The final layer alone (plain greedy decoding from the same prefix) "
                f"would pick {int(final_greedy[row])} there."
            )
        message += f"\n  expected row {row}: {expected[row].tolist()}\n  got      row {row}: {actual[row].tolist()}"
    if found:
        message += "\n" + "\n".join(m.sentence() for m in found)
    fail(message)


def check_index(actual, expected: torch.Tensor, *, name: str, case: str, near=()) -> None:
    """Fail unless `actual` is a LongTensor equal to `expected` (indices: compared exactly)."""
    where = f"{name}, for {case}"
    if _same_integers(actual, expected, where, "indices", "one index per example", "indices are int64"):
        return
    found = matching_mistakes(actual, near, rtol=0.0, atol=0.0)
    fail(
        f"{where}: got {actual.tolist()}, expected {expected.tolist()} (the position in the "
        f"candidates of the largest divergence from the final layer, per example)."
        + ("\n" + "\n".join(m.sentence() for m in found) if found else "")
    )


def first_step_final_greedy(model, actual, expected, prompt_length):
    """What plain greedy decoding would pick at the first differing position of each row (B,).

    Uses the expected prefix, so that the hint concerns the step where the learner went astray.
    """
    if not (isinstance(actual, torch.Tensor) and actual.shape == expected.shape):
        return None
    differ = actual != expected
    if not bool(differ.any()):
        return None
    row = int(differ.any(dim=1).nonzero()[0])
    col = int(differ[row].nonzero()[0])
    if col < max(1, prompt_length):
        return None
    picks = torch.full((expected.shape[0],), -1, dtype=torch.long)
    picks[row] = model.logits(expected[row : row + 1, :col])[0, -1].argmax()
    return picks


def run_greedy(impl, model, input_ids, layers, max_new_tokens, **kwargs):
    """Call impl.dola_greedy with copies of the test's data."""
    return impl.dola_greedy(model, input_ids.clone(), list(layers), max_new_tokens, **kwargs)


def check_greedy(impl, model, input_ids, layers, max_new_tokens, expected, case, near=None, **kwargs):
    """Run impl.dola_greedy and compare. `near` is a function of the learner's output (see
    oracle.greedy_near), called only on a difference."""
    actual = run_greedy(impl, model, input_ids, layers, max_new_tokens, **kwargs)
    check_sequence(
        actual,
        expected,
        name="dola_greedy's output",
        case=case,
        near=(lambda: near(actual)) if near is not None else (),
        final_greedy=first_step_final_greedy(model, actual, expected, input_ids.shape[1]),
        prompt_length=input_ids.shape[1],
    )
