"""The trusted side of grading mode: `impl` as a proxy to a sandboxed worker (docs/design.md rule 8).

`ProxyImpl(topic, folder)` looks like the learner's module to a test: `impl.adam_step(...)` sends
the arguments to the submission's worker (grader/worker.py, started by grader/sandbox.py), and
returns what came back, after grader/wire.py has checked it is plain data. Objects made by a learner
class come back as `RemoteObject` handles; attribute reads and method calls on them go to the
worker too, and so do arithmetic operators applied to them (`a + b`, `2 * a`, `-a`, `a ** 2`:
computed in the worker with Python's own rules). Errors come back as the same sentences the
in-process harness writes: a function not written yet, an exception with its line, a forbidden API.
A worker that dies, exceeds a limit or does not answer in time costs the test that was running (and
the worker is started again for the next one); after STRIKES calls of one topic that ran out of
time, that topic's later calls fail at once, so an endless loop costs seconds, not minutes.

Each pytest process grades one submission. Its public tests share one worker across topics; its
hidden tests (tests/<topic>/test_hidden.py) get a worker of their own, started fresh when the first
hidden test runs (the public worker is closed then: one worker per student at a time). A worker
that has seen a hidden test's inputs never answers a public test, so nothing a submission observes
in a hidden test (and could put in an exception message) reaches a message the student sees.

Everything the worker sends is the student's to choose: grader/wire.py bounds a reply's size and
shape, and every string from the worker that can reach a failure message (an error's message,
function, source, file and type names, forbidden-API notes, class and foreign-value descriptions)
is cut here to a few hundred or thousand characters (CUT), so one test's message stays small
whatever the submission sends (an 8 MB function name once made a 310 MB grades.json).
"""

from __future__ import annotations

import atexit
import time
from pathlib import Path

import pytest
import torch

from grader import catalog, guard, loader, sandbox, wire

STRIKES = 2
DEFAULT_TIMEOUT = 20.0  # seconds per call; the suites' pytest-timeout (30 s per test) is larger
TOPIC_BUDGET = 240.0  # seconds of calls per topic and submission; after that its calls fail at once
PHASES = ("public", "hidden")
# Characters kept of each string from the worker that can reach a message: the worker itself cuts
# an exception's message to 2,000 and a source line to 300, so an honest worker never loses anything.
CUT = {
    "message": 2000,
    "function": 200,
    "typename": 100,
    "type": 40,
    "source": 300,
    "file": 100,
    "violation": 500,
    "class": 200,
    "foreign": 200,
}
MAX_VIOLATIONS = 20  # forbidden-API notes kept from one reply (one is enough to fail a test)


def cut(value, field: str) -> str:
    """`value` as a string cut to CUT[field] characters, with a note of how long it was ("" for None;
    a container is named, never rendered: its repr could be as large as the reply)."""
    kind = type(value)
    text = (
        value
        if kind is str
        else ""
        if value is None
        else str(value)
        if kind in (int, float, bool)
        else f"<{kind.__name__}>"
    )
    limit = CUT[field]
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters, cut)"


class RemoteLearnerError(Exception):
    """An exception raised by the learner's code in the worker; `info` holds where and what."""

    info: dict = {}


_remote_types: dict[str, type] = {}


def remote_error(info: dict) -> BaseException:
    """An exception to raise in the test: an instance of the builtin type the learner raised (so
    `pytest.raises(ValueError)` works) that the plugin can also rewrite into a sentence."""
    import builtins

    base = getattr(builtins, str(info.get("type")), Exception)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    cls = RemoteLearnerError if base is Exception else _remote_types.get(base.__name__)
    if cls is None:
        cls = type(base.__name__, (base, RemoteLearnerError), {"__module__": "builtins"})
        _remote_types[base.__name__] = cls
    exc = cls(info["message"])
    exc.info = info
    return exc


class Foreign:
    """Stands for a value the worker could not send as data (an ndarray, a custom object)."""

    def __init__(self, description: str):
        self.description = description

    def __repr__(self):
        return f"<{self.description}, which is not data the tests can read>"


