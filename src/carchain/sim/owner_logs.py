"""The owners' side of everyone's view: each car's access log, fetched and verified as
its owner would, after the court's notification delay has passed.

The owner signs an export of its whole log (``sdk/access_log_export``: every page
proven, the owner's registration proven) and checks it offline against the block hash
it holds, as ``carchain vehicle access-log-verify`` does. Simulated time passes by
moving the node's block clock past the cases' notice due time; the chain then appends
the ``case_notice`` and ``case_release`` entries to every scoped car's log by itself.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from carchain.core.access_log import MAX_PAGE
from carchain.core.case_records import Case, CaseState, RegisterEscrowKey
from carchain.core.cases import get_case
from carchain.errors import NodeUnavailable
from carchain.sdk.access_log_export import build_access_log_export, verify_access_log_export
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sim.fleet import Car, derive_owner_key
from carchain.sim.parallel import map_in_threads
from carchain.sim.story_consortium import AUDITOR
from carchain.sim.story_world import StoryWorld

NOTICE_WAIT_S = 30.0
CASE_KINDS = frozenset({"case_notice", "case_release"})


@dataclass(frozen=True, slots=True)
class OwnerLog:
    """One car's access log as its owner verified it."""

    vehicle_id: str
    in_scope: bool
    size: int
    complete: bool
    kinds: dict[str, int]  # entries by kind
    actors: dict[str, int]  # entries by member ("owner" for the owner's own)
    height: int
    trusted_by: tuple[str, ...]

    @property
    def case_entries(self) -> int:
        """Return how many lawful-access entries (notice, release) the log holds."""
        return sum(n for k, n in self.kinds.items() if k in CASE_KINDS)


def get_block_time_ms(client: Client) -> int:
    """Return the time of the node's latest block (ms)."""
    return int(client.status()["latest_block_time_ms"])


def get_scoped_vehicles(client: Client, case_ids: list[int]) -> list[str]:
    """Return the vehicles of the cases' authorised scopes (opened scope if none)."""
    view = ChainView(client)
    out: set[str] = set()
    for case_id in case_ids:
        case = get_case(view, case_id)
        out.update((case.scope or case.opened_scope).vehicles)
    return sorted(out)


def process_block_tick(sw: StoryWorld) -> None:
    """Have one block made at the shifted clock. The solo node makes blocks only for
    transactions (a CometBFT network makes empty ones too), so the auditor re-confirms
    its escrow key: state stays as it was, and the chain's end-of-block step gives the
    notices now due."""
    key = sw.consortium.escrow_keys[AUDITOR].public_key
    sw.send(AUDITOR, RegisterEscrowKey(key))


def get_noticeable_cases(client: Client, case_ids: list[int]) -> list[Case]:
    """Return the cases whose notice the chain gives (authorised or closed after it)."""
    view = ChainView(client)
    found = [get_case(view, c) for c in case_ids]
    return [c for c in found if c.state in (CaseState.AUTHORIZED, CaseState.CLOSED)]


def process_notice_delay(sw: StoryWorld, case_ids: list[int], notice_delay_ms: int) -> int:
    """Move the block clock past every case's notice due time (at least ``notice_delay_ms``)
    and return once the chain has noticed each authorised case; return the shift (ms).
    ``NotFound`` for an unknown case id."""
    cases = get_noticeable_cases(sw.client, case_ids)
    due = max((c.notice_due_ms for c in cases), default=0)
    shift = max(notice_delay_ms, due - get_block_time_ms(sw.client) + 1_000, 0)
    sw.advance_clock(shift)
    process_block_tick(sw)
    view = ChainView(sw.client)
    deadline = time.monotonic() + NOTICE_WAIT_S
    while not all(get_case(view, c.case_id).noticed for c in cases):
        if time.monotonic() > deadline:
            raise NodeUnavailable("the chain did not give the cases' notices in time")
        time.sleep(0.05)
    return shift


def fetch_owner_log(sw: StoryWorld, vehicle_id: str, in_scope: bool) -> OwnerLog:
    """Return ``vehicle_id``'s whole log, exported by its owner and verified offline."""
    car = get_car(sw, vehicle_id)
    owner = derive_owner_key(sw.world.params.seed, car)
    doc = build_access_log_export(sw.client, owner, vehicle_id, None, MAX_PAGE, True, sw.rpc_url)
    block_hash = bytes.fromhex(str(sw.client.header(int(doc["proof_height"]))["hash"]))
    v = verify_access_log_export(doc, BlockTrust(block_hash, chain_id=sw.chain_id))
    kinds = dict(sorted(Counter(e.kind for e in v.events).items()))
    actors = dict(sorted(Counter(e.actor_member or "owner" for e in v.events).items()))
    return OwnerLog(
        vehicle_id, in_scope, v.size, v.is_complete, kinds, actors, v.height, v.trusted_by
    )


def get_car(sw: StoryWorld, vehicle_id: str) -> Car:
    """Return the fleet's car ``vehicle_id`` (``NodeUnavailable`` if none)."""
    for car in sw.world.cars:
        if car.vehicle_id == vehicle_id:
            return car
    raise NodeUnavailable(f"no car {vehicle_id!r} in the fleet")


def choose_out_of_scope(sw: StoryWorld, scoped: list[str]) -> str:
    """Return a car outside every case's scope (the first in fleet order)."""
    for car in sw.world.cars:
        if car.vehicle_id not in scoped:
            return car.vehicle_id
    raise NodeUnavailable("every car of the fleet is in a case's scope")


def fetch_owner_logs(sw: StoryWorld, case_ids: list[int]) -> list[OwnerLog]:
    """Return the verified logs of every scoped car and of one car outside the scopes."""
    scoped = get_scoped_vehicles(sw.client, case_ids)
    wanted = [(vid, True) for vid in scoped] + [(choose_out_of_scope(sw, scoped), False)]
    return map_in_threads(lambda w: fetch_owner_log(sw, *w), wanted)
