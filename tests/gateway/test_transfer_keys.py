"""Issue 7 items 11 and 12: a transfer starts a new key epoch, every batch's envelope is
checked against the owner at the batch's time, and key_ref names only envelopes."""

from __future__ import annotations

import time

import msgspec
import pytest

from carchain.core.vehicles import TransferVehicle, get_vehicle
from carchain.crypto.hashing import compute_sha256
from carchain.crypto.signing import SigningKey
from carchain.data.batches import (
    decode_signed_header,
    decode_submitted,
    encode_submitted,
)
from carchain.data.custody import compute_key_ref, open_category_key, seal_category_key
from carchain.errors import DecryptionFailed, InvalidBatch, NotFound
from carchain.sdk.chainview import ChainView
from carchain.sdk.transactions import sign_transfer_consent
from carchain.sdk.vehicle import Upload, VehicleRecorder
from tests.conftest import CHAIN_ID, seeded_key
from tests.dataplane import (
    COLLECT_ALL,
    NOW_MS,
    Car,
    IngestRig,
    World,
    decrypt_upload,
    envelopes_of,
    make_records,
    resign_header,
    resign_segment,
)

T_MS = NOW_MS - 1_800_000  # the transfer: half an hour before "now"


def record_span(rec: VehicleRecorder, start_ms: int, n: int) -> list[Upload]:
    out: list[Upload] = []
    for t, r in make_records(n, start_ms):
        out += rec.add_at(r, t)
    return out


def key_ref_of(up: Upload | bytes, category: str = "motion") -> bytes:
    raw = up if isinstance(up, bytes) else up.body
    h = decode_signed_header(decode_submitted(raw).header).header
    return next(s.key_ref for s in h.segments if s.category == category)


def decrypt(up: Upload, key: SigningKey) -> list[bytes]:
    return decrypt_upload(up, key)


def without_envelope(up: Upload | bytes) -> bytes:
    raw = up if isinstance(up, bytes) else up.body
    return encode_submitted(msgspec.structs.replace(decode_submitted(raw), key_envelopes=[]))


def with_envelope(raw: bytes, category: str, envelope: bytes) -> bytes:
    """Return the upload with ``category``'s envelope replaced by ``envelope`` (and any
    envelope no segment names any more dropped)."""
    h = decode_signed_header(decode_submitted(raw).header).header
    named = {s.key_ref for s in h.segments if s.category != category}
    envs = [e for ref, e in envelopes_of(raw).items() if ref in named] + [envelope]
    return encode_submitted(msgspec.structs.replace(decode_submitted(raw), key_envelopes=envs))