class _Session:
    """The worker of one submission for one phase ("public" or "hidden"), restarted after a crash."""

    def __init__(self, folder: Path, timeout: float, phase: str = "public"):
        self.folder = folder
        self.timeout = timeout
        self.phase = phase
        self.process: sandbox.WorkerProcess | None = None
        self.generation = 0
        self.loaded: dict[str, dict] = {}
        self.strikes: dict[str, int] = {}
        self.broken: dict[str, str] = {}  # topic -> why importing it killed the worker
        self.spent: dict[str, float] = {}  # topic -> seconds spent waiting for the worker

    def request(self, topic: str, message: dict, label: str):
        if topic in self.broken:
            pytest.fail(self.broken[topic], pytrace=False)
        if self.strikes.get(topic, 0) >= STRIKES:
            pytest.fail(
                f"{label} was not called: earlier calls into {topic}.py ran past the time limit "
                f"or sent back replies the grader does not read, {STRIKES} times, so the rest of "
                f"this topic is marked failed without running.",
                pytrace=False,
            )
        if self.process is None:
            _close_others(self)  # at most one worker per student at a time
            self.process = sandbox.WorkerProcess(self.folder)
            self.generation += 1
            self.loaded = {}
        if topic not in self.loaded and message["op"] != "load":
            self.ensure_loaded(topic)
        if self.spent.get(topic, 0.0) > TOPIC_BUDGET:
            pytest.fail(
                f"{label} was not called: the calls into {topic}.py have used up their "
                f"{TOPIC_BUDGET:g} s, so the rest of this topic is marked failed.",
                pytrace=False,
            )
        started = time.monotonic()
        try:
            reply = self.process.request(message, self.timeout)
        except BaseException as exc:
            self.spent[topic] = self.spent.get(topic, 0.0) + time.monotonic() - started
            self._lost(topic, message, label, exc)
        self.spent[topic] = self.spent.get(topic, 0.0) + time.monotonic() - started
        if type(reply) is not dict or "ok" not in reply:
            self.process.kill()
            self.process = None
            pytest.fail(f"{label}: the worker sent back a reply that is not a reply.", pytrace=False)
        violations = reply.get("violations") or ()
        for violation in violations[:MAX_VIOLATIONS] if type(violations) in (list, tuple) else ():
            guard.violations.append(cut(violation, "violation"))
        return reply

    def _lost(self, topic: str, message: dict, label: str, exc: BaseException):
        """The call did not come back with a reply: say why, and start afresh next time."""
        try:
            raise exc
        except sandbox.WorkerTimeout:
            self.process = None
            self.strikes[topic] = self.strikes.get(topic, 0) + 1
            self._fail(
                topic,
                message,
                f"{label} did not finish in {self.timeout:g} s: an endless loop, or "
                f"far more work than the task needs? (the grader stopped it from outside)",
            )
        except sandbox.WorkerDied as exc:
            self.process.kill()
            self.process = None
            why = cut(str(exc), "message")
            if why.startswith("the worker sent"):  # a reply over the bounds of grader/wire.py
                # a strike, like a timeout: each such reply costs the grader its reading time
                self.strikes[topic] = self.strikes.get(topic, 0) + 1
                self._fail(
                    topic,
                    message,
                    f"{label} sent back a reply the grader does not read ({why}). "
                    f"Submissions must return plain results of a sensible size.",
                )
            else:
                self._fail(
                    topic, message, f"{label} stopped the program: {why}. Submissions must return their results."
                )
        except BaseException:
            # Interrupted while waiting (pytest-timeout, Ctrl-C): the worker may still answer this
            # call later, so it cannot serve the next one.
            if self.process is not None:
                self.process.kill()
                self.process = None
            raise

    def _fail(self, topic: str, message: dict, sentence: str):
        if message["op"] == "load":  # the import itself kills the worker: no use trying again
            self.broken[topic] = sentence
        pytest.fail(sentence, pytrace=False)

    def ensure_loaded(self, topic: str) -> dict:
        if topic not in self.loaded:
            reply = self.request(topic, {"op": "load", "topic": topic}, f"importing {topic}.py")
            self.loaded[topic] = reply
        return self.loaded[topic]

    def close(self):
        if self.process is not None:
            self.process.kill()
            self.process = None


