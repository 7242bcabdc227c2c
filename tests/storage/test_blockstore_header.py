"""The block store reads a header and its transaction count without the transactions."""

from __future__ import annotations

import msgspec
import pytest

from carchain.errors import StorageCorrupted
from carchain.storage.blockstore import compute_array_length


@pytest.mark.parametrize("count", [0, 1, 15, 16, 65535, 65536])
def test_array_length_from_the_encoded_prefix(count: int) -> None:
    """Every msgpack array form msgspec writes: fixarray, array 16, array 32."""
    encoded = msgspec.msgpack.encode([b""] * count)
    assert compute_array_length(encoded[:5], 7) == count


@pytest.mark.parametrize("prefix", [b"", b"\xc4\x00", b"\xdc\x01", b"\xdd\x00\x00\x01", b"\x80"])
def test_invalid_prefix_is_storage_corrupted(prefix: bytes) -> None:
    with pytest.raises(StorageCorrupted) as info:
        compute_array_length(prefix, 7)
    assert info.value.height == 7
