"""Lawful-access benchmark on the solo engine and a real gateway (``sim/case_world``).

- authorize -> officer holds the data: a case over V vehicles x D epochs x 2 escrowed
  categories (location, motion), 3 of 4 custodians; the clock starts before
  ``case.authorize`` and stops when the officer holds every scoped segment decrypted
  (the three ``case.approve`` transactions, the three custodian services releasing
  their shares by themselves, the officer combining k shares per key, fetching,
  checking each batch against its anchor and decrypting); receipts are timed apart;
- share-release throughput of one custodian service: a second case of the same
  scope, approved, then one fresh service started: shares released per second from
  its start to its last share on chain.

Usage: ``.venv/bin/python bench/bench_case.py [--vehicles 10] [--days 7]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from carchain.core.case_records import DAY_MS, CaseScope
from carchain.core.cases import get_case
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.chainview import ChainView
from carchain.sdk.officer import compute_case_receipts, fetch_case_data, post_case_receipts
from carchain.sim.case_world import CaseWorld, make_key, open_case_world

CATEGORIES = ["location", "motion"]
CUSTODIANS = ("court", "caam", "audit")


def wait_released(world: CaseWorld, case_id: int, count: int, timeout_s: float = 600) -> None:
    """Poll until the case has ``count`` shares released."""
    view = ChainView(world.client)
    deadline = time.monotonic() + timeout_s
    while get_case(view, case_id).released_keys < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"case {case_id}: shares not released in {timeout_s} s")
        time.sleep(0.01)


def fill(world: CaseWorld, days: int) -> tuple[int, int]:
    """Upload one batch per car per day for the last ``days`` days; return the window."""
    now = int(time.time() * 1000)
    today = now // DAY_MS * DAY_MS
    for vid in world.cars:
        for d in range(days - 1, 0, -1):
            world.upload_at(vid, today - d * DAY_MS + DAY_MS // 2)
        world.upload_at(vid, max(today, now - 600_000))
    world.wait_anchored(600)
    return today - (days - 1) * DAY_MS, today + DAY_MS


def run_case(world: CaseWorld, scope: CaseScope) -> dict[str, float]:
    """Time one case from authorize to the officer holding the data; return the phases (s)."""
    case_id = world.open_case(scope)
    keys = (
        len(scope.vehicles)
        * len(CATEGORIES)
        * ((scope.data_until_ms - scope.data_from_ms) // DAY_MS)
    )
    t0 = time.perf_counter()
    world.authorize(case_id, scope)
    world.approve(case_id, *CUSTODIANS)
    t1 = time.perf_counter()
    wait_released(world, case_id, keys * len(CUSTODIANS))
    t2 = time.perf_counter()
    officer = make_key("officer")
    assert world.gateway is not None
    with CaseGatewayClient(world.gateway.url, signer=officer) as gw:
        fetch = fetch_case_data(lambda oem: gw, world.client, case_id, officer)
    t3 = time.perf_counter()
    if fetch.missing_keys or len(fetch.segments) != keys:
        raise SystemExit(f"officer got {len(fetch.segments)} segments of {keys}")
    post_case_receipts(world.client, officer, compute_case_receipts(fetch))
    t4 = time.perf_counter()
    return {"keys": keys, "approve": t1 - t0, "release": t2 - t1, "fetch": t3 - t2,
            "total": t3 - t0, "receipts": t4 - t3}  # fmt: skip


def run_throughput(world: CaseWorld, scope: CaseScope, keys: int) -> float:
    """Return the shares/s one fresh custodian service releases for an approved case."""
    for r in world.runners:
        r.stop()
    world.runners.clear()
    case_id = world.open_case(scope)
    world.authorize(case_id, scope)
    world.approve(case_id, *CUSTODIANS)
    t0 = time.perf_counter()
    world.start_custodian("caam")
    wait_released(world, case_id, keys)
    return keys / (time.perf_counter() - t0)


def main() -> None:
    """Run the benchmark and print one table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--vehicles", type=int, default=10)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = open_case_world(Path(tmp), cars=args.vehicles, past_days=args.days + 1)
        try:
            start, end = fill(world, args.days)
            scope = CaseScope(sorted(world.cars), CATEGORIES, start, end)
            for m in CUSTODIANS:
                world.start_custodian(m)
            phases = run_case(world, scope)
            rate = run_throughput(world, scope, int(phases["keys"]))
        finally:
            world.close()
    table = Table("measure", "value")
    table.add_row("case scope", f"{args.vehicles} vehicles x {args.days} epochs x 2 categories "
                  f"= {phases['keys']:.0f} keys, 3 of 4 custodians")  # fmt: skip
    table.add_row("authorize + 3 approvals (committed)", f"{phases['approve']:.2f} s")
    table.add_row("-> every share released (3 services)", f"{phases['release']:.2f} s")
    table.add_row("-> officer holds the data (combine, fetch, verify, decrypt)",
                  f"{phases['fetch']:.2f} s")  # fmt: skip
    table.add_row("authorize -> officer holds the decrypted data", f"{phases['total']:.2f} s")
    table.add_row("officer's receipts (committed)", f"{phases['receipts']:.2f} s")
    table.add_row("share-release throughput, one custodian service", f"{rate:,.0f} shares/s")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