_sessions: dict[tuple[str, str], _Session] = {}


def session(folder: Path, timeout: float, phase: str = "public") -> _Session:
    """The session of `folder` for `phase`. The hidden one starts with the public one's record of
    strikes, spent time and broken imports (so an endless loop is not paid for twice); nothing flows
    back from hidden to public."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
    key = (str(folder.resolve()), phase)
    if key not in _sessions:
        new = _Session(folder.resolve(), timeout, phase)
        public = _sessions.get((key[0], "public"))
        if phase == "hidden" and public is not None:
            new.strikes, new.spent, new.broken = dict(public.strikes), dict(public.spent), dict(public.broken)
            public.close()  # its worker will not serve the hidden tests, and should not idle beside them
        _sessions[key] = new
    return _sessions[key]


def _close_others(current: _Session) -> None:
    """Stop the other phase's worker of the same submission before `current` starts one."""
    for key, other in _sessions.items():
        if other is not current and key[0] == str(current.folder):
            other.close()


@atexit.register
def _close_all():
    for s in _sessions.values():
        s.close()


class RemoteObject:
    """A learner object living in the worker (made by calling a learner class through impl)."""

    def __init__(self, proxy: ProxyImpl, handle: int, generation: int, cls: str):
        object.__setattr__(self, "_proxy", proxy)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_generation", generation)
        object.__setattr__(self, "_cls", cls)

    def _check(self):
        if self._proxy._session.generation != self._generation:
            pytest.fail(
                f"this {self._cls} object was lost when the worker had to be restarted after an earlier failure.",
                pytrace=False,
            )

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        self._check()
        reply = self._proxy._request({"op": "getattr", "handle": self._handle, "name": name}, f"{self._cls}.{name}")
        value = reply["value"]
        if type(value) is dict and "__method__" in value:
            return _RemoteCallable(self._proxy, {"__handle__": self._handle}, name, f"{self._cls}.{name}", owner=self)
        return self._proxy._decode(value)

    def __setattr__(self, name, value):
        raise AttributeError("the tests do not set attributes on learner objects")

    def __repr__(self):
        return f"<{self._cls} object in the sandbox>"

    def _operator(self, name: str, *operands):
        """operator.<name>(*operands), computed in the worker (Python's own rules there: `2 * v`
        becomes v.__rmul__(2), and a learner class without it raises the learner's TypeError)."""
        self._check()
        message = {
            "op": "operator",
            "topic": self._proxy._topic,
            "name": name,
            "args": [self._proxy._encode(o) for o in operands],
        }
        symbol = OPERATOR_SYMBOLS[name]
        return self._proxy._decode(self._proxy._request(message, f"{self._cls} {symbol}")["value"])

    def __call__(self, *args, **kwargs):
        """Calling a learner object (micrograd's `net(xs)`): its __call__, run in the worker."""
        return _RemoteCallable(self._proxy, {"__handle__": self._handle}, "__call__", self._cls, owner=self)(
            *args, **kwargs
        )

    def __add__(self, other):
        return self._operator("add", self, other)

    def __radd__(self, other):
        return self._operator("add", other, self)

    def __sub__(self, other):
        return self._operator("sub", self, other)

    def __rsub__(self, other):
        return self._operator("sub", other, self)

    def __mul__(self, other):
        return self._operator("mul", self, other)

    def __rmul__(self, other):
        return self._operator("mul", other, self)

    def __truediv__(self, other):
        return self._operator("truediv", self, other)

    def __rtruediv__(self, other):
        return self._operator("truediv", other, self)

    def __pow__(self, other):
        return self._operator("pow", self, other)

    def __rpow__(self, other):
        return self._operator("pow", other, self)

    def __matmul__(self, other):
        return self._operator("matmul", self, other)

    def __rmatmul__(self, other):
        return self._operator("matmul", other, self)

    def __getitem__(self, index):
        return self._operator("getitem", self, index)

    def __neg__(self):
        return self._operator("neg", self)

    def __pos__(self):
        return self._operator("pos", self)

    def __abs__(self):
        return self._operator("abs", self)


