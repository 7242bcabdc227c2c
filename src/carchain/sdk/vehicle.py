"""The vehicle edge SDK: minimise, batch, seal and sign, in the car.

``VehicleRecorder`` takes typed records as the car produces them, applies the
minimisation policy, and closes a batch when its time window or size is full or
the epoch changes. A closed batch is a ``SubmittedBatch``: signed header, one
AES-256-GCM segment per category present, and the envelopes of those categories'
keys. No plaintext leaves here. Epoch keys are drawn fresh per epoch and kept
only in the recorder (in a real car: its secure element); they never leave it.
Each vehicle x epoch x category key derived from one is sealed to the owner and,
for non-sensitive categories only, to the OEM custodian (``custody``); if the
escrow committee in force for the epoch escrows the category (every sensitive
one), it is also split k-of-n and each share sealed to one seat (``escrow``: the
committee is read from the chain once per epoch, ``sdk.escrow_seats``). That is
per vehicle x epoch x category work, done once, not per record.

A transfer starts a new key epoch: when the car learns of it
(``process_transfer``), it closes what it recorded before the transfer under
the old key, forgets every epoch key it holds, and seals fresh ones to the new
owner, so the previous owner can open nothing recorded from the transfer on.
Header times are floored to the policy's time precision, as the records are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from carchain.crypto.kdf import compute_category_key, compute_pseudonym_key
from carchain.crypto.signing import SigningKey
from carchain.data.batches import (
    BatchIdentity,
    SubmittedBatch,
    compute_epoch,
    compute_header_hash,
    encode_submitted,
    seal_batch,
)
from carchain.data.custody import EPOCH_KEY_SIZE, compute_key_ref, seal_category_key
from carchain.data.escrow_shares import seal_shares
from carchain.data.minimisation import (
    DEFAULT_POLICY,
    MinimisationPolicy,
    apply_policy_with_categories,
    compute_coarse_time,
)
from carchain.data.records import (
    Record,
    compute_record_categories,
    decode_record,
    encode_record,
)
from carchain.sdk.escrow_seats import EscrowSource

DEFAULT_WINDOW_MS = 5 * 60 * 1000
DEFAULT_MAX_RECORDS = 2_000
DEFAULT_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    """A closed batch ready to send: its identity, size and the encoded upload."""

    header_hash: bytes
    vehicle_id: str
    epoch: int
    seq: int
    record_count: int
    plaintext_bytes: int
    body: bytes

    @property
    def size(self) -> int:
        """Return the upload's size in bytes."""
        return len(self.body)


@dataclass
class _Open:
    epoch: int
    start_ms: int
    end_ms: int
    records: list[bytes] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    size: int = 0
    categories: set[str] = field(default_factory=set)


