"""The pure parts of everyone's view: envelope decoding, disk sizes, block pages,
disclosure picking, the insurance-consent check (bad input included)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import msgspec
import pytest

from carchain.core.access_log import AccessEvent
from carchain.errors import InvalidProof
from carchain.sim.chain_figures import compute_dir_bytes, decode_envelope, iter_blocks
from carchain.sim.fleet import Car, ConsentChoice, Model
from carchain.sim.insurer_view import has_insurance_consent
from carchain.sim.oem_statements import compute_disclosed_vehicles


def _event(seq: int, kind: str, vehicle_id: str) -> AccessEvent:
    return AccessEvent(seq, kind, 1, 1, vehicle_id, b"", "", 0)


def _car(*choices: ConsentChoice) -> Car:
    return Car(0, "saic:000001", "saic", Model("RX5", 1600), 2024, "LSJA0000000000001",
               tuple(choices))  # fmt: skip


def test_decode_envelope() -> None:
    raw = msgspec.msgpack.encode(["chain", 1, b"\x01" * 32, 7, "anchor.submit", b"", b""])
    assert decode_envelope(base64.b64encode(raw).decode()) == (b"\x01" * 32, "anchor.submit",
                                                                len(raw))  # fmt: skip


@pytest.mark.parametrize(
    "tx",
    [
        "not base64!",
        base64.b64encode(b"\xc1").decode(),  # not msgpack
        base64.b64encode(msgspec.msgpack.encode([1, 2])).decode(),  # too short
        base64.b64encode(msgspec.msgpack.encode(["c", 1, "str", 1, 5])).decode(),  # wrong types
        base64.b64encode(msgspec.msgpack.encode({"a": 1})).decode(),  # not an array
    ],
)
def test_invalid_envelope(tx: str) -> None:
    with pytest.raises(InvalidProof):
        decode_envelope(tx)


def test_dir_bytes(tmp_path: Path) -> None:
    assert compute_dir_bytes(tmp_path / "missing") == 0
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 5)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    (tmp_path / "sub" / "deeper").mkdir()
    (tmp_path / "sub" / "deeper" / "c").write_bytes(b"z" * 3)
    (tmp_path / "dirlink").symlink_to(tmp_path / "sub")  # not followed
    assert compute_dir_bytes(tmp_path) == 18
    assert compute_dir_bytes(tmp_path / "a") == 0  # a file is no directory


def test_disclosed_vehicles_in_first_disclosure_order() -> None:
    events = [
        _event(0, "grant", "saic:1"),
        _event(1, "release", "saic:2"),
        _event(2, "request", "saic:3"),
        _event(3, "case_notice", "saic:1"),
        _event(4, "case_release", "saic:2"),
        _event(5, "refused", "saic:4"),
    ]
    assert compute_disclosed_vehicles(events) == ["saic:2", "saic:1"]
    assert compute_disclosed_vehicles([]) == []


def test_insurance_consent_needs_every_claim_category() -> None:
    full = ConsentChoice("insurance", ("crash_pulse", "motion", "time"))
    assert has_insurance_consent(_car(full))
    assert not has_insurance_consent(_car(ConsentChoice("insurance", ("motion", "time"))))
    assert not has_insurance_consent(_car(ConsentChoice("research", full.categories)))
    assert not has_insurance_consent(_car())


class PagedClient:
    """Serves ``GET /blocks/raw`` pages of ``size`` blocks from a list of heights."""

    def __init__(self, heights: list[int], size: int) -> None:
        self.heights, self.size = heights, size
        self.asked: list[int] = []

    def raw_blocks(self, from_height: int = 1, limit: int = 100) -> dict[str, Any]:
        self.asked.append(from_height)
        page = [h for h in self.heights if h >= from_height][: self.size]
        later = [h for h in self.heights if h > (page[-1] if page else from_height)]
        blocks = [{"height": h, "txs": []} for h in page]
        return {"blocks": blocks, "next_height": later[0] if later else None}


def test_chain_figures_read_every_block_once_a_page_at_a_time() -> None:
    client = PagedClient(list(range(1, 8)), 3)
    got = [b["height"] for b in iter_blocks(client, 6)]  # type: ignore[arg-type]
    assert got == [1, 2, 3, 4, 5, 6] and client.asked == [1, 4]  # block 7: after the count


def test_chain_figures_refuse_a_page_that_leaves_a_height_out() -> None:
    with pytest.raises(InvalidProof):
        list(iter_blocks(PagedClient([1, 2, 4, 5], 3), 5))  # type: ignore[arg-type]
    with pytest.raises(InvalidProof):
        list(iter_blocks(PagedClient([1, 2], 3), 5))  # type: ignore[arg-type]
