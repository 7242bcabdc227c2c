"""The stored and wire encodings of the core records stay byte-identical.

The hex below was produced by the code before the read side was typed (status
fields as ``StrEnum``, ids as ``NewType``) and before ``Anchor`` was derived
from ``SubmitAnchor``: a change to any of them would change the app hash.
"""

from __future__ import annotations

import msgspec

from carchain.core import anchors, governance, members, vehicles
from carchain.core.types import BlockContext, MemberId, VehicleId

SUBMIT_HEX = (
    "87a373657107a4726f6f74c420111111111111111111111111111111111111111111111111111111"
    "1111111111ab62617463685f636f756e7403ac7265636f72645f636f756e7428a873746172745f6d"
    "73cd03e8a6656e645f6d73cd07d0ad6d616e69666573745f68617368c42022222222222222222222"
    "22222222222222222222222222222222222222222222"
)
ANCHOR_HEX = (
    "8ba36f656da473616963a373657107a4726f6f74c420111111111111111111111111111111111111"
    "1111111111111111111111111111ab62617463685f636f756e7403ac7265636f72645f636f756e74"
    "28a873746172745f6d73cd03e8a6656e645f6d73cd07d0ad6d616e69666573745f68617368c42022"
    "22222222222222222222222222222222222222222222222222222222222222a67369676e6572c420"
    "3333333333333333333333333333333333333333333333333333333333333333a668656967687409"
    "a774696d655f6d73cd1388"
)
MEMBER_HEX = (
    "88a96d656d6265725f6964a473616963a46e616d65a453414943a5726f6c657391a36f656daa7075"
    "626c69635f6b6579c420444444444444444444444444444444444444444444444444444444444444"
    "4444a6737461747573a6616374697665ad6a6f696e65645f68656967687401ad76616c696461746f"
    "725f6b6579c4205555555555555555555555555555555555555555555555555555555555555555a5"
    "706f7765720a"
)
VEHICLE_HEX = (
    "8eaa76656869636c655f6964aa736169633a6361722d31a36f656da473616963ae76696e5f636f6d"
    "6d69746d656e74c42066666666666666666666666666666666666666666666666666666666666666"
    "66aa7075626c69635f6b6579c4207777777777777777777777777777777777777777777777777777"
    "777777777777a56d6f64656ca34d4734a479656172cd07e8a56f776e6572c4208888888888888888"
    "888888888888888888888888888888888888888888888888a6737461747573a77265766f6b6564b1"
    "726567697374657265645f68656967687403ab6b65795f76657273696f6e02ac7472616e73666572"
    "5f73657101ae7265766f6b65645f726561736f6ea673746f6c656eac6b65795f73696e63655f6d73"
    "64ae6f776e65725f73696e63655f6d73ccc8"
)
PROPOSAL_HEX = (
    "89ab70726f706f73616c5f696404a870726f706f736572a473616963a6616374696f6e82a4747970"
    "65ae73757370656e645f6d656d626572a96d656d6265725f6964a3627964ae637265617465645f68"
    "656967687405ae657870697265735f68656967687469a379657391a473616963a26e6f90a6737461"
    "747573a46f70656ea76f7574636f6d65a0"
)

BODY = anchors.SubmitAnchor(7, b"\x11" * 32, 3, 40, 1000, 2000, b"\x22" * 32)
CTX = BlockContext("test-chain", 9, 5000, b"\x00" * 20)


def test_submit_anchor_encoding_is_unchanged() -> None:
    assert msgspec.msgpack.encode(BODY).hex() == SUBMIT_HEX


def test_compute_anchor_encodes_as_the_stored_anchor() -> None:
    anchor = anchors.compute_anchor(MemberId("saic"), BODY, b"\x33" * 32, CTX)
    assert msgspec.msgpack.encode(anchor).hex() == ANCHOR_HEX
    assert msgspec.msgpack.decode(bytes.fromhex(ANCHOR_HEX), type=anchors.Anchor) == anchor


def test_member_encoding_is_unchanged_and_decodes_typed() -> None:
    member = members.Member(
        MemberId("saic"),
        "SAIC",
        ["oem"],
        b"\x44" * 32,
        members.MemberStatus.ACTIVE,
        1,
        b"\x55" * 32,
        10,
    )
    assert msgspec.msgpack.encode(member).hex() == MEMBER_HEX
    decoded = msgspec.msgpack.decode(bytes.fromhex(MEMBER_HEX), type=members.Member)
    assert decoded == member and type(decoded.status) is members.MemberStatus


def test_vehicle_encoding_is_unchanged_and_decodes_typed() -> None:
    vehicle = vehicles.Vehicle(
        VehicleId("saic:car-1"),
        MemberId("saic"),
        b"\x66" * 32,
        b"\x77" * 32,
        "MG4",
        2024,
        b"\x88" * 32,
        vehicles.VehicleStatus.REVOKED,
        3,
        2,
        1,
        "stolen",
        100,
        200,
    )
    assert msgspec.msgpack.encode(vehicle).hex() == VEHICLE_HEX
    decoded = msgspec.msgpack.decode(bytes.fromhex(VEHICLE_HEX), type=vehicles.Vehicle)
    assert decoded == vehicle and type(decoded.status) is vehicles.VehicleStatus


def test_proposal_encoding_is_unchanged_and_decodes_typed() -> None:
    proposal = governance.Proposal(
        4,
        MemberId("saic"),
        governance.SuspendMember("byd"),
        5,
        105,
        ["saic"],
        [],
        governance.ProposalStatus.OPEN,
    )
    assert msgspec.msgpack.encode(proposal).hex() == PROPOSAL_HEX
    decoded = msgspec.msgpack.decode(bytes.fromhex(PROPOSAL_HEX), type=governance.Proposal)
    assert decoded == proposal and type(decoded.status) is governance.ProposalStatus
