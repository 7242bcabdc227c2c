"""vehicle.register / transfer / rotate_key / revoke, and the rules that only the
vehicle's own OEM may register (in its own id namespace), transfer, rotate or
revoke it, and that a key rotation needs the current owner's co-signature."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from carchain.core import governance as gov
from carchain.core import vehicles as veh
from carchain.core.vehicles import (
    RegisterVehicle,
    RevokeVehicle,
    RotateVehicleKey,
    TransferVehicle,
    Vehicle,
)
from carchain.crypto.signing import SigningKey
from carchain.errors import InvalidBody, InvalidGenesis
from carchain.sdk.transactions import sign_rotation_consent, sign_transfer_consent
from carchain.sdk.vin import compute_vin_commitment
from tests.conftest import CHAIN_ID, FOUNDERS, VIN_SALT, make_genesis, seeded_key
from tests.core.memory import CoreChain, core_chain, open_core_chain  # noqa: F401

OWNER = seeded_key("owner-1")
VIN = "LSVAX4181E2100001"  # a Chinese WMI: position 9 is a valid check digit


def register_body(vid: str = "saic:1", owner: SigningKey = OWNER) -> RegisterVehicle:
    return RegisterVehicle(
        vehicle_id=vid,
        vin_commitment=compute_vin_commitment(VIN, VIN_SALT),
        public_key=seeded_key("vehicle/" + vid).public_key,
        model="Roewe RX5",
        year=2024,
        owner=owner.public_key,
    )


def vehicle(chain: CoreChain, vid: str) -> Vehicle:
    return veh.get_vehicle(chain.app.state, vid)


def transfer_body(
    vid: str, new_owner: SigningKey, owner: SigningKey = OWNER, seq: int = 0
) -> TransferVehicle:
    sig = sign_transfer_consent(CHAIN_ID, owner, vid, new_owner.public_key, seq)
    return TransferVehicle(vid, new_owner.public_key, sig)


def rotate_body(
    vid: str,
    new_key: bytes,
    owner: SigningKey = OWNER,
    version: int = 2,
    seq: int = 0,
    chain_id: str = CHAIN_ID,
) -> RotateVehicleKey:
    sig = sign_rotation_consent(chain_id, owner, vid, new_key, version, seq)
    return RotateVehicleKey(vid, new_key, sig)


def suspend(chain: CoreChain, member_id: str) -> None:
    result = chain.send("miit", gov.Propose(gov.SuspendMember(member_id)))
    pid = int(
        next(e for e in result.events if e.type == "proposal_created").attributes["proposal_id"]
    )
    for voter in ("bosch", "police", "saic" if member_id != "saic" else "geely"):
        chain.send(voter, gov.Vote(pid, True))
    assert gov.get_proposal(chain.app.state, pid).status == "executed"


# --- register ------------------------------------------------------------------------------


def test_register(chain: CoreChain) -> None:
    result = chain.send("saic", register_body())
    assert {e.type: e.attributes for e in result.events}["vehicle_registered"] == {
        "vehicle_id": "saic:1",
        "oem": "saic",
    }
    v = vehicle(chain, "saic:1")
    body = register_body()
    assert (v.oem, v.public_key, v.owner, v.status, v.key_version, v.transfer_seq) == (
        "saic",
        body.public_key,
        OWNER.public_key,
        "active",
        1,
        0,
    )
    assert v.registered_height == chain.engine.height
    assert veh.get_vehicle_by_key_optional(chain.app.state, body.public_key) == v


def test_vin_is_never_on_chain(chain: CoreChain) -> None:
    chain.send("saic", register_body())
    assert not any(VIN.encode() in value for value in chain.state.snapshot().values())
    assert vehicle(chain, "saic:1").vin_commitment == compute_vin_commitment(VIN, VIN_SALT)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"vehicle_id": ""}, "invalid_body"),
        ({"vehicle_id": "saic:has space"}, "invalid_body"),
        ({"vehicle_id": "saic:" + "x" * 65}, "invalid_body"),
        ({"vehicle_id": "saic-1"}, "invalid_body"),  # no namespace
        ({"vehicle_id": "saic:"}, "invalid_body"),
        ({"vehicle_id": ":1"}, "invalid_body"),
        ({"vehicle_id": "saic:1:2"}, "invalid_body"),
        ({"vehicle_id": "saic:-1"}, "invalid_body"),
        ({"vehicle_id": "saic/1"}, "invalid_body"),
        ({"vin_commitment": b"short"}, "invalid_body"),
        ({"public_key": b"k" * 33}, "invalid_body"),
        ({"owner": b""}, "invalid_body"),
        ({"model": ""}, "invalid_body"),
        ({"model": "m" * 65}, "invalid_body"),
        ({"model": "bad\x00model"}, "invalid_body"),
        ({"year": 1989}, "invalid_body"),
        ({"year": 2101}, "invalid_body"),
    ],
)
def test_invalid_register_body(chain: CoreChain, change: dict[str, object], code: str) -> None:
    body = msgspec.structs.replace(register_body(), **change)
    assert chain.reject("saic", body) == code


def test_invalid_register_duplicate_id_or_key(chain: CoreChain) -> None:
    chain.send("saic", register_body("saic:1"))
    assert chain.reject("saic", register_body("saic:1")) == "already_exists"
    # Another OEM cannot take over the id either: it is not in its namespace.
    assert chain.reject("geely", register_body("saic:1")) == "foreign_vehicle_namespace"
    same_key = msgspec.structs.replace(
        register_body("saic:2"), public_key=register_body().public_key
    )
    assert chain.reject("saic", same_key) == "already_exists"
    assert vehicle(chain, "saic:1").oem == "saic"


@pytest.mark.parametrize("signer", ["bosch", "miit", "police", "owner-1", "vehicle/saic:1", "x"])
def test_invalid_register_by_non_oem(chain: CoreChain, signer: str) -> None:
    assert chain.reject(signer, register_body()) == "unauthorized"
    assert chain.last_check is not None
    assert chain.last_check.error_code == "unauthorized"  # refused at admission


def test_invalid_register_by_suspended_oem(chain: CoreChain) -> None:
    suspend(chain, "saic")
    assert chain.reject("saic", register_body()) == "unauthorized"


def test_registering_oem_is_the_signer(chain: CoreChain) -> None:
    """The OEM is never taken from the body: a vehicle is always its signer's."""
    chain.send("geely", register_body("geely:1"))
    assert vehicle(chain, "geely:1").oem == "geely"


