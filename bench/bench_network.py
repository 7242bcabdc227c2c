"""Benchmark: carchain and CometBFT's kvstore on the same 4-validator localnet.

For each application (``--apps``) it creates a fresh localnet in a temporary
folder: the same CometBFT configuration, validators and loopback ports, the
application behind each node's ABCI socket (carchain's app process, or
``abci-cli kvstore`` of the pinned CometBFT, built by ``scripts/setup_network.py``).
The same client then offers each rate: 16 clients send JSON-RPC batches of 50
``broadcast_tx_async`` to every node's CometBFT RPC (pre-signed vehicle
registrations for carchain; ``key=value`` transactions padded to the same size
for the kvstore), and node0's blocks are watched. Each row gives the sustained
committed tx/s and the p50/p99 latency from submission to the first observation
of the block that holds the transaction.

At the end it prints, for each application, the best committed rate at
p99 < 2 s and the saturation rate (best committed rate), and carchain's ratio
to the kvstore of both (``--repeat N`` alternates the applications N times and
takes each one's best round: on a shared machine that round had the most CPU);
the CPU seconds the application and the CometBFT processes used; and, from the
application processes' ABCI profile (``CARCHAIN_ABCI_PROFILE``), where carchain's
CPU went: CheckTx, recheck, PrepareProposal, ProcessProposal, FinalizeBlock, Commit,
the ABCI codec.
Every process it starts is stopped by pid at the end.

    .venv/bin/python bench/bench_network.py [--apps carchain,kvstore] [--validators 4]
        [--rates 500,1000,1500,2000] [--seconds 20] [--repeat 1] [--python-gc tuned]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from carchain.core.genesis import GenesisMember
from carchain.core.validators import compute_validator_address
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.engine.abci.profile import HANDLING_PHASES, PHASES, PROFILE_ENV
from carchain.network import localnet, processes
from carchain.network.appnode import GC_ENV
from carchain.network.cometconfig import TUNING, TomlValue
from carchain.network.layout import NetworkLayout, NodeLayout
from carchain.sdk.transactions import build_tx
from carchain.sdk.vin import compute_vin_commitment, compute_vin_with_check_digit

CLIENTS = 16  # one signer each, pinned to one node (nonces stay in order)
BATCH = 50
RESULT_TRIES = 250  # a block's results, read every 20 ms: at most ~5 s, then given up
P99_LIMIT_S = 2.0
ABCI_CLI_ENV = "CARCHAIN_ABCI_CLI"
ROOT = Path(__file__).resolve().parent.parent
VALIDATOR_POWER = "10"


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


def make_kv_txs(client: int, start: int, count: int, size: int) -> list[bytes]:
    """Return ``count`` distinct kvstore transactions ``key=value`` of ``size`` bytes."""
    salt = os.urandom(4).hex()
    out = []
    for i in range(start, start + count):
        tx = f"bench{client:02d}-{salt}-{i:09d}=".encode()
        out.append(tx + b"v" * max(1, size - len(tx)))
    return out


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


@dataclass
class AppResult:
    """One application's runs, the CPU seconds its processes used, its ABCI profile."""

    app: str
    runs: list[Run] = field(default_factory=list)
    app_cpu_s: float = 0.0
    comet_cpu_s: float = 0.0
    profiles: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate_at_p99(self) -> float:
        """Return the best committed tx/s of a rate whose p99 latency is under 2 s."""
        ok = [
            r.tps for r in self.runs if r.latencies and percentile(r.latencies, 0.99) < P99_LIMIT_S
        ]
        return max(ok, default=0.0)

    @property
    def saturation(self) -> float:
        """Return the best committed tx/s of any rate."""
        return max((r.tps for r in self.runs), default=0.0)


def find_abci_cli() -> Path:
    """Return CometBFT's ``abci-cli``: ``$CARCHAIN_ABCI_CLI`` or ``.tools/bin/abci-cli``."""
    env = os.environ.get(ABCI_CLI_ENV)
    path = Path(env) if env else ROOT / ".tools" / "bin" / "abci-cli"
    if not (path.is_file() and os.access(path, os.X_OK)):
        sys.exit(f"abci-cli not found at {path}; run `make setup-network`")
    return path


