"""Every field of the anchor transaction must match the anchor committed on chain, and a
malformed node answer while building a bundle is a typed error (review of issue 7)."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from carchain.core.anchors import SubmitAnchor
from carchain.core.transactions import (
    compute_envelope_signing_bytes,
    decode_body,
    decode_envelope,
    encode,
)
from carchain.errors import CarchainError, InvalidProof, ProofUnavailable
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.client import Client
from carchain.sdk.record_proofs import build_record_proof, verify_record_proof
from tests.conftest import seeded_key
from tests.dataplane import World, anchored_edr

Bundle = tuple[dict[str, Any], dict[str, Any]]


def resign_anchor_tx(bundle: dict[str, Any], **changes: int) -> dict[str, Any]:
    """The bundle with its anchor transaction's body changed and re-signed by the OEM."""
    env = decode_envelope(bytes.fromhex(bundle["anchor_tx"]))
    body = msgspec.structs.replace(decode_body(env.body, SubmitAnchor), **changes)
    unsigned = msgspec.structs.replace(env, body=encode(body))
    sig = seeded_key("saic").sign(compute_envelope_signing_bytes(unsigned))
    forged = copy.deepcopy(bundle)
    forged["anchor_tx"] = encode(msgspec.structs.replace(unsigned, signature=sig)).hex()
    return forged


@pytest.mark.parametrize(
    "field, delta",
    [("start_ms", -3_600_000), ("end_ms", 3_600_000), ("record_count", 1)],
)
def test_invalid_never_included_anchor_tx_with_another_field(
    proven: Bundle, field: str, delta: int
) -> None:
    # The OEM signs a second anchor tx with the committed seq/root/manifest but a wider
    # time range (or another record count): it was never included, so it must not pass.
    bundle, header = proven
    body = decode_body(decode_envelope(bytes.fromhex(bundle["anchor_tx"])).body, SubmitAnchor)
    forged = resign_anchor_tx(bundle, **{field: getattr(body, field) + delta})
    with pytest.raises(InvalidProof, match="anchor on chain differs from the anchor transaction"):
        verify_record_proof(forged, BlockTrust(own_header=header))
    verify_record_proof(resign_anchor_tx(bundle), BlockTrust(own_header=header))  # same body


EdrBatch = tuple[list[bytes], int, dict[str, Any]]


@pytest.fixture(scope="module")
def edr_batch(world: World) -> EdrBatch:
    """An anchored batch holding an EDR record: its records, EDR index and proof."""
    world.register("saic:car-mangled")
    return anchored_edr(world, "saic:car-mangled")


class MangledNode(Client):
    """A client whose proved answers have one field replaced (or removed)."""

    def __init__(self, world: World, field: str, value: object) -> None:
        super().__init__(world.node.url)
        self.field, self.value = field, value

    def query(self, store: str, key: bytes, prove: bool = False, height: int = 0) -> Any:
        doc = dict(super().query(store, key, prove, height))
        if prove:
            if self.value is None:
                doc.pop(self.field, None)
            else:
                doc[self.field] = self.value
        return doc


@pytest.mark.parametrize(
    "field, value",
    [
        ("height", None),
        ("height", "12"),
        ("height", "x"),
        ("height", 1.5),
        ("height", True),
        ("height", -3),
        ("proof_height", "abc"),
        ("proof_height", [1]),
    ],
)
def test_malformed_node_answer_is_a_typed_error(
    world: World, edr_batch: EdrBatch, field: str, value: object
) -> None:
    records, index, doc = edr_batch
    with MangledNode(world, field, value) as client, pytest.raises(ProofUnavailable):
        build_record_proof(records, index, doc, client)


@pytest.mark.parametrize("drop", ["anchor", "batch_header", "batch_proof"])
def test_malformed_gateway_answer_is_a_typed_error(
    world: World, edr_batch: EdrBatch, drop: str
) -> None:
    records, index, doc = edr_batch
    bad = {k: v for k, v in doc.items() if k != drop}
    with pytest.raises(CarchainError):
        build_record_proof(records, index, bad, world.client)
    bad = {**doc, "anchor": {**doc["anchor"], "seq": "one"}}
    with pytest.raises(ProofUnavailable):
        build_record_proof(records, index, bad, world.client)
