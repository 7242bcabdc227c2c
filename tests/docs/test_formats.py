"""docs/formats.md against the code: every byte layout rebuilt from the page, compared.

The expected bytes come from ``tests/docs/reference.py`` (hashlib, struct, a MessagePack
encoder written from the page's table) and pyca/PyNaCl primitives, never from
carchain's encoders; the domain tags and store order are read from formats.md itself.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import re
from pathlib import Path

import msgspec
import nacl.bindings
import pytest
from Crypto.Protocol.SecretSharing import Shamir
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from carchain.core import anchors, governance, members, vehicles
from carchain.core.case_records import Custodian, EscrowCommittee
from carchain.core.state import STORES, compute_key
from carchain.core.transactions import Envelope, compute_signing_bytes, compute_tx_hash, encode
from carchain.core.types import TxResult
from carchain.crypto.kdf import (
    compute_category_key,
    compute_leaf_salt,
    compute_pseudonym_key,
    compute_segment_key,
)
from carchain.crypto.signing import SigningKey, verify_signature
from carchain.data.batches import (
    BatchIdentity,
    SubmittedBatch,
    compute_header_signing_bytes,
    encode_submitted,
    seal_batch,
)
from carchain.data.batches import compute_header_hash as compute_batch_id
from carchain.data.custody import compute_key_ref, compute_seal_info, seal_category_key
from carchain.data.escrow_shares import reseal_share_for_officer, seal_shares
from carchain.data.minimisation import compute_pseudonym
from carchain.data.records import Diagnostics, EdrEvent, Telemetry, V2xLog, encode_record
from carchain.data.release import ReleaseItem, seal_release
from carchain.gateway.anchoring import AnchorManifest, compute_gateway_root
from carchain.sdk.light import (
    BlockId,
    Header,
    Timestamp,
    Validator,
    compute_header_hash,
    compute_validator_set_hash,
)
from carchain.sdk.request_signing import compute_request_signing_bytes
from carchain.sdk.vin import compute_vin_commitment
from carchain.storage.blocks import BlockHeader, compute_block_hash, compute_results_hash
from carchain.storage.blocks import compute_tx_root as code_tx_root
from tests.docs import reference as ref
from tests.docs.reference import mp, sha256, u16be, u64be

SRC = Path(__file__).resolve().parents[2] / "src" / "carchain"
KEY = SigningKey.from_seed(b"\x01" * 32)
OWNER = SigningKey.from_seed(b"\x02" * 32)
CUSTODIAN = SigningKey.from_seed(b"\x03" * 32)
VID = "saic:car-1"


def load(path: str) -> object:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


# --- section 1.1: the MessagePack table itself ------------------------------------------


MSGPACK_CASES: list[object] = [
    *(0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1),
    *(-1, -32, -33, -128, -129, -(2**15), -(2**15) - 1, -(2**31) - 1, -(2**63)),
    *(0.5, -1.0, True, False, None),
    *("", "a" * 31, "a" * 32, "a" * 255, "a" * 256, "\u00e9", b"", b"x" * 255, b"x" * 256),
    *(b"x" * 65536, [], [1] * 15, [1] * 16, {"a": 1}, {str(i): i for i in range(16)}),
]


@pytest.mark.parametrize("value", MSGPACK_CASES)
def test_msgpack_table_matches_the_encoder(value: object) -> None:
    assert mp(value) == msgspec.msgpack.encode(value)


def test_invalid_reference_encoder_refuses_what_has_no_form() -> None:
    with pytest.raises(TypeError):
        mp(object())


# --- section 3: domain tags, read from the page ------------------------------------------


def test_domain_tags_table_matches_every_constant() -> None:
    rows = ref.read_domain_tags()
    assert len(rows) >= 11
    for name, literal, constant in rows:
        value = load(constant)
        value = value.encode() if isinstance(value, str) else value
        assert value == literal, f"{name}: {constant} is {value!r}, the page says {literal!r}"


def test_every_domain_tag_in_src_is_in_the_table() -> None:
    documented = {lit.rstrip(b"\x00").decode() for _, lit, _ in ref.read_domain_tags()}
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        found |= set(re.findall(r"carchain/[a-z][a-z0-9-]*/v\d+", path.read_text()))
    assert found, "the scan found no tag at all"
    assert found <= documented, f"undocumented tags: {sorted(found - documented)}"


def test_no_signature_prefix_is_a_prefix_of_another() -> None:
    prefixes = [lit for _, lit, _ in ref.read_domain_tags() if lit.endswith(b"\x00")]
    assert len(prefixes) == 15
    for a in prefixes:
        assert b"\x00" not in a[:-1]
        assert all(a == b or not b.startswith(a) for b in prefixes)


# --- section 4: transactions ---------------------------------------------------------------


def test_envelope_signing_bytes_and_hash() -> None:
    body = mp({"vehicle_id": VID, "reason": "scrapped"})
    assert encode(vehicles.RevokeVehicle(VID, "scrapped")) == body
    signing = b"carchain/tx/v1\x00" + mp([1, "carchain-test", KEY.public_key, 300, "t.x", body])
    assert compute_signing_bytes(1, "carchain-test", KEY.public_key, 300, "t.x", body) == signing
    sig = KEY.sign(signing)
    env = Envelope(1, "carchain-test", KEY.public_key, 300, "t.x", body, sig)
    raw = mp([1, "carchain-test", KEY.public_key, 300, "t.x", body, sig])
    assert encode(env) == raw
    assert compute_tx_hash(raw) == hashlib.sha256(raw).digest()


def test_vehicle_body_layouts() -> None:
    pk, ow, vc, sig = KEY.public_key, OWNER.public_key, b"\x07" * 32, b"\x08" * 64
    cases = [
        (
            vehicles.RegisterVehicle(VID, vc, pk, "RX5", 2024, ow),
            {"vehicle_id": VID, "vin_commitment": vc, "public_key": pk, "model": "RX5"}
            | {"year": 2024, "owner": ow},
        ),
        (
            vehicles.TransferVehicle(VID, ow, sig),
            {"vehicle_id": VID, "new_owner": ow, "owner_signature": sig},
        ),
        (
            vehicles.RotateVehicleKey(VID, pk, sig),
            {"vehicle_id": VID, "new_public_key": pk, "owner_signature": sig},
        ),
    ]
    for struct, doc in cases:
        assert encode(struct) == mp(doc), type(struct).__name__


def test_anchor_and_governance_body_layouts() -> None:
    root, mh = b"\x11" * 32, b"\x22" * 32
    body = anchors.SubmitAnchor(7, root, 3, 1000, 1, 2**40, mh)
    assert encode(body) == mp(
        {"seq": 7, "root": root, "batch_count": 3, "record_count": 1000}
        | {"start_ms": 1, "end_ms": 2**40, "manifest_hash": mh}
    )
    assert encode(governance.Vote(2**33, True)) == mp({"proposal_id": 2**33, "approve": True})
    add = governance.AddMember("geely", "Geely", ["oem"], KEY.public_key)
    assert encode(governance.Propose(add)) == mp(
        {
            "action": {"type": "add_member", "member_id": "geely", "name": "Geely"}
            | {"roles": ["oem"], "public_key": KEY.public_key, "validator_key": b"", "power": 0}
        }
    )
    sv = governance.SetValidator("geely", b"\x05" * 32, 10)
    assert encode(sv) == mp(
        {"type": "set_validator", "member_id": "geely", "validator_key": b"\x05" * 32}
        | {"power": 10}
    )


# --- section 5: state keys, records, commitment ---------------------------------------------


def test_store_order_on_the_page_is_the_commitment_order() -> None:
    assert tuple(ref.read_store_order()) == STORES


def test_state_key_layouts() -> None:
    pk = KEY.public_key
    assert anchors.compute_anchor_key("saic", 7) == bytes.fromhex("612f736169632f0000000000000007")
    assert anchors.compute_head_key("saic") == b"h/saic"
    assert vehicles.compute_vehicle_key(VID) == b"v/" + VID.encode()
    assert vehicles.compute_vehicle_pubkey_key(pk) == b"k/" + pk
    assert vehicles.compute_retired_key_key(pk) == b"r/" + pk
    assert vehicles.compute_key_period_key(VID, 3) == b"keys/" + VID.encode() + b"/" + u64be(3)
    assert vehicles.compute_owner_period_key(VID, 0) == b"o/" + VID.encode() + b"/" + u64be(0)
    assert members.compute_member_key("saic") == b"m/saic"
    assert members.compute_signer_key(pk) == b"k/" + pk
    assert members.compute_validator_index_key(pk) == b"x/" + pk
    assert governance.compute_proposal_key(9) == b"p/" + u64be(9)
    assert compute_key("a", b"\x00/", 1) == b"a/\x00//" + u64be(1)


def test_state_record_layouts() -> None:
    pk, ow = KEY.public_key, OWNER.public_key
    v = vehicles.Vehicle(VID, "saic", b"\x07" * 32, pk, "RX5", 2024, ow, "active", 5)
    assert encode(v) == mp(
        {"vehicle_id": VID, "oem": "saic", "vin_commitment": b"\x07" * 32, "public_key": pk}
        | {"model": "RX5", "year": 2024, "owner": ow, "status": "active", "registered_height": 5}
        | {"key_version": 1, "transfer_seq": 0, "revoked_reason": ""}
        | {"key_since_ms": 0, "owner_since_ms": 0}
    )
    assert encode(vehicles.KeyPeriod(pk, 2, 10)) == mp(
        {"public_key": pk, "key_version": 2, "since_ms": 10, "until_ms": 0}
    )
    assert encode(vehicles.OwnerPeriod(ow, 1, 2**63 - 1)) == mp(
        {"owner": ow, "since_ms": 1, "until_ms": 2**63 - 1}
    )
    a = anchors.Anchor("saic", 1, b"\x01" * 32, 2, 3, 4, 5, b"\x02" * 32, pk, 6, 7)
    assert encode(a) == mp(
        {"oem": "saic", "seq": 1, "root": b"\x01" * 32, "batch_count": 2, "record_count": 3}
        | {"start_ms": 4, "end_ms": 5, "manifest_hash": b"\x02" * 32, "signer": pk}
        | {"height": 6, "time_ms": 7}
    )
    assert encode(anchors.AnchorHead(3, 9)) == mp({"seq": 3, "height": 9})
    m = members.Member("saic", "SAIC", ["oem"], pk, "active", 0)
    assert encode(m) == mp(
        {"member_id": "saic", "name": "SAIC", "roles": ["oem"], "public_key": pk}
        | {"status": "active", "joined_height": 0, "validator_key": b"", "power": 0}
    )


def test_store_roots_and_app_hash(tmp_path: Path) -> None:
    from carchain.api.encoding import proof_json
    from carchain.storage.database import Database
    from carchain.storage.statestore import StateStore

    state = StateStore(Database(tmp_path / "s.db"))
    overlay = state.begin_block()
    writes = [("vehicles", b"v/b", b"2"), ("members", b"m/x", b"9"), ("vehicles", b"v/a", b"1")]
    for store, key, value in writes:
        overlay.set(store, key, value)
    overlay.delete("vehicles", b"v/b")
    state.commit(overlay, 1, None)
    # Insertion order (v/b before v/a), the deleted key keeps its leaf with b"".
    vehicles_root = ref.merkle_root([ref.kv_leaf(b"v/b", b""), ref.kv_leaf(b"v/a", b"1")])
    roots = {s: sha256(b"") for s in ref.read_store_order()}
    roots |= {"vehicles": vehicles_root, "members": ref.merkle_root([ref.kv_leaf(b"m/x", b"9")])}
    app_hash = ref.merkle_root([ref.kv_leaf(s.encode(), r) for s, r in roots.items()])
    assert state.app_hash == app_hash
    ops = proof_json(state.prove("vehicles", b"v/a"))
    ref.check_state_proof(app_hash, "vehicles", b"v/a", b"1", ops)
    ref.check_state_proof(
        app_hash, "vehicles", b"v/b", b"", proof_json(state.prove("vehicles", b"v/b"))
    )
    with pytest.raises(ValueError):
        ref.check_state_proof(app_hash, "vehicles", b"v/a", b"2", ops)
    with pytest.raises(ValueError):
        ref.check_state_proof(app_hash, "members", b"v/a", b"1", ops)


# --- section 6: records and batches --------------------------------------------------------


def test_record_layouts() -> None:
    t = Telemetry(5, 31.25, None, 50.0, 90.0, -0.5)
    assert encode_record(t) == mp(["telemetry", 5, 31.25, None, 50.0, 90.0, -0.5])
    e = EdrEvent(event_time_ms=9, engine_rpm=[800, 70000], max_delta_v_long_kmh=-12.5)
    assert encode_record(e) == mp(
        ["edr", 9, None, None, None, [800, 70000], None, None, None, None, -12.5, None]
    )
    assert encode_record(Diagnostics(1, ["P0301"], True)) == mp(["diagnostics", 1, ["P0301"], True])
    x = V2xLog(1, "rx", "ab", "cam", b"\x09" * 32)
    assert encode_record(x) == mp(["v2x", 1, "rx", "ab", "cam", b"\x09" * 32, None, None])


def hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def lp(part: bytes) -> bytes:
    return u16be(len(part)) + part


def reference_leaf_salt(segment_key: bytes, i: int) -> bytes:
    """§6.3 from the page: HKDF the salt key, then one AES-256 block of ``u128be(i)``."""
    salt_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"carchain/leaf-salt/v2"
    ).derive(segment_key)
    block = Cipher(algorithms.AES(salt_key), modes.ECB()).encryptor()
    return block.update(i.to_bytes(16, "big")) + block.finalize()


def test_hkdf_info_strings() -> None:
    ek = b"\x42" * 32
    vid = VID.encode()
    info = b"carchain/category-key/v1" + lp(vid) + lp(u64be(3)) + lp(b"diagnostics")
    ck = hkdf(ek, info)
    assert compute_category_key(ek, VID, 3, "diagnostics") == ck
    info = b"carchain/segment-key/v1" + lp(vid) + lp(u64be(3)) + lp(u64be(4)) + lp(b"diagnostics")
    sk = hkdf(ck, info)
    assert compute_segment_key(ck, VID, 3, 4, "diagnostics") == sk
    assert compute_leaf_salt(sk, 9) == reference_leaf_salt(sk, 9)
    info = b"carchain/pseudonym-key/v1" + u16be(len(vid)) + vid + u16be(8) + u64be(3)
    key = hkdf(ek, info)
    assert compute_pseudonym_key(ek, VID, 3) == key
    expected = hmac.new(key, b"peer-7", hashlib.sha256).digest()[:16].hex()
    assert compute_pseudonym(key, "peer-7") == expected


def test_batch_header_segments_ciphertext_and_identity() -> None:
    epoch, ek = 20_000, b"\x42" * 32
    start = epoch * 86_400_000 + 1000
    records = [encode_record(Telemetry(start + i, 31.0, 121.0)) for i in range(5)]
    vid = VID.encode()
    cks = {
        c: hkdf(ek, b"carchain/category-key/v1" + lp(vid) + lp(u64be(epoch)) + lp(c.encode()))
        for c in ("location", "time")
    }
    refs = {"location": b"\x33" * 32, "time": b"\x44" * 32}
    sealed = seal_batch(
        records,
        key=KEY,
        batch=BatchIdentity(VID, epoch, 2, start, start + 4),
        category_keys=cks,
        key_refs=refs,
    )
    h = sealed.signed.header
    ct = sealed.ciphertext
    segments, offset = [], 0
    for seg, cat in zip(h.segments, ("location", "time"), strict=True):
        info = b"carchain/segment-key/v1" + lp(vid) + lp(u64be(epoch)) + lp(u64be(2))
        sk = hkdf(cks[cat], info + lp(cat.encode()))
        part = ct[offset : offset + seg.ciphertext_size]
        plain = AESGCM(sk).decrypt(seg.nonce, part, mp([2, VID, epoch, 2, cat]))
        fields = (
            (lambda i: {"lat": 31.0, "lon": 121.0})
            if cat == "location"
            else (lambda i: {"time_ms": start + i})
        )
        projections = [mp(["telemetry", i, fields(i)]) for i in range(5)]
        assert plain == mp(projections)
        salts = [reference_leaf_salt(sk, i) for i in range(5)]
        root = ref.merkle_root([s + p for s, p in zip(salts, projections, strict=True)])
        segments.append([cat, 5, root, seg.nonce, offset, len(part), sha256(part), refs[cat]])
        offset += len(part)
    header = [2, VID, epoch, 2, start, start + 4, 5, segments, sha256(ct), len(ct)]
    signing = b"carchain/batch-header/v2\x00" + mp(header)
    assert compute_header_signing_bytes(h) == signing
    verify_signature(KEY.public_key, signing, sealed.signed.signature)
    assert sealed.header == mp([header, sealed.signed.signature])
    assert compute_batch_id(sealed.header) == sha256(sealed.header)
    upload = encode_submitted(SubmittedBatch(sealed.header, ct, [b"env"]))
    assert upload == mp([sealed.header, ct, [b"env"]])


# --- section 7: the category key envelope and the release package --------------------------


def x25519_private(key: SigningKey) -> X25519PrivateKey:
    x_private = X25519PrivateKey.from_private_bytes(hashlib.sha512(key.seed()).digest()[:32])
    x_public = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(key.public_key)
    assert x_private.public_key().public_bytes_raw() == x_public
    return x_private


SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


@pytest.mark.parametrize("category", ["diagnostics", "location"])
def test_key_envelope_layout_and_hpke_info(category: str) -> None:
    ck = b"\x42" * 32
    raw = seal_category_key(ck, VID, 20_000, category, OWNER.public_key, CUSTODIAN.public_key)
    doc = msgspec.msgpack.decode(raw)  # generic: lists, bytes, str, int
    assert mp(doc) == raw and len(doc) == 11
    version, vid, epoch, cat, owner, owner_box, custodian, custodian_box, escrow = doc[:9]
    committee_version, key_check = doc[9:]
    assert (version, vid, epoch, cat, escrow, committee_version) == (
        3,
        VID,
        20_000,
        category,
        [],
        0,
    )
    check_info = b"carchain/category-key-box/v1" + lp(VID.encode()) + lp(u64be(20_000))
    check_info += lp(category.encode()) + lp(b"key_check")
    assert key_check == sha256(b"carchain/category-key-check/v1" + check_info + ck)
    assert owner == OWNER.public_key and len(owner_box) == 80
    sensitive = category == "location"
    assert custodian == (b"" if sensitive else CUSTODIAN.public_key)
    assert len(custodian_box) == (0 if sensitive else 80)
    assert compute_key_ref(raw) == sha256(raw)
    boxes = [(OWNER, owner_box, b"owner")]
    if not sensitive:
        boxes.append((CUSTODIAN, custodian_box, b"custodian"))
    for key, box, role in boxes:
        info = b"carchain/category-key-box/v1" + lp(VID.encode()) + lp(u64be(20_000))
        info += lp(category.encode()) + lp(role)
        assert compute_seal_info(VID, 20_000, category, role.decode()) == info
        assert SUITE.decrypt(box, x25519_private(key), info=info) == ck
        with pytest.raises(Exception):  # noqa: B017 - any failure: the info binds the box
            SUITE.decrypt(box, x25519_private(key), info=info + b"x")


def test_escrow_shares_layout_and_hpke_info() -> None:
    """Each share is pycryptodome's Shamir share of each 16-byte half at one index, sealed
    under the escrow-share info; the officer box under the escrow-release info."""
    ck = b"\x42" * 32
    seats = [SigningKey.from_seed(bytes([i]) * 32) for i in (1, 2, 3)]
    committee = EscrowCommittee(
        5,
        2,
        [Custodian(i, f"m{i}", "court", k.public_key) for i, k in enumerate(seats, 1)],
        ["location"],
        0,
        1,
    )
    holders = [k.public_key for k in seats]
    shares = seal_shares(ck, VID, 20_000, "location", committee, holders)
    raw = seal_category_key(
        ck, VID, 20_000, "location", OWNER.public_key, b"", committee_version=5, escrow=shares
    )
    doc = msgspec.msgpack.decode(raw)
    assert doc[9] == 5 and [e[:2] for e in doc[8]] == [[h, i] for i, h in enumerate(holders, 1)]
    plain = []
    for (holder, index, box), key in zip(doc[8], seats, strict=True):
        info = b"carchain/escrow-share/v1" + lp(VID.encode()) + lp(u64be(20_000))
        info += lp(b"location") + lp(u64be(5)) + lp(index.to_bytes(2, "big"))
        assert len(box) == 80 and holder == key.public_key
        plain.append((index, SUITE.decrypt(box, x25519_private(key), info=info)))
    for pair in ([plain[0], plain[2]], [plain[1], plain[2]]):
        low = Shamir.combine([(i, s[:16]) for i, s in pair])
        high = Shamir.combine([(i, s[16:]) for i, s in pair])
        assert low + high == ck
    box = reseal_share_for_officer(plain[0][1], 9, VID, 20_000, "location", 5, 1, OWNER.public_key)
    info = b"carchain/escrow-release/v1" + lp(u64be(9)) + lp(VID.encode()) + lp(u64be(20_000))
    info += lp(b"location") + lp(u64be(5)) + lp((1).to_bytes(2, "big"))
    assert SUITE.decrypt(box, x25519_private(OWNER), info=info) == plain[0][1]


def test_release_package_layout_and_hpke_info() -> None:
    items = [ReleaseItem(b"\x01" * 32, "diagnostics", b"\x02" * 32)]
    raw = seal_release(items, OWNER.public_key, "carchain-test", VID, 7)
    doc = msgspec.msgpack.decode(raw)
    assert mp(doc) == raw
    version, chain_id, vid, seq, requester, box = doc
    assert (version, chain_id, vid, seq, requester) == (
        1,
        "carchain-test",
        VID,
        7,
        OWNER.public_key,
    )
    info = b"carchain/release/v1" + mp(["carchain-test", VID, 7, OWNER.public_key])
    plain = SUITE.decrypt(box, x25519_private(OWNER), info=info)
    assert plain == mp([[b"\x01" * 32, "diagnostics", b"\x02" * 32]])


# --- sections 8 and 9: gateway, consents, VIN ----------------------------------------------


def test_gateway_root_and_manifest() -> None:
    headers = [b"h1" * 40, b"h2" * 40, b"h3" * 40]
    assert compute_gateway_root(headers) == ref.merkle_root(headers)
    assert msgspec.msgpack.encode(AnchorManifest("saic", 4, headers)) == mp(["saic", 4, headers])


def test_gateway_request_signing_bytes() -> None:
    nonce = b"\x0a" * 16
    got = compute_request_signing_bytes("saic", "get", "/batches", "vehicle=saic%3Acar-1", 5, nonce)
    fields = ["saic", "GET", "/batches", "vehicle=saic%3Acar-1", 5, nonce]
    assert got == b"carchain/gateway-request/v2\x00" + mp(fields)


def test_owner_consent_signing_bytes() -> None:
    ow = OWNER.public_key
    got = vehicles.compute_transfer_signing_bytes("c", VID, ow, 3)
    assert got == b"carchain/vehicle-transfer/v1\x00" + mp(["c", VID, ow, 3])
    got = vehicles.compute_rotation_signing_bytes("c", VID, ow, 2, 3)
    assert got == b"carchain/vehicle-rotate-key/v1\x00" + mp(["c", VID, ow, 2, 3])


def test_vin_commitment() -> None:
    vin, salt = "LSVAX4180ABCDEFGH", b"s" * 32
    from carchain.sdk.vin import compute_vin_with_check_digit

    vin = compute_vin_with_check_digit(vin)
    expected = sha256(b"carchain/vin-commitment/v1\x00" + salt + vin.encode())
    assert compute_vin_commitment(" " + vin.lower(), salt) == expected


# --- section 10: blocks --------------------------------------------------------------------


def test_solo_block_hash_tx_root_and_results_hash() -> None:
    txs = [b"tx-one", b"tx-two", b"tx-three"]
    assert code_tx_root(txs) == ref.merkle_root([sha256(t) for t in txs])
    results = [TxResult(0, "", "log", []), TxResult(7, "invalid_nonce", "", [])]
    assert compute_results_hash(results) == ref.merkle_root([mp([0, ""]), mp([7, "invalid_nonce"])])
    h = BlockHeader("c", 2, 3, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, b"p")
    fields = ["c", 2, 3, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, b"p"]
    tag = b"carchain/block-header/v1"
    assert compute_block_hash(h) == sha256(u16be(len(tag)) + tag + mp(fields))


def test_cometbft_header_and_validator_set_hash() -> None:
    h32 = [bytes([i]) * 32 for i in range(1, 10)]
    hdr = Header(
        version_block=11,
        version_app=0,
        chain_id="carchain-net",
        height=200,
        time=Timestamp(1_700_000_000, 123),
        last_block_id=BlockId(h32[0], 1, h32[1]),
        last_commit_hash=h32[2],
        data_hash=h32[3],
        validators_hash=h32[4],
        next_validators_hash=h32[5],
        consensus_hash=h32[6],
        app_hash=h32[7],
        last_results_hash=b"",
        evidence_hash=h32[8],
        proposer_address=b"\x0b" * 20,
    )
    psh = ref.pb_varint(1, 1) + ref.pb_bytes(2, h32[1])
    leaves = [
        ref.pb_varint(1, 11),
        ref.pb_bytes(1, b"carchain-net"),
        ref.pb_varint(1, 200),
        ref.pb_varint(1, 1_700_000_000) + ref.pb_varint(2, 123),
        ref.pb_bytes(1, h32[0]) + ref.pb_bytes(2, psh, always=True),
        *[ref.pb_bytes(1, x) for x in (*h32[2:8], b"", h32[8], b"\x0b" * 20)],
    ]
    assert len(leaves) == 14
    assert compute_header_hash(hdr) == ref.merkle_root(leaves)
    vals = [Validator(b"", KEY.public_key, 10), Validator(b"", OWNER.public_key, 300)]
    expected = ref.merkle_root(
        [
            ref.pb_bytes(1, ref.pb_bytes(1, v.pub_key, always=True), always=True)
            + ref.pb_varint(2, v.power)
            for v in vals
        ]
    )
    assert compute_validator_set_hash(vals) == expected


# --- the links to this page ----------------------------------------------------------------


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def test_links_to_formats_md_resolve() -> None:
    root = ref.FORMATS_MD.parents[1]
    slugs = {_slug(h) for h in re.findall(r"^#+ (.+)$", ref.FORMATS_MD.read_text(), re.M)}
    for doc in ("README.md", "docs/architecture.md", "docs/data-plane.md"):
        links = re.findall(r"formats\.md(#[a-z0-9-]+)?\)", (root / doc).read_text())
        assert links, f"{doc} does not link formats.md"
        for anchor in links:
            assert not anchor or anchor[1:] in slugs, f"{doc}: no heading for {anchor}"


def test_abci_proof_op_data_is_the_documented_value_op() -> None:
    from carchain.engine.abci.protos import get_crypto_proof

    pb = get_crypto_proof()
    aunts = [b"\x02" * 32, b"\x03" * 32]
    proof = pb.Proof(total=5, index=3, leaf_hash=b"\x01" * 32, aunts=aunts)
    got = pb.ValueOp(key=b"v/saic:car-1", proof=proof).SerializeToString()
    inner = ref.pb_varint(1, 5) + ref.pb_varint(2, 3) + ref.pb_bytes(3, b"\x01" * 32)
    inner += b"".join(ref.pb_bytes(4, a) for a in aunts)
    assert got == ref.pb_bytes(1, b"v/saic:car-1") + ref.pb_bytes(2, inner)


def test_commit_vote_sign_bytes() -> None:
    from carchain.sdk.light import compute_vote_sign_bytes

    block_id = BlockId(b"\x0c" * 32, 1, b"\x0d" * 32)
    got = compute_vote_sign_bytes("carchain-net", 200, 1, block_id, Timestamp(1_700_000_000, 5))
    sfixed = [b"\x11" + (200).to_bytes(8, "little"), b"\x19" + (1).to_bytes(8, "little")]
    psh = ref.pb_varint(1, 1) + ref.pb_bytes(2, b"\x0d" * 32)
    cbid = ref.pb_bytes(1, b"\x0c" * 32) + ref.pb_bytes(2, psh, always=True)
    ts = ref.pb_varint(1, 1_700_000_000) + ref.pb_varint(2, 5)
    body = ref.pb_varint(1, 2) + b"".join(sfixed) + ref.pb_bytes(4, cbid, always=True)
    body += ref.pb_bytes(5, ts, always=True) + ref.pb_bytes(6, b"carchain-net")
    assert got == ref.uvarint(len(body)) + body


def test_invalid_malleated_signature_is_refused() -> None:
    from carchain.errors import InvalidSignature

    order = 2**252 + 27742317777372353535851937790883648493
    sig = KEY.sign(b"m")
    s = int.from_bytes(sig[32:], "little") + order
    malleated = sig[:32] + s.to_bytes(32, "little")
    verify_signature(KEY.public_key, b"m", sig)
    with pytest.raises(InvalidSignature):
        verify_signature(KEY.public_key, b"m", malleated)
