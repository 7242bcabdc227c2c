"""Random histories of governance and vehicle transactions keep the state's
invariants: the active-member counter, the key indexes, and the validator set
CometBFT would hold (built only from the emitted updates) all agree with the
member records."""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from carchain.core import governance as gov
from carchain.core import members
from carchain.core import vehicles as veh
from carchain.core.members import Member
from carchain.core.transactions import compute_tx_hash
from carchain.core.vehicles import Vehicle
from carchain.sdk.transactions import sign_rotation_consent, sign_transfer_consent
from tests.conftest import CHAIN_ID, FOUNDERS, Chain, open_chain, seeded_key, validator_key
from tests.core.test_vehicles import register_body

FOUNDER_IDS = [m for m, *_ in FOUNDERS]
MEMBER_IDS = [*FOUNDER_IDS, "n1", "n2"]
SIGNERS = [*MEMBER_IDS, "stranger"]
KEY_LABELS = [*MEMBER_IDS, "k1", "k2"]
VKEYS = ["saic", "geely", "v1", "v2"]
ROLE_SETS = [["oem"], ["supplier"], ["oem", "supplier"], ["regulator"]]

member_id = st.sampled_from(MEMBER_IDS)
actions = st.one_of(
    st.builds(
        lambda mid, name, roles, key, vk, power: gov.AddMember(
            mid, name, roles, seeded_key(key).public_key, validator_key(vk) if vk else b"", power
        ),
        member_id,
        st.just("New"),
        st.sampled_from(ROLE_SETS),
        st.sampled_from(KEY_LABELS),
        st.sampled_from([*VKEYS, ""]),
        st.sampled_from([0, 0, 3]),
    ).filter(lambda a: a.power == 0 or a.validator_key),
    st.builds(gov.SuspendMember, member_id),
    st.builds(gov.ReinstateMember, member_id),
    st.builds(gov.RemoveMember, member_id),
    st.builds(gov.ChangeRoles, member_id, st.sampled_from(ROLE_SETS)),
    st.builds(
        lambda mid, key: gov.RotateMemberKey(mid, seeded_key(key).public_key),
        member_id,
        st.sampled_from(KEY_LABELS),
    ),
    st.builds(
        lambda mid, vk, power: gov.SetValidator(mid, validator_key(vk), power),
        member_id,
        st.sampled_from(VKEYS),
        st.sampled_from([0, 1, 7]),
    ),
)
ops = st.one_of(
    st.tuples(st.just("carry"), st.sampled_from(FOUNDER_IDS), actions),
    st.tuples(st.just("carry"), st.sampled_from(FOUNDER_IDS), actions),
    st.tuples(st.just("carry"), st.sampled_from(FOUNDER_IDS), actions),
    st.tuples(st.just("propose"), st.sampled_from(SIGNERS), actions),
    st.tuples(st.just("vote"), st.sampled_from(SIGNERS), st.integers(1, 6), st.booleans()),
    st.tuples(st.just("register"), st.sampled_from(SIGNERS), st.integers(1, 4)),
    st.tuples(st.just("transfer"), st.sampled_from(SIGNERS), st.integers(1, 4)),
    st.tuples(st.just("rotate"), st.sampled_from(SIGNERS), st.integers(1, 4), st.integers(1, 4)),
    st.tuples(st.just("revoke"), st.sampled_from(SIGNERS), st.integers(1, 4)),
)


def signer_key(chain: Chain, name: str) -> bytes:
    return chain.key(name).public_key


