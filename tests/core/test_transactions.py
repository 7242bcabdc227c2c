"""The signed envelope: canonical encoding, typed errors with stable codes."""

from __future__ import annotations

import hashlib

import msgspec
import pytest
from cryptography.exceptions import InvalidSignature as PycaInvalidSignature

from carchain import errors as exc
from carchain.core.block import validate_stateless
from carchain.core.transactions import (
    MAX_TX_BYTES,
    SIGN_DOMAIN,
    TX_VERSION,
    Envelope,
    compute_signing_bytes,
    compute_tx_hash,
    decode_envelope,
)
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.sdk.transactions import build_tx
from tests.conftest import CHAIN_ID, Chain, seeded_key, snapshot

OWNER = seeded_key("owner").public_key


def register_body(vid: str = "saic:1", label: str = "veh") -> RegisterVehicle:
    return RegisterVehicle(
        vehicle_id=vid,
        vin_commitment=hashlib.sha256(vid.encode()).digest(),
        public_key=seeded_key(f"{label}/{vid}").public_key,
        model="Roewe RX5",
        year=2024,
        owner=OWNER,
    )


def sign_envelope(
    key: SigningKey,
    *,
    version: int = TX_VERSION,
    chain_id: str = CHAIN_ID,
    nonce: int = 1,
    tx_type: str = "vehicle.register",
    body: bytes | None = None,
    signer: bytes | None = None,
) -> bytes:
    """Hand-build an envelope, correctly signed, with any field overridden."""
    raw_body = msgspec.msgpack.encode(register_body()) if body is None else body
    signer = key.public_key if signer is None else signer
    sig = key.sign(compute_signing_bytes(version, chain_id, signer, nonce, tx_type, raw_body))
    return msgspec.msgpack.encode(
        Envelope(version, chain_id, signer, nonce, tx_type, raw_body, sig)
    )


# --- stable codes --------------------------------------------------------------------

# The published error table. These are part of the wire contract (CheckTx codes
# and API error codes) and must never change once released.
STABLE_CODES = {
    exc.MalformedTransaction: ("malformed_tx", 2),
    exc.UnknownTransactionType: ("unknown_tx_type", 3),
    exc.InvalidSignature: ("invalid_signature", 4),
    exc.WrongChainId: ("wrong_chain_id", 5),
    exc.InvalidNonce: ("invalid_nonce", 6),
    exc.Unauthorized: ("unauthorized", 7),
    exc.InvalidBody: ("invalid_body", 8),
    exc.UnsupportedVersion: ("unsupported_version", 9),
    exc.TransactionTooLarge: ("tx_too_large", 10),
    exc.NotFound: ("not_found", 20),
    exc.AlreadyExists: ("already_exists", 21),
    exc.InvalidState: ("invalid_state", 22),
    exc.MempoolFull: ("mempool_full", 30),
    exc.DuplicateTransaction: ("duplicate_tx", 31),
    exc.InvalidProof: ("invalid_proof", 40),
    exc.DecryptionFailed: ("decryption_failed", 42),
    exc.StorageCorrupted: ("storage_corrupted", 43),
}


@pytest.mark.parametrize("cls", list(STABLE_CODES))
def test_error_codes_are_stable(cls: type[exc.CarchainError]) -> None:
    code, abci = STABLE_CODES[cls]
    assert (cls.code, cls.abci_code) == (code, abci)
    err = exc.make_error(code, "m", {"undeclared": "01"})
    assert type(err) is cls
    assert err.to_dict() == {"code": code, "message": "m"}


def test_unknown_code_maps_to_root_error() -> None:
    err = exc.make_error("no_such_code", "boom")
    assert type(err) is exc.CarchainError
    assert err.code == "internal"


# --- valid envelopes --------------------------------------------------------------------


def test_build_and_decode_round_trip() -> None:
    key = seeded_key("saic")
    raw = build_tx(CHAIN_ID, key, 7, register_body())
    env = decode_envelope(raw)
    assert (env.version, env.chain_id, env.signer, env.nonce, env.type) == (
        1,
        CHAIN_ID,
        key.public_key,
        7,
        "vehicle.register",
    )
    assert msgspec.msgpack.decode(env.body, type=RegisterVehicle) == register_body()
    assert compute_tx_hash(raw) == hashlib.sha256(raw).digest()
    assert validate_stateless(raw, CHAIN_ID) == env


