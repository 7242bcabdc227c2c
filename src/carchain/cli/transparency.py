"""``carchain transparency``: the public lawful-access counters, every number proven.

``report [--period 2026Q4] [--json]`` prints a quarter's counters (cases by authority,
court, legal basis, OEM, category and state; open-to-authorise times; declines;
notification delays), each checked against the app hash; ``annual --oem X --year Y``
the figures of the OEM's annual report under the 2021 Provisions (art. 13, due by
15 December). No key and no membership needed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer
from rich.table import Table

from carchain.cli import common
from carchain.cli.common import (
    DEFAULT_NODE,
    CarchainTyper,
    JsonOpt,
    NodeOpt,
    console,
    make_text,
)
from carchain.sdk.transparency import (
    AnnualReport,
    VerifiedReport,
    fetch_annual_report,
    fetch_report,
)

app = CarchainTyper(help="Public transparency reports of lawful access.", no_args_is_help=True)


def make_counter_table(report: VerifiedReport, title: str) -> Table:
    """Return a scope's counters as a table, sorted by name."""
    table = Table("counter", "value", title=title)
    for name, value in sorted(report.counters.items()):
        table.add_row(make_text(name), str(value))
    return table


UNPROVEN_EMPTY = (
    "[yellow]not proven[/yellow]: the node says this scope was never counted; "
    "absence has no proof (ask another node)"
)


def print_proven(report: VerifiedReport) -> None:
    """Print what the numbers were proven against (or that "none" is the node's word)."""
    if not report.size_proven:
        console.print(UNPROVEN_EMPTY, soft_wrap=True)
        return
    console.print(
        f"[green]proven[/green]: {report.size} counters against app hash "
        f"{report.app_hash.hex()} (state height {report.height})",
        soft_wrap=True,
    )


@app.command("report")
def report(
    period: Annotated[str, typer.Option(help="Quarter, e.g. 2026Q4 (default: now's).")] = "",
    as_json: JsonOpt = False,
    node: NodeOpt = DEFAULT_NODE,
) -> None:
    """Show a quarter's lawful-access counters, every number proven."""
    with common.client(node) as c:
        r = fetch_report(c, period)
    if as_json:
        doc = {"scope": r.scope, "counters": r.counters, "height": r.height}
        doc |= {"size_proven": r.size_proven}
        typer.echo(json.dumps(doc | {"app_hash": r.app_hash.hex()}, indent=1, sort_keys=True))
        return
    console.print(make_counter_table(r, f"lawful access, {r.scope.removeprefix('q/')}"))
    print_proven(r)


def make_annual_table(a: AnnualReport) -> Table:
    """Return the annual report's figures as a table."""
    table = Table("figure", "value", title=make_text(f"{a.oem}: lawful access in {a.year}"))
    for name, value in a.totals.items():
        table.add_row(make_text(name), str(value))
    for row in a.by_legal_basis:
        table.add_row(
            make_text(f"legal basis {row['code']} ({row['law']} {row['provision']})"),
            str(row["cases"]),
        )
    for group, counts in (
        ("authority", a.by_authority),
        ("court", a.by_court),
        ("category", a.by_category),
    ):
        for name, value in counts.items():
            table.add_row(make_text(f"{group} {name}"), str(value))
    return table


@app.command("annual")
def annual(
    oem: Annotated[str, typer.Option(help="The OEM's member id.")],
    year: Annotated[int, typer.Option(help="Calendar year (UTC).", min=1970, max=9999)],
    as_json: JsonOpt = False,
    node: NodeOpt = DEFAULT_NODE,
) -> None:
    """Show an OEM's annual lawful-access figures (2021 Provisions, art. 13), proven."""
    with common.client(node) as c:
        a = fetch_annual_report(c, oem, year)
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(a), indent=1, sort_keys=True))
        return
    console.print(make_annual_table(a))
    console.print(f"due by {a.due_date}; {a.provision}", soft_wrap=True, markup=False)
    if not a.size_proven:
        console.print(UNPROVEN_EMPTY, soft_wrap=True)
        return
    console.print(f"[green]proven[/green] against app hash {a.app_hash} (state height {a.height})")
