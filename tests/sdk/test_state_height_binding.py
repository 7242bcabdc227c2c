"""A signed OEM statement or access-log export names the state height its proofs are of,
and that height is bound to the engine of its block: on CometBFT header ``P`` carries
the state after block ``P - 1``, on solo header ``P`` the state after block ``P``.

The attack: on CometBFT an OEM claims ``height == proof_height``. The statement then
"covers" events up to block ``P``'s time (``compute_covered_until_ms``), though the
proven state lacks block ``P``'s log entries, so a disclosure made in block ``P`` is
silently left out of a statement that verifies as complete."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from carchain.errors import InvalidProof
from carchain.sdk.access_log_export import AccessLogExport, ProvenJson, check_export_block
from carchain.sdk.bundle_block import COMETBFT, SOLO, BlockTrust
from carchain.sdk.light import compute_header_hash
from carchain.sdk.oem_statement import OemStatement, Proven, check_statement_block
from carchain.storage.blocks import BlockHeader, compute_block_hash
from tests.sdk.lightchain import light_block_json, make_chain, make_keys

CHAIN_ID = "carchain-heights"
APP_HASH = hashlib.sha256(b"state").digest()
BLOCK_HEIGHT = 3


def cometbft_section() -> dict[str, Any]:
    chain = make_chain(CHAIN_ID, {1: make_keys(4, "heights")}, BLOCK_HEIGHT, 1_800_000_000,
                       app_hash=APP_HASH)  # fmt: skip
    lb = chain.blocks[BLOCK_HEIGHT]
    return {"engine": COMETBFT, "hash": compute_header_hash(lb.header).hex(),
            **light_block_json(lb)}  # fmt: skip


def solo_section() -> dict[str, Any]:
    h = BlockHeader(CHAIN_ID, BLOCK_HEIGHT, 1_800_000_000_000, b"\x01" * 32, b"\x02" * 32,
                    b"\x03" * 32, APP_HASH, b"\x04" * 32)  # fmt: skip
    header = {
        "chain_id": h.chain_id,
        "height": h.height,
        "time_ms": h.time_ms,
        "prev_hash": h.prev_hash.hex(),
        "tx_root": h.tx_root.hex(),
        "results_hash": h.results_hash.hex(),
        "app_hash": h.app_hash.hex(),
        "proposer": h.proposer.hex(),
    }
    return {"engine": SOLO, "hash": compute_block_hash(h).hex(), "header": header}


def trust_of(section: dict[str, Any]) -> BlockTrust:
    return BlockTrust(trusted_hash=bytes.fromhex(section["hash"]))


def statement(section: dict[str, Any], height: int) -> OemStatement:
    p = Proven("members", "00", "00", [])
    return OemStatement(
        "carchain/oem-statement/v1", CHAIN_ID, "saic", "saic:1", 0, 1, height, BLOCK_HEIGHT,
        APP_HASH.hex(), p, p, p, None, None, [], p, [], section, "00", "00",
    )  # fmt: skip


def export(section: dict[str, Any], height: int) -> AccessLogExport:
    p = ProvenJson("00", "00", [])
    return AccessLogExport(
        "carchain/access-log-export/v1", CHAIN_ID, "saic:1", height, BLOCK_HEIGHT,
        APP_HASH.hex(), 0, p, None, None, [], p, section, "00", "00",
    )  # fmt: skip


# (section builder, the state height that block proves, a height it does not prove)
CASES = [
    pytest.param(cometbft_section, BLOCK_HEIGHT - 1, BLOCK_HEIGHT, id="cometbft"),
    pytest.param(solo_section, BLOCK_HEIGHT, BLOCK_HEIGHT - 1, id="solo"),
]


@pytest.mark.parametrize(("make", "right", "wrong"), CASES)
def test_statement_state_height_is_bound_to_its_engine(make: Any, right: int, wrong: int) -> None:
    section = make()
    block_hash, _ = check_statement_block(statement(section, right), trust_of(section))
    assert block_hash.hex() == section["hash"]
    with pytest.raises(InvalidProof, match="proves the state at height"):
        check_statement_block(statement(section, wrong), trust_of(section))


@pytest.mark.parametrize(("make", "right", "wrong"), CASES)
def test_export_state_height_is_bound_to_its_engine(make: Any, right: int, wrong: int) -> None:
    section = make()
    block_hash, _ = check_export_block(export(section, right), trust_of(section))
    assert block_hash.hex() == section["hash"]
    with pytest.raises(InvalidProof, match="proves the state at height"):
        check_export_block(export(section, wrong), trust_of(section))


def test_cometbft_statement_cannot_cover_its_proof_block() -> None:
    """With the state height bound, the window a CometBFT statement may cover ends at the
    proof block's time: events of that block (not in the proven state) are outside."""
    section = cometbft_section()
    doc = statement(section, BLOCK_HEIGHT - 1)
    block_ms = (1_800_000_000 + BLOCK_HEIGHT) * 1000  # make_header's time, 5000 ns
    late = OemStatement(
        **{f: getattr(doc, f) for f in doc.__struct_fields__} | {"until_ms": block_ms + 1}
    )
    with pytest.raises(InvalidProof, match="window reaches past"):
        check_statement_block(late, trust_of(section))
