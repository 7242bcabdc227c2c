"""``carchain consent``: an owner grants, withdraws and lists consents about its vehicle."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

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
    send_body,
)
from carchain.core import consents
from carchain.core.consents import Purpose
from carchain.errors import NodeUnavailable
from carchain.sdk.chainview import ChainView

app = CarchainTyper(help="Owner consent: who may use which data of your vehicle, for what.")
VehicleOpt = Annotated[str, typer.Option("--vehicle-id", help="Vehicle id <oem>:<local id>.")]
CategoryOpt = Annotated[
    list[str], typer.Option("--category", "-c", help="A data category (repeat; e.g. diagnostics).")
]
FromOpt = Annotated[int, typer.Option(help="Start of the data window (ms since epoch, UTC).")]
UntilOpt = Annotated[int, typer.Option(help="End of the data window (exclusive, ms).")]


def get_event_seq(res: dict[str, Any], event_type: str, name: str) -> int:
    """Return the seq a committed result's event names; ``NodeUnavailable`` if it names none."""
    value = get_event_attribute(res, event_type, name, "?")
    if not (value.isascii() and value.isdigit()) or int(value) >= 2**63:
        raise NodeUnavailable(f"the node's answer names no {name}")
    return int(value)


def print_status(word: str, style: str, rest: str) -> None:
    """Print ``word`` in ``style`` and ``rest`` as plain text (it holds what the node said)."""
    console.print(Text(word, style=style) + make_text(" " + rest))


@app.command("grant")
def grant(
    vehicle_id: VehicleOpt,
    category: CategoryOpt,
    purpose: Annotated[Purpose, typer.Option(help="What the data may be used for.")],
    data_from_ms: FromOpt,
    data_until_ms: UntilOpt,
    expires_ms: Annotated[int, typer.Option(help="When the grant expires (block time, ms).")],
    key: KeyOpt,
    recipient_id: Annotated[str, typer.Option(help="The one member it is granted to.")] = "",
    recipient_role: Annotated[str, typer.Option(help="Or: every member of a role.")] = "",
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Grant categories of your vehicle's data for one purpose (sensitive: alone, named)."""
    body = consents.GrantConsent(
        vehicle_id,
        sorted(set(category)),
        purpose.value,
        recipient_id,
        recipient_role,
        data_from_ms,
        data_until_ms,
        expires_ms,
    )
    res = send_body(node, keyring, key, body)
    seq = get_event_attribute(res, "consent_granted", "grant_seq", "?")
    print_status("granted", "green", f"{vehicle_id} grant {seq} at height {res.get('height')}")


@app.command("withdraw")
def withdraw(
    vehicle_id: VehicleOpt,
    grant_seq: Annotated[int, typer.Option(help="The grant's number.")],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Withdraw a grant: nothing is released under it from the next block on."""
    res = send_body(node, keyring, key, consents.WithdrawConsent(vehicle_id, grant_seq))
    print_status(
        "withdrawn", "yellow", f"{vehicle_id} grant {grant_seq} at height {res.get('height')}"
    )


@app.command("list")
def list_grants(
    vehicle_id: str,
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first.")] = 50,
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """List a vehicle's grants, newest first, with their status."""
    table = Table("seq", "categories", "purpose", "recipient", "data from", "until", "expires",
                  "withdrawn at")  # fmt: skip
    with client(node) as c:
        view = ChainView(c)
        count = consents.get_grant_count(view, vehicle_id)
        seqs = range(count - 1, max(count - limit, 0) - 1, -1)
        grants = [g for s in seqs if (g := consents.get_grant_optional(view, vehicle_id, s))]
    if as_json:
        emit_json({"vehicle_id": vehicle_id, "count": count, "grants": grants})
        return
    for g in grants:
        recipient = g.recipient_id or f"role:{g.recipient_role}"
        cells = (g.seq, ",".join(g.categories), g.purpose, recipient, g.data_from_ms,
                 g.data_until_ms, g.expires_ms, g.withdrawn_height or "-")  # fmt: skip
        table.add_row(*(make_text(v) for v in cells))
    console.print(table)
