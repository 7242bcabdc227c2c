"""Issue 7 item 13: the gateway's read routes need a member- or owner-signed request
(signature, clock skew, nonce replay), header times respect the minimisation
policy, and files holding metadata are private."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx
import pytest

from carchain.core.vehicles import TransferVehicle, get_vehicle
from carchain.data.batches import decode_signed_header, decode_submitted
from carchain.data.minimisation import FLEET_TELEMATICS_POLICY
from carchain.errors import Unauthenticated, Unauthorized
from carchain.gateway.auth import RequestAuthenticator
from carchain.sdk.chainview import ChainView
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.request_signing import (
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIME,
    sign_request_at,
)
from carchain.sdk.transactions import sign_transfer_consent
from carchain.sdk.vehicle import VehicleRecorder
from tests.conftest import CHAIN_ID, seeded_key
from tests.dataplane import NOW_MS, World, make_records, make_stored_batch


def now_ms() -> int:
    return int(time.time() * 1000)


def get(
    world: World, path: str, query: str = "", headers: dict[str, str] | None = None
) -> httpx.Response:
    url = world.gateway.url + path + (f"?{query}" if query else "")
    return httpx.get(url, headers=headers or {}, timeout=30)


def signed(key_label: str, path: str, query: str = "", at_ms: int | None = None) -> dict[str, str]:
    return sign_request_at(seeded_key(key_label), "saic", "GET", path, query, at_ms or now_ms())


@pytest.fixture(scope="module")
def stored(world: World) -> tuple[str, bytes, bytes]:
    """A car with one accepted batch: (vehicle id, header hash, key_ref)."""
    return make_stored_batch(world, "saic:car-auth")


def test_invalid_unsigned_reads_get_401(world: World, stored: tuple[str, bytes, bytes]) -> None:
    vid, hh, ref = stored
    for path, query in (
        ("/batches", f"vehicle_id={vid}"),
        (f"/batches/{hh.hex()}", ""),
        (f"/batches/{hh.hex()}/ciphertext", ""),
        (f"/batches/{hh.hex()}/segments/motion/ciphertext", ""),
        (f"/batches/{hh.hex()}/proof", ""),
        (f"/keys/{ref.hex()}", ""),
    ):
        resp = get(world, path, query)
        assert resp.status_code == 401, path
        assert resp.json()["error"]["code"] == "unauthenticated"
        assert vid not in resp.text and hh.hex() not in resp.text
    assert get(world, "/status").status_code == 200  # counts only: open on loopback


def test_invalid_wrongly_signed_stale_or_replayed_reads_get_401(
    world: World, stored: tuple[str, bytes, bytes]
) -> None:
    vid, _, _ = stored
    query = f"vehicle_id={vid}"
    good = signed("saic", "/batches", query)
    assert get(world, "/batches", query, good).status_code == 200
    assert get(world, "/batches", query, good).status_code == 401  # the same nonce again
    forged = dict(signed("saic", "/batches", query))
    forged[HEADER_SIGNATURE] = signed("impostor", "/batches", query)[HEADER_SIGNATURE]
    other_query = dict(signed("saic", "/batches", "vehicle_id=saic-car-1"))
    moved = dict(signed("saic", "/batches", query))
    moved[HEADER_TIME] = str(int(moved[HEADER_TIME]) + 1)
    cases = {
        "signature by another key": forged,
        "signed for another query": other_query,
        "time changed after signing": moved,
        "stale": signed("saic", "/batches", query, now_ms() - 10 * 60_000),
        "from the future": signed("saic", "/batches", query, now_ms() + 10 * 60_000),
        "garbage": {**signed("saic", "/batches", query), HEADER_SIGNATURE: "zz"},
        "short key": {**signed("saic", "/batches", query), HEADER_KEY: "00"},
        "short nonce": {**signed("saic", "/batches", query), HEADER_NONCE: "00"},
        "time not a number": {**signed("saic", "/batches", query), HEADER_TIME: "soon"},
    }
    for what, headers in cases.items():
        resp = get(world, "/batches", query, headers)
        assert resp.status_code == 401, what
        assert resp.json()["error"]["code"] == "unauthenticated", what


def test_invalid_signed_by_outsiders_gets_403(
    world: World, stored: tuple[str, bytes, bytes]
) -> None:
    vid, hh, ref = stored
    for label in ("stranger", "bosch", "police", "geely", "custodian/geely"):
        for path, query in (
            ("/batches", f"vehicle_id={vid}"),
            (f"/batches/{hh.hex()}/ciphertext", ""),
            (f"/batches/{hh.hex()}/segments/motion/ciphertext", ""),
            (f"/batches/{hh.hex()}/segments/location/ciphertext", ""),
            (f"/keys/{ref.hex()}", ""),
        ):
            resp = get(world, path, query, signed(label, path, query))
            assert resp.status_code == 403, (label, path)
            assert resp.json()["error"]["code"] == "unauthorized"
    # No oracle: a vehicle without batches, or an unknown one, answers the same 403.
    empty = world.register("saic:car-auth-empty")
    for vid in (empty.vehicle_id, "saic:car-unknown"):
        query = f"vehicle_id={vid}"
        resp = get(world, "/batches", query, signed("stranger", "/batches", query))
        assert resp.status_code == 403
    with GatewayClient(world.gateway.url, signer=empty.owner) as gc:
        assert gc.batches(empty.vehicle_id) == []


def test_operators_and_the_owner_read(world: World, stored: tuple[str, bytes, bytes]) -> None:
    vid, hh, ref = stored
    owner = seeded_key(f"owner/{vid}")
    for key in (seeded_key("saic"), seeded_key("custodian/saic"), owner):
        with GatewayClient(world.gateway.url, signer=key) as gc:
            assert [b["header_hash"] for b in gc.batches(vid)] == [hh.hex()]
            assert gc.ciphertext(hh) and gc.key_envelope(ref)


def test_after_a_transfer_each_owner_reads_only_its_period(world: World) -> None:
    car = world.register("saic:car-auth-sold")
    buyer = seeded_key("owner/auth-buyer")
    rec = car.recorder(window_ms=10**9)
    for t, r in make_records(3, now_ms() - 600_000):
        rec.add_at(r, t)
    (old,) = rec.flush()
    world.gclient.submit(old.body)
    sig = sign_transfer_consent(CHAIN_ID, car.owner, car.vehicle_id, buyer.public_key, 0)
    world.send(TransferVehicle(car.vehicle_id, buyer.public_key, sig))
    since = get_vehicle(ChainView(world.client), car.vehicle_id).owner_since_ms
    rec.process_transfer(buyer.public_key, since)
    ups = []
    for t, r in make_records(3, since + 1_000):
        ups += rec.add_at(r, t)
    ups += rec.flush()
    world.gclient.submit(ups[0].body)
    with GatewayClient(world.gateway.url, signer=car.owner) as seller:
        assert [b["header_hash"] for b in seller.batches(car.vehicle_id)] == [old.header_hash.hex()]
        with pytest.raises(Exception) as exc:
            seller.ciphertext(ups[0].header_hash)
        assert getattr(exc.value, "code", "") == "unauthorized"
    with GatewayClient(world.gateway.url, signer=buyer) as gc:
        assert [b["header_hash"] for b in gc.batches(car.vehicle_id)] == [ups[0].header_hash.hex()]


def test_invalid_request_signed_before_the_gateway_started() -> None:
    auth = RequestAuthenticator("saic", started_ms=NOW_MS)
    key = seeded_key("saic")
    early = sign_request_at(key, "saic", "GET", "/batches", "", NOW_MS - 1)
    with pytest.raises(Unauthenticated, match="before the gateway started"):
        auth.authenticate_at("GET", "/batches", "", early, NOW_MS + 10)
    fresh = sign_request_at(key, "saic", "GET", "/batches", "", NOW_MS + 5)
    assert auth.authenticate_at("GET", "/batches", "", fresh, NOW_MS + 10).key == key.public_key
    with pytest.raises(Unauthenticated, match="does not verify"):  # signed for GET, sent as POST
        auth.authenticate_at(
            "POST",
            "/batches",
            "",
            sign_request_at(key, "saic", "GET", "/batches", "", NOW_MS + 5),
            NOW_MS + 10,
        )


# --- header times follow the policy; files are private ------------------------------


def test_header_times_are_floored_to_the_policy_precision() -> None:
    owner = seeded_key("owner/floor")
    rec = VehicleRecorder(
        "saic-floor",
        seeded_key("vehicle/floor"),
        owner.public_key,
        owner.public_key,
        FLEET_TELEMATICS_POLICY,
        window_ms=10**9,
    )
    start = NOW_MS + 123  # not on a second
    for t, r in make_records(5, start, step_ms=777):
        rec.add_at(r, t)
    (up,) = rec.flush()
    h = decode_signed_header(decode_submitted(up.body).header).header
    assert (h.start_ms, h.end_ms) == (start // 1000 * 1000, (start + 4 * 777) // 1000 * 1000)
    assert h.start_ms % 1000 == 0 and h.end_ms % 1000 == 0


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_metadata_files_are_private(world: World, stored: tuple[str, bytes, bytes]) -> None:
    data = world.gateway.gateway.blobs.root.parent
    assert mode(data) == 0o700
    for name in ("blobs", "keys"):
        folder = data / name
        assert mode(folder) == 0o700
        for p in folder.rglob("*"):
            assert mode(p) == (0o700 if p.is_dir() else 0o600), p
    journal = [p for p in data.iterdir() if p.name.startswith("journal.db")]
    assert journal and all(mode(p) == 0o600 for p in journal)


def test_gateway_home_and_keyring_are_private(tmp_path: Path) -> None:
    from carchain.gateway.server import GatewayConfig, save_config
    from carchain.sdk.keystore import save_key

    save_key(tmp_path / "keyring" / "saic.json", seeded_key("saic"), "pw", n=2**10)
    assert mode(tmp_path / "keyring") == 0o700
    assert mode(tmp_path / "keyring" / "saic.json") == 0o600
    home = tmp_path / "gw"
    save_config(home, GatewayConfig("saic", "k.json", "00" * 32, "http://127.0.0.1:1"))
    assert mode(home) == 0o700 and mode(home / "gateway.json") == 0o600


def test_invalid_previous_owner_reading_a_batch_that_reaches_past_the_transfer(
    world: World,
) -> None:
    """Accepted before the transfer committed (it started before and ends ~55 s ahead),
    the batch reaches past the transfer's block time: neither owner may read it,
    operators still can."""
    car = world.register("saic:car-auth-window")
    buyer = seeded_key("owner/auth-window-buyer")
    rec = car.recorder(window_ms=10**9)
    for t, r in make_records(3, now_ms() - 5_000, step_ms=30_000):  # up to ~55 s ahead
        rec.add_at(r, t)
    (ahead,) = rec.flush()
    world.gclient.submit(ahead.body)
    sig = sign_transfer_consent(CHAIN_ID, car.owner, car.vehicle_id, buyer.public_key, 0)
    world.send(TransferVehicle(car.vehicle_id, buyer.public_key, sig))
    for key in (car.owner, buyer):
        with GatewayClient(world.gateway.url, signer=key) as gc:
            assert gc.batches(car.vehicle_id) == []
            with pytest.raises(Unauthorized):
                gc.ciphertext(ahead.header_hash)
    assert world.gclient.ciphertext(ahead.header_hash)