# How a failure message names the operator a test applied (grader/worker.py's OPERATORS).
OPERATOR_SYMBOLS = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "truediv": "/",
    "pow": "**",
    "matmul": "@",
    "getitem": "[...]",
    "neg": "unary -",
    "pos": "unary +",
    "abs": "abs()",
}


class _RemoteCallable:
    def __init__(self, proxy: ProxyImpl, target, method: str | None, label: str, owner=None):
        self._proxy, self._target, self._method, self._label, self._owner = proxy, target, method, label, owner

    def __call__(self, *args, **kwargs):
        if self._owner is not None:
            self._owner._check()
        generators: list = []
        message = {
            "op": "call",
            "topic": self._proxy._topic,
            "target": self._target,
            "method": self._method,
            "args": [self._proxy._encode(a, generators) for a in args],
            "kwargs": {k: self._proxy._encode(v, generators) for k, v in kwargs.items()},
        }
        global_rng = catalog.get(self._proxy._topic).global_rng
        if global_rng:
            message["rng"] = torch.get_rng_state()
        reply = self._proxy._request(message, self._label)
        _write_back(reply.get("mutated") or [], args, kwargs)
        for generator, state in zip(generators, reply.get("generators") or []):
            _set_state(generator.set_state, generator.get_state(), state)
        if global_rng:
            _set_state(torch.set_rng_state, torch.get_rng_state(), reply.get("rng"))
        return _put_aliases(self._proxy._decode(reply["value"]), reply.get("aliases") or [], args, kwargs)


def _argument(args, kwargs, where):
    """The test's tensor at `where` ([key] or [key, index], as the worker names it), or None."""
    try:
        holder = args[where[0]] if type(where[0]) is int else kwargs[where[0]]
        target = holder[where[1]] if len(where) > 1 else holder
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return target if isinstance(target, torch.Tensor) else None


def _put_aliases(value, aliases, args, kwargs):
    """Where the learner returned an argument itself, return the test's own tensor (equal to the
    decoded one, which is checked: a worker can only make a result alias an argument it equals)."""
    for entry in aliases:
        try:
            position, where = entry
        except (TypeError, ValueError):
            continue
        target = _argument(args, kwargs, where)
        if target is None:
            continue
        if position is None:
            got = value
        elif type(value) in (list, tuple) and type(position) is int and 0 <= position < len(value):
            got = value[position]
        else:
            continue
        if not (
            type(got) is torch.Tensor
            and got.shape == target.shape
            and got.dtype == target.dtype
            and torch.equal(got, target.detach())
        ):
            continue
        if position is None:
            value = target
        else:
            items = list(value)
            items[position] = target
            value = type(value)(items)
    return value


def _set_state(setter, current: torch.Tensor, state) -> None:
    """Take back a random generator's state from the worker: only a uint8 tensor shaped like the
    state it replaces (anything else leaves the generator as it was, and the test fails on its
    values)."""
    if type(state) is torch.Tensor and state.dtype == torch.uint8 and state.shape == current.shape:
        try:
            setter(state)
        except (RuntimeError, ValueError):
            pass


def _write_back(mutated, args, kwargs) -> None:
    """Mirror in-place changes the learner made to tensor arguments onto the test's tensors."""
    for entry in mutated:
        try:
            where, new = entry
        except (TypeError, ValueError):
            continue
        target = _argument(args, kwargs, where)
        if target is not None and type(new) is torch.Tensor and new.shape == target.shape and new.dtype == target.dtype:
            with torch.no_grad():
                target.data.copy_(new)


