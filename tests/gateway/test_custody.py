"""The custody service end to end on a live node and gateway: grant -> request -> the
gateway releases by itself -> the requester fetches, verifies, decrypts exactly the
granted categories and posts a receipt; withdrawal before the release; sensitive
categories left to the owner; erasure with tombstone; erasure under a legal hold;
restart from the persisted cursor."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest

from carchain.core.access_releases import get_receipts, get_release_optional
from carchain.core.consents import WithdrawConsent
from carchain.core.erasure import RequestErasure, get_erasure, get_tombstone_optional
from carchain.core.holds import LiftHold, PlaceHold, get_hold_count
from carchain.core.vehicles import TransferVehicle, get_vehicle
from carchain.crypto.hashing import compute_sha256
from carchain.data.batches import decode_signed_header, decode_submitted
from carchain.data.custody import open_batch_category_keys
from carchain.data.release import decode_release_package, derive_release_items
from carchain.errors import (
    GatewayConfigError,
    InvalidProof,
    InvalidReleasePackage,
    NotFound,
    Unauthorized,
)
from carchain.gateway.custody_journal import ERASURE, OWNER_ONLY, RELEASE, WAITING, CustodyJournal
from carchain.gateway.service import Gateway
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.owner_release import release_as_owner
from carchain.sdk.requester import compute_receipt_items, fetch_release, post_receipt
from carchain.sdk.transactions import sign_transfer_consent
from tests.conftest import CHAIN_ID, seeded_key
from tests.dataplane import make_records, wait_for
from tests.gateway.custody_world import HOUR_MS, REQUESTER, CustodyWorld, custody_world

__all__ = ["custody_world"]
BOSCH = seeded_key(REQUESTER)


def get_task_state(w: CustodyWorld, kind: str, vehicle_id: str, seq: int) -> str:
    assert w.gateway.gateway.custody is not None
    task = w.gateway.gateway.custody.custody.get_task_optional(kind, vehicle_id, seq)
    return "" if task is None else task.state


def header_of(up_body: bytes) -> bytes:
    return decode_submitted(up_body).header


def test_custody_releases_granted_categories_and_requester_reads_only_them(
    custody_world: CustodyWorld,
) -> None:
    w = custody_world
    car = w.register("saic:cust-1")
    ups = w.upload_mixed(car)
    w.grant(car, ["diagnostics", "motion"])
    seq = w.request(car, ["diagnostics", "motion"])
    w.wait_kind(car.vehicle_id, "release")
    release = get_release_optional(ChainView(w.client), car.vehicle_id, seq)
    assert release is not None and release.releaser_member == "saic"
    assert {b.header_hash for b in release.batches} == {u.header_hash for u in ups}
    with w.requester_gateway() as rg:
        segments = fetch_release(rg, w.client, car.vehicle_id, seq, BOSCH)
        assert {(s.header_hash, s.category) for s in segments} == {
            (u.header_hash, c) for u in ups for c in ("diagnostics", "motion")
        }
        assert all(p.kind == "diagnostics" for s in segments if s.category == "diagnostics"
                   for p in s.projections)  # fmt: skip
        # Other categories of the same batches, and the whole batch: refused by the gateway.
        for cat in ("location", "time"):
            with pytest.raises(Unauthorized):
                rg.segment_ciphertext(ups[0].header_hash, cat, seq)
        with pytest.raises(Unauthorized):
            rg.segment_ciphertext(ups[0].header_hash, "diagnostics")  # no release named
        with pytest.raises(Unauthorized):
            rg.ciphertext(ups[0].header_hash)
        items = compute_receipt_items(segments)
        post_receipt(w.client, BOSCH, car.vehicle_id, seq, items)
    receipts = get_receipts(ChainView(w.client), car.vehicle_id, seq)
    assert [i.header_hash for r in receipts for i in r.items] == [i.header_hash for i in items]
    assert all(i.record_count > 0 for i in items)
    kinds = w.log_kinds(car.vehicle_id)
    assert kinds[-4:] == ["request", "approved", "release", "receipt"]


def test_withdrawal_after_release_stops_the_gateway_serving_it(
    custody_world: CustodyWorld,
) -> None:
    """PIPL art. 15: withdrawal stops processing. Keys the requester already fetched
    cannot be taken back, but from the block after the withdrawal the gateway serves
    neither the release's package nor its segments."""
    w = custody_world
    car = w.register("saic:cust-wd")
    ups = w.upload_mixed(car)
    w.grant(car, ["diagnostics"])
    seq = w.request(car, ["diagnostics"])
    w.wait_kind(car.vehicle_id, "release")
    with w.requester_gateway() as rg:
        assert rg.segment_ciphertext(ups[0].header_hash, "diagnostics", seq)
        assert rg.release_package(car.vehicle_id, seq)
    w.owner_send(car, WithdrawConsent(car.vehicle_id, 0))
    with w.requester_gateway() as rg:
        with pytest.raises(Unauthorized):
            rg.segment_ciphertext(ups[0].header_hash, "diagnostics", seq)
        with pytest.raises(Unauthorized):
            rg.release_package(car.vehicle_id, seq)
    # The owner and the operators still read their data.
    with GatewayClient(w.gateway.url, signer=car.owner) as og:
        assert og.segment_ciphertext(ups[0].header_hash, "diagnostics")


