"""The case part of an evidence bundle: the case's state, proven, and its transactions.

``case/state.json`` holds, each with its state proof under the bundle block's app
hash: the case record ``c/<case_id>``, the release counter ``crn/<case_id>`` and every
share release ``cr/<case_id>/<n>`` (n = 0 .. count - 1), the receipt counter
``rcpn/<case_id>`` and every receipt ``rcp/<case_id>/<n>`` (both counters are written
0 at ``case.open``, so each is always proven: a ``null`` counter is refused),
and the member records (``members`` store, ``m/<id>``) of the authority, the court
and every custodian who voted or released. The transactions in ``chain/txs.json``
must be exactly the case's: one ``case.open`` at ``opened_height`` with the case's
fields, one ``case.authorize`` at ``authorized_height`` with its scope and expiry,
one vote transaction per recorded vote at its height, one ``escrow.release`` per
share release with its items, one ``case.receipt`` per receipt, the report, the
extensions and the close; each signed by the key of the member the state names (the
officer key for receipts).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec

from carchain.core import case_records as cr
from carchain.core.escrow_releases import CaseReceiptRecord
from carchain.core.members import STORE as MEMBERS_STORE
from carchain.core.members import Member, compute_member_key
from carchain.core.state import compute_key
from carchain.core.transactions import Envelope, decode_body
from carchain.errors import CarchainError, InvalidProof, NotFound
from carchain.sdk.client import Client
from carchain.sdk.evidence_chain import ProvenTx
from carchain.sdk.evidence_manifest import fail
from carchain.sdk.evidence_records import read_proven
from carchain.sdk.proofs import verify_state_proof

LINK_CASE = "case state"
LINK_CASE_TXS = "case transactions"
MAX_COUNT = 100_000

TX_BODIES: dict[str, type[Any]] = {
    "case.open": cr.OpenCase,
    "case.authorize": cr.AuthorizeCase,
    "case.reject": cr.RejectCase,
    "case.approve": cr.ApproveCase,
    "case.decline": cr.DeclineCase,
    "escrow.release": cr.ReleaseShares,
    "case.extend_notice": cr.ExtendNotice,
    "case.report": cr.ReportCase,
    "case.close": cr.CloseCase,
    "case.receipt": cr.CaseReceipt,
}


@dataclass(frozen=True, slots=True)
class ProvenCase:
    """The case's state as the bundle proves it under the app hash."""

    case: cr.Case
    releases: list[cr.ShareRelease]
    receipts: list[CaseReceiptRecord]
    members: dict[str, Member]


def compute_case_key(case_id: int) -> bytes:
    """Return the state key of case ``case_id``."""
    return compute_key("c", case_id)


def compute_counter_keys(case_id: int) -> tuple[bytes, bytes]:
    """Return the keys of the case's release counter and receipt counter."""
    return compute_key("crn", case_id), compute_key("rcpn", case_id)


def compute_item_key(prefix: str, case_id: int, n: int) -> bytes:
    """Return the key of release (``cr``) or receipt (``rcp``) ``n`` of the case."""
    return compute_key(prefix, case_id, n)


def is_case_tx(env: Envelope, height: int, case: cr.Case) -> bool:
    """Return whether transaction ``env`` of block ``height`` is one of ``case``'s (the
    open: by its fields and height, as another case may have been opened alike)."""
    body_type = TX_BODIES.get(env.type)
    if body_type is None:
        return False
    try:
        body = decode_body(env.body, body_type)
    except CarchainError:
        return False
    if isinstance(body, cr.OpenCase):
        return height == case.opened_height and is_open_of(body, case)
    return bool(getattr(body, "case_id", None) == case.case_id)


def is_open_of(body: cr.OpenCase, case: cr.Case) -> bool:
    """Return whether ``body`` is the ``case.open`` that made ``case``."""
    return (body.case_ref, body.legal_basis, body.scope, body.justification_hash,
            body.officer_key) == (case.case_ref, case.legal_basis, case.opened_scope,
                                  case.justification_hash, case.officer_key)  # fmt: skip


# --- building ----------------------------------------------------------------------------


def _decode_counter(doc: dict[str, Any]) -> int:
    return int.from_bytes(bytes.fromhex(doc["value"]), "big")


def build_case_state(client: Client, case_id: int, height: int) -> tuple[dict[str, Any], cr.Case]:
    """Return ``case/state.json`` read at state ``height``, and the case."""
    case_doc = read_proven(client, cr.STORE, compute_case_key(case_id), height)
    case = msgspec.msgpack.decode(bytes.fromhex(case_doc["value"]), type=cr.Case)
    rkey, pkey = compute_counter_keys(case_id)
    state: dict[str, Any] = {"case_id": case_id, "case": case_doc}
    for name, key, prefix in (("releases", rkey, "cr"), ("receipts", pkey, "rcp")):
        try:
            counter: dict[str, Any] | None = read_proven(client, cr.STORE, key, height)
        except NotFound:
            counter = None  # never written: no release (receipt) yet
        n = 0 if counter is None else _decode_counter(counter)
        state[f"{name}_count"] = counter
        state[name] = [
            read_proven(client, cr.STORE, compute_item_key(prefix, case_id, i), height)
            for i in range(n)
        ]
    return state, case


