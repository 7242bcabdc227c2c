"""AES-256 as a PRF on counters: the bulk call equals one call per counter, outputs
differ per counter and per key, and bad keys or counters are refused."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from carchain.crypto.prf import compute_prf_blocks

KEY = b"\x07" * 32


def test_bulk_equals_singles_and_the_cipher() -> None:
    counters = [0, 1, 5, 2**64, 2**128 - 1]
    bulk = compute_prf_blocks(KEY, counters)
    assert bulk == [compute_prf_blocks(KEY, [c])[0] for c in counters]
    enc = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor()
    assert bulk[2] == enc.update((5).to_bytes(16, "big")) + enc.finalize()
    assert len(set(bulk)) == len(counters) and all(len(b) == 16 for b in bulk)


def test_outputs_depend_on_the_key() -> None:
    assert compute_prf_blocks(KEY, [3]) != compute_prf_blocks(b"\x08" * 32, [3])
    assert compute_prf_blocks(KEY, []) == []


@pytest.mark.parametrize(("key", "counters"), [(b"k" * 16, [0]), (KEY, [-1]), (KEY, [2**128])])
def test_invalid_key_or_counter(key: bytes, counters: list[int]) -> None:
    with pytest.raises(ValueError):
        compute_prf_blocks(key, counters)
