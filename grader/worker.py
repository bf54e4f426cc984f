"""The sandboxed side of grading mode: imports one submission and answers calls with plain data.

Started by grader/sandbox.py as `python -m grader.worker SUBMISSION_DIR IN_FD OUT_FD`, inside the
sandbox. It reads requests from IN_FD and writes replies to OUT_FD (grader/wire.py framing); the
learner's prints go to /dev/null. Nothing here is trusted by the grader: the trusted side checks
every reply (types, sizes) and treats a dead or silent worker as that submission's failure.

Requests (dicts):
    {"op": "load", "topic": T}
    {"op": "call", "topic": T, "target": NAME or {"__handle__": n}, "method": NAME or None,
     "args": [...], "kwargs": {...}}
    {"op": "getattr", "handle": n, "name": NAME}
    {"op": "operator", "topic": T, "name": one of OPERATORS, "args": [a] or [a, b]} (operands are
     handles or plain data: `2 * v` is operator.mul(2, v), which Python turns into v.__rmul__(2);
     an index may hold {"__slice__": [start, stop, step]} and {"__ellipsis__": True})
A call's arguments may hold {"__generator__": state} (a test's torch.Generator: the reply's
"generators" gives each one's state after the call), and a call may carry "rng" (the test's global
random state: the reply's "rng" is the state the call left).
    {"op": "grads", "topic": T, "name": NAME, "kwargs": {...}, "wrt": [...], "grad_out": tensor}
Replies: {"ok": True, "value": ..., "mutated": [[where, tensor], ...], "violations": [...]} or
{"ok": False, "error": {"kind": ..., "type": ..., "message": ..., "function": ..., "line": ...,
"source": ..., "file": ...}, "violations": [...]}.
"""

from __future__ import annotations

import os

# First of all, before anything else is imported: when the grader runs as root, bubblewrap starts
# this process as root with only CAP_SETUID and CAP_SETGID; switch to the unprivileged user it names
# (grader/sandbox.py). Changing every uid away from 0 makes the kernel clear all capabilities.
if os.environ.get("KATA_WORKER_IDS"):
    _uid, _gid = (int(n) for n in os.environ.pop("KATA_WORKER_IDS").split(":"))
    os.setgroups([])
    os.setresgid(_gid, _gid, _gid)
    os.setresuid(_uid, _uid, _uid)

import importlib  # noqa: E402 - after the switch above, on purpose
import operator  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from grader import guard, loader, wire
from grader.gradients import local_call_with_grads

BUILTIN_ERRORS = {
    "ValueError",
    "TypeError",
    "KeyError",
    "IndexError",
    "RuntimeError",
    "AssertionError",
    "ZeroDivisionError",
    "AttributeError",
    "NotImplementedError",
    "ArithmeticError",
    "LookupError",
    "OverflowError",
    "MemoryError",
    "RecursionError",
    "OSError",
}


# The operators a test may apply to learner objects (grader/proxy.py's RemoteObject forwards them).
OPERATORS = ("add", "sub", "mul", "truediv", "pow", "matmul", "neg", "pos", "abs", "getitem")


