"""Fleet simulator benchmark: the wall time of each phase of ``carchain sim``, one run.

Phases: routes, pseudonym certificates (one real 1609.2 certificate per car), the V2X
radio (spatial hash, O(N) per tick), the cars' records, registration on chain,
sealing + uploading through the gateways, anchoring. With ``--pure`` only the
simulation (no node, no gateways) runs.

``--batch-window-s`` sets how often a car closes a batch (default 300: every 5
minutes) and ``--group`` how many of a car's batches go up in one request (default
256; 1 is one request, one journal commit and per-file fsyncs per batch, as
``POST /batches``), for side-by-side runs.

Usage: ``PYTHONPATH=$PWD/src .venv/bin/python bench/bench_fleet_sim.py [--vehicles N]
[--minutes M] [--seed S] [--batch-window-s W] [--group G] [--pure]``.
"""

from __future__ import annotations

import argparse
import os
import time

from rich.console import Console
from rich.table import Table

from carchain.sim import fleet_sealing
from carchain.sim.fleet_run import run_sim
from carchain.sim.phases import Phases
from carchain.sim.world import FleetParams, simulate_fleet


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--batch-window-s", type=int, default=300)
    parser.add_argument("--group", type=int, default=fleet_sealing.UPLOAD_GROUP)
    parser.add_argument("--pure", action="store_true", help="simulation only, no chain")
    args = parser.parse_args()
    fleet_sealing.UPLOAD_GROUP = args.group
    params = FleetParams(
        vehicles=args.vehicles, minutes=args.minutes, seed=args.seed,
        batch_window_ms=args.batch_window_s * 1000,
    )  # fmt: skip
    console = Console()
    started = time.monotonic()
    if args.pure:
        phases = Phases()
        world = simulate_fleet(params, phases)
        timings, records = phases.timings, world.record_count
        batches = 0
    else:
        result = run_sim(None, params)
        timings, records = result.timings, result.plane.records
        batches = result.plane.batches
    total = time.monotonic() - started
    title = f"carchain sim: {args.vehicles} vehicles, {args.minutes} min, "
    table = Table(title=title + f"batches of {args.batch_window_s} s, groups of {args.group}")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    for name, seconds in timings.items():
        table.add_row(name, f"{seconds:.2f}", f"{seconds / total:.0%}")
    table.add_row("total", f"{total:.2f}", "100%")
    console.print(table)
    load = os.getloadavg()[0]
    console.print(
        f"{records:,} records, {batches:,} batches; {os.cpu_count()} CPUs, load average {load:.1f}"
    )


if __name__ == "__main__":
    main()
