"""A lawful-access world for the gateway: the in-memory chain of tests/core/lawful_world
(3-of-4 committee in force from ``EPOCH``) and SAIC's gateway routes over its state.

The chain's clock is the test's (``CoreChain.now_ms``), so a committee set today is in
force for data recorded "tomorrow": the car records at ``EPOCH``, the ingestor accepts
at ``EPOCH``, and the gateway reads case expiry against the chain's latest block time.
The routes are the real ones (``create_gateway_app``) over a gateway made of the real
ingestor, journal, blob stores and read access, with the chain's state as their view.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from carchain.core import cases, escrow_committee, escrow_releases
from carchain.core.case_records import ReleaseShares, ShareItem
from carchain.core.state import KVView
from carchain.core.vehicles import (
    OwnerPeriod,
    Vehicle,
    get_first_owner_period,
    get_owner_period_of,
    get_vehicle,
)
from carchain.crypto.merkle import MerkleProof
from carchain.crypto.signing import SigningKey
from carchain.data.batches import (
    compute_batch_segment_key,
    decode_signed_header,
    get_segment,
    open_segment,
)
from carchain.data.custody import CategoryKeyEnvelope, decode_key_envelope
from carchain.data.escrow_shares import (
    combine_category_key,
    open_officer_share,
    open_share,
    reseal_share_for_officer,
)
from carchain.data.projections import Projection
from carchain.errors import NotFound, make_error
from carchain.gateway.app import create_gateway_app
from carchain.gateway.auth import ReadAccess, RequestAuthenticator
from carchain.gateway.case_access import BlockReads, CaseReadDecisions
from carchain.gateway.escrow_directory import ChainEscrowDirectory
from carchain.gateway.ingest import Ingestor
from carchain.gateway.journal import Journal
from carchain.sdk.escrow_seats import EscrowSeats
from carchain.sdk.request_signing import sign_request_at
from carchain.sdk.vehicle import VehicleRecorder
from carchain.storage.blobstore import FileBlobStore
from tests.core.lawful_world import EPOCH_MS, setup_world
from tests.core.memory import CoreChain
from tests.data.test_records import edr
from tests.dataplane import COLLECT_ALL, make_records

CUSTODIAN_KEY = "custodian/saic"


class StateDirectory:
    """The gateway's vehicle directory over the chain's state."""

    def __init__(self, view: KVView) -> None:
        self.view = view

    def get_vehicle(self, vehicle_id: str, not_before_ms: int = 0) -> Vehicle:
        """Return the vehicle or raise ``NotFound``."""
        return get_vehicle(self.view, vehicle_id)

    def get_owner_period(self, vehicle: Vehicle, time_ms: int) -> OwnerPeriod:
        """Return the ownership period holding ``time_ms``."""
        try:
            return get_owner_period_of(self.view, vehicle, time_ms)
        except NotFound:
            return get_first_owner_period(self.view, vehicle)


class StateEscrowSource:
    """The car's view of committee(epoch) and its seat keys, read from the chain's state
    (what ``GET /escrow/committee`` answers)."""

    def __init__(self, view: KVView, oem: str) -> None:
        self.view = view
        self.oem = oem

    def get_escrow_seats(self, epoch: int) -> EscrowSeats | None:
        """Return the seats of ``epoch``'s committee or ``None``."""
        committee = escrow_committee.get_committee_for_epoch(self.view, epoch)
        if committee is None:
            return None
        keys = [escrow_committee.get_seat_key(self.view, c, self.oem) for c in committee.custodians]
        return EscrowSeats(committee, keys)


@dataclass
class CaseGateway:
    """The chain, SAIC's gateway over it, and a client for its routes."""

    chain: CoreChain
    ingestor: Ingestor
    keys: FileBlobStore
    http: TestClient

    def recorder(self, vehicle_id: str, owner: str = "owner-a", **kw: Any) -> VehicleRecorder:
        """Return a recorder for a registered car that seals shares to committee(epoch)."""
        return VehicleRecorder(
            vehicle_id,
            self.chain.key("vehicle/" + vehicle_id),
            self.chain.key(owner).public_key,
            self.chain.key(CUSTODIAN_KEY).public_key,
            COLLECT_ALL,
            window_ms=10**9,
            escrow=StateEscrowSource(self.chain.state, vehicle_id.split(":")[0]),
            **kw,
        )

    def get(self, key: SigningKey, path: str, **params: Any) -> Any:
        """Send a signed GET as ``key``; return the body (JSON or bytes) or raise the
        typed error the gateway answered."""
        query = urlencode({k: v for k, v in params.items() if v is not None})
        headers = sign_request_at(key, "saic", "GET", path, query, int(time.time() * 1000))
        resp = self.http.get(f"{path}?{query}" if query else path, headers=headers)
        if resp.status_code >= 400:
            err = resp.json()["error"]
            raise make_error(err["code"], err["message"], err.get("fields"))
        if resp.headers["content-type"].startswith("application/json"):
            return resp.json()
        return resp.content


def _fake_batch_proof(row: object) -> tuple[Any, Any]:
    """Stand in for the anchorer (no anchoring here): the proof route's authorisation is
    what these tests exercise."""
    anchor = SimpleNamespace(body=SimpleNamespace(seq=0, root=b"\x00" * 32), height=1, tx=b"")
    # A proof of the documented shape: the route's answer model checks it.
    return anchor, MerkleProof(total=1, index=0, leaf_hash=b"\x00" * 32, aunts=())


