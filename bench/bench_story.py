"""The demo's story benchmark: the wall time of each phase of ``carchain demo``, one run.

The world's phases (routes, certificates, radio, records, the chain, registration,
consents, sealing + uploading, anchoring), then the story's (the investigation,
everyone's view, the picture), on the embedded node or with ``--network`` on a
4-validator CometBFT localnet. The goal (issue 13): under 60 s embedded and under
3 minutes on the network, 1,000 cars for an hour.

Usage: ``PYTHONPATH=$PWD/src .venv/bin/python bench/bench_story.py [--vehicles N]
[--minutes M] [--seed S] [--network]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from carchain.sim.story import run_story
from carchain.sim.world import FleetParams


def main() -> None:
    """Run the story once and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--network", action="store_true", help="on a 4-validator localnet")
    args = parser.parse_args()
    params = FleetParams(vehicles=args.vehicles, minutes=args.minutes, seed=args.seed)
    console = Console()
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-story-") as tmp:
        outcome = run_story(None, params, Path(tmp), network=args.network)
    total = time.monotonic() - started
    where = "network" if args.network else "embedded"
    table = Table(title=f"carchain demo ({where}): {args.vehicles} vehicles, {args.minutes} min")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    for name, seconds in outcome.timings.items():
        table.add_row(name, f"{seconds:.2f}", f"{seconds / total:.0%}")
    table.add_row("other (start-up, teardown)", f"{total - sum(outcome.timings.values()):.2f}", "")
    table.add_row("total", f"{total:.2f}", "100%")
    console.print(table)
    load = os.getloadavg()[0]
    console.print(
        f"{outcome.sim.plane.records:,} records; {os.cpu_count()} CPUs, "
        f"load average {load_before:.1f} before, {load:.1f} after"
    )


if __name__ == "__main__":
    main()