def test_rekeyed_car_after_transfer_old_owner_locked_out(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    buyer = seeded_key("owner/buyer")
    rec = car.recorder(window_ms=10**9)
    assert record_span(rec, T_MS - 60_000, 30) == []  # open batch, before the transfer
    rig.directory.transfer("saic:1", buyer.public_key, T_MS)
    before = rec.process_transfer(buyer.public_key, T_MS)
    after = record_span(rec, T_MS + 5_000, 20) + rec.flush()
    assert len(before) == len(after) == 1
    for up in before + after:
        rig.process(up.body)
    env_before = envelopes_of(before[0])[key_ref_of(before[0])]
    env_after = envelopes_of(after[0])[key_ref_of(after[0])]
    assert set(envelopes_of(before[0])).isdisjoint(envelopes_of(after[0]))
    # The previous owner reads what was recorded before the transfer, and nothing after.
    assert len(decrypt(before[0], car.owner)) == 30
    for env in envelopes_of(after[0]).values():
        with pytest.raises(DecryptionFailed):
            open_category_key(env, car.owner)
    assert len(decrypt(after[0], buyer)) == 20
    for env in envelopes_of(before[0]).values():
        with pytest.raises(DecryptionFailed):
            open_category_key(env, buyer)
    # The custodian opens both (its non-sensitive categories).
    assert open_category_key(env_after, rig.custodian) != open_category_key(
        env_before, rig.custodian
    )


def test_invalid_car_keeping_the_old_epoch_key_after_transfer(rig: IngestRig) -> None:
    """The first batch stores A's envelope; later batches reuse its key_ref without it.
    Before the fix the stored envelope was checked only on first sight."""
    car = rig.car("saic:1")
    rec = car.recorder(window_ms=60_000)
    early = record_span(rec, T_MS - 600_000, 30) + rec.flush()  # a batch before the transfer
    rig.process(early[0].body)
    rig.directory.transfer("saic:1", seeded_key("owner/buyer").public_key, T_MS)
    stale = record_span(rec, T_MS + 1_000, 30) + rec.flush()  # the car never re-keyed
    assert key_ref_of(stale[0]) == key_ref_of(early[0])
    before = rig.stored()
    for raw in (stale[0].body, without_envelope(stale[0])):
        with pytest.raises(InvalidBatch, match="owner at the batch's time"):
            rig.process(raw)
    assert rig.stored() == before


def test_invalid_batch_straddling_the_transfer(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    rec = car.recorder(window_ms=10**9)
    ups = record_span(rec, T_MS - 30_000, 60) + rec.flush()  # 30 s either side of T
    rig.directory.transfer("saic:1", seeded_key("owner/buyer").public_key, T_MS)
    before = rig.stored()
    with pytest.raises(InvalidBatch, match="straddles a change of owner") as exc:
        rig.process(ups[0].body)
    assert exc.value.fields["transfer_ms"] == T_MS
    assert rig.stored() == before


def test_late_batch_from_before_the_transfer_is_accepted(rig: IngestRig) -> None:
    """Sealed to the previous owner, uploaded after the transfer: it is that owner's data."""
    car = rig.car("saic:1")
    rec = car.recorder(window_ms=10**9)
    late = record_span(rec, T_MS - 120_000, 60) + rec.flush()  # ends at T - 61 s
    rig.directory.transfer("saic:1", seeded_key("owner/buyer").public_key, T_MS)
    rig.process(late[0].body)
    # ... but not an envelope sealed to the new owner for that time.
    forged = seal_category_key(
        b"k" * 32,
        "saic:1",
        late[0].epoch,
        "motion",
        seeded_key("owner/buyer").public_key,
        rig.custodian.public_key,
    )
    raw = resign_header(late[0], car.key, seq=5)
    raw = resign_segment(raw, car.key, "motion", key_ref=compute_key_ref(forged))
    with pytest.raises(InvalidBatch, match="owner at the batch's time"):
        rig.process(with_envelope(raw, "motion", forged))


def test_invalid_recorder_transfer_back_in_time() -> None:
    car_key, owner = seeded_key("vehicle/x"), seeded_key("owner/x")
    rec = VehicleRecorder(
        "saic-x", car_key, owner.public_key, owner.public_key, owner_since_ms=T_MS
    )
    with pytest.raises(ValueError):
        rec.process_transfer(seeded_key("b").public_key, T_MS - 1)
    # A record from before the current ownership is dropped, never sealed to the new owner.
    assert record_span(rec, T_MS - 5_000, 3) == [] and rec.flush() == []
    assert rec.dropped == 3


# --- item 12: key envelopes and ciphertexts in separate namespaces ----------------------


def crafted_ciphertext_attack(car: Car, start_ms: int) -> tuple[bytes, bytes, bytes]:
    """Return (batch whose ciphertext is an envelope sealed to outsiders, a batch whose
    key_ref names that ciphertext, the crafted ref)."""
    outsider = seeded_key("outsider").public_key
    up = car.upload(n=5, start_ms=start_ms)
    epoch = up.epoch
    crafted = seal_category_key(b"x" * 32, car.vehicle_id, epoch, "motion", outsider, outsider)
    ref = compute_sha256(crafted)
    h = decode_signed_header(decode_submitted(up.body).header).header
    # One segment spanning the crafted bytes: the blob at ``ref`` is the "ciphertext".
    seg = msgspec.structs.replace(
        h.segments[0], offset=0, ciphertext_size=len(crafted), ciphertext_hash=ref
    )
    carrier = resign_header(
        up, car.key, ciphertext_hash=ref, ciphertext_size=len(crafted), segments=[seg]
    )
    carrier = encode_submitted(
        msgspec.structs.replace(decode_submitted(carrier), ciphertext=crafted, key_envelopes=[])
    )
    carrier = with_envelope(carrier, seg.category, envelopes_of(up)[seg.key_ref])
    second = car.upload(n=5, start_ms=start_ms + 60_000)
    pointing = resign_header(second, car.key, seq=1)
    pointing = without_envelope(resign_segment(pointing, car.key, "motion", key_ref=ref))
    return carrier, pointing, ref


def test_invalid_key_ref_naming_a_crafted_ciphertext(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    carrier, pointing, ref = crafted_ciphertext_attack(car, NOW_MS - 600_000)
    rig.process(carrier)  # an opaque ciphertext: the gateway cannot tell
    assert rig.blobs.has(ref) and not rig.keys.has(ref)
    before = rig.stored()
    with pytest.raises(InvalidBatch, match="sealed category key is missing"):
        rig.process(pointing)
    assert rig.stored() == before


# --- on a live chain: transfer, owner history read from the node ------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def test_transfer_on_chain_rekey_and_refusals(world: World) -> None:
    car = world.register("saic:car-sold")
    buyer = seeded_key("owner/saic-car-sold-buyer")
    rec = car.recorder(window_ms=60_000)
    pre = record_span(rec, now_ms() - 300_000, 61)  # a batch closed before the sale
    late = rec.flush()  # the rest: uploaded only after the sale
    world.gclient.submit(pre[0].body)
    sig = sign_transfer_consent(CHAIN_ID, car.owner, car.vehicle_id, buyer.public_key, 0)
    world.send(TransferVehicle(car.vehicle_id, buyer.public_key, sig))
    since = get_vehicle(ChainView(world.client), car.vehicle_id).owner_since_ms
    stale = car.recorder(window_ms=10**9)  # a second recorder that never re-keys...
    stale_up = record_span(stale, since + 1_000, 3) + stale.flush()
    with pytest.raises(InvalidBatch, match="owner at the batch's time"):
        world.gclient.submit(stale_up[0].body)
    straddling = car.recorder(window_ms=10**9)
    across = record_span(straddling, since - 2_000, 4) + straddling.flush()
    with pytest.raises(InvalidBatch, match="straddles"):
        world.gclient.submit(across[0].body)
    world.gclient.submit(late[0].body)  # before the sale, sealed to the seller: accepted
    assert rec.process_transfer(buyer.public_key, since) == []
    post = record_span(rec, since + 1_000, 5) + rec.flush()
    world.gclient.submit(post[0].body)
    env = world.gclient.key_envelope(key_ref_of(post[0]))
    with pytest.raises(DecryptionFailed):
        open_category_key(env, car.owner)
    assert open_category_key(env, buyer)
    assert len(decrypt(post[0], buyer)) == 5
    assert len(decrypt(late[0], car.owner))
    assert (
        world.gclient.key_envelope(key_ref_of(late[0]))
        == envelopes_of(late[0])[key_ref_of(late[0])]
    )


def test_keys_endpoint_serves_no_ciphertext(world: World) -> None:
    car = world.register("saic:car-craft")
    carrier, pointing, ref = crafted_ciphertext_attack(car, now_ms() - 600_000)
    world.gclient.submit(carrier)
    with pytest.raises(InvalidBatch):
        world.gclient.submit(pointing)
    with pytest.raises(NotFound):
        world.gclient.key_envelope(ref)


def test_split_at_the_transfer_keeps_each_batch_to_its_own_records() -> None:
    from carchain.data.records import Diagnostics

    car_key, seller, buyer = seeded_key("vehicle/s"), seeded_key("owner/s"), seeded_key("owner/b")
    custodian = seeded_key("custodian/saic").public_key
    rec = VehicleRecorder(
        "saic-s", car_key, seller.public_key, custodian, COLLECT_ALL, window_ms=10**9
    )
    record_span(rec, T_MS - 3_000, 3)  # telemetry before the transfer
    rec.add_at(Diagnostics(T_MS + 10, ["P0301"], True), T_MS + 10)  # diagnostics after
    (before,) = rec.process_transfer(buyer.public_key, T_MS)
    (after,) = rec.flush()
    hb = decode_signed_header(decode_submitted(before.body).header).header
    ha = decode_signed_header(decode_submitted(after.body).header).header
    assert "diagnostics" not in hb.categories and "diagnostics" in ha.categories
    assert (hb.record_count, ha.record_count) == (3, 1)
    assert hb.end_ms < T_MS <= ha.start_ms and (hb.seq, ha.seq) == (0, 1)
    assert len(decrypt(before, seller)) == 3
    assert len(decrypt(after, buyer)) == 1
