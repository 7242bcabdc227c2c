"""The story's running world: the simulated fleet on one embedded chain, registered,
its owners' consents given, its hour of data sealed (escrow shares to the committee)
and anchored through each OEM's gateway, with every party's account at hand.

``run_story_world`` builds it with ``fleet_run.run_sim`` and hands it, while the
gateways still serve, to the story (the investigation, everyone's view). The node's
block clock is a ``ShiftedClock``: the story advances it to let a case's notification
delay pass, as simulated time would.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from rich.console import Console

from carchain.custodian.runner import CustodianRunner, CustodianSettings
from carchain.errors import InvalidNonce, NodeUnavailable
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sim.case_world import ShiftedClock
from carchain.sim.embedded import EmbeddedNode
from carchain.sim.fleet_consents import grant_fleet_consents
from carchain.sim.fleet_plane import FleetPlane
from carchain.sim.fleet_run import SimResult, run_sim
from carchain.sim.phases import Phases
from carchain.sim.story_consortium import StoryConsortium, create_story_consortium
from carchain.sim.world import FleetParams, FleetWorld

T = TypeVar("T")
NONCE_RETRY_S = 30.0


@dataclass
class StoryWorld:
    """The running world (valid inside ``run_story_world``'s story)."""

    world: FleetWorld
    plane: FleetPlane
    consortium: StoryConsortium
    clock: ShiftedClock
    root: Path
    phases: Phases
    consents: Counter[str]
    accounts: dict[str, Account] = field(default_factory=dict)
    runners: dict[str, CustodianRunner] = field(default_factory=dict)

    @property
    def client(self) -> Client:
        """Return the node's client."""
        return self.plane.client

    @property
    def chain_id(self) -> str:
        """Return the chain id."""
        return self.consortium.chain_id

    def gateway_url(self, oem: str) -> str:
        """Return ``oem``'s gateway URL (``NodeUnavailable`` for an OEM with none)."""
        gateway = self.plane.gateways.get(oem)
        if gateway is None:
            raise NodeUnavailable(f"no gateway for {oem!r}")
        return gateway.url

    def account(self, member: str) -> Account:
        """Return ``member``'s account (its nonce tracked across the story)."""
        if member not in self.accounts:
            key = self.consortium.keys[member]
            self.accounts[member] = Account(self.client, key, self.chain_id)
        return self.accounts[member]

    def send(self, member: str, body: msgspec.Struct) -> dict[str, Any]:
        """Send ``body`` as ``member`` and wait for its commit, retrying a nonce that the
        member's gateway took meanwhile (an OEM's anchors share its key)."""
        deadline = time.monotonic() + NONCE_RETRY_S
        while True:
            try:
                return self.account(member).send(body)
            except InvalidNonce:
                if time.monotonic() > deadline:
                    raise

    def start_custodian(self, member: str) -> CustodianRunner:
        """Start custodian ``member``'s service (journal under the world's folder)."""
        settings = CustodianSettings(
            self.root / "custodian" / member, self.consortium.keys[member],
            self.consortium.escrow_keys[member], self.client.url,
            [g.url for g in self.plane.gateways.values()], False, 0.05,
        )  # fmt: skip
        runner = CustodianRunner(settings)
        runner.start()
        self.runners[member] = runner
        return runner

    def advance_clock(self, ms: int) -> None:
        """Move the node's block clock ``ms`` forward (simulated time passing)."""
        self.clock.offset_ms += ms

    def stop_custodians(self) -> None:
        """Stop every custodian service the story started."""
        for runner in self.runners.values():
            runner.stop()
        self.runners.clear()


def run_story_world(
    console: Console | None,
    params: FleetParams,
    root: Path,
    story: Callable[[StoryWorld], T],
) -> tuple[T, SimResult]:
    """Build the world of ``params`` in ``root`` and run ``story`` in it; return what the
    story returned and the simulation's result."""
    consortium = create_story_consortium(params.seed)
    clock = ShiftedClock()
    consents: Counter[str] = Counter()
    outcome: list[T] = []

    def setup(node: EmbeddedNode, world: FleetWorld, phases: Phases) -> None:
        if node.node is None:
            raise NodeUnavailable("the embedded node did not start")
        node.node.clock = clock.time
        client = Client(node.url)
        try:
            consents.update(grant_fleet_consents(client, world, consortium.chain_id, phases))
        finally:
            client.close()

    def after(world: FleetWorld, plane: FleetPlane) -> None:
        phases = Phases(console)
        sw = StoryWorld(world, plane, consortium, clock, root, phases, consents)
        try:
            outcome.append(story(sw))
        finally:
            sw.stop_custodians()

    result = run_sim(console, params, root, after=after, setup=setup, consortium=consortium)
    return outcome[0], result
