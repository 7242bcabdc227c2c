"""A 4-validator localnet: validators from genesis and governance, the SDK and CLI
against any node, and state proofs checked against signed headers.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from typing import Any

import pytest
from typer.testing import CliRunner

from carchain.cli.main import app as cli
from carchain.core import governance as gov
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.errors import InvalidNonce, InvalidProof, StaleProof, UntrustedHeader
from carchain.sdk import light, light_client
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.proofs import verify_state_proof
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.consortium import FOUNDERS
from tests.conftest import make_vin
from tests.network.conftest import Localnet, get_height, rpc_get, wait_for

pytestmark = pytest.mark.network
MEMBER_IDS = [m for m, _, _ in FOUNDERS]


def register(account: Account, vid: str) -> dict[str, Any]:
    body = RegisterVehicle(
        vid,
        compute_vin_commitment(make_vin(vid), os.urandom(32)),
        SigningKey.generate().public_key,
        "ID.4",
        2025,
        SigningKey.generate().public_key,
    )
    return account.send(body)


def get_validators(net: Localnet, height: int | None = None) -> dict[bytes, int]:
    params = {"per_page": 100} | ({"height": height} if height else {})
    res = rpc_get(net.nodes[0], "validators", **params)
    return {
        base64.b64decode(v["pub_key"]["value"]): int(v["voting_power"]) for v in res["validators"]
    }


def test_initial_validators_are_the_member_nodes_keys(net: Localnet) -> None:
    node_keys = {bytes.fromhex(n.validator_key) for n in net.nodes}
    assert get_validators(net, 1) == {k: 10 for k in node_keys}
    with Client(net.nodes[1].api_url) as c:
        members = {m["member_id"]: m for m in c.members()}
    for i, node in enumerate(net.nodes):  # member i runs node i
        m = members[MEMBER_IDS[i]]
        assert (m["validator_key"], m["power"]) == (node.validator_key, 10)
    assert all(members[m]["power"] == 0 for m in MEMBER_IDS[len(net.nodes) :])


def test_sdk_submits_through_one_node_and_reads_from_all(net: Localnet) -> None:
    with Client(net.nodes[2].api_url) as c:
        res = register(Account(c, net.created.member_keys["geely"]), "geely:net-1")
        assert res["result"]["code"] == 0
        height = int(res["height"])
        status = c.status()
        assert status["engine"] == "cometbft" and status["height"] >= height
        tx = c.tx(bytes.fromhex(res["hash"]))
        assert (tx["state"], tx["height"]) == ("committed", height)
        block = c.block(height)
        assert len(block["txs"]) >= 1
    for node in net.nodes:
        with Client(node.api_url) as c:
            v = wait_for(lambda c=c: c.vehicle("geely:net-1"), 20, f"vehicle on {node.name}")
            assert v["oem"] == "geely"
            # Same block, same results, same CometBFT block hash on every node.
            assert c.block(height)["hash"] == block["hash"]


def test_invalid_submission_is_refused_with_its_code(net: Localnet) -> None:
    with Client(net.nodes[0].api_url) as c:
        res = c._request("POST", "/txs", ok=(400,), json={"tx": base64.b64encode(b"junk").decode()})
        assert res["error"]["code"] == "malformed_tx"
        acct = Account(c, net.created.member_keys["saic"])
        register(acct, "saic:dup")
        with pytest.raises(Exception) as info:
            register(acct, "saic:dup")
        assert getattr(info.value, "code", "") == "already_exists"


def test_invalid_nonce_names_the_expected_nonce_through_cometbft(net: Localnet) -> None:
    # CheckTx's fields ride in ResponseCheckTx.data, which broadcast_tx_sync relays.
    with Client(net.nodes[1].api_url) as c:
        acct = Account(c, net.created.member_keys["vw-china"])
        acct._nonce = 1_000  # stale
        with pytest.raises(InvalidNonce) as info:
            register(acct, "vw-china:nonce-1")
        assert info.value.got == 1_001 and info.value.expected is not None
        assert info.value.expected < 1_001
        assert register(acct, "vw-china:nonce-1")["result"]["code"] == 0


def test_cli_works_against_any_node(net: Localnet) -> None:
    runner = CliRunner()
    home = str(net.home)
    out = runner.invoke(cli, ["network", "status", "--home", home])
    assert out.exit_code == 0, out.output
    assert all(n.name in out.output for n in net.nodes)
    with Client(net.nodes[3].api_url) as c:
        register(Account(c, net.created.member_keys["vw-china"]), "vw-china:cli-1")
    for node in (net.nodes[0], net.nodes[3]):
        out = runner.invoke(
            cli, ["query", "vehicles/v/vw-china:cli-1", "--prove", "--node", node.api_url]
        )
        assert out.exit_code == 0, out.output
        assert "verified" in out.output
    genesis = str(net.layout.get_comet_home(net.nodes[0]) / "config" / "genesis.json")
    verify = ["network", "verify", "vehicles/v/vw-china:cli-1", "--node", "1", "--home", home]
    out = runner.invoke(cli, [*verify, "--genesis", genesis])
    assert out.exit_code == 0, out.output
    assert "verified" in out.output and "genesis validator set" in out.output
    block = rpc_get(net.nodes[2], "block", height=2)["block_id"]["hash"]
    out = runner.invoke(cli, [*verify, "--trust-height", "2", "--trust-hash", block])
    assert out.exit_code == 0, out.output
    assert "trusted block 2" in out.output
    out = runner.invoke(cli, [*verify, "--trust-height", "2", "--trust-hash", "ab" * 32])
    assert out.exit_code == 1 and "untrusted_header" in out.output
    out = runner.invoke(cli, verify)  # no trust root: refused, not trusted to the node
    assert out.exit_code == 1 and "no_trust_root" in out.output
    out = runner.invoke(cli, ["network", "kill", "node9", "--home", home])
    assert out.exit_code == 1 and "not_found" in out.output


# --- proofs against consensus ---------------------------------------------------------


def trusted_set(net: Localnet) -> dict[bytes, int]:
    return get_validators(net)


def genesis_root(net: Localnet) -> light_client.TrustedValidatorSet:
    return light_client.compute_genesis_trust(net.created.genesis)


def verified_app_hash(net: Localnet, rpc_url: str, height: int) -> bytes:
    provider = light_client.make_rpc_provider(rpc_url)
    return light_client.verify_header_at(provider, genesis_root(net), height).app_hash


def test_state_proof_verifies_against_a_header_signed_by_two_thirds(net: Localnet) -> None:
    with Client(net.nodes[1].api_url) as c:
        register(Account(c, net.created.member_keys["saic"]), "saic:proof-1")
        doc = c.query("vehicles", b"v/saic:proof-1", prove=True)
        # Header H+1 carries the state after block H.
        assert int(doc["proof_height"]) == int(doc["height"]) + 1
        app_hash = verified_app_hash(net, net.nodes[3].rpc_url, int(doc["proof_height"]))
        assert app_hash.hex() == doc["app_hash"]
        value = bytes.fromhex(doc["value"])
        verify_state_proof(app_hash, "vehicles", b"v/saic:proof-1", value, doc["proof"])
        with pytest.raises(InvalidProof):
            verify_state_proof(app_hash, "vehicles", b"v/saic:proof-1", value[:-1], doc["proof"])
        provider = light_client.make_rpc_provider(net.nodes[0].rpc_url)
        v = light_client.query_verified_by_consensus(
            c, provider, "vehicles", b"v/saic:proof-1", genesis_root(net)
        )
        assert v.value == value


def test_light_encoding_matches_cometbft_protobuf(net: Localnet) -> None:
    from carchain.engine.abci import protos

    canonical, types = protos.get_canonical(), protos.get_types()
    lb = light.fetch_light_block(net.nodes[0].rpc_url, 3)
    c = lb.commit
    sig = c.signatures[0]
    vote = canonical.CanonicalVote(
        type=types.SIGNED_MSG_TYPE_PRECOMMIT,
        height=c.height,
        round=c.round,
        block_id=canonical.CanonicalBlockID(
            hash=c.block_id.hash,
            part_set_header=canonical.CanonicalPartSetHeader(
                total=c.block_id.parts_total, hash=c.block_id.parts_hash
            ),
        ),
        chain_id=lb.header.chain_id,
    )
    vote.timestamp.seconds, vote.timestamp.nanos = sig.timestamp.seconds, sig.timestamp.nanos
    body = vote.SerializeToString()
    want = bytes([len(body)]) + body
    assert (
        light.compute_vote_sign_bytes(
            lb.header.chain_id, c.height, c.round, c.block_id, sig.timestamp
        )
        == want
    )
    assert light.compute_header_hash(lb.header) == c.block_id.hash


def test_invalid_headers_commits_and_sets_are_refused(net: Localnet) -> None:
    lb = light.fetch_light_block(net.nodes[0].rpc_url, 4)
    trusted = trusted_set(net)
    assert light.verify_commit(lb.header, lb.commit, lb.validators, trusted) >= 30
    forged = dataclasses.replace(lb.header, app_hash=os.urandom(32))
    with pytest.raises(InvalidProof, match="header does not hash"):
        light.verify_commit(forged, lb.commit, lb.validators, trusted)
    bad_sig = list(lb.commit.signatures)
    bad_sig[0] = dataclasses.replace(bad_sig[0], signature=bytes(64))
    with pytest.raises(InvalidProof, match="does not verify"):
        light.verify_commit(
            lb.header, dataclasses.replace(lb.commit, signatures=bad_sig), lb.validators, trusted
        )
    absent = [dataclasses.replace(s, flag=1) for s in lb.commit.signatures[:2]]
    two_of_four = dataclasses.replace(lb.commit, signatures=absent + lb.commit.signatures[2:])
    with pytest.raises(InvalidProof, match="less than 2/3"):
        light.verify_commit(lb.header, two_of_four, lb.validators, trusted)
    strangers = {SigningKey.generate().public_key: 10 for _ in range(4)}
    with pytest.raises(InvalidProof, match="less than 2/3"):
        light.verify_commit(lb.header, lb.commit, lb.validators, strangers)
    fake_set = [dataclasses.replace(v, power=v.power + 1) for v in lb.validators]
    with pytest.raises(InvalidProof, match="validators hash"):
        light.verify_commit(lb.header, lb.commit, fake_set, trusted)


def test_bundle_block_section_from_cometbft_verifies_with_each_root(net: Localnet) -> None:
    from carchain.sdk.bundle_block import BlockTrust, verify_bundle_block
    from carchain.sdk.record_proofs import build_block_section

    with Client(net.nodes[1].api_url) as c:
        height = wait_for(lambda: get_height(net.nodes[1]) >= 3 and 3, 20, "height 3")
        section = build_block_section(c, height, net.nodes[2].rpc_url)
    assert section["engine"] == "cometbft"
    block = verify_bundle_block(section, BlockTrust(validators=genesis_root(net)))
    assert (
        block.hash.hex().upper()
        == rpc_get(net.nodes[0], "block", height=height)["block_id"]["hash"]
    )
    assert verify_bundle_block(section, BlockTrust(trusted_hash=block.hash)).height == height
    with pytest.raises(UntrustedHeader):
        verify_bundle_block(section, BlockTrust(trusted_hash=bytes(32)))


def test_light_client_refuses_stale_and_foreign_headers_on_the_localnet(net: Localnet) -> None:
    import time

    provider = light_client.make_rpc_provider(net.nodes[0].rpc_url)
    header = light_client.verify_header_at(provider, genesis_root(net), 2)
    with pytest.raises(StaleProof):
        light_client.validate_freshness(header, 60, time.time() + 3600)
    other = dataclasses.replace(genesis_root(net), chain_id="carchain-elsewhere")
    with pytest.raises(UntrustedHeader, match="another chain"):
        light_client.verify_header_at(provider, other, 2)


def test_cometbft_abci_query_proof_verifies_against_the_signed_header(net: Localnet) -> None:
    from carchain.engine.abci import protos

    with Client(net.nodes[0].api_url) as c:
        register(Account(c, net.created.member_keys["geely"]), "geely:rpc-q")
    key = b"v/geely:rpc-q"

    def query() -> Any:
        r = rpc_get(
            net.nodes[2],
            "abci_query",
            path='"/store/vehicles/key"',
            data="0x" + key.hex(),
            prove="true",
        )["response"]
        return None if r.get("code") else r

    res = wait_for(query, 20, "the vehicle on node2")
    value = base64.b64decode(res["value"])
    ops = []
    for op in res["proofOps"]["ops"]:
        vop = protos.get_crypto_proof().ValueOp.FromString(base64.b64decode(op["data"]))
        p = vop.proof
        proof = {
            "total": p.total,
            "index": p.index,
            "leaf_hash": p.leaf_hash.hex(),
            "aunts": [a.hex() for a in p.aunts],
        }
        ops.append({"type": op["type"], "key": base64.b64decode(op["key"]).hex(), "proof": proof})
    header_height = int(res["height"]) + 1
    wait_for(lambda: get_height(net.nodes[2]) >= header_height, 20, "header H+1")
    app_hash = verified_app_hash(net, net.nodes[2].rpc_url, header_height)
    verify_state_proof(app_hash, "vehicles", key, value, ops)


# --- validators from governance (last: it changes the set) ------------------------------


def pass_proposal(net: Localnet, action: gov.Action) -> int:
    """Propose through node0, have enough members vote through other nodes; return height."""
    keys = net.created.member_keys
    with Client(net.nodes[0].api_url) as c:
        res = Account(c, keys["miit"]).send(gov.Propose(action))
        pid = int(
            next(
                e["attributes"]["proposal_id"]
                for e in res["result"]["events"]
                if e["type"] == "proposal_created"
            )
        )
    status = "open"
    for i, voter in enumerate(["saic", "geely", "vw-china", "bosch", "audit-cn"]):
        with Client(net.nodes[i % len(net.nodes)].api_url) as c:
            r = Account(c, keys[voter]).send(gov.Vote(pid, True))
            events = {e["type"]: e["attributes"] for e in r["result"]["events"]}
            status = events.get("proposal_closed", {}).get("status", status)
            if status != "open":
                assert status == "executed"
                return int(r["height"])
    raise AssertionError("proposal did not pass")


def test_governance_changes_the_validator_set(net: Localnet) -> None:
    bosch_key = bytes.fromhex(net.nodes[3].validator_key)
    # Change power: updates from block H take effect at H+2.
    h = pass_proposal(net, gov.SetValidator("bosch", bosch_key, 20))
    wait_for(lambda: get_height(net.nodes[0]) >= h + 2, 30, "two more blocks")
    assert get_validators(net, h + 2)[bosch_key] == 20
    # A new member with its own validator key joins the set.
    newcomer = SigningKey.generate()
    vkey = SigningKey.generate().public_key
    h = pass_proposal(
        net, gov.AddMember("ping-an", "Ping An", ["insurer"], newcomer.public_key, vkey, 1)
    )
    wait_for(lambda: get_height(net.nodes[0]) >= h + 2, 30, "two more blocks")
    assert get_validators(net, h + 2)[vkey] == 1
    # Power 0 removes a validator; the chain keeps committing without it.
    h = pass_proposal(net, gov.SetValidator("ping-an", vkey, 0))
    wait_for(lambda: get_height(net.nodes[0]) >= h + 3, 30, "blocks after removal")
    assert vkey not in get_validators(net, h + 2)
    assert len(get_validators(net)) == 4
