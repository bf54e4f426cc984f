"""The data that crosses between the trusted grader and a sandboxed worker, and how it is framed.

A message is a length-prefixed blob in a small tagged format written and read by this module
(`dumps`/`loads`): it can hold only None, bool, int, float, complex, str, bytes, torch.dtype,
plain strided tensors of the usual dtypes (shape and raw bytes), lists, tuples and dicts with str
or int keys. Reading it builds those values and nothing else: no pickle, no code. `check_data`
walks a value and accepts only those exact types (a tensor subclass is not a torch.Tensor here).
Anything else is a `WireError`, which the proxy reports as a broken reply. (torch.save with
`torch.load(weights_only=True)` is just as safe but costs about 0.5 ms per small message; a learner
suite makes thousands of calls.)

Bounds on what the trusted side reads (`loads`, as grader/sandbox.py calls it on every reply): the
worker is the student's, so a reply can be anything its author writes to the channel. Without bounds
a 511 MiB frame of empty dicts took 2.8 GiB and minutes of parsing in the trusted pytest process,
outside any time limit. So a reply may hold at most MAX_REPLY bytes (refused from its header,
before it is read; tensor data counts here), MAX_ITEMS values (containers, keys and scalars,
counted while reading), MAX_DEPTH levels of nesting, and strings of at most MAX_STRING characters
(longer ones are cut); reading it counts against the call's deadline (`loads(blob, deadline)`).
The largest honest reply of all seven suites on the reference is 76,577 bytes, 9,573 values, 5
levels and a 5,047-character string, far below every limit. The worker reads the trusted side's own
requests (`recv`) with only the byte and depth limits: those come from the tests.

Learner classes cross as handles (`{"__handle__": n}`), and instances of the project's provided
classes (docs/design.md rule 8) as `{"__provided__": "module:Class", "kwargs": {...}}`.
"""

from __future__ import annotations

import struct
import time

import torch

MAX_MESSAGE = 512 << 20  # bytes of any message (the worker's limit on the requests it reads)
MAX_REPLY = 64 << 20  # bytes of a reply the trusted side reads: ~900x the largest honest reply
MAX_ITEMS = 1_000_000  # values in one reply (each container, key and scalar is one): ~100x honest
MAX_DEPTH = 40  # nesting of a reply: the worker's encoder stops at 32, plus the reply's envelope
MAX_STRING = 1 << 20  # characters of one string in a reply; longer ones are cut (~200x honest)
CHECK_EVERY = 4096  # values read between two looks at the clock
_HEADER = struct.Struct("<Q")

# Bound now, before any learner code could run in this process (the trusted side never runs any,
# but the names are kept local all the same).
_Tensor = torch.Tensor
_SCALARS = (type(None), bool, int, float, complex, str, bytes)


class WireError(Exception):
    """A message that is not well-formed data."""


def is_key(key) -> bool:
    """A dict key that may cross: a str, an int, or a tuple of such keys (BPE's (id1, id2) pairs)."""
    kind = type(key)
    return kind is str or kind is int or (kind is tuple and all(is_key(k) for k in key))


def check_data(obj, depth: int = 0):
    """Return `obj` if it is plain data all the way down; raise WireError otherwise."""
    if depth > 64:
        raise WireError("data nested more than 64 levels deep")
    kind = type(obj)
    if kind in _SCALARS or kind is torch.dtype:
        return obj
    if kind is _Tensor:
        return obj
    if kind in (list, tuple):
        for item in obj:
            check_data(item, depth + 1)
        return obj
    if kind is dict:
        for key, value in obj.items():
            if not is_key(key):
                raise WireError(f"a dict key of type {type(key).__name__}")
            check_data(value, depth + 1)
        return obj
    raise WireError(f"an object of type {kind.__module__}.{kind.__qualname__}")


_DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (
        torch.float64,
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.complex64,
        torch.complex128,
        torch.int64,
        torch.int32,
        torch.int16,
        torch.int8,
        torch.uint8,
        torch.bool,
    )
}
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U32 = struct.Struct("<I")


def _put(obj, out: list, depth: int = 0) -> None:
    if depth > 64:
        raise WireError("data nested more than 64 levels deep")
    kind = type(obj)
    if obj is None:
        out.append(b"N")
    elif kind is bool:
        out.append(b"T" if obj else b"F")
    elif kind is int:
        if -(1 << 63) <= obj < (1 << 63):
            out += [b"i", _I64.pack(obj)]
        else:
            _put_text(b"I", str(obj), out)
    elif kind is float:
        out += [b"f", _F64.pack(obj)]
    elif kind is complex:
        out += [b"c", _F64.pack(obj.real), _F64.pack(obj.imag)]
    elif kind is str:
        _put_text(b"s", obj, out)
    elif kind is bytes:
        out += [b"b", _U32.pack(len(obj)), obj]
    elif kind is torch.dtype:
        _put_text(b"D", str(obj).removeprefix("torch."), out)
    elif kind is _Tensor:
        name = str(obj.dtype).removeprefix("torch.")
        if name not in _DTYPES or obj.layout != torch.strided or obj.is_quantized:
            raise WireError(f"a tensor of dtype {obj.dtype} and layout {obj.layout}")
        data = obj.detach().cpu().contiguous()
        _put_text(b"X", name, out)
        out.append(_U32.pack(data.dim()))
        out += [_I64.pack(n) for n in data.shape]
        raw = data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b""
        out += [_I64.pack(len(raw)), raw]
    elif kind in (list, tuple):
        out += [b"l" if kind is list else b"t", _U32.pack(len(obj))]
        for item in obj:
            _put(item, out, depth + 1)
    elif kind is dict:
        out += [b"d", _U32.pack(len(obj))]
        for key, value in obj.items():
            if not is_key(key):
                raise WireError(f"a dict key of type {type(key).__name__}")
            _put(key, out, depth + 1)
            _put(value, out, depth + 1)
    else:
        raise WireError(f"an object of type {kind.__module__}.{kind.__qualname__}")


