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
from typing import Any

import httpx

from carchain.core.genesis import GenesisMember
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.network import localnet
from carchain.network.cometconfig import TUNING
from carchain.sdk.transactions import build_tx
from carchain.sdk.vin import compute_vin_commitment, compute_vin_with_check_digit

CLIENTS = 16  # one signer each, pinned to one node (nonces stay in order)
BATCH = 50
RESULT_TRIES = 250  # a block's results, read every 20 ms: at most ~5 s, then given up


@dataclass
class Run:
    """One offered rate's outcome.

    ``send_failed`` counts the transactions whose batch could not be posted (a timeout or
    transport error: under load the RPC stops answering in time), ``poll_errors`` the
    block watcher's reads that failed and were retried; neither ends the run.
    """

    rate: int
    submitted: int
    committed: int
    failed: int
    seconds: float
    latencies: list[float]
    sent: list[int]
    send_failed: int = 0
    poll_errors: int = 0

    @property
    def tps(self) -> float:
        return self.committed / self.seconds if self.seconds else 0.0


HEADER = (
    f"{'offered tx/s':>12} {'submitted':>10} {'send failed':>11} {'committed':>10} "
    f"{'failed':>7} {'committed tx/s':>15} {'p50 s':>7} {'p99 s':>7} {'poll errors':>11}"
)


def format_row(run: Run) -> str:
    """Return the table row of one rate."""
    return (
        f"{run.rate:>12} {run.submitted:>10} {run.send_failed:>11} {run.committed:>10} "
        f"{run.failed:>7} {run.tps:>15.0f} {percentile(run.latencies, 0.5):>7.2f} "
        f"{percentile(run.latencies, 0.99):>7.2f} {run.poll_errors:>11}"
    )


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


@dataclass
class Tally:
    """What the watcher counted: failed transactions in blocks, failed reads of the RPC."""

    failed: int = 0
    poll_errors: int = 0


async def get_result(
    http: httpx.AsyncClient, url: str, tally: Tally, params: dict[str, int] | None = None
) -> dict[str, Any] | None:
    """Return a CometBFT RPC answer's ``result``, ``None`` for an error answer (a block's
    results not saved yet) and ``None`` with one poll error counted on a timeout, a
    transport error or an answer that is no JSON."""
    try:
        doc = (await http.get(url, params=params)).json()
    except (httpx.HTTPError, ValueError):
        tally.poll_errors += 1
        return None
    result = doc.get("result") if isinstance(doc, dict) else None
    return result if isinstance(result, dict) else None


async def get_latest_height(http: httpx.AsyncClient, rpc_url: str, tally: Tally) -> int | None:
    """Return the node's latest block height, ``None`` if the RPC did not answer it."""
    st = await get_result(http, f"{rpc_url}/status", tally)
    try:
        return None if st is None else int(st["sync_info"]["latest_block_height"])
    except (KeyError, TypeError, ValueError):
        tally.poll_errors += 1
        return None


async def scan_block(
    http: httpx.AsyncClient,
    rpc_url: str,
    height: int,
    watch: tuple[dict[bytes, float], dict[bytes, float]],
    tally: Tally,
) -> bool:
    """Record the submitted transactions block ``height`` holds; ``False`` if it could not
    be read (the caller reads it again on its next poll)."""
    submitted, seen = watch
    blk = await get_result(http, f"{rpc_url}/block", tally, {"height": height})
    if blk is None:
        return False
    now = time.monotonic()
    try:
        txs = list(blk["block"]["data"]["txs"] or [])
    except (KeyError, TypeError):
        tally.poll_errors += 1
        return False
    for _ in range(RESULT_TRIES if txs else 0):  # results are saved just after the block
        res = await get_result(http, f"{rpc_url}/block_results", tally, {"height": height})
        if res is not None:
            tally.failed += sum(1 for r in res.get("txs_results") or [] if int(r.get("code") or 0))
            break
        await asyncio.sleep(0.02)
    for t in txs:
        h = hashlib.sha256(base64.b64decode(t)).digest()
        if h in submitted and h not in seen:
            seen[h] = now
    return True