def body_for(chain: Chain, op: tuple) -> msgspec.Struct:  # type: ignore[type-arg]
    kind = op[0]
    if kind in ("propose", "carry"):
        return gov.Propose(op[2])
    if kind == "vote":
        return gov.Vote(op[2], op[3])
    vid = f"saic:car-{op[2]}"
    if kind == "register":
        return register_body(vid)
    if kind == "transfer":
        raw = chain.app.state.get("vehicles", veh.compute_vehicle_key(vid))
        seq = 0 if raw is None else msgspec.msgpack.decode(raw, type=Vehicle).transfer_seq
        owner = seeded_key("owner-1") if seq % 2 == 0 else seeded_key("owner-2")
        new = seeded_key("owner-2") if seq % 2 == 0 else seeded_key("owner-1")
        sig = sign_transfer_consent(CHAIN_ID, owner, vid, new.public_key, seq)
        return veh.TransferVehicle(vid, new.public_key, sig)
    if kind == "rotate":
        new_key = seeded_key(f"vehicle/rot-{op[3]}").public_key
        version, seq = (v.key_version, v.transfer_seq) if (v := _vehicle(chain, vid)) else (1, 0)
        owner = seeded_key("owner-1") if seq % 2 == 0 else seeded_key("owner-2")
        sig = sign_rotation_consent(CHAIN_ID, owner, vid, new_key, version + 1, seq)
        return veh.RotateVehicleKey(vid, new_key, sig)
    return veh.RevokeVehicle(vid, "scrapped")


def _vehicle(chain: Chain, vid: str) -> Vehicle | None:
    raw = chain.app.state.get("vehicles", veh.compute_vehicle_key(vid))
    return None if raw is None else msgspec.msgpack.decode(raw, type=Vehicle)


def _next_pid(chain: Chain) -> int:
    raw = chain.app.state.get(gov.STORE, b"seq")
    return (0 if raw is None else int.from_bytes(raw, "big")) + 1


def all_members(chain: Chain) -> list[Member]:
    rows = chain.app.state.iterate(members.STORE, b"m/", 1000)
    return [msgspec.msgpack.decode(v, type=Member) for _, v in rows]


def check_invariants(chain: Chain, validators: dict[bytes, int]) -> None:
    ms = all_members(chain)
    state = chain.app.state
    assert members.get_active_member_count(state) == sum(m.status == "active" for m in ms)
    for m in ms:
        holder = state.get(members.STORE, members.compute_signer_key(m.public_key))
        if m.status == "removed":
            assert holder != m.member_id.encode()
        else:
            assert holder == m.member_id.encode(), m
        if m.power:
            assert m.status == "active" and len(m.validator_key) == 32
        if m.validator_key:
            index = state.get(members.STORE, members.compute_validator_index_key(m.validator_key))
            assert index == m.member_id.encode()
    keys = [m.validator_key for m in ms if m.validator_key]
    assert len(keys) == len(set(keys)), "two members share a validator key"
    # The set a CometBFT node would hold, from the emitted updates alone.
    assert {k: p for k, p in validators.items() if p} == {
        m.validator_key: m.power for m in ms if m.power
    }
    for _, raw in state.iterate(veh.STORE, b"v/", 1000):
        v = msgspec.msgpack.decode(raw, type=Vehicle)
        assert (
            state.get(veh.STORE, veh.compute_vehicle_pubkey_key(v.public_key))
            == v.vehicle_id.encode()
        )
        # Its id is in its OEM's namespace, and its key history ends in its current key.
        assert veh.compute_vehicle_namespace(v.vehicle_id) == v.oem
        current = veh.get_key_period(state, v.vehicle_id, v.key_version)
        assert (current.public_key, current.since_ms, current.until_ms) == (
            v.public_key,
            v.key_since_ms,
            0,
        )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(ops, min_size=8, max_size=30))
def test_random_histories_keep_invariants(history: list[tuple]) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        chain = open_chain(Path(tmp) / "s.db")
        validators = {validator_key(m): p for m, _, _, p in FOUNDERS if p}
        executed = 0
        check_invariants(chain, validators)
        for op in history:
            raws = [chain.build(op[1], body_for(chain, op))]
            if op[0] == "carry":
                # Everyone else votes yes on the proposal in the same block.
                pid = _next_pid(chain)
                raws += [chain.build(m, gov.Vote(pid, True)) for m in MEMBER_IDS if m != op[1]]
            for raw in raws:
                if not chain.submit(raw).ok:
                    chain.engine.mempool.add(compute_tx_hash(raw), raw)
            results = chain.block()
            assert len(results) == len(raws)
            executed += sum(e.type == "member_changed" for r in results for e in r.events)
            for update in chain.finalized[-1].validator_updates:
                validators[update.pub_key] = update.power
            check_invariants(chain, validators)
        event(f"membership changes: {min(executed, 3)}+")
        chain.engine.validate_consistency()
        chain.db.close()
