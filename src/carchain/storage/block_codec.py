"""How a block's transactions and results are kept on disk: msgpack, deflated.

A stored list is ``0xC1 || the list's msgpack array header || raw deflate of
the list's msgpack encoding``. ``0xC1`` is the one byte msgpack never uses, so
a row written before compression (a plain msgpack array) still reads as it is,
and the array header kept in clear gives the number of transactions without
inflating them (``get_header_and_tx_count``). Compression is storage only: the
transaction root, the results hash and every hash a client checks are over the
raw bytes, which come back exactly.

The ten anchors of a block share their chain id, type, field names and event
names, so deflate keeps about 60% of the transactions and a third of their
results (``bench/bench_chain_growth.py``). Level 1 compresses them as well as
level 6 and costs about 4 µs a transaction in a block of 5,000 registrations.
"""

from __future__ import annotations

import zlib
from typing import Any, TypeVar

import msgspec

from carchain.errors import StorageCorrupted

MARKER = 0xC1
_LEVEL = 1  # as small as 6 for anchors; a 5,000-tx block: 4 µs a tx, not 6
_enc = msgspec.msgpack.Encoder()
T = TypeVar("T")


def encode_list(items: list[Any]) -> bytes:
    """Return the stored form of a list of transactions or results."""
    raw = _enc.encode(items)
    deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    body = deflate.compress(raw) + deflate.flush()
    return bytes([MARKER]) + raw[: _array_header_size(raw[0], 0)] + body


def decode_list(stored: bytes, decoder: msgspec.msgpack.Decoder[T], height: int) -> T:
    """Return the list ``stored`` holds (compressed or, from before, plain msgpack)."""
    raw = stored
    if stored[:1] == bytes([MARKER]):
        skip = 1 + _array_header_size(stored[1] if len(stored) > 1 else -1, height)
        try:
            raw = zlib.decompress(stored[skip:], -15)
        except zlib.error as exc:
            raise StorageCorrupted("stored block data does not inflate", height=height) from exc
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageCorrupted("stored block data is malformed", height=height) from exc


def compute_list_length(prefix: bytes, height: int) -> int:
    """Return the length of the stored list whose first bytes (at least 6) are ``prefix``."""
    if prefix[:1] == bytes([MARKER]):
        prefix = prefix[1:]
    tag = prefix[0] if prefix else -1
    if 0x90 <= tag <= 0x9F:  # fixarray: up to 15 elements
        return tag & 0x0F
    size = {0xDC: 2, 0xDD: 4}.get(tag, 0)  # array 16, array 32: a big-endian length
    if size and len(prefix) > size:
        return int.from_bytes(prefix[1 : 1 + size], "big")
    raise StorageCorrupted("stored block transactions are not a list", height=height)


def _array_header_size(tag: int, height: int) -> int:
    if 0x90 <= tag <= 0x9F:
        return 1
    if tag == 0xDC:
        return 3
    if tag == 0xDD:
        return 5
    raise StorageCorrupted("stored block data is not a list", height=height)
