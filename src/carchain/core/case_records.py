"""The records and transaction bodies of lawful access: committee, cases, shares.

Shared by the modules that hold the rules (``escrow_committee``, ``cases``,
``escrow_releases``, ``case_notice``, ``transparency``) and by every reader
(API, SDK, custodian service, evidence). Everything lives in the
``lawful_access`` store; the state keys are listed in ``docs/lawful-access.md``.

Windows are half-open ``[data_from_ms, data_until_ms)``, like grants and access
requests; the epochs of a window are the UTC days from ``data_from_ms // DAY``
to ``(data_until_ms - 1) // DAY``.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

STORE = "lawful_access"
DAY_MS = 86_400_000

MAX_CUSTODIANS = 16
MIN_THRESHOLD = 2  # no single custodian ever holds a key
MAX_CASE_VEHICLES = 64
MAX_CASE_DAYS = 366
MAX_RELEASE_ITEMS = 256
MAX_NOTICE_DELAY_MS_DEFAULT = 180 * DAY_MS  # chain parameter ``max_notice_delay_ms``
MAX_AUTHORIZATION_MS = 366 * DAY_MS
# The seat whose custodian is the vehicle's own OEM (its registered escrow key).
VEHICLE_OEM_SEAT = ""


# --- the escrow committee ------------------------------------------------------------


class CommitteeSeat(msgspec.Struct, frozen=True):
    """One seat of a proposed committee: a member (``VEHICLE_OEM_SEAT``: the vehicle's
    OEM) and the organisation type it sits for, one of the member's roles."""

    member_id: str
    org_type: str


class Custodian(msgspec.Struct, frozen=True):
    """A seat of a committee in force. ``index`` is the Shamir share index (1..n);
    ``escrow_key`` the member's escrow key at the time the committee was set
    (empty for the vehicle-OEM seat: each vehicle's OEM's key at sealing time)."""

    index: int
    member_id: str
    org_type: str
    escrow_key: bytes


class EscrowCommittee(msgspec.Struct, frozen=True):
    """A version of the escrow committee: k of n, for the keys of epochs from
    ``from_epoch`` on (the UTC day after the change), until the next version's."""

    version: int
    threshold: int
    custodians: list[Custodian]
    categories: list[str]
    from_epoch: int
    set_height: int


class RegisterEscrowKey(msgspec.Struct, frozen=True):
    """Body of ``escrow.register_key``: a member's escrow key (Ed25519 public key whose
    X25519 image is the HPKE recipient of its shares). Takes effect in the next
    committee set through governance."""

    escrow_key: bytes


# --- cases ---------------------------------------------------------------------------


class CaseState(StrEnum):
    """Lifecycle of a case (``expired`` is displayed, never stored: an authorised case
    past ``expires_ms``)."""

    OPEN = "open"
    AUTHORIZED = "authorized"
    REJECTED = "rejected"
    CLOSED = "closed"


class CaseScope(msgspec.Struct, frozen=True):
    """Vehicles (sorted, unique) x categories (sorted, unique) x data window."""

    vehicles: list[str]
    categories: list[str]
    data_from_ms: int
    data_until_ms: int


class OpenCase(msgspec.Struct, frozen=True):
    """Body of ``case.open``: signed by an active law-enforcement member."""

    case_ref: bytes  # SHA-256 of the case reference
    legal_basis: str  # a ``LegalBasis`` code
    scope: CaseScope
    justification_hash: bytes  # SHA-256 of the justification document (off chain)
    officer_key: bytes  # Ed25519 key the shares are sealed to


class AuthorizeCase(msgspec.Struct, frozen=True):
    """Body of ``case.authorize``: signed by an active court of another organisation.
    ``scope`` may narrow the opened scope, never widen it."""

    case_id: int
    scope: CaseScope
    expires_ms: int
    notice_delay_ms: int


class RejectCase(msgspec.Struct, frozen=True):
    """Body of ``case.reject``: a court refuses to authorise an open case."""

    case_id: int
    reason: str


