"""The answer key: code in `tests/<topic>/key.py` that computes what a learner's function returns,
or returns under a known mistake, by implementing it. A class release ships its results, never it.

Public tests may use PyTorch's built-ins, other libraries, hand-worked values and stored data as
oracles. Where a topic has no built-in to compare with (BPE), or where a test names a mistake by
predicting what that mistake outputs (Adam without bias correction), the code that computes it is an
implementation of the exercise, and a student who can read it can copy the answer. Such code lives
only in `tests/<topic>/key.py`, and each of its public functions is decorated with `@recorded`:

- in the project (live), a call computes its result;
- `--kata-record=FILE` (what `make release` and `make check` run on the reference) computes it and
  stores it under (public test, function, how many calls of that function the test made before);
- a class release replaces key.py by a module of `stored(...)` functions (`released_key_module`)
  and ships the results as `tests/<topic>/answers.pt`; `--kata-answers=FILE` does the same in the
  project (how `make check` proves the release still names every mistake its public tests name).

A recorded function is therefore called only inside a test (not at import or collection), with
inputs the test computes; how often a test calls it must not depend on the learner's results before
the call (a trajectory test calls it once per step it reaches, which is the same for every learner
up to the step that fails). Hidden tests (never shipped) always compute live.

`@recorded(lazy=True)` is for mistakes' predictions, computed only once a check has failed: the call
returns a function giving the result (what kit.check_outputs takes as `near`); the position is taken
when the call is made, so a release finds the same entry whether or not the check failed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ANSWERS_FILE = "answers.pt"  # beside the generated key.py in a release

_state: dict[str, Any] = {"mode": "live", "file": None, "data": None}
_calls: dict[tuple[str, str], int] = {}
_records: dict[tuple[str, str, int], Any] = {}


class MissingAnswer(AssertionError):
    """A stored answer was asked for that the release does not hold (the test called the key more
    often than the reference did, or from a place no test reaches on the reference)."""


def configure(record: str | None = None, stored: str | None = None) -> None:
    """Set the mode for this process: record into a file, read stored answers from one, or live."""
    if record and stored:
        raise ValueError("record and stored answers are exclusive")
    _state.update(mode="record" if record else "stored" if stored else "live", file=record or stored, data=None)
    _calls.clear()
    _records.clear()


def _current_test() -> str | None:
    """The running test's node id from `tests/` on ("tests/adam/test_public.py::test_x[case]")."""
    current = os.environ.get("PYTEST_CURRENT_TEST")
    if not current:
        return None
    nodeid = current.rsplit(" (", 1)[0]
    at = nodeid.find("tests/")
    return nodeid[at:] if at >= 0 else nodeid


def _is_public(nodeid: str | None) -> bool:
    return nodeid is not None and "/test_public.py::" in nodeid


def _detached(value: Any) -> Any:
    """A copy of a result that owns its memory (saving a view would save its whole storage)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, tuple):
        return tuple(_detached(v) for v in value)
    if isinstance(value, list):
        return [_detached(v) for v in value]
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    return value


def _position(name: str) -> tuple[str, str, int] | None:
    nodeid = _current_test()
    if nodeid is None:
        return None
    count = _calls.get((nodeid, name), 0)
    _calls[(nodeid, name)] = count + 1
    return (nodeid, name, count)


def _load(file: str | Path) -> dict:
    return torch.load(file, weights_only=False)


def _lookup(data_of: Callable[[], dict], key: tuple[str, str, int] | None, lazy: bool) -> Any:
    if key is None:
        raise MissingAnswer(
            f"{key}: answer-key functions are called inside tests, not at import or collection "
            "(the release stores their results per test)."
        )
    data = data_of()
    if key in data:
        return data[key]
    if lazy:  # no stored prediction: the failure is reported without naming a mistake
        return []
    raise MissingAnswer(
        f"{key[0]} asked for result {key[2] + 1} of {key[1]}, which the release does not hold: the test "
        "made more calls than it does on the reference (your code took it somewhere the reference "
        "does not go)."
    )


def recorded(fn: Callable | None = None, *, lazy: bool = False) -> Callable:
    """Decorate an answer-key function (see the module docstring)."""
    if fn is None:
        return functools.partial(recorded, lazy=lazy)
    name = fn.__name__

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        mode = _state["mode"]
        nodeid = _current_test()
        if mode == "live" or not _is_public(nodeid):
            return (lambda: fn(*args, **kwargs)) if lazy else fn(*args, **kwargs)
        key = _position(name)
        if mode == "record":
            value = _detached(fn(*args, **kwargs))
            _records[key] = value
            return (lambda: value) if lazy else value
        value = _lookup(_stored_data, key, lazy)
        return (lambda: value) if lazy else value

    call.recorded = True  # type: ignore[attr-defined]
    call.lazy = lazy  # type: ignore[attr-defined]
    return call


def _stored_data() -> dict:
    if _state["data"] is None:
        _state["data"] = _load(_state["file"]) if Path(_state["file"]).exists() else {}
    return _state["data"]


def save() -> None:
    """In record mode, write what was recorded (called when the pytest session ends)."""
    if _state["mode"] == "record":
        torch.save(_records, _state["file"])


def stored(key_file: str, name: str, lazy: bool = False) -> Callable:
    """A released key.py's function: the stored result for this test and position (answers.pt
    beside `key_file`); the arguments are not used."""
    cache: dict[str, dict] = {}

    def data() -> dict:
        if "data" not in cache:
            cache["data"] = _load(Path(key_file).with_name(ANSWERS_FILE))
        return cache["data"]

    def call(*args: Any, **kwargs: Any) -> Any:
        value = _lookup(data, _position(name), lazy)
        return (lambda: value) if lazy else value

    call.__name__ = name
    return call


def key_functions(module: Any) -> dict[str, bool]:
    """{name: lazy} for the recorded functions of a key module."""
    return {
        name: bool(getattr(value, "lazy", False))
        for name, value in vars(module).items()
        if callable(value) and getattr(value, "recorded", False) and not name.startswith("_")
    }


def released_key_module(topic: str, functions: dict[str, bool]) -> str:
    """The text of tests/<topic>/key.py in a class release."""
    lines = [
        f'"""{topic}: the answer key\'s results for the public tests, stored by `make release` in',
        f"{ANSWERS_FILE} (see grader/answers.py). The code that computes them stays with the project.",
        '"""',
        "",
        "from grader.answers import stored",
        "",
    ]
    for name, lazy in sorted(functions.items()):
        lines.append(f"{name} = stored(__file__, {name!r}{', lazy=True' if lazy else ''})")
    return "\n".join(lines) + "\n"
