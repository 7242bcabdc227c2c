"""The anchor.submit transition: one gateway root per OEM per block, gapless sequence."""

from __future__ import annotations

import msgspec

from carchain.core.anchors import (
    STORE,
    Anchor,
    AnchorHead,
    SubmitAnchor,
    compute_anchor_key,
    compute_head_key,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401


def body(seq: int = 1, **kw: object) -> SubmitAnchor:
    fields: dict[str, object] = {
        "seq": seq,
        "root": bytes([seq]) * 32,
        "batch_count": 3,
        "record_count": 300,
        "start_ms": 1000,
        "end_ms": 2000,
        "manifest_hash": b"m" * 32,
    }
    fields.update(kw)
    return SubmitAnchor(**fields)  # type: ignore[arg-type]


def test_oem_anchors_a_gateway_root(chain: CoreChain) -> None:
    result = chain.send("saic", body())
    anchor = chain.read(STORE, compute_anchor_key("saic", 1), Anchor)
    assert anchor.root == b"\x01" * 32 and anchor.oem == "saic"
    assert anchor.signer == chain.key("saic").public_key
    assert anchor.height == chain.app.state.height
    assert chain.read(STORE, compute_head_key("saic"), AnchorHead) == AnchorHead(1, anchor.height)
    assert any(e.type == "anchor_submitted" for e in result.events)
    chain.send("saic", body(2))
    chain.send("geely", body(1))  # sequences are per OEM


def test_invalid_non_oem_cannot_anchor(chain: CoreChain) -> None:
    assert chain.reject("bosch", body()) == "unauthorized"
    assert chain.reject("outsider", body()) == "unauthorized"


def test_invalid_sequence_gap_or_repeat(chain: CoreChain) -> None:
    assert chain.reject("saic", body(2)) == "invalid_state"
    chain.send("saic", body(1))
    assert chain.reject("saic", body(1)) == "invalid_state"


def test_invalid_second_anchor_in_one_block(chain: CoreChain) -> None:
    first = chain.build("saic", body(1))
    second = chain.build("saic", body(2))
    assert chain.submit(first).ok and chain.submit(second).ok
    results = chain.block()
    assert [r.code == 0 for r in results] == [True, False]
    assert results[1].error_code == "invalid_state"
    assert chain.read(STORE, compute_anchor_key("saic", 2), Anchor) is None
    # Other OEMs anchor in the same block: one per gateway, not one per chain.
    a, b = chain.build("saic", body(2)), chain.build("geely", body(1))
    assert chain.submit(a).ok and chain.submit(b).ok
    assert [r.code for r in chain.block()] == [0, 0]


def test_invalid_bodies(chain: CoreChain) -> None:
    for bad in (
        body(root=b"short"),
        body(manifest_hash=b""),
        body(batch_count=0),
        body(record_count=2),
        body(start_ms=3000),
    ):
        assert chain.reject("saic", bad) == "invalid_body"
    assert msgspec.msgpack.encode(body())  # well-formed bodies encode
