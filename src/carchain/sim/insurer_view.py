"""The insurer's side of everyone's view: consent-based access to a customer's EDR.

After the crash, the insurer ``ping-an`` asks for a crash car's EDR record under the
owner's insurance consent (given with the fleet's consents, or by the owner now, over
the crash's second, if neither crash car's owner had consented). The chain approves,
the OEM's custody service releases, the insurer fetches, verifies against the anchor,
decrypts and posts its receipt (``sim/claim.fetch_claim_release``), and its access
shows in the owner's verified log. A request for a car whose owner never consented
is refused by the chain with its reason code.
"""

from __future__ import annotations

from dataclasses import dataclass

from carchain.core import access
from carchain.core.access import RequestAccess
from carchain.core.consents import GrantConsent, Purpose
from carchain.data.records import get_record_kind
from carchain.errors import NodeUnavailable
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.sim.claim import count_fields, fetch_claim_release
from carchain.sim.fleet import Car, derive_owner_key
from carchain.sim.owner_logs import OwnerLog, fetch_owner_log, get_car
from carchain.sim.sharing import DAY_MS, send_request
from carchain.sim.story_consortium import INSURER
from carchain.sim.story_world import StoryWorld

INSURANCE = Purpose.INSURANCE.value
# What an insurer asks of a crash: the EDR's pulse and motion, and when.
CLAIM_CATEGORIES = ["crash_pulse", "motion", "time"]


@dataclass(frozen=True, slots=True)
class InsurerAccess:
    """The insurer's granted access to a customer's EDR and its refused request."""

    vehicle_id: str
    consent: str  # "fleet" (given earlier) or "after the crash" (given now)
    request_seq: int
    decision: str
    released: list[str]
    decrypted_kinds: list[str]
    edr_fields: int
    batches_verified: int
    owner_log: OwnerLog  # the owner's verified log after the access
    refused_vehicle: str
    refused_decision: str
    refused_code: str


def has_insurance_consent(car: Car) -> bool:
    """Return whether the car's owner granted the insurer its insurance categories."""
    return any(
        c.purpose == INSURANCE and set(CLAIM_CATEGORIES) <= set(c.categories) for c in car.consents
    )


def compute_crash_second(sw: StoryWorld) -> tuple[int, int]:
    """Return the crash's second (EDR times are coarsened to 1 s in the car)."""
    start = sw.world.truth.time_ms // 1000 * 1000
    return start, start + 1000


def process_consent_after_crash(sw: StoryWorld, car: Car) -> None:
    """Have the car's owner grant the insurer the claim's categories over the crash."""
    lo, hi = compute_crash_second(sw)
    owner = Account(sw.client, derive_owner_key(sw.world.params.seed, car), sw.chain_id)
    expires = int(sw.clock.time() * 1000) + DAY_MS
    owner.send(GrantConsent(car.vehicle_id, CLAIM_CATEGORIES, INSURANCE, INSURER, "", lo, hi,
                            expires))  # fmt: skip


def choose_claim_car(sw: StoryWorld) -> tuple[Car, str]:
    """Return the crash car whose owner consented (the first such), else the first crash
    car after its owner consents now; and how the consent came."""
    cars = [get_car(sw, vid) for vid in sw.world.truth.vehicles]
    for car in cars:
        if has_insurance_consent(car):
            return car, "fleet"
    process_consent_after_crash(sw, cars[0])
    return cars[0], "after the crash"


def choose_refused_car(sw: StoryWorld, excluded: set[str]) -> Car:
    """Return a car whose owner never granted the insurer anything (not in ``excluded``)."""
    for car in sw.world.cars:
        if car.vehicle_id not in excluded and not any(c.purpose == INSURANCE for c in car.consents):
            return car
    raise NodeUnavailable("every owner of the fleet consented to insurance")


def process_insurer_access(sw: StoryWorld, excluded: set[str]) -> InsurerAccess:
    """Run the insurer's granted claim and a refused request; return what the chain says.
    ``excluded`` names cars the refused request must not touch (the cases' scopes)."""
    car, consent = choose_claim_car(sw)
    lo, hi = compute_crash_second(sw)
    insurer = sw.account(INSURER)
    body = RequestAccess(car.vehicle_id, CLAIM_CATEGORIES, lo, hi, INSURANCE)
    seq = send_request(insurer, body)
    decision = access.get_request(ChainView(sw.client), car.vehicle_id, seq).decision
    fetch = None
    if decision == access.Decision.APPROVED:
        url = sw.gateway_url(car.oem)
        fetch = fetch_claim_release(sw.client, url, insurer, car.vehicle_id, seq)
    records = [] if fetch is None else fetch.records
    refused = choose_refused_car(sw, excluded | {car.vehicle_id, *sw.world.truth.vehicles})
    rseq = send_request(insurer, RequestAccess(refused.vehicle_id, CLAIM_CATEGORIES, lo, hi,
                                               INSURANCE))  # fmt: skip
    request = access.get_request(ChainView(sw.client), refused.vehicle_id, rseq)
    return InsurerAccess(
        car.vehicle_id, consent, seq, decision, [] if fetch is None else fetch.released,
        sorted({get_record_kind(r) for r in records}),
        sum(count_fields(r) for r in records if get_record_kind(r) == "edr"),
        0 if fetch is None else len({s.header_hash for s in fetch.segments}),
        fetch_owner_log(sw, car.vehicle_id, car.vehicle_id in excluded),
        refused.vehicle_id, request.decision, request.reason,
    )  # fmt: skip
