"""Proof bundles carry their block in full: the header hash is recomputed, the
commit checked on a network, and only a trust root the user holds vouches for it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from carchain.cli.main import app as cli
from carchain.core.genesis import encode_genesis
from carchain.crypto.hashing import compute_tagged_hash
from carchain.errors import InvalidProof, NoTrustRoot, UntrustedHeader
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.light_client import TrustedValidatorSet, compute_genesis_trust
from carchain.sdk.record_proofs import verify_record_proof
from tests.conftest import CHAIN_ID, FOUNDERS, make_genesis, seeded_key
from tests.sdk.lightchain import Chain, light_block_json, make_chain, make_keys, make_set

Bundle = tuple[dict[str, Any], dict[str, Any]]
VALIDATOR_KEYS = [seeded_key("validator/" + mid) for mid, _, _, power in FOUNDERS if power]
START_S = 1_800_000_000


def trust_hash(header: dict[str, Any]) -> BlockTrust:
    return BlockTrust(trusted_hash=bytes.fromhex(header["hash"]))


def refused(bundle: dict[str, Any], trust: BlockTrust, reason: str) -> InvalidProof:
    with pytest.raises(InvalidProof) as exc:
        verify_record_proof(bundle, trust)
    assert reason in exc.value.message, exc.value.message
    return exc.value


# --- solo blocks ---------------------------------------------------------------------------


def test_solo_block_hash_is_recomputed_from_every_header_field(proven: Bundle) -> None:
    bundle, header = proven
    h = bundle["block"]["header"]
    fields = [h["chain_id"], h["height"], h["time_ms"]] + [
        bytes.fromhex(h[k])
        for k in ("prev_hash", "tx_root", "results_hash", "app_hash", "proposer")
    ]
    want = compute_tagged_hash("carchain/block-header/v1", msgspec.msgpack.encode(fields))
    assert bundle["block"]["hash"] == want.hex() == header["hash"]
    assert h["app_hash"] and bundle["state"]["height"] == h["height"]


def test_valid_solo_bundle_passes_with_each_trust_root(proven: Bundle) -> None:
    bundle, header = proven
    own = verify_record_proof(bundle, BlockTrust(own_header=header))
    assert own.trusted_by == (
        f"your own copy of block {own.height}'s header, nothing else "
        "(no consensus signatures exist on a solo node)",
    )
    by_hash = verify_record_proof(bundle, trust_hash(header))
    assert by_hash.trusted_by == (f"block hash {header['hash']} given by you (--trust-hash)",)
    both = verify_record_proof(bundle, BlockTrust(bytes.fromhex(header["hash"]), None, header))
    assert len(both.trusted_by) == 2


def test_invalid_no_trust_root_and_validators_for_a_solo_block(proven: Bundle) -> None:
    bundle, _ = proven
    with pytest.raises(NoTrustRoot):
        verify_record_proof(bundle, BlockTrust())
    vals = TrustedValidatorSet(CHAIN_ID, 0, make_set(VALIDATOR_KEYS))
    with pytest.raises(NoTrustRoot, match="solo block"):
        verify_record_proof(bundle, BlockTrust(validators=vals))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("app_hash", "44" * 32),
        ("prev_hash", "55" * 32),
        ("results_hash", "66" * 32),
        ("tx_root", "77" * 32),
        ("proposer", "88" * 32),
    ],
)
def test_invalid_forged_header_keeping_height_hash_chain_id_and_time(
    proven: Bundle, field: str, value: str
) -> None:
    # The court attack: a private chain's header with the genuine block's height,
    # hash, chain id and time, but other contents. The hash no longer recomputes.
    bundle, header = copy.deepcopy(proven)
    bundle["block"]["header"][field] = value
    err = refused(bundle, BlockTrust(own_header=header), "does not hash to the block's hash")
    assert isinstance(err, UntrustedHeader) and err.fields["link"] == "block hash"
    refused(bundle, trust_hash(header), "does not hash to the block's hash")
    # Restating the hash to match the forgery: the user's root refuses it.
    from carchain.sdk.bundle_block import compute_block_section_hash

    bundle["block"]["hash"] = compute_block_section_hash(bundle["block"])[1].hex()
    refused(bundle, BlockTrust(own_header=header), "differs from your copy")
    refused(bundle, trust_hash(header), "not the trusted hash")


# --- network blocks, built offline with the bundle's app hash ---------------------------------


def network_chain(bundle: dict[str, Any], keys: list[Any], chain_id: str = CHAIN_ID) -> Chain:
    height = int(bundle["state"]["height"])
    app_hash = bytes.fromhex(bundle["block"]["header"]["app_hash"])
    return make_chain(chain_id, {1: keys}, height + 1, START_S, app_hash=app_hash)


def as_network(bundle: dict[str, Any], chain: Chain) -> dict[str, Any]:
    from carchain.sdk.light import compute_header_hash

    out = copy.deepcopy(bundle)
    lb = chain.blocks[int(bundle["state"]["height"])]
    out["block"] = {
        "engine": "cometbft",
        "hash": compute_header_hash(lb.header).hex(),
        **light_block_json(lb),
    }
    return out


def test_valid_network_bundle_passes_with_validators_genesis_and_hash(proven: Bundle) -> None:
    bundle = as_network(proven[0], network_chain(proven[0], VALIDATOR_KEYS))
    vals = TrustedValidatorSet("", 0, make_set(VALIDATOR_KEYS))
    v = verify_record_proof(bundle, BlockTrust(validators=vals, chain_id=CHAIN_ID))
    assert v.engine == "cometbft" and "validator set you trust" in v.trusted_by[0]
    genesis = compute_genesis_trust(make_genesis())
    assert verify_record_proof(bundle, BlockTrust(validators=genesis)).kind == "edr"
    by_hash = BlockTrust(trusted_hash=bytes.fromhex(bundle["block"]["hash"]))
    assert verify_record_proof(bundle, by_hash).trusted_by[0].startswith("block hash")


def test_network_bundle_signed_after_validator_changes_passes_by_trust_level(
    proven: Bundle,
) -> None:
    # Half of the trusted set still signs (> 1/3 of its power): CometBFT's skipping rule.
    keys = VALIDATOR_KEYS[:1] + make_keys(1, "newcomer")
    bundle = as_network(proven[0], network_chain(proven[0], keys))
    vals = TrustedValidatorSet(CHAIN_ID, 0, make_set(VALIDATOR_KEYS))
    assert verify_record_proof(bundle, BlockTrust(validators=vals)).kind == "edr"


def test_invalid_network_bundle_signed_by_untrusted_validators(proven: Bundle) -> None:
    bundle = as_network(proven[0], network_chain(proven[0], make_keys(4, "attacker")))
    vals = TrustedValidatorSet(CHAIN_ID, 0, make_set(VALIDATOR_KEYS))
    refused(bundle, BlockTrust(validators=vals), "less than 1/3 of the trusted")


def test_invalid_network_bundle_with_forged_commit_or_header(proven: Bundle) -> None:
    good = as_network(proven[0], network_chain(proven[0], VALIDATOR_KEYS))
    vals = BlockTrust(validators=TrustedValidatorSet(CHAIN_ID, 0, make_set(VALIDATOR_KEYS)))
    bad = copy.deepcopy(good)
    bad["block"]["commit"]["signatures"][0]["signature"] = "A" * 86 + "=="
    refused(bad, vals, "does not verify")
    bad = copy.deepcopy(good)
    bad["block"]["header"]["app_hash"] = "99" * 32
    refused(bad, vals, "does not hash to the block's hash")
    bad["block"]["hash"] = bad["block"]["commit"]["block_id"]["hash"] = "00" * 32
    refused(bad, vals, "does not hash")
    bad = copy.deepcopy(good)
    bad["block"]["validators"] = bad["block"]["validators"][:1]
    refused(bad, vals, "validators hash")


def test_invalid_network_bundle_of_another_chain(proven: Bundle) -> None:
    # Same validators, another chain id: the trusted chain id and the anchor refuse it.
    bundle = as_network(proven[0], network_chain(proven[0], VALIDATOR_KEYS, "carchain-other"))
    genesis = compute_genesis_trust(make_genesis())
    refused(bundle, BlockTrust(validators=genesis), "another chain")
    vals = TrustedValidatorSet("", 0, make_set(VALIDATOR_KEYS))
    refused(bundle, BlockTrust(validators=vals, chain_id=CHAIN_ID), "another chain")
    with pytest.raises(NoTrustRoot, match="chain id"):  # a bare set names no chain
        verify_record_proof(bundle, BlockTrust(validators=vals))


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "300"})


def test_carchain_verify_says_which_trust_root_it_used(proven: Bundle, tmp_path: Path) -> None:
    bundle, header = proven
    b, h = tmp_path / "bundle.json", tmp_path / "header.json"
    b.write_text(json.dumps(bundle))
    h.write_text(json.dumps(header))
    out = run("verify", str(b), "--header", str(h))
    assert out.exit_code == 0, out.output
    assert "trust root: your own copy of block" in out.output and "solo node" in out.output
    out = run("verify", str(b), "--trust-hash", header["hash"])
    assert out.exit_code == 0 and "given by you (--trust-hash)" in out.output
    out = run("verify", str(b))
    assert out.exit_code == 1 and "error no_trust_root" in out.output
    out = run("verify", str(b), "--trust-hash", "00" * 32)
    assert out.exit_code == 1 and "error untrusted_header" in out.output

    net = as_network(bundle, network_chain(bundle, VALIDATOR_KEYS))
    b.write_text(json.dumps(net))
    vfile, gfile = tmp_path / "validators.json", tmp_path / "genesis.json"
    vfile.write_text(json.dumps({"result": {"validators": net["block"]["validators"]}}))
    gfile.write_bytes(encode_genesis(make_genesis()))
    out = run("verify", str(b), "--validators", str(vfile), "--chain-id", CHAIN_ID)
    assert out.exit_code == 0, out.output
    assert "trust root: validator set you trust (2 validators)" in out.output
    out = run("verify", str(b), "--genesis", str(gfile))
    assert out.exit_code == 0 and "cometbft chain carchain-test" in out.output
    out = run("verify", str(b), "--validators", str(vfile), "--chain-id", "carchain-other")
    assert out.exit_code == 1 and "another chain" in out.output
