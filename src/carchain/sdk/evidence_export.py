"""Building an evidence bundle (``carchain/evidence/v1``) from an officer's data directory.

The data directory is what ``carchain case fetch`` writes: ``case.json`` (``case_id``,
``chain_id``, ``items``: ``{vehicle_id, header_hash, category, epoch}``) and one
decrypted-records file per segment, ``<vehicle>/<header hash>-<category>.json``. The
bundle re-proves everything from the chain at ONE state height: the case and its
records, every record's segment down to the app hash, the case's transactions with
their inclusion proofs and the header chain from the case's first block to the block
whose app hash the state proofs check against. The segment keys (to salt the leaves)
and the gateway's batch proofs come from a ``SegmentSource``: the officer's, or any
holder's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msgspec

from carchain.core.case_records import STORE as CASES_STORE
from carchain.core.case_records import ShareRelease
from carchain.core.escrow_releases import CaseReceiptRecord
from carchain.data.batches import BatchHeader, decode_signed_header
from carchain.data.projections import Projection
from carchain.errors import (
    InvalidOption,
    InvalidProof,
    MalformedBundle,
    ProofUnavailable,
)
from carchain.sdk.bundle_block import COMETBFT
from carchain.sdk.bundle_format import decode_strict_json
from carchain.sdk.client import Client
from carchain.sdk.evidence_case import (
    build_case_state,
    build_member_proofs,
    compute_case_key,
    compute_case_members,
    is_case_tx,
)
from carchain.sdk.evidence_chain import build_case_txs, build_header_chain
from carchain.sdk.evidence_manifest import MANIFEST, compute_manifest, encode_json, write_private
from carchain.sdk.evidence_records import StateReads, build_segment_proof, parse_record_doc
from carchain.sdk.record_proofs import build_block_section, get_answer_int

SEGMENT_FILE = re.compile(r"^([0-9a-f]{64})-([a-z][a-z0-9_]*)\.json$")


@dataclass(frozen=True, slots=True)
class DataSegment:
    """One decrypted segment of the data directory."""

    vehicle_id: str
    header_hash: bytes
    category: str
    projections: list[Projection]
    raw: bytes

    def get_path(self, top: str) -> str:
        """Return the segment's path in the bundle under ``top`` (records, proofs)."""
        return f"{top}/{self.vehicle_id}/{self.header_hash.hex()}-{self.category}.json"


class SegmentSource(Protocol):
    """Where the exporter gets what the data directory lacks."""

    def get_batch_proof(self, vehicle_id: str, header_hash: bytes) -> dict[str, Any]:
        """Return the gateway's batch proof (``batch_header``, ``batch_proof``, ``anchor``)."""

    def get_segment_key(self, segment: DataSegment, header: BatchHeader) -> bytes:
        """Return the segment key of ``segment`` (it salts the segment's leaves)."""


class MemoSource:
    """A ``SegmentSource`` that asks its source for each batch's proof once: several
    segments (categories) of a batch share it. Segment keys are asked as before."""

    def __init__(self, source: SegmentSource) -> None:
        self.source = source
        self._proofs: dict[tuple[str, bytes], dict[str, Any]] = {}

    def get_batch_proof(self, vehicle_id: str, header_hash: bytes) -> dict[str, Any]:
        """Return the source's batch proof of the batch, asked for once."""
        where = (vehicle_id, header_hash)
        if where not in self._proofs:
            self._proofs[where] = self.source.get_batch_proof(vehicle_id, header_hash)
        return self._proofs[where]

    def get_segment_key(self, segment: DataSegment, header: BatchHeader) -> bytes:
        """Return the source's segment key of ``segment``."""
        return self.source.get_segment_key(segment, header)


def is_safe_name(name: str) -> bool:
    """Return whether a vehicle id can name a bundle directory."""
    return bool(name) and name not in (".", "..") and not set(name) & set("/\\\x00")


def read_data_dir(data: Path) -> tuple[int, list[DataSegment]]:
    """Return the case id and every listed segment of a ``case fetch`` data directory."""
    try:
        doc = decode_strict_json((data / "case.json").read_bytes())
        case_id = int(doc["case_id"])
        items = {(str(i["vehicle_id"]), str(i["header_hash"]), str(i["category"]))
                 for i in doc["items"]}  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MalformedBundle(f"cannot read {data}/case.json: {str(exc)[:120]}") from exc
    return case_id, [read_data_segment(data, *item) for item in sorted(items)]


def read_data_segment(data: Path, vehicle_id: str, header_hex: str, category: str) -> DataSegment:
    """Return one decrypted segment of the data directory."""
    name = f"{header_hex}-{category}.json"
    if not is_safe_name(vehicle_id) or not SEGMENT_FILE.match(name):
        raise MalformedBundle(f"data directory item {vehicle_id[:40]}/{name[:80]} is not plain")
    path = data / vehicle_id / name
    try:
        raw = path.read_bytes()
        projections = parse_record_doc(decode_strict_json(raw), category)
    except (OSError, ValueError) as exc:
        raise MalformedBundle(f"cannot read {path}: {str(exc)[:120]}") from exc
    return DataSegment(vehicle_id, bytes.fromhex(header_hex), category, projections, raw)


