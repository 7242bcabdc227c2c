"""Helpers for sealing v2 batches in tests: category keys from one epoch key."""

from __future__ import annotations

from carchain.crypto.kdf import compute_category_key
from carchain.data.batches import (
    BatchIdentity,
    SignedBatchHeader,
    compute_category_projections,
    compute_epoch,
    decode_signed_header,
    seal_batch,
)
from carchain.data.records import Diagnostics, Telemetry, encode_record
from tests.conftest import seeded_key
from tests.dataplane import NOW_MS

EPOCH_KEY = b"e" * 32
VEHICLE = seeded_key("vehicle/v1")
EPOCH = compute_epoch(NOW_MS)


def category_keys(
    records: list[bytes], vehicle_id: str = "v1", epoch_key: bytes = EPOCH_KEY
) -> dict[str, bytes]:
    """Return the category key of every category the records carry."""
    cats = compute_category_projections(records)
    return {c: compute_category_key(epoch_key, vehicle_id, EPOCH, c) for c in cats}


def seal(
    records: list[bytes], *, seq: int = 0, vehicle_id: str = "v1", epoch_key: bytes = EPOCH_KEY
) -> tuple[SignedBatchHeader, bytes]:
    """Seal ``records`` as batch ``seq`` of ``vehicle_id`` today; return header and ciphertext."""
    keys = category_keys(records, vehicle_id, epoch_key)
    sealed = seal_batch(
        records,
        key=VEHICLE,
        batch=BatchIdentity(vehicle_id, EPOCH, seq, NOW_MS, NOW_MS + 1000),
        category_keys=keys,
        key_refs={c: bytes([i]) * 32 for i, c in enumerate(keys)},
    )
    return decode_signed_header(sealed.header), sealed.ciphertext


def mixed_records(n: int = 6) -> list[bytes]:
    """Return telemetry (time, location, motion) and diagnostics records, interleaved."""
    out = []
    for i in range(n):
        if i % 2:
            out.append(encode_record(Diagnostics(NOW_MS + i, ["P0301", f"P04{i:02d}"], True)))
        else:
            out.append(encode_record(Telemetry(NOW_MS + i, 31.2 + i / 1000, 121.4, 50.0, 90.0)))
    return out