def test_signature_covers_domain_separated_bytes() -> None:
    key = seeded_key("saic")
    env = decode_envelope(build_tx(CHAIN_ID, key, 1, register_body()))
    unsigned = msgspec.msgpack.encode(
        [env.version, env.chain_id, env.signer, env.nonce, env.type, env.body]
    )
    # Verify independently of carchain.crypto, with pyca directly.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(key.public_key).verify(env.signature, SIGN_DOMAIN + unsigned)
    with pytest.raises(PycaInvalidSignature):
        Ed25519PublicKey.from_public_bytes(key.public_key).verify(env.signature, unsigned)


# --- invalid envelopes: stateless ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",  # never-used MessagePack byte
        b"\x90",  # empty array
        b"\x97" + b"\xc0" * 7,  # seven nils
        msgspec.msgpack.encode({"version": 1}),
        msgspec.msgpack.encode([1, "c", b"k" * 32, 1, "t", b""]),  # six fields
        b"\xdd\xff\xff\xff\xff",  # array header claiming 4 billion items
    ],
)
def test_invalid_malformed_bytes(raw: bytes) -> None:
    with pytest.raises(exc.MalformedTransaction) as info:
        decode_envelope(raw)
    assert info.value.code == "malformed_tx"


def test_invalid_wrong_field_types() -> None:
    key = seeded_key("saic")
    good = msgspec.msgpack.decode(build_tx(CHAIN_ID, key, 1, register_body()))
    for i, wrong in enumerate(["1", 5, "signer", "1", 3, "body", "sig"]):
        fields = list(good)
        fields[i] = wrong
        with pytest.raises(exc.MalformedTransaction):
            decode_envelope(msgspec.msgpack.encode(fields))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"signer": b"k" * 31}, "signer"),
        ({"nonce": 0}, "nonce"),
        ({"nonce": 2**63}, "nonce"),
        ({"tx_type": ""}, "type"),
        ({"tx_type": "x" * 65}, "type"),
        ({"chain_id": ""}, "chain id"),
        ({"chain_id": "c" * 51}, "chain id"),
    ],
)
def test_invalid_field_shapes(override: dict[str, object], message: str) -> None:
    raw = sign_envelope(seeded_key("saic"), **override)  # type: ignore[arg-type]
    with pytest.raises(exc.MalformedTransaction, match=message):
        decode_envelope(raw)


def test_invalid_short_signature() -> None:
    fields = msgspec.msgpack.decode(sign_envelope(seeded_key("saic")))
    fields[6] = fields[6][:63]
    with pytest.raises(exc.MalformedTransaction, match="signature"):
        decode_envelope(msgspec.msgpack.encode(fields))


def test_invalid_unsupported_version() -> None:
    with pytest.raises(exc.UnsupportedVersion) as info:
        decode_envelope(sign_envelope(seeded_key("saic"), version=2))
    assert info.value.code == "unsupported_version"


def test_invalid_non_canonical_envelope_encoding() -> None:
    """The same envelope with a non-minimal integer must not get a second hash."""
    raw = sign_envelope(seeded_key("saic"))
    assert raw[1] == 0x01  # version as positive fixint
    bloated = raw[:1] + b"\xcf" + (1).to_bytes(8, "big") + raw[2:]  # version as uint64
    assert msgspec.msgpack.decode(bloated) == msgspec.msgpack.decode(raw)
    with pytest.raises(exc.MalformedTransaction, match="canonical"):
        decode_envelope(bloated)


def test_invalid_trailing_field_or_bytes() -> None:
    fields = msgspec.msgpack.decode(sign_envelope(seeded_key("saic")))
    with pytest.raises(exc.MalformedTransaction):
        decode_envelope(msgspec.msgpack.encode([*fields, 0]))
    with pytest.raises(exc.MalformedTransaction):
        decode_envelope(sign_envelope(seeded_key("saic")) + b"\x00")