def compute_genesis_validators(layout: NetworkLayout) -> list[dict[str, Any]]:
    """Return the nodes' validators as CometBFT's ``genesis.json`` lists them (the
    kvstore takes its validators from InitChain; carchain's app returns its own)."""
    return [
        {
            "address": compute_validator_address(bytes.fromhex(n.validator_key)).hex().upper(),
            "pub_key": {
                "type": "tendermint/PubKeyEd25519",
                "value": base64.b64encode(bytes.fromhex(n.validator_key)).decode(),
            },
            "power": VALIDATOR_POWER,
            "name": n.name,
        }
        for n in layout.nodes
    ]


def prepare_kvstore(layout: NetworkLayout) -> None:
    """Put the validators in every node's CometBFT genesis, for the kvstore."""
    validators = compute_genesis_validators(layout)
    for node in layout.nodes:
        path = layout.get_comet_home(node) / "config" / "genesis.json"
        doc = json.loads(path.read_text())
        doc["validators"] = validators
        path.write_text(json.dumps(doc, indent=2))


def start_kvstore(abci_cli: Path, layout: NetworkLayout, node: NodeLayout) -> int:
    """Start ``abci-cli kvstore`` at the node's ABCI address, by pid file like an app."""
    app_pid, _ = localnet.get_pid_paths(layout, node)
    address = layout.get_abci_address(node)
    db = layout.get_app_home(node) / "kvstore"
    argv = [str(abci_cli), "kvstore", "--log_level", "error", "--address", address.format(),
            "--persist", str(db)]  # fmt: skip
    pid = processes.spawn(argv, layout.get_node_dir(node) / "app.log", app_pid)
    localnet.wait_port(address, localnet.START_TIMEOUT_S, app_pid)
    return pid


def start_network(
    layout: NetworkLayout, start_app: Callable[[NetworkLayout, NodeLayout], object]
) -> None:
    """Start every application, then every CometBFT; wait for their RPC ports."""
    for node in layout.nodes:
        start_app(layout, node)
    for node in layout.nodes:
        localnet.start_comet(layout, node)
    for node in layout.nodes:
        localnet.wait_port(node.rpc_port, localnet.START_TIMEOUT_S,
                           localnet.get_pid_paths(layout, node)[1])  # fmt: skip


def read_cpu_seconds(pid_path: Path) -> float:
    """Return the user+system CPU seconds of the process of a pid file (0 if gone)."""
    pid = processes.read_pid(pid_path)
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_network_cpu(layout: NetworkLayout) -> tuple[float, float]:
    """Return the CPU seconds of the application processes and of the CometBFT ones."""
    pids = [localnet.get_pid_paths(layout, n) for n in layout.nodes]
    return sum(read_cpu_seconds(a) for a, _ in pids), sum(read_cpu_seconds(c) for _, c in pids)


@dataclass
class Options:
    """The command line."""

    apps: list[str]
    validators: int
    rates: list[int]
    seconds: float
    method: str
    tuning: dict[str, dict[str, TomlValue]]
    profile: bool
    python_gc: str
    repeat: int = 1


def make_starter(
    app: str, profiles: list[Path], python_gc: str = "tuned"
) -> Callable[[NetworkLayout, NodeLayout], object]:
    """Return what starts one node's application: ``abci-cli kvstore``, or carchain's app
    process (writing its ABCI profile to ``profiles[index]`` if profiles are given; its
    garbage collector tuned, or CPython's default with ``python_gc`` ``default``)."""
    if app == "kvstore":
        abci_cli = find_abci_cli()
        return lambda layout, node: start_kvstore(abci_cli, layout, node)

    def start_carchain(layout: NetworkLayout, node: NodeLayout) -> object:
        env = dict(os.environ)
        env[GC_ENV] = python_gc
        if profiles:
            env[PROFILE_ENV] = str(profiles[node.index])
        return localnet.start_app(layout, node, env)

    return start_carchain


