"""Data batches: records sealed under a batch key, committed by a signed header.

The vehicle groups records into a batch, builds an RFC 6962 Merkle tree over
their canonical encodings, encrypts the encoded list with AES-256-GCM under a
batch key derived from its epoch key, and signs a header naming vehicle, epoch,
sequence, time range, record count, categories, Merkle root, ciphertext hash and
size, and the reference of the sealed epoch key. The signed header, not the
ciphertext, is what the gateway aggregates and the chain commits to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgspec

from carchain.crypto import aead
from carchain.crypto.hashing import compute_sha256
from carchain.crypto.kdf import compute_batch_key
from carchain.crypto.merkle import EMPTY_ROOT
from carchain.crypto.signing import SigningKey, verify_signature
from carchain.data.categories import CATEGORY_NAMES
from carchain.errors import (
    CiphertextMismatch,
    DecryptionFailed,
    InvalidBatch,
    TruncatedCiphertext,
    WrongEpoch,
)

BATCH_VERSION = 1
EPOCH_MS = 86_400_000
MAX_RECORDS_PER_BATCH = 100_000
MAX_HEADER_BYTES = 2048
HEADER_DOMAIN = b"carchain/batch-header/v1\x00"


class BatchHeader(msgspec.Struct, array_like=True, frozen=True):
    """What a vehicle commits to for one batch (no plaintext, no key)."""

    version: int
    vehicle_id: str
    epoch: int
    seq: int
    start_ms: int
    end_ms: int
    record_count: int
    categories: list[str]
    records_root: bytes
    nonce: bytes
    ciphertext_hash: bytes
    ciphertext_size: int
    key_ref: bytes


class SignedBatchHeader(msgspec.Struct, array_like=True, frozen=True):
    """A batch header with the vehicle's Ed25519 signature."""

    header: BatchHeader
    signature: bytes


class SubmittedBatch(msgspec.Struct, array_like=True, frozen=True):
    """What a vehicle uploads: signed header, ciphertext and its sealed epoch key."""

    header: bytes
    ciphertext: bytes
    key_envelope: bytes


@dataclass(frozen=True, slots=True)
class SealedBatch:
    """A sealed batch as it leaves the SDK: encoded signed header and ciphertext."""

    header: bytes
    ciphertext: bytes
    signed: SignedBatchHeader

    @property
    def header_hash(self) -> bytes:
        """Return the batch's identity: SHA-256 of its encoded signed header."""
        return compute_header_hash(self.header)


_encoder = msgspec.msgpack.Encoder()
_signed_decoder = msgspec.msgpack.Decoder(SignedBatchHeader)
_records_decoder = msgspec.msgpack.Decoder(list[bytes])
_submitted_decoder = msgspec.msgpack.Decoder(SubmittedBatch)


def compute_epoch(time_ms: int) -> int:
    """Return the epoch (UTC day number) of a time in ms."""
    return time_ms // EPOCH_MS


def compute_records_root(leaves: list[bytes]) -> bytes:
    """Return the RFC 6962 root over raw leaves, bottom-up (same root as ``merkle``).

    Pairing level by level and promoting an odd last node gives exactly the
    split-at-the-largest-power-of-two tree, without recursion or slicing.
    """
    sha = hashlib.sha256
    if not leaves:
        return EMPTY_ROOT
    if len(leaves[0]) < 1024:
        level = [sha(b"\x00" + leaf).digest() for leaf in leaves]
    else:
        # Large leaves: extend a prefixed hash state instead of copying each leaf.
        prefixed = sha(b"\x00")
        level = []
        for leaf in leaves:
            h = prefixed.copy()
            h.update(leaf)
            level.append(h.digest())
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def compute_batch_aad(vehicle_id: str, epoch: int, seq: int) -> bytes:
    """Return the associated data that binds a ciphertext to its batch identity."""
    return _encoder.encode((BATCH_VERSION, vehicle_id, epoch, seq))


def compute_header_signing_bytes(header: BatchHeader) -> bytes:
    """Return the exact bytes a vehicle signs for a batch header."""
    return HEADER_DOMAIN + _encoder.encode(header)


def compute_header_hash(signed_header: bytes) -> bytes:
    """Return a batch's identity: SHA-256 of its encoded signed header."""
    return compute_sha256(signed_header)


def encode_records(records: list[bytes]) -> bytes:
    """Return the batch plaintext: the MessagePack list of encoded records."""
    return _encoder.encode(records)


