"""Plausibility checks on received V2X messages, and the signed report they produce.

A receiver keeps the last observation per sender pseudonym (its certificate's
HashedId8) and flags a message that cannot be true: a sender that moved faster
than any car can between two of its messages (``position_jump``), a reported
speed no car reaches (``impossible_speed``), a position outside the certificate's
region (``outside_region``) or a generation time outside the certificate's
validity (``outside_time``). A finding becomes a ``CarReport``: the offending
message's bytes as evidence, signed (over their SHA-256) with the reporter's own
current pseudonym key, carrying nothing of the reporter but that pseudonym
certificate. The car hands it to its OEM gateway off chain; ``seal_report`` turns it
into the ``v2x.report`` body, the evidence HPKE-sealed to every misbehaviour
authority, and ``open_report_evidence`` is how an authority reads it back.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field

import msgspec

from carchain.core.misbehaviour import (
    EvidenceBox,
    MisbehaviourReport,
    ReportReason,
    SubmitReport,
    compute_report_digest,
)
from carchain.core.transactions import encode
from carchain.crypto.sealing import open_sealed_box, seal_to
from carchain.crypto.signing import SigningKey
from carchain.errors import EvidenceHashMismatch, InvalidV2xBody
from carchain.v2x.issuance import PseudonymCredential
from carchain.v2x.messages import get_cam_kinematics
from carchain.v2x.receiver import VerifiedMessage

MAX_SPEED_CM_S = 9_000  # 324 km/h: above it no road vehicle's CAM is plausible
SPEED_UNAVAILABLE = 16_383  # ETSI SpeedValue "unavailable"
LATITUDE_UNAVAILABLE = 900_000_001  # ETSI Latitude "unavailable" (no GNSS fix)
LONGITUDE_UNAVAILABLE = 1_800_000_001  # ETSI Longitude "unavailable"
JUMP_SLACK_M = 50.0  # GNSS error allowed on top of the distance a car can cover
MAX_TRACKED_SENDERS = 4096
_EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True)
class CircularRegion:
    """A certificate's circular region: centre in 1e-7 degrees, radius in metres."""

    latitude: int
    longitude: int
    radius_m: int


@dataclass(frozen=True)
class Observation:
    """What the checks need of a verified message (positions in 1e-7 degrees)."""

    sender_id8: bytes
    generation_ms: int
    latitude: int
    longitude: int
    speed_cm_s: int
    cert_start_s: int
    cert_end_s: int
    raw: bytes  # the message exactly as received: the evidence
    region: CircularRegion | None = None


@dataclass(frozen=True)
class Finding:
    """An implausible message: why, and the message itself."""

    reason: ReportReason
    observation: Observation


def compute_distance_m(lat1: int, lon1: int, lat2: int, lon2: int) -> float:
    """Return the great-circle distance in metres between two 1e-7-degree positions."""
    p1, p2 = math.radians(lat1 / 1e7), math.radians(lat2 / 1e7)
    dp, dl = p2 - p1, math.radians((lon2 - lon1) / 1e7)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def is_position_known(obs: Observation) -> bool:
    """Return whether the message states a position (a car without a GNSS fix sends
    "unavailable", which is no place on Earth and can neither jump nor leave a region)."""
    return obs.latitude != LATITUDE_UNAVAILABLE and obs.longitude != LONGITUDE_UNAVAILABLE


def find_static_implausibility(obs: Observation) -> ReportReason | None:
    """Return what is wrong with one message on its own, or ``None``."""
    if not obs.cert_start_s * 1000 <= obs.generation_ms < obs.cert_end_s * 1000:
        return ReportReason.OUTSIDE_TIME
    if obs.speed_cm_s != SPEED_UNAVAILABLE and obs.speed_cm_s > MAX_SPEED_CM_S:
        return ReportReason.IMPOSSIBLE_SPEED
    r = obs.region
    if (
        r is not None
        and is_position_known(obs)
        and compute_distance_m(r.latitude, r.longitude, obs.latitude, obs.longitude) > r.radius_m
    ):
        return ReportReason.OUTSIDE_REGION
    return None


def is_position_jump(before: Observation, after: Observation) -> bool:
    """Return whether the sender covered more ground than a car can in the time between."""
    dt_s = (after.generation_ms - before.generation_ms) / 1000
    if dt_s <= 0 or not (is_position_known(before) and is_position_known(after)):
        return False
    reach = MAX_SPEED_CM_S / 100 * dt_s + JUMP_SLACK_M
    return (
        compute_distance_m(before.latitude, before.longitude, after.latitude, after.longitude)
        > reach
    )


