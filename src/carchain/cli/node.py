"""``carchain init``, ``carchain node start`` and ``carchain query``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    ROLE_LIST,
    CarchainTyper,
    JsonOpt,
    KeyringOpt,
    NodeOpt,
    check_port_free,
    client,
    console,
    emit_json,
    get_existing_key_path,
    make_text,
    parse_roles,
)
from carchain.cli.log_format import LogFormatOpt, parse_log_format, setup_logging
from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.errors import NodeUnavailable, NotFound
from carchain.node.home import DEFAULT_API_PORT, NodeConfig, NodeHome
from carchain.sdk.keystore import load_public_key
from carchain.storage.history import DEFAULT_STATE_VERSIONS

node_app = CarchainTyper(help="Run a node.")
HomeOpt = Annotated[Path, typer.Option("--home", help="Node home folder.")]
StateVersionsOpt = Annotated[
    int,
    typer.Option("--state-versions", min=1, help="Committed heights kept for queries and proofs."),
]


def _parse_member(spec: str, keyring: Path) -> GenesisMember:
    parts = spec.split(":")
    if len(parts) != 4:
        raise typer.BadParameter("--member takes ID:NAME:ROLE[,ROLE]:KEYNAME")
    member_id, name, roles, keyname = parts
    path = get_existing_key_path(keyring, keyname)
    return GenesisMember(
        member_id=member_id,
        name=name,
        roles=parse_roles(roles),
        public_key=load_public_key(path).hex(),
    )


def init(
    home: HomeOpt,
    chain_id: Annotated[str, typer.Option(help="Chain id.")] = "carchain-local",
    member: Annotated[
        list[str] | None,
        typer.Option(
            help="Founding member ID:NAME:ROLES:KEYNAME (repeat); ROLES comma-separated, "
            f"each one of: {ROLE_LIST}."
        ),
    ] = None,
    genesis: Annotated[Path | None, typer.Option(help="Use this genesis file instead.")] = None,
    threshold: Annotated[str, typer.Option(help="Governance threshold, e.g. 2/3.")] = "2/3",
    proposal_ttl: Annotated[int, typer.Option(help="Proposal lifetime in blocks.")] = 1000,
    port: Annotated[
        int, typer.Option(envvar="CARCHAIN_API_PORT", help="API port (loopback).")
    ] = DEFAULT_API_PORT,
    state_versions: StateVersionsOpt = DEFAULT_STATE_VERSIONS,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Create a node home: genesis (founding members, governance) and config."""
    nh = NodeHome(home)
    try:
        if genesis is not None:
            from carchain.core.genesis import decode_genesis

            g = decode_genesis(genesis.read_bytes())
        else:
            if not member:
                raise typer.BadParameter("give --member at least once, or --genesis")
            num, _, den = threshold.partition("/")
            params = GovernanceParams(int(num), int(den or 1), proposal_ttl)
            g = Genesis(
                chain_id,
                int(time.time() * 1000),
                params,
                [_parse_member(m, keyring) for m in member],
            )
        # Apply genesis to a scratch database first, so a bad genesis fails here
        # and leaves no half-initialised home behind; then for real.
        from carchain.engine.application import Application
        from carchain.node.server import open_solo_node
        from carchain.storage.database import Database

        scratch = Database(":memory:")
        try:
            Application(scratch).init_chain(g)
        finally:
            scratch.close()
        nh.create(g, NodeConfig(chain_id=g.chain_id, api_port=port, state_versions=state_versions))

        open_solo_node(nh).app.close()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(
        f"[green]initialised[/green] {home} for chain {g.chain_id} with {len(g.members)} members"
    )


@node_app.command("start")
def start(
    home: HomeOpt,
    port: Annotated[
        int | None, typer.Option(envvar="CARCHAIN_API_PORT", help="Override the API port.")
    ] = None,
    state_versions: Annotated[
        int | None,
        typer.Option("--state-versions", min=1, help="Override the kept heights (config.json)."),
    ] = None,
    log_format: LogFormatOpt = "text",
    index_dsn: Annotated[
        str,
        typer.Option(
            "--index-dsn",
            envvar="CARCHAIN_INDEX_DSN",
            help="Serve the /index audit routes from this PostgreSQL index (carchain index run).",
        ),
    ] = "",
) -> None:
    """Start the embedded node and its API on loopback (Ctrl-C to stop)."""
    from carchain.api.app import create_app
    from carchain.api.routes.reports import REPORTS_FOLDER
    from carchain.node.server import run_node

    nh = NodeHome(home)
    if not nh.exists():
        raise typer.BadParameter(f"{home} is not a node home; run carchain init")
    parse_log_format(log_format)
    nh.lock().release()  # a node on this home already: home_locked, before its busy port
    check_port_free(port or nh.load_config().api_port)
    setup_logging(log_format)  # only once it will serve: a refused start changes nothing
    reports = nh.path / REPORTS_FOLDER
    reader = None
    if index_dsn:
        from carchain.index.queries import AuditIndex

        reader = AuditIndex(index_dsn)
    run_node(nh, lambda backend: create_app(backend, reports, reader), port, state_versions)


@node_app.command("wait")
def wait(
    node: NodeOpt = DEFAULT_NODE,
    timeout: Annotated[float, typer.Option(min=0.1, max=600, help="Give up after (s).")] = 30.0,
) -> None:
    """Wait until the node answers (after `node start &`), at most --timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with client(node) as c:
                height = c.status().get("height")
            break
        except NodeUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # poll interval while the node starts
    console.print(make_text(f"node at {node} answers at height {height}"))


def query(
    key: Annotated[str, typer.Argument(help="STORE/KEY, e.g. vehicles/v/saic:1")],
    prove: Annotated[bool, typer.Option("--prove", help="Verify the proof.")] = False,
    height: Annotated[
        int, typer.Option(min=0, help="Read the state as committed at this height (0: latest).")
    ] = 0,
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """Read a state key; with --prove, check its proof against the block's app hash."""
    store, _, raw = key.partition("/")
    if not raw:
        raise typer.BadParameter("KEY is STORE/KEY")
    with client(node) as c:
        try:
            if prove:
                v = c.query_verified(store, raw.encode(), height)
                doc = {"store": store, "key": raw, "height": v.height, "value": v.value.hex()}
                doc |= {"app_hash": v.app_hash.hex(), "verified": True}
            else:
                got = c.query(store, raw.encode(), height=height)
                doc = {
                    "store": store,
                    "key": raw,
                    "height": got.get("height"),
                    "value": got["value"],
                }
        except NotFound as exc:
            at = f" at height {height}" if height else ""
            raise NotFound(f"no value at {store}/{raw}{at}", store=store) from exc
    if as_json:
        emit_json(doc)
    elif prove:
        table = Table("store", "key", "height", "app hash", "proof")
        table.add_row(
            make_text(store), make_text(raw), str(doc["height"]), str(doc["app_hash"]), "verified"
        )
        console.print(table)
        console.print(str(doc["value"]), soft_wrap=True)
    else:
        console.print(make_text(doc["value"]), soft_wrap=True)