def run_app(app: str, opts: Options, tmp: Path) -> AppResult:
    """Create a fresh localnet for ``app``, offer every rate, stop it; return the result."""
    keys = {f"oem-bench-{i:02d}": SigningKey.generate() for i in range(CLIENTS)}
    extra = [
        GenesisMember(m, f"Bench OEM {m[-2:]}", ["oem"], k.public_key.hex())
        for m, k in keys.items()
    ]
    home = tmp / f"{app}-{len(list(tmp.iterdir()))}"
    layout = localnet.create_network(
        home, opts.validators, tuning=opts.tuning, extra_members=extra
    ).layout
    tx_size = len(make_txs(layout.chain_id, next(iter(keys.values())), "oem-bench-00", 1, 1)[0])
    profiles = [home / f"{n.name}.profile.json" for n in layout.nodes]
    if app == "kvstore":
        prepare_kvstore(layout)
    starter = make_starter(app, profiles if opts.profile else [], opts.python_gc)
    result = AppResult(app)
    try:
        start_network(layout, starter)
        print(f"\n{app}: {opts.validators} validators + {opts.validators} {app} processes "
              f"(ABCI over Unix sockets), {tx_size}-byte transactions", flush=True)  # fmt: skip
        print(HEADER, flush=True)
        nonce = {m: 1 for m in keys}
        cpu0 = read_network_cpu(layout)
        for rate in opts.rates:
            count = int(rate * opts.seconds / CLIENTS) + BATCH
            if app == "kvstore":
                clients = [make_kv_txs(i, nonce[m], count, tx_size) for i, m in enumerate(keys)]
            else:
                clients = [
                    make_txs(layout.chain_id, k, m, nonce[m], count) for m, k in keys.items()
                ]
            urls = [n.rpc_url for n in layout.nodes]
            run = asyncio.run(drive(urls, clients, rate, opts.seconds, opts.method))
            for m, n in zip(keys, run.sent, strict=True):
                nonce[m] += n  # unsent transactions never used their nonces
            result.runs.append(run)
            print(format_row(run), flush=True)
        cpu1 = read_network_cpu(layout)
        result.app_cpu_s, result.comet_cpu_s = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    finally:
        for node in layout.nodes:
            localnet.stop_node(layout, node)
    result.profiles = [json.loads(p.read_text()) for p in profiles if p.exists()]
    return result


def format_ratio(a: float, b: float) -> str:
    """Return ``a / b`` with two decimals, ``-`` if ``b`` is 0."""
    return f"{a / b:.2f}" if b else "-"


def print_summary(results: list[AppResult]) -> None:
    """Print each application's rates, carchain's ratios to the kvstore and the CPU."""
    print(f"\n{'application':<12} {'tx/s at p99 < 2 s':>18} {'saturation tx/s':>16} "
          f"{'app CPU s':>10} {'CometBFT CPU s':>15}")  # fmt: skip
    for r in results:
        print(f"{r.app:<12} {r.rate_at_p99:>18.0f} {r.saturation:>16.0f} "
              f"{r.app_cpu_s:>10.1f} {r.comet_cpu_s:>15.1f}")  # fmt: skip
    best = compute_best(results)
    if "carchain" in best and "kvstore" in best:
        (cp, cs), (kp, ks) = best["carchain"], best["kvstore"]
        print(f"{'ratio':<12} {format_ratio(cp, kp):>18} {format_ratio(cs, ks):>16}   "
              "(carchain / kvstore; the best of each application's rounds)")  # fmt: skip


def compute_best(results: list[AppResult]) -> dict[str, tuple[float, float]]:
    """Return each application's best rate at p99 < 2 s and best saturation rate over
    its rounds (``--repeat``: on a shared machine the best round had the most CPU)."""
    best: dict[str, tuple[float, float]] = {}
    for r in results:
        p99, sat = best.get(r.app, (0.0, 0.0))
        best[r.app] = (max(p99, r.rate_at_p99), max(sat, r.saturation))
    return best