class DeclineReason(StrEnum):
    """Why a custodian declines."""

    SCOPE_TOO_BROAD = "scope_too_broad"
    INSUFFICIENT_BASIS = "insufficient_basis"
    CONFLICT_OF_INTEREST = "conflict_of_interest"
    OTHER = "other"


class ApproveCase(msgspec.Struct, frozen=True):
    """Body of ``case.approve``: signed by a custodian of a committee the case's keys use."""

    case_id: int


class DeclineCase(msgspec.Struct, frozen=True):
    """Body of ``case.decline``: a custodian refuses, with a ``DeclineReason`` code."""

    case_id: int
    reason: str


class ExtendNotice(msgspec.Struct, frozen=True):
    """Body of ``case.extend_notice``: the authorising court lengthens the delay
    (a new total delay from authorisation, still capped by the chain parameter)."""

    case_id: int
    notice_delay_ms: int


class ReportCase(msgspec.Struct, frozen=True):
    """Body of ``case.report``: the authority files the hash of its final report."""

    case_id: int
    report_hash: bytes


class CloseCase(msgspec.Struct, frozen=True):
    """Body of ``case.close``: the authority or the authorising court ends the case."""

    case_id: int


class CaseVote(msgspec.Struct, frozen=True):
    """A custodian's approval or decline, with when it was posted."""

    member_id: str
    height: int
    time_ms: int
    reason: str = ""  # declines only


class Case(msgspec.Struct, frozen=True):
    """A case as stored at ``c/<case_id>``."""

    case_id: int
    case_ref: bytes
    legal_basis: str
    authority: str
    officer_key: bytes
    justification_hash: bytes
    opened_scope: CaseScope
    opened_height: int
    opened_ms: int
    state: CaseState = CaseState.OPEN
    scope: CaseScope | None = None  # the authorised scope
    court: str = ""
    authorized_height: int = 0
    authorized_ms: int = 0
    expires_ms: int = 0
    notice_delay_ms: int = 0
    notice_due_ms: int = 0
    notice_extensions: int = 0
    noticed: bool = False
    approvals: list[CaseVote] = msgspec.field(default_factory=list)
    declines: list[CaseVote] = msgspec.field(default_factory=list)
    released_keys: int = 0  # shares released, all custodians
    report_hash: bytes = b""
    reject_reason: str = ""
    closed_height: int = 0
    closed_ms: int = 0


# --- share releases ----------------------------------------------------------------


class ShareItem(msgspec.Struct, array_like=True, frozen=True):
    """One custodian's share of one category key, sealed to the case's officer key.

    ``box`` opens only under the HPKE info binding case, vehicle, epoch, category,
    share index and committee version (``data.escrow_shares``).
    """

    vehicle_id: str
    epoch: int
    category: str
    index: int
    box: bytes


class ReleaseShares(msgspec.Struct, frozen=True):
    """Body of ``escrow.release``: signed by a custodian, after quorum, within scope."""

    case_id: int
    items: list[ShareItem]


class ShareRelease(msgspec.Struct, frozen=True):
    """A share release as stored at ``cr/<case_id>/<n>``."""

    case_id: int
    seq: int
    custodian: str
    items: list[ShareItem]
    height: int
    time_ms: int


class ReceiptItemRef(msgspec.Struct, array_like=True, frozen=True):
    """A batch the officer decrypted: header hash, records, digest of the records."""

    header_hash: bytes
    record_count: int
    records_digest: bytes


class CaseReceipt(msgspec.Struct, frozen=True):
    """Body of ``case.receipt`` (the case counterpart of ``access.receipt``): the
    officer signs for the batches it decrypted, each batch once."""

    case_id: int
    vehicle_id: str
    items: list[ReceiptItemRef]


class CaseRef(msgspec.Struct, frozen=True):
    """A pointer to a case touching a vehicle (``vc/<vehicle>/<n>``, ``oc/<oem>/<n>``)."""

    case_id: int
    vehicle_id: str
