"""Who a case touches: per-vehicle and per-OEM case pointers, and per-OEM release pointers.

``case.authorize`` (CORE's ``cases``) calls ``process_authorized``: each vehicle of
the authorised scope gets ``vc/<vehicle>/<n>`` (count ``vcn/<vehicle>``) and its OEM
``oc/<oem>/<n>`` (count ``ocn/<oem>``), both a ``CaseRef`` (``vcn`` is written, 0, at
the vehicle's registration and ``ocn``/``oern`` at the member's admission, so "none"
has a proof too), and the vehicle's release
summary ``vr/<case_id>/<vehicle>`` starts at zero: it is present for every vehicle of
the scope, so a reader can prove "no key of this car was released" as well as "these
were". ``escrow.release`` calls ``process_release``: each OEM whose vehicle the release
touches gets ``oer/<oem>/<n>`` (count ``oern/<oem>``), a ``ReleasePointer`` to the
stored ``cr/<case_id>/<seq>``; each touched vehicle's summary counts the keys (shares),
categories and first/last release time.

These pointers are plain state (an OEM verifies from them that every release about its
vehicles went through a court-authorised case at quorum); nothing here goes into a
vehicle's access log: that is ``case_notice``'s, once the notice is due.
"""

from __future__ import annotations

import msgspec

from carchain.core import transparency
from carchain.core.case_records import STORE, Case, CaseRef, CaseScope, ShareRelease
from carchain.core.state import KVView, compute_key, get_record_optional, put_record
from carchain.core.types import BlockContext
from carchain.core.validation import NAMESPACE_SEPARATOR


class ReleasePointer(msgspec.Struct, frozen=True):
    """An OEM's pointer to a share release about one of its vehicles (``oer/<oem>/<n>``)."""

    case_id: int
    seq: int


class VehicleReleases(msgspec.Struct, frozen=True):
    """What a case released of one vehicle (``vr/<case_id>/<vehicle>``): shares (all
    custodians), the categories (sorted), the first and last release time (0: none)."""

    keys: int = 0
    categories: list[str] = msgspec.field(default_factory=list)
    first_ms: int = 0
    last_ms: int = 0


# --- keys and reads ---------------------------------------------------------------


def compute_vehicle_case_key(vehicle_id: str, n: int) -> bytes:
    """Return the state key of a vehicle's ``n``-th case pointer."""
    return compute_key("vc", vehicle_id, n)


def compute_vehicle_case_count_key(vehicle_id: str) -> bytes:
    """Return the state key of how many cases touched a vehicle (8 bytes, big-endian)."""
    return compute_key("vcn", vehicle_id)


def compute_oem_case_key(oem: str, n: int) -> bytes:
    """Return the state key of an OEM's ``n``-th (case, vehicle) pointer."""
    return compute_key("oc", oem, n)


def compute_oem_case_count_key(oem: str) -> bytes:
    """Return the state key of how many (case, vehicle) pointers an OEM holds."""
    return compute_key("ocn", oem)


def compute_oem_release_key(oem: str, n: int) -> bytes:
    """Return the state key of an OEM's ``n``-th release pointer."""
    return compute_key("oer", oem, n)


def compute_oem_release_count_key(oem: str) -> bytes:
    """Return the state key of how many release pointers an OEM holds."""
    return compute_key("oern", oem)


def compute_vehicle_releases_key(case_id: int, vehicle_id: str) -> bytes:
    """Return the state key of what a case released of one vehicle."""
    return compute_key("vr", case_id, vehicle_id)


def compute_oem(vehicle_id: str) -> str:
    """Return the OEM of a vehicle id (its namespace; ``vehicles`` imports this module)."""
    return vehicle_id.partition(NAMESPACE_SEPARATOR)[0]


def process_open_vehicle(view: KVView, vehicle_id: str) -> None:
    """Write a new vehicle's case count (0): "no case ever touched this car" then has a
    proof against the app hash too (an OEM's statement to its customer needs it)."""
    view.set(STORE, compute_vehicle_case_count_key(vehicle_id), (0).to_bytes(8, "big"))


def process_open_member(view: KVView, member_id: str) -> None:
    """Write a new member's case and release pointer counts (0): an OEM's "no case touched
    my cars" and "no key of my cars was released" then have proofs too."""
    zero = (0).to_bytes(8, "big")
    view.set(STORE, compute_oem_case_count_key(member_id), zero)
    view.set(STORE, compute_oem_release_count_key(member_id), zero)


