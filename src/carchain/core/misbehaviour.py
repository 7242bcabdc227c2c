"""Misbehaviour reports from cars and their review by a misbehaviour authority.

A car that hears an implausible V2X message signs a report with its own current
pseudonym key: the offending message (the evidence, inline), a reason code, when it
saw it, and its own pseudonym certificate; the signature covers the evidence's
SHA-256, not the evidence. The report is the only thing that
authenticates it, so it can travel without the car's identity: the car hands it,
evidence in clear, to its OEM's gateway over the unauthenticated report relay, and the
gateway, an active OEM member, seals the evidence (it holds the accused car's
position, speed and time: personal data) to every active misbehaviour authority and
submits ``v2x.report`` with the hash and the boxes only.
The chain checks the ECDSA P-256 signature under the key the body names, that
this key occurs in the reporter's certificate and that the boxes name exactly the
active misbehaviour authorities; it stores the evidence hash, the boxes and the
reporter certificate's HashedId8, never the evidence. Nothing names the reporting
vehicle: the OEM relaying it is the OEM whose CA issued the pseudonym anyway.
The misbehaviour authority (``v2x.review``) dismisses a report or decides
revocation, which then waits for both linkage authorities' seeds.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

import msgspec

from carchain.core import members, v2x_revocation
from carchain.core.effects import Effects
from carchain.core.members import Role
from carchain.core.state import KVView, compute_key, get_record_optional, put_record
from carchain.core.transactions import encode
from carchain.core.types import BlockContext, MemberId
from carchain.core.v2x_ca import compute_certificate_hashed_id8, validate_p256_public_key_shape
from carchain.crypto.ecdsa import verify_p256
from carchain.errors import (
    InvalidV2xBody,
    ReportAlreadyReviewed,
    UnknownMisbehaviourReport,
)

STORE = "v2x"
REPORT_DOMAIN = b"carchain/v2x-misbehaviour-report/v2\x00"
REPORT_KEY_PREFIX = b"mr/"
MAX_EVIDENCE_BYTES = 2048
MAX_REPORTER_CERTIFICATE_BYTES = 512
MAX_EVIDENCE_BOXES = 16
BOX_OVERHEAD = 32 + 16  # HPKE X25519 enc + AES-GCM tag
MAX_MEMBER_ID_BYTES = 64
_SEQ_KEY = b"mrseq"


class ReportReason(StrEnum):
    """Why the reporter found the message implausible (``carchain.v2x.misbehaviour``)."""

    POSITION_JUMP = "position_jump"
    IMPOSSIBLE_SPEED = "impossible_speed"
    OUTSIDE_REGION = "outside_region"
    OUTSIDE_TIME = "outside_time"


REASONS = frozenset(r.value for r in ReportReason)


class ReportStatus(StrEnum):
    """Lifecycle of a report."""

    OPEN = "open"
    DISMISSED = "dismissed"
    REVOCATION_DECIDED = "revocation_decided"


class Verdict(StrEnum):
    """What a review decides."""

    DISMISS = "dismiss"
    REVOKE = "revoke"


class EvidenceBox(msgspec.Struct, frozen=True):
    """The evidence HPKE-sealed to one misbehaviour authority (named by member id)."""

    member_id: str
    box: bytes


class MisbehaviourReport(msgspec.Struct, frozen=True):
    """A report as stored on chain (``v2x`` store, key ``mr/<seq>``)."""

    report_seq: int
    relayed_by: MemberId
    reporter_hashed_id8: bytes
    reporter_public_key: bytes
    evidence_hash: bytes
    evidence_boxes: list[EvidenceBox]
    reason: str
    observed_ms: int
    submitted_height: int
    status: ReportStatus
    reviewed_by: str = ""
    decision_seq: int = 0


class SubmitReport(msgspec.Struct, frozen=True):
    """Body of ``v2x.report``: signed (r, s) by the reporter's pseudonym key over the
    evidence hash; the evidence itself only sealed to the misbehaviour authorities."""

    evidence_hash: bytes
    evidence_boxes: list[EvidenceBox]
    reason: str
    observed_ms: int
    reporter_certificate: bytes
    reporter_public_key: bytes
    signature_r: bytes
    signature_s: bytes


class Review(msgspec.Struct, frozen=True):
    """Body of ``v2x.review``: the MA's verdict; ``revoke`` names the linkage to revoke."""

    report_seq: int
    verdict: str
    ca_hashed_id8: bytes = b""
    linkage_value: bytes = b""
    i_period: int = 0


