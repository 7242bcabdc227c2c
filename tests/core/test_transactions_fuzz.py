"""Fuzzing the decoder and the node with hypothesis.

Every rejection must be a typed ``CarchainError`` with a known code, never any
other exception; the engine never crashes; a refused transaction changes
nothing (app hash, nonces); a transaction that fails its rules in a block
changes only its signer's nonce.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carchain.core import governance as gov
from carchain.core import vehicles as veh
from carchain.core.block import validate_stateless
from carchain.core.registry import TX_TYPES
from carchain.core.transactions import TX_VERSION, Envelope, compute_signing_bytes
from carchain.errors import CarchainError, get_error_class
from tests.conftest import CHAIN_ID, Chain, open_chain, seeded_key, snapshot
from tests.core.test_vehicles import register_body

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Codes that refuse a transaction before it may touch state (not even its nonce).
UNAUTHENTICATED = {
    "malformed_tx",
    "unknown_tx_type",
    "invalid_signature",
    "wrong_chain_id",
    "invalid_nonce",
    "unsupported_version",
    "tx_too_large",
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=80)
    | st.binary(max_size=80)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


def check_decoder(raw: bytes) -> None:
    try:
        validate_stateless(raw, CHAIN_ID)
    except CarchainError as exc:
        assert get_error_class(exc.code) is type(exc)
        assert exc.to_dict()["code"] == exc.code


@FUZZ
@given(st.binary(max_size=300))
def test_decoder_random_bytes(raw: bytes) -> None:
    check_decoder(raw)


VALID = register_body()


@FUZZ
@given(st.data())
def test_decoder_mutated_valid_tx(data: st.DataObject) -> None:
    from carchain.sdk.transactions import build_tx

    raw = bytearray(build_tx(CHAIN_ID, seeded_key("saic"), 1, VALID))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate", "byte"]))
        pos = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "flip" and raw:
            raw[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "byte" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and raw:
            del raw[pos : pos + data.draw(st.integers(1, 8))]
        elif op == "truncate":
            del raw[pos:]
    check_decoder(bytes(raw))


@FUZZ
@given(st.lists(values, min_size=0, max_size=9))
def test_decoder_wrong_types_and_shapes(fields: list[Any]) -> None:
    check_decoder(msgspec.msgpack.encode(fields))


@FUZZ
@given(
    version=st.integers(0, 3),
    chain_id=st.text(max_size=60),
    nonce=st.integers(0, 2**64 - 1),
    tx_type=st.sampled_from([*TX_TYPES, "", "x" * 70, "vehicle.fly"]),
    body=st.binary(max_size=64),
    signer_label=st.sampled_from(["saic", "other"]),
    oversize=st.integers(0, 70_000),
)
def test_decoder_signed_field_ranges(
    version: int,
    chain_id: str,
    nonce: int,
    tx_type: str,
    body: bytes,
    signer_label: str,
    oversize: int,
) -> None:
    """Correct signatures over out-of-range fields (and one signed by the wrong key)."""
    key = seeded_key("saic")
    body = body + b"\x00" * (oversize if oversize > 65_000 else 0)
    sig = seeded_key(signer_label).sign(
        compute_signing_bytes(version, chain_id, key.public_key, nonce, tx_type, body)
    )
    raw = msgspec.msgpack.encode(
        Envelope(version, chain_id, key.public_key, nonce, tx_type, body, sig)
    )
    check_decoder(raw)


# --- the node under fuzzed transactions -------------------------------------------------------


def run_against_node(chain: Chain, raw: bytes, signer: bytes | None) -> None:
    """Submit, then force into a block; check the invariants at each step."""
    before_all = snapshot(chain.db)
    app_hash = chain.app.state.app_hash
    check = chain.submit(raw)  # must never raise
    if not check.ok:
        assert get_error_class(check.error_code).code == check.error_code
        assert (snapshot(chain.db), chain.app.state.app_hash) == (before_all, app_hash)
        [result] = chain.include(raw)
    else:
        [result] = chain.block()
    if result.code == 0:
        return
    assert get_error_class(result.error_code).code == result.error_code
    after = snapshot(chain.db)
    if result.error_code in UNAUTHENTICATED or not check.ok:
        # Not admitted (bad bytes, wrong nonce, a signer who may not send it):
        # the block writes nothing for it, not even a nonce.
        assert (after, chain.app.state.app_hash) == (before_all, app_hash)
    else:
        changed = {k for k in set(after) | set(before_all) if after.get(k) != before_all.get(k)}
        assert changed == {("accounts", signer)}, changed


def fuzz_chain(tmp_path: Path) -> Chain:
    return open_chain(tmp_path / "fuzz.db")


def test_node_random_bytes(tmp_path: Path) -> None:
    chain = fuzz_chain(tmp_path)

    @FUZZ
    @given(st.binary(max_size=200))
    def run(raw: bytes) -> None:
        run_against_node(chain, raw, None)

    run()
    chain.engine.validate_consistency()
    chain.db.close()


def test_node_random_bodies_from_a_member(tmp_path: Path) -> None:
    """Correctly signed, right nonce, a real OEM: bodies of any shape."""
    chain = fuzz_chain(tmp_path)

    @FUZZ
    @given(st.sampled_from(sorted(TX_TYPES)), values, st.booleans())
    def run(tx_type: str, body: Any, as_fields: bool) -> None:
        key = chain.key("saic")
        if as_fields and isinstance(body, dict):
            names = list(TX_TYPES[tx_type].body.__struct_fields__)
            body = dict(zip(names, body.values(), strict=False))
        raw_body = msgspec.msgpack.encode(body)
        nonce = chain.nonce(key) + 1
        sig = key.sign(
            compute_signing_bytes(TX_VERSION, CHAIN_ID, key.public_key, nonce, tx_type, raw_body)
        )
        env = Envelope(TX_VERSION, CHAIN_ID, key.public_key, nonce, tx_type, raw_body, sig)
        run_against_node(chain, msgspec.msgpack.encode(env), key.public_key)

    run()
    chain.engine.validate_consistency()
    chain.db.close()


text = (
    st.text(max_size=300)
    | st.sampled_from(["saic:1", "saic", "bosch", "", "x" * 300, "é" * 20_000, "x" * 70_000])
    | st.text(min_size=1000, max_size=2000)
)
key32 = st.binary(min_size=0, max_size=40) | st.sampled_from(
    [seeded_key("saic").public_key, seeded_key("vehicle/saic:1").public_key]
)
big = st.integers(-(2**63), 2**63 - 1)
ACTIONS = st.one_of(
    st.builds(gov.AddMember, text, text, st.lists(text, max_size=3), key32, key32, big),
    st.builds(gov.SuspendMember, text),
    st.builds(gov.ReinstateMember, text),
    st.builds(gov.RemoveMember, text),
    st.builds(gov.ChangeRoles, text, st.lists(text, max_size=3)),
    st.builds(gov.RotateMemberKey, text, key32),
    st.builds(gov.SetValidator, text, key32, big),
)
BODIES = st.one_of(
    st.builds(gov.Propose, ACTIONS),
    st.builds(gov.Vote, big, st.booleans()),
    st.builds(veh.RegisterVehicle, text, key32, key32, text, big, key32),
    st.builds(veh.TransferVehicle, text, key32, st.binary(max_size=70)),
    st.builds(veh.RotateVehicleKey, text, key32),
    st.builds(veh.RevokeVehicle, text),
)


def test_node_well_typed_hostile_bodies(tmp_path: Path) -> None:
    """Well-typed bodies with hostile values, from members with and without rights."""
    chain = fuzz_chain(tmp_path)
    chain.send("saic", register_body("saic:1"))

    @FUZZ
    @given(BODIES, st.sampled_from(["saic", "geely", "bosch", "miit", "stranger"]))
    def run(body: msgspec.Struct, signer: str) -> None:
        key = chain.key(signer)
        raw = chain.build(key, body, nonce=chain.nonce(key) + 1)
        run_against_node(chain, raw, key.public_key)

    run()
    chain.engine.validate_consistency()
    chain.db.close()