def test_invalid_oversized_tx() -> None:
    with pytest.raises(exc.TransactionTooLarge) as info:
        decode_envelope(b"\x00" * (MAX_TX_BYTES + 1))
    assert info.value.code == "tx_too_large"
    assert info.value.fields == {"size": MAX_TX_BYTES + 1, "limit": MAX_TX_BYTES}
    # At the limit, size is not the objection (these bytes are simply malformed).
    with pytest.raises(exc.MalformedTransaction):
        decode_envelope(b"\x00" * MAX_TX_BYTES)


def test_invalid_oversized_signed_tx_through_engine(chain: Chain) -> None:
    body = register_body()
    big = msgspec.structs.replace(body, model="x" * MAX_TX_BYTES)
    res = chain.submit(chain.build("saic", big, nonce=1))
    assert (res.code, res.error_code) == (10, "tx_too_large")


def test_invalid_unknown_type() -> None:
    raw = sign_envelope(seeded_key("saic"), tx_type="vehicle.teleport")
    with pytest.raises(exc.UnknownTransactionType) as info:
        validate_stateless(raw, CHAIN_ID)
    assert info.value.code == "unknown_tx_type"


def test_invalid_wrong_chain_id() -> None:
    raw = sign_envelope(seeded_key("saic"), chain_id="carchain-other")
    with pytest.raises(exc.WrongChainId) as info:
        validate_stateless(raw, CHAIN_ID)
    assert info.value.fields == {"got": "carchain-other", "want": CHAIN_ID}


@pytest.mark.parametrize("field_index", [1, 3, 4, 5])
def test_invalid_signature_over_changed_field(field_index: int) -> None:
    """Changing any signed field after signing breaks the signature."""
    key = seeded_key("saic")
    fields = msgspec.msgpack.decode(sign_envelope(key))
    changed = {1: CHAIN_ID, 3: 2, 4: "vehicle.revoke", 5: fields[5] + b"\x00"}[field_index]
    if field_index == 1:
        # Chain id is checked before the signature; sign for another chain, then relabel.
        fields = msgspec.msgpack.decode(sign_envelope(key, chain_id="carchain-other"))
    fields[field_index] = changed
    with pytest.raises(exc.InvalidSignature) as info:
        validate_stateless(msgspec.msgpack.encode(fields), CHAIN_ID)
    assert info.value.code == "invalid_signature"


def test_invalid_signature_by_another_key() -> None:
    victim = seeded_key("saic")
    raw = sign_envelope(seeded_key("mallory"), signer=victim.public_key)
    with pytest.raises(exc.InvalidSignature):
        validate_stateless(raw, CHAIN_ID)