@pytest.fixture
def case_gateway(chain: CoreChain, tmp_path: Path) -> Iterator[CaseGateway]:
    """The lawful world set up, the chain's clock at noon of ``EPOCH``, SAIC's gateway."""
    setup_world(chain)
    chain.now_ms = EPOCH_MS + 12 * 3_600_000
    chain.block()
    blobs, keys = FileBlobStore(tmp_path / "blobs"), FileBlobStore(tmp_path / "keys")
    journal = Journal(tmp_path / "journal.db")
    custodian = chain.key(CUSTODIAN_KEY).public_key
    ingestor = Ingestor(
        "saic",
        custodian,
        blobs,
        keys,
        journal,
        StateDirectory(chain.state),
        escrow=ChainEscrowDirectory(chain.state, 0),
    )
    gw = SimpleNamespace(
        oem="saic",
        ingestor=ingestor,
        journal=journal,
        blobs=blobs,
        keys=keys,
        access=ReadAccess("saic", custodian, chain.state),
        authenticator=RequestAuthenticator("saic", int(time.time() * 1000) - 1000),
        client=SimpleNamespace(
            status=lambda: {"latest_block_time_ms": chain.now_ms, "height": chain.state.height}
        ),
        case_decisions=CaseReadDecisions(),
        case_reads=BlockReads(),
        anchorer=SimpleNamespace(get_batch_proof=_fake_batch_proof),
    )
    with TestClient(create_gateway_app(gw)) as http:  # type: ignore[arg-type]
        yield CaseGateway(chain, ingestor, keys, http)
    journal.close()


# --- the case flow, as the custodian service and the officer do it ----------------------

NOON_MS = EPOCH_MS + 12 * 3_600_000
SEAT_SIGNERS = {
    1: ("court", "escrow/court"),
    2: ("caam", "escrow/caam"),
    3: ("audit", "escrow/audit"),
}
SEAT_SIGNERS[4] = ("saic", "saic")  # the vehicle-OEM seat: SAIC's member key (no escrow key)


def record_batches(
    cg: CaseGateway, vehicle_id: str = "saic:1", start_ms: int = NOON_MS
) -> list[bytes]:
    """Record telemetry and an EDR event, upload (ingest) the batches; return their hashes."""
    rec = cg.recorder(vehicle_id, "owner-b" if vehicle_id.startswith("geely") else "owner-a")
    ups = []
    for t, r in make_records(20, start_ms):
        ups += rec.add_at(r, t)
    ups += rec.add_at(edr(), start_ms + 21_000)
    ups += rec.flush()
    return [cg.ingestor.process_batch_at(u.body, start_ms + 60_000).header_hash for u in ups]


def release_shares(
    cg: CaseGateway,
    case_id: int,
    index: int,
    vehicle_id: str = "saic:1",
    categories: tuple[str, ...] = ("crash_pulse", "location"),
) -> list[ShareItem]:
    """As seat ``index``'s custodian: list the vehicle's batches for the case, fetch each
    in-scope envelope, open its share, reseal it to the officer and post ``escrow.release``."""
    member, key_name = SEAT_SIGNERS[index]
    key = cg.chain.key(key_name)
    case = cases.get_case(cg.chain.state, case_id)
    docs = cg.get(key, "/batches", vehicle_id=vehicle_id, case_id=case_id)["batches"]
    refs = {s["key_ref"] for d in docs for s in d["segments"] if s["category"] in categories}
    items = []
    for ref in sorted(refs):
        env = decode_key_envelope(cg.get(key, f"/keys/{ref}", case_id=case_id))
        share = open_share(env, index, key)
        box = reseal_share_for_officer(
            share,
            case_id,
            env.vehicle_id,
            env.epoch,
            env.category,
            env.committee_version,
            index,
            case.officer_key,
        )
        items.append(ShareItem(env.vehicle_id, env.epoch, env.category, index, box))
    cg.chain.send(member, ReleaseShares(case_id, items))
    return items


def collect_officer_shares(
    cg: CaseGateway,
    case_id: int,
    env: CategoryKeyEnvelope,
    officer: SigningKey,
    indices: tuple[int, ...] | None = None,
) -> list[tuple[int, bytes]]:
    """Open the released shares of ``env``'s key (of ``indices``, or all) for the officer."""
    out = []
    for release in escrow_releases.get_releases(cg.chain.state, case_id):
        for it in release.items:
            if (it.vehicle_id, it.epoch, it.category) != (env.vehicle_id, env.epoch, env.category):
                continue
            if indices is None or it.index in indices:
                share = open_officer_share(
                    it.box,
                    case_id,
                    it.vehicle_id,
                    it.epoch,
                    it.category,
                    env.committee_version,
                    it.index,
                    officer,
                )
                out.append((it.index, share))
    return out


def officer_decrypt(
    cg: CaseGateway,
    case_id: int,
    header_hash: bytes,
    category: str,
    officer: SigningKey,
    indices: tuple[int, ...] | None = None,
) -> list[Projection]:
    """As the officer: fetch the batch and the envelope for the case, combine the released
    shares to the category key, fetch the segment and decrypt it."""
    doc = cg.get(officer, f"/batches/{header_hash.hex()}", case_id=case_id)
    signed = decode_signed_header(bytes.fromhex(doc["batch_header"]))
    seg = get_segment(signed.header, category)
    env = decode_key_envelope(cg.get(officer, f"/keys/{seg.key_ref.hex()}", case_id=case_id))
    key = combine_category_key(collect_officer_shares(cg, case_id, env, officer, indices), env)
    path = f"/batches/{header_hash.hex()}/segments/{category}/ciphertext"
    ct = cg.get(officer, path, case_id=case_id)
    return open_segment(
        signed, category, ct, compute_batch_segment_key(signed.header, category, key)
    )
