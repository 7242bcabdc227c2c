"""``carchain oem``: what an OEM sees and proves of lawful access to its vehicles.

``sealed-cases --oem X`` lists every case touching its cars (never the case reference);
``verify-releases --oem X`` re-checks every share release about its cars from proven
state (court-authorised, in scope, at quorum); ``statement --vehicle V --from T
--until T --out FILE --key K`` writes the signed customer statement "these disclosures
happened, and no others" (``carchain/oem-statement/v1``), ``statement-verify FILE
--trust-hash ...`` checks one offline. Times are milliseconds or ISO 8601 (UTC).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from carchain.cli import common
from carchain.cli.access_log import compute_time_text, make_event_table
from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    CarchainTyper,
    JsonOpt,
    KeyOpt,
    KeyringOpt,
    NodeOpt,
    console,
    emit_json,
    key_path,
    make_text,
    unlock,
    write_private,
)
from carchain.cli.verify import (
    BlockHashOpt,
    BlockHeaderOpt,
    BlockValidatorsOpt,
    ChainIdOpt,
    GenesisSetOpt,
    get_block_trust,
    load_json,
)
from carchain.core.members import get_member_by_key
from carchain.errors import InvalidBody
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.keystore import load_public_key
from carchain.sdk.oem_releases import verify_oem_releases
from carchain.sdk.oem_statement import VerifiedStatement, build_oem_statement, verify_oem_statement

app = CarchainTyper(help="An OEM's view of lawful access to its vehicles.", no_args_is_help=True)

OemOpt = Annotated[str, typer.Option("--oem", help="The OEM's member id (or give --key).")]
OemKeyOpt = Annotated[
    str | None, typer.Option("--key", "-k", help="The OEM's key name: its member id is looked up.")
]


def resolve_oem(c: Client, oem: str, key: str | None, keyring: Path) -> str:
    """Return ``oem``, or the member id of the key named ``key`` (its public key only)."""
    if oem:
        return oem
    if key is None:
        raise typer.BadParameter("give --oem or --key")
    public_key = load_public_key(key_path(keyring, key))
    member = get_member_by_key(ChainView(c), public_key)
    return str(member.member_id)


def parse_time_ms(value: str) -> int:
    """Return a time given as milliseconds or ISO 8601 (naive means UTC) in ms."""
    if value.isdigit():
        return int(value)
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidBody("a time must be milliseconds or ISO 8601", value=value[:40]) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return int(when.timestamp() * 1000)


@app.command("sealed-cases")
def sealed_cases(
    oem: OemOpt = "",
    key: OemKeyOpt = None,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
    as_json: JsonOpt = False,
) -> None:
    """List the cases touching the OEM's vehicles: basis, authority, court, dates,
    categories, shares released; never the case reference."""
    entries = []
    with common.client(node) as c:
        oem = resolve_oem(c, oem, key, keyring)
        page = c.sealed_cases(oem)
        entries += page["entries"]
        while page.get("next_start") is not None:
            page = c.sealed_cases(oem, start=int(page["next_start"]), height=int(page["height"]))
            entries += page["entries"]
    if as_json:
        emit_json({"oem": oem, "entries": entries})
        return
    heads = ["vehicle", "case", "basis", "authority", "court", "state", "authorised", "notice due"]
    table = Table(
        *heads,
        "noticed",
        "categories",
        "shares",
        title=make_text(f"cases touching {oem}'s vehicles"),
    )
    for e in entries:
        table.add_row(
            make_text(e["vehicle_id"]),
            str(e["case_id"]),
            make_text(e["legal_basis"]),
            make_text(e["authority"]),
            make_text(e["court"]),
            make_text(e["state"]),
            compute_time_text(int(e["authorized_ms"])),
            compute_time_text(int(e["notice_due_ms"])),
            "yes" if e["noticed"] else "sealed",
            make_text(", ".join(e["categories"])),
            str(e["keys_released"]),
        )
    console.print(table)


@app.command("verify-releases")
def verify_releases(
    oem: OemOpt = "",
    key: OemKeyOpt = None,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
    as_json: JsonOpt = False,
) -> None:
    """Re-check every share release about the OEM's vehicles from proven state."""
    with common.client(node) as c:
        oem = resolve_oem(c, oem, key, keyring)
        audit = verify_oem_releases(c, oem)
    if as_json:
        emit_json({"oem": oem, "audit": audit})
        return
    table = Table("case", "release", "custodian", "court", "approvals", f"{oem} shares")
    for r in audit.releases:
        table.add_row(
            str(r.case_id),
            str(r.seq),
            make_text(r.custodian),
            make_text(r.court),
            str(r.approvals),
            str(r.shares),
        )
    console.print(table)
    console.print(
        f"[green]verified[/green] {len(audit.releases)} releases: each court-authorised, in scope, "
        f"at quorum (app hash {audit.app_hash.hex()[:16]}…, height {audit.height})",
        soft_wrap=True,
    )


