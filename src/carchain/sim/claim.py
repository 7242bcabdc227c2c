"""The insurer's side of the demo's claim: fetch the release, check it, decrypt, sign a receipt.

The custody service of the crashed car's OEM releases the approved request's
segment keys on its own; the insurer fetches the sealed package and the
segments from that OEM's gateway (``sdk/requester.fetch_release``: each batch
checked against its anchor on chain), merges the projections back into records
and posts ``access.receipt`` for what it received.
"""

from __future__ import annotations

from dataclasses import dataclass

from carchain.core.access_releases import ReceiptAccess, get_release
from carchain.data.projections import Projection, merge_projections
from carchain.data.records import Record, get_record_kind
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.requester import ReleasedSegment, compute_receipt_items, fetch_release
from carchain.sim.drive import DataPlane
from carchain.sim.sharing import Parties, SharingSummary, wait_released


def compute_released_records(segments: list[ReleasedSegment]) -> list[Record]:
    """Return the records the released segments make (each record from its projections)."""
    parts: dict[tuple[bytes, int], list[Projection]] = {}
    for seg in segments:
        for p in seg.projections:
            parts.setdefault((seg.header_hash, p.index), []).append(p)
    return [merge_projections(ps) for _, ps in sorted(parts.items())]


def count_fields(record: Record) -> int:
    """Return how many fields of a record hold a value."""
    return sum(getattr(record, n) is not None for n in record.__struct_fields__)


@dataclass(frozen=True, slots=True)
class ClaimFetch:
    """What a requester received for one released request: the categories the chain
    released, the segments (each batch checked against its anchor) and the records."""

    released: list[str]
    segments: list[ReleasedSegment]
    records: list[Record]


def fetch_claim_release(
    client: Client, gateway_url: str, requester: Account, vehicle_id: str, request_seq: int
) -> ClaimFetch | None:
    """Wait for the custody service's release of ``request_seq``; fetch it from the OEM's
    gateway, verify and decrypt it, and post the requester's receipt; ``None`` if no
    release came in time."""
    if not wait_released(client, vehicle_id, request_seq):
        return None
    released = get_release(ChainView(client), vehicle_id, request_seq).categories
    with GatewayClient(gateway_url, signer=requester.key) as gc:
        segments = fetch_release(gc, client, vehicle_id, request_seq, requester.key)
    requester.send(ReceiptAccess(vehicle_id, request_seq, compute_receipt_items(segments)))
    return ClaimFetch(released, segments, compute_released_records(segments))


def process_claim_fetch(plane: DataPlane, p: Parties, request_seq: int, s: SharingSummary) -> None:
    """Wait for the custody service's release; fetch, verify, decrypt; post the receipt."""
    url = plane.gateways[plane.crashed.oem].url
    fetch = fetch_claim_release(plane.client, url, p.insurer, s.vehicle_id, request_seq)
    if fetch is None:
        return
    s.insurer_released = fetch.released
    s.insurer_kinds = sorted({get_record_kind(r) for r in fetch.records})
    s.insurer_categories = sorted({seg.category for seg in fetch.segments})
    s.edr_fields = sum(count_fields(r) for r in fetch.records if get_record_kind(r) == "edr")
    s.insurer_verified = len({seg.header_hash for seg in fetch.segments})
    s.insurer_receipt = True
