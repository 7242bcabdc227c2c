"""A real case on a live solo node, end to end, and its evidence bundles.

The node's clock runs one day behind the gateway's: the committee set in its first
blocks is in force from the next UTC day of the chain (``from_epoch = epoch + 1``),
which is the gateway's today, so the car's batches of today are in the committee's
epochs without waiting a day. Everything else is as users run it: the lawful-access
cast, escrow keys, the committee through governance, two cars sealing shares to it
and uploading to SAIC's gateway, a case opened by the police, authorised by a court,
approved by 3 of 4 custodians who open their shares and reseal them to the officer
(as their custody services do), the officer's ``case fetch`` (CUSTODY's
``sdk.officer``: shares combined, batches checked, decrypted, written, receipted),
``carchain evidence export`` as the officer, then the report and the close, and a
second bundle of the closed case.
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
from typer.testing import CliRunner

from carchain.cli.case_data import write_case_data
from carchain.cli.main import app
from carchain.core import governance as gov
from carchain.core.case_records import (
    DAY_MS,
    VEHICLE_OEM_SEAT,
    ApproveCase,
    AuthorizeCase,
    CaseScope,
    CloseCase,
    CommitteeSeat,
    OpenCase,
    RegisterEscrowKey,
    ReleaseShares,
    ReportCase,
    ShareItem,
)
from carchain.core.escrow_committee import SetEscrowCommittee
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.data.batches import BatchHeader, decode_signed_header, get_segment
from carchain.data.custody import validate_envelope_for
from carchain.data.escrow_shares import open_share, reseal_share_for_officer
from carchain.errors import InvalidNonce
from carchain.gateway.server import EmbeddedGateway
from carchain.node import solo_node
from carchain.sdk.account import Account
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.client import Client
from carchain.sdk.escrow_seats import ChainEscrowSource
from carchain.sdk.evidence_export import DataSegment, build_evidence, read_data_dir, write_evidence
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.keystore import save_key
from carchain.sdk.officer import (
    CaseFetch,
    compute_case_receipts,
    fetch_case_data,
    post_case_receipts,
)
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
PASS = "evidence-pass"
ESCROW_KEYS = {  # the custodians who approve and release: seat index, escrow key
    "court": (1, seeded_key("escrow/court")),
    "caam": (2, seeded_key("escrow/caam")),
    "saic": (4, seeded_key("saic")),  # the vehicle-OEM seat: the OEM's member key
}


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
    authorized: Path  # the bundle the officer exported (CLI) before report and close
    tmp: Path


class WorldSource:
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
    rec = car.recorder(window_ms=10**9, escrow=ChainEscrowSource(client, "saic"))
    ups = []
    for t, r in make_records(12, start_ms):
        ups += rec.add_at(r, t)
    for up in ups + rec.flush():
        gclient.submit(up.body)
    wait_for(lambda: gclient.status()["unanchored"] == 0, what="anchoring")


def compute_release(
    gclient: GatewayClient, case_id: int, custodian: str, epoch: int
) -> list[ShareItem]:
    """Return the custodian's shares of every in-scope key, opened and resealed to the
    officer, as its custody service would."""
    index, escrow_key = ESCROW_KEYS[custodian]
    items: dict[tuple[str, str], ShareItem] = {}
    for vid in CARS:
        for doc in gclient.batches(vid, anchored_only=True):
            proof = gclient.batch_proof(bytes.fromhex(doc["header_hash"]))
            h = decode_signed_header(bytes.fromhex(proof["batch_header"])).header
            for cat in CATEGORIES:
                ref = get_segment(h, cat).key_ref
                env = validate_envelope_for(gclient.key_envelope(ref), ref, vid, h.epoch, cat)
                share = open_share(env, index, escrow_key)
                box = reseal_share_for_officer(share, case_id, vid, h.epoch, cat,
                                               env.committee_version, index,
                                               OFFICER.public_key)  # fmt: skip
                items[(vid, cat)] = ShareItem(vid, h.epoch, cat, index, box)
    assert {i.epoch for i in items.values()} == {epoch}
    return list(items.values())


def run_case(client: Client, gclient: GatewayClient, epoch: int) -> int:
    """Open, authorise, approve (3 of 4) and release a case over both cars; return its id."""
    scope = CaseScope(CARS, CATEGORIES, epoch * DAY_MS, (epoch + 1) * DAY_MS)
    digest = seeded_key("digest").public_key
    res = send(client, "police", OpenCase(digest, "rtsl_accident", scope, digest[::-1],
                                          OFFICER.public_key))  # fmt: skip
    case_id = int(next(e for e in res["result"]["events"] if e["type"] == "case_opened")
                  ["attributes"]["case_id"])  # fmt: skip
    now = int(client.status()["latest_block_time_ms"])
    send(client, "court2", AuthorizeCase(case_id, scope, now + 30 * DAY_MS, 60 * DAY_MS))
    for m in ESCROW_KEYS:
        send(client, m, ApproveCase(case_id))
    for m in ESCROW_KEYS:
        send(client, m, ReleaseShares(case_id, compute_release(gclient, case_id, m, epoch)))
    return case_id


def fetch_as_officer(client: Client, url: str, case_id: int, data: Path) -> CaseFetch:
    """Run the officer's ``case fetch``: combine shares, decrypt, write, post receipts."""
    gw = CaseGatewayClient(url, signer=OFFICER)
    try:
        fetch = fetch_case_data(lambda oem: gw, client, case_id, OFFICER)
    finally:
        gw.close()
    assert len(fetch.segments) == len(CARS) * len(CATEGORIES) and not fetch.missing_keys
    write_case_data(data, fetch)
    post_case_receipts(client, OFFICER, compute_case_receipts(fetch))
    return fetch


