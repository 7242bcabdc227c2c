"""The owners' consent choices, given on chain: each owner signs a ``consent.grant``
per purpose it accepted (``fleet.CONSENT_MIX``), to the member that offered it.

A sensitive category (location) is granted on its own and only to one member, as
the law and the chain require; the other categories of the same choice go in a
second grant. The grants cover the simulated drive's data and expire a year on.
"""

from __future__ import annotations

from collections import Counter

from carchain.core.categories import is_sensitive_category
from carchain.core.consents import GrantConsent, Purpose
from carchain.errors import CarchainError
from carchain.sdk.client import Client
from carchain.sdk.transactions import build_tx
from carchain.sim.fleet import Car, ConsentChoice, derive_owner_key
from carchain.sim.fleet_plane import wait_committed
from carchain.sim.phases import Phases
from carchain.sim.story_consortium import INSURER, MAP_PROVIDER
from carchain.sim.world import FleetWorld

YEAR_MS = 365 * 86_400_000
SUBMIT_BATCH = 250
# The member each purpose's offer came from ("" and a role: every member of the role).
RECIPIENTS: dict[str, tuple[str, str]] = {
    Purpose.INSURANCE.value: (INSURER, ""),
    Purpose.NAVIGATION_MAPS.value: (MAP_PROVIDER, ""),
    Purpose.RESEARCH.value: ("", "supplier"),
}


def compute_recipient(car: Car, purpose: str) -> tuple[str, str]:
    """Return (member id, role) a choice of ``purpose`` is granted to: maintenance
    diagnostics to the car's own OEM, the others to the member that offered them."""
    if purpose == Purpose.MAINTENANCE_DIAGNOSTICS.value:
        return car.oem, ""
    return RECIPIENTS[purpose]


def compute_grants(
    car: Car, choice: ConsentChoice, start_ms: int, end_ms: int
) -> list[GrantConsent]:
    """Return the grants one choice needs: a sensitive category alone, the rest together."""
    member, role = compute_recipient(car, choice.purpose)
    sensitive = [c for c in choice.categories if is_sensitive_category(c)]
    rest = sorted(c for c in choice.categories if not is_sensitive_category(c))
    groups = [[c] for c in sensitive] + ([rest] if rest else [])
    return [
        GrantConsent(car.vehicle_id, group, choice.purpose, member, role, start_ms, end_ms,
                     end_ms + YEAR_MS)
        for group in groups
    ]  # fmt: skip


def build_fleet_grants(world: FleetWorld, chain_id: str) -> list[tuple[str, bytes]]:
    """Return every owner's signed grants as (purpose, tx), in fleet order. Owners have
    never signed before, so their nonces start at 1."""
    p = world.params
    out = []
    for car in world.cars:
        owner = derive_owner_key(p.seed, car)
        bodies = [g for ch in car.consents for g in compute_grants(car, ch, p.start_ms, p.end_ms)]
        for nonce, body in enumerate(bodies, start=1):
            out.append((body.purpose, build_tx(chain_id, owner, nonce, body)))
    return out


def grant_fleet_consents(
    client: Client, world: FleetWorld, chain_id: str, phases: Phases
) -> Counter[str]:
    """Have every owner give its grants on chain; return the grants per purpose once
    all are committed (``CarchainError`` if the chain refuses one)."""
    grants = build_fleet_grants(world, chain_id)
    per_purpose: Counter[str] = Counter()
    last = ""
    with phases.phase("owners' consents", len(grants)) as advance:
        for lo in range(0, len(grants), SUBMIT_BATCH):
            chunk = grants[lo : lo + SUBMIT_BATCH]
            out = client.submit_batch([tx for _, tx in chunk])
            for r, (purpose, _) in zip(out["results"], chunk, strict=True):
                if r["check"]["code"] != 0:
                    raise CarchainError(f"consent grant refused: {r['check']}")
                per_purpose[purpose] += 1
                last = r["hash"]
            advance(len(chunk))
        if last:
            wait_committed(client, last)
    return per_purpose
