"""``carchain erasure`` (owners ask, anyone reads the status) and ``carchain hold``
(courts place and lift legal holds)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    CarchainTyper,
    JsonOpt,
    KeyOpt,
    KeyringOpt,
    NodeOpt,
    client,
    console,
    emit_json,
    get_event_attribute,
    make_text,
    parse_hex_option,
    send_body,
)
from carchain.core import erasure as er
from carchain.core import holds
from carchain.sdk.chainview import ChainView
from carchain.sdk.transactions import build_erasure_request, build_hold_lift, build_hold_place

app = CarchainTyper(help="Erasure requests (owners) and their status (anyone).")
hold_app = CarchainTyper(help="Legal holds (court members): block erasure of what they cover.")

VehicleOpt = Annotated[str, typer.Option("--vehicle-id", help="Vehicle id <oem>:<local id>.")]
CategoryOpt = Annotated[
    list[str], typer.Option("--category", "-c", help="A data category (repeat for several).")
]
# Same names as ``consent`` and ``access`` (``--data-from-ms``), short ones kept as aliases.
FromOpt = Annotated[
    int, typer.Option("--data-from-ms", "--from-ms", help="Start of the data window (Unix ms).")
]
UntilOpt = Annotated[
    int,
    typer.Option(
        "--data-until-ms", "--until-ms", help="End of the data window (Unix ms, inclusive)."
    ),
]


def compute_utc_text(time_ms: int) -> str:
    """Return a block time as ISO 8601 UTC to the second."""
    try:
        return dt.datetime.fromtimestamp(time_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(time_ms)


@app.command("request")
def request(
    vehicle_id: VehicleOpt,
    category: CategoryOpt,
    from_ms: FromOpt,
    until_ms: UntilOpt,
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the owner of that window's data (the vehicle's owner, or a previous owner for a
    window of its own ownership), ask for the erasure of these categories of it."""
    body = build_erasure_request(vehicle_id, category, from_ms, until_ms)
    res = send_body(node, keyring, key, body)
    seq = get_event_attribute(res, "erasure_requested", "seq")
    status = get_event_attribute(res, "erasure_requested", "status")
    console.print(
        make_text(
            f"erasure {seq} of {vehicle_id} requested at height {res.get('height')}: {status}"
        )
    )


@app.command("status")
def status(
    vehicle_id: str,
    seq: Annotated[int | None, typer.Option(help="One request (default: all).")] = None,
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """Show a vehicle's erasure requests (deadline, status, late) and its legal holds in force."""
    with client(node) as c:
        view = ChainView(c)
        erasures = (
            er.get_erasures(view, vehicle_id)
            if seq is None
            else [er.get_erasure(view, vehicle_id, seq)]
        )
        in_force = holds.get_holds_in_force(view, vehicle_id)
    if as_json:
        emit_json({"vehicle_id": vehicle_id, "erasures": erasures, "holds_in_force": in_force})
        return
    table = Table("seq", "status", "categories", "data window (ms)", "deadline (UTC)", "late")
    for e in erasures:
        window = f"{e.data_from_ms}..{e.data_until_ms}"
        cells = (e.seq, e.status, ",".join(e.categories), window, compute_utc_text(e.deadline_ms))
        table.add_row(*(make_text(v) for v in cells), make_text("late" if e.late else ""))
    console.print(table)
    for h in in_force:
        line = f"legal hold {h.seq} by {h.court} in force on {','.join(h.categories)}"
        console.print(make_text(f"{line} {h.data_from_ms}..{h.data_until_ms}"))


@app.command("overdue")
def overdue(
    oem: Annotated[str, typer.Option(help="The OEM's member id.")],
    limit: Annotated[int, typer.Option(help="Entries (1-100), newest first.")] = 20,
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """Show the OEM's erasure requests that missed their deadline, and how many still are."""
    with client(node) as c:
        view = ChainView(c)
        count = er.get_overdue_count(view, oem)
        listed = er.get_overdue_erasures(view, oem, limit=limit)
    if as_json:
        emit_json({"oem": oem, "overdue_now": count, "erasures": [e for _, e in listed]})
        return
    console.print(make_text(f"{oem}: {count} overdue now"))
    table = Table("vehicle", "seq", "status", "deadline (UTC)", "late")
    for _, e in listed:
        cells = (e.vehicle_id, e.seq, e.status, compute_utc_text(e.deadline_ms))
        table.add_row(*(make_text(v) for v in cells), make_text("late" if e.late else ""))
    console.print(table)


@hold_app.command("place")
def place(
    vehicle_id: VehicleOpt,
    category: CategoryOpt,
    from_ms: FromOpt,
    until_ms: UntilOpt,
    case_ref: Annotated[
        str, typer.Option(help="The case reference's SHA-256 (hex); no case text goes on chain.")
    ],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As a court member, place a legal hold over a vehicle's data scope."""
    ref = parse_hex_option(case_ref, "case ref")
    res = send_body(
        node, keyring, key, build_hold_place(vehicle_id, category, from_ms, until_ms, ref)
    )
    seq = get_event_attribute(res, "legal_hold_placed", "seq")
    console.print(
        make_text(f"legal hold {seq} on {vehicle_id} placed at height {res.get('height')}")
    )


@hold_app.command("lift")
def lift(
    vehicle_id: VehicleOpt,
    seq: Annotated[int, typer.Option(help="The hold's seq (per vehicle).")],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the court member that placed it, lift a legal hold."""
    res = send_body(node, keyring, key, build_hold_lift(vehicle_id, seq))
    console.print(
        make_text(f"legal hold {seq} on {vehicle_id} lifted at height {res.get('height')}")
    )