@app.command("statement")
def statement(
    vehicle: Annotated[str, typer.Option("--vehicle", help="Vehicle id <oem>:<local id>.")],
    from_: Annotated[str, typer.Option("--from", help="Window start (ms or ISO 8601, UTC).")],
    until: Annotated[str, typer.Option("--until", help="Window end, exclusive.")],
    out: Annotated[Path, typer.Option("--out", help="Statement file to write (JSON).")],
    key: KeyOpt,
    oem: Annotated[
        str, typer.Option("--oem", help="The OEM (default: the vehicle's namespace).")
    ] = "",
    rpc: Annotated[str | None, typer.Option(help="CometBFT RPC URL (network: the commit).")] = None,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Write the OEM's signed statement of the disclosures of a car's data in a window."""
    member = oem or vehicle.partition(":")[0]
    with common.client(node) as c:
        doc = build_oem_statement(
            c,
            unlock(keyring, key),
            member,
            vehicle,
            parse_time_ms(from_),
            parse_time_ms(until),
            rpc,
        )
    write_private(out, json.dumps(doc, indent=1))
    console.print(
        f"[green]wrote[/green] signed statement {out} ({len(doc['log_entries'])} log entries)"
    )


def print_statement(v: VerifiedStatement) -> None:
    """Print what a verified statement establishes."""
    said = (
        f" between {compute_time_text(v.from_ms)} and {compute_time_text(v.until_ms)}, "
        f"{len(v.disclosures)} disclosures of {v.vehicle_id}'s data happened and no others "
        f"(signed by {v.oem}; every entry and case proven against app hash "
        f"{v.app_hash.hex()[:16]}… at height {v.height})"
    )
    console.print(Text.assemble(("verified", "green"), make_text(said)), soft_wrap=True)
    for line in v.trusted_by:
        console.print(f"trust root: {line}", markup=False, highlight=False, soft_wrap=True)
    console.print(make_event_table(list(reversed(v.disclosures)), "disclosures (newest first)"))
    for case, rel in v.cases:
        console.print(
            make_text(
                f"case {case.case_id} ({case.legal_basis}, {case.authority}, court {case.court}): "
                f"{rel.keys} shares of {', '.join(rel.categories)} released "
                f"{compute_time_text(rel.first_ms)} .. {compute_time_text(rel.last_ms)}"
            )
        )


@app.command("statement-verify")
def statement_verify(
    file: Annotated[Path, typer.Argument(help="OEM statement (JSON).")],
    header: BlockHeaderOpt = None,
    trust_hash: BlockHashOpt = None,
    validators: BlockValidatorsOpt = None,
    genesis: GenesisSetOpt = None,
    chain_id: ChainIdOpt = "",
) -> None:
    """Check an OEM statement offline against a trust root you hold."""
    trust = get_block_trust(header, trust_hash, validators, genesis, chain_id)
    print_statement(verify_oem_statement(load_json(file, "OEM statement"), trust))