def get_proof_heights(client: Client, case_id: int) -> tuple[int, int]:
    """Return (state height, proof height): the latest state a committed header proves."""
    height = 0
    for _ in range(2):
        doc = client.query(CASES_STORE, compute_case_key(case_id), prove=True, height=height)
        state = get_answer_int(doc, "height")
        if "proof_height" in doc:
            return state, get_answer_int(doc, "proof_height")
        height = state - 1  # a network's latest state: its header is not yet made
    raise InvalidProof("the node proves no recent state of the case", height=height)


def build_evidence(
    client: Client,
    case_id: int,
    segments: list[DataSegment],
    source: SegmentSource,
    rpc_url: str | None = None,
) -> dict[str, bytes]:
    """Return every file of the bundle (path -> bytes), the manifest included."""
    status = client.status()
    engine, chain_id = str(status["engine"]), str(status["chain_id"])
    if engine == COMETBFT and not rpc_url:
        raise InvalidOption(
            "an evidence bundle on a network needs the CometBFT RPC URL (--rpc)", option="--rpc"
        )
    state_h, proof_h = get_proof_heights(client, case_id)
    state, case = build_case_state(client, case_id, state_h)
    validate_complete(state, segments)
    files: dict[str, bytes] = {}
    releases = [_release(d) for d in state["releases"]]
    state["members"] = build_member_proofs(client, compute_case_members(case, releases), state_h)
    files["case/state.json"] = encode_json(state)
    txs = build_case_txs(client, case.opened_height, state_h, lambda e, h: is_case_tx(e, h, case))
    files["chain/txs.json"] = encode_json({"txs": txs})
    top = build_block_section(client, proof_h, rpc_url)
    files["chain/block.json"] = encode_json(top)
    headers = build_header_chain(client, case.opened_height, proof_h, rpc_url)
    files["chain/headers.json"] = encode_json({"headers": headers})
    memo, reads = MemoSource(source), StateReads(client)
    for seg in segments:
        files[seg.get_path("records")] = seg.raw
        proof = build_proof(client, seg, memo, state_h, reads)
        files[seg.get_path("proofs")] = encode_json(proof)
    head = {"case_id": case_id, "chain_id": chain_id, "engine": engine}
    head |= {"state_height": state_h, "block_height": proof_h, "block_hash": top["hash"]}
    files[MANIFEST] = compute_manifest(head, files)
    return files


def validate_complete(state: dict[str, Any], segments: list[DataSegment]) -> None:
    """Raise ``ProofUnavailable`` unless the data directory holds exactly the batches the
    officer receipted on chain (a bundle without them would not verify)."""
    receipted = set()
    for doc in state["receipts"]:
        r = msgspec.msgpack.decode(bytes.fromhex(doc["value"]), type=CaseReceiptRecord)
        receipted |= {(r.vehicle_id, i.header_hash) for i in r.items}
    held = {(s.vehicle_id, s.header_hash) for s in segments}
    for what, odd in (
        ("lacks receipted", receipted - held),
        ("holds unreceipted", held - receipted),
    ):
        if odd:
            vehicle, hh = sorted(odd)[0]
            raise ProofUnavailable(
                f"the data directory {what} batch {hh.hex()[:16]}… of {vehicle}: the bundle "
                "must hold exactly the batches the officer receipted (run case fetch again)",
                field="items",
            )


def _release(doc: dict[str, Any]) -> ShareRelease:
    return msgspec.msgpack.decode(bytes.fromhex(doc["value"]), type=ShareRelease)


def build_proof(
    client: Client,
    seg: DataSegment,
    source: SegmentSource,
    height: int,
    reads: StateReads | None = None,
) -> dict[str, Any]:
    """Return the proof file of one segment of the data directory (``reads``: the node
    reads the export's segments share)."""
    batch = source.get_batch_proof(seg.vehicle_id, seg.header_hash)
    header = decode_signed_header(bytes.fromhex(str(batch["batch_header"]))).header
    key = source.get_segment_key(seg, header)
    return build_segment_proof(seg.category, seg.projections, key, batch, client, height, reads)


def write_evidence(out: Path, files: dict[str, bytes]) -> None:
    """Write the bundle's files under ``out`` (created 0700; refused if not empty)."""
    if out.is_symlink() or (out.exists() and any(out.iterdir())):
        raise InvalidOption(f"{out} exists and is not an empty directory", option="--out")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for rel in sorted(files):
        if rel != MANIFEST:
            write_private(out, rel, files[rel])
    # The manifest last: a bundle an interrupted export left has none and never verifies.
    write_private(out, MANIFEST, files[MANIFEST])
