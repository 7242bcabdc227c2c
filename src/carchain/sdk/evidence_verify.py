"""Verifying an evidence bundle offline: every link, in order, the first broken one named.

The order (``docs/formats.md`` §14): ``manifest`` (shape, exactly the files present),
``file hash`` (each file's SHA-256), ``block->trust root`` (the bundle's block by the
caller's trust root, then every header chained to it), ``tx->block`` (each transaction
in its block), ``case state`` (the case, its releases, receipts and members under the
app hash), ``case transactions`` (the transactions are exactly the case's), then per
segment ``record->batch``, ``batch->anchor``, ``anchor->app hash``, and last
``record->case`` (each segment in the case's scope, each batch receipted by the officer
with the digest of exactly these records, every receipted batch present). What vouches
for the block is the caller's ``BlockTrust``, never the bundle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carchain.core.case_records import DAY_MS, Case, CaseScope
from carchain.crypto.merkle import compute_leaf_hash
from carchain.sdk.bundle_block import COMETBFT, BlockTrust
from carchain.sdk.evidence_case import ProvenCase, verify_case_state, verify_case_txs
from carchain.sdk.evidence_chain import (
    verify_header_chain,
    verify_top_block,
    verify_tx_entries,
)
from carchain.sdk.evidence_export import SEGMENT_FILE, is_safe_name
from carchain.sdk.evidence_manifest import (
    LINK_MANIFEST,
    Manifest,
    fail,
    parse_json_file,
    read_listed_files,
    read_manifest,
)
from carchain.sdk.evidence_records import ProvenSegment, verify_segment

LINK_RECORD_CASE = "record->case"
CHAIN_FILES = ("case/state.json", "chain/block.json", "chain/headers.json", "chain/txs.json")


@dataclass(frozen=True, slots=True)
class VerifiedEvidence:
    """What a successful verification established."""

    case: Case
    chain_id: str
    engine: str
    height: int
    block_hash: bytes
    app_hash: bytes
    trusted_by: tuple[str, ...]
    transactions: int
    segments: int
    records: int
    vehicles: tuple[str, ...]


def get_segment_paths(files: dict[str, bytes]) -> list[tuple[str, bytes, str]]:
    """Return (vehicle, header hash, category) of every records file; refuse any file
    the format does not name, or a records file without its proof (or the reverse)."""
    records: set[tuple[str, str]] = set()
    proofs: set[tuple[str, str]] = set()
    for path in files:
        if path in CHAIN_FILES:
            continue
        parts = path.split("/")
        ok = len(parts) == 3 and parts[0] in ("records", "proofs") and is_safe_name(parts[1])
        if not ok or not SEGMENT_FILE.match(parts[2]):
            raise fail(LINK_MANIFEST, f"{path[:80]} is no file of the evidence format")
        (records if parts[0] == "records" else proofs).add((parts[1], parts[2]))
    if records != proofs:
        odd = sorted(records ^ proofs)[0]
        raise fail(LINK_MANIFEST, f"{odd[0][:40]}/{odd[1]} lacks its records or its proof")
    out = []
    for vehicle, name in sorted(records):
        m = SEGMENT_FILE.match(name)
        if m is not None:
            out.append((vehicle, bytes.fromhex(m.group(1)), m.group(2)))
    return out


def validate_manifest_block(
    m: Manifest, chain_id: str, engine: str, height: int, digest: bytes
) -> None:
    """Raise unless the manifest names the block the bundle proves against."""
    state_h = height - 1 if engine == COMETBFT else height
    if (m.chain_id, m.engine, m.block_height, m.state_height, m.block_hash.lower()) != (
        chain_id, engine, height, state_h, digest.hex()
    ):  # fmt: skip
        raise fail(LINK_MANIFEST, "the manifest names another block than chain/block.json")


def verify_evidence(root: Path, trust: BlockTrust) -> VerifiedEvidence:
    """Check a bundle directory offline against the caller's trust root; raise
    ``InvalidProof`` (or a subclass) naming the first broken link."""
    m = read_manifest(root)
    segments = get_segment_paths({e.path: b"" for e in m.files})
    files = read_listed_files(root, m)
    docs = {p: parse_json_file(files, p, LINK_MANIFEST) for p in CHAIN_FILES}
    top, block = verify_top_block(docs["chain/block.json"], trust)
    validate_manifest_block(m, top.chain_id, top.engine, top.height, top.hash)
    chain = verify_header_chain(_list(docs["chain/headers.json"], "headers"), block, top.engine)
    txs = verify_tx_entries(_list(docs["chain/txs.json"], "txs"), chain, top.chain_id)
    pc = verify_case_state(docs["case/state.json"], top.app_hash, m.case_id)
    verify_case_txs(pc, txs)
    proven = []
    for vehicle, hh, cat in segments:
        where = (vehicle, hh, cat)
        name = f"{vehicle}/{hh.hex()}-{cat}.json"
        proof = parse_json_file(files, f"proofs/{name}", "record->batch")
        records = parse_json_file(files, f"records/{name}", "record->batch")
        proven.append(
            verify_segment(proof, records, where, top.app_hash, m.state_height, top.chain_id)
        )
    verify_records_in_case(pc, proven)
    return VerifiedEvidence(
        pc.case, top.chain_id, top.engine, top.height, top.hash, top.app_hash,
        tuple(top.trusted_by), len(txs), len(proven), sum(s.records for s in proven),
        tuple(sorted({s.vehicle_id for s in proven})),
    )  # fmt: skip


def _list(doc: Any, field: str) -> Any:
    return doc.get(field) if isinstance(doc, dict) else None


def is_in_scope(scope: CaseScope, vehicle_id: str, epoch: int, category: str) -> bool:
    """Return whether a vehicle x epoch x category lies in the case's authorised scope."""
    first, last = scope.data_from_ms // DAY_MS, (scope.data_until_ms - 1) // DAY_MS
    return vehicle_id in scope.vehicles and category in scope.categories and first <= epoch <= last