class ProxyImpl:
    """The learner's module for one topic, reached through the submission's sandboxed worker."""

    def __init__(self, topic: str, folder: Path, timeout: float = DEFAULT_TIMEOUT, phase: str = "public"):
        self._topic = topic
        self._folder = folder
        self._shown = f"{topic}.py"
        self._session = session(folder, timeout, phase)
        self._names: dict | None = None

    def _request(self, message: dict, label: str) -> dict:
        reply = self._session.request(self._topic, message, label)
        if not reply["ok"]:
            self._raise(reply.get("error") or {}, label)
        return reply

    def _raise(self, error: dict, label: str):
        kind = error.get("kind")
        if kind == "load":
            pytest.fail(cut(error.get("message", ""), "message"), pytrace=False)
        if kind == "forbidden":
            raise guard.ForbiddenAPIError(cut(error.get("message", ""), "message"))
        info = {k: cut(error.get(k, ""), k) for k in ("type", "typename", "message", "function", "source", "file")}
        line = error.get("line", 0)
        info["line"] = line if type(line) is int and 0 <= line < 10**7 else 0
        info["kind"] = kind if kind in ("not_written", "exit", "exception") else "exception"
        if kind == "not_written":
            info["type"] = "NotImplementedError"
        info["function"] = info["function"] or label
        raise remote_error(info)

    def _names_or_fail(self) -> dict:
        if self._names is None:
            try:
                loader.check_source(self._topic, self._folder)  # the static guard, run here, trusted
            except loader.LoadError as exc:
                pytest.fail(str(exc).replace(str(self._folder.resolve()) + "/", ""), pytrace=False)
            reply = self._session.ensure_loaded(self._topic)
            if not reply["ok"]:
                self._raise(reply.get("error") or {}, f"importing {self._shown}")
            self._names = reply["value"]
        return self._names

    def __getattr__(self, name):
        if name.startswith("_") or name.startswith("hypothesis_internal"):
            raise AttributeError(name)
        names = self._names_or_fail()
        if name not in names:
            pytest.fail(
                f"{self._shown} has no `{name}`: keep the names and signatures of the stub (the tests call {name}).",
                pytrace=False,
            )
        return _RemoteCallable(self, name, None, name)

    def call_with_grads(self, name: str, kwargs: dict, wrt, grad_out):
        """grader.gradients.call_with_grads, run in the worker."""
        if name not in self._names_or_fail():
            self.__getattr__(name)
        message = {
            "op": "grads",
            "topic": self._topic,
            "name": name,
            "kwargs": {k: self._encode(v) for k, v in kwargs.items()},
            "wrt": list(wrt),
            "grad_out": self._encode(grad_out),
        }
        value = self._decode(self._request(message, name)["value"])
        if type(value) is not list or len(value) != 2:
            pytest.fail(f"{name}: the worker sent back a malformed gradient reply.", pytrace=False)
        return value[0], value[1] if type(value[1]) is dict else {}

    # -- data ------------------------------------------------------------------------------------
    def _encode(self, value, generators: list | None = None):
        """A test's value as the worker receives it; a torch.Generator goes by its state (and is
        listed in `generators`, whose states the reply gives back)."""
        if isinstance(value, torch.Generator) and generators is not None:
            generators.append(value)
            return {"__generator__": value.get_state()}
        if isinstance(value, torch.Tensor):
            return value.detach().as_subclass(torch.Tensor) if type(value) is not torch.Tensor else value.detach()
        if isinstance(value, RemoteObject):
            return {"__handle__": value._handle}
        if type(value) is slice:
            return {"__slice__": [wire.check_data(b) for b in (value.start, value.stop, value.step)]}
        if value is Ellipsis:
            return {"__ellipsis__": True}
        if type(value) in (list, tuple):
            items = [self._encode(v, generators) for v in value]
            return items if type(value) is list else tuple(items)
        if type(value) is dict:
            return {k: self._encode(v, generators) for k, v in value.items()}
        module = type(value).__module__ or ""
        if module.startswith("provided.") and hasattr(value, "init_kwargs"):
            return {"__provided__": f"{module}:{type(value).__qualname__}", "kwargs": dict(value.init_kwargs)}
        return wire.check_data(value)

    def _decode(self, value):
        if type(value) is dict and "__handle__" in value and "class" in value:
            return RemoteObject(self, value["__handle__"], self._session.generation, cut(value["class"], "class"))
        if type(value) is dict and "__foreign__" in value:
            return Foreign(cut(value["__foreign__"], "foreign"))
        if type(value) in (list, tuple):
            items = [self._decode(v) for v in value]
            return items if type(value) is list else tuple(items)
        if type(value) is dict:
            return {k: self._decode(v) for k, v in value.items()}
        return value