class _SignedReport(msgspec.Struct, array_like=True, frozen=True):
    chain_id: str
    evidence_hash: bytes
    reason: str
    observed_ms: int
    reporter_certificate: bytes


def compute_report_digest(
    chain_id: str, evidence_hash: bytes, reason: str, observed_ms: int, reporter_certificate: bytes
) -> bytes:
    """Return the 32-byte digest the reporter's pseudonym key signs (over the evidence's
    SHA-256, so the chain can check it without ever holding the evidence)."""
    signed = _SignedReport(chain_id, evidence_hash, reason, observed_ms, reporter_certificate)
    return hashlib.sha256(REPORT_DOMAIN + encode(signed)).digest()


def compute_report_key(report_seq: int) -> bytes:
    """Return the state key of a report."""
    return compute_key("mr", report_seq)


def get_report_optional(view: KVView, report_seq: int) -> MisbehaviourReport | None:
    """Return a report or ``None``."""
    if not 0 < report_seq < 2**63:
        return None
    return get_record_optional(view, STORE, compute_report_key(report_seq), MisbehaviourReport)


def get_report(view: KVView, report_seq: int) -> MisbehaviourReport:
    """Return a report or raise ``UnknownMisbehaviourReport``."""
    report = get_report_optional(view, report_seq)
    if report is None:
        raise UnknownMisbehaviourReport("no such misbehaviour report", report_seq=report_seq)
    return report


def get_report_count(view: KVView) -> int:
    """Return how many reports were ever submitted."""
    raw = view.get(STORE, _SEQ_KEY)
    return 0 if raw is None else int.from_bytes(raw, "big")


def validate_evidence_boxes(boxes: list[EvidenceBox]) -> None:
    """Raise ``InvalidV2xBody`` unless the boxes are 1..16, sorted by unique member id,
    each the size of a sealed evidence (1..2048 bytes plus the HPKE overhead)."""
    if not 0 < len(boxes) <= MAX_EVIDENCE_BOXES:
        raise InvalidV2xBody(
            "evidence box count", field="evidence_boxes", size=len(boxes),
            limit=MAX_EVIDENCE_BOXES,
        )  # fmt: skip
    ids = [b.member_id for b in boxes]
    if ids != sorted(set(ids)):
        raise InvalidV2xBody("evidence boxes must be sorted and unique", field="evidence_boxes")
    for b in boxes:
        if not 0 < len(b.member_id.encode()) <= MAX_MEMBER_ID_BYTES:
            raise InvalidV2xBody("evidence box member id", field="evidence_boxes")
        if not BOX_OVERHEAD < len(b.box) <= MAX_EVIDENCE_BYTES + BOX_OVERHEAD:
            raise InvalidV2xBody(
                "evidence box size", field="evidence_boxes", size=len(b.box),
                limit=MAX_EVIDENCE_BYTES + BOX_OVERHEAD,
            )  # fmt: skip


def validate_box_recipients(view: KVView, boxes: list[EvidenceBox]) -> None:
    """Raise ``InvalidV2xBody`` unless the boxes name exactly the active misbehaviour
    authorities: each named member is one, and there are as many boxes as there are."""
    for b in boxes:
        m = members.get_member_optional(view, b.member_id)
        if m is None or not members.is_active_member(m, Role.MISBEHAVIOUR_AUTHORITY):
            raise InvalidV2xBody(
                "an evidence box names no active misbehaviour authority", field="evidence_boxes"
            )
    if len(boxes) != members.get_active_authority_count(view):
        raise InvalidV2xBody(
            "the evidence must be sealed to every active misbehaviour authority",
            field="evidence_boxes",
        )


