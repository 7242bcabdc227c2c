"""Benchmark: the 4-validator CometBFT localnet under concurrent clients.

Creates a fresh localnet in a temporary folder (or uses ``--home``), registers
pre-signed vehicle registrations at a target rate through every node's
CometBFT RPC (JSON-RPC batches of ``broadcast_tx_sync``), and watches node0's
blocks. For each offered rate it prints the sustained committed tx/s and the
p50/p99 latency from submission to the first observation of the block that
holds the transaction. Every process it starts is stopped by pid at the end.

    .venv/bin/python bench/bench_network.py [--rates 500,1000,2000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from carchain.core.genesis import GenesisMember
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.network import localnet
from carchain.network.cometconfig import TUNING
from carchain.network.layout import NodeLayout
from carchain.sdk.transactions import build_tx
from carchain.sdk.vin import compute_vin_commitment, compute_vin_with_check_digit

CLIENTS = 16  # one signer each, pinned to one node (nonces stay in order)
BATCH = 50


@dataclass
class Run:
    """One offered rate's outcome."""

    rate: int
    submitted: int
    committed: int
    failed: int
    seconds: float
    latencies: list[float]
    sent: list[int]

    @property
    def tps(self) -> float:
        return self.committed / self.seconds if self.seconds else 0.0


def _vin(n: int) -> str:
    return compute_vin_with_check_digit(f"LSVAX4180{n:08d}")


def make_txs(chain_id: str, key: SigningKey, oem: str, start: int, count: int) -> list[bytes]:
    """Return ``count`` signed registrations with consecutive nonces from ``start``."""
    salt = os.urandom(32)
    return [
        build_tx(
            chain_id,
            key,
            start + i,
            RegisterVehicle(
                f"{oem}:{start + i}",
                compute_vin_commitment(_vin(start + i), salt),
                hashlib.sha256(b"vk" + salt + i.to_bytes(4, "big")).digest(),
                "RX5",
                2024,
                hashlib.sha256(b"ow" + salt + i.to_bytes(4, "big")).digest(),
            ),
        )
        for i in range(count)
    ]


def encode_batch(txs: list[bytes], method: str) -> bytes:
    """Return a JSON-RPC batch of ``broadcast_tx_*`` calls."""
    return json.dumps(
        [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": method,
                "params": {"tx": base64.b64encode(t).decode()},
            }
            for i, t in enumerate(txs)
        ]
    ).encode()


async def watch_blocks(
    node: NodeLayout, submitted: dict[bytes, float], seen: dict[bytes, float], stop: asyncio.Event
) -> int:
    """Record when each submitted transaction first shows up in a block; return failures."""
    failed = 0
    async with httpx.AsyncClient(timeout=10) as http:
        st = (await http.get(f"{node.rpc_url}/status")).json()["result"]
        height = int(st["sync_info"]["latest_block_height"])
        while not stop.is_set():
            st = (await http.get(f"{node.rpc_url}/status")).json()["result"]
            top = int(st["sync_info"]["latest_block_height"])
            while height < top:
                height += 1
                blk = (await http.get(f"{node.rpc_url}/block", params={"height": height})).json()
                now = time.monotonic()
                txs = blk["result"]["block"]["data"]["txs"] or []
                while txs:  # results are saved just after the block: retry briefly
                    doc = (
                        await http.get(f"{node.rpc_url}/block_results", params={"height": height})
                    ).json()
                    if "result" in doc:
                        res = doc["result"]["txs_results"] or []
                        failed += sum(1 for r in res if int(r.get("code") or 0))
                        break
                    await asyncio.sleep(0.02)
                for t in txs:
                    h = hashlib.sha256(base64.b64decode(t)).digest()
                    if h in submitted and h not in seen:
                        seen[h] = now
            await asyncio.sleep(0.02)
    return failed