def compute_case_members(case: cr.Case, releases: list[cr.ShareRelease]) -> list[str]:
    """Return the members whose keys sign the case's transactions, sorted."""
    names = {case.authority, case.court} | {v.member_id for v in case.approvals}
    names |= {v.member_id for v in case.declines} | {r.custodian for r in releases}
    return sorted(n for n in names if n)


def build_member_proofs(client: Client, names: list[str], height: int) -> list[dict[str, Any]]:
    """Return the proven member records of ``names`` at state ``height``."""
    return [read_proven(client, MEMBERS_STORE, compute_member_key(n), height) for n in names]


# --- verifying the state -----------------------------------------------------------------


def _proven(app_hash: bytes, store: str, doc: Any, key: bytes, what: str) -> bytes:
    """Return the value a ``{key, value, proof}`` proves under ``app_hash`` at ``key``."""
    try:
        if bytes.fromhex(doc["key"]) != key:
            raise InvalidProof(f"{what} is proven at another key")
        value = bytes.fromhex(doc["value"])
        verify_state_proof(app_hash, store, key, value, doc["proof"])
    except (InvalidProof, KeyError, TypeError, ValueError) as exc:
        msg = exc.message if isinstance(exc, InvalidProof) else f"malformed ({exc})"
        raise fail(LINK_CASE, f"{what}: {msg}") from exc
    return value