def seal_batch(
    records: list[bytes],
    *,
    key: SigningKey,
    vehicle_id: str,
    epoch: int,
    seq: int,
    start_ms: int,
    end_ms: int,
    categories: list[str],
    epoch_key: bytes,
    key_ref: bytes,
) -> SealedBatch:
    """Encrypt, commit to and sign a batch of encoded records."""
    if not 0 < len(records) <= MAX_RECORDS_PER_BATCH:
        raise InvalidBatch("a batch holds 1 to 100000 records", count=len(records))
    root = compute_records_root(records)
    batch_key = compute_batch_key(epoch_key, vehicle_id, epoch, seq)
    nonce = aead.generate_nonce()
    ciphertext = aead.encrypt(
        batch_key, nonce, encode_records(records), compute_batch_aad(vehicle_id, epoch, seq)
    )
    header = BatchHeader(
        version=BATCH_VERSION,
        vehicle_id=vehicle_id,
        epoch=epoch,
        seq=seq,
        start_ms=start_ms,
        end_ms=end_ms,
        record_count=len(records),
        categories=sorted(set(categories)),
        records_root=root,
        nonce=nonce,
        ciphertext_hash=compute_sha256(ciphertext),
        ciphertext_size=len(ciphertext),
        key_ref=key_ref,
    )
    validate_header_shape(header)
    signed = SignedBatchHeader(header, key.sign(compute_header_signing_bytes(header)))
    return SealedBatch(_encoder.encode(signed), ciphertext, signed)


def validate_header_shape(header: BatchHeader) -> None:
    """Raise ``InvalidBatch`` or ``WrongEpoch`` unless the header is self-consistent."""
    if header.version != BATCH_VERSION:
        raise InvalidBatch("unsupported batch version", version=header.version)
    if not 0 < header.record_count <= MAX_RECORDS_PER_BATCH:
        raise InvalidBatch("record count out of range", count=header.record_count)
    if not 0 <= header.start_ms <= header.end_ms:
        raise InvalidBatch("time range is inverted or negative")
    if not 0 <= header.seq < 2**63:
        raise InvalidBatch("sequence number out of range")
    if (
        header.categories != sorted(set(header.categories))
        or not set(header.categories) <= CATEGORY_NAMES
    ):
        raise InvalidBatch("categories must be known, sorted and unique")
    for value, what in (
        (header.records_root, "records root"),
        (header.ciphertext_hash, "ciphertext hash"),
        (header.key_ref, "key reference"),
    ):
        if len(value) != 32:
            raise InvalidBatch(f"{what} must be 32 bytes")
    if len(header.nonce) != aead.NONCE_SIZE:
        raise InvalidBatch("nonce must be 12 bytes")
    if header.ciphertext_size < aead.TAG_SIZE:
        raise InvalidBatch("ciphertext size below the AEAD overhead")
    if (
        compute_epoch(header.start_ms) != header.epoch
        or compute_epoch(header.end_ms) != header.epoch
    ):
        raise WrongEpoch("batch time range is not inside its epoch", epoch=header.epoch)


def decode_signed_header(raw: bytes) -> SignedBatchHeader:
    """Decode and shape-check an encoded signed header; raise a typed error if off."""
    if len(raw) > MAX_HEADER_BYTES:
        raise InvalidBatch("batch header too large", size=len(raw))
    try:
        signed = _signed_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidBatch(f"not a batch header: {exc}") from exc
    if _encoder.encode(signed) != raw:
        raise InvalidBatch("batch header is not canonically encoded")
    validate_header_shape(signed.header)
    return signed


def verify_header_signature(signed: SignedBatchHeader, public_key: bytes) -> None:
    """Raise ``InvalidSignature`` unless the vehicle key signed this header."""
    verify_signature(public_key, compute_header_signing_bytes(signed.header), signed.signature)


def validate_ciphertext(header: BatchHeader, ciphertext: bytes) -> None:
    """Raise ``TruncatedCiphertext`` or ``CiphertextMismatch`` unless it is the signed one."""
    if len(ciphertext) < header.ciphertext_size:
        raise TruncatedCiphertext(
            "ciphertext shorter than the header says",
            size=len(ciphertext),
            expected=header.ciphertext_size,
        )
    if len(ciphertext) != header.ciphertext_size:
        raise CiphertextMismatch("ciphertext longer than the header says", size=len(ciphertext))
    if compute_sha256(ciphertext) != header.ciphertext_hash:
        raise CiphertextMismatch("ciphertext does not match the header's hash")


def open_batch(signed: SignedBatchHeader, ciphertext: bytes, epoch_key: bytes) -> list[bytes]:
    """Decrypt a batch and check it against its header; return the encoded records."""
    h = signed.header
    validate_ciphertext(h, ciphertext)
    batch_key = compute_batch_key(epoch_key, h.vehicle_id, h.epoch, h.seq)
    plaintext = aead.decrypt(
        batch_key, h.nonce, ciphertext, compute_batch_aad(h.vehicle_id, h.epoch, h.seq)
    )
    try:
        records = _records_decoder.decode(plaintext)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecryptionFailed("cannot decrypt") from exc
    if len(records) != h.record_count or compute_records_root(records) != h.records_root:
        raise InvalidBatch("decrypted records do not match the header's root")
    return records


def encode_submitted(batch: SubmittedBatch) -> bytes:
    """Return the upload encoding of a batch."""
    return _encoder.encode(batch)


def decode_submitted(raw: bytes) -> SubmittedBatch:
    """Decode an upload; raise ``InvalidBatch`` if it is not one."""
    try:
        return _submitted_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidBatch(f"not a batch upload: {exc}") from exc
