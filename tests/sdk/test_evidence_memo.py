"""The exporter's shared reads: each batch proof asked once, each proven state key read
once per height; the bundle is the one unshared reads give, and a bad answer still fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carchain.data.batches import BatchHeader, decode_signed_header
from carchain.errors import InvalidProof
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.evidence_export import (
    DataSegment,
    MemoSource,
    build_evidence,
    build_proof,
    read_data_dir,
    write_evidence,
)
from carchain.sdk.evidence_manifest import MANIFEST, encode_json
from carchain.sdk.evidence_records import StateReads
from carchain.sdk.evidence_verify import verify_evidence
from tests.sdk.evidence_world import CaseWorld, WorldSource, case_world

__all__ = ["case_world"]


class CountingSource(WorldSource):
    """The world's source, counting the batch proofs asked and optionally spoiling them."""

    def __init__(self, w: CaseWorld, spoil: bool = False) -> None:
        super().__init__(w.gclient, w.keys)
        self.asked: list[bytes] = []
        self.spoil = spoil

    def get_batch_proof(self, vehicle_id: str, header_hash: bytes) -> dict[str, Any]:
        self.asked.append(header_hash)
        doc = super().get_batch_proof(vehicle_id, header_hash)
        if self.spoil:  # another anchor transaction: one byte of its signature changed
            tx = bytearray(bytes.fromhex(doc["anchor"]["tx"]))
            tx[-1] ^= 1
            doc = {**doc, "anchor": {**doc["anchor"], "tx": tx.hex()}}
        return doc


def trust_of(w: CaseWorld) -> BlockTrust:
    return BlockTrust(trusted_hash=bytes.fromhex(w.header["hash"]))


def test_memoised_export_equals_unshared_reads_and_verifies(
    case_world: CaseWorld, tmp_path: Path
) -> None:
    w = case_world
    _, segments = read_data_dir(w.data)
    source = CountingSource(w)
    files = build_evidence(w.client, w.case_id, segments, source)
    batches = {s.header_hash for s in segments}
    assert len(segments) > len(batches)  # several segments share a batch
    assert sorted(source.asked) == sorted(batches)  # each batch's proof asked once
    state_h = json.loads(files[MANIFEST])["state_height"]
    for seg in segments:  # each segment alone: a fresh source, no shared reads
        alone = build_proof(w.client, seg, WorldSource(w.gclient, w.keys), state_h)
        assert files[seg.get_path("proofs")] == encode_json(alone)
    write_evidence(tmp_path / "bundle", files)
    assert verify_evidence(tmp_path / "bundle", trust_of(w)).segments == len(segments)


def test_a_spoiled_batch_proof_shared_by_segments_still_fails(
    case_world: CaseWorld, tmp_path: Path
) -> None:
    w = case_world
    _, segments = read_data_dir(w.data)
    files = build_evidence(w.client, w.case_id, segments, CountingSource(w, spoil=True))
    write_evidence(tmp_path / "bundle", files)
    with pytest.raises(InvalidProof) as exc:
        verify_evidence(tmp_path / "bundle", trust_of(w))
    assert exc.value.fields.get("link") == "batch->anchor"


def test_memo_source_asks_once_per_batch_and_keys_each_time(case_world: CaseWorld) -> None:
    w = case_world
    _, segments = read_data_dir(w.data)
    keys: list[DataSegment] = []

    class Keys(CountingSource):
        def get_segment_key(self, segment: DataSegment, header: BatchHeader) -> bytes:
            keys.append(segment)
            return super().get_segment_key(segment, header)

    inner = Keys(w)
    memo = MemoSource(inner)
    seg = segments[0]
    first = memo.get_batch_proof(seg.vehicle_id, seg.header_hash)
    assert memo.get_batch_proof(seg.vehicle_id, seg.header_hash) is first
    assert inner.asked == [seg.header_hash]
    header = decode_signed_header(bytes.fromhex(first["batch_header"])).header
    assert memo.get_segment_key(seg, header) == memo.get_segment_key(seg, header)
    assert keys == [seg, seg]  # segment keys are not memoised here


class FakeClient:
    """Answers state queries from a table, counting them."""

    def __init__(self, height: int) -> None:
        self.height = height
        self.calls = 0

    def query(self, store: str, key: bytes, prove: bool = False, height: int = 0) -> dict[str, Any]:
        self.calls += 1
        return {"height": self.height, "value": "ab", "proof": {"nodes": [1]}}


def test_state_reads_read_once_per_height_and_give_copies() -> None:
    client = FakeClient(7)
    reads = StateReads(client)  # type: ignore[arg-type]
    a = reads.read_proven("vehicles", b"k", 7)
    a["value"] = "changed"
    b = reads.read_proven("vehicles", b"k", 7)
    assert b == {"key": b"k".hex(), "value": "ab", "proof": {"nodes": [1]}}
    assert client.calls == 1
    reads.read_proven("vehicles", b"other", 7)
    assert client.calls == 2


def test_state_reads_still_refuse_an_answer_of_another_height() -> None:
    reads = StateReads(FakeClient(8))  # type: ignore[arg-type]
    for _ in range(2):  # a refused answer is not kept
        with pytest.raises(InvalidProof):
            reads.read_proven("vehicles", b"k", 7)