# --- namespaces: an OEM registers ids in its own namespace only --------------------------------


@pytest.mark.parametrize("vid", ["saic:1", "saic:LSVAX4181E2100001", "saic:looking-id"])
def test_invalid_register_in_another_oems_namespace(chain: CoreChain, vid: str) -> None:
    """Squatting: geely cannot claim ids in saic's namespace, before or after saic uses them."""
    assert chain.reject("geely", register_body(vid)) == "foreign_vehicle_namespace"
    chain.send("saic", register_body(vid))
    assert vehicle(chain, vid).oem == "saic"


@pytest.fixture
def prefix_chain(tmp_path: Path) -> CoreChain:
    """A chain where one OEM's id is a prefix of another's: ``saic`` and ``saic-x``."""
    founders = (*FOUNDERS, ("saic-x", "SAIC X", ["oem"], 0))
    return open_core_chain(make_genesis(founders=founders))


def test_invalid_register_across_prefix_namespaces(prefix_chain: CoreChain) -> None:
    chain = prefix_chain
    assert chain.reject("saic", register_body("saic-x:1")) == "foreign_vehicle_namespace"
    assert chain.reject("saic-x", register_body("saic:1")) == "foreign_vehicle_namespace"
    assert chain.reject("saic-x", register_body("saic:x:1")) == "invalid_body"
    chain.send("saic-x", register_body("saic-x:1"))
    chain.send("saic", register_body("saic:1"))
    assert (vehicle(chain, "saic-x:1").oem, vehicle(chain, "saic:1").oem) == ("saic-x", "saic")


