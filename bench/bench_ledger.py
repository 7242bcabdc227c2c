"""Ledger core benchmark: raw Ed25519 verification vs committed solo-engine tx/s.

One run, one table:

- raw Ed25519 verify rate on one core, through pyca/cryptography and through
  PyNaCl (``nacl.bindings.crypto_sign_open``, what ``verify_signature`` uses), and
  PyNaCl's on two threads (it releases the GIL: the machine's two-core raw rate);
- committed tx/s of the solo engine for pre-signed ``vehicle.register``
  transactions: ``SoloEngine.submit`` (check_tx) for all of them, then
  ``produce_block`` until the mempool is empty (finalize, commit to SQLite with
  full fsync), on a fresh database in a temporary folder: one core;
- the same with the signatures in the engine's worker process (two cores):
  ``start_checks`` a block's worth of batches of 1,000 ahead, ``submit_many`` each
  batch, and a block whenever the mempool holds a full one, so the worker verifies
  the next batches while the main thread admits and executes (the worker started
  before the clock, as a node's is after its first batch);
- each rate's ratio to the one-core raw PyNaCl verify rate (goal >= 0.6 on one core).

Usage: ``.venv/bin/python bench/bench_ledger.py [--txs N] [--repeat R] [--profile]``.
Each measure is the best of R runs (default 2), because the machine is shared.
``--profile`` also runs the solo path once under cProfile and prints the top costs.

``--vehicles 10000,100000,1000000 [--blocks B]`` measures instead the ledger at
scale (``ledger_scale.py``): one database grown through the sizes in one run, and
at each, B blocks of 1,000 registrations (one core, then the two-core pool) and
of 1,000 key rotations of random existing vehicles: committed tx/s, commit ms
per block, bytes written per block, each rate's ratio to the raw PyNaCl verify
rate measured in the same run. ``--compare`` measures beside it the storage
policies from before issue 14 and 1 KiB pages; ``--block-txs`` sets the block size.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nacl.bindings
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.table import Table

from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.core.transactions import compute_envelope_signing_bytes, decode_envelope
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.engine.application import Application
from carchain.engine.solo import SoloEngine
from carchain.sdk.transactions import build_tx
from carchain.storage.blocks import Block
from carchain.storage.database import Database

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ledger_scale

CHAIN_ID = "carchain-bench"
OEMS = ("saic", "geely", "vw-china", "byd")
GOAL = 0.6
POOL_BATCH = 1_000  # transactions per submit_many in the two-core run


def make_keys() -> dict[str, SigningKey]:
    """Deterministic member keys (the benchmark is repeatable)."""
    return {m: SigningKey.from_seed(hashlib.sha256(m.encode()).digest()) for m in OEMS}


def make_genesis(keys: dict[str, SigningKey]) -> Genesis:
    members = [GenesisMember(m, m.upper(), ["oem"], k.public_key.hex()) for m, k in keys.items()]
    return Genesis(CHAIN_ID, 0, GovernanceParams(2, 3, 1000), members)


def presign(keys: dict[str, SigningKey], n: int) -> list[bytes]:
    """Return ``n`` signed vehicle registrations, round-robin over the OEMs."""
    txs = []
    owner = SigningKey.from_seed(b"\x01" * 32).public_key
    for i in range(n):
        oem = OEMS[i % len(OEMS)]
        body = RegisterVehicle(
            vehicle_id=f"{oem}:{i:07d}",
            vin_commitment=hashlib.sha256(b"vin%d" % i).digest(),
            public_key=hashlib.sha256(b"vehicle-key%d" % i).digest(),
            model="Roewe RX5",
            year=2024,
            owner=owner,
        )
        txs.append(build_tx(CHAIN_ID, keys[oem], i // len(OEMS) + 1, body))
    return txs


def measure_verify(txs: list[bytes], repeat: int) -> tuple[float, float, float]:
    """Return the best (pyca, PyNaCl, PyNaCl on two threads) verifies/s over ``repeat``
    passes of the signatures."""
    items = []
    for raw in txs:
        env = decode_envelope(raw)
        items.append((env.signer, compute_envelope_signing_bytes(env), env.signature))
    pyca_keys = {pk: Ed25519PublicKey.from_public_bytes(pk) for pk, _, _ in items}
    pyca = sodium = sodium2 = 0.0
    halves = [items[: len(items) // 2], items[len(items) // 2 :]]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(repeat):
            start = time.perf_counter()
            for pk, msg, sig in items:
                pyca_keys[pk].verify(sig, msg)
            pyca = max(pyca, len(items) / (time.perf_counter() - start))
            start = time.perf_counter()
            verify_sodium(items)
            sodium = max(sodium, len(items) / (time.perf_counter() - start))
            start = time.perf_counter()
            list(pool.map(verify_sodium, halves))
            sodium2 = max(sodium2, len(items) / (time.perf_counter() - start))
    return pyca, sodium, sodium2


def verify_sodium(items: list[tuple[bytes, bytes, bytes]]) -> None:
    """Verify every ``(public key, message, signature)`` with libsodium."""
    for pk, msg, sig in items:
        nacl.bindings.crypto_sign_open(sig + msg, pk)


def run_solo(txs: list[bytes], genesis: Genesis, folder: Path) -> tuple[float, int, float]:
    """Submit every transaction, produce blocks until empty; return (tx/s, blocks, CPU
    seconds of the calling thread per transaction)."""
    db = Database(folder / "state.db")
    app = Application(db)
    app.init_chain(genesis)
    engine = SoloEngine(app)
    start, cpu = time.perf_counter(), time.thread_time()
    for raw in txs:
        res = engine.submit(raw)
        if not res.ok:
            raise SystemExit(f"check_tx refused a benchmark tx: {res.error_code} {res.log}")
    blocks = ok = 0
    now = 1
    while (block := engine.produce_block(now)) is not None:
        blocks += 1
        now += 1
        ok += sum(1 for r in block.results if r.code == 0)
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    db.close()
    if ok != len(txs):
        raise SystemExit(f"only {ok} of {len(txs)} transactions succeeded")
    return len(txs) / elapsed, blocks, cpu / len(txs)


def run_solo_pooled(txs: list[bytes], genesis: Genesis, folder: Path) -> tuple[float, int, float]:
    """As ``run_solo``, the signatures checked in the engine's worker process a block
    ahead."""
    db = Database(folder / "state.db")
    app = Application(db)
    app.init_chain(genesis)
    app.warm_stateless_pool()
    engine = SoloEngine(app)
    start, cpu = time.perf_counter(), time.thread_time()
    batches = [txs[i : i + POOL_BATCH] for i in range(0, len(txs), POOL_BATCH)]
    ahead = max(1, engine.config.max_block_txs // POOL_BATCH)
    started = [engine.start_checks(b) for b in batches[:ahead]]
    blocks = ok = 0
    for k, raws in enumerate(batches):
        if k + ahead < len(batches):
            started.append(engine.start_checks(batches[k + ahead]))
        if not all(r.ok for r in engine.submit_many(raws, started[k])):
            raise SystemExit("check_tx refused a benchmark tx")
        if len(engine.mempool) >= engine.config.max_block_txs:
            ok += count_ok(engine.produce_block(blocks + 1))
            blocks += 1
    while (block := engine.produce_block(blocks + 1)) is not None:
        ok += count_ok(block)
        blocks += 1
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    app.close_stateless_pool()
    db.close()
    if ok != len(txs):
        raise SystemExit(f"only {ok} of {len(txs)} transactions succeeded")
    return len(txs) / elapsed, blocks, cpu / len(txs)


def count_ok(block: Block | None) -> int:
    """Return how many of the block's transactions succeeded."""
    return 0 if block is None else sum(1 for r in block.results if r.code == 0)


