"""An OEM's signed statement to a customer: "between these dates, these disclosures of
your car's data happened, and no others" (``carchain/oem-statement/v1``).

The file holds, all proven at ONE state height against the app hash of a block section
(``carchain.sdk.bundle_block``; the verifier trusts it only through its ``BlockTrust``):

- the OEM's member record (its key signs) and the vehicle's registration (its OEM);
- the vehicle's access-log size and a contiguous run of its log ``first_seq..last_seq``
  that covers the window ``[from_ms, until_ms)`` of block time with one entry beyond
  each end (or the log's start/end): the log is append-only in block time, so this
  proves no event of the window is left out. The window ends no later than the state
  covers (``until_ms`` <= the proof block's time, + 1 when the proof block is the
  state's own): a statement cannot claim "no others" for a time still to come;
- the vehicle's case count ``vcn`` (written 0 at registration) and every case pointer
  ``vc/<vehicle>/<n>`` with its case record and release summary ``vr/<case>/<vehicle>``:
  every lawful-access case that ever touched the car, each already noticed.

The SDK refuses to issue a statement while a case not yet noticed touches the vehicle
(``SealedCasePending``), and the verifier refuses one that lists such a case. A sealed
case cannot be listed (the owner must learn nothing of it before the court's delay
ends) and cannot be left out (the statement would then say "no others" falsely, and the
proven case count would expose the gap): no honest statement exists until its notice.
The rule covers every pointer, not only cases inside the window, because showing that a
case lies outside the window would show that it exists.

Signature: Ed25519 by the OEM's member key over ``STATEMENT_DOMAIN || msgpack([chain_id,
oem, vehicle_id, from_ms, until_ms, height, proof_height, app_hash, block_hash,
first_seq, last_seq, [[store, key, value], ...], signer])`` (absent seqs as -1; the
items in file order: member, vehicle, log size, log entries, case count, then per case
pointer, case, releases). Proofs are not signed: each is checked against the app hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from carchain.core import access_log as log
from carchain.core import case_index
from carchain.core.case_index import VehicleReleases
from carchain.core.case_records import STORE as LAWFUL_STORE
from carchain.core.case_records import Case, CaseRef
from carchain.core.members import STORE as MEMBERS_STORE
from carchain.core.members import Member, compute_member_key
from carchain.core.state import compute_key
from carchain.core.vehicles import STORE as VEHICLES_STORE
from carchain.core.vehicles import Vehicle, compute_vehicle_key
from carchain.crypto.signing import SigningKey, verify_signature
from carchain.errors import (
    InvalidBody,
    InvalidProof,
    MalformedBundle,
    SealedCasePending,
    Unauthorized,
)
from carchain.sdk.access_log import decode_proven
from carchain.sdk.bundle_block import (
    BlockTrust,
    compute_block_section_hash,
    validate_state_height,
    verify_bundle_block,
)
from carchain.sdk.bundle_format import U63
from carchain.sdk.client import Client
from carchain.sdk.proofs import verify_state_proof
from carchain.sdk.proven_view import ProvenView
from carchain.sdk.record_proofs import build_block_section

STATEMENT_FORMAT = "carchain/oem-statement/v1"
STATEMENT_DOMAIN = STATEMENT_FORMAT.encode() + b"\x00"
DISCLOSURE_KINDS = frozenset({"release", "case_notice", "case_release"})
MAX_ENTRIES = 10_000
MAX_CASES = 1024


class Proven(msgspec.Struct, forbid_unknown_fields=True):
    """A proven state value: store, hex key and value, its two ``simple:v`` proof ops."""

    store: str
    key: str
    value: str
    proof: list[dict[str, Any]]


class StatementCase(msgspec.Struct, forbid_unknown_fields=True):
    """One case pointer of the vehicle with its case record and release summary."""

    pointer: Proven
    case: Proven
    releases: Proven


class OemStatement(msgspec.Struct, forbid_unknown_fields=True):
    """The statement file's JSON shape."""

    format: str
    chain_id: str
    oem: str
    vehicle_id: str
    from_ms: U63
    until_ms: U63
    height: U63
    proof_height: U63
    app_hash: str
    member: Proven
    vehicle: Proven
    log_size: Proven
    first_seq: U63 | None
    last_seq: U63 | None
    log_entries: list[Proven]
    case_count: Proven
    cases: list[StatementCase]
    block: dict[str, Any]
    signer: str
    signature: str


