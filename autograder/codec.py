"""A safe wire format for values crossing the sandbox boundary.

Nothing from the learner's process is ever unpickled. A message is one frame::

    8-byte big-endian length | 4-byte header length | JSON header | blob 0 | blob 1 | ...

The JSON header holds ``{"body": <node>, "blobs": [length, ...]}``. Every node is a tagged list,
so tuples stay tuples and floats round-trip exactly (``float.hex``)::

    ["none"]  ["bool", b]  ["int", i]  ["float", hex]  ["complex", hex, hex]  ["str", s]
    ["tuple", [nodes]]  ["list", [nodes]]  ["dict", [[key, node], ...]]  (str keys only)
    ["ndarray", blob]  ["scalar", blob]  (NumPy arrays / scalars as ``.npy`` bytes)
    ["rng", seed]  ["probe", name]  (the markers of :mod:`autograder.learner`)

Arrays are written with ``allow_pickle=False`` and read back only for numeric or bool dtypes,
after checking the ``.npy`` header, so decoding builds nothing but the types above.
"""

from __future__ import annotations

import io
import json
import math
import struct
from typing import Any

import numpy as np

from autograder.i18n import _
from autograder.learner import Probe, SeededRng

MAX_FRAME_BYTES = 512 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
GRADABLE_DTYPE_KINDS = frozenset("biufc")  # bool, signed, unsigned, float, complex

_LENGTH = struct.Struct(">Q")
_HEADER_LENGTH = struct.Struct(">I")


class CodecError(ValueError):
    """A value cannot be sent, or a received frame is malformed. The message reads as the end
    of a sentence about the value, e.g. ``"a generator, which cannot be graded; ..."``."""


def _type_name(value: Any) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "")
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module in ("builtins", "") else f"{module.split('.')[0]}.{name}"


def _not_gradable(value: Any, where: str) -> CodecError:
    return CodecError(_("a {type}{place}, which cannot be graded; return a NumPy array (or numbers, tuples, lists, dicts of them)").format(type=_type_name(value), place=_place(where)))


def _place(where: str) -> str:
    """`` (at [0]['w'])``: where in a returned structure the value sits; empty at the top."""
    return " " + _("(at {where})").format(where=where) if where else ""


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _gradable(dtype: np.dtype) -> bool:
    """Plain numbers: no objects, records or sub-array dtypes."""
    return dtype.kind in GRADABLE_DTYPE_KINDS and dtype.fields is None and not dtype.hasobject and dtype.subdtype is None


def _float(x: float) -> str:
    return float.hex(float(x))


class _Encoder:
    def __init__(self) -> None:
        self.blobs: list[bytes] = []

    def blob(self, array: np.ndarray, where: str) -> int:
        if not _gradable(array.dtype):
            raise CodecError(_("an array of dtype {dtype}{place}, which cannot be graded; return numbers (a float or int array)").format(dtype=array.dtype, place=_place(where)))
        self.blobs.append(_npy_bytes(array))
        return len(self.blobs) - 1

    def node(self, value: Any, depth: int, where: str) -> list[Any]:
        if depth > MAX_DEPTH:
            raise CodecError(_("a structure nested more than {depth} levels deep, which cannot be graded").format(depth=MAX_DEPTH))
        # NumPy scalars first: np.float64 is also a Python float.
        if isinstance(value, np.generic):
            return ["scalar", self.blob(np.asarray(value), where)]
        if isinstance(value, np.ndarray):
            return ["ndarray", self.blob(np.asarray(value), where)]
        if value is None:
            return ["none"]
        if isinstance(value, bool):
            return ["bool", bool(value)]
        if isinstance(value, int):
            return ["int", int(value)]
        if isinstance(value, float):
            return ["float", _float(value)]
        if isinstance(value, complex):
            return ["complex", _float(value.real), _float(value.imag)]
        if isinstance(value, str):
            return ["str", str(value)]
        if isinstance(value, SeededRng):
            return ["rng", int(value.seed)]
        if isinstance(value, Probe):
            return ["probe", str(value.name)]
        if isinstance(value, (tuple, list)):
            tag = "tuple" if isinstance(value, tuple) else "list"
            return [tag, [self.node(v, depth + 1, f"{where}[{i}]") for i, v in enumerate(value)]]
        if isinstance(value, dict):
            items = []
            for key, item in value.items():
                if not isinstance(key, str):
                    raise CodecError(_("a dict with a {type} key{place}, which cannot be graded; use str keys").format(type=_type_name(key), place=_place(where)))
                items.append([str(key), self.node(item, depth + 1, f"{where}[{key!r}]")])
            return ["dict", items]
        raise _not_gradable(value, where)


def encode(value: Any) -> bytes:
    """One frame holding ``value``.

    Raises:
        CodecError: the value holds a type outside the wire format.
    """
    encoder = _Encoder()
    body = encoder.node(value, 0, "")
    header = json.dumps({"body": body, "blobs": [len(b) for b in encoder.blobs]}, separators=(",", ":")).encode()
    payload = b"".join([_HEADER_LENGTH.pack(len(header)), header, *encoder.blobs])
    return _LENGTH.pack(len(payload)) + payload


