"""The demo's sharing stage: consent, requests, releases, withdrawal, erasure, the access log.

Runs after the drive, while the gateways (and their custody services) still serve,
on the crashed vehicle:

1. Its owner grants Ping An the EDR record's categories for ``insurance`` over the
   crash's moment; Ping An asks, the chain approves, the OEM's custody service
   releases, Ping An fetches, checks against the anchor, decrypts and posts a
   receipt (``sim/claim.py``): it holds the EDR record and no telemetry or location.
2. A map provider wants location: a role-wide grant of location is refused by the
   chain (separate consent); a role-wide grant of motion is accepted; a location
   request under it is refused.
3. The owner withdraws the motion grant: the same request is refused afterwards.
4. The owner asks for erasure of the crash's categories; the custody service
   shreds the keys and posts ``erasure.complete``; the owner can no longer open them.
5. The owner's access log, newest first, every entry proven against an app hash.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from carchain.core import access, access_releases, erasure
from carchain.core.access import RequestAccess
from carchain.core.access_log import AccessEvent
from carchain.core.consents import GrantConsent, Purpose, WithdrawConsent
from carchain.crypto.signing import SigningKey
from carchain.data.custody import open_category_key
from carchain.data.records import EdrEvent
from carchain.errors import CarchainError
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sim.drive import DataPlane

INSURER = "ping-an"
MAP_PROVIDER = "amap"
DAY_MS = 86_400_000
WAIT_S = 30.0
LOG_PAGE = 10
# The categories an EDR record carries (its fields' categories).
EDR_CATEGORIES = sorted({c.value for c in EdrEvent.CATEGORIES.values()})


@dataclass(frozen=True, slots=True)
class LogLine:
    """One entry of the owner's access log, as the demo shows it (verified by proof)."""

    seq: int
    kind: str
    who: str
    ref: int
    categories: list[str]
    detail: str
    height: int


@dataclass
class SharingSummary:
    """What the sharing stage did, for the printed summary and for tests."""

    vehicle_id: str = ""
    insurer_decision: str = ""
    insurer_released: list[str] = field(default_factory=list)  # categories released
    insurer_kinds: list[str] = field(default_factory=list)  # record kinds decrypted
    insurer_categories: list[str] = field(default_factory=list)  # categories decrypted
    edr_fields: int = 0
    insurer_verified: int = 0  # batches checked against their anchor
    insurer_receipt: bool = False
    role_wide_location: str = ""  # the chain's error code
    map_location: str = ""  # the recorded refusal reason
    map_motion_before: str = ""  # decision before the withdrawal
    map_motion_after: str = ""  # refusal reason after it
    erasure_status: str = ""
    erasure_destroyed: int = 0
    owner_before_erasure: int = 0  # crash keys the owner opened before the erasure
    owner_after_erasure: str = ""
    access_log: list[LogLine] = field(default_factory=list)  # newest first, each proven
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Parties:
    """Who signs in the sharing stage: the owner, the insurer and the map provider."""

    owner: Account
    insurer: Account
    maps: Account
    chain_id: str


# A plug-in for the data-plane half of the claim: (plane, parties, request seq, summary).
ClaimFetcher = Callable[[DataPlane, Parties, int, SharingSummary], None]


def run_sharing(
    console: Console,
    plane: DataPlane,
    accounts: dict[str, Account],
    chain_id: str,
    fetch_claim: ClaimFetcher | None = None,
) -> SharingSummary:
    """Run the sharing stage on the crashed vehicle of ``plane``; return what happened."""
    started = time.monotonic()
    client = plane.client
    owner = Account(client, plane.crashed.owner, chain_id)
    parties = Parties(owner, accounts[INSURER], accounts[MAP_PROVIDER], chain_id)
    s = SharingSummary(vehicle_id=plane.crashed.vehicle_id)
    seq = process_insurance_claim(console, plane, parties, s)
    if fetch_claim is not None and s.insurer_decision == access.Decision.APPROVED:
        fetch_claim(plane, parties, seq, s)
    grant = process_map_provider(console, plane, parties, s)
    process_withdrawal(console, plane, parties, grant, s)
    process_erasure(console, plane, parties, s)
    s.access_log = get_owner_access_log(client, s.vehicle_id)
    s.seconds = time.monotonic() - started
    return s


# --- steps --------------------------------------------------------------------------


def compute_crash_window(plane: DataPlane) -> tuple[int, int]:
    """Return the data window of the crash: the EDR record's second (times are coarsened
    to 1 s in the car), which only the EDR event's own batch lies inside."""
    start = plane.stats.crash_ms // 1000 * 1000
    return start, start + 1000


