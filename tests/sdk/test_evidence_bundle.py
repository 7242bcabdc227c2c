"""An evidence bundle of a real case: it verifies, and each tampering fails at its link."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from carchain.core.transactions import decode_envelope
from carchain.data.batches import decode_signed_header, open_batch_segments
from carchain.data.custody import open_batch_category_keys
from carchain.errors import CarchainError, InvalidProof, NoTrustRoot, ProofUnavailable
from carchain.sdk.bundle_block import BlockTrust, compute_block_section_hash
from carchain.sdk.evidence_export import build_evidence, read_data_dir, write_evidence
from carchain.sdk.evidence_manifest import MANIFEST, compute_manifest, encode_json
from carchain.sdk.evidence_records import build_segment_proof, compute_record_doc
from carchain.sdk.evidence_verify import verify_evidence
from tests.conftest import seeded_key
from tests.sdk.evidence_world import CaseWorld, WorldSource, case_world

__all__ = ["case_world"]


def test_bundle_of_a_real_case_verifies(case_world: CaseWorld) -> None:
    w = case_world
    v = verify_evidence(w.bundle, BlockTrust(trusted_hash=bytes.fromhex(w.header["hash"])))
    assert v.case.case_id == w.case_id and v.case.state == "closed"
    assert v.vehicles == ("saic:1", "saic:2") and v.segments == 4 and v.records > 0
    # open, authorize, 3 approvals, 3 releases, 2 receipts (one per car), report, close
    assert v.transactions == 1 + 1 + 3 + 3 + 2 + 1 + 1
    assert v.trusted_by and "--trust-hash" in v.trusted_by[0]


# --- tampering: each link ------------------------------------------------------------------


def copy_bundle(w: CaseWorld, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    shutil.copytree(w.bundle, out)
    return out


def rehash(root: Path) -> None:
    """Rewrite the manifest over the files as they now are (a consistent forger)."""
    doc = json.loads((root / MANIFEST).read_text())
    head = {k: v for k, v in doc.items() if k not in ("format", "files")}
    files = {p.relative_to(root).as_posix(): p.read_bytes()
             for p in root.rglob("*") if p.is_file() and p.name != MANIFEST}  # fmt: skip
    (root / MANIFEST).write_bytes(compute_manifest(head, files))


def trust_of(w: CaseWorld) -> BlockTrust:
    return BlockTrust(trusted_hash=bytes.fromhex(w.header["hash"]))


def fails_at(link: str, root: Path, w: CaseWorld, trust: BlockTrust | None = None) -> str:
    with pytest.raises(InvalidProof) as exc:
        verify_evidence(root, trust or trust_of(w))
    assert exc.value.fields.get("link") == link, exc.value.message
    return exc.value.message


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=1))


def first(root: Path, top: str, vehicle: str = "saic:1", category: str = "location") -> Path:
    return next((root / top / vehicle).glob(f"*-{category}.json"))


def test_edited_record_field_fails_at_file_hash_then_record_to_batch(
    case_world: CaseWorld, tmp_path: Path
) -> None:
    root = copy_bundle(case_world, tmp_path)

    def change(doc: Any) -> None:
        doc[0]["fields"]["lat"] = doc[0]["fields"]["lat"] + 0.5

    edit_json(first(root, "records"), change)
    fails_at("file hash", root, case_world)
    rehash(root)
    fails_at("record->batch", root, case_world)


def test_dropped_record_fails_at_record_to_batch(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)
    edit_json(first(root, "records"), lambda d: d.pop(3))
    edit_json(first(root, "proofs"), lambda d: d["leaves"].pop(3))
    rehash(root)
    assert "leaf count" in fails_at("record->batch", root, case_world)


def test_dropped_segment_fails_at_record_to_case(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)
    first(root, "records", category="motion").unlink()
    first(root, "proofs", category="motion").unlink()
    rehash(root)
    assert "receipted" in fails_at("record->case", root, case_world)


def test_dropped_vehicle_fails_at_record_to_case(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)
    shutil.rmtree(root / "records" / "saic:2")
    shutil.rmtree(root / "proofs" / "saic:2")
    rehash(root)
    assert "not in the bundle" in fails_at("record->case", root, case_world)


def test_proof_swapped_between_segments_fails_at_record_to_batch(
    case_world: CaseWorld, tmp_path: Path
) -> None:
    root = copy_bundle(case_world, tmp_path)
    a, b = first(root, "proofs", "saic:1"), first(root, "proofs", "saic:2")
    raw_a, raw_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(raw_b)
    b.write_bytes(raw_a)
    rehash(root)
    fails_at("record->batch", root, case_world)


def test_swapped_state_proof_fails_at_anchor_to_app_hash(
    case_world: CaseWorld, tmp_path: Path
) -> None:
    root = copy_bundle(case_world, tmp_path)

    def change(doc: Any) -> None:
        st = doc["state"]
        st["anchor"]["proof"] = st["key_period"]["proof"]

    edit_json(first(root, "proofs"), change)
    rehash(root)
    fails_at("anchor->app hash", root, case_world)


def test_edited_batch_proof_fails_at_batch_to_anchor(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)

    def change(doc: Any) -> None:
        doc["batch_proof"]["total"] = doc["batch_proof"]["total"] + 1

    edit_json(first(root, "proofs"), change)
    rehash(root)
    fails_at("batch->anchor", root, case_world)


def test_edited_tx_fails_at_tx_to_block(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)

    def change(doc: Any) -> None:
        raw = bytearray.fromhex(doc["txs"][2]["tx"])
        raw[-70] ^= 1
        doc["txs"][2]["tx"] = raw.hex()

    edit_json(root / "chain/txs.json", change)
    rehash(root)
    fails_at("tx->block", root, case_world)


def test_dropped_approval_tx_fails_at_case_transactions(
    case_world: CaseWorld, tmp_path: Path
) -> None:
    root = copy_bundle(case_world, tmp_path)

    def change(doc: Any) -> None:
        types = [decode_envelope(bytes.fromhex(t["tx"])).type for t in doc["txs"]]
        del doc["txs"][types.index("case.approve")]

    edit_json(root / "chain/txs.json", change)
    rehash(root)
    assert "case.approve" in fails_at("case transactions", root, case_world)


def test_dropped_report_tx_fails_at_case_transactions(
    case_world: CaseWorld, tmp_path: Path
) -> None:
    root = copy_bundle(case_world, tmp_path)

    def change(doc: Any) -> None:
        types = [decode_envelope(bytes.fromhex(t["tx"])).type for t in doc["txs"]]
        del doc["txs"][types.index("case.report")]

    edit_json(root / "chain/txs.json", change)
    rehash(root)
    assert "case.report" in fails_at("case transactions", root, case_world)


def test_changed_header_fails_at_block_to_trust_root(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)

    def change(doc: Any) -> None:
        section = doc["headers"][0]
        section["header"]["tx_root"] = "00" * 32
        section["hash"] = compute_block_section_hash(section)[1].hex()

    edit_json(root / "chain/headers.json", change)
    rehash(root)
    assert "does not chain" in fails_at("block->trust root", root, case_world)


def test_changed_block_fails_at_block_to_trust_root(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)

    def change(doc: Any) -> None:
        doc["header"]["app_hash"] = "11" * 32
        doc["hash"] = compute_block_section_hash(doc)[1].hex()

    edit_json(root / "chain/block.json", change)
    rehash(root)
    assert "trusted hash" in fails_at("block->trust root", root, case_world)


def test_edited_case_record_fails_at_case_state(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)

    def change(doc: Any) -> None:
        raw = bytearray.fromhex(doc["case"]["value"])
        raw[-1] ^= 1
        doc["case"]["value"] = raw.hex()

    edit_json(root / "case/state.json", change)
    rehash(root)
    fails_at("case state", root, case_world)


def test_dropped_release_fails_at_case_state(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)
    edit_json(root / "case/state.json", lambda d: d["releases"].pop())
    rehash(root)
    fails_at("case state", root, case_world)


def test_hidden_release_counter_fails_at_case_state(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)

    def change(doc: Any) -> None:
        doc["releases_count"] = None
        doc["releases"] = []

    edit_json(root / "case/state.json", change)
    rehash(root)
    fails_at("case state", root, case_world)


def test_stripped_receipts_and_data_fail_at_case_state(
    case_world: CaseWorld, tmp_path: Path
) -> None:
    # Hide the receipt counter (as if never written), the receipts, their transactions
    # and every decrypted record: what is left is a case "with no evidence".
    root = copy_bundle(case_world, tmp_path)

    def strip_state(doc: Any) -> None:
        doc["receipts_count"] = None
        doc["receipts"] = []

    def strip_txs(doc: Any) -> None:
        doc["txs"] = [
            t for t in doc["txs"] if decode_envelope(bytes.fromhex(t["tx"])).type != "case.receipt"
        ]

    edit_json(root / "case/state.json", strip_state)
    edit_json(root / "chain/txs.json", strip_txs)
    shutil.rmtree(root / "records")
    shutil.rmtree(root / "proofs")
    rehash(root)
    assert "never written" in fails_at("case state", root, case_world)


@pytest.mark.parametrize("name", ["releases", "receipts"])
@pytest.mark.parametrize("junk", [None, 0, 1.5, True, "x", {}])
def test_record_list_of_another_type_fails_typed(
    case_world: CaseWorld, tmp_path: Path, name: str, junk: Any
) -> None:
    root = copy_bundle(case_world, tmp_path)
    edit_json(root / "case/state.json", lambda d: d.__setitem__(name, junk))
    rehash(root)
    fails_at("case state", root, case_world)


def test_unreadable_files_fail_typed(
    case_world: CaseWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A listed file that cannot be opened (permissions; swapped for a symlink after the
    # listing: O_NOFOLLOW's ELOOP) or a directory that cannot be listed: named links,
    # never a bare OSError.
    import os

    from carchain.sdk import evidence_manifest

    root = copy_bundle(case_world, tmp_path)

    def denied(*_: Any, **__: Any) -> int:
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as m:
        m.setattr(evidence_manifest.os, "open", denied)
        fails_at("file hash", root, case_world)

    def walk_denied(top: Any, onerror: Any = None, **kw: Any) -> Any:
        if onerror is not None:
            onerror(PermissionError(13, "Permission denied", str(top)))
        return iter(())

    with monkeypatch.context() as m:
        m.setattr(evidence_manifest.os, "walk", walk_denied)
        fails_at("manifest", root, case_world)
    assert os.path.isdir(root)


def test_edited_manifest_fails(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)
    edit_json(root / MANIFEST, lambda d: d["files"][0].update(sha256="00" * 32))
    fails_at("file hash", root, case_world)
    root = copy_bundle(case_world, tmp_path / "2")
    edit_json(root / MANIFEST, lambda d: d.update(format="carchain/evidence/v0"))
    fails_at("manifest", root, case_world)
    root = copy_bundle(case_world, tmp_path / "3")
    edit_json(root / MANIFEST, lambda d: d.update(block_height=d["block_height"] - 1))
    fails_at("manifest", root, case_world)
    root = copy_bundle(case_world, tmp_path / "4")
    edit_json(root / MANIFEST, lambda d: d.update(case_id=d["case_id"] + 1))
    fails_at("case state", root, case_world)
    root = copy_bundle(case_world, tmp_path / "5")
    edit_json(root / MANIFEST, lambda d: d["files"].pop())
    assert "not in the manifest" in fails_at("manifest", root, case_world)


def test_added_unlisted_file_fails_at_manifest(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)
    (root / "records" / "note.txt").write_text("planted")
    assert "not in the manifest" in fails_at("manifest", root, case_world)
    rehash(root)  # listed, but no file of the format
    assert "no file of the evidence format" in fails_at("manifest", root, case_world)


def test_missing_file_and_symlink_fail_at_manifest(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)
    (root / "chain/txs.json").unlink()
    assert "missing" in fails_at("manifest", root, case_world)
    root = copy_bundle(case_world, tmp_path / "2")
    target = root / "chain/txs.json"
    moved = tmp_path / "txs.json"
    target.rename(moved)
    target.symlink_to(moved)
    assert "symlink" in fails_at("manifest", root, case_world)


def test_wrong_trust_root_fails(case_world: CaseWorld) -> None:
    w = case_world
    fails_at("block->trust root", w.bundle, w, BlockTrust(trusted_hash=b"\x07" * 32))
    other = BlockTrust(trusted_hash=bytes.fromhex(w.header["hash"]), chain_id="other-chain")
    fails_at("block->trust root", w.bundle, w, other)
    with pytest.raises(NoTrustRoot):
        verify_evidence(w.bundle, BlockTrust())


def test_own_header_copy_is_a_trust_root(case_world: CaseWorld) -> None:
    v = verify_evidence(case_world.bundle, BlockTrust(own_header=case_world.header))
    assert "your own copy" in v.trusted_by[0]


def test_out_of_scope_segment_fails_at_record_to_case(
    case_world: CaseWorld, tmp_path: Path
) -> None:
    """A forger adds a fully proven segment of a category the case did not cover."""
    w = case_world
    root = copy_bundle(w, tmp_path)
    doc = next(d for d in w.gclient.batches("saic:1", anchored_only=True))
    hh = bytes.fromhex(doc["header_hash"])
    batch = w.gclient.batch_proof(hh)
    signed = decode_signed_header(bytes.fromhex(batch["batch_header"]))
    keys = open_batch_category_keys(signed, w.gclient.key_envelope, seeded_key("owner/saic:1"))
    seg = open_batch_segments(signed, w.gclient.ciphertext(hh), keys)["time"]
    state_h = json.loads((root / MANIFEST).read_text())["state_height"]
    proof = build_segment_proof("time", seg.projections, seg.segment_key, batch, w.client, state_h)
    name = f"saic:1/{hh.hex()}-time.json"
    (root / "records" / name).write_bytes(encode_json(compute_record_doc(seg.projections)))
    (root / "proofs" / name).write_bytes(encode_json(proof))
    rehash(root)
    assert "outside the case's scope" in fails_at("record->case", root, w)


def test_bundle_files_are_private(case_world: CaseWorld) -> None:
    modes = {p.stat().st_mode & 0o777 for p in case_world.bundle.rglob("*") if p.is_file()}
    assert modes == {0o600}


def test_export_refuses_a_non_empty_or_symlinked_directory(
    case_world: CaseWorld, tmp_path: Path
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(CarchainError):
        write_evidence(tmp_path / "full", case_world.files)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CarchainError):
        write_evidence(tmp_path / "link", case_world.files)
    assert not any((tmp_path / "elsewhere").iterdir())


GARBAGE: list[Any] = [None, 1, "x", [], {}, [1], {"a": 1}, [None], [{}]]


def _mutations(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Yield the path of every value in ``doc`` (depth-first, a bounded sample)."""
    yield path
    if isinstance(doc, dict):
        for k, v in list(doc.items())[:8]:
            yield from _mutations(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:2]):
            yield from _mutations(v, (*path, i))


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    "name", ["chain/block.json", "chain/headers.json", "chain/txs.json", "case/state.json"]
)
def test_malformed_chain_files_fail_typed(case_world: CaseWorld, tmp_path: Path, name: str) -> None:
    """Any value of a file replaced by garbage (the manifest rewritten): a typed
    ``InvalidProof`` naming a link, never another exception."""
    root = copy_bundle(case_world, tmp_path)
    original = json.loads((root / name).read_text())
    paths = list(_mutations(original))[:60]
    for i, path in enumerate(paths):
        value = GARBAGE[i % len(GARBAGE)]
        if _get(original, path) == value:
            continue  # no change (e.g. the empty aunts of a one-transaction block)
        doc = _set(json.loads(json.dumps(original)), path, value)
        (root / name).write_text(json.dumps(doc))
        rehash(root)
        with pytest.raises(InvalidProof) as exc:
            verify_evidence(root, trust_of(case_world))
        assert exc.value.fields.get("link"), (path, exc.value.message)