def cli_env(tmp: Path) -> dict[str, str]:
    """Return the CLI's environment (keyring, passphrase, wide plain output)."""
    return {"CARCHAIN_KEYRING": str(tmp / "keys"), "CARCHAIN_PASSPHRASE": PASS,
            "COLUMNS": "250", "NO_COLOR": "1"}  # fmt: skip


def export_with_cli(tmp: Path, node_url: str, gw_url: str, case_id: int, data: Path) -> Path:
    """Run ``carchain evidence export`` as the officer; return the bundle directory."""
    save_key(tmp / "keys" / "officer.json", OFFICER, PASS, n=2**10)
    out = tmp / "bundle-authorized"
    args = ["evidence", "export", str(case_id), "--data", str(data), "--out", str(out),
            "--key", "officer", "--gateway", gw_url, "--node", node_url]  # fmt: skip
    result = CliRunner().invoke(app, args, env=cli_env(tmp))
    assert result.exit_code == 0, (result.output, result.exception)
    return out


def finish_case(client: Client, case_id: int) -> None:
    """The authority files its report and closes the case."""
    send(client, "police", ReportCase(case_id, seeded_key("report").public_key))
    send(client, "police", CloseCase(case_id))


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
            gw.gateway.registry.strict = True
            gw.start()
            gclient = GatewayClient(gw.url, signer=seeded_key("saic"))
            try:
                yield build_world(client, gclient, gw.url, tmp, genesis.chain_id)
            finally:
                gclient.close()
                gw.stop()
                client.close()


def build_world(
    client: Client, gclient: GatewayClient, gw_url: str, tmp: Path, chain_id: str
) -> CaseWorld:
    """Run the case and export its bundles: the officer's (authorised), then the closed."""
    set_committee(client)
    now = int(time.time() * 1000)
    epoch = now // DAY_MS
    start = max(epoch * DAY_MS + 1000, now - 600_000)
    for vid in CARS:
        upload(gclient, client, vid, start)
    case_id = run_case(client, gclient, epoch)
    data = tmp / "data"
    fetch = fetch_as_officer(client, gw_url, case_id, data)
    authorized = export_with_cli(tmp, client.url, gw_url, case_id, data)
    finish_case(client, case_id)
    keys = {(s.vehicle_id, s.segment.header_hash, s.segment.category): s.segment.segment_key
            for s in fetch.segments}  # fmt: skip
    read_id, segments = read_data_dir(data)
    assert read_id == case_id
    files = build_evidence(client, case_id, segments, WorldSource(gclient, keys))
    bundle = tmp / "bundle"
    write_evidence(bundle, files)
    header = json.loads(files["chain/block.json"])
    return CaseWorld(client, gclient, case_id, data, bundle, files, header, keys, chain_id,
                     authorized, tmp)  # fmt: skip


__all__ = ["CaseWorld", "case_world"]
