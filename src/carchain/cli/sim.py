"""``carchain sim``: simulate a city's fleet for an hour on an embedded node, with timings."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from carchain.cli.common import console
from carchain.sim.fleet_run import SimResult, run_sim
from carchain.sim.world import FleetParams


def sim(
    vehicles: Annotated[int, typer.Option(help="Fleet size (at least 2).")] = 1000,
    minutes: Annotated[int, typer.Option(help="Simulated drive length in minutes.")] = 60,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same world.")] = 13,
    crash_minute: Annotated[
        int | None, typer.Option(help="Minute of the crash (default: two thirds in).")
    ] = None,
) -> None:
    """Simulate a fleet of several OEMs for an hour: telemetry, diagnostics, V2X exchange
    logs, a crash between two brands at a junction; batches through each OEM's gateway
    and anchors on an embedded node. Prints a progress bar and the time of each phase."""
    params = FleetParams(vehicles=vehicles, minutes=minutes, seed=seed, crash_minute=crash_minute)
    result = run_sim(console, params)  # a typed error: one line on stderr (CarchainTyper)
    console.print(compute_summary_table(result))


def compute_summary_table(r: SimResult) -> Table:
    """Return the printed summary: the fleet, the data plane, the crash, the timings."""
    w, p = r.world, r.plane
    table = Table(title="carchain sim", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    oems = ", ".join(f"{o}: {n}" for o, n in sorted(p.per_oem_batches.items()))
    table.add_row("city", f"{w.city.side} x {w.city.side} junctions, {w.city.block_m:.0f} m apart")
    table.add_row("vehicles", f"{len(w.cars)} ({len(w.cas)} OEMs, one foreign brand)")
    table.add_row("V2X contacts logged", f"{w.exchange.contacts:,} over {w.exchange.ticks} ticks")
    table.add_row("records", f"{p.records:,}")
    table.add_row("batches (per OEM)", f"{p.batches:,} ({oems})")
    table.add_row(
        "anchor transactions",
        f"{p.anchor_txs} in {p.anchor_blocks} blocks "
        f"(max {p.max_anchors_per_gateway_block} per gateway per block)",
    )
    table.add_row("blocks", str(r.height))
    c = w.truth
    table.add_row("crash", f"{c.vehicles[0]} x {c.vehicles[1]} at {c.junction.name}")
    for name, seconds in r.timings.items():
        table.add_row(f"  {name}", f"{seconds:.2f} s")
    table.add_row("total", f"{r.seconds:.1f} s")
    return table
