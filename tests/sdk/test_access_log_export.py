"""The signed access-log export: a round trip verifies, and every tamper (dropped,
edited, reordered or added entry, a wrong signature, a stranger's re-signature, a
range that hides the newest entries, another block) is refused with a typed error."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from carchain.crypto.signing import SigningKey
from carchain.errors import (
    InvalidProof,
    InvalidSignature,
    MalformedBundle,
    NoTrustRoot,
    Unauthorized,
    UntrustedHeader,
)
from carchain.sdk.access_log_export import (
    EXPORT_FORMAT,
    build_access_log_export,
    compute_export_signing_bytes,
    parse_export,
    verify_access_log_export,
)
from carchain.sdk.bundle_block import BlockTrust, compute_block_section_hash
from tests.access_log_chain import LogChain, log_chain, test_tx_type
from tests.conftest import seeded_key
from tests.core.test_vehicles import OWNER

__all__ = ["log_chain", "test_tx_type"]


@pytest.fixture
def chain(log_chain: LogChain) -> LogChain:
    log_chain.register("saic:1")
    log_chain.append("saic:1", 4, "grant")
    log_chain.append("saic:1", 3, "release")
    return log_chain


def _trust(chain: LogChain, doc: dict[str, Any]) -> BlockTrust:
    return BlockTrust(
        trusted_hash=bytes.fromhex(chain.get(f"/blocks/{doc['proof_height']}")["hash"])
    )


def _resign(doc: dict[str, Any], key: SigningKey = OWNER) -> dict[str, Any]:
    """Sign ``doc`` again (as a dishonest owner or a stranger would)."""
    doc = doc | {"exporter": key.public_key.hex()}
    parsed = parse_export(doc)
    _, block_hash = compute_block_section_hash(parsed.block)
    sig = key.sign(compute_export_signing_bytes(parsed, block_hash))
    return doc | {"signature": sig.hex()}


def test_export_all_round_trip(chain: LogChain) -> None:
    doc = build_access_log_export(chain.sdk(), OWNER, "saic:1", all_pages=True)
    assert doc["format"] == EXPORT_FORMAT and [e["seq"] for e in doc["events"]] == list(
        range(6, -1, -1)
    )
    v = verify_access_log_export(msgspec.json.decode(msgspec.json.encode(doc)), _trust(chain, doc))
    assert v.is_complete and v.size == 7 and (v.from_seq, v.to_seq) == (0, 6)
    assert [e.kind for e in v.events] == ["release"] * 3 + ["grant"] * 4
    assert v.exporter == OWNER.public_key and v.trusted_by


def test_export_of_one_page_is_part_of_the_log(chain: LogChain) -> None:
    doc = build_access_log_export(chain.sdk(), OWNER, "saic:1", before=5, limit=2)
    v = verify_access_log_export(doc, _trust(chain, doc))
    assert (v.from_seq, v.to_seq) == (3, 4) and not v.is_complete


def test_export_all_spans_pages_at_one_height(
    chain: LogChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain.append("saic:1", 150)
    doc = build_access_log_export(chain.sdk(), OWNER, "saic:1", all_pages=True)
    assert len(doc["events"]) == 157
    assert verify_access_log_export(doc, _trust(chain, doc)).is_complete


def test_empty_log_export_is_proven_complete_and_holds_nothing(log_chain: LogChain) -> None:
    log_chain.register("saic:1")
    doc = build_access_log_export(log_chain.sdk(), OWNER, "saic:1")
    v = verify_access_log_export(doc, _trust(log_chain, doc))
    assert v.size == 0 and v.events == [] and v.is_complete
    assert doc["size_proof"] is not None  # written at registration: proven empty


def test_only_the_owner_may_export(chain: LogChain) -> None:
    with pytest.raises(Unauthorized):
        build_access_log_export(chain.sdk(), seeded_key("stranger"), "saic:1")


def _drop(d: dict[str, Any]) -> None:
    del d["events"][2]


def _edit(d: dict[str, Any]) -> None:
    value = bytearray(bytes.fromhex(d["events"][0]["value"]))
    value[-1] ^= 1
    d["events"][0]["value"] = value.hex()


def _reorder(d: dict[str, Any]) -> None:
    d["events"][0], d["events"][1] = d["events"][1], d["events"][0]


def _swap_record(d: dict[str, Any]) -> None:
    d["events"][0] = d["events"][1] | {"seq": d["events"][0]["seq"]}


def _hide_newest(d: dict[str, Any]) -> None:
    del d["events"][0]
    d["to_seq"] -= 1
    d["size_proof"] = None
    d["size"] = 0


def _hide_all(d: dict[str, Any]) -> None:
    d["events"] = []
    d["from_seq"] = d["to_seq"] = None
    d["size_proof"] = None
    d["size"] = 0


def _shrink_size(d: dict[str, Any]) -> None:
    d["size"] -= 1


def _bad_sig(d: dict[str, Any]) -> None:
    sig = bytearray(bytes.fromhex(d["signature"]))
    sig[0] ^= 1
    d["signature"] = sig.hex()


TAMPERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "dropped": _drop,
    "edited": _edit,
    "reordered": _reorder,
    "swapped record": _swap_record,
    "newest hidden": _hide_newest,
    "whole log hidden": _hide_all,
    "size shrunk": _shrink_size,
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_export_is_refused_unsigned_and_resigned(chain: LogChain, name: str) -> None:
    doc = build_access_log_export(chain.sdk(), OWNER, "saic:1", all_pages=True)
    bad = copy.deepcopy(doc)
    TAMPERS[name](bad)
    with pytest.raises(InvalidSignature):  # the owner's signature no longer covers it
        verify_access_log_export(bad, _trust(chain, doc))
    with pytest.raises(InvalidProof):  # even the owner cannot sign a gap or an edit into it
        verify_access_log_export(_resign(bad), _trust(chain, doc))


def test_wrong_signature_and_stranger_signature_are_refused(chain: LogChain) -> None:
    doc = build_access_log_export(chain.sdk(), OWNER, "saic:1")
    bad = copy.deepcopy(doc)
    _bad_sig(bad)
    with pytest.raises(InvalidSignature):
        verify_access_log_export(bad, _trust(chain, doc))
    with pytest.raises(InvalidProof, match="owner"):
        verify_access_log_export(_resign(doc, seeded_key("stranger")), _trust(chain, doc))


def test_untrusted_block_and_no_trust_are_refused(chain: LogChain) -> None:
    doc = build_access_log_export(chain.sdk(), OWNER, "saic:1")
    with pytest.raises(UntrustedHeader):
        verify_access_log_export(doc, BlockTrust(trusted_hash=b"\x01" * 32))
    with pytest.raises(NoTrustRoot):
        verify_access_log_export(doc, BlockTrust())
    moved = copy.deepcopy(doc)
    moved["app_hash"] = "00" * 32
    with pytest.raises(InvalidProof):
        verify_access_log_export(_resign(moved), _trust(chain, doc))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("events"),
        lambda d: d.update(format="carchain/access-log-export/v0"),
        lambda d: d.update(extra=1),
        lambda d: d.update(size="7"),
        lambda d: d["events"].append("x"),
        lambda d: d.update(signature="zz"),
        # Past msgpack's integers: refused, not an OverflowError from the signed bytes.
        lambda d: d.update(size=2**70),
        lambda d: d["events"][0].update(seq=2**64),
        lambda d: d.update(to_seq=-1),
    ],
)
def test_malformed_export_is_one_typed_error(chain: LogChain, mutate: Callable[[Any], Any]) -> None:
    doc = build_access_log_export(chain.sdk(), OWNER, "saic:1")
    mutate(doc)
    with pytest.raises(MalformedBundle):
        verify_access_log_export(doc, _trust(chain, doc))


def test_not_an_object_is_malformed() -> None:
    for raw in ([], "x", None, 3):
        with pytest.raises(MalformedBundle):
            verify_access_log_export(raw, BlockTrust(trusted_hash=b"\x01" * 32))


@pytest.mark.parametrize(
    "lie",
    [
        lambda d: d | {"value": "00"},
        lambda d: d | {"proof": []},
        lambda d: {k: v for k, v in d.items() if k != "value"},
        lambda d: d | {"height": d["height"] - 1},
    ],
)
def test_invalid_node_vehicle_proof_is_refused_before_signing(
    chain: LogChain, monkeypatch: pytest.MonkeyPatch, lie: Callable[[Any], Any]
) -> None:
    sdk = chain.sdk()
    real = sdk.query
    monkeypatch.setattr(sdk, "query", lambda *a, **k: lie(real(*a, **k)))
    with pytest.raises(InvalidProof):
        build_access_log_export(sdk, OWNER, "saic:1")
