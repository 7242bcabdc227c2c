"""The socket protocol's framing: each protobuf message is prefixed with its
length as an unsigned varint (not zigzag; CometBFT v0.38 ``protoio``).
"""

from __future__ import annotations

import asyncio

from carchain.crypto.merkle import encode_uvarint
from carchain.errors import AbciProtocolError

# CometBFT's socket client caps messages well below this; a larger prefix is an attack
# or a desynchronised stream, and the connection is dropped.
MAX_FRAME_BYTES = 128 * 1024 * 1024
MAX_VARINT_BYTES = 10


def encode_frame(message: bytes) -> bytes:
    """Return ``message`` with its uvarint length prefix."""
    return encode_uvarint(len(message)) + message


def decode_uvarint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Return ``(value, next position)`` of the uvarint at ``pos``; raise if malformed."""
    value = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= len(data):
            raise AbciProtocolError("truncated length prefix")
        b = data[pos + i]
        value |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            return value, pos + i + 1
    raise AbciProtocolError("length prefix longer than 10 bytes")


class FrameReader:
    """Reads length-prefixed messages from a stream, buffering whole chunks."""

    def __init__(self, reader: asyncio.StreamReader, chunk_size: int = 1 << 16) -> None:
        self._reader = reader
        self._chunk_size = chunk_size
        self._buf = bytearray()

    def _take(self) -> bytes | None:
        buf = self._buf
        value = 0
        for i in range(min(len(buf), MAX_VARINT_BYTES)):
            b = buf[i]
            value |= (b & 0x7F) << (7 * i)
            if b < 0x80:
                if value > MAX_FRAME_BYTES:
                    raise AbciProtocolError("message too large", size=value)
                end = i + 1 + value
                if len(buf) < end:
                    return None
                frame = bytes(buf[i + 1 : end])
                del buf[:end]
                return frame
        if len(buf) >= MAX_VARINT_BYTES:
            raise AbciProtocolError("length prefix longer than 10 bytes")
        return None

    async def wait_data(self) -> bool:
        """Wait until at least one byte is buffered; return ``False`` at end of stream
        (so a connection can be judged on its first byte, before its first frame).
        """
        if not self._buf:
            chunk = await self._reader.read(self._chunk_size)
            if not chunk:
                return False
            self._buf += chunk
        return True

    async def read_frame(self) -> bytes | None:
        """Return the next message, or ``None`` at a clean end of stream.

        Raises ``AbciProtocolError`` for an over-long or oversized prefix or a
        stream that ends inside a message.
        """
        while True:
            frame = self._take()
            if frame is not None:
                return frame
            chunk = await self._reader.read(self._chunk_size)
            if not chunk:
                if self._buf:
                    raise AbciProtocolError("stream ended inside a message")
                return None
            self._buf += chunk
