"""The founding escrow committee: set by the genesis, in force from epoch 0, with the
same rules as one set by governance (a refused one is an ``InvalidGenesis``)."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core import escrow_committee as ec
from carchain.core.case_records import CommitteeSeat
from carchain.core.categories import SENSITIVE_CATEGORY_NAMES
from carchain.core.escrow_committee import SetEscrowCommittee
from carchain.core.genesis import Genesis, GenesisMember, decode_genesis, encode_genesis
from carchain.errors import InvalidGenesis
from tests.conftest import FOUNDERS, make_genesis, seeded_key
from tests.core.test_genesis import apply

CUSTODIANS = (
    ("court", "Shanghai Court", ["court"], 0),
    ("caam", "Automobile Association", ["association"], 0),
    ("audit", "Independent Auditor", ["auditor"], 0),
)
SEATS = [
    CommitteeSeat("court", "court"),
    CommitteeSeat("caam", "association"),
    CommitteeSeat("audit", "auditor"),
    CommitteeSeat("", "oem"),
]


def escrow_key(member_id: str) -> str:
    return seeded_key(f"escrow/{member_id}").public_key.hex()


def founding(
    seats: list[CommitteeSeat] = SEATS, threshold: int = 3, keys: dict[str, str] | None = None
) -> Genesis:
    g = make_genesis(founders=(*FOUNDERS, *CUSTODIANS))
    keys = {m: escrow_key(m) for m, *_ in CUSTODIANS} if keys is None else keys
    members = [msgspec.structs.replace(m, escrow_key=keys.get(m.member_id, "")) for m in g.members]
    committee = SetEscrowCommittee(seats, threshold, sorted(SENSITIVE_CATEGORY_NAMES))
    return msgspec.structs.replace(g, members=members, escrow_committee=committee)


def test_founding_committee_is_in_force_from_epoch_0() -> None:
    view, _ = apply(founding())
    committee = ec.get_committee_for_epoch(view, 0)
    assert committee is not None and committee.version == 1 and committee.from_epoch == 0
    assert committee.threshold == 3 and [c.index for c in committee.custodians] == [1, 2, 3, 4]
    assert committee.custodians[0].escrow_key.hex() == escrow_key("court")
    assert ec.get_escrow_key_optional(view, "caam") == bytes.fromhex(escrow_key("caam"))


def test_genesis_without_a_committee_sets_none() -> None:
    view, _ = apply(make_genesis())
    assert ec.get_committee_count(view) == 0 and ec.get_committee_for_epoch(view, 10**6) is None


def test_founding_committee_survives_the_json_round_trip() -> None:
    g = founding()
    assert decode_genesis(encode_genesis(g)) == g


@pytest.mark.parametrize(
    "genesis",
    [
        founding(threshold=1),  # no single custodian
        founding(seats=[CommitteeSeat("police", "law_enforcement"), *SEATS[1:]]),
        founding(keys={"court": escrow_key("court"), "caam": escrow_key("caam")}),  # audit none
        founding(keys={"court": "zz", "caam": escrow_key("caam"), "audit": escrow_key("audit")}),
        founding(keys={"court": "00" * 32, "caam": escrow_key("caam"), "audit": "11" * 32}),
    ],
    ids=["k1", "police-seat", "missing-key", "bad-hex", "not-a-point"],
)
def test_invalid_founding_committee_is_an_invalid_genesis(genesis: Genesis) -> None:
    with pytest.raises(InvalidGenesis):
        apply(genesis)


def test_a_member_key_without_a_committee_is_recorded() -> None:
    g = make_genesis()
    members = [msgspec.structs.replace(g.members[0], escrow_key=escrow_key("saic"))]
    view, _ = apply(msgspec.structs.replace(g, members=[*members, *g.members[1:]]))
    assert ec.get_escrow_key_optional(view, "saic") == bytes.fromhex(escrow_key("saic"))
    assert isinstance(g.members[0], GenesisMember)
