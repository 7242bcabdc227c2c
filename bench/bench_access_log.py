"""Access-log page latency against history size ("who read my car's data", issue 9).

For each size N, a fresh node database gets N access events written straight
through the storage layer (``core.access_log.process_append_event`` on a
``BlockOverlay``, committed in blocks of ``--block-events``): 10 % to one hot
vehicle, the rest spread over ``--vehicles`` vehicles, all of one OEM (so the
OEM's log holds all N). Then one page (limit 20, every entry with its state
proof; the OEM page proves pointer and event) is read through the API in-process
(FastAPI ``TestClient``, JSON and all) at random cursors, for the hot vehicle
and for the OEM; also through the route function alone (no HTTP, no response
validation). Prints p50/p99 per size.

Usage: ``.venv/bin/python bench/bench_access_log.py [--sizes 10000 100000 1000000]
[--samples 400] [--vehicles 1000] [--block-events 20000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.api.routes.access_log import get_oem_access_log, get_vehicle_access_log
from carchain.core.access_log import EventKind, process_append_event
from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.core.state import put_record
from carchain.core.types import BlockContext
from carchain.core.vehicles import STORE as VEHICLES_STORE
from carchain.core.vehicles import Vehicle, VehicleStatus, compute_vehicle_key
from carchain.crypto.signing import SigningKey
from carchain.node.solo_node import SoloNode
from carchain.storage.database import Database

CHAIN_ID = "carchain-bench"
OEM = "saic"
HOT = f"{OEM}:hot"
T0_MS = 1_700_000_000_000
KINDS = [EventKind.REQUEST, EventKind.APPROVED, EventKind.RELEASE, EventKind.RECEIPT]
PAGE = 20


@dataclass(frozen=True, slots=True)
class Row:
    """One size's figures (milliseconds)."""

    size: int
    setup_s: float
    hot_size: int
    http_vehicle: tuple[float, float]
    http_oem: tuple[float, float]
    asgi_vehicle: tuple[float, float]
    asgi_oem: tuple[float, float]
    route_vehicle: tuple[float, float]
    route_oem: tuple[float, float]
    cpu_vehicle: tuple[float, float]
    cpu_oem: tuple[float, float]


def make_genesis() -> Genesis:
    """Return a one-OEM genesis."""
    key = SigningKey.from_seed(b"\x01" * 32).public_key.hex()
    val = SigningKey.from_seed(b"\x02" * 32).public_key.hex()
    member = GenesisMember(OEM, "SAIC Motor", ["oem"], key, val, 10)
    return Genesis(CHAIN_ID, T0_MS, GovernanceParams(2, 3, 5), [member])


def register_vehicles(node: SoloNode, ids: list[str]) -> None:
    """Write the vehicles' registrations in one block (height 1)."""
    owner = SigningKey.from_seed(b"\x03" * 32).public_key
    overlay = node.app.state.begin_block()
    for vid in ids:
        rec = Vehicle(vid, OEM, b"\x00" * 32, owner, "bench", 2024, owner, VehicleStatus.ACTIVE, 1)
        put_record(overlay, VEHICLES_STORE, compute_vehicle_key(vid), rec)
    node.app.state.commit(overlay, 1)


def write_events(node: SoloNode, size: int, vehicles: int, block_events: int) -> int:
    """Append ``size`` events (10 % to the hot vehicle); return the hot vehicle's count."""
    rng = random.Random(size)
    state, actor, hot, height = node.app.state, b"\x09" * 32, 0, 1
    for start in range(0, size, block_events):
        height += 1
        ctx = BlockContext(CHAIN_ID, height, T0_MS + height * 1000, b"\x00" * 20)
        overlay = state.begin_block()
        for i in range(start, min(size, start + block_events)):
            is_hot = i % 10 == 0
            hot += is_hot
            vid = HOT if is_hot else f"{OEM}:{rng.randrange(vehicles)}"
            kind = KINDS[i % len(KINDS)]
            process_append_event(overlay, ctx, kind, vid, actor, "insurer", i, ["diagnostics"])
        state.commit(overlay, height)
    return hot