def validate_report_body(chain_id: str, body: SubmitReport) -> None:
    """Raise unless the report's fields are in range and the pseudonym signature over
    the evidence hash verifies."""
    if len(body.evidence_hash) != 32:
        raise InvalidV2xBody("evidence hash is a SHA-256", field="evidence_hash")
    validate_evidence_boxes(body.evidence_boxes)
    cert = body.reporter_certificate
    if not 0 < len(cert) <= MAX_REPORTER_CERTIFICATE_BYTES:
        raise InvalidV2xBody(
            "reporter certificate size", field="reporter_certificate", size=len(cert),
            limit=MAX_REPORTER_CERTIFICATE_BYTES,
        )  # fmt: skip
    if body.reason not in REASONS:
        raise InvalidV2xBody("unknown report reason", field="reason")
    if not 0 <= body.observed_ms < 2**50:
        raise InvalidV2xBody("observed_ms out of range", field="observed_ms")
    validate_p256_public_key_shape(body.reporter_public_key, "reporter_public_key")
    if body.reporter_public_key[1:] not in cert:
        raise InvalidV2xBody(
            "the key is not the reporter certificate's", field="reporter_public_key"
        )
    digest = compute_report_digest(
        chain_id, body.evidence_hash, body.reason, body.observed_ms, cert
    )
    verify_p256(body.reporter_public_key, digest, body.signature_r, body.signature_s)


def process_report(
    view: KVView, ctx: BlockContext, signer: bytes, body: SubmitReport, fx: Effects
) -> None:
    """``v2x.report``: an OEM gateway relays a car's signed report; store it open."""
    relay = members.validate_active_member(view, signer, Role.OEM)
    validate_report_body(ctx.chain_id, body)
    validate_box_recipients(view, body.evidence_boxes)
    seq = get_report_count(view) + 1
    view.set(STORE, _SEQ_KEY, seq.to_bytes(8, "big"))
    report = MisbehaviourReport(
        report_seq=seq,
        relayed_by=relay.member_id,
        reporter_hashed_id8=compute_certificate_hashed_id8(body.reporter_certificate),
        reporter_public_key=body.reporter_public_key,
        evidence_hash=body.evidence_hash,
        evidence_boxes=body.evidence_boxes,
        reason=body.reason,
        observed_ms=body.observed_ms,
        submitted_height=ctx.height,
        status=ReportStatus.OPEN,
    )
    put_record(view, STORE, compute_report_key(seq), report)
    fx.emit("v2x_report", report_seq=str(seq), reason=body.reason)


def process_review(
    view: KVView, ctx: BlockContext, signer: bytes, body: Review, fx: Effects
) -> None:
    """``v2x.review``: the MA dismisses an open report or decides revocation for it."""
    authority = members.validate_active_member(view, signer, Role.MISBEHAVIOUR_AUTHORITY)
    report = get_report(view, body.report_seq)
    if report.status != ReportStatus.OPEN:
        raise ReportAlreadyReviewed(
            "report already reviewed", report_seq=report.report_seq, status=report.status.value
        )
    if body.verdict == Verdict.DISMISS:
        if body.ca_hashed_id8 or body.linkage_value or body.i_period:
            raise InvalidV2xBody("a dismissal names no linkage", field="verdict")
        updated = msgspec.structs.replace(
            report, status=ReportStatus.DISMISSED, reviewed_by=authority.member_id
        )
    elif body.verdict == Verdict.REVOKE:
        decision = v2x_revocation.Revoke(
            body.ca_hashed_id8, body.linkage_value, body.i_period, report.report_seq
        )
        rv = v2x_revocation.process_decision(view, ctx, authority, decision, fx)
        updated = msgspec.structs.replace(
            report,
            status=ReportStatus.REVOCATION_DECIDED,
            reviewed_by=authority.member_id,
            decision_seq=rv.decision_seq,
        )
    else:
        raise InvalidV2xBody("verdict must be dismiss or revoke", field="verdict")
    put_record(view, STORE, compute_report_key(report.report_seq), updated)
    fx.emit("v2x_review", report_seq=str(report.report_seq), verdict=body.verdict)
