"""The story's running world: the simulated fleet on one embedded chain, registered,
its owners' consents given, its hour of data sealed (escrow shares to the committee)
and anchored through each OEM's gateway, with every party's account at hand.

``run_story_world`` builds it with ``fleet_run.run_sim`` and hands it, while the
gateways still serve, to the story (the investigation, everyone's view). The chain is
an embedded node, or with ``network=True`` a fresh 4-validator CometBFT localnet in
``root/network`` (``sim.chain_backend``), torn down by pid at the end.

Time: on the embedded node the block clock is a ``ShiftedClock`` the story advances
to let a case's notification delay pass, as simulated time would. CometBFT's block
time is real, so there the story's court sets a short delay: the story takes it from
``StoryWorld.notice_delay_ms`` (30 days embedded, 15 s on the network) and calls
``advance_clock(notice_delay_ms)``, which on the network waits for a committed block
at or past the target time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec
from rich.console import Console

from carchain.core.case_records import DAY_MS
from carchain.custodian.runner import CustodianRunner, CustodianSettings
from carchain.errors import CommitTimeout, InvalidNonce, NodeUnavailable
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sim.case_world import ShiftedClock
from carchain.sim.chain_backend import Chain, make_localnet_backend, open_embedded_chain
from carchain.sim.fleet_consents import grant_fleet_consents
from carchain.sim.fleet_plane import FleetPlane
from carchain.sim.fleet_run import SimResult, run_sim
from carchain.sim.phases import Phases
from carchain.sim.story_consortium import StoryConsortium, create_story_consortium
from carchain.sim.world import FleetParams, FleetWorld

T = TypeVar("T")
NONCE_RETRY_S = 30.0
EMBEDDED_NOTICE_DELAY_MS = 30 * DAY_MS
NETWORK_NOTICE_DELAY_MS = 15_000
# How long past the target a network block may come (blocks every second or so).
CLOCK_SLACK_S = 30.0


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
    chain: Chain
    notice_delay_ms: int = EMBEDDED_NOTICE_DELAY_MS
    accounts: dict[str, Account] = field(default_factory=dict)
    runners: dict[str, CustodianRunner] = field(default_factory=dict)

    @property
    def client(self) -> Client:
        """Return the node's client."""
        return self.plane.client

    @property
    def rpc_url(self) -> str | None:
        """Return a validator's CometBFT RPC URL on the network (the light-client headers
        a bundle or statement carries come from it); ``None`` on the embedded node."""
        layout = self.chain.network
        return None if layout is None else layout.nodes[0].rpc_url

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

    def send(
        self, member: str, body: msgspec.Struct, mode: Literal["sync", "commit"] = "commit"
    ) -> dict[str, Any]:
        """Send ``body`` as ``member`` and wait for its commit (``sync``: for its check
        only), retrying a nonce that the member's gateway took meanwhile (an OEM's anchors
        share its key)."""
        deadline = time.monotonic() + NONCE_RETRY_S
        while True:
            try:
                return self.account(member).send(body, mode)
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

    @property
    def is_network(self) -> bool:
        """Return whether the chain is a CometBFT localnet (real block time)."""
        return self.chain.is_network

    def advance_clock(self, ms: int) -> None:
        """Let ``ms`` of block time pass: on the embedded node move its block clock
        forward (simulated time passing); on the network wait until a block at or past
        now + ``ms`` is committed (``CommitTimeout`` if none comes in time)."""
        if not self.chain.is_network:
            self.clock.offset_ms += ms
            return
        target_ms = int(time.time() * 1000) + ms
        deadline = time.monotonic() + ms / 1000 + CLOCK_SLACK_S
        while int(self.client.status()["latest_block_time_ms"]) < target_ms:
            if time.monotonic() > deadline:
                raise CommitTimeout(f"no block at or past {target_ms} ms came in time")
            time.sleep(0.2)

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
    *,
    network: bool = False,
) -> tuple[T, SimResult]:
    """Build the world of ``params`` in ``root`` (on a 4-validator localnet in
    ``root/network`` if ``network``, else an embedded node in ``root/node``) and run
    ``story`` in it; return what the story returned and the simulation's result."""
    consortium = create_story_consortium(params.seed)
    backend = make_localnet_backend(member_keys=consortium.keys) if network else None
    delay = NETWORK_NOTICE_DELAY_MS if network else EMBEDDED_NOTICE_DELAY_MS
    chains: list[Chain] = []
    clock = ShiftedClock()
    consents: Counter[str] = Counter()
    outcome: list[T] = []

    def setup(chain: Chain, world: FleetWorld, phases: Phases) -> None:
        chains.append(chain)
        if not chain.is_network:
            if chain.node is None:
                raise NodeUnavailable("the embedded node did not start")
            chain.node.clock = clock.time
        client = Client(chain.url)
        try:
            consents.update(grant_fleet_consents(client, world, consortium.chain_id, phases))
        finally:
            client.close()

    def after(world: FleetWorld, plane: FleetPlane) -> None:
        phases = Phases(console)
        sw = StoryWorld(world, plane, consortium, clock, root, phases, consents, chains[0], delay)
        try:
            outcome.append(story(sw))
        finally:
            sw.stop_custodians()

    result = run_sim(
        console, params, root, after=after, setup=setup, consortium=consortium,
        backend=backend or open_embedded_chain,
    )  # fmt: skip
    return outcome[0], result
