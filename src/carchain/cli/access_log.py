"""``carchain vehicle access-log``: who read my car's data, and a signed export of it.

``access-log ID`` prints a page (or ``--all`` pages) newest first, each entry
proven against the app hash of the block header it was read at; ``--export FILE
--key OWNER_KEY`` writes the same entries as a signed, verifiable file
(``carchain/access-log-export/v1``), and ``access-log-verify FILE`` checks it
offline against a trust root you hold (the options of ``carchain verify``).
The functions are plain, so another group can register them too.
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
from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    JsonOpt,
    KeyringOpt,
    NodeOpt,
    console,
    emit_json,
    make_text,
    unlock,
)
from carchain.cli.network import (
    GenesisOpt,
    MaxAgeOpt,
    TrustHashOpt,
    TrustHeightOpt,
    get_trust_root,
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
from carchain.core.access_log import MAX_PAGE, AccessEvent
from carchain.errors import NoTrustRoot
from carchain.sdk.access_log import AccessLogPage, verify_access_log_page
from carchain.sdk.access_log_export import (
    VerifiedExport,
    build_access_log_export,
    verify_access_log_export,
)
from carchain.sdk.access_log_trust import get_access_log_by_consensus
from carchain.sdk.client import Client
from carchain.sdk.light_client import make_rpc_provider

BeforeOpt = Annotated[
    int | None, typer.Option("--before", min=0, help="Only entries with seq below this.")
]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=MAX_PAGE, help="Page size.")]


def compute_time_text(time_ms: int) -> str:
    """Return a block time (ms) as UTC ISO 8601 to the second."""
    when = datetime.datetime.fromtimestamp(time_ms / 1000, tz=datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_event_table(
    events: list[AccessEvent], title: str, oem_seqs: list[int] | None = None
) -> Table:
    """Return the events as a table, in the order given (newest first); an OEM's table
    leads with its own seq and the vehicle."""
    heads = ["seq", "time (UTC)", "height", "kind", "actor", "ref", "categories", "detail"]
    table = Table(*(["oem seq", "vehicle"] if oem_seqs is not None else []), *heads)
    table.title = make_text(title)
    for n, e in enumerate(events):
        actor = e.actor_member or f"owner {e.actor.hex()[:16]}…"
        lead: list[str | Text] = []
        if oem_seqs is not None:
            lead = [str(oem_seqs[n]), make_text(e.vehicle_id)]
        table.add_row(
            *lead,
            str(e.seq),
            compute_time_text(e.time_ms),
            str(e.height),
            make_text(e.kind),
            make_text(actor),
            str(e.ref),
            make_text(", ".join(e.categories)),
            make_text(e.detail),
        )
    return table


def compute_pages_doc(pages: list[AccessLogPage]) -> dict[str, object]:
    """Return the pages as one JSON document (``--json``): the entries, newest first,
    and what they were proven against."""
    first = pages[0]
    doc: dict[str, object] = {
        "owner_id": first.owner_id,
        "size": first.size,
        "height": first.height,
        "proof_height": first.proof_height,
        "app_hash": first.app_hash.hex(),
        "next_before": pages[-1].next_before,
        "events": [e for p in pages for e in p.events],
    }
    if first.oem_seqs is not None:
        doc["oem_seqs"] = [o for p in pages for o in p.oem_seqs or []]
    return doc


def print_page_footer(pages: list[AccessLogPage]) -> None:
    """Print the app hash the pages were proven against and the next cursor, if any."""
    first = pages[0]
    console.print(
        f"[green]proven[/green] against app hash {first.app_hash.hex()} "
        f"(state height {first.height}, header {first.proof_height})",
        soft_wrap=True,
    )
    if pages[-1].next_before is not None:
        console.print(f"older entries: --before {pages[-1].next_before}")


def collect_verified_pages(
    c: Client, vehicle_id: str, before: int | None, limit: int, all_pages: bool
) -> list[AccessLogPage]:
    """Return the page (and with ``all_pages`` every older one, at the first's height)."""
    pages = [c.access_log(vehicle_id, before, MAX_PAGE if all_pages else limit)]
    while all_pages and pages[-1].next_before is not None:
        pages.append(c.access_log(vehicle_id, pages[-1].next_before, MAX_PAGE, pages[0].height))
    return pages


def collect_consensus_pages(
    c: Client,
    rpc: str,
    trust: tuple[Path | None, int | None, str | None, float],
    vehicle_id: str,
    before: int | None,
    limit: int,
    all_pages: bool,
) -> list[AccessLogPage]:
    """Return the pages as ``collect_verified_pages``, proven against a header the light
    client verified from the trust root the options name (CometBFT network)."""
    genesis, trust_height, trust_hash, max_age = trust
    root = get_trust_root(genesis, trust_height, trust_hash, str(c.status()["chain_id"]))
    limit = MAX_PAGE if all_pages else limit
    provider = make_rpc_provider(rpc)
    pages = [get_access_log_by_consensus(c, provider, root, vehicle_id, before, limit, max_age)]
    while all_pages and pages[-1].next_before is not None:
        cursor = pages[-1].next_before
        doc = c.access_log_doc(vehicle_id, cursor, limit, pages[0].height)
        pages.append(verify_access_log_page(doc, vehicle_id, pages[0].app_hash, cursor, limit))
    return pages


def access_log(
    vehicle_id: Annotated[str, typer.Argument(help="Vehicle id <oem>:<local id>.")],
    before: BeforeOpt = None,
    limit: LimitOpt = 20,
    all_pages: Annotated[bool, typer.Option("--all", help="Every entry, not one page.")] = False,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write a signed, verifiable file.")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", "-k", help="Owner's key name (signs the export).")
    ] = None,
    rpc: Annotated[
        str | None, typer.Option(help="CometBFT RPC URL (network: light client, export commit).")
    ] = None,
    genesis: GenesisOpt = None,
    trust_height: TrustHeightOpt = None,
    trust_hash: TrustHashOpt = None,
    max_age: MaxAgeOpt = 60.0,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
    as_json: JsonOpt = False,
) -> None:
    """Show who did what with the vehicle's data, newest first, every entry proven.

    Entries are proven against the node's own block header; on a network, a trust
    root (--genesis, or --trust-height and --trust-hash) with --rpc proves them
    against a header the light client verified from that root instead.
    """
    if export is not None and key is None:
        raise typer.BadParameter("--export needs --key (the owner's key signs it)")
    trusted = genesis is not None or trust_hash is not None or trust_height is not None
    if trusted and rpc is None:
        raise NoTrustRoot("a trust root needs --rpc: the light client reads headers there")
    with common.client(node) as c:
        if trusted and rpc is not None:
            trust = (genesis, trust_height, trust_hash, max_age)
            pages = collect_consensus_pages(c, rpc, trust, vehicle_id, before, limit, all_pages)
        else:
            pages = collect_verified_pages(c, vehicle_id, before, limit, all_pages)
        if export is not None and key is not None:
            doc = build_access_log_export(
                c, unlock(keyring, key), vehicle_id, before, limit, all_pages, rpc
            )
            export.write_text(json.dumps(doc, indent=1))
    if as_json:
        emit_json(compute_pages_doc(pages))
        return
    first = pages[0]
    events = [e for p in pages for e in p.events]
    title = f"access log of {vehicle_id}: {len(events)} of {first.size} entries"
    console.print(make_event_table(events, title))
    print_page_footer(pages)
    if trusted:
        via = "the genesis validator set" if genesis else f"trusted block {trust_height}"
        console.print(f"header verified by the light client from {via}")
    if export is not None:
        console.print(f"[green]wrote[/green] signed export {export}")