def compute_drive_window(plane: DataPlane) -> tuple[int, int]:
    """Return the data window of the whole simulated drive (an hour, and a margin)."""
    start = plane.stats.start_ms // 1000 * 1000
    return start, plane.stats.start_ms + 2 * 3_600_000


def process_insurance_claim(
    console: Console, plane: DataPlane, p: Parties, s: SharingSummary
) -> int:
    """The owner grants the insurer the EDR's categories over the crash; the insurer asks."""
    vid = s.vehicle_id
    lo, hi = compute_crash_window(plane)
    expires = int(time.time() * 1000) + DAY_MS
    purpose = Purpose.INSURANCE.value
    p.owner.send(GrantConsent(vid, EDR_CATEGORIES, purpose, INSURER, "", lo, hi, expires))
    seq = send_request(p.insurer, RequestAccess(vid, EDR_CATEGORIES, lo, hi, purpose))
    request = access.get_request(ChainView(plane.client), vid, seq)
    s.insurer_decision = request.decision
    console.print(
        f"consent: {vid}'s owner grants {INSURER} {', '.join(EDR_CATEGORIES)} for insurance "
        f"over the crash; {INSURER}'s request {seq} → {request.decision}"
    )
    return seq


def process_map_provider(console: Console, plane: DataPlane, p: Parties, s: SharingSummary) -> int:
    """Location is never granted role-wide; motion is; a location request is refused."""
    vid, role = s.vehicle_id, "service_provider"
    lo, hi = compute_drive_window(plane)
    expires = int(time.time() * 1000) + DAY_MS
    maps = Purpose.NAVIGATION_MAPS.value
    try:
        p.owner.send(GrantConsent(vid, ["location"], maps, "", role, lo, hi, expires))
        s.role_wide_location = "accepted (unexpected)"
    except CarchainError as exc:
        s.role_wide_location = exc.code
    res = p.owner.send(GrantConsent(vid, ["motion"], maps, "", role, lo, hi, expires))
    grant = get_event_seq(res, "consent_granted", "grant_seq")
    view = ChainView(plane.client)
    seq = send_request(p.maps, RequestAccess(vid, ["location"], lo, hi, maps))
    s.map_location = access.get_request(view, vid, seq).reason
    seq = send_request(p.maps, RequestAccess(vid, ["motion"], lo, hi, maps))
    s.map_motion_before = access.get_request(view, vid, seq).decision
    wait_released(plane.client, vid, seq)
    console.print(
        f"consent: a role-wide grant of location to every {role} → refused "
        f"({s.role_wide_location}); of motion → grant {grant}; {MAP_PROVIDER} asks for "
        f"location → refused ({s.map_location}), for motion → {s.map_motion_before}"
    )
    return grant


def process_withdrawal(
    console: Console, plane: DataPlane, p: Parties, grant: int, s: SharingSummary
) -> None:
    """The owner withdraws the motion grant; the map provider's next request is refused."""
    vid = s.vehicle_id
    lo, hi = compute_drive_window(plane)
    p.owner.send(WithdrawConsent(vid, grant))
    body = RequestAccess(vid, ["motion"], lo, hi, Purpose.NAVIGATION_MAPS.value)
    seq = send_request(p.maps, body)
    request = access.get_request(ChainView(plane.client), vid, seq)
    s.map_motion_after = request.reason or request.decision
    console.print(
        f"consent: the owner withdraws grant {grant}; {MAP_PROVIDER}'s next request for "
        f"motion → {request.decision} ({s.map_motion_after})"
    )


def process_erasure(console: Console, plane: DataPlane, p: Parties, s: SharingSummary) -> None:
    """The owner asks for erasure of the crash's categories; the custody service shreds."""
    vid = s.vehicle_id
    lo, hi = compute_crash_window(plane)
    url = plane.gateways[plane.crashed.oem].url
    with GatewayClient(url, signer=plane.crashed.owner) as owner_gc:
        refs = get_crash_key_refs(owner_gc, vid, lo, hi)
        for ref in refs:  # before the erasure, the owner opens every one of them
            open_category_key(owner_gc.key_envelope(ref), plane.crashed.owner)
        s.owner_before_erasure = len(refs)
        res = p.owner.send(erasure.RequestErasure(vid, EDR_CATEGORIES, lo, hi - 1))
        seq = get_event_seq(res, "erasure_requested", "seq")
        record = wait_erasure_done(plane.client, vid, seq)
        s.erasure_status = record.status.value
        tomb = erasure.get_tombstone_optional(ChainView(plane.client), vid, seq)
        s.erasure_destroyed = 0 if tomb is None else len(tomb.destroyed)
        if tomb is not None:
            s.owner_after_erasure = compute_owner_after_erasure(
                owner_gc, plane.crashed.owner, refs, tomb.destroyed
            )
    console.print(
        f"erasure: the owner, who opens the crash's {s.owner_before_erasure} category keys, "
        f"asks to erase the crash's data → {s.erasure_status}"
        f" ({s.erasure_destroyed} key envelope(s) destroyed); owner: {s.owner_after_erasure}"
    )


