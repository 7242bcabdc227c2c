"""Ingest: accept a vehicle's batch only if every check passes, then store it durably.

Checks, in order, all before anything is written: size, encoding, header shape
and epoch window, vehicle registered / belongs to this OEM / not revoked,
signature, ciphertext length and hash, sealed epoch key, replay. A rejected
batch raises a typed error and leaves no trace; an accepted one is written
ciphertext first (fsynced), journal row last, and only then acknowledged.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import msgspec

from carchain.core.exceptions import (
    BatchTooLarge,
    InvalidBatch,
    NotFound,
    ReplayedBatch,
    UnregisteredVehicle,
    VehicleRevoked,
    WrongEpoch,
    WrongOem,
)
from carchain.core.vehicles import STORE as VEHICLES_STORE
from carchain.core.vehicles import Vehicle, compute_vehicle_key, is_active_vehicle
from carchain.data.batches import (
    SignedBatchHeader,
    compute_epoch,
    compute_header_hash,
    decode_signed_header,
    decode_submitted,
    validate_ciphertext,
    verify_header_signature,
)
from carchain.data.custody import compute_key_ref, decode_envelope
from carchain.gateway.journal import Journal
from carchain.sdk.client import Client
from carchain.storage.blobstore import BlobStore


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """What a gateway accepts."""

    max_upload_bytes: int = 8 * 1024 * 1024
    max_records: int = 50_000
    accepted_epoch_lag: int = 1
    max_clock_skew_ms: int = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Receipt:
    """The acknowledgement of an accepted batch."""

    header_hash: bytes
    received: int


class VehicleDirectory(Protocol):
    """Where the gateway looks vehicles up (the chain's committed state)."""

    def get_vehicle(self, vehicle_id: str) -> Vehicle:
        """Return the vehicle or raise ``NotFound``."""


class ChainDirectory:
    """Looks vehicles up in a node's committed state.

    A record read less than ``max_age_s`` ago is reused: a revocation reaches
    the gateway at most that long after its block commits. ``max_age_s=0``
    reads the chain for every batch.
    """

    def __init__(self, client: Client, max_age_s: float = 1.0) -> None:
        self.client = client
        self.max_age_s = max_age_s
        self._cache: dict[str, tuple[float, Vehicle]] = {}

    def get_vehicle(self, vehicle_id: str) -> Vehicle:
        """Return the committed vehicle record or raise ``NotFound``."""
        now = time.monotonic()
        hit = self._cache.get(vehicle_id)
        if hit is not None and now - hit[0] < self.max_age_s:
            return hit[1]
        doc = self.client.query(VEHICLES_STORE, compute_vehicle_key(vehicle_id))
        vehicle = msgspec.msgpack.decode(bytes.fromhex(doc["value"]), type=Vehicle)
        if self.max_age_s > 0:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[vehicle_id] = (now, vehicle)
        return vehicle


class Ingestor:
    """Validates and stores batches for one OEM."""

    def __init__(
        self,
        oem: str,
        custodian: bytes,
        blobs: BlobStore,
        journal: Journal,
        directory: VehicleDirectory,
        limits: IngestLimits | None = None,
    ) -> None:
        self.oem = oem
        self.custodian = custodian
        self.blobs = blobs
        self.journal = journal
        self.directory = directory
        self.limits = limits or IngestLimits()
        self._lock = threading.Lock()
        self._key_scopes: dict[bytes, tuple[str, int]] = {}

    def validate_epoch_at(self, signed: SignedBatchHeader, now_ms: int) -> None:
        """Raise ``WrongEpoch`` unless the batch's epoch is current (or recent) at ``now_ms``."""
        h = signed.header
        current = compute_epoch(now_ms)
        if not current - self.limits.accepted_epoch_lag <= h.epoch <= current:
            raise WrongEpoch("batch epoch outside the accepted window", epoch=h.epoch)
        if h.end_ms > now_ms + self.limits.max_clock_skew_ms:
            raise WrongEpoch("batch ends in the future", end_ms=h.end_ms)

    def validate_vehicle(self, vehicle_id: str) -> Vehicle:
        """Return the vehicle if it is registered, ours and active; raise a typed error if not."""
        try:
            vehicle = self.directory.get_vehicle(vehicle_id)
        except NotFound:
            raise UnregisteredVehicle("vehicle is not registered", vehicle_id=vehicle_id) from None
        if vehicle.oem != self.oem:
            raise WrongOem("vehicle belongs to another OEM", vehicle_id=vehicle_id)
        if not is_active_vehicle(vehicle):
            raise VehicleRevoked("vehicle is revoked", vehicle_id=vehicle_id)
        return vehicle

    def _validate_key_envelope(
        self, signed: SignedBatchHeader, envelope: bytes, vehicle: Vehicle
    ) -> bool:
        """Return whether the envelope must be stored; raise ``InvalidBatch`` if it is wrong."""
        h = signed.header
        if self.blobs.has(h.key_ref):
            # Stored with an earlier batch: it must be this vehicle's key for this epoch.
            scope = self._key_scopes.get(h.key_ref)
            if scope is None:
                env = decode_envelope(self.blobs.get(h.key_ref))
                scope = (env.vehicle_id, env.epoch)
                if len(self._key_scopes) > 100_000:
                    self._key_scopes.clear()
                self._key_scopes[h.key_ref] = scope
            if scope != (h.vehicle_id, h.epoch):
                raise InvalidBatch("key_ref names another vehicle's or epoch's key")
            return False
        if not envelope:
            raise InvalidBatch("the sealed epoch key is missing")
        if compute_key_ref(envelope) != h.key_ref:
            raise InvalidBatch("the sealed epoch key does not match the header's key_ref")
        env = decode_envelope(envelope)
        if env.vehicle_id != h.vehicle_id or env.epoch != h.epoch:
            raise InvalidBatch("the sealed epoch key is for another vehicle or epoch")
        if env.owner != vehicle.owner:
            raise InvalidBatch("the epoch key is not sealed to the vehicle's owner")
        if env.custodian != self.custodian:
            raise InvalidBatch("the epoch key is not sealed to this OEM's custodian")
        return True

    def process_batch_at(self, raw: bytes, now_ms: int) -> Receipt:
        """Validate an uploaded batch at time ``now_ms``, store it and return its receipt."""
        if len(raw) > self.limits.max_upload_bytes:
            raise BatchTooLarge("upload too large", size=len(raw))
        upload = decode_submitted(raw)
        signed = decode_signed_header(upload.header)
        h = signed.header
        if h.record_count > self.limits.max_records:
            raise BatchTooLarge("too many records in one batch", count=h.record_count)
        if h.ciphertext_size > self.limits.max_upload_bytes:
            raise BatchTooLarge("ciphertext too large", size=h.ciphertext_size)
        self.validate_epoch_at(signed, now_ms)
        vehicle = self.validate_vehicle(h.vehicle_id)
        verify_header_signature(signed, vehicle.public_key)
        validate_ciphertext(h, upload.ciphertext)
        header_hash = compute_header_hash(upload.header)
        with self._lock:
            store_envelope = self._validate_key_envelope(signed, upload.key_envelope, vehicle)
            if self.journal.has_batch(h.vehicle_id, h.epoch, h.seq):
                raise ReplayedBatch(
                    "batch already received", vehicle_id=h.vehicle_id, epoch=h.epoch, seq=h.seq
                )
            # Durable order: ciphertext and key, then the journal row; only then the ack.
            self.blobs.put_hashed(h.ciphertext_hash, upload.ciphertext)
            if store_envelope:
                self.blobs.put_hashed(h.key_ref, upload.key_envelope)
            try:
                received = self.journal.add_batch(
                    header_hash,
                    h.vehicle_id,
                    h.epoch,
                    h.seq,
                    h.start_ms,
                    h.end_ms,
                    h.record_count,
                    h.ciphertext_size,
                    upload.header,
                )
            except sqlite3.IntegrityError:
                raise ReplayedBatch("batch already received", vehicle_id=h.vehicle_id) from None
        return Receipt(header_hash, received)
