"""The explorer's search: what a block height, tx hash, key, vehicle, member or case id names.

Every kind is one direct state or index read (no scan): a number is a block
height (else a case id), ``case:N`` a case, 64 hex digits a transaction hash
(else a member's or a vehicle's current public key), ``<oem>:<local id>`` a
vehicle and anything else a member id.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from carchain.api.view import BackendView
from carchain.core import cases, members, vehicles
from carchain.core.validation import NAMESPACE_SEPARATOR
from carchain.errors import ApiError, InvalidBody, NotFound
from carchain.node.backend import NodeBackend

MAX_QUERY = 128
_NUMBER_RE = re.compile(r"^[0-9]{1,19}$")
_CASE_RE = re.compile(r"^case[\s:#/-]?([0-9]{1,19})$", re.IGNORECASE)
_HASH_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")

Hit = dict[str, str]


def compute_vehicle_path(vehicle_id: str) -> str:
    """Return the API path of a vehicle (its id's ``:`` kept as it is)."""
    return "/vehicles/" + quote(vehicle_id, safe=NAMESPACE_SEPARATOR)


def _hit(kind: str, ident: str, path: str) -> Hit:
    return {"kind": kind, "id": ident, "path": path}


def _find_case(view: BackendView, case_id: int) -> Hit | None:
    if cases.get_case_optional(view, case_id) is None:
        return None
    return _hit("case", str(case_id), f"/cases/{case_id}")


def _find_number(backend: NodeBackend, view: BackendView, number: int) -> Hit | None:
    if 1 <= number <= backend.status().height and backend.get_block_optional(number) is not None:
        return _hit("block", str(number), f"/blocks/{number}")
    return _find_case(view, number)


def _find_hex(backend: NodeBackend, view: BackendView, raw: bytes) -> Hit | None:
    if backend.get_tx(raw).state != "unknown":
        return _hit("tx", raw.hex(), f"/txs/{raw.hex()}")
    member = members.get_member_by_key_optional(view, raw)
    if member is not None:
        return _hit("member", member.member_id, f"/members/{quote(member.member_id)}")
    vehicle = vehicles.get_vehicle_by_key_optional(view, raw)
    if vehicle is not None:
        return _hit("vehicle", vehicle.vehicle_id, compute_vehicle_path(vehicle.vehicle_id))
    return None


def _find_name(view: BackendView, q: str) -> Hit | None:
    if NAMESPACE_SEPARATOR in q:
        vehicle = vehicles.get_vehicle_optional(view, q)
        if vehicle is None:
            return None
        return _hit("vehicle", vehicle.vehicle_id, compute_vehicle_path(vehicle.vehicle_id))
    member = members.get_member_optional(view, q)
    if member is None:
        return None
    return _hit("member", member.member_id, f"/members/{quote(member.member_id)}")


def validate_query(q: str) -> str:
    """Return the stripped query; raise ``ApiError`` if it is empty or too long."""
    q = q.strip()
    if not q:
        raise ApiError("the search query is empty")
    if len(q) > MAX_QUERY:
        raise ApiError(f"the search query is longer than {MAX_QUERY} characters")
    return q


def find_hit(backend: NodeBackend, q: str) -> Hit:
    """Return what ``q`` names; raise ``NotFound`` if nothing does."""
    q = validate_query(q)
    view = BackendView(backend)
    hit: Hit | None = None
    try:
        if _NUMBER_RE.fullmatch(q):
            hit = _find_number(backend, view, int(q))
        elif (m := _CASE_RE.fullmatch(q)) is not None:
            hit = _find_case(view, int(m.group(1)))
        elif _HASH_RE.fullmatch(q):
            hit = _find_hex(backend, view, bytes.fromhex(q.removeprefix("0x")))
        if hit is None:
            hit = _find_name(view, q)
    except InvalidBody:
        hit = None  # not an id any kind can have (e.g. too long for a state key)
    if hit is None:
        raise NotFound("nothing matches the search")
    return hit