def test_malformed_segment_files_fail_typed(case_world: CaseWorld, tmp_path: Path) -> None:
    root = copy_bundle(case_world, tmp_path)
    for top in ("proofs", "records"):
        target = first(root, top)
        original = json.loads(target.read_text())
        for i, path in enumerate(list(_mutations(original))[:60]):
            if _get(original, path) == GARBAGE[i % len(GARBAGE)]:
                continue
            doc = _set(json.loads(json.dumps(original)), path, GARBAGE[i % len(GARBAGE)])
            target.write_text(json.dumps(doc))
            rehash(root)
            with pytest.raises(InvalidProof) as exc:
                verify_evidence(root, trust_of(case_world))
            assert exc.value.fields.get("link"), (top, path, exc.value.message)
        target.write_text(json.dumps(original))


def test_export_refuses_an_incomplete_data_directory(case_world: CaseWorld) -> None:
    """The officer's data directory must hold every batch it receipted, nothing else."""
    w = case_world
    _, segments = read_data_dir(w.data)
    source = WorldSource(w.gclient, w.keys)
    without = [s for s in segments if s.vehicle_id != "saic:2"]
    with pytest.raises(ProofUnavailable) as exc:
        build_evidence(w.client, w.case_id, without, source)
    assert "lacks receipted batch" in exc.value.message and "saic:2" in exc.value.message
    with pytest.raises(ProofUnavailable):
        build_evidence(w.client, w.case_id, [], source)