def _put_text(tag: bytes, text: str, out: list) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    out += [tag, _U32.pack(len(raw)), raw]


class _Reader:
    def __init__(
        self,
        blob: bytes,
        deadline: float | None = None,
        max_items: int | None = None,
        max_depth: int = 64,
        max_string: int | None = None,
    ):
        self.blob, self.pos = blob, 0
        self.deadline, self.max_items, self.max_depth, self.max_string = deadline, max_items, max_depth, max_string
        self.items = 0

    def count(self) -> None:
        """One more value read: check the item limit, and every CHECK_EVERY values the deadline."""
        self.items += 1
        if self.max_items is not None and self.items > self.max_items:
            raise WireError(f"a message of more than {self.max_items} values")
        if self.deadline is not None and self.items % CHECK_EVERY == 0 and time.monotonic() > self.deadline:
            raise WireError("a message that took longer than the time limit to read")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.blob):
            raise WireError("a truncated message")
        chunk = self.blob[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u32(self) -> int:
        return _U32.unpack(self.take(4))[0]

    def i64(self) -> int:
        return _I64.unpack(self.take(8))[0]

    def text(self) -> str:
        return self.take(self.u32()).decode("utf-8", "surrogatepass")

    def string(self) -> str:
        text = self.text()
        if self.max_string is not None and len(text) > self.max_string:
            text = text[: self.max_string]
        return text

    def value(self, depth: int = 0):
        if depth > self.max_depth:
            raise WireError(f"data nested more than {self.max_depth} levels deep")
        self.count()
        tag = self.take(1)
        if tag == b"N":
            return None
        if tag in (b"T", b"F"):
            return tag == b"T"
        if tag == b"i":
            return self.i64()
        if tag == b"I":
            return int(self.text()[:5000])
        if tag == b"f":
            return _F64.unpack(self.take(8))[0]
        if tag == b"c":
            real = _F64.unpack(self.take(8))[0]
            return complex(real, _F64.unpack(self.take(8))[0])
        if tag == b"s":
            return self.string()
        if tag == b"b":
            return self.take(self.u32())
        if tag == b"D":
            name = self.text()
            if name not in _DTYPES:
                raise WireError(f"an unknown dtype {name[:40]!r}")
            return _DTYPES[name]
        if tag == b"X":
            name = self.text()
            if name not in _DTYPES:
                raise WireError(f"an unknown dtype {name[:40]!r}")
            dtype = _DTYPES[name]
            ndim = self.u32()
            if ndim > 32:
                raise WireError("a tensor with more than 32 dimensions")
            shape = [self.i64() for _ in range(ndim)]
            if any(n < 0 for n in shape):
                raise WireError("a tensor with a negative size")
            raw = self.take(self.i64())
            numel = 1
            for n in shape:
                numel *= n
            itemsize = torch.empty((), dtype=dtype).element_size()
            if len(raw) != numel * itemsize:
                raise WireError("a tensor whose data does not match its shape")
            if numel == 0:
                return torch.empty(shape, dtype=dtype)
            return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape)
        if tag in (b"l", b"t"):
            items = [self.value(depth + 1) for _ in range(self.u32())]
            return items if tag == b"l" else tuple(items)
        if tag == b"d":
            result = {}
            for _ in range(self.u32()):
                key = self.value(depth + 1)
                if not is_key(key):
                    raise WireError("a dict key that is not a string, an integer or a tuple of them")
                result[key] = self.value(depth + 1)
            return result
        raise WireError(f"an unknown tag {tag!r}")


def dumps(obj) -> bytes:
    out: list[bytes] = []
    _put(obj, out)
    return b"".join(out)


def loads(
    blob: bytes,
    deadline: float | None = None,
    *,
    max_bytes: int | None = MAX_REPLY,
    max_items: int | None = MAX_ITEMS,
    max_depth: int = MAX_DEPTH,
    max_string: int | None = MAX_STRING,
):
    """The value in `blob`, read within the bounds above (None: no bound); WireError otherwise.

    `deadline` is a time.monotonic() value: reading stops with a WireError once it has passed, so a
    reply costs no more time than the call it answers was allowed."""
    if max_bytes is not None and len(blob) > max_bytes:
        raise WireError(f"a message of {len(blob)} bytes (the limit is {max_bytes})")
    reader = _Reader(blob, deadline, max_items, max_depth, max_string)
    try:
        value = reader.value()
    except WireError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed bytes of any kind
        raise WireError(f"a message that cannot be read as data ({exc.__class__.__name__})") from None
    if reader.pos != len(blob):
        raise WireError("trailing bytes after a message")
    return check_data(value)


def send(stream, obj) -> None:
    blob = dumps(obj)
    stream.write(_HEADER.pack(len(blob)))
    stream.write(blob)
    stream.flush()


def _read_exact(stream, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(stream):
    size = _HEADER.unpack(_read_exact(stream, _HEADER.size))[0]
    if size > MAX_MESSAGE:
        raise WireError(f"a message of {size} bytes (the limit is {MAX_MESSAGE})")
    return loads(_read_exact(stream, size), max_bytes=MAX_MESSAGE, max_items=None, max_depth=64, max_string=None)