def test_other_batches_and_strangers_are_refused(custody_world: CustodyWorld) -> None:
    w = custody_world
    car = w.register("saic:cust-2")
    w.upload_mixed(car, minutes_ago=30)
    w.grant(car, ["diagnostics"])
    seq = w.request(car, ["diagnostics"])
    w.wait_kind(car.vehicle_id, "release")
    other = w.register("saic:cust-2b")
    other_ups = w.upload_mixed(other)
    with w.requester_gateway() as rg:
        # A batch of another vehicle, under this release's seq: refused.
        with pytest.raises(Unauthorized):
            rg.segment_ciphertext(other_ups[0].header_hash, "diagnostics", seq)
        with pytest.raises(Unauthorized):
            rg.batch_proof(other_ups[0].header_hash, seq)
    release = get_release_optional(ChainView(w.client), car.vehicle_id, seq)
    assert release is not None
    # A stranger (another member) cannot fetch the package nor the released segments.
    with GatewayClient(w.gateway.url, signer=seeded_key("geely")) as stranger:
        with pytest.raises(Unauthorized):
            stranger.release_package(car.vehicle_id, seq)
        with pytest.raises(Unauthorized):
            stranger.segment_ciphertext(release.batches[0].header_hash, "diagnostics", seq)


def test_withdrawal_before_release_releases_nothing(custody_world: CustodyWorld) -> None:
    w = custody_world
    car = w.register("saic:cust-3")
    w.upload_mixed(car)
    w.grant(car, ["diagnostics"])
    packages = set(w.gateway.gateway.releases.iter_digests())
    w.stop_gateway()  # the custody loop sees the request only after the withdrawal
    try:
        seq = w.request(car, ["diagnostics"])
        w.owner_send(car, WithdrawConsent(car.vehicle_id, 0))
    finally:
        w.start_gateway()
    wait_for(lambda: get_task_state(w, RELEASE, car.vehicle_id, seq) == "refused")
    assert w.gateway.gateway.custody is not None
    task = w.gateway.gateway.custody.custody.get_task_optional(RELEASE, car.vehicle_id, seq)
    assert task is not None and task.detail == "grant_not_in_force"
    assert task.attempts == 1  # recorded once, not retried
    assert get_release_optional(ChainView(w.client), car.vehicle_id, seq) is None
    assert "release" not in w.log_kinds(car.vehicle_id)
    # The package sealed for the refused release is not kept at the gateway.
    assert set(w.gateway.gateway.releases.iter_digests()) == packages


def test_sensitive_request_left_to_owner_who_releases(custody_world: CustodyWorld) -> None:
    w = custody_world
    car = w.register("saic:cust-5")
    ups = w.upload_mixed(car)
    w.grant(car, ["location"], purpose="navigation_maps")
    seq = w.request(car, ["location"], purpose="navigation_maps")
    wait_for(lambda: get_task_state(w, RELEASE, car.vehicle_id, seq) == OWNER_ONLY)
    assert get_release_optional(ChainView(w.client), car.vehicle_id, seq) is None
    assert "custody_release_owner_only" in w.gclient.status()
    with w.requester_gateway() as rg, pytest.raises(Unauthorized):
        rg.segment_ciphertext(ups[0].header_hash, "location", seq)  # approved, not released
    with GatewayClient(w.gateway.url, signer=car.owner) as og:
        done = release_as_owner(og, w.client, car.owner, car.vehicle_id, seq)
    assert {b.header_hash for b in done.batches} == {u.header_hash for u in ups}
    with w.requester_gateway() as rg:
        segments = fetch_release(rg, w.client, car.vehicle_id, seq, BOSCH)
    assert {s.category for s in segments} == {"location"}
    assert segments and all(
        p.kind == "telemetry" and p.fields for s in segments for p in s.projections
    )


