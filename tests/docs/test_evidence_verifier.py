"""An evidence bundle checked by a verifier written from docs/formats.md §14 alone.

Like ``test_bundle_verifier`` (whose §11 checks it reuses for each segment's anchor
links), nothing of carchain is imported by the verifier: MessagePack is decoded
generically (canonical form re-checked), hashes, trees and signatures come from
hashlib and pyca/cryptography. The bundle is a real case's (tests/sdk/evidence_world);
the verifier accepts it and refuses the tamperings the page says it must.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.docs import reference as ref
from tests.docs.reference import mp, sha256, u64be
from tests.docs.test_bundle_verifier import (
    Refused,
    check_anchor,
    check_signature,
    check_vehicle_key,
    decode,
    proof,
    solo_block_hash,
    state,
    verify_ed25519,
)
from tests.sdk.evidence_world import CaseWorld, case_world
from tests.sdk.test_evidence_bundle import rehash

__all__ = ["case_world"]
CHAIN_FILES = {"case/state.json", "chain/block.json", "chain/headers.json", "chain/txs.json"}
DAY = 86_400_000


def check_manifest(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """§14.3 links 1-2: exactly the listed files, each with its SHA-256."""
    m = json.loads((root / "manifest.json").read_text())
    if m["format"] != "carchain/evidence/v1":
        raise Refused("manifest: unknown format")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*")
               if p.is_file() or p.is_symlink()} - {"manifest.json"}  # fmt: skip
    listed = [f["path"] for f in m["files"]]
    if listed != sorted(set(listed)) or set(listed) != present:
        raise Refused("manifest: the files are not the listed ones")
    docs = {}
    for f in m["files"]:
        raw = (root / f["path"]).read_bytes()
        if hashlib.sha256(raw).hexdigest() != f["sha256"] or len(raw) != f["size"]:
            raise Refused(f"file hash: {f['path']}")
        docs[f["path"]] = json.loads(raw)
    return m, docs


def check_chain(m: dict[str, Any], docs: dict[str, Any], trusted: bytes) -> dict[int, Any]:
    """Link 3 (solo): the block is the trusted one; every header is its ancestor."""
    block = docs["chain/block.json"]
    top = block["header"]
    if solo_block_hash(top) != trusted or block["hash"] != trusted.hex():
        raise Refused("block->trust root: not the trusted block")
    if (m["block_height"], m["state_height"], m["block_hash"]) != (
        top["height"], top["height"], block["hash"]
    ):  # fmt: skip
        raise Refused("manifest: names another block")
    chain, child = {top["height"]: top}, top
    for section in reversed(docs["chain/headers.json"]["headers"]):
        h = section["header"]
        digest = solo_block_hash(h)
        if h["height"] != child["height"] - 1 or bytes.fromhex(child["prev_hash"]) != digest:
            raise Refused("block->trust root: a header does not chain")
        chain[h["height"]] = child = h
    return chain


def check_txs(docs: dict[str, Any], chain: dict[int, Any]) -> list[dict[str, Any]]:
    """Link 4: each transaction's SHA-256 in its block's tx root, signed, of the chain."""
    out = []
    for e in docs["chain/txs.json"]["txs"]:
        raw = bytes.fromhex(e["tx"])
        block = chain.get(e["height"])
        if block is None or e["proof"]["index"] != e["index"]:
            raise Refused("tx->block: no such block or index")
        if proof(e["proof"], sha256(raw), "tx") != bytes.fromhex(block["tx_root"]):
            raise Refused("tx->block: not in the block")
        env = decode(raw, "tx")
        verify_ed25519(env[2], b"carchain/tx/v1\x00" + mp(env[:6]), env[6], "tx->block")
        if env[1] != block["chain_id"]:
            raise Refused("tx->block: another chain")
        out.append({"height": e["height"], "signer": env[2], "type": env[4],
                    "body": decode(env[5], "body")})  # fmt: skip
    return out


def proven(app_hash: bytes, store: str, doc: dict[str, Any], key: bytes, what: str) -> Any:
    if bytes.fromhex(doc["key"]) != key:
        raise Refused(f"case state: {what} at another key")
    return state(app_hash, store, key, bytes.fromhex(doc["value"]), doc["proof"], what)


def proven_list(app_hash: bytes, st: dict[str, Any], name: str, prefix: bytes) -> list[Any]:
    cid = u64be(st["case_id"])
    counter = st[f"{name}_count"]
    count = 0
    if counter is not None:
        key = prefix + b"n/" + cid
        if bytes.fromhex(counter["key"]) != key:
            raise Refused("case state: counter at another key")
        ref.check_state_proof(app_hash, "lawful_access", key, bytes.fromhex(counter["value"]),
                              counter["proof"])  # fmt: skip
        count = int.from_bytes(bytes.fromhex(counter["value"]), "big")
    if len(st[name]) != count:
        raise Refused(f"case state: {name} count")
    return [proven(app_hash, "lawful_access", d, prefix + b"/" + cid + b"/" + u64be(n), name)
            for n, d in enumerate(st[name])]  # fmt: skip


def check_case(m: dict[str, Any], docs: dict[str, Any], app_hash: bytes) -> dict[str, Any]:
    """Link 5: the case, its releases, receipts and members under the app hash."""
    st = docs["case/state.json"]
    if st["case_id"] != m["case_id"]:
        raise Refused("case state: another case")
    case = proven(app_hash, "lawful_access", st["case"], b"c/" + u64be(m["case_id"]), "case")
    members = {}
    for d in st["members"]:
        mem = state(app_hash, "members", bytes.fromhex(d["key"]), bytes.fromhex(d["value"]),
                    d["proof"], "member")  # fmt: skip
        if bytes.fromhex(d["key"]) != b"m/" + mem["member_id"].encode():
            raise Refused("case state: member at another key")
        members[mem["member_id"]] = mem["public_key"]
    releases = proven_list(app_hash, st, "releases", b"cr")
    receipts = proven_list(app_hash, st, "receipts", b"rcp")
    return {"case": case, "releases": releases, "receipts": receipts, "members": members}


def check_case_txs(pc: dict[str, Any], txs: list[dict[str, Any]]) -> None:
    """Link 6: the transactions are exactly the ones the state records."""
    c, key = pc["case"], pc["members"].get
    want = Counter([("case.open", c["opened_height"], key(c["authority"]))])
    if c["authorized_height"]:
        want[("case.authorize", c["authorized_height"], key(c["court"]))] += 1
    for kind, votes in (("case.approve", c["approvals"]), ("case.decline", c["declines"])):
        want.update((kind, v["height"], key(v["member_id"])) for v in votes)
    want.update(("escrow.release", r["height"], key(r["custodian"])) for r in pc["releases"])
    want.update(("case.receipt", r["height"], c["officer_key"]) for r in pc["receipts"])
    by_count = ("case.report", "case.close", "case.extend_notice", "case.reject")
    seen = Counter((t["type"], t["height"], t["signer"]) for t in txs if t["type"] not in by_count)
    if seen != want:
        raise Refused("case transactions: not the state's")
    reports = [t for t in txs if t["type"] == "case.report"]
    if len(reports) != (1 if c["report_hash"] else 0) or any(
        t["body"]["report_hash"] != c["report_hash"] for t in reports
    ):
        raise Refused("case transactions: report")
    closes = [t for t in txs if t["type"] == "case.close"]
    if len(closes) != (1 if c["state"] == "closed" else 0):
        raise Refused("case transactions: close")


def check_segment(name: str, docs: dict[str, Any], top: dict[str, Any], height: int) -> Any:
    """Link 7 for one segment; return (vehicle, header hash, category, header, leaves)."""
    p, records = docs["proofs/" + name], docs["records/" + name]
    vehicle, file = name.split("/")
    hh, category = file[:64], file[65:-5]
    raw_header = bytes.fromhex(p["batch_header"])
    header, signature = decode(raw_header, "batch header")
    seg = next((s for s in header[7] if s[0] == category), None)
    if sha256(raw_header).hex() != hh or header[1] != vehicle or seg is None:
        raise Refused("record->batch: another batch")
    leaves = [bytes.fromhex(x["salt"]) + bytes.fromhex(x["projection"]) for x in p["leaves"]]
    if len(leaves) != seg[1] or ref.merkle_root(leaves) != seg[2]:
        raise Refused("record->batch: not the segment root")
    decoded = [decode(bytes.fromhex(x["projection"]), "projection") for x in p["leaves"]]
    if records != [{"kind": k, "index": i, "fields": f} for k, i, f in decoded]:
        raise Refused("record->batch: records differ")
    s = p["state"]
    b11 = {"batch_header": p["batch_header"], "batch_proof": p["batch_proof"],
           "anchor_tx": p["anchor_tx"], "state": {"height": height}}  # fmt: skip
    for part, pre in (("anchor", "anchor"), ("vehicle", "vehicle"), ("key_period", "key_period")):
        b11["state"] |= {f"{pre}_key": s[part]["key"], f"{pre}_value": s[part]["value"],
                         f"{pre}_proof": s[part]["proof"]}  # fmt: skip
    vehicle_rec, period = check_vehicle_key(b11, bytes.fromhex(top["app_hash"]), header)
    check_signature(header, signature, period)
    check_anchor(b11, top, header, raw_header, vehicle_rec)
    return vehicle, bytes.fromhex(hh), category, header, leaves, {i for _, i, _ in decoded}


def check_in_case(pc: dict[str, Any], segments: list[Any]) -> None:
    """Link 8: in scope; exactly the receipted batches, with their digests."""
    scope = pc["case"]["scope"]
    first, last = scope["data_from_ms"] // DAY, (scope["data_until_ms"] - 1) // DAY
    batches: dict[tuple[str, bytes], list[Any]] = {}
    for vehicle, hh, cat, header, leaves, idx in segments:
        if vehicle not in scope["vehicles"] or cat not in scope["categories"]:
            raise Refused("record->case: out of scope")
        if not first <= header[2] <= last:
            raise Refused("record->case: epoch out of scope")
        batches.setdefault((vehicle, hh), []).append((cat, leaves, idx))
    receipted = {(r["vehicle_id"], i[0]): i for r in pc["receipts"] for i in r["items"]}
    if set(receipted) != set(batches):
        raise Refused("record->case: not the receipted batches")
    for key, segs in batches.items():
        segs.sort(key=lambda s: s[0])
        digest = sha256(b"".join(ref.leaf_hash(x) for _, leaves, _ in segs for x in leaves))
        count = len(set().union(*(idx for _, _, idx in segs)))
        if [count, digest] != receipted[key][1:]:
            raise Refused("record->case: digest")


def verify(root: Path, trusted: bytes) -> dict[str, Any]:
    """§14.3, links 1-8 (solo blocks); return the case."""
    m, docs = check_manifest(root)
    chain = check_chain(m, docs, trusted)
    top = chain[m["block_height"]]
    txs = check_txs(docs, chain)
    pc = check_case(m, docs, bytes.fromhex(top["app_hash"]))
    check_case_txs(pc, txs)
    names = sorted(p[len("records/") :] for p in docs if p.startswith("records/"))
    if {p for p in docs if p not in CHAIN_FILES} != {
        f"{t}/{n}" for t in ("records", "proofs") for n in names
    }:
        raise Refused("manifest: files outside the format")
    segments = [check_segment(n, docs, top, m["state_height"]) for n in names]
    check_in_case(pc, segments)
    return pc["case"]


def test_genuine_evidence_verifies_from_the_page_alone(case_world: CaseWorld) -> None:
    case = verify(case_world.bundle, bytes.fromhex(case_world.header["hash"]))
    assert case["case_id"] == case_world.case_id and case["state"] == "closed"


@pytest.mark.parametrize(
    "path, change, where",
    [
        ("records/saic:1", lambda d: d[0]["fields"].update(lat=1.5), "record->batch"),
        ("chain/txs.json", lambda d: d["txs"].pop(3), "case transactions"),
        ("case/state.json", lambda d: d["receipts"].pop(), "case state"),
        ("chain/headers.json", lambda d: d["headers"][0]["header"].update(time_ms=1), "block"),
    ],
)
def test_invalid_tampered_evidence_is_refused_by_the_page_verifier(
    case_world: CaseWorld, tmp_path: Path, path: str, change: Any, where: str
) -> None:
    root = tmp_path / "b"
    shutil.copytree(case_world.bundle, root)
    target = root / path
    if target.is_dir():
        target = sorted(target.glob("*-location.json"))[0]
    doc = json.loads(target.read_text())
    change(doc)
    target.write_text(json.dumps(copy.deepcopy(doc)))
    rehash(root)
    with pytest.raises(Refused) as exc:
        verify(root, bytes.fromhex(case_world.header["hash"]))
    assert where in str(exc.value)
