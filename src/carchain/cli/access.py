"""``carchain access``: request data, release keys, post receipts, read the access log."""

from __future__ import annotations

from typing import Annotated

import typer

from carchain.cli import access_data, access_log
from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    CarchainTyper,
    KeyOpt,
    KeyringOpt,
    NodeOpt,
    client,
    parse_hex_option,
    send_body,
)
from carchain.cli.consent import (
    CategoryOpt,
    FromOpt,
    UntilOpt,
    VehicleOpt,
    get_event_seq,
    print_status,
)
from carchain.core import access, access_releases
from carchain.core.access_releases import ReceiptItem, ReleasedBatch
from carchain.core.consents import Purpose
from carchain.sdk.chainview import ChainView

app = CarchainTyper(help="Access to vehicle data: requests, releases, receipts, the log.")
RequestSeqOpt = Annotated[int, typer.Option(help="The request's number (per vehicle).")]


def is_uint(text: str) -> bool:
    """Return whether ``text`` is a decimal integer in [0, 2**63) (ASCII digits only)."""
    return text.isascii() and text.isdigit() and int(text) < 2**63


def parse_batch(value: str) -> ReleasedBatch:
    """Parse ``HEADER_HASH_HEX:START_MS:END_MS``."""
    parts = value.split(":")
    if len(parts) != 3 or not all(is_uint(p) for p in parts[1:]):
        raise typer.BadParameter("a batch is HEADER_HASH_HEX:START_MS:END_MS")
    return ReleasedBatch(parse_hex_option(parts[0], "header hash"), int(parts[1]), int(parts[2]))


def parse_item(value: str) -> ReceiptItem:
    """Parse ``HEADER_HASH_HEX:RECORD_COUNT:RECORDS_DIGEST_HEX``."""
    parts = value.split(":")
    if len(parts) != 3 or not is_uint(parts[1]):
        raise typer.BadParameter("an item is HEADER_HASH_HEX:RECORD_COUNT:RECORDS_DIGEST_HEX")
    header = parse_hex_option(parts[0], "header hash")
    return ReceiptItem(header, int(parts[1]), parse_hex_option(parts[2], "records digest"))


@app.command("request")
def request(
    vehicle_id: VehicleOpt,
    category: CategoryOpt,
    purpose: Annotated[Purpose, typer.Option(help="What you will use the data for.")],
    data_from_ms: FromOpt,
    data_until_ms: UntilOpt,
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Ask for data; the chain approves (naming the grants) or refuses (with a reason)."""
    body = access.RequestAccess(
        vehicle_id, sorted(set(category)), data_from_ms, data_until_ms, purpose.value
    )
    res = send_body(node, keyring, key, body)
    seq = get_event_seq(res, "access_requested", "request_seq")
    with client(node) as c:
        r = access.get_request(ChainView(c), vehicle_id, seq)
    if r.decision == access.Decision.APPROVED:
        grants = ", ".join(f"{a.category}: grant {a.grant_seq}" for a in r.approvals)
        print_status("approved", "green", f"request {seq} of {vehicle_id} ({grants})")
    else:
        print_status("refused", "red", f"request {seq} of {vehicle_id}: {r.reason}")


@app.command("release")
def release(
    vehicle_id: VehicleOpt,
    request_seq: RequestSeqOpt,
    category: CategoryOpt,
    batch: Annotated[
        list[str], typer.Option("--batch", help="HEADER_HASH_HEX:START_MS:END_MS (repeat).")
    ],
    package_hash: Annotated[str, typer.Option(help="SHA-256 of the sealed package (hex).")],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Record the release of an approved request's keys (OEM: non-sensitive; owner: any)."""
    body = access_releases.ReleaseAccess(
        vehicle_id,
        request_seq,
        [parse_batch(b) for b in batch],
        sorted(set(category)),
        parse_hex_option(package_hash, "package hash"),
    )
    res = send_body(node, keyring, key, body)
    print_status(
        "released",
        "green",
        f"request {request_seq} of {vehicle_id} ({len(body.batches)} batches)"
        f" at height {res.get('height')}",
    )


@app.command("receipt")
def receipt(
    vehicle_id: VehicleOpt,
    request_seq: RequestSeqOpt,
    item: Annotated[
        list[str],
        typer.Option("--item", help="HEADER_HASH_HEX:RECORD_COUNT:RECORDS_DIGEST_HEX (repeat)."),
    ],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the requester, sign for the batches of a release you received."""
    body = access_releases.ReceiptAccess(vehicle_id, request_seq, [parse_item(i) for i in item])
    res = send_body(node, keyring, key, body)
    print_status(
        "receipted",
        "green",
        f"{len(body.items)} batches of request {request_seq} of {vehicle_id}"
        f" at height {res.get('height')}",
    )


# The vehicle's and the OEM's access logs, proven (also `carchain vehicle access-log`).
app.command("log")(access_log.access_log)
app.command("oem-log")(access_log.oem_access_log)

# The data side of a release lives in its own module; its commands are ``access`` ones.
app.command("fetch")(access_data.fetch)
app.command("release-as-owner")(access_data.release_owner)