def compute_batch_digest(segments: list[ProvenSegment]) -> tuple[int, bytes]:
    """Return a batch's receipt (record count, digest) over its proven segments: SHA-256
    of the leaf hashes, categories in name order (§7.4)."""
    ordered = sorted(segments, key=lambda s: s.category)
    digest = hashlib.sha256(b"".join(compute_leaf_hash(x) for s in ordered for x in s.leaves))
    return len(frozenset().union(*(s.indices for s in ordered))), digest.digest()


def verify_records_in_case(pc: ProvenCase, segments: list[ProvenSegment]) -> None:
    """Link ``record->case``: each segment in the authorised scope; the batches are exactly
    the receipted ones, each with the record count and digest the officer signed."""
    scope = pc.case.scope
    by_batch: dict[tuple[str, bytes], list[ProvenSegment]] = {}
    for s in segments:
        if scope is None or not is_in_scope(scope, s.vehicle_id, s.header.epoch, s.category):
            raise fail(LINK_RECORD_CASE, f"{s.category} of {s.vehicle_id} epoch "
                       f"{s.header.epoch} lies outside the case's scope")  # fmt: skip
        by_batch.setdefault((s.vehicle_id, s.header_hash), []).append(s)
    receipted = {(r.vehicle_id, i.header_hash): i for r in pc.receipts for i in r.items}
    for key, segs in by_batch.items():
        item = receipted.get(key)
        if item is None or (item.record_count, item.records_digest) != compute_batch_digest(segs):
            raise fail(LINK_RECORD_CASE, f"batch {key[1].hex()[:16]}… of {key[0]} is not the "
                       "one the officer receipted (records left out or added)")  # fmt: skip
    if missing := sorted(set(receipted) - set(by_batch)):
        raise fail(LINK_RECORD_CASE, f"receipted batch {missing[0][1].hex()[:16]}… of "
                   f"{missing[0][0]} is not in the bundle")  # fmt: skip
