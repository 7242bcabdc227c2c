"""Ledger core benchmark: raw Ed25519 verification vs committed solo-engine tx/s.

One run, one table:

- raw Ed25519 verify rate on one core, through pyca/cryptography and through
  PyNaCl (``nacl.bindings.crypto_sign_open``, what ``verify_signature`` uses);
- committed tx/s of the solo engine for pre-signed ``vehicle.register``
  transactions: ``SoloEngine.submit`` (check_tx) for all of them, then
  ``produce_block`` until the mempool is empty (finalize, commit to SQLite with
  full fsync), on a fresh database in a temporary folder;
- the ratio of the committed rate to the faster raw verify rate (goal >= 0.6).

Usage: ``.venv/bin/python bench/bench_ledger.py [--txs N] [--repeat R] [--profile]``.
Each measure is the best of R runs (default 2), because the machine is shared.
``--profile`` also runs the solo path once under cProfile and prints the top costs.
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
from carchain.storage.database import Database

CHAIN_ID = "carchain-bench"
OEMS = ("saic", "geely", "vw-china", "byd")
GOAL = 0.6


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


def measure_verify(txs: list[bytes], repeat: int) -> tuple[float, float]:
    """Return the best (pyca, PyNaCl) verifies/s over ``repeat`` passes of the signatures."""
    items = []
    for raw in txs:
        env = decode_envelope(raw)
        items.append((env.signer, compute_envelope_signing_bytes(env), env.signature))
    pyca_keys = {pk: Ed25519PublicKey.from_public_bytes(pk) for pk, _, _ in items}
    pyca = sodium = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for pk, msg, sig in items:
            pyca_keys[pk].verify(sig, msg)
        pyca = max(pyca, len(items) / (time.perf_counter() - start))
        start = time.perf_counter()
        for pk, msg, sig in items:
            nacl.bindings.crypto_sign_open(sig + msg, pk)
        sodium = max(sodium, len(items) / (time.perf_counter() - start))
    return pyca, sodium


def run_solo(txs: list[bytes], genesis: Genesis, folder: Path) -> tuple[float, int, int]:
    """Submit every transaction, produce blocks until empty; return (tx/s, blocks, ok)."""
    db = Database(folder / "state.db")
    app = Application(db)
    app.init_chain(genesis)
    engine = SoloEngine(app)
    start = time.perf_counter()
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
    elapsed = time.perf_counter() - start
    db.close()
    if ok != len(txs):
        raise SystemExit(f"only {ok} of {len(txs)} transactions succeeded")
    return len(txs) / elapsed, blocks, ok


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
    args = parser.parse_args()

    keys = make_keys()
    genesis = make_genesis(keys)
    txs = presign(keys, args.txs)
    # Best of ``repeat`` runs for every measure: the machine is shared and noisy.
    pyca, sodium = measure_verify(txs, args.repeat)
    solo = 0.0
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="carchain-bench-") as tmp:
            rate, blocks, _ = run_solo(txs, genesis, Path(tmp))
        solo = max(solo, rate)
    fastest = max(pyca, sodium)
    ratio = solo / fastest

    table = Table(
        title=f"carchain ledger core: {len(txs):,} vehicle.register txs, one core, "
        f"best of {args.repeat}"
    )
    table.add_column("measure")
    table.add_column("rate", justify="right")
    table.add_column("ratio to fastest raw verify", justify="right")
    table.add_row("Ed25519 verify, pyca/cryptography", f"{pyca:,.0f} /s", f"{pyca / fastest:.2f}")
    table.add_row(
        "Ed25519 verify, PyNaCl crypto_sign_open", f"{sodium:,.0f} /s", f"{sodium / fastest:.2f}"
    )
    table.add_row(
        f"solo engine committed tx/s ({blocks} blocks, check_tx + finalize + commit)",
        f"{solo:,.0f} tx/s",
        f"{ratio:.2f} ({'meets' if ratio >= GOAL else 'below'} goal {GOAL})",
    )
    console = Console()
    console.print(table)
    console.print(
        f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    if args.profile:
        profile_solo(txs, genesis, 25)


if __name__ == "__main__":
    main()