def test_erasure_shreds_envelopes_and_posts_tombstone(custody_world: CustodyWorld) -> None:
    w = custody_world
    car = w.register("saic:cust-6")
    ups = w.upload_mixed(car)
    now = ups[-1]
    signed = decode_signed_header(header_of(now.body))
    ref = next(s.key_ref for s in signed.header.segments if s.category == "diagnostics")
    assert w.gateway.gateway.keys.has(ref)
    start, end = signed.header.start_ms - HOUR_MS, signed.header.end_ms + HOUR_MS
    w.owner_send(car, RequestErasure(car.vehicle_id, ["diagnostics"], start, end))
    w.wait_kind(car.vehicle_id, "erasure_complete")
    erasure = get_erasure(ChainView(w.client), car.vehicle_id, 0)
    tomb = get_tombstone_optional(ChainView(w.client), car.vehicle_id, 0)
    assert tomb is not None and ref in tomb.destroyed
    assert not w.gateway.gateway.keys.has(ref)
    raw = w.gclient.tombstone(erasure.tombstone_hash)
    assert compute_sha256(raw) == erasure.tombstone_hash and ref in raw
    # Neither the owner nor the custodian can open the diagnostics key any more.
    with GatewayClient(w.gateway.url, signer=car.owner) as og:
        keys = open_batch_category_keys(signed, og.key_envelope, car.owner)
    assert "diagnostics" not in keys and "motion" in keys
    with pytest.raises(NotFound):
        derive_release_items(
            w.gateway.gateway.keys.get, w.custodian, [header_of(now.body)], ["diagnostics"]
        )


def test_an_erased_segment_is_no_longer_served_to_its_requester(
    custody_world: CustodyWorld,
) -> None:
    w = custody_world
    car = w.register("saic:cust-erased-read")
    ups = w.upload_mixed(car)
    w.grant(car, ["diagnostics", "motion"])
    seq = w.request(car, ["diagnostics", "motion"])
    w.wait_kind(car.vehicle_id, "release")
    first = decode_signed_header(header_of(ups[0].body)).header
    second = decode_signed_header(header_of(ups[1].body)).header
    assert first.end_ms < second.start_ms and first.epoch == second.epoch
    with w.requester_gateway() as rg:
        assert rg.segment_ciphertext(ups[1].header_hash, "diagnostics", seq)
        # The owner erases the first batch's time only; the key of the whole day goes.
        body = RequestErasure(car.vehicle_id, ["diagnostics"], first.start_ms, first.end_ms)
        w.owner_send(car, body)
        w.wait_kind(car.vehicle_id, "erasure_complete")
        for up in ups:
            with pytest.raises(Unauthorized):
                rg.segment_ciphertext(up.header_hash, "diagnostics", seq)
        assert rg.segment_ciphertext(ups[0].header_hash, "motion", seq)


def test_erasure_under_legal_hold_waits_until_lift(custody_world: CustodyWorld) -> None:
    w = custody_world
    car = w.register("saic:cust-7")
    ups = w.upload_mixed(car)
    signed = decode_signed_header(header_of(ups[0].body))
    ref = next(s.key_ref for s in signed.header.segments if s.category == "diagnostics")
    start, end = signed.header.start_ms - HOUR_MS, signed.header.end_ms + HOUR_MS
    court = Account(w.client, seeded_key("court"))
    court.send(PlaceHold(car.vehicle_id, ["diagnostics"], start, end, b"\x07" * 32))
    w.owner_send(car, RequestErasure(car.vehicle_id, ["diagnostics"], start, end))
    wait_for(lambda: get_task_state(w, ERASURE, car.vehicle_id, 0) == WAITING)
    assert w.gateway.gateway.keys.has(ref)  # nothing destroyed under the hold
    assert w.gclient.status().get("custody_erasure_waiting", 0) >= 1
    hold_seq = get_hold_count(ChainView(w.client), car.vehicle_id) - 1
    court.send(LiftHold(car.vehicle_id, hold_seq))
    w.wait_kind(car.vehicle_id, "erasure_complete")
    assert not w.gateway.gateway.keys.has(ref)


