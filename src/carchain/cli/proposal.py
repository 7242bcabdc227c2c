"""``carchain proposal``: list and show governance proposals and their votes."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from carchain.cli.common import (
    DEFAULT_NODE,
    CarchainTyper,
    JsonOpt,
    NodeOpt,
    client,
    console,
    emit_json,
    make_text,
)
from carchain.errors import NotFound
from carchain.sdk.client import Client

app = CarchainTyper(help="Governance proposals: list them, show one with its votes.")
STATUSES = ("open", "passed", "rejected", "expired")
# Without the node's list route, ids are probed one by one up to this many.
MAX_PROBED_IDS = 10_000


def get_proposal_id(doc: dict[str, Any]) -> int:
    """Return a proposal's id, in either of the node's shapes (``id`` or ``proposal_id``)."""
    value = doc.get("id", doc.get("proposal_id"))
    return value if isinstance(value, int) else 0


def count_votes(value: object) -> int:
    """Return a vote count: the node gives a number or the list of voters."""
    if isinstance(value, list):
        return len(value)
    return value if isinstance(value, int) else 0


def get_kind(doc: dict[str, Any]) -> str:
    """Return what a proposal would do (``kind``, or its action's type tag)."""
    if isinstance(doc.get("kind"), str):
        return str(doc["kind"])
    action = doc.get("action")
    if isinstance(action, dict):
        return str(action.get("type") or next(iter(action), "?"))
    return "?"


def list_by_ids(c: Client, status: str, before: int, limit: int) -> dict[str, Any]:
    """Return the page ``GET /proposals`` would, read proposal by proposal (a node
    without the list route): newest first, below ``before``, of ``status`` if given."""
    newest = 0
    while newest < MAX_PROBED_IDS:
        try:
            c.proposal(newest + 1)
        except NotFound:
            break
        newest += 1
    items: list[dict[str, Any]] = []
    pid = min(newest, before - 1) if before else newest
    while pid >= 1 and len(items) < limit:
        doc = c.proposal(pid)
        if not status or doc.get("status") == status:
            items.append(doc)
        pid -= 1
    return {"proposals": items, "next_before": get_proposal_id(items[-1]) if pid >= 1 else None}


@app.command("list")
def list_proposals(
    status: Annotated[
        str, typer.Option(help=f"Only proposals in this state: {', '.join(STATUSES)}.")
    ] = "",
    before: Annotated[int, typer.Option(min=0, help="Only ids below this (paging).")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many.")] = 20,
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """List proposals, newest first: id, kind, proposer, status, votes."""
    if status and status not in STATUSES:
        raise typer.BadParameter(f"--status is one of {', '.join(STATUSES)}")
    with client(node) as c:
        page = c.proposals(status, before, limit) or list_by_ids(c, status, before, limit)
    if as_json:
        emit_json(page)
        return
    table = Table("id", "kind", "proposer", "status", "created", "yes", "no")
    for p in page.get("proposals") or []:
        table.add_row(
            *(
                make_text(v)
                for v in (
                    get_proposal_id(p),
                    get_kind(p),
                    p.get("proposer_name") or p.get("proposer", ""),
                    p.get("status", ""),
                    p.get("created_height", ""),
                    count_votes(p.get("yes")),
                    count_votes(p.get("no")),
                )
            )
        )
    console.print(table)
    if page.get("next_before"):
        console.print(make_text(f"more: --before {page['next_before']}"))


@app.command("show")
def show(
    proposal_id: Annotated[int, typer.Argument(min=1, help="Proposal id.")],
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """Show one proposal: what it does, its status and who voted how."""
    with client(node) as c:
        doc = c.proposal(proposal_id)
    if as_json:
        emit_json(doc)
        return
    console.print(make_text(f"proposal {proposal_id}: {get_kind(doc)}, {doc.get('status')}"))
    for name in ("proposer", "created_height", "expires_height", "outcome"):
        if doc.get(name) not in (None, ""):
            console.print(make_text(f"{name}: {doc[name]}"))
    body = doc.get("body", doc.get("action"))
    console.print(make_text(f"action: {body}"), soft_wrap=True)
    votes = doc.get("votes")
    if isinstance(votes, list):
        for v in votes:
            console.print(
                make_text(f"  {v.get('member_id')}: {v.get('vote')} at {v.get('height')}")
            )
    else:
        console.print(make_text(f"yes: {', '.join(map(str, doc.get('yes') or [])) or '-'}"))
        console.print(make_text(f"no: {', '.join(map(str, doc.get('no') or [])) or '-'}"))
