"""A real case on a live solo node, end to end, and its evidence bundle.

The node's clock runs one day behind the gateway's: the committee set in its first
blocks is in force from the next UTC day of the chain (``from_epoch = epoch + 1``),
which is the gateway's today, so the car's batches of today are in the committee's
epochs without waiting a day. Everything else is as a user runs it: members of the
lawful-access cast, escrow keys, the committee through governance, two cars uploading
to SAIC's gateway, a case opened by the police, authorised by a court, approved by 3 of
4 custodians, shares released, the officer's data directory written as ``case fetch``
writes it (``cli.access_data.write_segments``), receipts, report and close.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from carchain.cli.access_data import write_segments
from carchain.core import governance as gov
from carchain.core.case_records import (
    DAY_MS,
    VEHICLE_OEM_SEAT,
    ApproveCase,
    AuthorizeCase,
    CaseReceipt,
    CaseScope,
    CloseCase,
    CommitteeSeat,
    OpenCase,
    ReceiptItemRef,
    RegisterEscrowKey,
    ReleaseShares,
    ReportCase,
    ShareItem,
)
from carchain.core.escrow_committee import SetEscrowCommittee
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.data.batches import BatchHeader, decode_signed_header, open_batch_segments
from carchain.data.custody import open_batch_category_keys
from carchain.errors import InvalidNonce
from carchain.gateway.server import EmbeddedGateway
from carchain.node import solo_node
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.evidence_export import DataSegment, build_evidence, read_data_dir, write_evidence
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.requester import ReleasedSegment, compute_receipt_items
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.embedded import EmbeddedNode
from tests.conftest import VIN_SALT, make_genesis, make_vin, seeded_key
from tests.core.lawful_world import LAWFUL_MEMBERS
from tests.dataplane import make_car, make_records, wait_for

CARS = ["saic:1", "saic:2"]
CATEGORIES = ["location", "motion"]
ESCROWED = ["audio_video", "biometrics", "crash_pulse", "location", "motion"]
SEATS = [
    CommitteeSeat("court", "court"),
    CommitteeSeat("caam", "association"),
    CommitteeSeat("audit", "auditor"),
    CommitteeSeat(VEHICLE_OEM_SEAT, "oem"),
]
OFFICER = seeded_key("officer")


class _ChainClock:
    """The node's ``time`` module: the wall clock one day back."""

    def time(self) -> float:
        return time.time() - DAY_MS / 1000


@dataclass
class CaseWorld:
    """The live world after a closed case, its data directory and its bundle."""

    client: Client
    gclient: GatewayClient
    case_id: int
    data: Path
    bundle: Path
    files: dict[str, bytes]
    header: dict[str, Any]
    keys: dict[tuple[str, bytes, str], bytes]
    chain_id: str


class TestSource:
    """The exporter's source: the OEM gateway's batch proofs, the owner's segment keys."""

    def __init__(self, gclient: GatewayClient, keys: dict[tuple[str, bytes, str], bytes]):
        self.gclient = gclient
        self.keys = keys

    def get_batch_proof(self, vehicle_id: str, header_hash: bytes) -> dict[str, Any]:
        return self.gclient.batch_proof(header_hash)

    def get_segment_key(self, segment: DataSegment, header: BatchHeader) -> bytes:
        return self.keys[(segment.vehicle_id, segment.header_hash, segment.category)]


def send(client: Client, who: str | SigningKey, body: msgspec.Struct) -> dict[str, Any]:
    """Send a body as a member (seeded key) or a key; it must commit successfully."""
    account = Account(client, seeded_key(who) if isinstance(who, str) else who)
    deadline = time.monotonic() + 30
    while True:  # SAIC's gateway signs anchors with SAIC's key: nonces may race
        try:
            res = account.send(body)
            break
        except InvalidNonce:
            if time.monotonic() > deadline:
                raise
    assert res["result"]["code"] == 0, res
    return res


def set_committee(client: Client) -> None:
    """Register escrow keys and set the 3-of-4 committee through governance."""
    for m in ("court", "caam", "audit"):
        send(client, m, RegisterEscrowKey(seeded_key("escrow/" + m).public_key))
    res = send(client, "miit", gov.Propose(SetEscrowCommittee(SEATS, 3, ESCROWED)))
    pid = int(next(e for e in res["result"]["events"] if e["type"] == "proposal_created")
              ["attributes"]["proposal_id"])  # fmt: skip
    for mid, *_ in LAWFUL_MEMBERS:
        if mid == "miit" or client.proposal(pid)["status"] != "open":
            continue
        send(client, mid, gov.Vote(pid, True))
    assert client.proposal(pid)["status"] == "executed"


def upload(gclient: GatewayClient, client: Client, vid: str, start_ms: int) -> None:
    """Register ``vid`` and upload one batch of telemetry of today; wait for its anchor."""
    car = make_car(vid, seeded_key("custodian/saic"))
    body = RegisterVehicle(vid, compute_vin_commitment(make_vin(vid), VIN_SALT),
                           car.key.public_key, "RX5", 2024, car.owner.public_key)  # fmt: skip
    send(client, "saic", body)
    rec = car.recorder(window_ms=10**9)
    ups = []
    for t, r in make_records(12, start_ms):
        ups += rec.add_at(r, t)
    for up in ups + rec.flush():
        gclient.submit(up.body)
    wait_for(lambda: gclient.status()["unanchored"] == 0, what="anchoring")


