"""Printing everyone's view as tables (counts, ids and codes only: no personal data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # views imports this module to re-export the printer
    from carchain.sim.views import EveryonesView


def _kinds_text(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in kinds.items()) or "(empty)"


def print_owner_logs(console: Console, view: EveryonesView) -> None:
    """Print each owner's verified log: entries by kind, the case's entries."""
    hours = view.clock_shift_ms / 3_600_000
    table = Table(
        "vehicle", "in a case's scope", "entries", "by kind", "case entries", "verified",
        title=f"The owners' access logs, {hours:.1f} h of simulated time later "
              "(notice delay passed)",
    )  # fmt: skip
    for log in view.owner_logs:
        whole = "whole log" if log.complete else "part"
        table.add_row(
            log.vehicle_id, "yes" if log.in_scope else "no", str(log.size),
            _kinds_text(log.kinds), str(log.case_entries), f"{whole}, height {log.height}",
        )  # fmt: skip
    console.print(table)


def print_insurer(console: Console, view: EveryonesView) -> None:
    """Print the insurer's granted access and its refused request."""
    a = view.insurer
    table = Table("insurer ping-an", "result", title="Consent-based access to a customer's EDR")
    rows = [
        ("vehicle (crash car)", f"{a.vehicle_id}, consent given {a.consent}"),
        ("request", f"{a.request_seq} → {a.decision}"),
        ("released categories", ", ".join(a.released) or "(none)"),
        ("decrypted", f"{', '.join(a.decrypted_kinds) or 'nothing'}; EDR fields {a.edr_fields}"),
        ("batches checked against their anchor", str(a.batches_verified)),
        ("in the owner's log", _kinds_text(a.owner_log.kinds)),
        ("entries by ping-an", str(a.owner_log.actors.get("ping-an", 0))),
        ("refused request", f"{a.refused_vehicle} (no consent) → {a.refused_decision} "
                            f"({a.refused_code})"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def print_statements(console: Console, view: EveryonesView) -> None:
    """Print each OEM's verified statements."""
    table = Table(
        "oem", "vehicle", "log entries", "disclosures (seq kind actor)", "cases", "verified",
        title="Each OEM's disclosure statements: these disclosures, and no others",
    )  # fmt: skip
    for s in view.statements:
        oem = s.oem + (" (foreign)" if s.foreign else "")
        for v in s.statements:
            said = "; ".join(f"{q} {k} {who}" for q, k, who in v.disclosures) or "none"
            cases = ", ".join(map(str, v.cases)) or "-"
            table.add_row(oem, v.vehicle_id, str(v.events), said, cases,
                          f"signed, proven at height {v.height}")  # fmt: skip
    console.print(table)


def print_transparency(console: Console, view: EveryonesView) -> None:
    """Print the proven quarter reports."""
    for report in view.transparency:
        table = Table("counter", "count", title=f"Transparency report {report.scope} (proven)")
        for name, count in sorted(report.counters.items()):
            table.add_row(name, str(count))
        console.print(table)


def print_figures(console: Console, view: EveryonesView) -> None:
    """Print the chain's figures."""
    f = view.figures
    table = Table("chain", "figure", title="The chain's figures")
    rows = [
        ("blocks", str(f.height)),
        ("transactions", f"{f.txs}: " + _kinds_text(f.txs_by_type)),
        ("bytes on chain (transactions)", f"{f.tx_bytes:,}"),
        ("node database on disk", f"{f.node_db_bytes:,}"),
        ("bytes off chain (sealed batches uploaded)", f"{f.upload_bytes:,}"),
        ("gateway stores on disk", f"{f.gateway_store_bytes:,}"),
        ("blocks with anchors", str(f.anchor_blocks)),
        ("anchors per gateway per block", f"max {f.max_anchors_per_gateway_block}, "
                                          f"mean {f.mean_anchors_per_gateway_block:.2f}"),
        ("anchors per OEM", _kinds_text(f.anchors_per_oem)),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def print_everyones_view(console: Console, view: EveryonesView) -> None:
    """Print everyone's view: owners, insurer, automakers, public, the chain."""
    print_owner_logs(console, view)
    print_insurer(console, view)
    print_statements(console, view)
    print_transparency(console, view)
    print_figures(console, view)