def collect_oem_pages(
    c: Client, oem: str, before: int | None, limit: int, all_pages: bool
) -> list[AccessLogPage]:
    """Return the OEM's page (and with ``all_pages`` every older one, at the first's height)."""
    pages = [c.oem_access_log(oem, before, MAX_PAGE if all_pages else limit)]
    while all_pages and pages[-1].next_before is not None:
        pages.append(c.oem_access_log(oem, pages[-1].next_before, MAX_PAGE, pages[0].height))
    return pages


def oem_access_log(
    oem: Annotated[str, typer.Argument(help="The OEM's member id.")],
    before: BeforeOpt = None,
    limit: LimitOpt = 20,
    all_pages: Annotated[bool, typer.Option("--all", help="Every entry, not one page.")] = False,
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """Show the access log of all the OEM's vehicles, newest first, pointer and event proven."""
    with common.client(node) as c:
        pages = collect_oem_pages(c, oem, before, limit, all_pages)
    if as_json:
        emit_json(compute_pages_doc(pages))
        return
    first = pages[0]
    events = [e for p in pages for e in p.events]
    oseqs = [o for p in pages for o in p.oem_seqs or []]
    title = f"access log of {oem}'s vehicles: {len(events)} of {first.size} entries"
    table = make_event_table(events, title, oseqs)
    console.print(table)
    print_page_footer(pages)


def access_log_verify(
    file: Annotated[Path, typer.Argument(help="Access-log export (JSON).")],
    header: BlockHeaderOpt = None,
    trust_hash: BlockHashOpt = None,
    validators: BlockValidatorsOpt = None,
    genesis: GenesisSetOpt = None,
    chain_id: ChainIdOpt = "",
) -> None:
    """Check an export offline: signature, every proof, and that no entry is left out."""
    trust = get_block_trust(header, trust_hash, validators, genesis, chain_id)
    v = verify_access_log_export(load_json(file, "access-log export"), trust)
    print_verified_export(v)


def print_verified_export(v: VerifiedExport) -> None:
    """Print what the verification established, then the events."""
    span = "no entries" if v.to_seq is None else f"seqs {v.to_seq} down to {v.from_seq}"
    whole = "the whole log" if v.is_complete else f"part of a log of {v.size}"
    if v.size == 0:
        whole = "an empty log (proven empty)"
    said = (
        f" access log of {v.vehicle_id}: {span}, {whole}, contiguous, each proven against "
        f"app hash {v.app_hash.hex()[:16]}… at height {v.height} of chain {v.chain_id}; "
        f"signed by the owner {v.exporter.hex()}"
    )
    console.print(Text.assemble(("verified", "green"), make_text(said)), soft_wrap=True)
    for said in v.trusted_by:
        console.print(f"trust root: {said}", markup=False, highlight=False, soft_wrap=True)
    console.print(make_event_table(v.events, f"access log of {v.vehicle_id}"))
