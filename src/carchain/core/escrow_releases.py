"""Share releases of a case (``escrow.release``) and the officer's receipts (``case.receipt``).

A custodian releases its shares of the keys in an authorised, unexpired case's
scope, each resealed to the case's officer key, only once the quorum of the
epoch's committee is met: ``threshold`` approvals by members who hold its seats
for that vehicle (the vehicle-OEM seat: the vehicle's OEM) and are active now,
so a suspended custodian's approval no longer counts. Each share is released
once per case (``cs/<case>/<vehicle>/<epoch>/<category>/<index>``); the box binds
the case (``data.escrow_shares``), so a share released in one case opens in no
other, and the chain refuses a box posted before, in any case. The officer signs
a receipt for each batch it decrypted, once.

State (store ``lawful_access``): ``cr/<case>/<n>`` ShareRelease (``crn/<case>``),
``crv/<case>/<vehicle>`` shares released for the vehicle, ``sb/<sha256(box)>`` the
case a box was posted in, ``rcp/<case>/<n>`` receipts (``rcpn/<case>``),
``crb/<case>/<vehicle>/<header_hash>`` receipted batches.
"""

from __future__ import annotations

import msgspec

from carchain.core import case_index, case_notice, cases, members
from carchain.core.case_records import (
    MAX_RELEASE_ITEMS,
    STORE,
    Case,
    CaseReceipt,
    CaseState,
    EscrowCommittee,
    ReceiptItemRef,
    ReleaseShares,
    ShareItem,
    ShareRelease,
)
from carchain.core.effects import Effects
from carchain.core.escrow_committee import compute_seat_holder, get_committee_for_epoch
from carchain.core.members import Member, MemberStatus
from carchain.core.state import KVView, compute_key, get_record_optional, put_record
from carchain.core.types import BlockContext
from carchain.core.validation import validate_digest
from carchain.core.vehicles import get_vehicle
from carchain.crypto.hashing import compute_sha256
from carchain.errors import (
    CaseAlreadyReceipted,
    CaseReleaseOutOfScope,
    CategoryNotEscrowed,
    InvalidBody,
    NoSharesReleased,
    NotCaseCustodian,
    NotCaseParty,
    NotFound,
    QuorumNotReached,
    ShareAlreadyReleased,
    ShareBoxReplayed,
)

# HPKE enc (32: X25519), a 32-byte share, the AEAD tag (16); crypto.sealing is off limits
# to the core (tests/core check the figure against it).
SHARE_BOX_SIZE = 32 + 32 + 16
MAX_RECEIPT_ITEMS = 1024
MAX_RECORD_COUNT = 2**32
# What ``admit_officer`` reads: the case, for its officer key.
OFFICER_ADMISSION_READS = frozenset({STORE})


class CaseReceiptRecord(msgspec.Struct, frozen=True):
    """A ``case.receipt`` as stored at ``rcp/<case_id>/<n>``."""

    case_id: int
    seq: int
    vehicle_id: str
    signer: bytes
    items: list[ReceiptItemRef]
    height: int
    time_ms: int


# --- reads --------------------------------------------------------------------------


def _get_u64(view: KVView, key: bytes) -> int:
    raw = view.get(STORE, key)
    return 0 if raw is None else int.from_bytes(raw, "big")


def _set_u64(view: KVView, key: bytes, value: int) -> None:
    view.set(STORE, key, value.to_bytes(8, "big"))


def compute_share_key(case_id: int, item: ShareItem) -> bytes:
    """Return the state key marking a share of a case released."""
    return compute_key("cs", case_id, item.vehicle_id, item.epoch, item.category, item.index)


def compute_box_key(box: bytes) -> bytes:
    """Return the state key marking a share box as posted (by its SHA-256)."""
    return compute_key("sb", compute_sha256(box))


def get_release_count(view: KVView, case_id: int) -> int:
    """Return how many share releases the case has."""
    return _get_u64(view, compute_key("crn", case_id))