async def watch_blocks(
    rpc_url: str,
    submitted: dict[bytes, float],
    seen: dict[bytes, float],
    stop: asyncio.Event,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Tally:
    """Record when each submitted transaction first shows up in a block, from the first
    height the node reports on; return the failures and the failed reads."""
    tally = Tally()
    height: int | None = None
    async with httpx.AsyncClient(timeout=10, transport=transport) as http:
        while not stop.is_set():
            top = await get_latest_height(http, rpc_url, tally)
            height = top if height is None else height
            while top is not None and height is not None and height < top:
                if not await scan_block(http, rpc_url, height + 1, (submitted, seen), tally):
                    break
                height += 1
            await asyncio.sleep(0.02)
    return tally


async def post_batch(
    http: httpx.AsyncClient, rpc_url: str, batch: list[bytes], method: str
) -> bool:
    """Post one JSON-RPC batch; ``False`` on a timeout or transport error."""
    try:
        await http.post(
            rpc_url,
            content=encode_batch(batch, method),
            headers={"content-type": "application/json"},
        )
    except httpx.HTTPError:
        return False
    return True


async def drive(
    rpc_urls: list[str],
    clients: list[list[bytes]],
    rate: int,
    seconds: float,
    method: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Run:
    """Offer ``rate`` tx/s for ``seconds`` across ``clients``; wait for the commits. A
    batch whose post fails counts as failed submissions and is not waited for."""
    submitted: dict[bytes, float] = {}
    seen: dict[bytes, float] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_blocks(rpc_urls[0], submitted, seen, stop, transport))
    per_client = rate / len(clients)
    interval = BATCH / per_client
    start = time.monotonic()
    send_failed = 0

    async def client(i: int, txs: list[bytes]) -> int:
        nonlocal send_failed
        rpc_url = rpc_urls[i % len(rpc_urls)]
        async with httpx.AsyncClient(timeout=60, transport=transport) as http:
            k = 0
            next_at = start + (i / len(clients)) * interval
            while k < len(txs) and time.monotonic() - start < seconds:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                batch = txs[k : k + BATCH]
                k += len(batch)
                t0 = time.monotonic()
                hashes = [hashlib.sha256(t).digest() for t in batch]
                submitted.update((h, t0) for h in hashes)
                if not await post_batch(http, rpc_url, batch, method):
                    send_failed += len(batch)
                    for h in hashes:
                        submitted.pop(h, None)
                next_at += interval
        return k

    sent = await asyncio.gather(*(client(i, txs) for i, txs in enumerate(clients)))
    sent_until = time.monotonic()
    deadline = sent_until + 30
    while len(seen) < len(submitted) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    tally = await watcher
    lat = sorted(seen[h] - submitted[h] for h in seen if h in submitted)
    last = max(seen.values()) if seen else sent_until
    committed = len(seen) - tally.failed
    return Run(
        rate, len(submitted), committed, tally.failed, last - start, lat, list(sent),
        send_failed, tally.poll_errors,
    )  # fmt: skip


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
            print(HEADER)
            for rate in rates:
                count = int(rate * args.seconds / CLIENTS) + BATCH
                clients = []
                for m, k in keys.items():
                    clients.append(make_txs(layout.chain_id, k, m, nonce[m], count))
                urls = [n.rpc_url for n in layout.nodes]
                run = asyncio.run(drive(urls, clients, rate, args.seconds, args.method))
                for m, n in zip(keys, run.sent, strict=True):
                    nonce[m] += n  # unsent transactions never used their nonces
                print(format_row(run), flush=True)
        finally:
            for node in layout.nodes:
                localnet.stop_node(layout, node)


if __name__ == "__main__":
    main()