def test_restart_resumes_from_cursor_without_double_release(custody_world: CustodyWorld) -> None:
    w = custody_world
    car = w.register("saic:cust-8")
    w.upload_mixed(car)
    w.grant(car, ["diagnostics"])
    first = w.request(car, ["diagnostics"])
    w.wait_kind(car.vehicle_id, "release")
    assert w.gateway.gateway.custody is not None
    wait_for(lambda: get_task_state(w, RELEASE, car.vehicle_id, first) == "released")
    cursor = w.gateway.gateway.custody.custody.get_cursor()
    w.stop_gateway()
    stopped = CustodyJournal(w.tmp / "gateway" / "journal.db")
    try:
        assert stopped.get_cursor() >= cursor  # on disk, not in memory
    finally:
        stopped.close()
    second = w.request(car, ["diagnostics"])  # while the gateway is down
    w.start_gateway()
    assert w.gateway.gateway.custody is not None
    assert w.gateway.gateway.custody.custody.get_cursor() >= cursor
    w.wait_kind(car.vehicle_id, "release", 2)
    wait_for(lambda: get_task_state(w, RELEASE, car.vehicle_id, second) == "released")
    kinds = w.log_kinds(car.vehicle_id)
    assert kinds.count("release") == 2
    view = ChainView(w.client)
    hashes = {
        r.package_hash
        for r in (get_release_optional(view, car.vehicle_id, s) for s in (first, second))
        if r is not None
    }
    store = w.gateway.gateway.releases
    assert hashes <= set(store.iter_digests())
    # One package sealed per request: the restarted loop sealed nothing again.
    sealed = [decode_release_package(store.get(d)) for d in store.iter_digests()]
    mine = [p.request_seq for p in sealed if p.vehicle_id == car.vehicle_id]
    assert sorted(mine) == [first, second]


class TamperedGateway:
    """A gateway client that changes what the gateway answers, to test the requester's
    checks (every other call goes to the real client)."""

    def __init__(self, real: GatewayClient, **overrides: object) -> None:
        self.real = real
        self.overrides = overrides

    def __getattr__(self, name: str) -> object:
        return self.overrides.get(name) or getattr(self.real, name)


def released_request(w: CustodyWorld, name: str) -> tuple[str, int]:
    """A car with a custody release of diagnostics to bosch: (vehicle id, request seq)."""
    car = w.register(name)
    w.upload_mixed(car)
    w.grant(car, ["diagnostics"])
    seq = w.request(car, ["diagnostics"])
    w.wait_kind(car.vehicle_id, "release")
    return car.vehicle_id, seq


def test_invalid_release_reads_are_refused(custody_world: CustodyWorld) -> None:
    w = custody_world
    vid, seq = released_request(w, "saic:cust-9")
    with pytest.raises(Unauthorized):
        w.gclient.release_package(vid, seq)  # the OEM operator is not the requester
    with w.requester_gateway() as rg:
        with pytest.raises(NotFound):
            rg.release_package(vid, seq + 1)  # no such release
        with pytest.raises(Unauthorized):
            # Another key asks for the package through the SDK: refused before any read.
            fetch_release(rg, w.client, vid, seq, seeded_key("geely"))
    with pytest.raises(InvalidReleasePackage):
        w.gclient.put_release_package(vid, seq, b"not the package")
    with pytest.raises(NotFound):
        w.gclient.put_release_package(vid, seq + 1, b"no release")
    erasure_hash = b"\x01" * 32
    with (
        GatewayClient(w.gateway.url, signer=seeded_key("geely")) as stranger,
        pytest.raises(NotFound),
    ):
        stranger.tombstone(erasure_hash)


def test_requester_refuses_a_tampered_package_or_batch(custody_world: CustodyWorld) -> None:
    w = custody_world
    vid, seq = released_request(w, "saic:cust-10")
    with w.requester_gateway() as rg:
        package = rg.release_package(vid, seq)
        bad_package = TamperedGateway(rg, release_package=lambda v, s: package[:-1] + b"\x00")
        with pytest.raises(InvalidReleasePackage):
            fetch_release(bad_package, w.client, vid, seq, BOSCH)  # type: ignore[arg-type]

        def other_batch_proof(h: bytes, s: int | None = None) -> dict[str, object]:
            doc = rg.batch_proof(h, s)
            return {
                **doc,
                "batch_proof": {**doc["batch_proof"], "index": 1 - doc["batch_proof"]["index"]},
            }

        bad_proof = TamperedGateway(rg, batch_proof=other_batch_proof)
        with pytest.raises(InvalidProof):
            fetch_release(bad_proof, w.client, vid, seq, BOSCH)  # type: ignore[arg-type]
        # The untampered gateway still verifies.
        assert fetch_release(rg, w.client, vid, seq, BOSCH)


