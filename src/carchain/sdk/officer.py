"""The officer's side of a case: collect the released shares, combine k per key, fetch the
scoped data through the gateway, check it against the chain, decrypt, sign receipts.

``fetch_case_data`` reads the case and its share releases on chain, opens every
share with the officer key (each box opens only for this case, vehicle, epoch,
category, share index and committee version), and for each batch of the
authorised scope the vehicle's OEM gateway lists under the case: checks the batch
header against its anchor on chain (``verify_batch_anchored``, the check a
requester of a release makes), that it is of a scoped vehicle, epoch and window,
fetches the key envelope the verified header names, combines the shares of that
key — at least the threshold k of committee(epoch), checked against the
envelope's ``key_check``; with fewer the key is missing, never guessed — and
opens exactly the scoped category segments.

``post_case_receipts`` signs ``case.receipt`` per vehicle (batches chunked) for the
batches decrypted, skipping those already receipted.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from carchain.core.case_records import (
    Case,
    CaseReceipt,
    CaseScope,
    CaseState,
    EscrowCommittee,
    ReceiptItemRef,
)
from carchain.core.state import KVView
from carchain.core.vehicles import get_vehicle
from carchain.crypto.signing import SigningKey
from carchain.data.batches import compute_batch_segment_key, get_segment, open_segment
from carchain.data.custody import CategoryKeyEnvelope, validate_envelope_for
from carchain.data.escrow_shares import combine_category_key, open_officer_share
from carchain.errors import (
    DecryptionFailed,
    InvalidProof,
    InvalidState,
    KeyCheckMismatch,
    Unauthorized,
)
from carchain.sdk import cases
from carchain.sdk.account import Account, get_chain_id
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.requester import ReleasedSegment, compute_receipt_items, verify_batch_anchored

KeyOfShare = tuple[str, int, str]  # vehicle, epoch, category
MAX_SUBSETS = 13_000  # C(16, 8) = 12870: every k-subset of a 16-seat committee
MAX_RECEIPT_ITEMS = 256  # 1024 allowed, but 1024 items pass the 64 KiB tx limit


@dataclass(frozen=True, slots=True)
class CaseSegment:
    """One decrypted segment of a case: the vehicle, the epoch and the segment itself."""

    vehicle_id: str
    epoch: int
    segment: ReleasedSegment


@dataclass
class CaseFetch:
    """What the officer holds after a fetch: decrypted segments and the keys it lacks."""

    case: Case
    scope: CaseScope
    chain_id: str
    height: int
    segments: list[CaseSegment] = field(default_factory=list)
    missing_keys: list[KeyOfShare] = field(default_factory=list)  # fewer than k shares


def get_committee_getter(view: KVView) -> Callable[[int], EscrowCommittee | None]:
    """Return a cached committee(epoch) reader."""
    from carchain.core.escrow_committee import get_committee_for_epoch

    cache: dict[int, EscrowCommittee | None] = {}

    def get(epoch: int) -> EscrowCommittee | None:
        if epoch not in cache:
            cache[epoch] = get_committee_for_epoch(view, epoch)
        return cache[epoch]

    return get


def collect_shares(
    view: KVView,
    case: Case,
    officer_key: SigningKey,
    committee_of: Callable[[int], EscrowCommittee | None],
) -> dict[KeyOfShare, dict[int, bytes]]:
    """Return the officer's opened shares of the case, by key and share index (a box
    that does not open for this officer and case is left out: one custodian posting
    garbage must not stop the decryption the other custodians' shares allow)."""
    out: dict[KeyOfShare, dict[int, bytes]] = {}
    for release in cases.get_releases(view, case.case_id):
        for item in release.items:
            committee = committee_of(item.epoch)
            if committee is None:
                continue
            try:
                share = open_officer_share(
                    item.box, case.case_id, item.vehicle_id, item.epoch, item.category,
                    committee.version, item.index, officer_key,
                )  # fmt: skip
            except DecryptionFailed:  # a custodian's bad box: the others' shares may do
                continue
            out.setdefault((item.vehicle_id, item.epoch, item.category), {})[item.index] = share
    return out


def validate_officer(case: Case, officer_key: SigningKey) -> CaseScope:
    """Return the authorised scope; raise unless ``officer_key`` is the case's officer key
    and the case is authorised."""
    if officer_key.public_key != case.officer_key:
        raise Unauthorized("this key is not the case's officer key")
    if case.state != CaseState.AUTHORIZED or case.scope is None:
        raise InvalidState("the case is not authorized", status=case.state.value)
    return case.scope


@dataclass
class KeyRing:
    """The officer's shares and the category keys combined from them (cached)."""

    shares: dict[KeyOfShare, dict[int, bytes]]
    committee_of: Callable[[int], EscrowCommittee | None]
    keys: dict[KeyOfShare, bytes] = field(default_factory=dict)

    def get_key(
        self, key: KeyOfShare, get_envelope: Callable[[], CategoryKeyEnvelope]
    ) -> bytes | None:
        """Return the category key of ``key`` combined from at least k shares (checked
        against the envelope's key_check), or ``None`` with fewer than k."""
        if key in self.keys:
            return self.keys[key]
        committee = self.committee_of(key[1])
        got = self.shares.get(key, {})
        if committee is None or len(got) < committee.threshold:
            return None
        self.keys[key] = combine_checked(sorted(got.items()), committee.threshold, get_envelope())
        return self.keys[key]