@dataclass
class PlausibilityChecker:
    """Checks each verified message against itself and the sender's previous one."""

    last: OrderedDict[bytes, Observation] = field(default_factory=OrderedDict)

    def check(self, obs: Observation) -> Finding | None:
        """Return a finding for an implausible message, else ``None``; remember the sender."""
        reason = find_static_implausibility(obs)
        before = self.last.get(obs.sender_id8)
        if reason is None and before is not None and is_position_jump(before, obs):
            reason = ReportReason.POSITION_JUMP
        if reason is None and not is_position_known(obs):
            return None  # nothing to compare the next message with: keep the last fix
        if reason is None:
            self.last[obs.sender_id8] = obs
            self.last.move_to_end(obs.sender_id8)
            while len(self.last) > MAX_TRACKED_SENDERS:
                self.last.popitem(last=False)
            return None
        return Finding(reason, obs)


EVIDENCE_INFO_DOMAIN = b"carchain/v2x-report-evidence/v1\x00"


class CarReport(msgspec.Struct, frozen=True):
    """A car's report as it hands it to its OEM gateway, off chain (``POST
    /v2x/reports``): the evidence in clear, the signature over its SHA-256."""

    evidence: bytes
    reason: str
    observed_ms: int
    reporter_certificate: bytes
    reporter_public_key: bytes
    signature_r: bytes
    signature_s: bytes


class _EvidenceInfo(msgspec.Struct, array_like=True, frozen=True):
    chain_id: str
    evidence_hash: bytes
    member_id: str


def compute_evidence_info(chain_id: str, evidence_hash: bytes, member_id: str) -> bytes:
    """Return the HPKE info that binds an evidence box to chain, evidence and recipient."""
    return EVIDENCE_INFO_DOMAIN + encode(_EvidenceInfo(chain_id, evidence_hash, member_id))


def seal_report(
    chain_id: str, report: CarReport, authorities: list[tuple[str, bytes]]
) -> SubmitReport:
    """Return the ``v2x.report`` body: the evidence's hash and the evidence sealed to
    each ``(member_id, public_key)`` authority; raise ``InvalidV2xBody`` without one."""
    if not authorities:
        raise InvalidV2xBody("no active misbehaviour authority to seal to", field="evidence_boxes")
    digest = hashlib.sha256(report.evidence).digest()
    boxes = [
        EvidenceBox(
            mid, seal_to(key, report.evidence, compute_evidence_info(chain_id, digest, mid))
        )
        for mid, key in sorted(authorities)
    ]
    return SubmitReport(
        evidence_hash=digest,
        evidence_boxes=boxes,
        reason=report.reason,
        observed_ms=report.observed_ms,
        reporter_certificate=report.reporter_certificate,
        reporter_public_key=report.reporter_public_key,
        signature_r=report.signature_r,
        signature_s=report.signature_s,
    )


def open_report_evidence(
    report: MisbehaviourReport, key: SigningKey, chain_id: str, member_id: str
) -> bytes:
    """Return the evidence of a report, opened with the authority's key; raise
    ``DecryptionFailed`` if no box opens for it, ``EvidenceHashMismatch`` if the
    opened evidence is not the one the reporter signed."""
    box = next((b.box for b in report.evidence_boxes if b.member_id == member_id), b"")
    info = compute_evidence_info(chain_id, report.evidence_hash, member_id)
    evidence = open_sealed_box(key, box, info)
    if hashlib.sha256(evidence).digest() != report.evidence_hash:
        raise EvidenceHashMismatch(
            "the evidence does not hash to the report's evidence_hash",
            report_seq=report.report_seq,
        )
    return evidence


def build_report(
    chain_id: str, reporter: PseudonymCredential, finding: Finding, observed_ms: int
) -> CarReport:
    """Return the car's report for a finding, signed by the reporter's pseudonym key
    over the evidence's SHA-256 (the gateway seals the evidence before the chain)."""
    evidence = finding.observation.raw
    digest = compute_report_digest(
        chain_id,
        hashlib.sha256(evidence).digest(),
        finding.reason.value,
        observed_ms,
        reporter.certificate,
    )
    r, s = reporter.key.sign_digest(digest)
    return CarReport(
        evidence=evidence,
        reason=finding.reason.value,
        observed_ms=observed_ms,
        reporter_certificate=reporter.certificate,
        reporter_public_key=reporter.key.public_key_compressed,
        signature_r=r,
        signature_s=s,
    )


def compute_observation(message: VerifiedMessage) -> Observation:
    """Return what the checks need of a verified CAM (its sender, time, position, speed)."""
    k = get_cam_kinematics(message.decode_payload())
    cert = message.certificate
    return Observation(
        cert.hashed_id8, message.generation_ms, k.latitude, k.longitude, k.speed_cm_s,
        cert.start_s, cert.end_s, message.raw,
    )  # fmt: skip
