"""``carchain access fetch`` and ``access release-as-owner``: the data side of a release."""

from __future__ import annotations

import json
import os
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
from carchain.cli.consent import VehicleOpt, print_status
from carchain.data.projections import compute_projection_doc
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.owner_release import release_as_owner
from carchain.sdk.requester import (
    ReleasedSegment,
    compute_receipt_items,
    fetch_release,
    post_receipt,
)

GatewayOpt = Annotated[
    str, typer.Option("--gateway", envvar="CARCHAIN_GATEWAY", help="Gateway API URL.")
]
DEFAULT_GATEWAY = "http://127.0.0.1:8710"
SeqOpt = Annotated[int, typer.Option("--request-seq", help="The request's number (per vehicle).")]


def write_segments(out: Path, segments: list[ReleasedSegment]) -> None:
    """Write each decrypted segment as ``<header hash>-<category>.json`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for s in segments:
        doc = [compute_projection_doc(p) for p in s.projections]
        path = out / f"{s.header_hash.hex()}-{s.category}.json"
        # Decrypted personal data: readable by this user only, also when the file was
        # there before (its old mode is not kept) and never through a planted symlink.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(doc, indent=1))


def print_segments(segments: list[ReleasedSegment]) -> None:
    """Print one row per decrypted segment (no field values)."""
    table = Table("batch", "category", "projections", "time range")
    for s in segments:
        h = s.signed.header
        cells = (s.header_hash.hex()[:16] + "…", s.category, len(s.projections),
                 f"{h.start_ms}-{h.end_ms}")  # fmt: skip
        table.add_row(*(make_text(v) for v in cells))
    console.print(table)


def fetch(
    vehicle_id: VehicleOpt,
    request_seq: SeqOpt,
    key: KeyOpt,
    out: Annotated[Path | None, typer.Option(help="Write the decrypted segments here.")] = None,
    receipt: Annotated[
        bool, typer.Option("--receipt/--no-receipt", help="Post the signed access receipt.")
    ] = True,
    gateway: GatewayOpt = DEFAULT_GATEWAY,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the requester: fetch a release, check it against the chain, decrypt, sign a receipt.

    The package must hash to the release on chain; each batch is checked against
    its anchor on chain before its segment is opened.
    """
    signer = unlock(keyring, key)
    with GatewayClient(gateway, signer=signer) as gc, client(node) as c:
        segments = fetch_release(gc, c, vehicle_id, request_seq, signer)
        print_segments(segments)
        if out is not None:
            write_segments(out, segments)
        if receipt:
            items = compute_receipt_items(segments)
            res = post_receipt(c, signer, vehicle_id, request_seq, items)
            print_status(
                "receipted", "green", f"{len(items)} batches at height {res.get('height')}"
            )
    print_status("fetched", "green", f"{len(segments)} segments, each checked against the chain")


def release_owner(
    vehicle_id: VehicleOpt,
    request_seq: SeqOpt,
    key: KeyOpt,
    gateway: GatewayOpt = DEFAULT_GATEWAY,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the owner: seal an approved request's keys (any category, sensitive too) to the
    requester, post ``access.release`` and hand the package to the gateway."""
    signer = unlock(keyring, key)
    with GatewayClient(gateway, signer=signer) as gc, client(node) as c:
        done = release_as_owner(gc, c, signer, vehicle_id, request_seq)
    print_status(
        "released",
        "green",
        f"request {request_seq} of {vehicle_id}: {len(done.batches)} batches, "
        f"{done.item_count} keys, package {done.package_hash.hex()[:16]}…",
    )
