"""``carchain escrow``: a member registers its escrow key; anyone reads the committee."""

from __future__ import annotations

import time
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
    key_path,
    make_text,
    send_body,
)
from carchain.cli.consent import print_status
from carchain.core.case_records import DAY_MS, VEHICLE_OEM_SEAT, EscrowCommittee, RegisterEscrowKey
from carchain.errors import NotFound
from carchain.sdk.chainview import ChainView
from carchain.sdk.keystore import load_public_key

app = CarchainTyper(help="The escrow committee: custodians' keys, seats and threshold.")


@app.command("register-key")
def register_key(
    escrow_key: Annotated[
        str, typer.Option(help="Name of the escrow key (its public key is used).")
    ],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As a member: register the key the cars seal your escrow shares to (takes effect
    with the next committee set by governance)."""
    body = RegisterEscrowKey(load_public_key(key_path(keyring, escrow_key)))
    res = send_body(node, keyring, key, body)
    print_status("registered", "green", f"escrow key at height {res.get('height')}")


def print_committee(committee: EscrowCommittee) -> None:
    """Print a committee version: threshold, categories and one row per seat."""
    console.print(
        make_text(
            f"committee v{committee.version}: {committee.threshold} of "
            f"{len(committee.custodians)}, from epoch {committee.from_epoch} "
            f"(set at height {committee.set_height})"
        )
    )
    console.print(make_text("escrowed categories: " + ", ".join(committee.categories)))
    table = Table("index", "member", "org type", "escrow key")
    for c in committee.custodians:
        member = c.member_id if c.member_id != VEHICLE_OEM_SEAT else "(the vehicle's OEM)"
        ekey = c.escrow_key.hex()[:16] + "…" if c.escrow_key else "-"
        table.add_row(*(make_text(v) for v in (c.index, member, c.org_type, ekey)))
    console.print(table)


@app.command("committee")
def committee(
    epoch: Annotated[
        int | None, typer.Option(min=0, help="The epoch (UTC day number); default: today.")
    ] = None,
    version: Annotated[int | None, typer.Option(min=1, help="Or a committee version.")] = None,
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """Show the committee in force for an epoch (or one version)."""
    from carchain.core.escrow_committee import get_committee, get_committee_for_epoch

    with client(node) as c:
        view = ChainView(c)
        if version is not None:
            found: EscrowCommittee | None = get_committee(view, version)
        else:
            day = int(time.time() * 1000) // DAY_MS if epoch is None else epoch
            found = get_committee_for_epoch(view, day)
    if found is None:
        raise NotFound("no escrow committee for that epoch")
    if as_json:
        emit_json(found)
        return
    print_committee(found)
