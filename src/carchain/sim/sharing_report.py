"""How the demo shows its sharing stage: summary rows and the owner's access log."""

from __future__ import annotations

from rich.table import Table

from carchain.sim.sharing import INSURER, MAP_PROVIDER, SharingSummary


def add_sharing_rows(table: Table, s: SharingSummary) -> None:
    """Add the sharing stage's outcomes to the demo's summary table."""
    released = ", ".join(s.insurer_released) or "nothing"
    table.add_row(
        f"{INSURER}: crash data under insurance consent",
        f"request {s.insurer_decision}; released {released}; decrypted "
        f"{'/'.join(s.insurer_kinds) or 'no'} record(s) with {s.edr_fields} fields, "
        f"{s.insurer_verified} batch(es) checked against the anchor; "
        f"receipt {'posted' if s.insurer_receipt else 'not posted'}",
    )
    if s.insurer_kinds:
        leaked = sorted({"location", "telemetry"} & {*s.insurer_categories, *s.insurer_kinds})
        table.add_row(
            f"{INSURER}: anything else?",
            f"categories opened: {', '.join(s.insurer_categories)}; "
            f"telemetry/location: {', '.join(leaked) or 'none'}",
        )
    table.add_row(
        f"{MAP_PROVIDER}: location, role-wide",
        f"role-wide location grant refused ({s.role_wide_location}); "
        f"location request refused ({s.map_location})",
    )
    table.add_row(
        "withdrawal",
        f"motion request {s.map_motion_before} before, refused ({s.map_motion_after}) after",
    )
    table.add_row(
        "erasure",
        f"{s.erasure_status}; {s.erasure_destroyed} key envelope(s) destroyed; "
        f"owner after erasure: {s.owner_after_erasure or 'not checked'}",
    )
    table.add_row(
        "access log", f"{len(s.access_log)} entries of {s.vehicle_id}, each verified by proof"
    )
    table.add_row("sharing stage time", f"{s.seconds:.1f} s")


def compute_access_log_table(s: SharingSummary) -> Table:
    """Return the owner's access log (newest first) as a table."""
    title = f"access log of {s.vehicle_id} (newest first, verified by proof)"
    table = Table("seq", "height", "event", "by", "ref", "categories", "detail", title=title)
    for e in s.access_log:
        detail = e.detail if len(e.detail) <= 20 else e.detail[:16] + "…"
        table.add_row(
            str(e.seq), str(e.height), e.kind, e.who, str(e.ref), ",".join(e.categories), detail
        )
    return table