def _decode(raw: bytes, kind: type[Any], what: str) -> Any:
    try:
        return msgspec.msgpack.decode(raw, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise fail(LINK_CASE, f"{what} does not decode") from exc


def _proven_list(
    app_hash: bytes, state: dict[str, Any], name: str, prefix: str, kind: type[Any]
) -> list[Any]:
    """Return the records ``prefix/<case>/1..count`` proven, with the counter itself."""
    case_id = state["case_id"]
    key = compute_counter_keys(case_id)[0 if prefix == "cr" else 1]
    counter = state[f"{name}_count"]
    if counter is None:  # written 0 at case.open: a missing proof hides records
        raise fail(LINK_CASE, f"the {name} counter is not proven (a counter never written)")
    count = int.from_bytes(_proven(app_hash, cr.STORE, counter, key, name), "big")
    docs = state[name]
    if not isinstance(docs, list):
        raise fail(LINK_CASE, f"{name} must be a list")
    if len(docs) != count or count > MAX_COUNT:
        raise fail(LINK_CASE, f"the bundle holds {len(docs)} {name}, the chain {count}")
    out = []
    for i, doc in enumerate(docs):
        raw = _proven(app_hash, cr.STORE, doc, compute_item_key(prefix, case_id, i), name)
        out.append(_decode(raw, kind, f"{name} {i}"))
    return out


def verify_case_state(state: Any, app_hash: bytes, case_id: int) -> ProvenCase:
    """Link ``case state``: the case, its releases, receipts and members under the app hash."""
    if not isinstance(state, dict) or state.get("case_id") != case_id:
        raise fail(LINK_CASE, "case/state.json is of another case than the manifest")
    try:
        raw = _proven(app_hash, cr.STORE, state["case"], compute_case_key(case_id), "case")
        case = _decode(raw, cr.Case, "case")
        releases = _proven_list(app_hash, state, "releases", "cr", cr.ShareRelease)
        receipts = _proven_list(app_hash, state, "receipts", "rcp", CaseReceiptRecord)
        members = verify_members(state["members"], app_hash)
    except KeyError as exc:
        raise fail(LINK_CASE, f"case/state.json lacks {exc}") from exc
    if case.released_keys and not releases:
        raise fail(LINK_CASE, "the case released shares but the bundle proves no release")
    if case.case_id != case_id or any(r.case_id != case_id for r in [*releases, *receipts]):
        raise fail(LINK_CASE, "a proven record is of another case")
    missing = set(compute_case_members(case, releases)) - set(members)
    if missing:
        raise fail(LINK_CASE, f"member {sorted(missing)[0]} of the case is not proven")
    return ProvenCase(case, releases, receipts, members)


def verify_members(docs: Any, app_hash: bytes) -> dict[str, Member]:
    """Return the proven member records by id."""
    if not isinstance(docs, list):
        raise fail(LINK_CASE, "members must be a list")
    out: dict[str, Member] = {}
    for doc in docs:
        try:
            key = bytes.fromhex(doc["key"])
        except (KeyError, TypeError, ValueError) as exc:
            raise fail(LINK_CASE, "a member proof is malformed") from exc
        m = _decode(_proven(app_hash, MEMBERS_STORE, doc, key, "member"), Member, "member")
        if key != compute_member_key(m.member_id):
            raise fail(LINK_CASE, "a member is proven at another member's key")
        out[m.member_id] = m
    return out


# --- the transactions against the state --------------------------------------------------


def _key_of(pc: ProvenCase, member_id: str) -> bytes:
    m = pc.members.get(member_id)
    return m.public_key if m is not None else b""


def compute_expected_txs(pc: ProvenCase) -> Counter[tuple[str, int, bytes]]:
    """Return the (type, height, signer) of every transaction the state says happened
    whose height it records."""
    c = pc.case
    want: Counter[tuple[str, int, bytes]] = Counter()
    want[("case.open", c.opened_height, _key_of(pc, c.authority))] += 1
    if c.authorized_height:
        want[("case.authorize", c.authorized_height, _key_of(pc, c.court))] += 1
    for kind, votes in (("case.approve", c.approvals), ("case.decline", c.declines)):
        for v in votes:
            want[(kind, v.height, _key_of(pc, v.member_id))] += 1
    for r in pc.releases:
        want[("escrow.release", r.height, _key_of(pc, r.custodian))] += 1
    for rc in pc.receipts:
        want[("case.receipt", rc.height, c.officer_key)] += 1
    return want


# The transactions whose height and signer the state records (the rest: by count).
SIGNED_BY_STATE = frozenset(
    (
        "case.open",
        "case.authorize",
        "case.approve",
        "case.decline",
        "escrow.release",
        "case.receipt",
    )
)


def verify_case_txs(pc: ProvenCase, txs: list[ProvenTx]) -> None:
    """Link ``case transactions``: the bundle's transactions are exactly the case's, each
    as the proven state records it (height, signer, body)."""
    bodies = [(t, _decode_tx(t, pc.case)) for t in txs]
    recorded = compute_expected_txs(pc)
    seen: Counter[tuple[str, int, bytes]] = Counter(
        (t.envelope.type, t.height, t.envelope.signer)
        for t in txs
        if t.envelope.type in SIGNED_BY_STATE
    )
    if seen != recorded:
        kind, height, _ = next(iter((recorded - seen) or (seen - recorded)))
        raise fail(
            LINK_CASE_TXS,
            f"{kind} at height {height}: the transactions and the case's state disagree",
            height=height,
        )
    counts: Counter[str] = Counter(t.envelope.type for t in txs)
    for t, body in bodies:
        if not is_body_as_recorded(pc, t, body):
            raise fail(LINK_CASE_TXS, f"{t.envelope.type} at height {t.height} differs from "
                       "the case's state", height=t.height)  # fmt: skip
    c = pc.case
    expected = {
        "case.report": 1 if c.report_hash else 0,
        "case.close": 1 if c.state == cr.CaseState.CLOSED else 0,
        "case.extend_notice": c.notice_extensions,
        "case.reject": 1 if c.state == cr.CaseState.REJECTED else 0,
    }
    for kind, n in expected.items():
        if counts[kind] != n:
            raise fail(LINK_CASE_TXS, f"the bundle holds {counts[kind]} {kind}, the case {n}")


def _decode_tx(t: ProvenTx, case: cr.Case) -> Any:
    body_type = TX_BODIES.get(t.envelope.type)
    try:
        if body_type is None:
            raise InvalidProof("not a case transaction")
        body = decode_body(t.envelope.body, body_type)
    except CarchainError as exc:
        raise fail(LINK_CASE_TXS, f"transaction at height {t.height}: {exc.message}") from exc
    of_case = is_open_of(body, case) if isinstance(body, cr.OpenCase) else (
        getattr(body, "case_id", None) == case.case_id
    )  # fmt: skip
    if not of_case:
        raise fail(LINK_CASE_TXS, f"transaction at height {t.height} is of another case")
    return body


def is_body_as_recorded(pc: ProvenCase, t: ProvenTx, body: Any) -> bool:
    """Return whether a transaction's body and signer say what the state records."""
    c, signer = pc.case, t.envelope.signer
    if isinstance(body, cr.AuthorizeCase):
        return (body.scope, body.expires_ms) == (c.scope, c.expires_ms)
    if isinstance(body, cr.ReleaseShares):
        return any(r.height == t.height and r.items == body.items for r in pc.releases)
    if isinstance(body, cr.CaseReceipt):
        return any(
            (r.height, r.vehicle_id, r.items) == (t.height, body.vehicle_id, body.items)
            for r in pc.receipts
        )
    if isinstance(body, cr.ReportCase):
        return body.report_hash == c.report_hash and signer == _key_of(pc, c.authority)
    if isinstance(body, cr.CloseCase):
        parties = {_key_of(pc, c.authority), _key_of(pc, c.court)}
        return t.height == c.closed_height and signer in parties
    if isinstance(body, (cr.ExtendNotice, cr.RejectCase)):
        return signer == _key_of(pc, c.court)
    return True
