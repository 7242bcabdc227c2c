"""``carchain index``: keep a PostgreSQL audit index of a node's chain.

``carchain index run --dsn DSN`` reads committed blocks and access-log entries from
the node (``--node``, over HTTP; access-log pages checked against that node's own
headers: point it at a node you trust) from the
index's cursor up to the node's height and ends; ``--follow`` keeps following.
``--from-height H`` re-indexes from ``H`` (rows of heights ``H`` and up replaced).
Give the DSN in ``CARCHAIN_INDEX_DSN`` rather than on the command line when it
holds a password. Needs the ``index`` extra (psycopg).
"""

from __future__ import annotations

from typing import Annotated

import typer

from carchain.cli import common
from carchain.cli.common import DEFAULT_NODE, CarchainTyper, NodeOpt, console

app = CarchainTyper(help="The PostgreSQL audit index (unproven audit queries at scale).")

DsnOpt = Annotated[
    str,
    typer.Option(
        "--dsn", envvar="CARCHAIN_INDEX_DSN", help="PostgreSQL connection string (libpq)."
    ),
]


@app.command("run")
def run(
    dsn: DsnOpt,
    node: NodeOpt = DEFAULT_NODE,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep following.")] = False,
    from_height: Annotated[
        int | None, typer.Option("--from-height", min=1, help="Re-index from this height.")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Blocks per transaction.")] = 100,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between polls (--follow).")] = 1.0,
) -> None:
    """Index the node's committed blocks from the index's cursor (Ctrl-C to stop)."""
    from carchain.index.follower import RunReport, run_indexer
    from carchain.index.source import HttpSource
    from carchain.index.store import IndexStore

    def show(r: RunReport) -> None:
        console.print(f"indexed heights {r.first}..{r.last}: {r.rows} rows", highlight=False)

    store = IndexStore.open(dsn)
    try:
        with common.client(node) as c:
            if from_height is not None:
                c.header(from_height)  # the node holds it (else its typed error): then drop
                store.rewind(from_height - 1)
            try:
                cursor = run_indexer(HttpSource(c), store, follow, batch, poll, show)
            except KeyboardInterrupt:
                cursor = store.get_cursor()
        console.print(f"index at height {cursor}", highlight=False)
    finally:
        store.close()


@app.command("status")
def status(dsn: DsnOpt) -> None:
    """Print the last height the index holds in full."""
    from carchain.index.store import IndexStore

    store = IndexStore.open(dsn)
    try:
        console.print(f"index at height {store.get_cursor()}", highlight=False)
    finally:
        store.close()