def get_release_optional(view: KVView, case_id: int, seq: int) -> ShareRelease | None:
    """Return the case's ``seq``-th share release (from 0) or ``None``."""
    if not 0 <= seq < 2**63:
        return None
    return get_record_optional(view, STORE, compute_key("cr", case_id, seq), ShareRelease)


def get_releases(view: KVView, case_id: int) -> list[ShareRelease]:
    """Return every share release of the case, oldest first."""
    found = (
        get_release_optional(view, case_id, n) for n in range(get_release_count(view, case_id))
    )
    return [r for r in found if r is not None]


def get_vehicle_share_count(view: KVView, case_id: int, vehicle_id: str) -> int:
    """Return how many shares of the vehicle's keys the case released."""
    return _get_u64(view, compute_key("crv", case_id, vehicle_id))


def get_receipt_count(view: KVView, case_id: int) -> int:
    """Return how many receipts the officer posted for the case."""
    return _get_u64(view, compute_key("rcpn", case_id))


def get_receipts(view: KVView, case_id: int) -> list[CaseReceiptRecord]:
    """Return every receipt of the case, oldest first."""
    keys = (compute_key("rcp", case_id, n) for n in range(get_receipt_count(view, case_id)))
    found = (get_record_optional(view, STORE, k, CaseReceiptRecord) for k in keys)
    return [r for r in found if r is not None]


# --- the quorum -----------------------------------------------------------------------


def compute_active_approvers(view: KVView, case: Case) -> set[str]:
    """Return the members that approved the case and are active now, neither its
    authority nor law enforcement (``cases.is_conflicted_custodian``)."""
    out: set[str] = set()
    for vote in case.approvals:
        member = members.get_member_optional(view, vote.member_id)
        if member is None or cases.is_conflicted_custodian(case, member):
            continue
        if member.status == MemberStatus.ACTIVE:
            out.add(vote.member_id)
    return out


def compute_quorum_count(committee: EscrowCommittee, oem: str, approvers: set[str]) -> int:
    """Return how many distinct seat holders of ``committee`` for a vehicle of ``oem``
    are among ``approvers``."""
    holders = {compute_seat_holder(c, oem) for c in committee.custodians}
    return len(holders & approvers)


def validate_quorum(
    case: Case, committee: EscrowCommittee, oem: str, approvers: set[str], epoch: int
) -> None:
    """Raise ``QuorumNotReached`` unless ``committee``'s threshold of seat holders approved."""
    count = compute_quorum_count(committee, oem, approvers)
    if count < committee.threshold:
        raise QuorumNotReached(
            "fewer custodians approved than the committee's threshold",
            case_id=case.case_id,
            epoch=epoch,
            approvals=count,
            threshold=committee.threshold,
        )


# --- escrow.release ---------------------------------------------------------------------


def _out_of_scope(case: Case, item: ShareItem, why: str) -> CaseReleaseOutOfScope:
    return CaseReleaseOutOfScope(
        why,
        case_id=case.case_id,
        vehicle_id=item.vehicle_id[:128],
        epoch=item.epoch,
        category=item.category[:64],
    )


class ReleaseReads:
    """The reads one release repeats per item, done once per transaction: the committee
    of each epoch and the OEM of each vehicle."""

    __slots__ = ("_committees", "_oems", "view")

    def __init__(self, view: KVView) -> None:
        self.view = view
        self._committees: dict[int, EscrowCommittee | None] = {}
        self._oems: dict[str, str] = {}

    def get_committee(self, epoch: int) -> EscrowCommittee | None:
        """Return the committee in force for ``epoch`` (``None`` before the first)."""
        if epoch not in self._committees:
            self._committees[epoch] = get_committee_for_epoch(self.view, epoch)
        return self._committees[epoch]

    def get_oem(self, vehicle_id: str) -> str:
        """Return the member id of the vehicle's OEM."""
        if vehicle_id not in self._oems:
            self._oems[vehicle_id] = get_vehicle(self.view, vehicle_id).oem
        return self._oems[vehicle_id]


