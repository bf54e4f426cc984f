"""The data that crosses between the trusted grader and a sandboxed worker, and how it is framed.

A message is a length-prefixed blob in a small tagged format written and read by this module
(`dumps`/`loads`): it can hold only None, bool, int, float, complex, str, bytes, torch.dtype,
plain strided tensors of the usual dtypes (shape and raw bytes), lists, tuples and dicts with str
or int keys. Reading it builds those values and nothing else: no pickle, no code. `check_data`
walks a value and accepts only those exact types (a tensor subclass is not a torch.Tensor here).
Anything else is a `WireError`, which the proxy reports as a broken reply. (torch.save with
`torch.load(weights_only=True)` is just as safe but costs about 0.5 ms per small message; a learner
suite makes thousands of calls.)

Learner classes cross as handles (`{"__handle__": n}`), and instances of the project's provided
classes (DESIGN rule 8) as `{"__provided__": "module:Class", "kwargs": {...}}`.
"""

from __future__ import annotations

import struct

import torch

MAX_MESSAGE = 512 << 20  # bytes; a reply larger than this is refused (a memory bomb by return value)
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


_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex64, torch.complex128,
    torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool)}
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
    def __init__(self, blob: bytes):
        self.blob, self.pos = blob, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.blob):
            raise WireError("a truncated message")
        chunk = self.blob[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u32(self) -> int:
        return _U32.unpack(self.take(4))[0]

    def i64(self) -> int:
        return _I64.unpack(self.take(8))[0]

    def text(self) -> str:
        return self.take(self.u32()).decode("utf-8", "surrogatepass")

    def value(self, depth: int = 0):
        if depth > 64:
            raise WireError("data nested more than 64 levels deep")
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
            return self.text()
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


def loads(blob: bytes):
    reader = _Reader(blob)
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
    return loads(_read_exact(stream, size))