def print_profile(result: AppResult) -> None:
    """Print where the application processes' CPU went, summed over the nodes."""
    if not result.profiles:
        return
    total = sum(float(p["process_cpu_s"]) for p in result.profiles)
    committed = sum(r.committed for r in result.runs)
    print(f"\n{result.app} application CPU by ABCI phase, {len(result.profiles)} processes "
          f"together ({total:.1f} CPU s; {committed} committed transactions)")  # fmt: skip
    print(f"{'phase':<18} {'CPU s':>8} {'share':>6} {'requests':>9} {'block txs':>10} "
          f"{'us per committed tx':>20}")  # fmt: skip
    accounted = 0.0
    for phase in PHASES:
        cpu = sum(float(p["phases"][phase]["cpu_s"]) for p in result.profiles)
        reqs = sum(int(p["phases"][phase]["requests"]) for p in result.profiles)
        txs = sum(int(p["phases"][phase]["txs"]) for p in result.profiles)
        accounted += cpu
        label = f"codec: {phase}" if phase not in HANDLING_PHASES else phase
        print(format_profile_row(label, cpu, total, reqs, txs, committed))
    print(format_profile_row("rest of process", total - accounted, total, 0, 0, committed))
    gc_cpu = sum(float(p.get("gc", {}).get("cpu_s", 0.0)) for p in result.profiles)
    gc_runs = sum(int(p.get("gc", {}).get("runs", 0)) for p in result.profiles)
    print(format_profile_row("of all: Python GC", gc_cpu, total, gc_runs, 0, committed))


def format_profile_row(
    label: str, cpu: float, total: float, reqs: int, txs: int, committed: int
) -> str:
    """Return one row of the profile table."""
    share = 100 * cpu / total if total else 0.0
    per_tx = 1e6 * cpu / committed if committed else 0.0
    return f"{label:<18} {cpu:>8.2f} {share:>5.1f}% {reqs:>9} {txs:>10} {per_tx:>20.0f}"


def parse_options() -> Options:
    """Return the command line's options."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", default="carchain,kvstore", help="carchain, kvstore or both")
    parser.add_argument("--validators", type=int, default=4)
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
    parser.add_argument("--no-profile", action="store_true", help="no ABCI phase profile")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of the applications, alternating"
    )
    parser.add_argument(
        "--python-gc",
        default="tuned",
        choices=["tuned", "default"],
        help="carchain's app processes: frozen start-up objects and rarer collections "
        "(tuned), or CPython's default collector",
    )
    args = parser.parse_args()
    tuning = {k: dict(v) for k, v in TUNING.items()}
    tuning["consensus"]["timeout_commit"] = args.timeout_commit
    if args.flush_throttle:
        tuning["p2p"]["flush_throttle_timeout"] = args.flush_throttle
    apps = [a for a in args.apps.split(",") if a]
    if not apps or any(a not in ("carchain", "kvstore") for a in apps):
        parser.error("--apps takes carchain, kvstore or both")
    rates = [int(r) for r in args.rates.split(",")]
    return Options(apps, args.validators, rates, args.seconds, args.method, tuning,
                   not args.no_profile, args.python_gc, max(1, args.repeat))  # fmt: skip


def main() -> None:
    """Run the benchmark for each application and print the tables."""
    opts = parse_options()
    load = os.getloadavg()
    print(
        f"CometBFT localnet benchmark — {platform.node()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {load[0]:.2f} "
        f"{load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"{opts.validators} validators on loopback; {CLIENTS} clients, JSON-RPC batches of "
        f"{BATCH} ({opts.method}); timeout_commit {opts.tuning['consensus']['timeout_commit']}; "
        f"{opts.seconds:g} s per rate; carchain's Python GC {opts.python_gc}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="carchain-bench-net-") as tmp:
        for _ in range(opts.repeat):
            for app in opts.apps:
                results.append(run_app(app, opts, Path(tmp)))
    print_summary(results)
    for r in results:
        print_profile(r)
    load = os.getloadavg()
    print(f"\nload at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
