"""Gateway vehicle lookups: one node read per batch against the registry view.

A car sends one batch a minute, so a per-batch read of its record from the node
(what the gateway did before the registry view: a 1 s cache that never hits at
that rate) costs one HTTP query per batch. The registry view reads each record
once, then answers from memory until a vehicle event of a later block names the
car; it syncs with the node's height at most every ``sync_interval_s``, shared by
all lookups. Both run side by side here against the same embedded node (real HTTP
API on 127.0.0.1), with ``--threads`` lookup threads over ``--cars`` registered
cars, each lookup asking for a view synced after the batch's end: ``--upload-delay-ms``
before the lookup (a car's upload crossing a mobile network), and 0 ms (the worst
case: every lookup waits for the next sync).

Usage: ``.venv/bin/python bench/bench_registry_view.py [--cars N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.core.vehicles import RegisterVehicle, get_vehicle
from carchain.crypto.signing import SigningKey
from carchain.gateway.registry_view import RegistryView
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.transactions import build_tx
from carchain.sim.embedded import EmbeddedNode

CHAIN_ID = "carchain-bench"
OEM = "saic"
OEM_KEY = SigningKey.from_seed(b"\x01" * 32)
REGISTER_CHUNK = 500


def make_genesis() -> Genesis:
    """Return a one-OEM genesis."""
    val = SigningKey.from_seed(b"\x02" * 32).public_key.hex()
    member = GenesisMember(OEM, "SAIC Motor", ["oem"], OEM_KEY.public_key.hex(), val, 10)
    return Genesis(CHAIN_ID, int(time.time() * 1000) - 60_000, GovernanceParams(2, 3, 5), [member])


def register_vehicles(client: Client, cars: list[tuple[str, bytes, bytes]]) -> None:
    """Register ``(vehicle id, public key, owner)`` through the node's API, as the OEM;
    return once all are committed."""
    nonce = client.nonce(OEM_KEY.public_key)  # the last one used
    for start in range(0, len(cars), REGISTER_CHUNK):
        txs = []
        for vid, key, owner in cars[start : start + REGISTER_CHUNK]:
            nonce += 1
            body = RegisterVehicle(vid, os.urandom(32), key, "RX5", 2024, owner)
            txs.append(build_tx(CHAIN_ID, OEM_KEY, nonce, body))
        verdicts = client.submit_batch(txs)
        if verdicts["accepted"] != len(txs):
            raise SystemExit(f"the node refused registrations: {verdicts['results'][0]}")
    deadline = time.monotonic() + 120
    while client.nonce(OEM_KEY.public_key) < nonce:
        if time.monotonic() > deadline:
            raise SystemExit("registrations did not commit in 120 s")
        time.sleep(0.05)


def register_cars(client: Client, cars: int) -> list[str]:
    """Register ``cars`` vehicles with fresh keys; return their ids once committed."""
    ids = [f"{OEM}:bench-{i}" for i in range(cars)]
    owner = SigningKey.from_seed(b"\x03" * 32).public_key
    register_vehicles(client, [(v, SigningKey.generate().public_key, owner) for v in ids])
    return ids


def run(lookup: Callable[[str], object], ids: list[str], threads: int, seconds: float) -> float:
    """Return lookups/s of ``threads`` threads calling ``lookup`` round the cars."""
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        i = n
        while time.monotonic() < stop:
            lookup(ids[i % len(ids)])
            i += threads
            counts[n] += 1

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    began = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - began)


def main() -> None:
    """Measure both lookups side by side and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cars", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--upload-delay-ms", type=int, default=100, help="batch end to lookup")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp,
        EmbeddedNode(Path(tmp) / "node", make_genesis(), block_interval_ms=200) as node,
    ):
        if True:
            client = Client(node.url)
            ids = register_cars(client, args.cars)
            chain = ChainView(client)
            per_batch = run(lambda v: get_vehicle(chain, v), ids, args.threads, args.seconds)
            view = RegistryView(client)
            for vid in ids:  # first use: one read each (a car's first batch)
                view.get_vehicle(vid)
            reads = view.counts["reads"]

            viewed = {}
            for delay_ms in (args.upload_delay_ms, 0):

                def lookup(vid: str, delay_ms: int = delay_ms) -> object:
                    return view.get_vehicle(vid, int(time.time() * 1000) - delay_ms)

                syncs = view.counts["syncs"]
                rate = run(lookup, ids, args.threads, args.seconds)
                viewed[delay_ms] = (rate, view.counts["syncs"] - syncs)
            client.close()
    table = Table(title=f"Vehicle lookups, {args.cars} cars, {args.threads} threads")
    for col in ("path", "lookups/s", "node reads after first use", "ratio"):
        table.add_column(col, justify="right")
    table.add_row("node read per batch", f"{per_batch:,.0f}", "1 per lookup", "1.00")
    after = view.counts["reads"] - reads
    for delay_ms, (rate, syncs) in viewed.items():
        name = f"registry view, batch ended {delay_ms} ms before"
        table.add_row(name, f"{rate:,.0f}", f"{after} ({syncs} syncs)", f"{rate / per_batch:.2f}")
    console = Console()
    console.print(table)
    load = os.getloadavg()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    console.print(f"{platform.node()} {os.cpu_count()} cpus, load {load[0]:.2f}, {stamp}")


if __name__ == "__main__":
    main()