def test_invalid_member_id_with_namespace_separator(tmp_path: Path, chain: CoreChain) -> None:
    """A member id never holds ``:``, so ``<member>:<local>`` splits one way only."""
    founders = (*FOUNDERS, ("saic:x", "SAIC X", ["oem"], 0))
    with pytest.raises(InvalidGenesis, match="member id"):
        open_core_chain(make_genesis(founders=founders))
    propose = gov.Propose(
        gov.AddMember("saic:x", "SAIC X", ["oem"], seeded_key("saic:x").public_key)
    )
    assert chain.reject("miit", propose) == "invalid_body"


def test_vehicle_namespace_helpers() -> None:
    assert veh.compute_vehicle_id("vw-china", "LSV-0001") == "vw-china:LSV-0001"
    assert veh.compute_vehicle_namespace("saic-x:1") == "saic-x"
    for bad in (("saic", "a:b"), ("sa:ic", "1"), ("", "1"), ("saic", "")):
        with pytest.raises(InvalidBody):
            veh.compute_vehicle_id(*bad)


# --- the OEM rule, tried from every side -------------------------------------------------------

ACTIONS = {
    "transfer": lambda: transfer_body("saic:1", seeded_key("owner-2")),
    "rotate": lambda: rotate_body("saic:1", seeded_key("vehicle/new").public_key),
    "revoke": lambda: RevokeVehicle("saic:1", "stolen"),
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize(
    ("signer", "code", "refused_at_admission"),
    [
        ("geely", "unauthorized", False),  # another OEM
        ("bosch", "unauthorized", True),  # a member without the OEM role
        ("miit", "unauthorized", True),  # even the regulator
        ("owner-1", "unauthorized", True),  # the owner's key
        ("vehicle/saic:1", "unauthorized", True),  # the vehicle's own key
        ("random", "unauthorized", True),  # anyone
    ],
)
def test_invalid_only_own_oem(
    chain: CoreChain, action: str, signer: str, code: str, refused_at_admission: bool
) -> None:
    chain.send("saic", register_body())
    before = vehicle(chain, "saic:1")
    assert chain.reject(signer, ACTIONS[action]()) == code
    assert chain.last_check is not None
    assert chain.last_check.ok is not refused_at_admission
    assert vehicle(chain, "saic:1") == before


@pytest.mark.parametrize("action", list(ACTIONS))
def test_invalid_only_own_oem_while_suspended(chain: CoreChain, action: str) -> None:
    chain.send("saic", register_body())
    suspend(chain, "saic")
    assert chain.reject("saic", ACTIONS[action]()) == "unauthorized"
    assert vehicle(chain, "saic:1").status == "active"


@pytest.mark.parametrize("action", list(ACTIONS))
def test_invalid_other_oem_even_with_oem_role_granted(chain: CoreChain, action: str) -> None:
    """A member that gains the OEM role still cannot touch another OEM's cars."""
    chain.send("saic", register_body())
    result = chain.send("miit", gov.Propose(gov.ChangeRoles("bosch", ["oem", "supplier"])))
    pid = int(
        next(e for e in result.events if e.type == "proposal_created").attributes["proposal_id"]
    )
    for voter in ("police", "saic", "geely"):
        chain.send(voter, gov.Vote(pid, True))
    assert chain.reject("bosch", ACTIONS[action]()) == "unauthorized"


@pytest.mark.parametrize("action", list(ACTIONS))
def test_invalid_action_on_unknown_vehicle(chain: CoreChain, action: str) -> None:
    assert chain.reject("saic", ACTIONS[action]()) == "not_found"


# --- transfer ----------------------------------------------------------------------------------


def test_transfer_with_owner_consent(chain: CoreChain) -> None:
    chain.send("saic", register_body())
    new = seeded_key("owner-2")
    result = chain.send("saic", transfer_body("saic:1", new))
    assert {e.type: e.attributes for e in result.events}["vehicle_transferred"] == {
        "vehicle_id": "saic:1",
        "seq": "1",
    }
    v = vehicle(chain, "saic:1")
    assert (v.owner, v.transfer_seq) == (new.public_key, 1)
    # The next transfer needs the NEW owner's consent over seq 1.
    third = seeded_key("owner-3")
    chain.send("saic", transfer_body("saic:1", third, owner=new, seq=1))
    assert vehicle(chain, "saic:1").owner == third.public_key


def test_invalid_transfer_signed_by_wrong_owner(chain: CoreChain) -> None:
    chain.send("saic", register_body())
    mallory = seeded_key("mallory")
    assert chain.reject("saic", transfer_body("saic:1", mallory, owner=mallory)) == "unauthorized"
    assert vehicle(chain, "saic:1").owner == OWNER.public_key


def test_invalid_transfer_replayed_owner_signature(chain: CoreChain) -> None:
    """The consent covers transfer_seq: once used, it cannot move the car again."""
    chain.send("saic", register_body())
    new = seeded_key("owner-2")
    consent = transfer_body("saic:1", new)
    chain.send("saic", consent)
    # Give it back to the first owner, then replay the old consent.
    chain.send("saic", transfer_body("saic:1", OWNER, owner=new, seq=1))
    assert vehicle(chain, "saic:1").owner == OWNER.public_key
    assert chain.reject("saic", consent) == "unauthorized"
    assert vehicle(chain, "saic:1").owner == OWNER.public_key


@pytest.mark.parametrize(
    "tamper",
    ["other_vehicle", "other_new_owner", "other_chain", "other_seq", "garbage", "empty"],
)
def test_invalid_transfer_consent_for_something_else(chain: CoreChain, tamper: str) -> None:
    chain.send("saic", register_body("saic:1"))
    chain.send("saic", register_body("saic:2"))
    new = seeded_key("owner-2")
    sign = {
        "other_vehicle": ("saic:2", new.public_key, CHAIN_ID, 0),
        "other_new_owner": ("saic:1", seeded_key("x").public_key, CHAIN_ID, 0),
        "other_chain": ("saic:1", new.public_key, "carchain-other", 0),
        "other_seq": ("saic:1", new.public_key, CHAIN_ID, 1),
    }
    if tamper in sign:
        vid, no, cid, seq = sign[tamper]
        sig = OWNER.sign(veh.compute_transfer_signing_bytes(cid, vid, no, seq))
    else:
        sig = b"\x00" * 64 if tamper == "garbage" else b""
    assert chain.reject("saic", TransferVehicle("saic:1", new.public_key, sig)) == "unauthorized"


def test_invalid_transfer_to_current_owner_or_bad_key(chain: CoreChain) -> None:
    chain.send("saic", register_body())
    assert chain.reject("saic", transfer_body("saic:1", OWNER)) == "invalid_body"
    bad = TransferVehicle("saic:1", b"k" * 31, b"\x00" * 64)
    assert chain.reject("saic", bad) == "invalid_body"


# --- rotate key ----------------------------------------------------------------------------------


def test_rotate_key(chain: CoreChain) -> None:
    chain.send("saic", register_body())
    registered_ms = chain.now_ms
    old = register_body().public_key
    new = seeded_key("vehicle/new").public_key
    chain.send("saic", rotate_body("saic:1", new))
    v = vehicle(chain, "saic:1")
    assert (v.public_key, v.key_version, v.key_since_ms) == (new, 2, chain.now_ms)
    assert veh.get_vehicle_by_key_optional(chain.app.state, old) is None
    assert veh.get_vehicle_by_key_optional(chain.app.state, new) == v
    # The history keeps both keys with the block times between which each was valid.
    state = chain.app.state
    assert veh.get_key_period(state, "saic:1", 1) == veh.KeyPeriod(
        old, 1, registered_ms, chain.now_ms
    )
    assert veh.get_key_period(state, "saic:1", 2) == veh.KeyPeriod(new, 2, chain.now_ms, 0)


def test_get_key_at_follows_the_history(chain: CoreChain) -> None:
    chain.send("saic", register_body())
    t1 = chain.now_ms
    k2, k3 = seeded_key("vehicle/k2").public_key, seeded_key("vehicle/k3").public_key
    chain.send("saic", rotate_body("saic:1", k2))
    t2 = chain.now_ms
    chain.send("saic", rotate_body("saic:1", k3, version=3))
    t3 = chain.now_ms
    state = chain.app.state
    at = {t: veh.get_key_at(state, "saic:1", t).key_version for t in (0, t1, t2 - 1, t2, t3 - 1)}
    assert at == {0: 1, t1: 1, t2 - 1: 1, t2: 2, t3 - 1: 2}
    assert veh.get_key_at(state, "saic:1", t3 + 10**9).public_key == k3
    with pytest.raises(veh.NotFound):
        veh.get_key_at(state, "saic:9", t1)


@pytest.mark.parametrize("cosigner", ["none", "garbage", "oem", "vehicle", "mallory", "new-key"])
def test_invalid_rotate_without_owner_consent(chain: CoreChain, cosigner: str) -> None:
    """The OEM alone cannot swap in a key of its own: the owner must co-sign."""
    chain.send("saic", register_body())
    before = vehicle(chain, "saic:1")
    new = seeded_key("vehicle/oem-chosen")
    signers = {
        "oem": seeded_key("saic"),
        "vehicle": seeded_key("vehicle/saic:1"),
        "mallory": seeded_key("mallory"),
        "new-key": new,
    }
    if cosigner in signers:
        body = rotate_body("saic:1", new.public_key, owner=signers[cosigner])
    else:
        body = RotateVehicleKey("saic:1", new.public_key, b"" if cosigner == "none" else b"\0" * 64)
    assert chain.reject("saic", body) == "invalid_owner_consent"
    assert vehicle(chain, "saic:1") == before
    assert veh.get_key_at(chain.app.state, "saic:1", chain.now_ms).public_key == before.public_key


@pytest.mark.parametrize(
    "tamper", ["other_vehicle", "other_key", "other_chain", "same_version", "other_seq"]
)
def test_invalid_rotation_consent_for_something_else(chain: CoreChain, tamper: str) -> None:
    chain.send("saic", register_body("saic:1"))
    chain.send("saic", register_body("saic:2"))
    new = seeded_key("vehicle/new").public_key
    args = {
        "other_vehicle": ("saic:2", new, CHAIN_ID, 2, 0),
        "other_key": ("saic:1", seeded_key("vehicle/x").public_key, CHAIN_ID, 2, 0),
        "other_chain": ("saic:1", new, "carchain-other", 2, 0),
        "same_version": ("saic:1", new, CHAIN_ID, 1, 0),
        "other_seq": ("saic:1", new, CHAIN_ID, 2, 1),
    }[tamper]
    sig = OWNER.sign(veh.compute_rotation_signing_bytes(*args))
    assert chain.reject("saic", RotateVehicleKey("saic:1", new, sig)) == "invalid_owner_consent"


def test_invalid_rotate_replayed_owner_consent(chain: CoreChain) -> None:
    """A consent names the key version it creates: once used, it cannot rotate again."""
    chain.send("saic", register_body())
    k2, k3 = seeded_key("vehicle/k2").public_key, seeded_key("vehicle/k3").public_key
    first = rotate_body("saic:1", k2)
    chain.send("saic", first)
    chain.send("saic", rotate_body("saic:1", k3, version=3))
    # k2 is no longer anyone's current key, so only the consent stops the replay.
    assert chain.reject("saic", first) == "invalid_owner_consent"
    assert vehicle(chain, "saic:1").public_key == k3


def test_invalid_rotate_consent_of_a_previous_owner(chain: CoreChain) -> None:
    """A consent signed before a sale is void after it, even once the car comes back."""
    chain.send("saic", register_body())
    new = seeded_key("vehicle/new").public_key
    stale = rotate_body("saic:1", new)  # signed by OWNER at transfer_seq 0
    owner2 = seeded_key("owner-2")
    chain.send("saic", transfer_body("saic:1", owner2))
    assert chain.reject("saic", rotate_body("saic:1", new, seq=1)) == "invalid_owner_consent"
    chain.send("saic", transfer_body("saic:1", OWNER, owner=owner2, seq=1))
    assert chain.reject("saic", stale) == "invalid_owner_consent"
    chain.send("saic", rotate_body("saic:1", new, seq=2))
    assert vehicle(chain, "saic:1").public_key == new


def test_invalid_rotate_to_used_or_bad_key(chain: CoreChain) -> None:
    chain.send("saic", register_body("saic:1"))
    chain.send("saic", register_body("saic:2"))
    own = register_body("saic:1").public_key
    other = register_body("saic:2").public_key
    assert chain.reject("saic", rotate_body("saic:1", own)) == "already_exists"
    assert chain.reject("saic", rotate_body("saic:1", other)) == "already_exists"
    assert chain.reject("saic", rotate_body("saic:1", b"short")) == "invalid_body"


def test_invalid_reuse_of_a_rotated_out_key(chain: CoreChain) -> None:
    """A key rotated out (perhaps because it leaked) never becomes a vehicle's key again:
    not another vehicle's (of this OEM or another) and not its own vehicle's."""
    chain.send("saic", register_body("saic:1"))
    old = register_body("saic:1").public_key
    k2 = seeded_key("vehicle/k2").public_key
    chain.send("saic", rotate_body("saic:1", k2))
    assert veh.get_vehicle_by_key_optional(chain.app.state, old) is None
    reuse = msgspec.structs.replace(register_body("saic:2"), public_key=old)
    assert chain.reject("saic", reuse) == "already_exists"
    other_oem = msgspec.structs.replace(register_body("geely:1"), public_key=old)
    assert chain.reject("geely", other_oem) == "already_exists"
    assert chain.reject("saic", rotate_body("saic:1", old, version=3)) == "already_exists"
    chain.send("saic", register_body("saic:2"))
    assert chain.reject("saic", rotate_body("saic:2", old)) == "already_exists"
    assert vehicle(chain, "saic:1").public_key == k2
    assert veh.get_key_at(chain.app.state, "saic:1", 0).public_key == old  # history kept


# --- revoke -----------------------------------------------------------------------------------


def test_revoke_is_final(chain: CoreChain) -> None:
    chain.send("saic", register_body())
    result = chain.send("saic", RevokeVehicle("saic:1", "scrapped"))
    assert [e.type for e in result.events] == ["tx", "vehicle_revoked"]
    v = vehicle(chain, "saic:1")
    assert (v.status, v.revoked_reason) == ("revoked", "scrapped")
    assert not veh.is_active_vehicle(v)
    for body in (
        RevokeVehicle("saic:1", "again"),
        rotate_body("saic:1", seeded_key("vehicle/new").public_key),
        transfer_body("saic:1", seeded_key("owner-2")),
    ):
        assert chain.reject("saic", body) == "invalid_state"
    # A revoked car's id and key stay taken.
    assert chain.reject("saic", register_body("saic:1")) == "already_exists"


@pytest.mark.parametrize("reason", ["", "r" * 257, "tab\there"])
def test_invalid_revoke_reason(chain: CoreChain, reason: str) -> None:
    chain.send("saic", register_body())
    assert chain.reject("saic", RevokeVehicle("saic:1", reason)) == "invalid_body"
