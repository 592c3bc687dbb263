"""Bolt's framing: the handshake, message signatures, and chunked messages.

A connection opens with the magic preamble ``0x6060B017`` and four version proposals of four
bytes each (reserved, range, minor, major: ``00 08 08 05`` offers 5.8 down to 5.0); the
server answers with the one version it picked, or ``00 00 00 00``. After that each message is
a PackStream structure (its tag is the message's signature) sent as chunks of at most 65535
bytes, each behind its two-byte size, and ended by an empty chunk. An empty chunk on its own
is a NOOP (a keep-alive) and is skipped.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import attrs

from aura_async.emulator.bolt.packstream import PackStreamError, Structure, pack, unpack

__all__ = [
    "HANDSHAKE_SIZE",
    "MAGIC",
    "MAX_MESSAGE",
    "SUPPORTED_VERSIONS",
    "Message",
    "Signature",
    "encode_message",
    "negotiate",
    "read_message",
    "version_bytes",
]

MAGIC = b"\x60\x60\xb0\x17"
#: The preamble and the four proposals.
HANDSHAKE_SIZE = 20
#: The Bolt versions this emulator speaks (5.1 moved authentication from HELLO to LOGON).
SUPPORTED_VERSIONS: tuple[tuple[int, int], ...] = ((5, 1), (5, 2), (5, 3), (5, 4))
#: The largest message the listener reads, so a broken client cannot exhaust memory; the
#: emulator's messages are a few hundred bytes.
MAX_MESSAGE = 1 << 20
_MAX_CHUNK = 0xFFFF
#: A proposal whose major byte is 0xFF asks for a handshake manifest (Bolt 5.7+ servers
#: answer it with a list of versions); the emulator answers with a plain version instead.
_MANIFEST = 0xFF


class Signature(enum.IntEnum):
    """The tag of each Bolt message the emulator reads or writes."""

    HELLO = 0x01
    GOODBYE = 0x02
    RESET = 0x0F
    RUN = 0x10
    BEGIN = 0x11
    COMMIT = 0x12
    ROLLBACK = 0x13
    DISCARD = 0x2F
    PULL = 0x3F
    TELEMETRY = 0x54
    ROUTE = 0x66
    LOGON = 0x6A
    LOGOFF = 0x6B
    SUCCESS = 0x70
    RECORD = 0x71
    IGNORED = 0x7E
    FAILURE = 0x7F


@attrs.frozen
class Message:
    """One Bolt message: its ``signature`` (a :class:`Signature` value) and its fields."""

    signature: int
    fields: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        """The message's name (``HELLO``), or its tag in hex when it is not one we know."""
        try:
            return Signature(self.signature).name
        except ValueError:
            return f"0x{self.signature:02X}"


def negotiate(proposals: bytes) -> tuple[int, int] | None:
    """Pick the highest supported version among the four ``proposals``; None when none fits.

    A proposal offers ``major.minor`` down to ``major.(minor - range)``. The driver's
    handshake-manifest proposal is passed over: it also offers plain versions.

    Raises:
        ValueError: if ``proposals`` is not 16 bytes.
    """
    if len(proposals) != 16:
        raise ValueError(f"a handshake has four proposals of four bytes, got {len(proposals)}")
    offered: set[tuple[int, int]] = set()
    for at in range(0, 16, 4):
        _reserved, span, minor, major = proposals[at : at + 4]
        if major in (0, _MANIFEST):
            continue
        offered.update((major, m) for m in range(max(0, minor - span), minor + 1))
    chosen = sorted(offered.intersection(SUPPORTED_VERSIONS))
    return chosen[-1] if chosen else None


def version_bytes(version: tuple[int, int] | None) -> bytes:
    """The server's four-byte answer to the handshake (zeros: no version in common)."""
    if version is None:
        return b"\x00\x00\x00\x00"
    major, minor = version
    return bytes((0, 0, minor, major))


def encode_message(message: Message) -> bytes:
    """Pack ``message`` and frame it in chunks, ending with the empty chunk.

    Raises:
        PackStreamError: if a field cannot be packed.
    """
    data = pack(Structure(message.signature, message.fields))
    out = bytearray()
    for at in range(0, len(data), _MAX_CHUNK):
        chunk = data[at : at + _MAX_CHUNK]
        out += len(chunk).to_bytes(2, "big")
        out += chunk
    out += b"\x00\x00"
    return bytes(out)


def decode_message(data: bytes) -> Message:
    """Unpack a message from its de-chunked bytes.

    Raises:
        PackStreamError: if the bytes are not one PackStream structure.
    """
    value = unpack(data)
    if not isinstance(value, Structure):
        raise PackStreamError(f"a Bolt message is a structure, got {type(value).__name__}")
    return Message(value.tag, value.fields)


async def read_message(reader: asyncio.StreamReader) -> Message:
    """Read the next message, skipping NOOP chunks.

    Raises:
        asyncio.IncompleteReadError: when the peer closes the connection.
        PackStreamError: for a message that is too large or not a PackStream structure.
    """
    data = bytearray()
    while True:
        size = int.from_bytes(await reader.readexactly(2), "big")
        if size == 0:
            if data:
                return decode_message(bytes(data))
            continue  # a NOOP between messages
        if len(data) + size > MAX_MESSAGE:
            raise PackStreamError(f"a message of more than {MAX_MESSAGE} bytes")
        data += await reader.readexactly(size)