def profile_solo(txs: list[bytes], genesis: Genesis, top: int) -> None:
    """Run the solo path under cProfile and print the top costs."""
    with tempfile.TemporaryDirectory(prefix="carchain-bench-") as tmp:
        prof = cProfile.Profile()
        prof.enable()
        run_solo(txs, genesis, Path(tmp))
        prof.disable()
    stats = pstats.Stats(prof, stream=sys.stdout).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    """Measure, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=20_000, help="transactions to commit")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measure; best counts")
    parser.add_argument("--profile", action="store_true", help="also profile the solo path")
    parser.add_argument(
        "--vehicles", default="", help="measure at these existing vehicle counts, e.g. 1e4,1e5"
    )
    parser.add_argument("--blocks", type=int, default=5, help="measured blocks per size")
    parser.add_argument(
        "--compare", action="store_true", help="with --vehicles: also the storage from before"
    )
    parser.add_argument("--block-txs", type=int, default=1_000, help="with --vehicles")
    args = parser.parse_args()
    if args.vehicles:
        sizes = [int(float(v)) for v in args.vehicles.split(",")]
        main_scale(sizes, args.blocks, args.repeat, args.compare, args.block_txs)
        return

    keys = make_keys()
    genesis = make_genesis(keys)
    txs = presign(keys, args.txs)
    # Best of ``repeat`` runs for every measure: the machine is shared and noisy.
    pyca, sodium, sodium2 = measure_verify(txs, args.repeat)
    solo = pooled = 0.0
    solo_cpu = pooled_cpu = float("inf")  # the main thread's CPU per tx: the ceiling
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="carchain-bench-") as tmp:
            rate, blocks, cpu = run_solo(txs, genesis, Path(tmp))
        solo, solo_cpu = max(solo, rate), min(solo_cpu, cpu)
        with tempfile.TemporaryDirectory(prefix="carchain-bench-") as tmp:
            rate, _, cpu = run_solo_pooled(txs, genesis, Path(tmp))
        pooled, pooled_cpu = max(pooled, rate), min(pooled_cpu, cpu)
    ratio = solo / sodium

    table = Table(
        title=f"carchain ledger core: {len(txs):,} vehicle.register txs, best of {args.repeat}"
    )
    table.add_column("measure")
    table.add_column("rate", justify="right")
    table.add_column("ratio to raw PyNaCl verify, one core", justify="right")
    table.add_row(
        "Ed25519 verify, pyca/cryptography, one core", f"{pyca:,.0f} /s", f"{pyca / sodium:.2f}"
    )
    table.add_row("Ed25519 verify, PyNaCl crypto_sign_open, one core", f"{sodium:,.0f} /s", "1.00")
    table.add_row(
        "Ed25519 verify, PyNaCl, two threads", f"{sodium2:,.0f} /s", f"{sodium2 / sodium:.2f}"
    )
    table.add_row(
        f"solo engine committed tx/s, one core ({blocks} blocks, check_tx + finalize + commit)",
        f"{solo:,.0f} tx/s",
        f"{ratio:.2f} ({'meets' if ratio >= GOAL else 'below'} goal {GOAL})",
    )
    table.add_row(
        "solo engine committed tx/s, signatures in the worker process (two cores)",
        f"{pooled:,.0f} tx/s",
        f"{pooled / sodium:.2f} ({pooled / solo:.2f}x one core)",
    )
    table.add_row(
        "main thread's CPU per tx: one core / pool (its inverse bounds the rate)",
        f"{solo_cpu * 1e6:,.0f} / {pooled_cpu * 1e6:,.0f} µs",
        f"{1 / solo_cpu / sodium:.2f} / {1 / pooled_cpu / sodium:.2f}",
    )
    console = Console()
    console.print(table)
    console.print(
        f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.2f}"
    )
    if args.profile:
        profile_solo(txs, genesis, 25)


def main_scale(sizes: list[int], blocks: int, repeat: int, compare: bool, block_txs: int) -> None:
    """Grow one ledger through ``sizes``, measure at each, print one table."""
    console = Console(width=140)
    keys = make_keys()
    genesis = make_genesis(keys)
    _, sodium, _ = measure_verify(presign(keys, 5_000), repeat)
    with tempfile.TemporaryDirectory(prefix="carchain-bench-") as tmp:
        rows = ledger_scale.run_sizes(
            Path(tmp),
            genesis,
            keys,
            sizes,
            blocks,
            lambda m: console.print(m, style="dim"),
            compare,
            block_txs,
        )
    table = Table(
        title=f"carchain ledger at scale: blocks of {block_txs:,}, "
        f"{blocks} blocks per measure; raw PyNaCl verify {sodium:,.0f} /s (one core)"
    )
    for col in (
        "vehicles",
        "storage",
        "measure",
        "committed tx/s",
        "/ raw verify",
        "commit ms/block",
        "written/block",
        "main CPU/tx",
    ):
        table.add_column(col, justify="right")
    for row in rows:
        named = (
            ("register", row.register),
            ("register, pool", row.pooled),
            ("rotate_key", row.rotate),
        )
        for k, (name, m) in enumerate(named):
            table.add_row(
                f"{row.vehicles:,}" if k == 0 else "",
                row.layout if k == 0 else "",
                name,
                f"{m.rate:,.0f}",
                f"{m.rate / sodium:.2f}",
                f"{m.commit_ms:.1f}",
                f"{m.bytes_per_block / 2**20:.2f} MiB",
                f"{m.cpu_us:,.0f} µs",
            )
        table.add_row("", "", "rotate/register", f"{row.rotate.rate / row.register.rate:.2f}")
        table.add_row("", "", "db size", f"{row.db_bytes / 2**20:,.0f} MiB", end_section=True)
    console.print(table)
    console.print(
        f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
