"""The SDK's access log: typed events, every entry proven against the header's app hash,
and a node's page that leaves out, adds, reorders or edits an entry is refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from carchain.core.access_log import AccessEvent
from carchain.errors import InvalidProof, NotFound
from carchain.sdk.access_log import verify_access_log_page, verify_oem_access_log_page
from carchain.sdk.access_log_trust import verify_page_header
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.record_proofs import build_block_section
from tests.access_log_chain import LogChain, log_chain, test_tx_type

__all__ = ["log_chain", "test_tx_type"]


@pytest.fixture
def filled(log_chain: LogChain) -> LogChain:
    log_chain.register("saic:1")
    log_chain.register("saic:2")
    log_chain.append("saic:1", 3, "grant")
    log_chain.append("saic:2", 1, "refused")
    log_chain.append("saic:1", 2, "receipt")
    return log_chain


def test_access_log_pages_newest_first_typed(filled: LogChain) -> None:
    sdk = filled.sdk()
    first = sdk.access_log("saic:1", limit=2)
    assert all(isinstance(e, AccessEvent) for e in first.events)
    assert [(e.seq, e.kind) for e in first.events] == [(4, "receipt"), (3, "receipt")]
    assert first.size == 5 and first.next_before == 3
    second = sdk.access_log("saic:1", before=first.next_before, limit=2, height=first.height)
    third = sdk.access_log("saic:1", before=second.next_before, limit=2, height=first.height)
    assert [e.seq for e in second.events + third.events] == [2, 1, 0]
    assert third.next_before is None and {second.app_hash, third.app_hash} == {first.app_hash}


def test_oem_access_log_typed_with_oem_seqs(filled: LogChain) -> None:
    page = filled.sdk().oem_access_log("saic", limit=3)
    assert page.oem_seqs == [5, 4, 3]
    assert [(e.vehicle_id, e.seq) for e in page.events] == [
        ("saic:1", 4),
        ("saic:1", 3),
        ("saic:2", 0),
    ]
    assert filled.sdk().oem_access_log("geely").events == []


def test_unknown_vehicle_is_not_found(filled: LogChain) -> None:
    with pytest.raises(NotFound):
        filled.sdk().access_log("saic:99")


def _doc(chain: LogChain, path: str = "/vehicles/saic:1/access-log", **params: Any) -> Any:
    return chain.get(path, **params)


def _tampered_pages(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    dropped = copy.deepcopy(doc)
    del dropped["events"][1]
    out["dropped"] = dropped
    reordered = copy.deepcopy(doc)
    reordered["events"].reverse()
    out["reordered"] = reordered
    edited = copy.deepcopy(doc)
    value = bytearray(bytes.fromhex(edited["events"][0]["record"]["value"]))
    value[-1] ^= 1
    edited["events"][0]["record"]["value"] = value.hex()
    out["edited"] = edited
    swapped = copy.deepcopy(doc)
    swapped["events"][0]["record"] = doc["events"][1]["record"]
    out["swapped"] = swapped
    shrunk = copy.deepcopy(doc)
    shrunk["size"] = 3
    out["size lie"] = shrunk
    return out


def test_page_verifies_and_each_tamper_is_refused(filled: LogChain) -> None:
    doc = _doc(filled, limit=3)
    app_hash = bytes.fromhex(doc["app_hash"])
    page = verify_access_log_page(doc, "saic:1", app_hash, None, 3)
    assert [e.seq for e in page.events] == [4, 3, 2]
    for name, bad in _tampered_pages(doc).items():
        with pytest.raises(InvalidProof):
            verify_access_log_page(bad, "saic:1", app_hash, None, 3)
            pytest.fail(f"{name} was accepted")
    with pytest.raises(InvalidProof):
        verify_access_log_page(doc, "saic:1", b"\x00" * 32, None, 3)
    assert page.size_proven
    # Every registered vehicle's size counter is written at registration: a node that
    # hides the whole log behind "never written" is refused.
    hidden = doc | {"size_proof": None, "size": 0, "events": []}
    with pytest.raises(InvalidProof):
        verify_access_log_page(hidden, "saic:1", app_hash, None, 3)
    with pytest.raises(InvalidProof):  # another vehicle's page under this id
        verify_access_log_page(
            _doc(filled, "/vehicles/saic:2/access-log"), "saic:1", app_hash, None, 3
        )


def test_oem_page_refuses_a_pointer_to_another_oems_vehicle(filled: LogChain) -> None:
    filled.register("geely:1")
    filled.append("geely:1", 1)
    doc = _doc(filled, "/members/saic/access-log", limit=2)
    geely = _doc(filled, "/members/geely/access-log", limit=1)
    app_hash = bytes.fromhex(doc["app_hash"])
    assert geely["app_hash"] == doc["app_hash"]
    verify_oem_access_log_page(doc, "saic", app_hash, None, 2)
    bad = copy.deepcopy(doc)
    bad["events"][0]["pointer"] = geely["events"][0]["pointer"]
    with pytest.raises(InvalidProof):
        verify_oem_access_log_page(bad, "saic", app_hash, None, 2)
    bad = copy.deepcopy(doc)
    bad["events"][0]["record"] = doc["events"][1]["record"]
    with pytest.raises(InvalidProof):
        verify_oem_access_log_page(bad, "saic", app_hash, None, 2)


def test_client_refuses_a_page_whose_app_hash_is_not_the_headers(
    filled: LogChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk = filled.sdk()
    real = sdk.access_log_doc

    def lying(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return real(*args, **kwargs) | {"app_hash": "00" * 32}

    monkeypatch.setattr(sdk, "access_log_doc", lying)
    with pytest.raises(InvalidProof):
        sdk.access_log("saic:1")


def test_page_app_hash_against_a_trusted_header(filled: LogChain) -> None:
    sdk = filled.sdk()
    page = sdk.access_log("saic:1")
    section = build_block_section(sdk, page.proof_height, None)
    block_hash = bytes.fromhex(filled.get(f"/blocks/{page.proof_height}")["hash"])
    said = verify_page_header(page.app_hash, section, BlockTrust(trusted_hash=block_hash))
    assert said and block_hash.hex() in said[0]
    with pytest.raises(InvalidProof):
        verify_page_header(page.app_hash, section, BlockTrust(trusted_hash=b"\x01" * 32))
    with pytest.raises(InvalidProof):
        verify_page_header(b"\x02" * 32, section, BlockTrust(trusted_hash=block_hash))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(events="x"),
        lambda d: d.update(events=[1, 2, 3]),
        lambda d: d["events"][0].update(seq="4"),
        lambda d: d["events"][0].update(seq=True),
        lambda d: d["events"][0].pop("record"),
        lambda d: d["events"][0]["record"].update(value="zz"),
        lambda d: d["events"][0]["record"].update(proof={}),
        lambda d: d["events"][0]["record"].update(proof=[{"type": "iavl:v"}] * 2),
        lambda d: d.update(size=-1),
        lambda d: d.update(size_proof={"key": 1}),
        lambda d: d.update(height="5"),
        lambda d: d.update(proof_height=10**6),
    ],
)
def test_invalid_malformed_page_is_invalid_proof(filled: LogChain, mutate: Any) -> None:
    doc = _doc(filled, limit=3)
    app_hash = bytes.fromhex(doc["app_hash"])
    mutate(doc)
    with pytest.raises(InvalidProof):
        verify_access_log_page(doc, "saic:1", app_hash, None, 3)


def test_invalid_page_that_is_not_an_object(filled: LogChain) -> None:
    for raw in ([], "x", None):
        with pytest.raises(InvalidProof):
            verify_access_log_page(raw, "saic:1", b"\x00" * 32, None, 3)
        with pytest.raises(InvalidProof):
            verify_oem_access_log_page(raw, "saic", b"\x00" * 32, None, 3)


def test_a_new_vehicles_empty_log_is_proven_empty(log_chain: LogChain) -> None:
    log_chain.register("saic:7")
    page = log_chain.sdk().access_log("saic:7")
    assert (page.size, page.events, page.size_proven) == (0, [], True)
    oem = log_chain.sdk().oem_access_log("saic")
    assert (oem.size, oem.size_proven) == (0, True)


def test_an_oem_page_hiding_the_whole_log_is_refused(filled: LogChain) -> None:
    doc = _doc(filled, "/members/saic/access-log", limit=2)
    app_hash = bytes.fromhex(doc["app_hash"])
    hidden = doc | {"size_proof": None, "size": 0, "events": []}
    with pytest.raises(InvalidProof):
        verify_oem_access_log_page(hidden, "saic", app_hash, None, 2)


def test_an_oem_without_vehicles_has_a_proven_empty_log(filled: LogChain) -> None:
    page = filled.sdk().oem_access_log("geely")
    assert (page.size, page.events, page.size_proven) == (0, [], True)
