"""``carchain case fetch``: the officer's side of a case, written to a folder.

The layout of ``--out DIR`` is written by ``sdk/case_files.py`` (and documented in
docs/lawful-access.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    KeyOpt,
    KeyringOpt,
    NodeOpt,
    client,
    console,
    make_text,
    unlock,
)
from carchain.cli.consent import print_status
from carchain.crypto.signing import SigningKey
from carchain.errors import GatewayNotConfigured
from carchain.sdk.case_files import write_case_data
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.officer import (
    CaseFetch,
    compute_case_receipts,
    fetch_case_data,
    post_case_receipts,
)

GatewaysOpt = Annotated[
    list[str], typer.Option("--gateway", help="A gateway API URL (repeat: one per OEM).")
]


def open_gateways(urls: list[str], signer: SigningKey) -> dict[str, CaseGatewayClient]:
    """Return a case gateway client per OEM (each gateway asked which OEM it serves)."""
    out: dict[str, CaseGatewayClient] = {}
    for url in urls:
        gw = CaseGatewayClient(url, signer=signer)
        out[gw.get_oem()] = gw
    return out


def print_fetch(fetch: CaseFetch) -> None:
    """Print one row per decrypted segment (no field values) and the keys still missing."""
    table = Table("vehicle", "batch", "category", "epoch", "projections")
    for s in fetch.segments:
        cells = (s.vehicle_id, s.segment.header_hash.hex()[:16] + "…", s.segment.category,
                 s.epoch, len(s.segment.projections))  # fmt: skip
        table.add_row(*(make_text(v) for v in cells))
    console.print(table)
    for vehicle_id, epoch, category in fetch.missing_keys:
        print_status(
            "missing", "yellow", f"{vehicle_id} epoch {epoch} {category}: fewer than k shares"
        )


def fetch(
    case_id: Annotated[int, typer.Argument(min=1, help="The case id.")],
    key: KeyOpt,
    out: Annotated[Path, typer.Option(help="Write the decrypted segments and case.json here.")],
    gateway: GatewaysOpt,
    receipt: Annotated[
        bool, typer.Option("--receipt/--no-receipt", help="Post the signed case receipts.")
    ] = True,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the case's officer: combine the released shares, fetch the scoped data through
    the gateways, check each batch against its anchor on chain, decrypt, write, receipt."""
    signer = unlock(keyring, key)
    gateways = open_gateways(gateway, signer)

    def get_gateway(oem: str) -> CaseGatewayClient:
        if oem not in gateways:
            raise GatewayNotConfigured("no --gateway serves this OEM", oem=oem)
        return gateways[oem]

    try:
        with client(node) as c:
            result = fetch_case_data(get_gateway, c, case_id, signer)
            print_fetch(result)
            write_case_data(out, result)
            if receipt:
                answers = post_case_receipts(c, signer, compute_case_receipts(result))
                print_status("receipted", "green", f"{len(answers)} receipts")
    finally:
        for gw in gateways.values():
            gw.close()
    print_status(
        "fetched", "green", f"{len(result.segments)} segments, each checked against the chain"
    )