def compute_percentiles(samples: list[float]) -> tuple[float, float]:
    """Return (p50, p99) of ``samples`` in milliseconds."""
    s = sorted(samples)
    return s[len(s) // 2] * 1e3, s[min(len(s) - 1, int(len(s) * 0.99))] * 1e3


def time_calls(
    call: Callable[[int], object],
    top: int,
    samples: int,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Return p50/p99 of ``call(before)`` at random cursors in ``[PAGE, top]``, by ``clock``
    (wall time; ``time.thread_time`` gives the CPU the calling thread spent, which other
    processes on a loaded machine do not inflate)."""
    rng = random.Random(top)
    for _ in range(10):  # warm the connection and the import paths, not the data
        call(rng.randint(PAGE, top))
    out = []
    for _ in range(samples):
        before = rng.randint(PAGE, top)
        t = clock()
        call(before)
        out.append(clock() - t)
    return compute_percentiles(out)


def check_page(status: int, doc: Any) -> None:
    """Raise unless the answer is a full page."""
    if status != 200 or len(doc["events"]) != PAGE:
        raise RuntimeError(str(doc)[:300])


def time_asgi(app: FastAPI, path: str, top: int, samples: int) -> tuple[float, float]:
    """Return p50/p99 of pages through the ASGI app on one event loop (httpx, no threads
    but the one a sync route runs in): the HTTP stack without TestClient's thread hops."""

    async def run() -> tuple[float, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
            rng = random.Random(top + 1)
            out = []
            for n in range(samples + 10):
                before = rng.randint(PAGE, top)
                t = time.perf_counter()
                resp = await c.get(path, params={"before": before, "limit": PAGE})
                check_page(resp.status_code, resp.json())
                if n >= 10:
                    out.append(time.perf_counter() - t)
            return compute_percentiles(out)

    return asyncio.run(run())


def measure(size: int, samples: int, vehicles: int, block_events: int) -> Row:
    """Build a node with ``size`` events and time pages through the API and the route."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "node.db")
        node = SoloNode(db)
        node.app.init_chain(make_genesis())
        t = time.perf_counter()
        register_vehicles(node, [HOT] + [f"{OEM}:{v}" for v in range(vehicles)])
        hot = write_events(node, size, vehicles, block_events)
        setup = time.perf_counter() - t
        with TestClient(create_app(node)) as http:

            def page(path: str) -> Callable[[int], object]:
                def get(before: int) -> object:
                    resp = http.get(path, params={"before": before, "limit": PAGE})
                    check_page(resp.status_code, resp.json())
                    return resp

                return get

            hv = time_calls(page(f"/vehicles/{HOT}/access-log"), hot, samples)
            ho = time_calls(page(f"/members/{OEM}/access-log"), size, samples)
        app = create_app(node)
        av = time_asgi(app, f"/vehicles/{HOT}/access-log", hot, samples)
        ao = time_asgi(app, f"/members/{OEM}/access-log", size, samples)
        rv = time_calls(lambda b: get_vehicle_access_log(HOT, node, b, PAGE, 0), hot, samples)
        ro = time_calls(lambda b: get_oem_access_log(OEM, node, b, PAGE, 0), size, samples)
        cpu = time.thread_time
        cv = time_calls(lambda b: get_vehicle_access_log(HOT, node, b, PAGE, 0), hot, samples, cpu)
        co = time_calls(lambda b: get_oem_access_log(OEM, node, b, PAGE, 0), size, samples, cpu)
        db.close()
    return Row(size, setup, hot, hv, ho, av, ao, rv, ro, cv, co)


def print_table(rows: list[Row]) -> None:
    """Print the figures, one line per size."""
    heads = ["TestClient vehicle", "TestClient OEM", "ASGI vehicle", "ASGI OEM"]
    heads += ["route vehicle", "route OEM", "route CPU vehicle", "route CPU OEM"]
    print(f"{'events':>9} {'setup s':>8} {'hot':>7} | " + " | ".join(f"{h:>19}" for h in heads))
    for r in rows:
        cells = [r.http_vehicle, r.http_oem, r.asgi_vehicle, r.asgi_oem]
        cells += [r.route_vehicle, r.route_oem, r.cpu_vehicle, r.cpu_oem]
        text = " | ".join(f"{a:8.2f} / {b:8.2f}" for a, b in cells)
        print(f"{r.size:>9} {r.setup_s:>8.1f} {r.hot_size:>7} | {text}")
    print("(p50 / p99 milliseconds per page of 20 proven entries; OEM: pointer and event proven)")


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the benchmark; return the rows it printed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--vehicles", type=int, default=1000)
    p.add_argument("--block-events", type=int, default=20_000)
    args = p.parse_args(argv)
    rows = []
    for size in args.sizes:
        if size < 10 * PAGE:
            raise SystemExit(f"--sizes must be at least {10 * PAGE} (the hot vehicle needs pages)")
        rows.append(measure(size, args.samples, args.vehicles, args.block_events))
        print_table(rows[-1:])
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
