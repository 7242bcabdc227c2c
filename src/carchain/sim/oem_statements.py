"""The automakers' side of everyone's view: each OEM's verifiable disclosure statements.

For every OEM with a gateway (the foreign brand's included) the OEM reads its proven
access log of all its vehicles, finds the vehicles with a disclosure (a consent
release or a lawful-access entry), and issues for each of them, and for one car of
its own with none, the signed statement of ``carchain oem statement``: "between these
dates, these disclosures of your car's data happened, and no others". Each is then
checked offline against the block hash, as ``carchain oem statement-verify`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from carchain.core.access_log import MAX_PAGE, AccessEvent
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.client import Client
from carchain.sdk.oem_statement import (
    DISCLOSURE_KINDS,
    build_oem_statement,
    verify_oem_statement,
)
from carchain.sim.owner_logs import get_block_time_ms
from carchain.sim.parallel import map_in_threads
from carchain.sim.story_world import StoryWorld


@dataclass(frozen=True, slots=True)
class VehicleStatement:
    """One verified statement: a vehicle's disclosures in the window, and no others."""

    vehicle_id: str
    from_ms: int
    until_ms: int
    events: int  # log entries of the window
    disclosures: list[tuple[int, str, str]]  # (seq, kind, actor) of each disclosure
    cases: list[int]  # lawful-access cases that released keys in the window
    height: int
    trusted_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OemStatements:
    """An OEM's statements for its vehicles with disclosures (and one without)."""

    oem: str
    foreign: bool
    log_size: int  # the OEM's proven access log, all its vehicles
    disclosed_vehicles: list[str]  # vehicles the OEM's log shows a disclosure for
    statements: list[VehicleStatement]


def fetch_oem_log(client: Client, oem: str) -> list[AccessEvent]:
    """Return the OEM's whole access log (every pointer and event proven), oldest first."""
    pages = [client.oem_access_log(oem, None, MAX_PAGE)]
    while pages[-1].next_before is not None:
        pages.append(client.oem_access_log(oem, pages[-1].next_before, MAX_PAGE, pages[0].height))
    return [e for p in reversed(pages) for e in reversed(p.events)]


def compute_disclosed_vehicles(events: list[AccessEvent]) -> list[str]:
    """Return the vehicles with a disclosure among ``events``, in first-disclosure order."""
    out: list[str] = []
    for e in events:
        if e.kind in DISCLOSURE_KINDS and e.vehicle_id not in out:
            out.append(e.vehicle_id)
    return out


def build_vehicle_statement(
    sw: StoryWorld, oem: str, vehicle_id: str, from_ms: int, until_ms: int
) -> VehicleStatement:
    """Have ``oem`` issue its statement for ``vehicle_id`` and verify it offline."""
    key = sw.consortium.keys[oem]
    doc = build_oem_statement(sw.client, key, oem, vehicle_id, from_ms, until_ms, sw.rpc_url)
    block_hash = bytes.fromhex(str(sw.client.header(int(doc["proof_height"]))["hash"]))
    v = verify_oem_statement(doc, BlockTrust(block_hash, chain_id=sw.chain_id))
    return VehicleStatement(
        v.vehicle_id, v.from_ms, v.until_ms, len(v.events),
        [(e.seq, e.kind, e.actor_member or "owner") for e in v.disclosures],
        sorted(c.case_id for c, _ in v.cases), v.height, v.trusted_by,
    )  # fmt: skip


def build_oem_statements(sw: StoryWorld, oem: str) -> OemStatements:
    """Return ``oem``'s verified statements since the first block for every vehicle its log shows
    a disclosure for, and for its first car without one."""
    events = fetch_oem_log(sw.client, oem)
    disclosed = compute_disclosed_vehicles(events)
    cars = [c for c in sw.world.cars if c.oem == oem]
    quiet = [c.vehicle_id for c in cars if c.vehicle_id not in disclosed][:1]
    from_ms = int(sw.client.header(1)["time_ms"])  # the chain's first block
    until_ms = get_block_time_ms(sw.client) + 1
    statements = map_in_threads(
        lambda vid: build_vehicle_statement(sw, oem, vid, from_ms, until_ms), disclosed + quiet
    )
    foreign = bool(cars) and cars[0].foreign
    return OemStatements(oem, foreign, len(events), disclosed, statements)


def build_all_oem_statements(sw: StoryWorld) -> list[OemStatements]:
    """Return every gateway OEM's statements, in member-id order."""
    return map_in_threads(lambda oem: build_oem_statements(sw, oem), sorted(sw.plane.gateways))