@dataclass(frozen=True, slots=True)
class VerifiedStatement:
    """What a verified statement establishes about the window."""

    oem: str
    vehicle_id: str
    from_ms: int
    until_ms: int
    events: list[log.AccessEvent]  # every log event of the window, oldest first
    disclosures: list[log.AccessEvent]  # the releases and lawful-access entries among them
    cases: list[tuple[Case, VehicleReleases]]  # cases that released keys in the window
    height: int
    app_hash: bytes
    trusted_by: tuple[str, ...]


def _hex(value: str, what: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise MalformedBundle(f"statement field {what} is not hex") from exc


def _items(doc: OemStatement) -> list[Proven]:
    cases = [p for c in doc.cases for p in (c.pointer, c.case, c.releases)]
    return [doc.member, doc.vehicle, doc.log_size, *doc.log_entries, doc.case_count, *cases]


def compute_statement_signing_bytes(doc: OemStatement, block_hash: bytes) -> bytes:
    """Return the bytes the OEM signs (see the module docstring)."""
    items = [[p.store, _hex(p.key, "key"), _hex(p.value, "value")] for p in _items(doc)]
    payload = [
        doc.chain_id,
        doc.oem,
        doc.vehicle_id,
        doc.from_ms,
        doc.until_ms,
        doc.height,
        doc.proof_height,
        _hex(doc.app_hash, "app_hash"),
        block_hash,
        -1 if doc.first_seq is None else doc.first_seq,
        -1 if doc.last_seq is None else doc.last_seq,
        items,
        _hex(doc.signer, "signer"),
    ]
    return STATEMENT_DOMAIN + msgspec.msgpack.encode(payload)


# --- building -----------------------------------------------------------------------


def _proven(view: ProvenView, store: str, key: bytes) -> Proven:
    return msgspec.convert(view.get_proven(store, key), Proven)


def _event_time(view: ProvenView, vehicle_id: str, seq: int) -> int:
    raw = view.get(log.STORE, log.compute_log_key(vehicle_id, seq))
    if raw is None:
        raise InvalidProof("the vehicle's log lacks an entry below its size", index=seq)
    return decode_proven(raw, log.AccessEvent, "access event").time_ms


def compute_first_at(view: ProvenView, vehicle_id: str, size: int, time_ms: int) -> int:
    """Return the first seq whose block time is at or after ``time_ms`` (``size`` if none):
    a binary search, since the log is append-only in block time."""
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        if _event_time(view, vehicle_id, mid) < time_ms:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _collect_cases(view: ProvenView, vehicle_id: str) -> tuple[Proven, list[StatementCase]]:
    count_key = case_index.compute_vehicle_case_count_key(vehicle_id)
    count = _proven(view, LAWFUL_STORE, count_key)
    n = int.from_bytes(_hex(count.value, "case count"), "big")
    if n > MAX_CASES:
        raise InvalidBody("the vehicle has too many cases for one statement", size=n)
    out = []
    for i in range(n):
        pointer = _proven(view, LAWFUL_STORE, case_index.compute_vehicle_case_key(vehicle_id, i))
        ref = decode_proven(_hex(pointer.value, "pointer"), CaseRef, "case pointer")
        case_proven = _proven(view, LAWFUL_STORE, compute_key("c", ref.case_id))
        case = decode_proven(_hex(case_proven.value, "case"), Case, "case")
        if not case.noticed:
            raise SealedCasePending(
                "a lawful-access case whose notice is not yet due touches this vehicle: "
                "no complete statement can be issued before its notice",
                vehicle_id=vehicle_id,
            )
        rkey = case_index.compute_vehicle_releases_key(ref.case_id, vehicle_id)
        out.append(StatementCase(pointer, case_proven, _proven(view, LAWFUL_STORE, rkey)))
    return count, out


def _collect_log_run(
    view: ProvenView, vehicle_id: str, from_ms: int, until_ms: int
) -> tuple[Proven, tuple[int | None, int | None], list[Proven]]:
    """Return the proven log size, the run ``(first, last)`` covering the window with one
    entry beyond each end, and the run's proven entries."""
    size_proven = _proven(view, log.STORE, log.compute_log_size_key(vehicle_id))
    size = int.from_bytes(_hex(size_proven.value, "log size"), "big")
    if size == 0:
        return size_proven, (None, None), []
    lo = compute_first_at(view, vehicle_id, size, from_ms)
    hi = compute_first_at(view, vehicle_id, size, until_ms)
    first, last = max(lo - 1, 0), min(hi, size - 1)
    if last - first + 1 > MAX_ENTRIES:
        raise InvalidBody("the window holds too many log entries for one statement", size=size)
    entries = [
        _proven(view, log.STORE, log.compute_log_key(vehicle_id, s)) for s in range(first, last + 1)
    ]
    return size_proven, (first, last), entries


def view_heights(view: ProvenView) -> tuple[int, int]:
    """Return the view's state height and proof height."""
    return view.height, view.proof_height


def _prove_signer_and_vehicle(
    view: ProvenView, key: SigningKey, oem: str, vehicle_id: str
) -> tuple[Proven, Proven]:
    """Return the proven member and vehicle records; ``Unauthorized`` unless ``key`` is
    the OEM's member key and the vehicle the OEM's."""
    member = _proven(view, MEMBERS_STORE, compute_member_key(oem))
    if decode_proven(_hex(member.value, "member"), Member, "member").public_key != key.public_key:
        raise Unauthorized("only the OEM's member key signs its statement", member_id=oem)
    vehicle = _proven(view, VEHICLES_STORE, compute_vehicle_key(vehicle_id))
    if decode_proven(_hex(vehicle.value, "vehicle"), Vehicle, "vehicle").oem != oem:
        raise Unauthorized("the vehicle is not the OEM's", vehicle_id=vehicle_id)
    return member, vehicle


def build_oem_statement(
    client: Client,
    key: SigningKey,
    oem: str,
    vehicle_id: str,
    from_ms: int,
    until_ms: int,
    rpc_url: str | None = None,
) -> dict[str, Any]:
    """Return the OEM's signed statement for the vehicle's window ``[from_ms, until_ms)``.

    ``Unauthorized`` unless ``key`` is the OEM's member key and the vehicle its own;
    ``SealedCasePending`` while a case not yet noticed touches the vehicle. A window
    reaching past the proven state is cut at the latest time that state covers
    (``compute_covered_until_ms``): nobody can vouch for disclosures not yet made.
    """
    if not 0 <= from_ms < until_ms < 2**63:
        raise InvalidBody("the window must satisfy 0 <= from_ms < until_ms")
    view = ProvenView(client, log.STORE, log.compute_log_size_key(vehicle_id))
    member, vehicle = _prove_signer_and_vehicle(view, key, oem, vehicle_id)
    count, cases = _collect_cases(view, vehicle_id)
    block = build_block_section(client, view.proof_height, rpc_url)
    parsed, block_hash = compute_block_section_hash(block)
    if parsed.app_hash != view.app_hash:
        raise InvalidProof("the block's app hash is not the statement's", height=view.proof_height)
    # The chain cannot vouch for what has not happened yet: the window ends at the
    # latest time the proven state covers.
    until_ms = min(until_ms, compute_covered_until_ms(parsed.time_ms, *view_heights(view)))
    if from_ms >= until_ms:
        raise InvalidBody("the window starts after the chain's latest block")
    size_proven, run, entries = _collect_log_run(view, vehicle_id, from_ms, until_ms)
    doc = OemStatement(
        STATEMENT_FORMAT,
        str(client.status()["chain_id"]),
        oem,
        vehicle_id,
        from_ms,
        until_ms,
        view.height,
        view.proof_height,
        view.app_hash.hex(),
        member,
        vehicle,
        size_proven,
        run[0],
        run[1],
        entries,
        count,
        cases,
        block,
        key.public_key.hex(),
        "",
    )
    signature = key.sign(compute_statement_signing_bytes(doc, block_hash))
    out: dict[str, Any] = msgspec.to_builtins(
        msgspec.structs.replace(doc, signature=signature.hex())
    )
    return out


# --- verifying ------------------------------------------------------------------------


def parse_statement(raw: Any) -> OemStatement:
    """Return the statement's strict shape; ``MalformedBundle`` for any defect."""
    try:
        doc = msgspec.convert(raw, OemStatement)
    except msgspec.ValidationError as exc:
        raise MalformedBundle(f"not an OEM statement: {str(exc)[:200]}") from exc
    if doc.format != STATEMENT_FORMAT:
        raise MalformedBundle("statement format must be " + STATEMENT_FORMAT)
    return doc


def _check_item(app_hash: bytes, item: Proven, store: str, key: bytes, what: str) -> bytes:
    if item.store != store or _hex(item.key, "key") != key:
        raise InvalidProof(f"{what} is proven at another key than expected", link=what)
    value = _hex(item.value, "value")
    try:
        verify_state_proof(app_hash, store, key, value, item.proof)
    except InvalidProof as exc:
        raise InvalidProof(f"{what}: {exc.message}", link=what) from exc
    return value


def check_statement_block(doc: OemStatement, trust: BlockTrust) -> tuple[bytes, tuple[str, ...]]:
    """Return the block hash and trust statements once the block is vouched for and is the
    one the statement names (chain, height, app hash)."""
    block = verify_bundle_block(doc.block, trust)
    if block.chain_id != doc.chain_id or block.height != doc.proof_height:
        raise InvalidProof("statement names another chain or height than its block", link="block")
    if block.app_hash.hex() != doc.app_hash.lower():
        raise InvalidProof("statement's app hash is not its block's", link="block")
    validate_state_height(block, doc.height, doc.proof_height)
    if doc.until_ms > compute_covered_until_ms(block.time_ms, doc.height, doc.proof_height):
        raise InvalidProof(
            "the window reaches past the statement's block: no completeness is proven there",
            link="window",
        )
    return block.hash, tuple(block.trusted_by)


def compute_covered_until_ms(block_time_ms: int, height: int, proof_height: int) -> int:
    """Return the latest window end the state at ``height`` proves complete: every event
    before it is in that state. Block times strictly increase, so with the proof block
    the state's own block (solo) that is its time + 1; with the next block (CometBFT),
    whose events have its time, that time."""
    return block_time_ms + 1 if proof_height == height else block_time_ms


def check_signer(doc: OemStatement, app_hash: bytes) -> None:
    """Raise unless the signer is the OEM's member key and the vehicle the OEM's."""
    raw = _check_item(app_hash, doc.member, MEMBERS_STORE, compute_member_key(doc.oem), "member")
    member = decode_proven(raw, Member, "member")
    if member.member_id != doc.oem or member.public_key != _hex(doc.signer, "signer"):
        raise InvalidProof("the signer is not the OEM's member key", link="signer")
    key = compute_vehicle_key(doc.vehicle_id)
    vehicle = decode_proven(
        _check_item(app_hash, doc.vehicle, VEHICLES_STORE, key, "vehicle"), Vehicle, "vehicle"
    )
    if vehicle.vehicle_id != doc.vehicle_id or vehicle.oem != doc.oem:
        raise InvalidProof("the vehicle is not the signing OEM's", link="vehicle")


def check_log_window(doc: OemStatement, app_hash: bytes) -> list[log.AccessEvent]:
    """Return the window's events once the run is contiguous and covers the window."""
    vid = doc.vehicle_id
    raw = _check_item(app_hash, doc.log_size, log.STORE, log.compute_log_size_key(vid), "log size")
    size = int.from_bytes(raw, "big")
    if size == 0:
        if doc.log_entries or doc.first_seq is not None or doc.last_seq is not None:
            raise InvalidProof("an empty log has no entries", link="log")
        return []
    first, last = doc.first_seq, doc.last_seq
    if first is None or last is None or not 0 <= first <= last < size:
        raise InvalidProof("the log run lies outside the proven log", link="log")
    if len(doc.log_entries) != last - first + 1:
        raise InvalidProof("the log run is not contiguous", link="log")
    events = []
    for seq, item in zip(range(first, last + 1), doc.log_entries, strict=True):
        value = _check_item(app_hash, item, log.STORE, log.compute_log_key(vid, seq), f"log[{seq}]")
        events.append(decode_proven(value, log.AccessEvent, "access event"))
    times = [e.time_ms for e in events]
    if times != sorted(times):
        raise InvalidProof("log entries are not in block-time order", link="log")
    if first > 0 and times[0] >= doc.from_ms:
        raise InvalidProof("the run does not start before the window", link="log")
    if last < size - 1 and times[-1] < doc.until_ms:
        raise InvalidProof("the run does not reach past the window", link="log")
    return [e for e in events if doc.from_ms <= e.time_ms < doc.until_ms]


def check_cases(doc: OemStatement, app_hash: bytes) -> list[tuple[Case, VehicleReleases]]:
    """Return every case of the vehicle once all are listed, proven and noticed."""
    vid = doc.vehicle_id
    key = case_index.compute_vehicle_case_count_key(vid)
    n = int.from_bytes(
        _check_item(app_hash, doc.case_count, LAWFUL_STORE, key, "case count"), "big"
    )
    if len(doc.cases) != n:
        raise InvalidProof("the statement does not list every case of the vehicle", link="cases")
    out = []
    for i, sc in enumerate(doc.cases):
        pkey = case_index.compute_vehicle_case_key(vid, i)
        ref = decode_proven(
            _check_item(app_hash, sc.pointer, LAWFUL_STORE, pkey, f"case[{i}]"), CaseRef, "pointer"
        )
        ckey = compute_key("c", ref.case_id)
        case = decode_proven(
            _check_item(app_hash, sc.case, LAWFUL_STORE, ckey, f"case[{i}]"), Case, "case"
        )
        if ref.vehicle_id != vid or case.case_id != ref.case_id:
            raise InvalidProof("case pointer names another vehicle or case", link=f"case[{i}]")
        if not case.noticed:
            raise InvalidProof("the statement lists a case not yet noticed", link=f"case[{i}]")
        rkey = case_index.compute_vehicle_releases_key(ref.case_id, vid)
        rel = _check_item(app_hash, sc.releases, LAWFUL_STORE, rkey, f"case[{i}]")
        out.append((case, decode_proven(rel, VehicleReleases, "release summary")))
    return out


def verify_oem_statement(raw: Any, trust: BlockTrust) -> VerifiedStatement:
    """Check a statement offline; raise the typed error of the first failed check."""
    doc = parse_statement(raw)
    block_hash, trusted_by = check_statement_block(doc, trust)
    app_hash = _hex(doc.app_hash, "app_hash")
    check_signer(doc, app_hash)
    events = check_log_window(doc, app_hash)
    cases = check_cases(doc, app_hash)
    verify_signature(
        _hex(doc.signer, "signer"),
        compute_statement_signing_bytes(doc, block_hash),
        _hex(doc.signature, "signature"),
    )
    in_window = [
        (c, r)
        for c, r in cases
        if r.keys and r.first_ms < doc.until_ms and r.last_ms >= doc.from_ms
    ]
    return VerifiedStatement(
        doc.oem,
        doc.vehicle_id,
        doc.from_ms,
        doc.until_ms,
        events,
        [e for e in events if e.kind in DISCLOSURE_KINDS],
        in_window,
        doc.height,
        app_hash,
        trusted_by,
    )