class Worker:
    def __init__(self, folder: Path):
        self.folder = folder
        self.modules: dict[str, object] = {}
        self.handles: dict[int, object] = {}
        self.provided: dict[str, object] = {}
        self.handle_topics: dict[int, str | None] = {}  # the topic whose call made each handle
        self.topic: str | None = None  # the topic of the request in progress
        self.reported = 0
        self.generators: list = []  # the generators the request in progress was given, in order

    # -- encoding ------------------------------------------------------------------------------
    def encode(self, value, depth: int = 0):
        """Learner results as data: tensors made plain, learner objects as handles."""
        if depth > 32:
            return {"__foreign__": "data nested too deep"}
        if isinstance(value, torch.Tensor):
            plain = value.as_subclass(torch.Tensor) if type(value) is not torch.Tensor else value
            return plain.detach().clone()
        if type(value) is torch.Size:  # a learner Tensor's .shape: a plain tuple of ints
            return tuple(int(n) for n in value)
        if value is None or type(value) in (bool, int, float, complex, str, bytes) or type(value) is torch.dtype:
            return value
        if type(value) in (list, tuple):
            items = [self.encode(v, depth + 1) for v in value]
            return items if type(value) is list else tuple(items)
        if type(value) is dict:
            if not all(wire.is_key(k) for k in value):
                return {"__foreign__": "a dict with keys that are not strings, integers or tuples of them"}
            return {k: self.encode(v, depth + 1) for k, v in value.items()}
        module = type(value).__module__
        if any(module == getattr(m, "__name__", None) for m in self.modules.values()):
            key = len(self.handles) + 1
            self.handles[key] = value
            self.handle_topics[key] = self.topic
            return {"__handle__": key, "class": type(value).__qualname__}
        return {"__foreign__": f"{module}.{type(value).__qualname__}"}

    def decode(self, value):
        if type(value) is dict and "__handle__" in value:
            return self.handles[value["__handle__"]]
        if type(value) is dict and "__slice__" in value:  # an index a test applies: t[1:3], t[..., 0]
            bounds = value["__slice__"]
            if (
                type(bounds) is not list
                or len(bounds) != 3
                or any(b is not None and type(b) is not int for b in bounds)
            ):
                raise ValueError("a slice is three ints or None")
            return slice(*bounds)
        if type(value) is dict and "__ellipsis__" in value:
            return ...
        if type(value) is dict and "__generator__" in value:  # a test's torch.Generator, by its state
            generator = torch.Generator()
            generator.set_state(value["__generator__"])
            self.generators.append(generator)
            return generator
        if type(value) is dict and "__provided__" in value:
            key = repr(value)
            if key not in self.provided:
                module_name, cls_name = value["__provided__"].split(":")
                if not module_name.startswith("provided."):
                    raise ValueError("only classes of the provided/ package can be rebuilt")
                cls = getattr(importlib.import_module(module_name), cls_name)
                self.provided[key] = cls(**value["kwargs"])
            return self.provided[key]
        if type(value) in (list, tuple):
            items = [self.decode(v) for v in value]
            return items if type(value) is list else tuple(items)
        if type(value) is dict:
            return {k: self.decode(v) for k, v in value.items()}
        return value

    # -- errors --------------------------------------------------------------------------------
    def error(self, exc: BaseException, kind: str | None = None) -> dict:
        files = guard._learner_files
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in files]
        frame = frames[-1] if frames else None
        qualname = frame.name if frame else ""
        tb = exc.__traceback__
        while tb is not None and frame is not None:
            if tb.tb_frame.f_code.co_filename == frame.filename and tb.tb_lineno == frame.lineno:
                qualname = getattr(tb.tb_frame.f_code, "co_qualname", qualname)
            tb = tb.tb_next
        name = type(exc).__name__
        if kind is None:
            if isinstance(exc, guard.ForbiddenAPIError):
                kind = "forbidden"
            elif isinstance(exc, NotImplementedError) and frame is not None:
                kind = "not_written"
            elif isinstance(exc, SystemExit):
                kind = "exit"
            else:
                kind = "exception"
        try:
            message = str(exc)[:2000]
        except Exception:  # noqa: BLE001 - a hostile __str__
            message = "(the exception's message could not be shown)"
        return {
            "kind": kind,
            "type": name if name in BUILTIN_ERRORS else "Exception",
            "typename": name[:100],
            "message": message,
            "function": qualname,
            "line": frame.lineno if frame else 0,
            "source": (frame.line or "").strip()[:300] if frame else "",
            "file": Path(frame.filename).name if frame else "",
        }

    def new_violations(self) -> list[str]:
        fresh = guard.violations[self.reported :]
        self.reported = len(guard.violations)
        return [str(v)[:500] for v in fresh]

    # -- operations ----------------------------------------------------------------------------
    def op_load(self, req):
        topic = req["topic"]
        if topic not in self.modules:
            try:
                self.modules[topic] = loader.load_topic(topic, self.folder, escapes=False)
            except loader.LoadError as exc:
                message = str(exc).replace(str(self.folder) + "/", "")
                return {"ok": False, "error": {"kind": "load", "message": message}}
            except BaseException as exc:  # noqa: BLE001 - sys.exit and friends at import
                return {
                    "ok": False,
                    "error": {
                        "kind": "load",
                        "message": f"{topic}.py stopped the program while it was imported "
                        f"({type(exc).__name__}): submissions must not exit.",
                    },
                }
        module = self.modules[topic]
        names = {
            k: ("class" if isinstance(v, type) else "function" if callable(v) else "other")
            for k, v in vars(module).items()
            if not k.startswith("_")
        }
        return {"ok": True, "value": names}

    def op_call(self, req):
        module = self.modules[req["topic"]]
        target = req["target"]
        fn = self.handles[target["__handle__"]] if type(target) is dict else getattr(module, target)
        if req.get("method"):
            fn = getattr(fn, req["method"])
        self.generators = []
        args = self.decode(req["args"])
        kwargs = self.decode(req["kwargs"])
        if req.get("rng") is not None:  # the test's global random state (topics with global_rng)
            torch.set_rng_state(req["rng"])
        before = _snapshot(args, kwargs)
        value = fn(*args, **kwargs)
        reply = {"ok": True, "value": self.encode(value), "mutated": _changed(before, args, kwargs)}
        reply["aliases"] = _aliases(value, args, kwargs)
        reply["generators"] = [g.get_state() for g in self.generators]  # where the call left them
        if req.get("rng") is not None:
            reply["rng"] = torch.get_rng_state()
        return reply

    def op_getattr(self, req):
        obj = self.handles[req["handle"]]
        value = getattr(obj, req["name"])
        if callable(value) and not isinstance(value, torch.Tensor):
            return {"ok": True, "value": {"__method__": req["name"]}}
        return {"ok": True, "value": self.encode(value)}

    def op_operator(self, req):
        if req["name"] not in OPERATORS:
            raise ValueError(f"no operator {req['name']!r}")
        value = getattr(operator, req["name"])(*self.decode(req["args"]))
        return {"ok": True, "value": self.encode(value)}

    def op_grads(self, req):
        fn = getattr(self.modules[req["topic"]], req["name"])
        with guard.harness_call():  # the autograd the test asked for is the harness's, not the learner's
            out, grads = local_call_with_grads(
                _armed(fn, req["topic"]), self.decode(req["kwargs"]), tuple(req["wrt"]), req["grad_out"]
            )
        return {"ok": True, "value": [self.encode(out), self.encode(grads)]}

    def handle(self, req) -> dict:
        op = getattr(self, f"op_{req['op']}")
        # Everything a request does may run the submission's code (its import, its functions, its
        # properties, its __str__): the guard's traps are armed for the request's topic throughout.
        topic = req.get("topic")
        self.topic = topic if type(topic) is str else self.handle_topics.get(req.get("handle"))
        with guard.learner_call(self.topic):
            try:
                reply = op(req)
            except BaseException as exc:  # noqa: BLE001 - everything the learner's code can throw
                reply = {"ok": False, "error": self.error(exc)}
        reply["violations"] = self.new_violations()
        return reply