async def drive(
    nodes: list[NodeLayout], clients: list[list[bytes]], rate: int, seconds: float, method: str
) -> Run:
    """Offer ``rate`` tx/s for ``seconds`` across ``clients``; wait for the commits."""
    submitted: dict[bytes, float] = {}
    seen: dict[bytes, float] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_blocks(nodes[0], submitted, seen, stop))
    per_client = rate / len(clients)
    interval = BATCH / per_client
    start = time.monotonic()

    async def client(i: int, txs: list[bytes]) -> int:
        node = nodes[i % len(nodes)]
        async with httpx.AsyncClient(timeout=60) as http:
            k = 0
            next_at = start + (i / len(clients)) * interval
            while k < len(txs) and time.monotonic() - start < seconds:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                batch = txs[k : k + BATCH]
                k += len(batch)
                t0 = time.monotonic()
                for t in batch:
                    submitted[hashlib.sha256(t).digest()] = t0
                await http.post(
                    node.rpc_url,
                    content=encode_batch(batch, method),
                    headers={"content-type": "application/json"},
                )
                next_at += interval
        return k

    sent = await asyncio.gather(*(client(i, txs) for i, txs in enumerate(clients)))
    sent_until = time.monotonic()
    deadline = sent_until + 30
    while len(seen) < len(submitted) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    failed = await watcher
    lat = sorted(seen[h] - submitted[h] for h in seen)
    last = max(seen.values()) if seen else sent_until
    return Run(rate, len(submitted), len(seen) - failed, failed, last - start, lat, list(sent))


def percentile(values: list[float], p: float) -> float:
    """Return the ``p`` quantile of sorted ``values``."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(p * len(values)))]


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="500,1000,1500,2000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--method",
        default="broadcast_tx_async",
        choices=["broadcast_tx_async", "broadcast_tx_sync"],
        help="async pipelines CheckTx; sync waits for each (CometBFT flushes every 20 ms)",
    )
    parser.add_argument("--timeout-commit", default="200ms", help="CometBFT timeout_commit")
    parser.add_argument("--flush-throttle", default="", help="CometBFT p2p flush_throttle_timeout")
    args = parser.parse_args()
    tuning = {k: dict(v) for k, v in TUNING.items()}
    tuning["consensus"]["timeout_commit"] = args.timeout_commit
    if args.flush_throttle:
        tuning["p2p"]["flush_throttle_timeout"] = args.flush_throttle
    rates = [int(r) for r in args.rates.split(",")]
    keys = {f"oem-bench-{i:02d}": SigningKey.generate() for i in range(CLIENTS)}
    extra = [
        GenesisMember(m, f"Bench OEM {m[-2:]}", ["oem"], k.public_key.hex())
        for m, k in keys.items()
    ]
    with tempfile.TemporaryDirectory(prefix="carchain-bench-net-") as tmp:
        home = Path(tmp) / "net"
        created = localnet.create_network(home, 4, tuning=tuning, extra_members=extra)
        layout = created.layout
        try:
            localnet.up(home)
            nonce = {m: 1 for m in keys}
            print(
                f"carchain CometBFT localnet benchmark — {platform.node()}, "
                f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            )
            print(
                f"4 validators + 4 app processes on loopback; {CLIENTS} clients, "
                f"JSON-RPC batches of {BATCH} ({args.method}); timeout_commit {args.timeout_commit}"
            )
            print(
                f"{'offered tx/s':>12} {'submitted':>10} {'committed':>10} {'failed':>7} "
                f"{'committed tx/s':>15} {'p50 s':>7} {'p99 s':>7}"
            )
            for rate in rates:
                count = int(rate * args.seconds / CLIENTS) + BATCH
                clients = []
                for m, k in keys.items():
                    clients.append(make_txs(layout.chain_id, k, m, nonce[m], count))
                run = asyncio.run(drive(layout.nodes, clients, rate, args.seconds, args.method))
                for m, n in zip(keys, run.sent, strict=True):
                    nonce[m] += n  # unsent transactions never used their nonces
                print(
                    f"{rate:>12} {run.submitted:>10} {run.committed:>10} {run.failed:>7} "
                    f"{run.tps:>15.0f} {percentile(run.latencies, 0.5):>7.2f} "
                    f"{percentile(run.latencies, 0.99):>7.2f}"
                )
        finally:
            for node in layout.nodes:
                localnet.stop_node(layout, node)


if __name__ == "__main__":
    main()
