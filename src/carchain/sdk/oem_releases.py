"""An OEM checks every key release about its vehicles against the chain's own rules.

``verify_oem_releases`` reads, at ONE height and every value proven
(``carchain.sdk.proven_view``), each pointer ``oer/<oem>/<n>``, the share release it
names and its case, and re-checks with core's own rules: the case was authorised by a
court (and is authorised or closed now), the release came before its expiry, every
share lies in the authorised scope (vehicle, UTC day, category, escrowed by that day's
committee), the signer holds that share's seat, and at least the committee's threshold
of its seat holders had approved by the release's block. Any failure raises
``InvalidProof`` naming the release. (Whether an approver was suspended at that block
is the chain's check at release time; the state at one height shows today's status.)
"""

from __future__ import annotations

from dataclasses import dataclass

from carchain.core import case_index, escrow_releases, members
from carchain.core.case_index import ReleasePointer
from carchain.core.case_records import STORE, Case, CaseState, ShareRelease
from carchain.core.state import compute_key, get_record_optional
from carchain.errors import CarchainError, InvalidProof
from carchain.sdk.client import Client
from carchain.sdk.proven_view import ProvenView

MAX_RELEASES = 100_000


@dataclass(frozen=True, slots=True)
class CheckedRelease:
    """A release that passed: which case, which seq, by whom, how many of the OEM's shares."""

    case_id: int
    seq: int
    custodian: str
    shares: int
    court: str
    approvals: int


@dataclass(frozen=True, slots=True)
class ReleaseAudit:
    """Every release about the OEM's vehicles, each checked, at ``height``."""

    oem: str
    releases: list[CheckedRelease]
    height: int
    app_hash: bytes


def _fail(pointer: ReleasePointer, why: str) -> InvalidProof:
    return InvalidProof(
        f"release {pointer.case_id}/{pointer.seq}: {why}",
        link=f"release:{pointer.case_id}/{pointer.seq}",
    )


def compute_approvers_at(case: Case, time_ms: int) -> set[str]:
    """Return the members whose approval was recorded at or before ``time_ms``."""
    return {v.member_id for v in case.approvals if v.time_ms <= time_ms}


def check_release(view: ProvenView, oem: str, pointer: ReleasePointer) -> CheckedRelease:
    """Re-check one release from proven state; return its summary or raise ``InvalidProof``."""
    release = get_record_optional(
        view, STORE, compute_key("cr", pointer.case_id, pointer.seq), ShareRelease
    )
    case = get_record_optional(view, STORE, compute_key("c", pointer.case_id), Case)
    if release is None or case is None or release.case_id != pointer.case_id:
        raise _fail(pointer, "the release or its case is not on chain")
    if case.state not in (CaseState.AUTHORIZED, CaseState.CLOSED) or not case.court:
        raise _fail(pointer, "the case was never authorised by a court")
    if not case.authorized_ms <= release.time_ms < case.expires_ms:
        raise _fail(pointer, "released outside the authorisation's time")
    signer = members.get_member_optional(view, release.custodian)
    if signer is None:
        raise _fail(pointer, "the custodian is not a member")
    approvers = compute_approvers_at(case, release.time_ms)
    reads = escrow_releases.ReleaseReads(view)
    shares = 0
    for item in release.items:
        item_oem = case_index.compute_oem(item.vehicle_id)
        try:
            committee = escrow_releases.validate_item_scope(reads, case, item)
            escrow_releases.validate_item_seat(case, committee, item, signer, item_oem)
            escrow_releases.validate_quorum(case, committee, item_oem, approvers, item.epoch)
        except CarchainError as exc:
            raise _fail(pointer, exc.message) from exc
        shares += item_oem == oem
    if not shares:
        raise _fail(pointer, "the release holds no share of the OEM's vehicles")
    return CheckedRelease(
        case.case_id, release.seq, release.custodian, shares, case.court, len(approvers)
    )


def verify_oem_releases(client: Client, oem: str) -> ReleaseAudit:
    """Check every release pointer of the OEM (see the module docstring)."""
    count_key = case_index.compute_oem_release_count_key(oem)
    # The OEM's member record always exists: it fixes the height and app hash.
    view = ProvenView(client, members.STORE, members.compute_member_key(oem))
    raw = view.get(STORE, count_key)  # written (0) when the member was admitted
    if raw is None or len(raw) != 8:
        raise InvalidProof("the OEM's release count is not proven", link="oern")
    n = int.from_bytes(raw, "big")
    if n > MAX_RELEASES:
        raise InvalidProof("too many releases to check in one audit", total=n)
    checked = []
    for i in range(n):
        pointer = get_record_optional(
            view, STORE, case_index.compute_oem_release_key(oem, i), ReleasePointer
        )
        if pointer is None:
            raise InvalidProof("a release pointer below the count is absent", index=i)
        checked.append(check_release(view, oem, pointer))
    return ReleaseAudit(oem, checked, view.height, view.app_hash)