def combine_checked(
    shares: list[tuple[int, bytes]], threshold: int, envelope: CategoryKeyEnvelope
) -> bytes:
    """Return the key the shares give, checked against the envelope's ``key_check``: all
    of them first, then each set of ``threshold`` (a custodian's wrong share among them
    does not spoil the others'); raise ``KeyCheckMismatch`` if no set gives it."""
    try:
        return combine_category_key(shares, envelope)
    except KeyCheckMismatch:
        if len(shares) <= threshold:
            raise
    for subset in itertools.islice(itertools.combinations(shares, threshold), MAX_SUBSETS):
        try:
            return combine_category_key(list(subset), envelope)
        except KeyCheckMismatch:
            continue
    raise KeyCheckMismatch(
        "no set of the released shares gives this envelope's key",
        category=envelope.category[:40],
        count=len(shares),
    )


def parse_header_hash(doc: dict[str, Any]) -> bytes:
    """Return the header hash a gateway listing names; ``InvalidProof`` if it names none."""
    try:
        raw = bytes.fromhex(str(doc["header_hash"]))
    except (KeyError, ValueError) as exc:
        raise InvalidProof("the gateway listed a batch without a usable header hash") from exc
    if len(raw) != 32:
        raise InvalidProof("the gateway listed a batch without a usable header hash")
    return raw


def get_status_height(client: Client) -> int:
    """Return the latest height the node names (0 if it names none)."""
    value = client.status().get("height")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def open_batch_segments_of_case(
    client: Client, gw: CaseGatewayClient, fetch: CaseFetch, ring: KeyRing, doc: dict[str, Any]
) -> None:
    """Verify one listed batch against the chain and open its scoped segments into ``fetch``."""
    case, scope = fetch.case, fetch.scope
    header_hash = parse_header_hash(doc)
    proof = gw.case_batch_proof(case.case_id, header_hash)
    signed = verify_batch_anchored(client, proof, header_hash, fetch.chain_id)
    h = signed.header
    if h.vehicle_id not in scope.vehicles or not (
        scope.data_from_ms <= h.start_ms <= h.end_ms < scope.data_until_ms
    ):
        return  # outside the authorised scope: never opened
    for category in sorted(set(h.categories) & set(scope.categories)):
        ref = get_segment(h, category).key_ref

        def get_envelope(ref: bytes = ref, category: str = category) -> CategoryKeyEnvelope:
            raw = gw.case_key_envelope(case.case_id, ref)
            return validate_envelope_for(raw, ref, h.vehicle_id, h.epoch, category)

        category_key = ring.get_key((h.vehicle_id, h.epoch, category), get_envelope)
        if category_key is None:
            if (h.vehicle_id, h.epoch, category) not in fetch.missing_keys:
                fetch.missing_keys.append((h.vehicle_id, h.epoch, category))
            continue
        skey = compute_batch_segment_key(h, category, category_key)
        ct = gw.case_segment_ciphertext(case.case_id, header_hash, category)
        projections = open_segment(signed, category, ct, skey)
        seg = ReleasedSegment(header_hash, category, signed, skey, projections)
        fetch.segments.append(CaseSegment(h.vehicle_id, h.epoch, seg))


def fetch_case_data(
    gateways: Callable[[str], CaseGatewayClient],
    client: Client,
    case_id: int,
    officer_key: SigningKey,
) -> CaseFetch:
    """Return the decrypted scoped segments of a case, each checked against the chain.

    ``gateways(oem)`` returns a gateway client of the OEM signing with ``officer_key``.
    Raises ``Unauthorized`` for another key than the case's officer key,
    ``InvalidState`` for a case not authorised, ``InvalidProof`` if a batch is not
    the anchored one, ``DecryptionFailed`` if a combined key does not open its segment.
    """
    view = ChainView(client)
    case = cases.get_case(view, case_id)
    scope = validate_officer(case, officer_key)
    committee_of = get_committee_getter(view)
    ring = KeyRing(collect_shares(view, case, officer_key, committee_of), committee_of)
    fetch = CaseFetch(case, scope, get_chain_id(client), get_status_height(client))
    for vehicle_id in scope.vehicles:
        gw = gateways(get_vehicle(view, vehicle_id).oem)
        for doc in gw.case_batches(
            case_id, vehicle_id, scope.data_from_ms, scope.data_until_ms - 1
        ):
            open_batch_segments_of_case(client, gw, fetch, ring, doc)
    return fetch


def compute_case_receipts(fetch: CaseFetch) -> list[CaseReceipt]:
    """Return the receipts of a fetch: per vehicle, one item per batch, chunked."""
    by_vehicle: dict[str, list[ReleasedSegment]] = {}
    for s in fetch.segments:
        by_vehicle.setdefault(s.vehicle_id, []).append(s.segment)
    out: list[CaseReceipt] = []
    for vehicle_id, segs in by_vehicle.items():
        items = [
            ReceiptItemRef(i.header_hash, i.record_count, i.records_digest)
            for i in compute_receipt_items(segs)
        ]
        for n in range(0, len(items), MAX_RECEIPT_ITEMS):
            out.append(
                CaseReceipt(fetch.case.case_id, vehicle_id, items[n : n + MAX_RECEIPT_ITEMS])
            )
    return out


def post_case_receipts(
    client: Client, officer_key: SigningKey, receipts: list[CaseReceipt]
) -> list[dict[str, Any]]:
    """Sign and post the receipts with the officer key, leaving out batches already
    receipted on chain; return the node's answers."""
    account = Account(client, officer_key)
    return [account.send(r) for r in drop_receipted(client, receipts)]


def drop_receipted(client: Client, receipts: list[CaseReceipt]) -> list[CaseReceipt]:
    """Return the receipts without the batches already receipted on chain (a receipt left
    with none is left out)."""
    view = ChainView(client)
    out = []
    for r in receipts:
        items = [
            i
            for i in r.items
            if not cases.is_batch_receipted(view, r.case_id, r.vehicle_id, i.header_hash)
        ]
        if items:
            out.append(CaseReceipt(r.case_id, r.vehicle_id, items))
    return out
