"""``carchain tx``: follow a transaction by its hash."""

from __future__ import annotations

from typing import Annotated

import typer

from carchain.cli.common import (
    DEFAULT_NODE,
    CarchainTyper,
    JsonOpt,
    NodeOpt,
    client,
    console,
    emit_json,
    make_text,
    parse_hex_option,
)
from carchain.errors import NotFound

app = CarchainTyper(help="Transactions: follow one by its hash.")


@app.command("status")
def status(
    tx_hash: Annotated[str, typer.Argument(help="The transaction's hash (64 hex digits).")],
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """Show whether a transaction is pending or committed (block, index, result)."""
    raw = parse_hex_option(tx_hash, "the transaction hash")
    with client(node) as c:
        try:
            doc = c.tx(raw)
        except NotFound:
            raise NotFound(
                f"transaction {raw.hex()} not known to this node "
                "(never submitted here, or dropped from its mempool)"
            ) from None
    if as_json:
        emit_json(doc)
        return
    state = doc.get("state")
    if state != "committed":
        console.print(make_text(f"{raw.hex()}: {state} (in the mempool, not yet in a block)"))
        return
    got = doc.get("result")
    result: dict[str, object] = got if isinstance(got, dict) else {}
    code = result.get("code", 0)
    outcome = "ok" if code == 0 else f"failed: {result.get('error_code')}: {result.get('log')}"
    console.print(
        make_text(
            f"{raw.hex()}: committed in block {doc.get('height')} "
            f"(index {doc.get('index')}), {outcome}"
        ),
        soft_wrap=True,
    )
