"""The investigation's printed summary: counts, ids and the case's findings (the crash
cars' impact speed and delta-V); no decrypted position or speed of anyone else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from carchain.sim.investigation import Investigation


def print_investigation(console: Console, inv: Investigation) -> None:
    """Print the cases, the witness search, the reconstruction's findings, the evidence
    and the time line (block heights)."""
    table = Table("investigation", "result", title="The crash investigated")
    for run in inv.cases:
        scope = run.scope
        table.add_row(
            f"case {run.case_id}",
            f"{len(scope.vehicles)} vehicles x {', '.join(scope.categories)}; "
            f"{len(run.fetch.segments)} segments decrypted, {run.receipts} receipts",
        )
    s = inv.search
    table.add_row("pseudonyms heard by the crash cars", str(len(s.peer_ids)))
    resolved = ", ".join(f"{oem} {len(a)}" for oem, a in sorted(s.resolved.items()))
    table.add_row("resolved by the issuing CAs", resolved or "none")
    table.add_row("witnesses", ", ".join(s.witnesses) or "none")
    outside = sum(inv.outside_window.values())
    table.add_row(
        "records decrypted",
        f"{sum(inv.disclosed.values())} of {len(inv.disclosed)} vehicles, {outside} outside "
        "the window",
    )
    for vid, car in sorted(inv.crash_cars.items()):
        table.add_row(
            f"crash car {vid}",
            f"impact {car.impact_speed_kmh} km/h, delta-V {car.max_delta_v_kmh} km/h",
        )
    for e in inv.evidence:
        table.add_row(
            f"evidence case {e.case_id}",
            f"{e.files} files, verified at block {e.block_height}; tampered copy refused "
            f"({e.tampered_link})",
        )
    table.add_row("report hash", inv.report_hash.hex()[:16] + "…")
    console.print(table)
    timeline = Table("step", "block", title="Time line (from the chain)")
    for label, height, _ in inv.timeline:
        timeline.add_row(label, str(height))
    console.print(timeline)
