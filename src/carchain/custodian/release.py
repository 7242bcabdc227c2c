"""The custodian's release: find the envelopes of its wanted shares, open them, reseal
each share to the officer, post ``escrow.release`` in chunks.

The envelopes come from the vehicle's OEM gateway under the case
(``?case_id=``: the gateway serves a case's custodians the listings and key
envelopes of its scope only). The custodian opens its share with its escrow key
(for the vehicle-OEM seat without a registered escrow key: the OEM member key),
checks nothing leaves the authorised scope, and reseals the share to the case's
officer key under an HPKE info binding case, vehicle, epoch, category, index and
committee version: a box released in one case opens in no other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from carchain.core.case_records import MAX_RELEASE_ITEMS, Case, ReleaseShares, ShareItem
from carchain.core.state import KVView
from carchain.core.vehicles import get_vehicle
from carchain.crypto.signing import SigningKey
from carchain.custodian.checks import WantedShare, is_share_in_scope
from carchain.data.custody import CategoryKeyEnvelope, validate_envelope_for
from carchain.data.escrow_shares import open_share, reseal_share_for_officer
from carchain.errors import (
    CarchainError,
    DecryptionFailed,
    GatewayNotConfigured,
    InvalidKeyEnvelope,
    InvalidNonce,
    TransportError,
)

log = logging.getLogger("carchain.custodian")

KeyOfShare = tuple[str, int, str]  # vehicle, epoch, category


class Sender(Protocol):
    """Signs and sends a transaction, waiting for its block (``sdk.account.Account``)."""

    def send(self, body: msgspec.Struct) -> dict[str, Any]:
        """Send ``body``; raise the typed error the chain answers with."""
        ...


class CaseGateway(Protocol):
    """The gateway reads a custodian makes under a case (``sdk.case_gateway``)."""

    def case_batches(
        self, case_id: int, vehicle_id: str, start_ms: int, end_ms: int
    ) -> list[dict[str, Any]]:
        """Return the vehicle's anchored batches in the range, under the case."""
        ...

    def case_key_envelope(self, case_id: int, key_ref: bytes) -> bytes:
        """Return a key envelope under the case."""
        ...


@dataclass
class ReleaseContext:
    """What the release step works with."""

    view: KVView
    account: Sender
    gateways: dict[str, CaseGateway]  # by OEM member id
    share_keys: list[SigningKey]  # escrow key first, then the member key
    oems: dict[str, str] = field(default_factory=dict)  # vehicle -> OEM (cache)

    def get_gateway(self, vehicle_id: str) -> CaseGateway:
        """Return the gateway of the vehicle's OEM (``GatewayNotConfigured`` if none)."""
        if vehicle_id not in self.oems:
            self.oems[vehicle_id] = get_vehicle(self.view, vehicle_id).oem
        oem = self.oems[vehicle_id]
        if oem not in self.gateways:
            raise GatewayNotConfigured("no gateway configured for the vehicle's OEM", oem=oem)
        return self.gateways[oem]


def find_key_refs(
    ctx: ReleaseContext, case: Case, vehicle_id: str, wanted: set[KeyOfShare]
) -> dict[KeyOfShare, bytes]:
    """Return the key_ref of each wanted key of ``vehicle_id`` that a batch in the scope's
    window names (a key with no stored batch has no envelope yet: left out)."""
    scope = case.scope
    if scope is None:
        return {}
    gw = ctx.get_gateway(vehicle_id)
    docs = gw.case_batches(case.case_id, vehicle_id, scope.data_from_ms, scope.data_until_ms - 1)
    refs: dict[KeyOfShare, bytes] = {}
    for doc in docs if isinstance(docs, list) else []:
        segments = doc.get("segments") if isinstance(doc, dict) else None
        for seg in segments if isinstance(segments, list) else []:
            if not isinstance(seg, dict):
                continue
            key = (vehicle_id, doc.get("epoch"), seg.get("category"))
            ref = _parse_key_ref(seg.get("key_ref"))
            if key in wanted and key not in refs and ref is not None:
                refs[key] = ref
    return refs


