"""Ingest: accept a vehicle's batch only if every check passes, then store it durably.

Checks, in order, all before anything is written: size, encoding, header shape
and epoch window, vehicle registered / belongs to this OEM / not revoked,
signature, ciphertext length and hash, ownership period of the batch's time
range, no category key of the batch's time erased (``shred_window``), category key
envelopes (for every segment: sealed to the owner at the batch's time, and to
this OEM's custodian if and only if the category is not sensitive; escrow shares
exactly the seats of the escrow committee in force for the epoch if it escrows the
category, none otherwise (``escrow_directory``); stored by key_ref, once), replay.
A rejected batch raises a typed error and leaves no trace; an accepted one is
written ciphertext first (fsynced), journal row last, and only then acknowledged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from carchain.core.vehicles import (
    OwnerPeriod,
    Vehicle,
    is_active_vehicle,
)
from carchain.data.batches import (
    SignedBatchHeader,
    SubmittedBatch,
    compute_epoch,
    compute_header_hash,
    decode_signed_header,
    decode_submitted,
    validate_ciphertext,
    verify_header_signature,
)
from carchain.data.categories import is_sensitive
from carchain.data.custody import (
    CategoryKeyEnvelope,
    compute_key_ref,
    decode_key_envelope,
    validate_envelope_for,
)
from carchain.data.escrow_shares import validate_escrow_for
from carchain.data.segments import SegmentHeader
from carchain.errors import (
    BatchTooLarge,
    CarchainError,
    InvalidBatch,
    InvalidKeyEnvelope,
    NotFound,
    ReplayedBatch,
    UnregisteredVehicle,
    VehicleRevoked,
    WrongEpoch,
    WrongOem,
)
from carchain.gateway.escrow_directory import EscrowDirectory, NoEscrowCommittee
from carchain.gateway.group_commit import GroupCommitter
from carchain.gateway.journal import Journal, NewBatch
from carchain.storage.blobstore import BlobStore

MAX_SCOPE_ROWS = 1_000_000
ERASED = "a category key of this vehicle's day was erased: its data is not accepted"
MAX_TIME_MS = 2**63 - 1

log = logging.getLogger("carchain.gateway.ingest")


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """What a gateway accepts."""

    max_upload_bytes: int = 8 * 1024 * 1024
    max_records: int = 50_000
    accepted_epoch_lag: int = 1
    max_clock_skew_ms: int = 5 * 60 * 1000
    max_group_batches: int = 256  # batches in one group upload (``POST /batches/group``)
    max_group_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Receipt:
    """The acknowledgement of an accepted batch."""

    header_hash: bytes
    received: int


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    """An upload that passed the checks made without the lock, decoded."""

    upload: SubmittedBatch
    signed: SignedBatchHeader
    period: OwnerPeriod
    header_hash: bytes


PendingKey = tuple[bytes, "KeyScope"]
"""A key envelope a group accepted and will store: its bytes and what it is for."""

Outcome = Receipt | CarchainError
"""What one upload of a group came to: its receipt or the typed error refusing it."""


def compute_new_batch(c: CheckedUpload) -> NewBatch:
    """Return the journal row of an accepted upload."""
    h = c.signed.header
    return NewBatch(
        c.header_hash, h.vehicle_id, h.epoch, h.seq, h.start_ms, h.end_ms, h.record_count,
        h.ciphertext_size, c.upload.header,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class KeyScope:
    """What a stored category key envelope is for and to whom it is sealed."""

    vehicle_id: str
    epoch: int
    category: str
    owner: bytes
    custodian: bytes


class VehicleDirectory(Protocol):
    """Where the gateway looks vehicles up (the chain's committed state)."""

    def get_vehicle(self, vehicle_id: str, not_before_ms: int = 0) -> Vehicle:
        """Return the vehicle (read after wall time ``not_before_ms``) or raise ``NotFound``."""

    def get_owner_period(self, vehicle: Vehicle, time_ms: int) -> OwnerPeriod:
        """Return the vehicle's ownership period holding ``time_ms``.

        Times before the registration belong to the first owner (the car may
        record before its registration block, e.g. at the factory).
        """


def validate_key_since(signed: SignedBatchHeader, vehicle: Vehicle) -> None:
    """Raise ``InvalidBatch`` if the batch ended before its signing key (the vehicle's
    current one) was rotated in: ``verify`` would refuse every record of it
    (``key_not_valid_for_batch``), so it is refused here, before it is anchored.
    The first key also covers time before registration (cars record at the factory).
    """
    h = signed.header
    if vehicle.key_version > 1 and vehicle.key_since_ms > h.end_ms:
        raise InvalidBatch(
            "batch ended before its signing key was rotated in: sign it with the key "
            "the vehicle had then",
            vehicle_id=h.vehicle_id,
            key_version=vehicle.key_version,
            key_since_ms=vehicle.key_since_ms,
        )


def find_key_refs(
    journal: Journal, vehicle_id: str, categories: list[str], first_ms: int, last_ms: int
) -> tuple[list[int], list[bytes]]:
    """Return the epochs and key refs of the stored batches' segments of ``categories``
    overlapping the vehicle's (inclusive) window ``first_ms`` to ``last_ms`` (the epochs:
    those with such a segment, so a window of any width costs only the batches it holds)."""
    wanted = set(categories)
    epochs: set[int] = set()
    refs: set[bytes] = set()
    for row in journal.find_batches(vehicle_id, first_ms, last_ms, MAX_SCOPE_ROWS):
        h = decode_signed_header(row.header).header
        got = {s.key_ref for s in h.segments if s.category in wanted}
        if got:
            epochs.add(h.epoch)
            refs |= got
    return sorted(epochs), sorted(refs)


class Ingestor:
    """Validates and stores batches for one OEM."""

    def __init__(
        self,
        oem: str,
        custodian: bytes,
        blobs: BlobStore,
        keys: BlobStore,
        journal: Journal,
        directory: VehicleDirectory,
        limits: IngestLimits | None = None,
        escrow: EscrowDirectory | None = None,
    ) -> None:
        self.oem = oem
        self.escrow: EscrowDirectory = escrow or NoEscrowCommittee()
        self.custodian = custodian
        self.blobs = blobs
        self.keys = keys
        self.journal = journal
        self.directory = directory
        self.limits = limits or IngestLimits()
        self._lock = threading.Lock()
        self._key_scopes: dict[bytes, KeyScope] = {}
        # Concurrent requests' checked uploads are stored together (one flush for all).
        self.committer: GroupCommitter[CheckedUpload, Outcome] = GroupCommitter(self._store_locked)

    def validate_epoch_at(self, signed: SignedBatchHeader, now_ms: int) -> None:
        """Raise ``WrongEpoch`` unless the batch's epoch is current (or recent) at ``now_ms``."""
        h = signed.header
        current = compute_epoch(now_ms)
        if not current - self.limits.accepted_epoch_lag <= h.epoch <= current:
            raise WrongEpoch("batch epoch outside the accepted window", epoch=h.epoch)
        if h.end_ms > now_ms + self.limits.max_clock_skew_ms:
            raise WrongEpoch("batch ends in the future", end_ms=h.end_ms)

    def validate_vehicle(self, vehicle_id: str, not_before_ms: int = 0) -> Vehicle:
        """Return the vehicle if it is registered, ours and active; raise a typed error if not."""
        try:
            vehicle = self.directory.get_vehicle(vehicle_id, not_before_ms)
        except NotFound:
            raise UnregisteredVehicle("vehicle is not registered", vehicle_id=vehicle_id) from None
        if vehicle.oem != self.oem:
            raise WrongOem("vehicle belongs to another OEM", vehicle_id=vehicle_id)
        if not is_active_vehicle(vehicle):
            raise VehicleRevoked("vehicle is revoked", vehicle_id=vehicle_id)
        return vehicle

    def validate_owner_period(self, signed: SignedBatchHeader, vehicle: Vehicle) -> OwnerPeriod:
        """Return the one ownership period that holds the batch's whole time range.

        A batch that straddles a transfer is refused: its records from the
        transfer on belong to the new owner and must be under a new epoch key.
        """
        h = signed.header
        period = self.directory.get_owner_period(vehicle, h.start_ms)
        if h.end_ms >= period.until_ms:
            raise InvalidBatch(
                "batch time range straddles a change of owner: split it at the transfer "
                "and seal the part from then on to the new owner",
                vehicle_id=h.vehicle_id,
                transfer_ms=period.until_ms,
            )
        return period

    def _get_key_scope(
        self, signed: SignedBatchHeader, segment: SegmentHeader, uploaded: dict[bytes, bytes]
    ) -> tuple[KeyScope, bytes | None]:
        """Return the scope of a segment's key_ref, and the envelope if it must be stored."""
        h = signed.header
        scope = self._key_scopes.get(segment.key_ref)
        if scope is not None:
            return scope, None
        if self.keys.has(segment.key_ref):
            # Only envelopes live in the key namespace: a ciphertext never answers here.
            env = decode_key_envelope(self.keys.get(segment.key_ref))
            raw = None
        else:
            raw = uploaded.get(segment.key_ref)
            if raw is None:
                raise InvalidKeyEnvelope(
                    "the sealed category key is missing", category=segment.category
                )
            env = validate_envelope_for(
                raw, segment.key_ref, h.vehicle_id, h.epoch, segment.category
            )
            self.validate_escrow(env)
        scope = KeyScope(env.vehicle_id, env.epoch, env.category, env.owner, env.custodian)
        if raw is None:
            if len(self._key_scopes) > 100_000:
                self._key_scopes.clear()
            self._key_scopes[segment.key_ref] = scope
        return scope, raw

    def validate_escrow(self, env: CategoryKeyEnvelope) -> None:
        """Raise ``EscrowMismatch`` unless the envelope's escrow shares are exactly the
        seats of the committee in force for its epoch (this OEM's key on its seat)."""
        committee = self.escrow.get_committee(env.epoch)
        seat_keys: list[bytes] = []
        if committee is not None and env.category in committee.categories:
            seat_keys = [self.escrow.get_seat_key(c, self.oem) for c in committee.custodians]
        validate_escrow_for(env, committee, seat_keys)

    def _validate_key_envelopes(
        self,
        signed: SignedBatchHeader,
        envelopes: list[bytes],
        period: OwnerPeriod,
        pending: dict[bytes, PendingKey] | None = None,
    ) -> dict[bytes, PendingKey]:
        """Check every segment's envelope for THIS batch; return those to store by key_ref
        with their scopes (``pending``: envelopes a batch accepted earlier in the same
        group carried, checked then and not stored yet: their scope is reused)."""
        h = signed.header
        uploaded = {compute_key_ref(e): e for e in envelopes}
        if not set(uploaded) <= {s.key_ref for s in h.segments}:
            raise InvalidKeyEnvelope("an uploaded envelope is named by no segment")
        to_store: dict[bytes, PendingKey] = {}
        for segment in h.segments:
            known = (pending or {}).get(segment.key_ref)
            if known is not None:
                scope, raw = known[1], None
            else:
                scope, raw = self._get_key_scope(signed, segment, uploaded)
            self._validate_key_scope(signed, segment, scope, period)
            if raw is not None:
                to_store[segment.key_ref] = (raw, scope)
        return to_store

    def _validate_key_scope(
        self,
        signed: SignedBatchHeader,
        segment: SegmentHeader,
        scope: KeyScope,
        period: OwnerPeriod,
    ) -> None:
        h = signed.header
        cat = segment.category
        if (scope.vehicle_id, scope.epoch, scope.category) != (h.vehicle_id, h.epoch, cat):
            raise InvalidKeyEnvelope("the sealed key is for another vehicle, epoch or category")
        if scope.owner != period.owner:
            raise InvalidKeyEnvelope(
                "the category key is not sealed to the vehicle's owner at the batch's time",
                vehicle_id=h.vehicle_id,
                category=cat,
            )
        expected = b"" if is_sensitive(cat) else self.custodian
        if scope.custodian != expected:
            raise InvalidKeyEnvelope(
                "a sensitive key is sealed to a custodian, or another key not to this OEM's",
                category=cat,
            )

    def shred_window(
        self, vehicle_id: str, categories: list[str], first_ms: int, last_ms: int
    ) -> tuple[list[int], list[bytes]]:
        """Crypto-shred the vehicle's keys of ``categories`` for the (inclusive) window
        ``first_ms`` to ``last_ms`` (whole days, clipped to one owner's period): record
        the window as erased (durably, first), then delete every envelope of its batches
        and forget their cached scopes; return the epochs and the refs of the envelopes
        found. The ciphertext stays, unreadable.

        From the record on, no upload of that window and categories is accepted (a car
        re-sending the erased envelope, or a late batch of an erased day), and as it is
        made under the ingest lock no batch slips in between the scan and the deletes.
        """
        with self._lock:
            self.journal.add_shredded_window(vehicle_id, categories, first_ms, last_ms)
            epochs, refs = find_key_refs(self.journal, vehicle_id, categories, first_ms, last_ms)
            for ref in refs:
                self._key_scopes.pop(ref, None)
                self.keys.delete(ref)
        return epochs, refs

    def validate_not_shredded(self, signed: SignedBatchHeader) -> None:
        """Raise ``InvalidKeyEnvelope`` if a category key of the batch's time was erased."""
        h = signed.header
        cats = [s.category for s in h.segments]
        if self.journal.is_shredded(h.vehicle_id, cats, h.start_ms, h.end_ms):
            raise InvalidKeyEnvelope(ERASED, vehicle_id=h.vehicle_id)

    def process_batch_at(self, raw: bytes, now_ms: int) -> Receipt:
        """Validate an uploaded batch at time ``now_ms``, store it and return its receipt."""
        checked = self.check_upload_at(raw, now_ms)
        (outcome,) = self.committer.submit([checked])
        if isinstance(outcome, CarchainError):
            raise outcome
        return outcome

    def process_batches_at(self, raws: Sequence[bytes], now_ms: int) -> list[Outcome]:
        """Validate and store several uploads at time ``now_ms`` as one group; return,
        in order, each one's receipt or the typed error that refused it (a refused
        batch leaves no trace and does not stop the others). The accepted ones are
        durable together: their ciphertexts and keys written, then one journal
        transaction, and only then the receipts (``Receipt``) are returned."""
        if len(raws) > self.limits.max_group_batches:
            raise BatchTooLarge("too many batches in one upload", count=len(raws))
        checked: list[CheckedUpload | CarchainError] = []
        for raw in raws:
            try:
                checked.append(self.check_upload_at(raw, now_ms))
            except CarchainError as exc:
                checked.append(exc)
        todo = [c for c in checked if isinstance(c, CheckedUpload)]
        stored = iter(self.committer.submit(todo) if todo else [])
        return [c if isinstance(c, CarchainError) else next(stored) for c in checked]

    def check_upload_at(self, raw: bytes, now_ms: int) -> CheckedUpload:
        """Run every check of an upload that needs no lock (all but erasure, key
        envelopes and replay); return it decoded, or raise the typed error."""
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
        vehicle = self.validate_vehicle(h.vehicle_id, h.end_ms)
        verify_header_signature(signed, vehicle.public_key)
        validate_key_since(signed, vehicle)
        validate_ciphertext(h, upload.ciphertext)
        period = self.validate_owner_period(signed, vehicle)
        return CheckedUpload(upload, signed, period, compute_header_hash(upload.header))

    def _check_locked(
        self, c: CheckedUpload, taken: set[tuple[str, int, int]], pending: dict[bytes, PendingKey]
    ) -> dict[bytes, PendingKey]:
        """Run the checks made under the lock (erasure, key envelopes, replay), also
        against what the group accepted before it (identities ``taken``, envelopes
        ``pending``); return the envelopes to store."""
        h = c.signed.header
        self.validate_not_shredded(c.signed)
        uploaded = c.upload.key_envelopes
        envelopes = self._validate_key_envelopes(c.signed, uploaded, c.period, pending)
        identity = (h.vehicle_id, h.epoch, h.seq)
        if identity in taken or self.journal.has_batch(*identity):
            raise ReplayedBatch(
                "batch already received", vehicle_id=h.vehicle_id, epoch=h.epoch, seq=h.seq
            )
        taken.add(identity)
        return envelopes

    def _store_locked(self, group: Sequence[CheckedUpload]) -> list[Outcome]:
        """Store a group (the committer's store: one at a time, under the lock)."""
        with self._lock:
            return self._store_checked(group)

    def _store_checked(self, group: Sequence[CheckedUpload]) -> list[Outcome]:
        """Check under the lock and store the group (the caller holds ``_lock``)."""
        outcomes: list[Outcome | None] = []
        accepted: list[CheckedUpload] = []
        envelopes: dict[bytes, PendingKey] = {}
        taken: set[tuple[str, int, int]] = set()
        for c in group:
            try:
                envelopes |= self._check_locked(c, taken, envelopes)
            except CarchainError as exc:
                outcomes.append(exc)
                continue
            except Exception as exc:  # a bug on one upload's data fails it, not its group
                name = type(exc).__name__  # the class only: a message may quote data
                log.error("ingest check failed unexpectedly: %s", name)
                outcomes.append(CarchainError(f"unexpected {name}"))
                continue
            outcomes.append(None)
            accepted.append(c)
        # Durable order: ciphertexts and keys, then the journal rows; only then the acks.
        self.blobs.put_many_hashed(
            [(c.signed.header.ciphertext_hash, c.upload.ciphertext) for c in accepted]
        )
        self.keys.put_many_hashed([(ref, raw) for ref, (raw, _) in envelopes.items()])
        self._remember_scopes({ref: scope for ref, (_, scope) in envelopes.items()})
        recorded = self._record(accepted)
        self._forget_erased_envelopes(accepted, recorded, set(envelopes))
        receipts = iter(recorded)
        return [o if o is not None else next(receipts) for o in outcomes]

    def _forget_erased_envelopes(
        self, accepted: Sequence[CheckedUpload], recorded: Sequence[Outcome], stored: set[bytes]
    ) -> None:
        """Delete the envelopes this group stored for batches the journal then refused
        because another gateway instance erased their window meanwhile (its scan ran
        before they were recorded, so it could not find them). Windows are whole days
        of one owner, as epoch keys are, so such an envelope serves no kept batch."""
        for c, outcome in zip(accepted, recorded, strict=True):
            if not isinstance(outcome, InvalidKeyEnvelope):  # refused by _record: erased
                continue
            h = c.signed.header
            erased = [s.category for s in h.segments if self.journal.is_shredded(
                h.vehicle_id, [s.category], h.start_ms, h.end_ms)]  # fmt: skip
            for segment in h.segments:
                if segment.category in erased and segment.key_ref in stored:
                    self._key_scopes.pop(segment.key_ref, None)
                    self.keys.delete(segment.key_ref)

    def _remember_scopes(self, scopes: dict[bytes, KeyScope]) -> None:
        """Keep the scopes of envelopes just stored (as a later read of them would)."""
        if len(self._key_scopes) + len(scopes) > 100_000:
            self._key_scopes.clear()
        self._key_scopes |= scopes

    def _record(self, accepted: Sequence[CheckedUpload]) -> list[Outcome]:
        """Add the accepted batches to the journal in one transaction; return receipts
        (a batch whose identity the journal already has: ``ReplayedBatch``)."""
        rows = [compute_new_batch(c) for c in accepted]
        cats = [[s.category for s in c.signed.header.segments] for c in accepted]
        try:
            received = self.journal.add_unerased_batches(rows, cats)
        except sqlite3.IntegrityError:
            if len(rows) == 1:
                vid = rows[0].vehicle_id
                return [ReplayedBatch("batch already received", vehicle_id=vid)]
            return [o for c in accepted for o in self._record([c])]
        return [
            Receipt(r.header_hash, n)
            if n is not None
            else InvalidKeyEnvelope(ERASED, vehicle_id=r.vehicle_id)
            for r, n in zip(rows, received, strict=True)
        ]