class VehicleRecorder:
    """Turns one vehicle's records into sealed, signed batches."""

    def __init__(
        self,
        vehicle_id: str,
        key: SigningKey,
        owner: bytes,
        custodian: bytes,
        policy: MinimisationPolicy = DEFAULT_POLICY,
        *,
        window_ms: int = DEFAULT_WINDOW_MS,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        owner_since_ms: int = 0,
        escrow: EscrowSource | None = None,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.escrow = escrow
        self.key = key
        self.owner = owner
        self.owner_since_ms = owner_since_ms
        self.custodian = custodian
        self.policy = policy
        self.window_ms = window_ms
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._epoch_keys: dict[int, bytes] = {}
        self._category_keys: dict[tuple[int, str], bytes] = {}
        self._envelopes: dict[tuple[int, str], bytes] = {}
        self._seq: dict[int, int] = {}
        self._pseudonym_keys: dict[int, bytes] = {}
        self._open: _Open | None = None
        self.dropped = 0

    def get_epoch_key(self, epoch: int) -> bytes:
        """Return this vehicle's key for ``epoch``, drawing it on first use."""
        k = self._epoch_keys.get(epoch)
        if k is None:
            k = os.urandom(EPOCH_KEY_SIZE)
            self._epoch_keys[epoch] = k
        return k

    def restore_epoch(
        self, epoch: int, epoch_key: bytes, next_seq: int, envelopes: Mapping[str, bytes]
    ) -> None:
        """Take back an epoch's key, its next batch seq and its sealed envelopes (a car
        restarting the same day: ``sdk/car_home.py``), so no seq is used twice and each
        category key keeps the one envelope (``key_ref``) it was first sealed in."""
        if len(epoch_key) != EPOCH_KEY_SIZE or next_seq < 0:
            raise ValueError("an epoch key is 32 bytes and a seq is not negative")
        self._epoch_keys[epoch] = epoch_key
        self._seq[epoch] = max(next_seq, self._seq.get(epoch, 0))
        for category, envelope in envelopes.items():
            key = compute_category_key(epoch_key, self.vehicle_id, epoch, category)
            self._category_keys[(epoch, category)] = key
            self._envelopes[(epoch, category)] = envelope

    def restore_next_seq(self, epoch: int, next_seq: int) -> None:
        """Never number a batch of ``epoch`` below ``next_seq`` (the counter survives a
        transfer, which forgets the keys but not the seqs the gateway has seen)."""
        self._seq[epoch] = max(next_seq, self._seq.get(epoch, 0))

    def get_next_seq(self, epoch: int) -> int:
        """Return the seq the next batch of ``epoch`` gets."""
        return self._seq.get(epoch, 0)

    def get_epoch_state(self) -> dict[int, tuple[bytes, dict[str, bytes]]]:
        """Return, per epoch whose key the recorder holds, the key and its envelopes by
        category (what a car home persists, encrypted)."""
        return {
            epoch: (
                key,
                {c: env for (e, c), env in self._envelopes.items() if e == epoch},
            )
            for epoch, key in self._epoch_keys.items()
        }

    def get_category_key(self, epoch: int, category: str) -> tuple[bytes, bytes]:
        """Return ``(category key, its envelope)`` for ``epoch``, sealing it on first use."""
        scope = (epoch, category)
        k = self._category_keys.get(scope)
        if k is None:
            k = compute_category_key(self.get_epoch_key(epoch), self.vehicle_id, epoch, category)
            self._envelopes[scope] = self.seal_category_key(k, epoch, category)
            self._category_keys[scope] = k
        return k, self._envelopes[scope]

    def seal_category_key(self, category_key: bytes, epoch: int, category: str) -> bytes:
        """Return the envelope of a category key: owner, custodian (non-sensitive) and,
        if committee(epoch) escrows the category, one sealed share per seat."""
        seats = self.escrow.get_escrow_seats(epoch) if self.escrow is not None else None
        if seats is None or category not in seats.committee.categories:
            return seal_category_key(
                category_key, self.vehicle_id, epoch, category, self.owner, self.custodian
            )
        shares = seal_shares(
            category_key, self.vehicle_id, epoch, category, seats.committee, seats.seat_keys
        )
        return seal_category_key(
            category_key,
            self.vehicle_id,
            epoch,
            category,
            self.owner,
            self.custodian,
            committee_version=seats.committee.version,
            escrow=shares,
        )

    def process_transfer(self, new_owner: bytes, since_ms: int) -> list[Upload]:
        """Re-key for a new owner from ``since_ms`` (the transfer's block time) on.

        Returns the batch of what was recorded before ``since_ms``, sealed to
        the previous owner. Records from ``since_ms`` on stay open and go out
        under a fresh epoch key sealed to ``new_owner``; every old epoch key is
        forgotten. After several transfers, call it once per transfer, oldest
        first (the chain's owner history), so each period gets its own key.
        """
        if since_ms < self.owner_since_ms:
            raise ValueError("a transfer cannot predate the current ownership")
        cur, self._open = self._open, None
        entries = [] if cur is None else list(zip(cur.times, cur.records, strict=True))
        before = [e for e in entries if e[0] < since_ms]
        after = [e for e in entries if e[0] >= since_ms]
        closed: list[Upload] = []
        if cur is not None and before:
            self._open = _reopen(cur.epoch, before)
            closed = self.flush()
        self._epoch_keys.clear()
        self._category_keys.clear()
        self._envelopes.clear()
        self._pseudonym_keys.clear()
        self.owner, self.owner_since_ms = new_owner, since_ms
        if cur is not None and after:
            self._open = _reopen(cur.epoch, after)
        return closed

    def add_at(self, record: Record, now_ms: int) -> list[Upload]:
        """Minimise and add a record collected at ``now_ms``; return batches it closed."""
        if now_ms < self.owner_since_ms:
            # Recorded before the transfer: its key is gone, the new owner may not read it.
            self.dropped += 1
            return []
        closed: list[Upload] = []
        epoch = compute_epoch(now_ms)
        cur = self._open
        if cur is not None and (epoch != cur.epoch or now_ms - cur.start_ms >= self.window_ms):
            closed.extend(self.flush())
            cur = None
        pseudonym_key = self._pseudonym_keys.get(epoch)
        if pseudonym_key is None:
            pseudonym_key = compute_pseudonym_key(self.get_epoch_key(epoch), self.vehicle_id, epoch)
            self._pseudonym_keys[epoch] = pseudonym_key
        result = apply_policy_with_categories(record, self.policy, pseudonym_key)
        if result is None:
            self.dropped += 1
            return closed
        minimised, categories = result
        raw = encode_record(minimised)
        if cur is None:
            cur = self._open = _Open(epoch, now_ms, now_ms)
        _append(cur, raw, now_ms, categories)
        if len(cur.records) >= self.max_records or cur.size >= self.max_bytes:
            closed.extend(self.flush())
        return closed

    def flush(self) -> list[Upload]:
        """Close the open batch, if any, and return it. If sealing its keys fails (e.g.
        the committee cannot be read), the batch stays open for the next flush."""
        cur = self._open
        if cur is None or not cur.records:
            self._open = None
            return []
        keys = {c: self.get_category_key(cur.epoch, c) for c in sorted(cur.categories)}
        self._open = None
        seq = self._seq.get(cur.epoch, 0)
        self._seq[cur.epoch] = seq + 1
        # No finer time in the header than in the records, and never before the owner's start.
        start_ms = max(compute_coarse_time(self.policy, cur.start_ms), self.owner_since_ms)
        end_ms = max(compute_coarse_time(self.policy, cur.end_ms), start_ms)
        sealed = seal_batch(
            cur.records,
            key=self.key,
            batch=BatchIdentity(self.vehicle_id, cur.epoch, seq, start_ms, end_ms),
            category_keys={c: k for c, (k, _) in keys.items()},
            key_refs={c: compute_key_ref(env) for c, (_, env) in keys.items()},
        )
        envelopes = [env for _, env in keys.values()]
        body = encode_submitted(SubmittedBatch(sealed.header, sealed.ciphertext, envelopes))
        return [
            Upload(
                header_hash=compute_header_hash(sealed.header),
                vehicle_id=self.vehicle_id,
                epoch=cur.epoch,
                seq=seq,
                record_count=len(cur.records),
                plaintext_bytes=cur.size,
                body=body,
            )
        ]


def _reopen(epoch: int, entries: list[tuple[int, bytes]]) -> _Open:
    batch = _Open(epoch, entries[0][0], entries[0][0])
    for t, raw in entries:
        cats = {c.value for c in compute_record_categories(decode_record(raw))}
        _append(batch, raw, t, cats)
    return batch


def _append(batch: _Open, raw: bytes, time_ms: int, categories: set[str]) -> None:
    batch.records.append(raw)
    batch.times.append(time_ms)
    batch.size += len(raw)
    batch.end_ms = max(batch.end_ms, time_ms)
    batch.categories.update(categories)