def open_segments(gclient: GatewayClient, vid: str) -> list[ReleasedSegment]:
    """Return the in-scope segments of the vehicle's batches as its owner opens them."""
    owner = seeded_key(f"owner/{vid}")
    out = []
    for doc in gclient.batches(vid, anchored_only=True):
        hh = bytes.fromhex(doc["header_hash"])
        proof = gclient.batch_proof(hh)
        signed = decode_signed_header(bytes.fromhex(proof["batch_header"]))
        keys = open_batch_category_keys(signed, gclient.key_envelope, owner)
        opened = open_batch_segments(signed, gclient.ciphertext(hh), keys)
        for cat in CATEGORIES:
            s = opened[cat]
            out.append(ReleasedSegment(hh, cat, signed, s.segment_key, s.projections))
    return out


def run_case(client: Client, epoch: int) -> int:
    """Open, authorise, approve (3 of 4) and release a case over both cars; return its id."""
    scope = CaseScope(CARS, CATEGORIES, epoch * DAY_MS, (epoch + 1) * DAY_MS)
    digest = seeded_key("digest").public_key
    res = send(client, "police", OpenCase(digest, "rtsl_accident", scope, digest[::-1],
                                          OFFICER.public_key))  # fmt: skip
    case_id = int(next(e for e in res["result"]["events"] if e["type"] == "case_opened")
                  ["attributes"]["case_id"])  # fmt: skip
    now = int(client.status()["latest_block_time_ms"])
    send(client, "court2", AuthorizeCase(case_id, scope, now + 30 * DAY_MS, 60 * DAY_MS))
    for m in ("court", "caam", "saic"):
        send(client, m, ApproveCase(case_id))
    box = bytes(80)
    for custodian, index in (("caam", 2), ("saic", 4)):
        items = [ShareItem(v, epoch, c, index, box) for v in CARS for c in CATEGORIES]
        send(client, custodian, ReleaseShares(case_id, items))
    return case_id


def finish_case(client: Client, case_id: int, segments: list[ReleasedSegment]) -> None:
    """Post the officer's receipts (per vehicle), the report and the close."""
    by_vehicle: dict[str, list[ReleasedSegment]] = {}
    for s in segments:
        by_vehicle.setdefault(s.signed.header.vehicle_id, []).append(s)
    for vid, segs in sorted(by_vehicle.items()):
        items = [ReceiptItemRef(i.header_hash, i.record_count, i.records_digest)
                 for i in compute_receipt_items(segs)]  # fmt: skip
        send(client, OFFICER, CaseReceipt(case_id, vid, items))
    send(client, "police", ReportCase(case_id, seeded_key("report").public_key))
    send(client, "police", CloseCase(case_id))


def write_data_dir(data: Path, case_id: int, chain_id: str, segs: list[ReleasedSegment]) -> None:
    """Write the officer's data directory as ``case fetch`` does."""
    items = []
    for s in segs:
        vid = s.signed.header.vehicle_id
        write_segments(data / vid, [s])
        items.append({"vehicle_id": vid, "header_hash": s.header_hash.hex(),
                      "category": s.category, "epoch": s.signed.header.epoch})  # fmt: skip
    doc = {"case_id": case_id, "chain_id": chain_id, "height": 0, "items": items}
    (data / "case.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def case_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaseWorld]:
    """A closed case with data of two cars, exported to a bundle."""
    tmp = tmp_path_factory.mktemp("case")
    genesis = make_genesis(founders=LAWFUL_MEMBERS, ttl=10_000)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(solo_node, "time", _ChainClock())
        with EmbeddedNode(tmp / "node", genesis, block_interval_ms=50) as node:
            client = Client(node.url)
            custodian = seeded_key("custodian/saic").public_key
            gw = EmbeddedGateway(tmp / "gw", "saic", seeded_key("saic"), custodian, node.url, 0.05)
            gw.gateway.ingestor.directory.max_age_s = 0  # type: ignore[attr-defined]
            gw.start()
            gclient = GatewayClient(gw.url, signer=seeded_key("saic"))
            try:
                yield build_world(client, gclient, tmp, genesis.chain_id)
            finally:
                gclient.close()
                gw.stop()
                client.close()


def build_world(client: Client, gclient: GatewayClient, tmp: Path, chain_id: str) -> CaseWorld:
    set_committee(client)
    now = int(time.time() * 1000)
    epoch = now // DAY_MS
    start = max(epoch * DAY_MS + 1000, now - 600_000)
    for vid in CARS:
        upload(gclient, client, vid, start)
    case_id = run_case(client, epoch)
    segs = [s for vid in CARS for s in open_segments(gclient, vid)]
    finish_case(client, case_id, segs)
    data = tmp / "data"
    write_data_dir(data, case_id, chain_id, segs)
    keys = {(s.signed.header.vehicle_id, s.header_hash, s.category): s.segment_key for s in segs}
    read_id, segments = read_data_dir(data)
    assert read_id == case_id
    files = build_evidence(client, case_id, segments, TestSource(gclient, keys))
    bundle = tmp / "bundle"
    write_evidence(bundle, files)
    header = json.loads(files["chain/block.json"])
    return CaseWorld(client, gclient, case_id, data, bundle, files, header, keys, chain_id)


__all__ = ["CaseWorld", "case_world"]
