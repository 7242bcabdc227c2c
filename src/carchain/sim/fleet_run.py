"""``carchain sim``: the fleet world on an embedded node, end to end, with timings.

A fresh consortium on a chain (an embedded solo node by default, a CometBFT localnet
with ``backend=make_localnet_backend()``: ``sim.chain_backend``); the world simulated from the seed
(its start moved to the last hour, so the gateways accept every epoch); the OEMs
register their cars; the cars' records go through the gateways and are anchored.
``after`` runs while the gateways still serve (the demo's investigation).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from carchain.gateway.process_host import open_gateway_hosts
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sim.chain_backend import Chain, ChainBackend, open_embedded_chain
from carchain.sim.consortium import Consortium, create_consortium
from carchain.sim.drive import compute_drive_start
from carchain.sim.fleet_plane import PlaneStats, RunAfter, open_fleet_plane, register_fleet
from carchain.sim.fleet_sealing import open_sealers
from carchain.sim.phases import Phases
from carchain.sim.world import FleetParams, FleetWorld, simulate_fleet, validate_params

SetupChain = Callable[[Chain, FleetWorld, Phases], None]
"""What runs on the chain once the fleet is registered, before it drives (``Chain``
has the ``url`` and ``node`` of an ``EmbeddedNode``)."""


@dataclass(frozen=True, slots=True)
class SimResult:
    """What ``run_sim`` did: the world (its ``truth`` for tests only), the data plane's
    figures, the chain's height and the wall time of each phase."""

    world: FleetWorld
    plane: PlaneStats
    height: int
    timings: dict[str, float]
    seconds: float


def compute_start_ms(minutes: int, now_ms: int) -> int:
    """Return a drive start ``minutes`` before now (whole seconds, one UTC day)."""
    return compute_drive_start(now_ms, minutes * 60_000) // 1000 * 1000


def run_sim(
    console: Console | None,
    params: FleetParams,
    home: Path | None = None,
    after: RunAfter | None = None,
    setup: SetupChain | None = None,
    consortium: Consortium | None = None,
    *,
    backend: ChainBackend = open_embedded_chain,
) -> SimResult:
    """Simulate ``params`` and run its data plane on the chain ``backend`` starts in
    ``home`` (a temporary folder by default; an embedded node by default), for
    ``consortium`` (fresh founders by default). ``setup`` runs once the fleet is
    registered, before it drives (the owners' consents, say); ``after`` while the
    gateways still serve."""
    validate_params(params)
    started = time.monotonic()
    if params.start_ms == FleetParams().start_ms:
        now = int(time.time() * 1000)
        params = dataclasses.replace(params, start_ms=compute_start_ms(params.minutes, now))
    phases = Phases(console)
    world = simulate_fleet(params, phases)
    consortium = consortium or create_consortium("carchain-sim")
    assert consortium.genesis is not None  # create_consortium always sets it
    with (
        open_gateway_hosts(len(consortium.oems)) as hosts,  # forked first: no thread runs yet
        open_sealers() as sealers,
        tempfile.TemporaryDirectory(prefix="carchain-sim-") as tmp,
    ):
        root = home or Path(tmp)
        with ExitStack() as stack:
            with phases.phase("starting the chain", 1) as advance:
                chain = stack.enter_context(backend(root, consortium.genesis))
                client = stack.enter_context(Client(chain.url))
                advance(1)
            accounts = {
                m: Account(client, k, consortium.chain_id) for m, k in consortium.keys.items()
            }
            register_fleet(client, accounts, world, phases)
            if setup is not None:
                setup(chain, world, phases)
            oem_keys = {oem: consortium.keys[oem] for oem in consortium.oems}
            with open_fleet_plane(
                client, oem_keys, world, root / "data-plane", phases, sealers, hosts
            ) as plane:
                if after is not None:
                    after(world, plane)
                height = int(client.status()["height"])
            stopping = time.monotonic()
        phases.timings["stopping the chain"] = time.monotonic() - stopping
    return SimResult(world, plane.stats, height, phases.timings, time.monotonic() - started)
