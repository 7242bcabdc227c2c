"""An evidence bundle on the 4-validator localnet, verified against the validator set.

A fresh network's committee is in force from the next UTC day, so the case covers
tomorrow and holds no records yet: what this test adds to the solo ones is the
network's side — every header with its commit signed by the validators, the
transactions proven in CometBFT's ``data_hash``, the state proven against the next
header's app hash — checked offline against the genesis validator set.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

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
)
from carchain.core.escrow_committee import SetEscrowCommittee
from carchain.core.genesis import GenesisMember
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.errors import InvalidNonce, InvalidProof
from carchain.network import localnet
from carchain.sdk.account import Account
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.client import Client
from carchain.sdk.evidence_export import build_evidence, write_evidence
from carchain.sdk.evidence_verify import verify_evidence
from carchain.sdk.light_client import load_genesis_trust
from carchain.sdk.vin import compute_vin_commitment
from tests.conftest import VIN_SALT, make_vin, seeded_key
from tests.network.conftest import Localnet, require_network_setup, wait_for
from tests.sdk.test_evidence_bundle import rehash

pytestmark = pytest.mark.network
EXTRA = [("court2", "Beijing Court", ["court"]), ("caam", "CAAM", ["association"])]
ESCROWED = ["audio_video", "biometrics", "crash_pulse", "location", "motion"]


@dataclass
class NetCase:
    """The localnet, its keys, the exported bundle and the genesis file."""

    net: Localnet
    keys: dict[str, SigningKey]
    client: Client
    case_id: int
    bundle: Path
    genesis: Path


def send(client: Client, key: SigningKey, body: msgspec.Struct) -> dict[str, Any]:
    """Send and wait for the commit; the transaction must succeed."""
    account = Account(client, key)
    deadline = time.monotonic() + 60
    while True:
        try:
            res = account.send(body)
            break
        except InvalidNonce:
            if time.monotonic() > deadline:
                raise
    assert res["result"]["code"] == 0, res
    return res


def event_int(res: dict[str, Any], kind: str, name: str) -> int:
    return int(next(e for e in res["result"]["events"] if e["type"] == kind)["attributes"][name])


def run_case(client: Client, keys: dict[str, SigningKey]) -> int:
    """Committee through governance, a vehicle, a case opened, authorised, approved, closed."""
    for m in ("court-sh", "caam", "audit-cn"):
        send(client, keys[m], RegisterEscrowKey(seeded_key("escrow/" + m).public_key))
    seats = [
        CommitteeSeat("court-sh", "court"),
        CommitteeSeat("caam", "association"),
        CommitteeSeat("audit-cn", "auditor"),
        CommitteeSeat(VEHICLE_OEM_SEAT, "oem"),
    ]
    res = send(client, keys["miit"], gov.Propose(SetEscrowCommittee(seats, 3, ESCROWED)))
    pid = event_int(res, "proposal_created", "proposal_id")
    for m, key in keys.items():
        if m != "miit" and client.proposal(pid)["status"] == "open":
            send(client, key, gov.Vote(pid, True))
    assert client.proposal(pid)["status"] == "executed"
    send(client, keys["saic"], RegisterVehicle("saic:net-1", compute_vin_commitment(
        make_vin("saic:net-1"), VIN_SALT), seeded_key("vehicle/net-1").public_key, "RX5", 2024,
        seeded_key("owner/net-1").public_key))  # fmt: skip
    tomorrow = (int(time.time() * 1000) // DAY_MS + 1) * DAY_MS
    scope = CaseScope(["saic:net-1"], ["location"], tomorrow, tomorrow + DAY_MS)
    digest = seeded_key("digest").public_key
    res = send(client, keys["mps-traffic"], OpenCase(digest, "rtsl_accident", scope, digest,
                                                     seeded_key("officer").public_key))  # fmt: skip
    case_id = event_int(res, "case_opened", "case_id")
    now = int(client.status()["latest_block_time_ms"])
    send(client, keys["court2"], AuthorizeCase(case_id, scope, now + 30 * DAY_MS, DAY_MS))
    for m in ("court-sh", "caam", "saic"):
        send(client, keys[m], ApproveCase(case_id))
    send(client, keys["mps-traffic"], CloseCase(case_id))
    return case_id


@pytest.fixture(scope="module")
def net_case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetCase]:
    require_network_setup()
    home = tmp_path_factory.mktemp("evnet")
    extra = [GenesisMember(m, name, roles, seeded_key(m).public_key.hex())
             for m, name, roles in EXTRA]  # fmt: skip
    created = localnet.create_network(home / "net", 4, extra_members=extra)
    net = Localnet(created, home / "net")
    try:
        localnet.up(home / "net")
        net.wait_height(2)
        node = net.nodes[0]
        keys = dict(created.member_keys) | {m: seeded_key(m) for m, _, _ in EXTRA}
        with Client(node.api_url) as client:
            case_id = run_case(client, keys)
            here = client.status()["height"]
            wait_for(lambda: client.status()["height"] >= here + 2, 60, "two more blocks")
            files = build_evidence(client, case_id, [], _NoSegments(), node.rpc_url)
            bundle = home / "bundle"
            write_evidence(bundle, files)
            genesis = created.layout.get_comet_home(node) / "config" / "genesis.json"
            yield NetCase(net, keys, client, case_id, bundle, genesis)
    finally:
        for n in created.layout.nodes:
            with contextlib.suppress(Exception):
                localnet.stop_node(created.layout, n)


class _NoSegments:
    """A case without records asks no source anything."""

    def get_batch_proof(self, vehicle_id: str, header_hash: bytes) -> dict[str, Any]:
        raise AssertionError("no segment to prove")

    def get_segment_key(self, segment: Any, header: Any) -> bytes:
        raise AssertionError("no segment to prove")


def test_bundle_verifies_against_the_genesis_validator_set(net_case: NetCase) -> None:
    trust = load_genesis_trust(net_case.genesis)
    v = verify_evidence(net_case.bundle, BlockTrust(validators=trust, chain_id=trust.chain_id))
    assert v.engine == "cometbft" and v.case.case_id == net_case.case_id
    assert v.case.state == "closed" and v.transactions == 1 + 1 + 3 + 1
    assert "validator set you trust (4 validators) signed the block" in v.trusted_by[0]
    manifest = json.loads((net_case.bundle / "manifest.json").read_text())
    assert manifest["state_height"] == manifest["block_height"] - 1
    headers = json.loads((net_case.bundle / "chain/headers.json").read_text())["headers"]
    assert headers and all(len(h["commit"]["signatures"]) == 4 for h in headers)


def test_cli_verify_with_genesis_names_the_validator_set(net_case: NetCase) -> None:
    result = CliRunner().invoke(
        app, ["evidence", "verify", str(net_case.bundle), "--genesis", str(net_case.genesis)],
        env={"COLUMNS": "250", "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "trust root: validator set you trust (4 validators)" in result.output


def test_removed_commit_signatures_fail_at_block_to_trust_root(
    net_case: NetCase, tmp_path: Path
) -> None:
    trust = load_genesis_trust(net_case.genesis)
    for name in ("chain/block.json", "chain/headers.json"):
        root = tmp_path / name.replace("/", "-")
        shutil.copytree(net_case.bundle, root)
        doc = json.loads((root / name).read_text())
        target = doc if name == "chain/block.json" else doc["headers"][0]
        for sig in target["commit"]["signatures"][:2]:  # two of four removed: 1/2 signed
            sig.update(block_id_flag=1, validator_address="", signature=None)
        (root / name).write_text(json.dumps(doc))
        rehash(root)
        with pytest.raises(InvalidProof) as exc:
            verify_evidence(root, BlockTrust(validators=trust, chain_id=trust.chain_id))
        assert exc.value.fields.get("link") == "block->trust root", exc.value.message
        assert "2/3" in exc.value.message