def test_a_custodian_key_file_of_another_key_is_refused(
    tmp_path: Path, custody_world: CustodyWorld
) -> None:
    with pytest.raises(GatewayConfigError):
        Gateway(
            tmp_path / "gw", "saic", seeded_key("saic"), seeded_key("custodian/saic").public_key,
            custody_world.node_url, custodian_key=seeded_key("not-the-custodian"),
        )  # fmt: skip
    off = Gateway(
        tmp_path / "gw2", "saic", seeded_key("saic"), seeded_key("custodian/saic").public_key,
        custody_world.node_url,
    )  # fmt: skip
    try:
        assert off.custody is None
        assert off.get_custody_status() == {"custody": "off (no custodian key file)"}
    finally:
        off.close()


def test_custody_cursor_and_tasks_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    first = CustodyJournal(path)
    first.add_tasks_and_advance([(RELEASE, "saic:x", 3), (ERASURE, "saic:x", 0)], 7, 0)
    first.add_tasks_and_advance([(RELEASE, "saic:x", 3)], 9, 7)  # a task is recorded once
    first.close()
    again = CustodyJournal(path)
    try:
        assert again.get_cursor() == 9
        tasks = again.get_open_tasks(10)
        assert [(t.kind, t.seq) for t in tasks] == [(RELEASE, 3), (ERASURE, 0)]
        again.set_task_state(tasks[0], "released", "2 batches")
        assert [t.kind for t in again.get_open_tasks(10)] == [ERASURE]
        assert again.count_by_state() == {"release:released": 1, "erasure:pending": 1}
    finally:
        again.close()


def test_waiting_tasks_come_after_pending_ones(tmp_path: Path) -> None:
    journal = CustodyJournal(tmp_path / "journal.db")
    try:
        journal.add_tasks_and_advance([(ERASURE, "saic:h", 0), (RELEASE, "saic:h", 1)], 2, 0)
        held = journal.get_open_tasks(10)[0]
        journal.set_task_state(held, WAITING, "legal_hold_active")
        assert [t.kind for t in journal.get_open_tasks(1)] == [RELEASE]
    finally:
        journal.close()