def frame_length(prefix: bytes) -> int:
    """The payload length announced by a frame's first 8 bytes.

    Raises:
        CodecError: the frame is larger than :data:`MAX_FRAME_BYTES`.
    """
    (length,) = _LENGTH.unpack(prefix)
    if length > MAX_FRAME_BYTES:
        raise CodecError(f"a message of {length} bytes, larger than the {MAX_FRAME_BYTES >> 20} MiB limit")
    return length


PREFIX_BYTES = _LENGTH.size


def _read_array(blob: bytes, scalar: bool) -> Any:
    stream = io.BytesIO(blob)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise CodecError(f"an array in .npy format version {version}, which is not supported")
    except CodecError:
        raise
    except Exception as exc:  # noqa: BLE001 - any malformed header is a codec error
        raise CodecError(f"a malformed array ({type(exc).__name__})") from None
    if not _gradable(dtype):
        raise CodecError(f"an array of dtype {dtype}, which cannot be graded; return numbers (a float or int array)")
    count = math.prod(shape)
    start = stream.tell()
    if len(blob) - start != count * dtype.itemsize:
        raise CodecError("a truncated array")
    array = np.frombuffer(blob, dtype=dtype, count=count, offset=start).reshape(shape, order="F" if fortran else "C").copy()
    if scalar:
        if array.shape != ():
            raise CodecError("a malformed NumPy scalar")
        return array[()]
    return array


class _Decoder:
    def __init__(self, blobs: list[bytes]) -> None:
        self.blobs = blobs

    def node(self, node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH + 1:
            raise CodecError("a structure nested too deeply")
        if not isinstance(node, list) or not node or not isinstance(node[0], str):
            raise CodecError("a malformed message")
        tag, args = node[0], node[1:]
        try:
            if tag == "none" and not args:
                return None
            if tag == "bool" and isinstance(args[0], bool):
                return args[0]
            if tag == "int" and type(args[0]) is int:
                return args[0]
            if tag == "float" and isinstance(args[0], str):
                return float.fromhex(args[0])
            if tag == "complex" and isinstance(args[0], str) and isinstance(args[1], str):
                return complex(float.fromhex(args[0]), float.fromhex(args[1]))
            if tag == "str" and isinstance(args[0], str):
                return args[0]
            if tag in ("tuple", "list") and isinstance(args[0], list):
                items = [self.node(v, depth + 1) for v in args[0]]
                return tuple(items) if tag == "tuple" else items
            if tag == "dict" and isinstance(args[0], list):
                result = {}
                for pair in args[0]:
                    if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                        raise CodecError("a malformed dict")
                    result[pair[0]] = self.node(pair[1], depth + 1)
                return result
            if tag in ("ndarray", "scalar") and type(args[0]) is int and 0 <= args[0] < len(self.blobs):
                return _read_array(self.blobs[args[0]], scalar=tag == "scalar")
            if tag == "rng" and type(args[0]) is int:
                return SeededRng(args[0])
            if tag == "probe" and isinstance(args[0], str):
                return Probe(args[0])
        except (IndexError, ValueError, OverflowError) as exc:
            if isinstance(exc, CodecError):
                raise
            raise CodecError(f"a malformed {tag!r} value") from None
        raise CodecError(f"an unknown value tag {tag!r}")


def decode_payload(payload: bytes) -> Any:
    """The value in a frame's payload (the bytes after the 8-byte length).

    Raises:
        CodecError: the payload is malformed or holds a non-gradable array.
    """
    if len(payload) < _HEADER_LENGTH.size:
        raise CodecError("a truncated message")
    (header_length,) = _HEADER_LENGTH.unpack_from(payload)
    if header_length > MAX_HEADER_BYTES or header_length > len(payload) - _HEADER_LENGTH.size:
        raise CodecError("a malformed message header")
    start = _HEADER_LENGTH.size
    try:
        header = json.loads(payload[start : start + header_length])
    except (ValueError, RecursionError):
        raise CodecError("a malformed message header") from None
    if not isinstance(header, dict) or not isinstance(header.get("blobs"), list) or "body" not in header:
        raise CodecError("a malformed message header")
    lengths = header["blobs"]
    if not all(type(n) is int and n >= 0 for n in lengths):
        raise CodecError("a malformed message header")
    offset = start + header_length
    if offset + sum(lengths) != len(payload):
        raise CodecError("a truncated message")
    blobs = []
    for n in lengths:
        blobs.append(payload[offset : offset + n])
        offset += n
    try:
        return _Decoder(blobs).node(header["body"], 0)
    except RecursionError:
        raise CodecError("a structure nested too deeply") from None


def decode(frame: bytes) -> Any:
    """The value in a whole frame, as written by :func:`encode`.

    Raises:
        CodecError: the frame is malformed.
    """
    if len(frame) < PREFIX_BYTES or frame_length(frame[:PREFIX_BYTES]) != len(frame) - PREFIX_BYTES:
        raise CodecError("a truncated message")
    return decode_payload(frame[PREFIX_BYTES:])