def validate_item_scope(reads: ReleaseReads, case: Case, item: ShareItem) -> EscrowCommittee:
    """Raise unless the item's vehicle, epoch and category are in the authorised scope and
    the category is escrowed by the epoch's committee; return that committee."""
    scope = cases.get_authorized_scope(case)
    first, last = cases.compute_scope_epochs(scope)
    if item.vehicle_id not in scope.vehicles:
        raise _out_of_scope(case, item, "vehicle outside the case's scope")
    if not first <= item.epoch <= last:
        raise _out_of_scope(case, item, "epoch outside the case's data window")
    if item.category not in scope.categories:
        raise _out_of_scope(case, item, "category outside the case's scope")
    committee = reads.get_committee(item.epoch)
    if committee is None or item.category not in committee.categories:
        raise CategoryNotEscrowed(
            "the epoch's committee escrows no share of this category",
            category=item.category,
            epoch=item.epoch,
            committee_version=0 if committee is None else committee.version,
        )
    return committee


def validate_item_seat(
    case: Case, committee: EscrowCommittee, item: ShareItem, member: Member, oem: str
) -> None:
    """Raise ``NotCaseCustodian`` unless ``member`` holds seat ``index`` for the vehicle."""
    if not 1 <= item.index <= len(committee.custodians):
        raise NotCaseCustodian(
            "no such seat", case_id=case.case_id, epoch=item.epoch, index=item.index
        )
    custodian = committee.custodians[item.index - 1]
    if compute_seat_holder(custodian, oem) != member.member_id:
        raise NotCaseCustodian(
            "the signer does not hold this seat",
            case_id=case.case_id,
            epoch=item.epoch,
            index=item.index,
        )


def validate_release_item(
    reads: ReleaseReads, case: Case, item: ShareItem, member: Member, approvers: set[str]
) -> None:
    """Raise unless the item may be released now by ``member``: in scope, its seat, at
    quorum, not released before, a box of the share size."""
    view = reads.view
    committee = validate_item_scope(reads, case, item)
    oem = reads.get_oem(item.vehicle_id)
    validate_item_seat(case, committee, item, member, oem)
    validate_quorum(case, committee, oem, approvers, item.epoch)
    if len(item.box) != SHARE_BOX_SIZE:
        raise InvalidBody(f"a share box is {SHARE_BOX_SIZE} bytes", length=len(item.box))
    if view.get(STORE, compute_share_key(case.case_id, item)) is not None:
        raise ShareAlreadyReleased(
            "the share was already released for this case",
            case_id=case.case_id,
            vehicle_id=item.vehicle_id,
            epoch=item.epoch,
            category=item.category,
            index=item.index,
        )
    posted = view.get(STORE, compute_box_key(item.box))
    if posted is not None:
        raise ShareBoxReplayed(
            "this share box was already posted",
            case_id=int.from_bytes(posted, "big"),
            vehicle_id=item.vehicle_id,
            epoch=item.epoch,
            index=item.index,
        )


def process_release(
    view: KVView, ctx: BlockContext, signer: bytes, body: ReleaseShares, fx: Effects
) -> None:
    """Record a custodian's shares, resealed to the officer, for an authorised case at quorum."""
    member = members.validate_active_member(view, signer)
    case = cases.get_case(view, body.case_id)
    cases.validate_state(case, CaseState.AUTHORIZED)
    cases.validate_unexpired(case, ctx)
    cases.validate_parties_active(view, case)
    if not 0 < len(body.items) <= MAX_RELEASE_ITEMS:
        raise InvalidBody(f"a release holds 1-{MAX_RELEASE_ITEMS} shares", size=len(body.items))
    approvers = compute_active_approvers(view, case)
    reads = ReleaseReads(view)
    for item in body.items:
        validate_release_item(reads, case, item, member, approvers)
        view.set(STORE, compute_share_key(case.case_id, item), b"\x01")
        view.set(STORE, compute_box_key(item.box), case.case_id.to_bytes(8, "big"))
        key = compute_key("crv", case.case_id, item.vehicle_id)
        _set_u64(view, key, _get_u64(view, key) + 1)
    seq = get_release_count(view, case.case_id)
    release = ShareRelease(
        case.case_id, seq, member.member_id, list(body.items), ctx.height, ctx.time_ms
    )
    put_record(view, STORE, compute_key("cr", case.case_id, seq), release)
    _set_u64(view, compute_key("crn", case.case_id), seq + 1)
    after = msgspec.structs.replace(case, released_keys=case.released_keys + len(body.items))
    cases.process_put_case(view, ctx, case, after)
    case_index.process_release(view, ctx, after, release)
    case_notice.process_release(view, ctx, after, release)
    fx.emit("shares_released", case_id=str(case.case_id), seq=str(seq), shares=str(len(body.items)))