def test_more_refs_than_a_completion_holds_go_to_the_tombstone(
    custody_world: CustodyWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carchain.gateway import custody_erasure

    monkeypatch.setattr(custody_erasure, "MAX_DESTROYED", 1)
    w = custody_world
    car = w.register("saic:cust-11")
    ups = w.upload_mixed(car)
    signed = decode_signed_header(header_of(ups[0].body))
    start, end = signed.header.start_ms - HOUR_MS, signed.header.end_ms + HOUR_MS
    w.owner_send(car, RequestErasure(car.vehicle_id, ["diagnostics", "motion"], start, end))
    w.wait_kind(car.vehicle_id, "erasure_complete")
    tomb = get_tombstone_optional(ChainView(w.client), car.vehicle_id, 0)
    assert tomb is not None and len(tomb.destroyed) == 1
    doc = msgspec.msgpack.decode(w.gclient.tombstone(tomb.tombstone_hash))
    assert tomb.destroyed[0] in doc[5] and len(doc[5]) == 2  # diagnostics and motion keys
    assert not any(w.gateway.gateway.keys.has(r) for r in doc[5])


def test_one_failing_task_does_not_stop_the_others(custody_world: CustodyWorld) -> None:
    w = custody_world
    service = w.gateway.gateway.custody
    assert service is not None
    real = service.process_task

    def poisoned(task: object) -> None:
        if getattr(task, "vehicle_id", "") == "saic:cust-12":
            raise InvalidReleasePackage("poisoned for the test")
        real(task)  # type: ignore[arg-type]

    service.process_task = poisoned  # type: ignore[method-assign]
    try:
        bad = w.register("saic:cust-12")
        w.upload_mixed(bad)
        w.grant(bad, ["diagnostics"])
        bad_seq = w.request(bad, ["diagnostics"])
        good = w.register("saic:cust-13")
        w.upload_mixed(good)
        w.grant(good, ["diagnostics"])
        w.request(good, ["diagnostics"])
        w.wait_kind(good.vehicle_id, "release")
        task = service.custody.get_task_optional(RELEASE, bad.vehicle_id, bad_seq)
        assert task is not None and task.state == "pending"
        assert task.detail == "error: invalid_release_package"
    finally:
        service.process_task = real  # type: ignore[method-assign]
    w.wait_kind(bad.vehicle_id, "release")  # once the fault is gone, it goes out


def test_an_unexpected_failure_of_one_task_does_not_stop_the_loop(
    custody_world: CustodyWorld,
) -> None:
    w = custody_world
    service = w.gateway.gateway.custody
    assert service is not None
    real = service.process_task

    def broken(task: object) -> None:
        if getattr(task, "vehicle_id", "") == "saic:cust-14":
            raise OverflowError("an untyped bug on this task's data")
        real(task)  # type: ignore[arg-type]

    service.process_task = broken  # type: ignore[method-assign]
    try:
        bad = w.register("saic:cust-14")
        w.upload_mixed(bad)
        w.grant(bad, ["diagnostics"])
        bad_seq = w.request(bad, ["diagnostics"])
        wait_for(lambda: "error" in get_task_detail(w, bad.vehicle_id, bad_seq), what="error")
        good = w.register("saic:cust-15")
        w.upload_mixed(good)
        w.grant(good, ["diagnostics"])
        w.request(good, ["diagnostics"])
        w.wait_kind(good.vehicle_id, "release")
        assert get_task_detail(w, bad.vehicle_id, bad_seq) == "error: OverflowError"
    finally:
        service.process_task = real  # type: ignore[method-assign]
    w.wait_kind(bad.vehicle_id, "release")


def get_task_detail(w: CustodyWorld, vehicle_id: str, seq: int) -> str:
    """Return the detail of a release task ("" if none yet)."""
    assert w.gateway.gateway.custody is not None
    task = w.gateway.gateway.custody.custody.get_task_optional(RELEASE, vehicle_id, seq)
    return "" if task is None else task.detail


def test_a_previous_owner_erases_its_own_day_not_the_buyers(custody_world: CustodyWorld) -> None:
    w = custody_world
    car = w.register("saic:cust-sold")
    buyer = seeded_key("owner/saic-cust-sold-buyer")
    rec = car.recorder(window_ms=60_000)
    start = int(time.time() * 1000) - 300_000
    pre = [u for t, r in make_records(61, start) for u in rec.add_at(r, t)]
    w.gclient.submit(pre[0].body)  # one batch closed before the sale
    sig = sign_transfer_consent(CHAIN_ID, car.owner, car.vehicle_id, buyer.public_key, 0)
    w.send(TransferVehicle(car.vehicle_id, buyer.public_key, sig))
    since = get_vehicle(ChainView(w.client), car.vehicle_id).owner_since_ms
    for up in rec.process_transfer(buyer.public_key, since):
        w.gclient.submit(up.body)
    post = [u for t, r in make_records(5, since + 1_000) for u in rec.add_at(r, t)]
    post += rec.flush()
    w.gclient.submit(post[0].body)
    seller_ref, buyer_ref = (motion_ref(u.body) for u in (pre[0], post[0]))
    # The seller erases the motion data of its own ownership (PIPL art. 47), after the sale.
    w.owner_send(car, RequestErasure(car.vehicle_id, ["motion"], start, since - 1))
    w.wait_kind(car.vehicle_id, "erasure_complete")
    keys = w.gateway.gateway.keys
    assert not keys.has(seller_ref)
    # The buyer's key of the same day is not the seller's to destroy; its uploads go on.
    assert keys.has(buyer_ref)
    more = [u for t, r in make_records(5, since + 20_000) for u in rec.add_at(r, t)]
    w.gclient.submit((more + rec.flush())[0].body)
    with GatewayClient(w.gateway.url, signer=buyer) as bg:
        signed = decode_signed_header(header_of(post[0].body))
        assert "motion" in open_batch_category_keys(signed, bg.key_envelope, buyer)
        # The seller's erasure is the seller's: the buyer does not read its tombstone.
        tombstone_hash = get_erasure(ChainView(w.client), car.vehicle_id, 0).tombstone_hash
        with pytest.raises(Unauthorized):
            bg.tombstone(tombstone_hash)
    with GatewayClient(w.gateway.url, signer=car.owner) as sg:
        assert compute_sha256(sg.tombstone(tombstone_hash)) == tombstone_hash


def motion_ref(body: bytes) -> bytes:
    """Return the key ref of an upload's motion segment."""
    h = decode_signed_header(header_of(body)).header
    return next(s.key_ref for s in h.segments if s.category == "motion")
