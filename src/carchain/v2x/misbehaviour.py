"""Plausibility checks on received V2X messages, and the signed report they produce.

A receiver keeps the last observation per sender pseudonym (its certificate's
HashedId8) and flags a message that cannot be true: a sender that moved faster
than any car can between two of its messages (``position_jump``), a reported
speed no car reaches (``impossible_speed``), a position outside the certificate's
region (``outside_region``) or a generation time outside the certificate's
validity (``outside_time``). A finding becomes a ``v2x.report`` body: the
offending message's bytes as evidence, signed with the reporter's own current
pseudonym key, carrying nothing of the reporter but that pseudonym certificate.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

from carchain.core.misbehaviour import ReportReason, SubmitReport, compute_report_digest
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


def build_report(
    chain_id: str, reporter: PseudonymCredential, finding: Finding, observed_ms: int
) -> SubmitReport:
    """Return the ``v2x.report`` body for a finding, signed by the reporter's pseudonym key."""
    evidence = finding.observation.raw
    digest = compute_report_digest(
        chain_id, evidence, finding.reason.value, observed_ms, reporter.certificate
    )
    r, s = reporter.key.sign_digest(digest)
    return SubmitReport(
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
