"""Consent and access benchmark: request -> approval -> release -> receipt on the solo engine,
and the access-log page latency as a vehicle's log grows.

- round trips/s: a grant per vehicle, then N requests (bosch, approved by the
  chain), N releases (the OEM) and N receipts (bosch), each phase submitted to
  the solo engine's mempool and committed to SQLite block by block; a round trip
  is the three committed transactions;
- access-log page: p50/p99 of ``get_access_log_page`` (20 events, at random
  cursors) over the committed SQLite state, for the vehicle whose log the round
  trips filled (4 events per round trip: request, approved, release, receipt).

Usage: ``.venv/bin/python bench/bench_access.py [--round-trips N] [--vehicles V]``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from carchain.core import access_log
from carchain.core.access import RequestAccess
from carchain.core.access_log import EventKind
from carchain.core.access_releases import ReceiptAccess, ReceiptItem, ReleaseAccess, ReleasedBatch
from carchain.core.consents import GrantConsent
from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.core.types import BlockContext
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.engine.application import Application
from carchain.engine.solo import SoloEngine
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database

CHAIN_ID = "carchain-bench"
FAR = 2**62


def key(label: str) -> SigningKey:
    """A deterministic key (the benchmark is repeatable)."""
    return SigningKey.from_seed(hashlib.sha256(label.encode()).digest())


KEYS = {name: key(name) for name in ("saic", "bosch", "owner")}


def make_genesis() -> Genesis:
    """Return a chain with one OEM and one supplier."""
    members = [
        GenesisMember("saic", "SAIC", ["oem"], KEYS["saic"].public_key.hex()),
        GenesisMember("bosch", "Bosch", ["supplier"], KEYS["bosch"].public_key.hex()),
    ]
    return Genesis(CHAIN_ID, 0, GovernanceParams(2, 3, 1000), members)


class Signer:
    """Signs with sequential nonces."""

    def __init__(self, name: str) -> None:
        self.key, self.nonce = KEYS[name], 0

    def sign(self, body: object) -> bytes:
        """Return the next signed transaction carrying ``body``."""
        self.nonce += 1
        return build_tx(CHAIN_ID, self.key, self.nonce, body)  # type: ignore[arg-type]


def commit_all(engine: SoloEngine, txs: list[bytes], clock: list[int]) -> None:
    """Submit every transaction and produce blocks until the mempool is empty."""
    for raw in txs:
        res = engine.submit(raw)
        if not res.ok:
            raise SystemExit(f"check_tx refused a benchmark tx: {res.error_code} {res.log}")
    while (block := engine.produce_block(clock[0])) is not None:
        clock[0] += 1000
        bad = [r for r in block.results if r.code != 0]
        if bad:
            raise SystemExit(f"a benchmark tx failed: {bad[0].error_code} {bad[0].log}")


def setup(engine: SoloEngine, signers: dict[str, Signer], vehicles: int, clock: list[int]) -> None:
    """Register ``vehicles`` cars owned by one owner and grant diagnostics to bosch on each."""
    owner = KEYS["owner"].public_key
    regs = [
        signers["saic"].sign(
            RegisterVehicle(
                f"saic:{v}",
                hashlib.sha256(b"vin%d" % v).digest(),
                hashlib.sha256(b"vk%d" % v).digest(),
                "RX5",
                2024,
                owner,
            )
        )
        for v in range(vehicles)
    ]
    commit_all(engine, regs, clock)
    grants = [
        signers["owner"].sign(
            GrantConsent(
                f"saic:{v}", ["diagnostics"], "maintenance_diagnostics", "bosch", "", 0, FAR, FAR
            )
        )
        for v in range(vehicles)
    ]
    commit_all(engine, grants, clock)


def run_round_trips(
    engine: SoloEngine, signers: dict[str, Signer], n: int, vehicles: int, clock: list[int]
) -> float:
    """Commit ``n`` request/release/receipt round trips; return round trips per second."""
    digest = hashlib.sha256(b"records").digest()
    pairs = [(f"saic:{i % vehicles}", i // vehicles) for i in range(n)]
    start = time.perf_counter()
    requests = [
        signers["bosch"].sign(
            RequestAccess(vid, ["diagnostics"], 1000, 10**12, "maintenance_diagnostics")
        )
        for vid, _ in pairs
    ]
    commit_all(engine, requests, clock)
    releases = []
    for vid, seq in pairs:
        header = hashlib.sha256(f"{vid}/{seq}".encode()).digest()
        batch = ReleasedBatch(header, 2000, 3000)
        releases.append(
            signers["saic"].sign(ReleaseAccess(vid, seq, [batch], ["diagnostics"], digest))
        )
    commit_all(engine, releases, clock)
    receipts = []
    for vid, seq in pairs:
        header = hashlib.sha256(f"{vid}/{seq}".encode()).digest()
        item = ReceiptItem(header, 10, digest)
        receipts.append(signers["bosch"].sign(ReceiptAccess(vid, seq, [item])))
    commit_all(engine, receipts, clock)
    return n / (time.perf_counter() - start)


def measure_pages(app: Application, vehicle_id: str, samples: int) -> tuple[int, float, float]:
    """Return (log size, p50 ms, p99 ms) of 20-event pages at random cursors."""
    size = access_log.get_log_size(app.state, vehicle_id)
    rng = random.Random(7)
    times = []
    for _ in range(samples):
        before = rng.randrange(20, size + 1)
        t0 = time.perf_counter()
        page = access_log.get_access_log_page(app.state, vehicle_id, before, 20)
        times.append((time.perf_counter() - t0) * 1000)
        assert len(page) == 20
    times.sort()
    return size, times[len(times) // 2], times[int(len(times) * 0.99)]


def fill_log(app: Application, vehicle_id: str, events: int, chunk: int = 20_000) -> None:
    """Append ``events`` synthetic events to ``vehicle_id``'s log straight into committed state.

    Each chunk is one committed state version (as a block would be), without
    transactions: the point is the reader's cost at that log size.
    """
    actor = KEYS["bosch"].public_key
    done = access_log.get_log_size(app.state, vehicle_id)
    height = app.state.height
    while done < events:
        overlay = app.state.begin_block()
        height += 1
        ctx = BlockContext(CHAIN_ID, height, height * 1000, b"\x00" * 20)
        for _ in range(min(chunk, events - done)):
            access_log.process_append_event(
                overlay, ctx, EventKind.REQUEST, vehicle_id, actor, "bosch", done, ["diagnostics"]
            )
            done += 1
        app.state.commit(overlay, height)


def main() -> None:
    """Run the benchmark and print one table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--vehicles", type=int, default=1)
    parser.add_argument(
        "--fill", type=int, nargs="*", default=[10_000, 100_000], help="log sizes to measure"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "state.db")
        app = Application(db)
        app.init_chain(make_genesis())
        engine = SoloEngine(app)
        signers = {name: Signer(name) for name in KEYS}
        clock = [1_000]
        setup(engine, signers, args.vehicles, clock)
        rate = run_round_trips(engine, signers, args.round_trips, args.vehicles, clock)
        pages = [measure_pages(app, "saic:0", 1000)]
        for size in args.fill:
            fill_log(app, "saic:filled", size)
            pages.append(measure_pages(app, "saic:filled", 1000))
        db.close()
    table = Table("measure", "value")
    table.add_row("request -> release -> receipt round trips/s (solo, SQLite)", f"{rate:,.0f}")
    for size, p50, p99 in pages:
        table.add_row(f"access-log page (20 events) at {size:,} events: p50 / p99",
                      f"{p50:.3f} / {p99:.3f} ms")  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
