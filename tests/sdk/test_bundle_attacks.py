"""Attacks on network proof bundles beyond malformed JSON: a validator power that
wraps in the 64-bit encoding, a validator set with no chain, a bundle that reads
differently to two JSON parsers.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from carchain.cli.main import app as cli
from carchain.errors import InvalidProof, UntrustedHeader
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.light_client import compute_genesis_trust
from carchain.sdk.record_proofs import verify_record_proof
from tests.conftest import CHAIN_ID, make_genesis
from tests.sdk.lightchain import make_chain
from tests.sdk.test_bundle_trust import START_S, VALIDATOR_KEYS, as_network

Bundle = tuple[dict[str, Any], dict[str, Any]]


def signed_by_one_of_two(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle's block signed by the first of the two genesis validators only."""
    height = int(bundle["state"]["height"])
    app_hash = bytes.fromhex(bundle["block"]["header"]["app_hash"])
    chain = make_chain(
        CHAIN_ID, {1: VALIDATOR_KEYS}, height + 1, START_S, {height: {1}}, app_hash=app_hash
    )
    return as_network(bundle, chain)


def test_invalid_one_validator_wrapping_its_power_past_2_64(proven: Bundle) -> None:
    # Half of the power signed: not enough. Raising the signer's power by 2**64 keeps
    # the validators hash (the varint keeps 64 bits) and would make it "all" the power.
    net = signed_by_one_of_two(proven[0])
    genesis = BlockTrust(validators=compute_genesis_trust(make_genesis()))
    with pytest.raises(UntrustedHeader, match="less than 2/3"):
        verify_record_proof(net, genesis)
    signer = net["block"]["commit"]["signatures"][0]["validator_address"]
    forged = copy.deepcopy(net)
    for v in forged["block"]["validators"]:
        if v["address"] == signer:
            v["voting_power"] = str(int(v["voting_power"]) + 2**64)
    with pytest.raises(InvalidProof, match="out of range"):
        verify_record_proof(forged, genesis)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "300"})


def test_invalid_validators_without_a_chain_id(proven: Bundle, tmp_path: Path) -> None:
    # A validator set names no chain; the same validators may run a test chain where
    # an OEM anchors what it likes. The verifier must know which chain it checks.
    from tests.sdk.test_bundle_trust import network_chain

    net = as_network(proven[0], network_chain(proven[0], VALIDATOR_KEYS))
    b, vfile = tmp_path / "bundle.json", tmp_path / "validators.json"
    b.write_text(json.dumps(net))
    vfile.write_text(json.dumps(net["block"]["validators"]))
    out = run("verify", str(b), "--validators", str(vfile))
    assert out.exit_code == 1 and "error no_trust_root" in out.output
    assert "--chain-id" in out.output
    out = run("verify", str(b), "--validators", str(vfile), "--chain-id", CHAIN_ID)
    assert out.exit_code == 0, out.output


def test_invalid_bundle_with_a_repeated_key(proven: Bundle, tmp_path: Path) -> None:
    # Python's json keeps the last of two keys, other readers the first: a bundle
    # whose block hash or record reads two ways is refused, not resolved.
    bundle, header = proven
    text = json.dumps(bundle)
    b = tmp_path / "bundle.json"
    b.write_text(text)
    assert run("verify", str(b), "--trust-hash", header["hash"]).exit_code == 0
    doubled = text.replace('"record_index": ', '"record_index": 0, "record_index": ', 1)
    assert json.loads(doubled) == bundle
    b.write_text(doubled)
    out = run("verify", str(b), "--trust-hash", header["hash"])
    assert out.exit_code == 1 and "error malformed_bundle" in out.output
    assert "duplicate key 'record_index'" in out.output
