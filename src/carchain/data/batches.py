"""Data batches (version 2): one sealed segment per category, committed by a signed header.

The vehicle groups records into a batch and splits each record into projections by
category (``projections``). For every category present, the batch has a segment
(``segments``): the projections of that category, AES-256-GCM under the batch's
segment key of that category, committed by a salted RFC 6962 root. The segments'
ciphertexts are concatenated into the batch's one ciphertext blob; the signed header
names vehicle, epoch, sequence, time range, record count, the blob's hash and size
and, per segment, category, projection count, root, nonce, offset, size, hash and
the ``key_ref`` of the category key envelope. The signed header, not the
ciphertext, is what the gateway aggregates and the chain commits to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from carchain.crypto import aead
from carchain.crypto.hashing import compute_sha256
from carchain.crypto.kdf import compute_leaf_salts, compute_segment_key
from carchain.crypto.signing import SigningKey, verify_signature
from carchain.data.categories import CATEGORY_NAMES
from carchain.data.projections import (
    Projection,
    compute_projections,
    encode_projection,
    merge_projections,
)
from carchain.data.records import decode_record, encode_record
from carchain.data.segments import (
    SegmentHeader,
    compute_records_root,
    compute_salted_root,
    compute_segment_aad,
    decrypt_segment,
    encrypt_segment,
)
from carchain.errors import (
    CiphertextMismatch,
    InvalidBatch,
    TruncatedCiphertext,
    WrongEpoch,
)

__all__ = ["compute_records_root"]

BATCH_VERSION = 2
EPOCH_MS = 86_400_000
MAX_RECORDS_PER_BATCH = 100_000
MAX_HEADER_BYTES = 4096
MAX_ENVELOPES_PER_UPLOAD = len(CATEGORY_NAMES)
HEADER_DOMAIN = b"carchain/batch-header/v2\x00"


class BatchHeader(msgspec.Struct, array_like=True, frozen=True):
    """What a vehicle commits to for one batch (no plaintext, no key)."""

    version: int
    vehicle_id: str
    epoch: int
    seq: int
    start_ms: int
    end_ms: int
    record_count: int
    segments: list[SegmentHeader]
    ciphertext_hash: bytes
    ciphertext_size: int

    @property
    def categories(self) -> list[str]:
        """Return the categories the batch holds (its segments' categories, sorted)."""
        return [s.category for s in self.segments]


class SignedBatchHeader(msgspec.Struct, array_like=True, frozen=True):
    """A batch header with the vehicle's Ed25519 signature."""

    header: BatchHeader
    signature: bytes


class SubmittedBatch(msgspec.Struct, array_like=True, frozen=True):
    """What a vehicle uploads: signed header, ciphertext and its category key envelopes."""

    header: bytes
    ciphertext: bytes
    key_envelopes: list[bytes]


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
_submitted_decoder = msgspec.msgpack.Decoder(SubmittedBatch)


def compute_epoch(time_ms: int) -> int:
    """Return the epoch (UTC day number) of a time in ms."""
    return time_ms // EPOCH_MS


def compute_header_signing_bytes(header: BatchHeader) -> bytes:
    """Return the exact bytes a vehicle signs for a batch header."""
    return HEADER_DOMAIN + _encoder.encode(header)


def compute_header_hash(signed_header: bytes) -> bytes:
    """Return a batch's identity: SHA-256 of its encoded signed header."""
    return compute_sha256(signed_header)


def compute_batch_segment_key(header: BatchHeader, category: str, category_key: bytes) -> bytes:
    """Return the segment key of ``category`` in this batch, from its category key."""
    return compute_segment_key(category_key, header.vehicle_id, header.epoch, header.seq, category)


def compute_category_projections(records: list[bytes]) -> dict[str, list[Projection]]:
    """Return each category's projections of the encoded records, in record order."""
    out: dict[str, list[Projection]] = {}
    for i, raw in enumerate(records):
        for cat, p in compute_projections(decode_record(raw), i).items():
            out.setdefault(cat, []).append(p)
    return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class BatchIdentity:
    """Who and when a batch is: what the header says besides its segments."""

    vehicle_id: str
    epoch: int
    seq: int
    start_ms: int
    end_ms: int


def seal_batch(
    records: list[bytes],
    *,
    key: SigningKey,
    batch: BatchIdentity,
    category_keys: Mapping[str, bytes],
    key_refs: Mapping[str, bytes],
) -> SealedBatch:
    """Split, encrypt, commit to and sign a batch of encoded records.

    ``category_keys`` and ``key_refs`` hold, for every category the records carry,
    its category key and the reference of the envelope that seals it.
    """
    if not 0 < len(records) <= MAX_RECORDS_PER_BATCH:
        raise InvalidBatch("a batch holds 1 to 100000 records", count=len(records))
    segments: list[SegmentHeader] = []
    blobs: list[bytes] = []
    for cat, projections in compute_category_projections(records).items():
        if cat not in category_keys or cat not in key_refs:
            raise InvalidBatch(f"no category key for {cat}")
        offset = sum(len(b) for b in blobs)
        segment, ct = _seal_segment(batch, cat, category_keys[cat], projections, offset)
        segments.append(msgspec.structs.replace(segment, key_ref=key_refs[cat]))
        blobs.append(ct)
    ciphertext = b"".join(blobs)
    header = BatchHeader(
        BATCH_VERSION,
        batch.vehicle_id,
        batch.epoch,
        batch.seq,
        batch.start_ms,
        batch.end_ms,
        len(records),
        segments,
        compute_sha256(ciphertext),
        len(ciphertext),
    )
    validate_header_shape(header)
    signed = SignedBatchHeader(header, key.sign(compute_header_signing_bytes(header)))
    return SealedBatch(_encoder.encode(signed), ciphertext, signed)


def _seal_segment(
    batch: BatchIdentity, cat: str, category_key: bytes, projections: list[Projection], offset: int
) -> tuple[SegmentHeader, bytes]:
    """Return one segment's header (``key_ref`` still empty) and ciphertext."""
    skey = compute_segment_key(category_key, batch.vehicle_id, batch.epoch, batch.seq, cat)
    aad = compute_segment_aad(batch.vehicle_id, batch.epoch, batch.seq, cat)
    encoded = [encode_projection(p) for p in projections]
    nonce, ct = encrypt_segment(skey, aad, encoded)
    indices = [p.index for p in projections]
    root = compute_salted_root(compute_leaf_salts(skey, indices), encoded)
    header = SegmentHeader(
        cat, len(projections), root, nonce, offset, len(ct), compute_sha256(ct), b""
    )
    return header, ct


def validate_segment_shapes(header: BatchHeader) -> None:
    """Raise ``InvalidBatch`` unless the segments are known, sorted, unique and contiguous."""
    cats = header.categories
    if not cats or cats != sorted(set(cats)) or not set(cats) <= CATEGORY_NAMES:
        raise InvalidBatch("segment categories must be known, sorted and unique")
    offset = 0
    for s in header.segments:
        if not 0 < s.count <= header.record_count:
            raise InvalidBatch("segment projection count out of range", count=s.count)
        for value in (s.records_root, s.ciphertext_hash, s.key_ref):
            if len(value) != 32:
                raise InvalidBatch("segment root, hash and key_ref must be 32 bytes")
        if len(s.nonce) != aead.NONCE_SIZE:
            raise InvalidBatch("segment nonce must be 12 bytes")
        if s.offset != offset or s.ciphertext_size < aead.TAG_SIZE:
            raise InvalidBatch("segments must tile the ciphertext in order")
        offset += s.ciphertext_size
    if offset != header.ciphertext_size:
        raise InvalidBatch("segment sizes do not add up to the ciphertext size")


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
    if len(header.ciphertext_hash) != 32:
        raise InvalidBatch("ciphertext hash must be 32 bytes")
    validate_segment_shapes(header)
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
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
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


def get_segment(header: BatchHeader, category: str) -> SegmentHeader:
    """Return the batch's segment of ``category``; ``InvalidBatch`` if it has none."""
    for s in header.segments:
        if s.category == category:
            return s
    raise InvalidBatch(f"batch has no {category[:40]} segment")


def get_segment_ciphertext(header: BatchHeader, ciphertext: bytes, category: str) -> bytes:
    """Return one segment's slice of a batch ciphertext (checked against the header)."""
    validate_ciphertext(header, ciphertext)
    s = get_segment(header, category)
    return ciphertext[s.offset : s.offset + s.ciphertext_size]


def open_segment(
    signed: SignedBatchHeader, category: str, segment_ciphertext: bytes, segment_key: bytes
) -> list[Projection]:
    """Return the projections of one segment, checked against the signed header.

    A wrong key raises ``DecryptionFailed``; a ciphertext that is not the segment's,
    ``CiphertextMismatch`` or ``TruncatedCiphertext``.
    """
    h = signed.header
    segment = get_segment(h, category)
    aad = compute_segment_aad(h.vehicle_id, h.epoch, h.seq, category)
    return decrypt_segment(segment, segment_key, aad, segment_ciphertext, h.record_count)


@dataclass(frozen=True, slots=True)
class OpenedSegment:
    """One decrypted segment: its key (for leaf salts and proofs) and its projections."""

    segment_key: bytes
    projections: list[Projection]


def open_batch_segments(
    signed: SignedBatchHeader, ciphertext: bytes, category_keys: Mapping[str, bytes]
) -> dict[str, OpenedSegment]:
    """Return the decrypted segments of the categories whose category keys are given."""
    h = signed.header
    out: dict[str, OpenedSegment] = {}
    for s in h.segments:
        if s.category in category_keys:
            skey = compute_batch_segment_key(h, s.category, category_keys[s.category])
            segment_ct = get_segment_ciphertext(h, ciphertext, s.category)
            out[s.category] = OpenedSegment(
                skey, open_segment(signed, s.category, segment_ct, skey)
            )
    return out


def compute_opened_records(
    signed: SignedBatchHeader, opened: Mapping[str, OpenedSegment]
) -> list[bytes]:
    """Return the encoded records the opened segments make, in batch order.

    With every segment the records come back exactly as sealed; with some, each
    record holds only those categories' fields (records with none are left out).
    """
    h = signed.header
    parts: dict[int, list[Projection]] = {}
    for seg in opened.values():
        for p in seg.projections:
            parts.setdefault(p.index, []).append(p)
    if set(h.categories) <= set(opened) and sorted(parts) != list(range(h.record_count)):
        raise InvalidBatch("segments do not cover every record of the batch")
    return [encode_record(merge_projections(parts[i])) for i in sorted(parts)]


def open_batch(
    signed: SignedBatchHeader, ciphertext: bytes, category_keys: Mapping[str, bytes]
) -> list[bytes]:
    """Decrypt the segments whose category keys are given; return the encoded records
    (see ``compute_opened_records``)."""
    return compute_opened_records(signed, open_batch_segments(signed, ciphertext, category_keys))


def encode_submitted(batch: SubmittedBatch) -> bytes:
    """Return the upload encoding of a batch."""
    return _encoder.encode(batch)


def decode_submitted(raw: bytes) -> SubmittedBatch:
    """Decode an upload; raise ``InvalidBatch`` if it is not one."""
    try:
        upload = _submitted_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidBatch(f"not a batch upload: {exc}") from exc
    if len(upload.key_envelopes) > MAX_ENVELOPES_PER_UPLOAD:
        raise InvalidBatch("too many key envelopes in one upload")
    return upload