def get_crash_key_refs(gc: GatewayClient, vehicle_id: str, lo: int, hi: int) -> list[bytes]:
    """Return the key refs of the crash batch's segments (the envelopes the owner opens)."""
    refs: list[bytes] = []
    for doc in gc.batches(vehicle_id, lo, hi - 1):
        if lo <= doc["start_ms"] and doc["end_ms"] < hi:
            refs.extend(bytes.fromhex(seg["key_ref"]) for seg in doc["segments"])
    return refs


def compute_owner_after_erasure(
    gc: GatewayClient, owner: SigningKey, refs: list[bytes], destroyed: list[bytes]
) -> str:
    """Return what the owner can do with the crash's keys after erasure (nothing, if the
    tombstone names every envelope and the gateway has none of them left)."""
    if not refs or not set(refs) <= set(destroyed):
        return "keys not all named in the tombstone (unexpected)"
    for ref in refs:
        try:
            open_category_key(gc.key_envelope(ref), owner)
            return "still opens a crash key (unexpected)"
        except CarchainError as exc:
            code = exc.code
    return f"cannot open the crash's {len(refs)} category keys ({code})"


def get_owner_access_log(client: Client, vehicle_id: str) -> list[LogLine]:
    """Return the vehicle's whole access log, newest first, page by page; every page's
    size and entries are checked by proof against an app hash (``InvalidProof`` if not)."""
    lines: list[LogLine] = []
    cursor: int | None = None
    height = 0  # the first page names the state height; the others are read at it
    while True:
        page = client.access_log(vehicle_id, cursor, LOG_PAGE, height)
        lines.extend(compute_log_line(e) for e in page.events)
        cursor, height = page.next_before, page.height
        if cursor is None:
            return lines


def compute_log_line(event: AccessEvent) -> LogLine:
    """Return the printable form of an access-log event (the owner shows as ``owner``)."""
    who = event.actor_member or "owner"
    return LogLine(
        event.seq, event.kind, who, event.ref, list(event.categories), event.detail, event.height
    )


# --- helpers ------------------------------------------------------------------------


def send_request(account: Account, body: RequestAccess) -> int:
    """Send an access request and return its seq (the chain records its decision)."""
    return get_event_seq(account.send(body), "access_requested", "request_seq")


def get_event_seq(res: dict[str, Any], event_type: str, name: str) -> int:
    """Return the integer attribute ``name`` of the first ``event_type`` event of a result."""
    for event in (res.get("result") or {}).get("events", []):
        if event.get("type") == event_type:
            return int(event["attributes"][name])
    raise CarchainError(f"the node's answer has no {event_type} event")


def wait_released(client: Client, vehicle_id: str, request_seq: int) -> bool:
    """Return once the request's keys are released on chain; ``False`` after ``WAIT_S``."""
    deadline = time.monotonic() + WAIT_S
    view = ChainView(client)
    while time.monotonic() < deadline:
        if access_releases.get_release_optional(view, vehicle_id, request_seq) is not None:
            return True
        time.sleep(0.05)
    return False


def wait_erasure_done(client: Client, vehicle_id: str, seq: int) -> erasure.Erasure:
    """Return the erasure request once complete, or as it stands after ``WAIT_S``."""
    deadline = time.monotonic() + WAIT_S
    view = ChainView(client)
    record = erasure.get_erasure(view, vehicle_id, seq)
    while record.status != erasure.ErasureStatus.COMPLETE and time.monotonic() < deadline:
        time.sleep(0.05)
        record = erasure.get_erasure(view, vehicle_id, seq)
    return record


def compute_event_summary(events: list[LogLine]) -> dict[str, int]:
    """Return how many log entries of each kind there are."""
    counts: dict[str, int] = {}
    for e in events:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    return counts
