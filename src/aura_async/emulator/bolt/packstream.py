"""PackStream v1, the value encoding of Bolt: what the official drivers pack and unpack.

Values map to Python as the ``neo4j`` driver maps them: ``None``, ``bool``, ``int`` (64-bit
signed), ``float`` (64-bit), ``str`` (UTF-8), ``bytes``, ``list`` (a tuple packs as a list),
``dict`` with ``str`` keys, and :class:`Structure` (a tag byte and up to 15 fields: Bolt's
messages, and graph types the emulator never sends). Each value takes its smallest encoding,
byte for byte as the driver's packer writes it.
"""

from __future__ import annotations

import struct
from typing import Any

import attrs

__all__ = ["INT64_MAX", "INT64_MIN", "PackStreamError", "Structure", "pack", "unpack"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_NULL, _FLOAT, _FALSE, _TRUE = 0xC0, 0xC1, 0xC2, 0xC3
_INT8, _INT16, _INT32, _INT64 = 0xC8, 0xC9, 0xCA, 0xCB
_BYTES8, _BYTES16, _BYTES32 = 0xCC, 0xCD, 0xCE
_STRING8, _STRING16, _STRING32 = 0xD0, 0xD1, 0xD2
_LIST8, _LIST16, _LIST32 = 0xD4, 0xD5, 0xD6
_MAP8, _MAP16, _MAP32 = 0xD8, 0xD9, 0xDA
_TINY_STRING, _TINY_LIST, _TINY_MAP, _TINY_STRUCT = 0x80, 0x90, 0xA0, 0xB0

_SIZES = (struct.Struct(">B"), struct.Struct(">H"), struct.Struct(">I"))
_DOUBLE = struct.Struct(">d")
_SIGNED = {
    _INT8: struct.Struct(">b"),
    _INT16: struct.Struct(">h"),
    _INT32: struct.Struct(">i"),
    _INT64: struct.Struct(">q"),
}


class PackStreamError(ValueError):
    """A value PackStream cannot carry, or bytes that are not a PackStream value."""


@attrs.frozen
class Structure:
    """A PackStream structure: a one-byte ``tag`` and its ``fields`` (at most 15).

    Raises:
        PackStreamError: for a tag outside 0..255 or more than 15 fields.
    """

    tag: int
    fields: tuple[Any, ...] = ()

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.tag <= 0xFF:
            raise PackStreamError(f"a structure's tag is one byte, got {self.tag!r}")
        if len(self.fields) > 15:
            raise PackStreamError(f"a structure has at most 15 fields, got {len(self.fields)}")


def _header(out: bytearray, size: int, tiny: int | None, markers: tuple[int, ...]) -> None:
    """Write a size header: the tiny form (size in the marker) when there is one and it fits."""
    if tiny is not None and size <= 0x0F:
        out.append(tiny | size)
        return
    for marker, layout in zip(markers, _SIZES, strict=True):
        if size < 1 << (8 * layout.size):
            out.append(marker)
            out += layout.pack(size)
            return
    raise PackStreamError(f"{size} items or bytes are more than PackStream can size")


def _pack_int(out: bytearray, value: int) -> None:
    if -0x10 <= value < 0x80:
        out += _SIGNED[_INT8].pack(value)  # tiny int: the value is its own marker
    elif -0x80 <= value < 0x80:
        out.append(_INT8)
        out += _SIGNED[_INT8].pack(value)
    elif -0x8000 <= value < 0x8000:
        out.append(_INT16)
        out += _SIGNED[_INT16].pack(value)
    elif -0x80000000 <= value < 0x80000000:
        out.append(_INT32)
        out += _SIGNED[_INT32].pack(value)
    elif INT64_MIN <= value <= INT64_MAX:
        out.append(_INT64)
        out += _SIGNED[_INT64].pack(value)
    else:
        raise PackStreamError(f"integer {value} does not fit in 64 bits")


def _pack(out: bytearray, value: Any) -> None:
    # bool before int: True is an int to Python, a boolean to PackStream.
    if value is None:
        out.append(_NULL)
    elif value is True:
        out.append(_TRUE)
    elif value is False:
        out.append(_FALSE)
    elif isinstance(value, int):
        _pack_int(out, value)
    elif isinstance(value, float):
        out.append(_FLOAT)
        out += _DOUBLE.pack(value)
    elif isinstance(value, str):
        encoded = value.encode("utf-8")
        _header(out, len(encoded), _TINY_STRING, (_STRING8, _STRING16, _STRING32))
        out += encoded
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        _header(out, len(data), None, (_BYTES8, _BYTES16, _BYTES32))
        out += data
    elif isinstance(value, list | tuple):
        _header(out, len(value), _TINY_LIST, (_LIST8, _LIST16, _LIST32))
        for item in value:
            _pack(out, item)
    elif isinstance(value, dict):
        _header(out, len(value), _TINY_MAP, (_MAP8, _MAP16, _MAP32))
        for key, item in value.items():
            if not isinstance(key, str):
                raise PackStreamError(f"map keys are strings, got {type(key).__name__}")
            _pack(out, key)
            _pack(out, item)
    elif isinstance(value, Structure):
        out.append(_TINY_STRUCT | len(value.fields))
        out.append(value.tag)
        for item in value.fields:
            _pack(out, item)
    else:
        raise PackStreamError(f"PackStream cannot carry a {type(value).__name__}")


def pack(value: Any) -> bytes:
    """Encode ``value`` as PackStream v1.

    Raises:
        PackStreamError: for a type PackStream cannot carry, an integer beyond 64 bits, a
            map key that is not a string, or a size beyond 2**32 - 1.
    """
    out = bytearray()
    _pack(out, value)
    return bytes(out)


class _Reader:
    """Reads PackStream values from a buffer, front to back."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.at = 0

    def take(self, n: int) -> memoryview:
        end = self.at + n
        if end > len(self.data):
            raise PackStreamError("the PackStream data ends in the middle of a value")
        chunk = self.data[self.at : end]
        self.at = end
        return chunk

    def size(self, index: int) -> int:
        layout = _SIZES[index]
        (size,) = layout.unpack(self.take(layout.size))
        return int(size)

    def text(self, size: int) -> str:
        try:
            return str(self.take(size), "utf-8")
        except UnicodeDecodeError as exc:
            raise PackStreamError(f"a PackStream string is not UTF-8: {exc}") from None

    def items(self, size: int) -> list[Any]:
        return [self.value() for _ in range(size)]

    def entries(self, size: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for _ in range(size):
            key = self.value()
            if not isinstance(key, str):
                raise PackStreamError(f"map keys are strings, got {type(key).__name__}")
            result[key] = self.value()
        return result

    def value(self) -> Any:
        marker = self.take(1)[0]
        high = marker & 0xF0
        if marker < 0x80:
            return marker
        if marker >= 0xF0:
            return marker - 0x100
        if high == _TINY_STRING:
            return self.text(marker & 0x0F)
        if high == _TINY_LIST:
            return self.items(marker & 0x0F)
        if high == _TINY_MAP:
            return self.entries(marker & 0x0F)
        if high == _TINY_STRUCT:
            tag = self.take(1)[0]
            return Structure(tag, tuple(self.items(marker & 0x0F)))
        if marker == _NULL:
            return None
        if marker == _TRUE:
            return True
        if marker == _FALSE:
            return False
        if marker == _FLOAT:
            return _DOUBLE.unpack(self.take(8))[0]
        if marker in _SIGNED:
            layout = _SIGNED[marker]
            return layout.unpack(self.take(layout.size))[0]
        if _BYTES8 <= marker <= _BYTES32:
            return bytes(self.take(self.size(marker - _BYTES8)))
        if _STRING8 <= marker <= _STRING32:
            return self.text(self.size(marker - _STRING8))
        if _LIST8 <= marker <= _LIST32:
            return self.items(self.size(marker - _LIST8))
        if _MAP8 <= marker <= _MAP32:
            return self.entries(self.size(marker - _MAP8))
        raise PackStreamError(f"unknown PackStream marker 0x{marker:02X}")


def unpack(data: bytes) -> Any:
    """Decode exactly one PackStream v1 value that fills ``data``.

    Raises:
        PackStreamError: for truncated data, an unknown marker, a string that is not UTF-8,
            a map key that is not a string, or bytes left over after the value.
    """
    reader = _Reader(data)
    value = reader.value()
    if reader.at != len(reader.data):
        raise PackStreamError(f"{len(reader.data) - reader.at} bytes follow the PackStream value")
    return value