def get_count(view: KVView, key: bytes) -> int:
    """Return the u64 counter under ``key`` (0 when never written)."""
    raw = view.get(STORE, key)
    return 0 if raw is None else int.from_bytes(raw, "big")


def _append(view: KVView, count_key: bytes, item_key: bytes, record: object) -> None:
    put_record(view, STORE, item_key, record)
    view.set(STORE, count_key, (get_count(view, count_key) + 1).to_bytes(8, "big"))


def get_vehicle_cases(view: KVView, vehicle_id: str) -> list[CaseRef]:
    """Return every case pointer of a vehicle, oldest first."""
    n = get_count(view, compute_vehicle_case_count_key(vehicle_id))
    found = (
        get_record_optional(view, STORE, compute_vehicle_case_key(vehicle_id, i), CaseRef)
        for i in range(n)
    )
    return [r for r in found if r is not None]


def get_oem_case_page(view: KVView, oem: str, start: int, limit: int) -> list[tuple[int, CaseRef]]:
    """Return up to ``limit`` (n, pointer) pairs of the OEM's case pointers from ``start``."""
    n = get_count(view, compute_oem_case_count_key(oem))
    out: list[tuple[int, CaseRef]] = []
    for i in range(max(start, 0), min(n, max(start, 0) + limit)):
        ref = get_record_optional(view, STORE, compute_oem_case_key(oem, i), CaseRef)
        if ref is not None:
            out.append((i, ref))
    return out


def get_vehicle_releases(view: KVView, case_id: int, vehicle_id: str) -> VehicleReleases:
    """Return what the case released of the vehicle (empty when nothing)."""
    key = compute_vehicle_releases_key(case_id, vehicle_id)
    found = get_record_optional(view, STORE, key, VehicleReleases)
    return VehicleReleases() if found is None else found


# --- hooks (called by ``cases`` and ``escrow_releases``) ----------------------------


def get_authorized_scope(case: Case) -> CaseScope:
    """Return the case's authorised scope (the opened one before authorisation)."""
    return case.opened_scope if case.scope is None else case.scope


def process_authorized(view: KVView, ctx: BlockContext, case: Case) -> None:
    """Point each vehicle of the authorised scope, and its OEM, to the case; start each
    vehicle's release summary at zero."""
    for vehicle_id in get_authorized_scope(case).vehicles:
        ref = CaseRef(case.case_id, vehicle_id)
        count_key = compute_vehicle_case_count_key(vehicle_id)
        n = get_count(view, count_key)
        _append(view, count_key, compute_vehicle_case_key(vehicle_id, n), ref)
        oem = compute_oem(vehicle_id)
        count_key = compute_oem_case_count_key(oem)
        _append(view, count_key, compute_oem_case_key(oem, get_count(view, count_key)), ref)
        put_record(
            view, STORE, compute_vehicle_releases_key(case.case_id, vehicle_id), VehicleReleases()
        )


def compute_release_vehicles(release: ShareRelease) -> dict[str, tuple[int, set[str]]]:
    """Return per vehicle of the release: (shares, categories)."""
    out: dict[str, tuple[int, set[str]]] = {}
    for item in release.items:
        keys, cats = out.get(item.vehicle_id, (0, set()))
        out[item.vehicle_id] = (keys + 1, cats | {item.category})
    return out


def process_release(view: KVView, ctx: BlockContext, case: Case, release: ShareRelease) -> None:
    """Point each OEM the release touches to it; count the keys per vehicle."""
    per_vehicle = compute_release_vehicles(release)
    per_oem: dict[str, int] = {}
    for vehicle_id, (keys, cats) in sorted(per_vehicle.items()):
        oem = compute_oem(vehicle_id)
        per_oem[oem] = per_oem.get(oem, 0) + keys
        key = compute_vehicle_releases_key(case.case_id, vehicle_id)
        old = get_vehicle_releases(view, case.case_id, vehicle_id)
        new = VehicleReleases(
            old.keys + keys,
            sorted(set(old.categories) | cats),
            old.first_ms or release.time_ms,
            release.time_ms,
        )
        put_record(view, STORE, key, new)
    for member, keys in sorted(per_oem.items()):
        count_key = compute_oem_release_count_key(member)
        pointer = ReleasePointer(case.case_id, release.seq)
        n = get_count(view, count_key)
        _append(view, count_key, compute_oem_release_key(member, n), pointer)
        transparency.process_oem_release(view, ctx, member, keys)
