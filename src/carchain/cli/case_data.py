"""``carchain case fetch``: the officer's side of a case, written to a folder.

Layout of ``--out DIR`` (documented in docs/lawful-access.md):

- ``DIR/<vehicle id>/<header hash>-<category>.json``: one decrypted segment, the same
  document as ``access fetch`` writes (a list of ``{kind, index, fields}``);
- ``DIR/case.json``: ``{case_id, chain_id, height, items: [{vehicle_id, header_hash,
  category, epoch}]}``, the segments fetched and where the chain stood.

Every file is created 0600 (also when it was there before), never through a
symlink: it holds decrypted personal data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

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
from carchain.core.vehicles import validate_vehicle_id
from carchain.crypto.signing import SigningKey
from carchain.data.categories import CATEGORY_NAMES
from carchain.errors import GatewayNotConfigured, InvalidBody
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
CASE_FILE = "case.json"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``: 0600, truncating, never through a planted symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def compute_case_doc(fetch: CaseFetch) -> dict[str, Any]:
    """Return the ``case.json`` document of a fetch."""
    items = [
        {
            "vehicle_id": s.vehicle_id,
            "header_hash": s.segment.header_hash.hex(),
            "category": s.segment.category,
            "epoch": s.epoch,
        }
        for s in fetch.segments
    ]
    doc = {"case_id": fetch.case.case_id, "chain_id": fetch.chain_id, "height": fetch.height}
    return doc | {"items": items}


def write_case_data(out: Path, fetch: CaseFetch) -> None:
    """Write every decrypted segment and ``case.json`` under ``out`` (folders 0700)."""
    for s in fetch.segments:  # a node's answer names the vehicles: never a path of its own
        validate_vehicle_id(s.vehicle_id)
        if s.segment.category not in CATEGORY_NAMES:
            raise InvalidBody("not a data category", category=s.segment.category[:40])
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for s in fetch.segments:
        folder = out / s.vehicle_id
        if folder.is_symlink():
            raise typer.BadParameter(f"{folder} is a symlink")
        folder.mkdir(exist_ok=True, mode=0o700)
        seg = s.segment
        doc = [{"kind": p.kind, "index": p.index, "fields": p.fields} for p in seg.projections]
        write_private(
            folder / f"{seg.header_hash.hex()}-{seg.category}.json", json.dumps(doc, indent=1)
        )
    write_private(out / CASE_FILE, json.dumps(compute_case_doc(fetch), indent=1))


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