# --- case.receipt ------------------------------------------------------------------------


def admit_officer(view: KVView, signer: bytes, body: CaseReceipt) -> None:
    """Mempool admission: raise unless ``signer`` is the case's officer key."""
    case = cases.get_case_optional(view, body.case_id)
    if case is None:
        raise NotFound("no such case", case_id=body.case_id)
    if signer != case.officer_key:
        raise NotCaseParty("only the case's officer key signs its receipts", case_id=case.case_id)


def compute_receipted_batch_key(case_id: int, vehicle_id: str, header_hash: bytes) -> bytes:
    """Return the state key marking a batch of a case receipted."""
    return compute_key("crb", case_id, vehicle_id, header_hash)


def validate_receipt_items(view: KVView, body: CaseReceipt) -> None:
    """Raise unless the items are 1..1024 distinct batches, none receipted before."""
    if not 0 < len(body.items) <= MAX_RECEIPT_ITEMS:
        raise InvalidBody(f"a receipt holds 1-{MAX_RECEIPT_ITEMS} batches", size=len(body.items))
    seen: set[bytes] = set()
    for item in body.items:
        validate_digest(item.header_hash, "batch header hash")
        validate_digest(item.records_digest, "records digest")
        if not 0 <= item.record_count <= MAX_RECORD_COUNT:
            raise InvalidBody("record count out of range", record_count=item.record_count)
        if item.header_hash in seen:
            raise InvalidBody("a receipt names each batch once")
        seen.add(item.header_hash)
        key = compute_receipted_batch_key(body.case_id, body.vehicle_id, item.header_hash)
        if view.get(STORE, key) is not None:
            raise CaseAlreadyReceipted(
                "the batch was already receipted",
                case_id=body.case_id,
                vehicle_id=body.vehicle_id,
                header_hash=item.header_hash.hex(),
            )


def process_receipt(
    view: KVView, ctx: BlockContext, signer: bytes, body: CaseReceipt, fx: Effects
) -> None:
    """Record the officer's receipt for batches of a scope vehicle whose shares were released."""
    admit_officer(view, signer, body)
    case = cases.get_case(view, body.case_id)
    scope = cases.get_authorized_scope(case)  # authorised, perhaps closed since
    if body.vehicle_id not in scope.vehicles:
        raise CaseReleaseOutOfScope(
            "vehicle outside the case's scope",
            case_id=case.case_id,
            vehicle_id=body.vehicle_id[:128],
        )
    if not get_vehicle_share_count(view, case.case_id, body.vehicle_id):
        raise NoSharesReleased(
            "no share of the vehicle was released", case_id=case.case_id, vehicle_id=body.vehicle_id
        )
    validate_receipt_items(view, body)
    seq = get_receipt_count(view, case.case_id)
    record = CaseReceiptRecord(
        case.case_id, seq, body.vehicle_id, signer, list(body.items), ctx.height, ctx.time_ms
    )
    put_record(view, STORE, compute_key("rcp", case.case_id, seq), record)
    _set_u64(view, compute_key("rcpn", case.case_id), seq + 1)
    for item in body.items:
        key = compute_receipted_batch_key(case.case_id, body.vehicle_id, item.header_hash)
        view.set(STORE, key, seq.to_bytes(8, "big"))
    fx.emit("case_receipt", case_id=str(case.case_id), seq=str(seq), batches=str(len(body.items)))
