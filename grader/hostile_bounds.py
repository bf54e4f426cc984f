"""Hostile submissions against the trusted side's bounds (grader/tests/test_bounds.py).

Same shape as grader/hostile.py's corpus: each case is a submission for the `adam` topic, with the
most points it may earn. These attack what comes back from the worker rather than the sandbox:

- "reply-bomb": adam_step writes a 150 MB reply frame (30 million empty dicts) straight into the
  worker's channel. Before the bounds the trusted pytest process parsed every one of them, outside
  the call's time limit: 6.5 GiB resident and 266 s for the adam topic (now: 0.4 GiB and 40 s, most
  of it restarting the worker after each refused reply).
- "item-bomb": a frame just under the byte limit (60 MiB, 12 million empty dicts): the item limit
  and the deadline must stop it, not the size.
- "long-name": adam_step is a function whose name is 8 MB long, and it raises: the name reaches the
  test's message (it once made a 310 MB grades.json and a 117 MB feedback file).
- "hidden-leak": adam_step (and Adam) record every call's arguments in a module global, and from
  the second call on raise a ValueError quoting what they recorded, newest first. Its second topic
  file (rnn.py) fails every call with the same record, read from the adam module. Nothing the hidden
  tests pass (HIDDEN_ONLY) may appear in a message the student sees.

The cases use os, sys, sys.modules and dunders, which the static escape check refuses (when it is
in force) before anything runs; the tests grade them with that check left out, so that what stops
them is the bound under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.hostile import Case, _sabotage, write_cases

# How the recorder below writes values that only tests/adam/test_hidden.py passes (never the public
# suite): the wide matrix's and the five-parameter class's shapes, and two settings. (Not "0.9999"
# alone: the feedback names hidden tests, and one is called "betas (0.99, 0.9999), L2".)
HIDDEN_ONLY = ("(16, 33)", "(16, 8)", "'betas': (0.99, 0.9999)", "'eps': 0.001")

_DIRECT_FRAME = """
import os, struct, sys
count = {count}
body = b"l" + struct.pack("<I", count) + b"d\\x00\\x00\\x00\\x00" * count
frame = struct.pack("<Q", len(body)) + body
view = memoryview(frame)
while view:  # the worker's reply channel, written directly: no encoder in the way
    view = view[os.write(int(sys.argv[3]), view[: 1 << 20]):]
import time
time.sleep(60)  # the trusted side reads that frame as this call's reply
"""

_LONG_NAME = """
def _raise(*args, **kwargs):
    raise ValueError("no")

_long = "x" * 8_000_000
_names = {"co_name": _long}
if hasattr(_raise.__code__, "co_qualname"):  # Python 3.11: the worker reports the qualified name
    _names["co_qualname"] = _long
_code = _raise.__code__.replace(**_names)
adam_step = type(_raise)(_code, globals(), _long)
"""

_RECORDER = """

SEEN = []  # one line per call: shapes, step and settings (the hidden tests' are the interesting ones)


def _describe(value):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return repr(tuple(value.shape))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value[:8]) + "]"
    return repr(value)


def _record(name, args, kwargs):
    line = name + "(" + ", ".join([_describe(a) for a in args] + [f"{k}={v!r}" if k == "step" else f"{k!r}: {v!r}"
                                                                  for k, v in kwargs.items()]) + ")"
    if line not in SEEN:
        SEEN.append(line)
    if len(SEEN) > 1:
        raise ValueError("recorded: " + " | ".join(reversed(SEEN))[:1900])
"""

_LEAKING_ADAM = (
    "{reference}\n"
    + _RECORDER
    + """

_honest_step, _HonestAdam = adam_step, Adam


def adam_step(*args, **kwargs):
    _record("adam_step", args, kwargs)
    return _honest_step(*args, **kwargs)


class Adam(_HonestAdam):
    def __init__(self, params, **kwargs):
        _record("Adam", (params,), kwargs)
        super().__init__(params, **kwargs)
"""
)

# The second topic reads the first one's record: one worker imports both (modules load under names
# of their own, so it looks for the adam module in sys.modules).
_LEAKING_RNN = """
import sys


def _leak(*args, **kwargs):
    for module in list(sys.modules.values()):
        seen = getattr(module, "SEEN", None)
        if type(seen) is list and seen and str(seen[0]).startswith(("adam_step", "Adam")):
            raise ValueError("adam saw: " + " | ".join(reversed(seen))[:1900])
    raise ValueError("adam saw nothing")


def __getattr__(name):
    return _leak


rnn_step = rnn_forward = rnn_backward = lstm_step = gru_step = _leak
"""


@dataclass(frozen=True)
class BoundsCase(Case):
    second_topic: str = ""  # a topic the case also submits (graded with it in a run of its own)


CASES = (
    BoundsCase(
        "reply-bomb",
        "writes a 150 MB reply of 30 million empty dicts into its channel",
        {"adam.py": _sabotage(_DIRECT_FRAME.replace("{count}", "30_000_000"))},
    ),
    BoundsCase(
        "item-bomb",
        "writes a 60 MiB reply of 12 million empty dicts, under the byte limit",
        {"adam.py": _sabotage(_DIRECT_FRAME.replace("{count}", "12_000_000"))},
    ),
    BoundsCase(
        "long-name", "adam_step is a function with an 8 MB name that raises", {"adam.py": "{reference}\n" + _LONG_NAME}
    ),
    BoundsCase(
        "hidden-leak",
        "records every call's arguments and raises them in later calls' messages",
        {"adam.py": _LEAKING_ADAM, "rnn.py": _LEAKING_RNN},
        max_points=10.0,
        second_topic="rnn",
    ),
)


def build(folder: Path, solution: str) -> dict[str, Path]:
    """Write every case as `folder/<name>/` (grader/hostile.py's write_cases); returns {name: folder}."""
    return write_cases(folder, CASES, solution)