def _parse_key_ref(value: object) -> bytes | None:
    # A gateway's answer is not trusted: a key_ref that is not hex is no key_ref.
    if not isinstance(value, str):
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def open_own_share(ctx: ReleaseContext, envelope: CategoryKeyEnvelope, index: int) -> bytes:
    """Return this custodian's share from an envelope (escrow key, then member key)."""
    for key in ctx.share_keys:
        try:
            return open_share(envelope, index, key)
        except DecryptionFailed:
            continue
    raise DecryptionFailed("cannot decrypt")


def compute_items(
    ctx: ReleaseContext, case: Case, wanted: list[WantedShare], failures: list[str] | None = None
) -> list[ShareItem]:
    """Return the resealed items of every wanted share whose envelope the gateway holds;
    a vehicle or share that fails (a typed error other than transport) is left out and
    its error code appended to ``failures``: one gateway's bad answer holds up no other."""
    failures = [] if failures is None else failures
    by_vehicle: dict[str, list[WantedShare]] = {}
    for w in wanted:
        if is_share_in_scope(case, w):  # the last check: nothing outside the scope opens
            by_vehicle.setdefault(w.vehicle_id, []).append(w)
    items: list[ShareItem] = []
    for vehicle_id, shares in by_vehicle.items():
        try:
            items.extend(compute_vehicle_items(ctx, case, vehicle_id, shares, failures))
        except TransportError:
            raise
        except CarchainError as exc:  # one OEM's gateway does not hold up the others
            log.warning("custodian case %d: a vehicle's shares failed: %s", case.case_id, exc.code)
            failures.append(exc.code)
    return items


def compute_vehicle_items(
    ctx: ReleaseContext,
    case: Case,
    vehicle_id: str,
    shares: list[WantedShare],
    failures: list[str],
) -> list[ShareItem]:
    """Return the resealed items of one vehicle's wanted shares; a share whose envelope
    is not the one its key_ref names, or does not open, is left out (logged by code)."""
    keys = {(w.vehicle_id, w.epoch, w.category) for w in shares}
    refs = find_key_refs(ctx, case, vehicle_id, keys)
    gw = ctx.get_gateway(vehicle_id)
    items: list[ShareItem] = []
    for w in shares:
        ref = refs.get((w.vehicle_id, w.epoch, w.category))
        if ref is None:
            continue
        try:
            items.append(compute_item(ctx, case, w, gw.case_key_envelope(case.case_id, ref), ref))
        except TransportError:
            raise
        except CarchainError as exc:
            log.warning("custodian case %d: a share was left out: %s", case.case_id, exc.code)
            failures.append(exc.code)
    return items


def compute_item(
    ctx: ReleaseContext, case: Case, w: WantedShare, raw: bytes, ref: bytes
) -> ShareItem:
    """Return one share resealed to the officer, from the envelope ``ref`` names; raise
    ``InvalidKeyEnvelope`` for an envelope of another key or committee version."""
    envelope = validate_envelope_for(raw, ref, w.vehicle_id, w.epoch, w.category)
    if envelope.committee_version != w.committee_version:
        raise InvalidKeyEnvelope(
            "envelope is not sealed to the epoch's committee", category=w.category[:40]
        )
    share = open_own_share(ctx, envelope, w.index)
    box = reseal_share_for_officer(
        share, case.case_id, w.vehicle_id, w.epoch, w.category,
        w.committee_version, w.index, case.officer_key,
    )  # fmt: skip
    return ShareItem(w.vehicle_id, w.epoch, w.category, w.index, box)


def iter_chunks(items: list[ShareItem]) -> Iterator[list[ShareItem]]:
    """Yield the items in chunks of at most ``MAX_RELEASE_ITEMS``."""
    for i in range(0, len(items), MAX_RELEASE_ITEMS):
        yield items[i : i + MAX_RELEASE_ITEMS]


def post_items(ctx: ReleaseContext, case_id: int, items: list[ShareItem]) -> int:
    """Post ``escrow.release`` for the items, chunk by chunk; return how many were posted.

    A nonce refused because the member's other signer (the person approving cases with
    the same key) took it meanwhile is retried once at the nonce the node expects (the
    refused transaction changed nothing); a second refusal goes up to the loop."""
    posted = 0
    for chunk in iter_chunks(items):
        body = ReleaseShares(case_id, chunk)
        try:
            ctx.account.send(body)
        except InvalidNonce:
            log.info("custodian case %d: nonce taken meanwhile, sent again", case_id)
            ctx.account.send(body)
        posted += len(chunk)
    return posted