def test_invalid_flipped_signature_bits() -> None:
    fields = msgspec.msgpack.decode(sign_envelope(seeded_key("saic")))
    for bit in (0, 100, 511):
        sig = bytearray(fields[6])
        sig[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(exc.InvalidSignature):
            validate_stateless(msgspec.msgpack.encode([*fields[:6], bytes(sig)]), CHAIN_ID)


# --- invalid envelopes: stateful (through check_tx and forced blocks) -------------------------


def test_invalid_replayed_nonce(chain: Chain) -> None:
    chain.send("saic", register_body("saic:1"))
    replay = chain.build("saic", register_body("saic:2"), nonce=1)
    res = chain.submit(replay)
    assert (res.code, res.error_code) == (6, "invalid_nonce")
    assert "replay" in res.log
    before = snapshot(chain.db)
    hash_before = chain.app.state.app_hash
    [result] = chain.include(replay)
    assert result.error_code == "invalid_nonce"
    # An unauthenticated transaction changes nothing, not even the nonce.
    assert snapshot(chain.db) == before
    assert chain.app.state.app_hash == hash_before
    assert chain.nonce(chain.key("saic")) == 1


def test_invalid_exact_replay_of_committed_tx(chain: Chain) -> None:
    raw = chain.build("saic", register_body("saic:1"))
    assert chain.submit(raw).ok
    chain.block()
    res = chain.submit(raw)
    assert res.error_code == "duplicate_tx"
    # The application alone refuses it too, by nonce.
    assert chain.app.check_tx(raw).error_code == "invalid_nonce"


def test_invalid_out_of_order_nonce(chain: Chain) -> None:
    raw = chain.build("saic", register_body(), nonce=2)
    res = chain.submit(raw)
    assert (res.code, res.error_code) == (6, "invalid_nonce")
    assert "out of order" in res.log
    hash_before = chain.app.state.app_hash
    [result] = chain.include(raw)
    assert result.error_code == "invalid_nonce"
    assert chain.nonce(chain.key("saic")) == 0
    assert chain.app.state.app_hash == hash_before


def test_consecutive_nonces_in_one_block(chain: Chain) -> None:
    raws = [chain.build("saic", register_body(f"saic:{i}")) for i in range(1, 4)]
    assert all(chain.submit(r).ok for r in raws)
    assert [r.code for r in chain.block()] == [0, 0, 0]
    assert chain.nonce(chain.key("saic")) == 3


def test_invalid_unauthorised_signer(chain: Chain) -> None:
    assert chain.reject("stranger", register_body()) == "unauthorized"
    assert chain.last_check is not None
    assert (chain.last_check.code, chain.last_check.error_code) == (7, "unauthorized")


def _fails_in_block(chain: Chain, raw: bytes) -> str:
    """A body that does not decode fails admission (which decodes bodies, so that
    owner rules can name the vehicle): check_tx refuses it, and a block that
    includes it anyway writes nothing for it, not even the signer's nonce."""
    key_nonce = chain.nonce(chain.key("saic"))
    before = snapshot(chain.db)
    res = chain.submit(raw)
    assert not res.ok, "admission decodes bodies"
    [result] = chain.include(raw)
    assert snapshot(chain.db) == before
    assert chain.nonce(chain.key("saic")) == key_nonce
    assert result.error_code == res.error_code
    return result.error_code


def test_invalid_body_wrong_type(chain: Chain) -> None:
    raw = sign_envelope(chain.key("saic"), body=msgspec.msgpack.encode({"vehicle_id": 5}))
    assert _fails_in_block(chain, raw) == "invalid_body"


def test_invalid_body_not_msgpack(chain: Chain) -> None:
    raw = sign_envelope(chain.key("saic"), body=b"\xc1\xc1")
    assert _fails_in_block(chain, raw) == "invalid_body"


def test_invalid_non_canonical_body(chain: Chain) -> None:
    """Same fields in another order decode to the same struct, but are refused."""
    body = msgspec.structs.asdict(register_body())
    reordered = msgspec.msgpack.encode(dict(reversed(list(body.items()))))
    assert msgspec.msgpack.decode(reordered, type=RegisterVehicle) == register_body()
    raw = sign_envelope(chain.key("saic"), body=reordered)
    assert _fails_in_block(chain, raw) == "invalid_body"
    assert chain.app.query("vehicles", b"v/saic:1").error_code == "not_found"


def test_invalid_body_with_unknown_field(chain: Chain) -> None:
    body = {**msgspec.structs.asdict(register_body()), "vin": "LSVAX4187E2100001"}
    raw = sign_envelope(chain.key("saic"), body=msgspec.msgpack.encode(body))
    assert _fails_in_block(chain, raw) == "invalid_body"


def test_check_tx_reports_signer_and_nonce(chain: Chain) -> None:
    key = chain.key("saic")
    res = chain.submit(chain.build(key, register_body()))
    assert res.ok
    assert (res.signer, res.nonce) == (key.public_key, 1)


def test_invalid_utf8_in_body_fails_in_block_without_crashing(chain: Chain) -> None:
    """Regression: invalid UTF-8 in a str field raised UnicodeDecodeError out of
    finalize_block, stopping the node; it is an invalid body like any other."""
    body = msgspec.msgpack.encode(register_body("saic-\u00e9"))
    raw = sign_envelope(chain.key("saic"), body=body.replace(b"\xc3\xa9", b"\xff\xfe"))
    assert _fails_in_block(chain, raw) == "invalid_body"


def test_invalid_utf8_in_envelope_is_malformed() -> None:
    raw = sign_envelope(seeded_key("saic"), chain_id="carchain-t\u00e9st")
    with pytest.raises(exc.MalformedTransaction):
        decode_envelope(raw.replace(b"\xc3\xa9", b"\xff\xfe"))
