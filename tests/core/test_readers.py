"""The typed read side: ``get_*`` raises ``NotFound``, ``get_*_optional`` returns ``None``.

Every reader runs over a plain in-memory view, as the API, the gateway and the
SDK run them over their own sources of committed state.
"""

from __future__ import annotations

import pytest

from carchain.api.view import BackendView
from carchain.core import anchors, governance, members, vehicles
from carchain.core.effects import Effects
from carchain.core.members import MemberStatus, Role
from carchain.core.state import WriteBuffer
from carchain.core.types import BlockContext, MemberId
from carchain.engine.application import QueryResult
from carchain.errors import NotFound, ReadOnlyState
from carchain.sdk.chainview import ChainView
from tests.core.memory import MemoryView

OEM_KEY = b"\x01" * 32
OWNER = b"\x02" * 32
CAR_KEY = b"\x03" * 32
CTX = BlockContext("test-chain", 5, 1_000, b"\x00" * 20)


@pytest.fixture
def view() -> WriteBuffer:
    buf = WriteBuffer(MemoryView())
    members.process_add_member(buf, 1, "saic", "SAIC", ["oem"], OEM_KEY)
    body = vehicles.RegisterVehicle("saic:car-1", b"\x04" * 32, CAR_KEY, "MG4", 2024, OWNER)
    vehicles.process_register(buf, CTX, OEM_KEY, body, Effects())
    return buf


def test_member_readers(view: WriteBuffer) -> None:
    member = members.get_member(view, "saic")
    assert member.member_id == "saic" and member.status is MemberStatus.ACTIVE
    assert members.get_member_optional(view, "saic") == member
    assert members.get_member_by_key(view, OEM_KEY) == member
    assert members.get_member_by_key_optional(view, OEM_KEY) == member


def test_invalid_member_reads_raise_or_return_none(view: WriteBuffer) -> None:
    with pytest.raises(NotFound):
        members.get_member(view, "byd")
    with pytest.raises(NotFound):
        members.get_member_by_key(view, b"\x09" * 32)
    assert members.get_member_optional(view, "byd") is None
    assert members.get_member_by_key_optional(view, b"\x09" * 32) is None


def test_is_active_member_checks_status_and_role(view: WriteBuffer) -> None:
    member = members.get_member(view, "saic")
    assert members.is_active_member(member)
    assert members.is_active_member(member, Role.OEM)
    assert not members.is_active_member(member, Role.COURT)
    members.process_add_member(view, 2, "byd", "BYD", ["oem"], b"\x05" * 32)
    suspended = members.process_set_status(view, "saic", MemberStatus.SUSPENDED)
    assert not members.is_active_member(suspended)
    assert not members.is_active_member(suspended, Role.OEM)


def test_vehicle_readers(view: WriteBuffer) -> None:
    vehicle = vehicles.get_vehicle(view, "saic:car-1")
    assert vehicle.oem == "saic" and vehicle.status is vehicles.VehicleStatus.ACTIVE
    assert vehicles.get_vehicle_optional(view, "saic:car-1") == vehicle
    assert vehicles.get_vehicle_by_key_optional(view, CAR_KEY) == vehicle
    history = vehicles.get_key_history(view, "saic:car-1")
    assert [(p.key_version, p.public_key) for p in history] == [(1, CAR_KEY)]
    assert vehicles.get_key_period_optional(view, "saic:car-1", 1) == history[0]


def test_invalid_vehicle_reads_raise_or_return_none(view: WriteBuffer) -> None:
    with pytest.raises(NotFound):
        vehicles.get_vehicle(view, "saic:car-2")
    with pytest.raises(NotFound):
        vehicles.get_key_history(view, "saic:car-2")
    with pytest.raises(NotFound):
        vehicles.get_key_period(view, "saic:car-1", 2)
    assert vehicles.get_vehicle_optional(view, "saic:car-2") is None
    assert vehicles.get_vehicle_by_key_optional(view, b"\x09" * 32) is None
    assert vehicles.get_key_period_optional(view, "saic:car-1", 2) is None


def test_anchor_readers(view: WriteBuffer) -> None:
    body = anchors.SubmitAnchor(1, b"\x06" * 32, 1, 1, 0, 10, b"\x07" * 32)
    anchors.process_submit_anchor(view, CTX, OEM_KEY, body, Effects())
    anchor = anchors.get_anchor(view, "saic", 1)
    assert anchor == anchors.compute_anchor(MemberId("saic"), body, OEM_KEY, CTX)
    assert anchors.get_anchor_optional(view, "saic", 1) == anchor
    with pytest.raises(NotFound):
        anchors.get_anchor(view, "saic", 2)
    assert anchors.get_anchor_optional(view, "saic", 2) is None


def _proposal(status: governance.ProposalStatus) -> governance.Proposal:
    return governance.Proposal(
        1, MemberId("saic"), governance.SuspendMember("byd"), 5, 105, ["saic"], [], status
    )


def test_proposal_expiry_is_the_vote_rule() -> None:
    open_ = _proposal(governance.ProposalStatus.OPEN)
    assert not governance.is_proposal_expired(open_, 105)  # a vote at 105 still counts
    assert governance.is_proposal_expired(open_, 106)
    assert governance.compute_display_status(open_, 105) == "open"
    assert governance.compute_display_status(open_, 106) == "expired"
    executed = _proposal(governance.ProposalStatus.EXECUTED)
    assert governance.compute_display_status(executed, 10_000) == "executed"


@pytest.mark.parametrize("proposal_id", [0, -1, 2**63, 7])
def test_invalid_proposal_reads_raise_or_return_none(view: WriteBuffer, proposal_id: int) -> None:
    assert governance.get_proposal_optional(view, proposal_id) is None
    with pytest.raises(NotFound):
        governance.get_proposal(view, proposal_id)


class _AbsentBackend:
    def query(self, store: str, key: bytes, prove: bool) -> QueryResult:
        return QueryResult(5, "not_found", "no value", 3, store, key)


class _AbsentClient:
    def query(self, store: str, key: bytes) -> dict[str, str]:
        raise NotFound("no value under this key")


def test_edge_views_read_absent_as_none_and_refuse_writes() -> None:
    edge_views = [BackendView(_AbsentBackend()), ChainView(_AbsentClient())]  # type: ignore[arg-type]
    for edge in edge_views:
        assert edge.get("vehicles", b"v/saic:car-1") is None
        with pytest.raises(NotFound):
            vehicles.get_vehicle(edge, "saic:car-1")
        with pytest.raises(ReadOnlyState):
            edge.set("vehicles", b"v/x", b"1")
        with pytest.raises(ReadOnlyState):
            edge.delete("vehicles", b"v/x")


def test_listing_prefixes_and_decoders_agree_with_the_readers(view: WriteBuffer) -> None:
    member_key = members.compute_member_key("saic")
    vehicle_key = vehicles.compute_vehicle_key("saic:car-1")
    assert member_key.startswith(members.MEMBER_KEY_PREFIX)
    assert vehicle_key.startswith(vehicles.VEHICLE_KEY_PREFIX)
    # A member's key index ("k/<key>") shares the store but not the listing prefix.
    assert not members.compute_signer_key(OEM_KEY).startswith(members.MEMBER_KEY_PREFIX)
    raw_member = view.get(members.STORE, member_key)
    raw_vehicle = view.get(vehicles.STORE, vehicle_key)
    assert raw_member is not None and raw_vehicle is not None
    assert members.decode_member(raw_member) == members.get_member(view, "saic")
    assert vehicles.decode_vehicle(raw_vehicle) == vehicles.get_vehicle(view, "saic:car-1")