def _armed(fn, topic: str):
    """`fn` with the guard's traps armed while it runs (inside a harness_call)."""

    def call(*args, **kwargs):
        with guard.learner_call(topic):
            return fn(*args, **kwargs)

    return call


def _tensors(args, kwargs):
    """(where, tensor) for every tensor argument, top level or one list/tuple deep."""
    found = []
    for key, value in [*enumerate(args), *kwargs.items()]:
        if isinstance(value, torch.Tensor):
            found.append(([key], value))
        elif type(value) in (list, tuple):
            found += [([key, i], v) for i, v in enumerate(value) if isinstance(v, torch.Tensor)]
    return found


def _snapshot(args, kwargs):
    return [(where, t.detach().clone()) for where, t in _tensors(args, kwargs)]


def _changed(before, args, kwargs) -> list:
    """Arguments the call modified in place: sent back so the trusted copies change the same way."""
    now = dict((tuple(map(str, w)), t) for w, t in _tensors(args, kwargs))
    changed = []
    for where, old in before:
        new = now.get(tuple(map(str, where)))
        if new is None or new.shape != old.shape or new.dtype != old.dtype:
            continue
        same = (
            torch.equal(old, new) or bool(((old == new) | (old.isnan() & new.isnan())).all())
            if old.is_floating_point()
            else torch.equal(old, new)
        )
        if not same:
            changed.append([where, new.detach().clone()])
    return changed


def _aliases(value, args, kwargs) -> list:
    """Results that are tensor arguments themselves, as [position in the result (None: the result
    itself), where the argument is]: the trusted side puts its own tensor there, so that a test sees
    `result is argument` as it would in learner mode (grader/kit.py's call_checking_inputs)."""
    given = _tensors(args, kwargs)
    if isinstance(value, torch.Tensor):
        items = [(None, value)]
    elif type(value) in (list, tuple):
        items = list(enumerate(value))
    else:
        items = []
    found = []
    for position, item in items:
        for where, tensor in given:
            if isinstance(item, torch.Tensor) and item is tensor:
                found.append([position, where])
                break
    return found


def identity() -> dict:
    """This process's uids and capability sets as the kernel shows them (/proc/self/status):
    {"uid", "euid", "gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
    "Seccomp"}, the capability sets as integers."""
    found: dict = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid()}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key.startswith("Cap"):
                    found[key] = int(value.strip(), 16)
                elif key in ("NoNewPrivs", "Seccomp"):
                    found[key] = int(value.strip())
    except OSError:
        pass
    return found


def main() -> None:
    folder, in_fd, out_fd = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    source = os.fdopen(in_fd, "rb", buffering=0)
    sink = os.fdopen(out_fd, "wb")
    guard.strict_calls()  # traps fire on the call state, never on file names the submission could fake
    worker = Worker(folder)
    # Before any learner code: the grader knows the sandbox works, and checks who it runs as.
    wire.send(sink, {"ready": True, "identity": identity()})
    while True:
        try:
            req = wire.recv(source)
        except EOFError:
            return
        reply = worker.handle(req)
        try:
            wire.send(sink, reply)
        except Exception as exc:  # noqa: BLE001 - a value torch.save cannot write
            wire.send(
                sink,
                {
                    "ok": False,
                    "violations": [],
                    "error": {
                        "kind": "exception",
                        "type": "Exception",
                        "typename": "Unsendable",
                        "message": f"the result could not be sent back ({type(exc).__name__})",
                        "function": "",
                        "line": 0,
                        "source": "",
                        "file": "",
                    },
                },
            )


if __name__ == "__main__":
    main()
