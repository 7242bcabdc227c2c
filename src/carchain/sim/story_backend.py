"""The demo's chain, embedded or a 4-validator localnet, and the figures read back from it.

``run_chain_demo(console, vehicles, root, network=...)`` builds the story's world
(``story_world.run_story_world``: fleet, registration, consents, data plane) on the
chosen chain and runs a story in it: by default ``read_chain_figures``, which reads
the chain itself (every block's transactions by type, the anchors per gateway per
block, the registered vehicles and, on the network, every validator's app hash at a
common height). The full story plugs in as ``story=``: it receives the
``StoryWorld`` and returns whatever the demo prints.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import msgspec
from rich.console import Console
from rich.table import Table

from carchain.errors import ConsensusUnavailable
from carchain.network.layout import NetworkLayout
from carchain.sdk.client import Client
from carchain.sim.fleet_run import SimResult
from carchain.sim.story_world import StoryWorld, run_story_world
from carchain.sim.world import FleetParams

T = TypeVar("T")
ANCHOR_TYPE = "anchor.submit"
VEHICLE_PAGE = 100


@dataclass(frozen=True, slots=True)
class ChainFigures:
    """What the chain holds, read from the chain: height, transactions per type,
    anchors (how many, in how many blocks, the most of one gateway in one block),
    registered vehicles, and on a localnet each validator's app hash at
    ``common_height``."""

    height: int
    tx_types: dict[str, int]
    anchor_txs: int
    anchor_blocks: int
    max_anchors_per_gateway_block: int
    vehicles: int
    common_height: int = 0
    app_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def transactions(self) -> int:
        """Return the number of transactions in all blocks."""
        return sum(self.tx_types.values())


def count_block_txs(client: Client, height: int) -> tuple[Counter[str], Counter[bytes]]:
    """Return the transactions of block ``height`` per type, and its anchors per signer."""
    types: Counter[str] = Counter()
    anchors: Counter[bytes] = Counter()
    for raw in client.block(height)["txs"]:
        env = msgspec.msgpack.decode(base64.b64decode(raw))
        types[str(env[4])] += 1
        if env[4] == ANCHOR_TYPE:
            anchors[bytes(env[2])] += 1
    return types, anchors


def count_vehicles(client: Client) -> int:
    """Return how many vehicles the chain has registered (paging the registry)."""
    total, after = 0, ""
    while True:
        page = client.vehicles(limit=VEHICLE_PAGE, after=after)
        total += len(page)
        if len(page) < VEHICLE_PAGE:
            return total
        after = str(page[-1]["vehicle_id"])


def read_validator_hashes(
    layout: NetworkLayout, timeout_s: float = 5.0
) -> tuple[int, dict[str, str]]:
    """Return the highest height every validator has committed and each one's app
    hash in its header there, asked of each node's own CometBFT RPC."""

    def rpc(url: str, method: str, **params: int) -> dict[str, object]:
        try:
            doc = httpx.get(f"{url}/{method}", params=params, timeout=timeout_s).json()
            return dict(doc["result"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise ConsensusUnavailable(f"CometBFT RPC at {url} did not answer {method}") from exc

    heights = []
    for node in layout.nodes:
        sync = rpc(node.rpc_url, "status")["sync_info"]
        heights.append(int(sync["latest_block_height"]))  # type: ignore[index]
    common = min(heights)
    hashes = {}
    for node in layout.nodes:
        commit = rpc(node.rpc_url, "commit", height=common)
        header = commit["signed_header"]["header"]  # type: ignore[index]
        hashes[node.name] = str(header["app_hash"]).lower()
    return common, hashes


def read_chain_figures(sw: StoryWorld) -> ChainFigures:
    """Read the story world's chain: every block's transactions, the anchors per
    gateway per block, the registered vehicles, the validators' app hashes."""
    client = sw.client
    height = int(client.status()["height"])
    types: Counter[str] = Counter()
    anchor_txs = anchor_blocks = max_per_gateway = 0
    for h in range(1, height + 1):
        block_types, anchors = count_block_txs(client, h)
        types.update(block_types)
        if anchors:
            anchor_txs += sum(anchors.values())
            anchor_blocks += 1
            max_per_gateway = max(max_per_gateway, *anchors.values())
    common, hashes = 0, dict[str, str]()
    if sw.chain.network is not None:
        common, hashes = read_validator_hashes(sw.chain.network)
    return ChainFigures(
        height, dict(types), anchor_txs, anchor_blocks, max_per_gateway,
        count_vehicles(client), common, hashes,
    )  # fmt: skip


def run_chain_demo(
    console: Console | None,
    vehicles: int,
    root: Path,
    *,
    network: bool = False,
    story: Callable[[StoryWorld], T] | None = None,
) -> tuple[T | ChainFigures, SimResult]:
    """Run ``story`` (default: ``read_chain_figures``) in the world of ``vehicles`` cars
    on an embedded node in ``root/node`` or (``network``) a 4-validator localnet in
    ``root/network``; print the chain's figures and the phases' times if the story
    returned figures; return what it returned and the simulation's result."""
    root.mkdir(parents=True, exist_ok=True)
    params = FleetParams(vehicles=vehicles)
    run: Callable[[StoryWorld], T | ChainFigures] = story or read_chain_figures
    outcome, result = run_story_world(console, params, root, run, network=network)
    if console is not None and isinstance(outcome, ChainFigures):
        console.print(compute_figures_table(outcome, result, network))
    return outcome, result


def compute_figures_table(f: ChainFigures, r: SimResult, network: bool) -> Table:
    """Return the printed summary: the chain's figures and the time of each phase."""
    table = Table(title="carchain demo" + (" --network" if network else ""), show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("chain", "4-validator CometBFT localnet" if network else "embedded node")
    table.add_row("vehicles registered", f"{f.vehicles:,} of {len(r.world.cars):,}")
    table.add_row("records sealed", f"{r.plane.records:,} in {r.plane.batches:,} batches")
    table.add_row("blocks", f"{f.height:,}")
    table.add_row("transactions", f"{f.transactions:,}")
    for kind, n in sorted(f.tx_types.items()):
        table.add_row(f"  {kind}", f"{n:,}")
    table.add_row(
        "anchors",
        f"{f.anchor_txs} in {f.anchor_blocks} blocks "
        f"(max {f.max_anchors_per_gateway_block} per gateway per block)",
    )
    if f.app_hashes:
        same = len(set(f.app_hashes.values())) == 1
        first = next(iter(f.app_hashes.values()))
        verdict = f"all {len(f.app_hashes)} equal: {first[:16]}…" if same else "DIFFER"
        table.add_row(f"app hash at {f.common_height}", verdict)
    for name, seconds in r.timings.items():
        table.add_row(f"  {name}", f"{seconds:.2f} s")
    table.add_row("total", f"{r.seconds:.1f} s")
    return table
