"""``carchain member``: governance proposals, votes and the member list."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from carchain.cli.access_log import oem_access_log
from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    ROLES_HELP,
    CarchainTyper,
    JsonOpt,
    KeyOpt,
    KeyringOpt,
    NodeOpt,
    client,
    console,
    emit_json,
    make_text,
    parse_hex_option,
    parse_roles,
    unlock,
)
from carchain.core import governance as gov
from carchain.sdk.account import Account

app = CarchainTyper(help="Consortium members and governance.")
app.command("access-log")(oem_access_log)

ACTIONS = ("add", "suspend", "reinstate", "remove", "change-roles", "rotate-key", "set-validator")


def _action(
    action: str,
    member_id: str,
    name: str,
    roles: str,
    public_key: str,
    validator_key: str,
    power: int,
) -> gov.Action:
    def roles_list() -> list[str]:
        if not roles:
            raise typer.BadParameter(f"--roles is required: {ROLES_HELP}")
        return parse_roles(roles)

    if action == "add":
        return gov.AddMember(
            member_id,
            name or member_id,
            roles_list(),
            parse_hex_option(public_key, "public key"),
            bytes.fromhex(validator_key) if validator_key else b"",
            power,
        )
    if action == "suspend":
        return gov.SuspendMember(member_id)
    if action == "reinstate":
        return gov.ReinstateMember(member_id)
    if action == "remove":
        return gov.RemoveMember(member_id)
    if action == "change-roles":
        return gov.ChangeRoles(member_id, roles_list())
    if action == "rotate-key":
        return gov.RotateMemberKey(member_id, parse_hex_option(public_key, "public key"))
    if action == "set-validator":
        return gov.SetValidator(member_id, parse_hex_option(validator_key, "validator key"), power)
    raise typer.BadParameter(f"action must be one of {', '.join(ACTIONS)}")


@app.command("propose")
def propose(
    action: Annotated[str, typer.Argument(help=" | ".join(ACTIONS))],
    member_id: Annotated[str, typer.Option("--member-id", help="Member the action is about.")],
    key: KeyOpt,
    name: str = "",
    roles: Annotated[str, typer.Option(help=ROLES_HELP)] = "",
    public_key: Annotated[str, typer.Option(help="Member public key (hex).")] = "",
    validator_key: Annotated[str, typer.Option(help="Validator Ed25519 key (hex).")] = "",
    power: int = 0,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Propose a membership change; your own vote counts as yes."""
    body = gov.Propose(_action(action, member_id, name, roles, public_key, validator_key, power))
    with client(node) as c:
        res = Account(c, unlock(keyring, key)).send(body)
    events = {e["type"]: e["attributes"] for e in res["result"]["events"]}
    pid = events.get("proposal_created", {}).get("proposal_id", "?")
    closed = events.get("proposal_closed", {}).get("status", "open")
    console.print(f"[green]proposal {pid}[/green] at height {res['height']}: {closed}")


@app.command("vote")
def vote(
    proposal_id: int,
    key: KeyOpt,
    approve: Annotated[bool, typer.Option("--yes/--no", help="Approve or reject.")] = True,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Vote on a proposal."""
    with client(node) as c:
        Account(c, unlock(keyring, key)).send(gov.Vote(proposal_id, approve))
        p = c.proposal(proposal_id)
    line = f"proposal {proposal_id}: {p['status']} (yes {len(p['yes'])}, no {len(p['no'])})"
    console.print(make_text(line))


@app.command("list")
def list_members(node: NodeOpt = DEFAULT_NODE, as_json: JsonOpt = False) -> None:
    """List the consortium's members."""
    with client(node) as c:
        items = c.members(limit=1000)
    if as_json:
        emit_json({"members": items})
        return
    table = Table("id", "name", "roles", "status", "power", "public key")
    for m in items:
        table.add_row(
            make_text(m["member_id"]),
            make_text(m["name"]),
            make_text(",".join(m["roles"])),
            make_text(m["status"]),
            make_text(m["power"]),
            make_text(m["public_key"]),
        )
    console.print(table)
