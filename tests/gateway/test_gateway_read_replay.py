"""Signed gateway reads are bound to their gateway's OEM (gateway-request/v2), and the
replay-nonce cache holds only authorised readers' nonces, capped per key, so keys that
may read nothing cannot fill it for everyone else."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from carchain.errors import NodeUnavailable, Unauthenticated
from carchain.gateway.auth import RequestAuthenticator, SignedRequest
from carchain.gateway.server import EmbeddedGateway
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.request_signing import (
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIME,
    sign_request_at,
)
from tests.conftest import seeded_key
from tests.dataplane import NOW_MS, World, make_stored_batch

SKEW_MS = 60_000


def now_ms() -> int:
    return int(time.time() * 1000)


def get(url: str, path: str, query: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(url + path + (f"?{query}" if query else ""), headers=headers, timeout=30)


@pytest.fixture(scope="module")
def stored(world: World) -> tuple[str, bytes, bytes]:
    """A SAIC car with one accepted batch: (vehicle id, header hash, key_ref)."""
    return make_stored_batch(world, "saic:car-replay")


@pytest.fixture(scope="module")
def geely_gateway(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedGateway]:
    """A second gateway, Geely's, on the same chain."""
    gw = EmbeddedGateway(
        tmp_path_factory.mktemp("geely") / "gateway",
        "geely",
        seeded_key("geely"),
        seeded_key("custodian/geely").public_key,
        world.node.url,
        0.05,
    )
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture()
def small_cache(world: World, monkeypatch: pytest.MonkeyPatch) -> RequestAuthenticator:
    """SAIC's gateway with a fresh nonce cache of 20 entries, 5 per key."""
    auth = RequestAuthenticator("saic", now_ms() - 1_000, max_nonces=20, max_per_key=5)
    monkeypatch.setattr(world.gateway.gateway, "authenticator", auth)
    return auth


# --- the audience --------------------------------------------------------------------


def test_invalid_request_signed_for_another_oems_gateway_gets_401(
    world: World, geely_gateway: EmbeddedGateway, stored: tuple[str, bytes, bytes]
) -> None:
    """The owner may list its car at both gateways; a request it signed for one is
    refused at the other, however fresh (and whatever its nonce)."""
    vid, _, _ = stored
    owner = seeded_key(f"owner/{vid}")
    query = f"vehicle_id={vid}"
    gateways = {"saic": world.gateway.url, "geely": geely_gateway.url}
    for meant, other in (("saic", "geely"), ("geely", "saic")):
        headers = sign_request_at(owner, meant, "GET", "/batches", query, now_ms())
        resp = get(gateways[other], "/batches", query, headers)
        assert resp.status_code == 401, (meant, other)
        assert resp.json()["error"]["code"] == "unauthenticated"
        assert get(gateways[meant], "/batches", query, headers).status_code == 200


def test_invalid_v1_signed_request_gets_401(world: World, stored: tuple[str, bytes, bytes]) -> None:
    vid, hh, _ = stored
    key = seeded_key("saic")
    for path, query in (("/batches", f"vehicle_id={vid}"), (f"/batches/{hh.hex()}", "")):
        for tag, fields in (
            (b"carchain/gateway-request/v1\x00", ["GET", path, query]),  # the old layout
            (b"carchain/gateway-request/v1\x00", ["saic", "GET", path, query]),  # old tag
        ):
            t, nonce = now_ms(), os.urandom(16)
            sig = key.sign(tag + msgspec.msgpack.encode([*fields, t, nonce]))
            headers = {
                HEADER_KEY: key.public_key.hex(),
                HEADER_TIME: str(t),
                HEADER_NONCE: nonce.hex(),
                HEADER_SIGNATURE: sig.hex(),
            }
            resp = get(world.gateway.url, path, query, headers)
            assert resp.status_code == 401, (path, fields)
            assert resp.json()["error"]["code"] == "unauthenticated"


def test_client_learns_the_oem_from_status_or_takes_it(
    world: World, stored: tuple[str, bytes, bytes]
) -> None:
    vid, hh, _ = stored
    with GatewayClient(world.gateway.url, signer=seeded_key("saic")) as gc:
        assert gc.oem is None
        assert [b["header_hash"] for b in gc.batches(vid)] == [hh.hex()]
        assert gc.oem == "saic"
    with GatewayClient(world.gateway.url, signer=seeded_key("saic"), oem="saic") as gc:
        assert gc.batch(hh)["header_hash"] == hh.hex()
    wrong = GatewayClient(world.gateway.url, signer=seeded_key("saic"), oem="geely")
    with wrong, pytest.raises(Unauthenticated, match="does not verify"):
        wrong.batches(vid)


@pytest.mark.parametrize("status", [{"batches": 0}, {"oem": ""}, {"oem": 7}])
def test_invalid_status_without_oem_is_a_typed_error(status: dict[str, object]) -> None:
    gc = GatewayClient("http://127.0.0.1:1", signer=seeded_key("saic"))
    gc._http.close()
    gc._http = httpx.Client(
        base_url=gc.url, transport=httpx.MockTransport(lambda r: httpx.Response(200, json=status))
    )
    with gc, pytest.raises(NodeUnavailable, match="names no oem"):
        gc.batches("saic:car-1")


# --- the nonce cache -----------------------------------------------------------------


def test_flood_from_unknown_keys_does_not_block_a_reader(
    world: World, small_cache: RequestAuthenticator, stored: tuple[str, bytes, bytes]
) -> None:
    """More refused requests than the cache holds, by keys that may read nothing
    (strangers and another OEM's member key), then every legitimate reader still reads."""
    vid, hh, ref = stored
    routes = (
        ("/batches", f"vehicle_id={vid}"),
        (f"/batches/{hh.hex()}/ciphertext", ""),
        (f"/keys/{ref.hex()}", ""),
        (f"/batches/{'ab' * 32}", ""),  # no such batch: 404, still not remembered
    )
    refused = 0
    for i in range(2 * small_cache.max_nonces):
        key = seeded_key("geely") if i % 5 == 0 else seeded_key(f"stranger/{i}")
        path, query = routes[i % len(routes)]
        resp = get(
            world.gateway.url,
            path,
            query,
            sign_request_at(key, "saic", "GET", path, query, now_ms()),
        )
        assert resp.status_code in (403, 404), (i, resp.text)
        refused += 1
    assert refused > small_cache.max_nonces
    for label in ("saic", "custodian/saic", f"owner/{vid}"):
        with GatewayClient(world.gateway.url, signer=seeded_key(label), oem="saic") as gc:
            assert [b["header_hash"] for b in gc.batches(vid)] == [hh.hex()], label


def test_every_read_route_refuses_a_replay(
    world: World, small_cache: RequestAuthenticator, stored: tuple[str, bytes, bytes]
) -> None:
    vid, hh, ref = stored
    owner = seeded_key(f"owner/{vid}")
    for path, query in (
        ("/batches", f"vehicle_id={vid}"),
        (f"/batches/{hh.hex()}", ""),
        (f"/batches/{hh.hex()}/ciphertext", ""),
        (f"/batches/{hh.hex()}/proof", ""),
        (f"/keys/{ref.hex()}", ""),
    ):
        headers = sign_request_at(owner, "saic", "GET", path, query, now_ms())
        assert get(world.gateway.url, path, query, headers).status_code == 200, path
        again = get(world.gateway.url, path, query, headers)
        assert again.status_code == 401, path
        assert "replayed" in again.json()["error"]["message"]


def test_invalid_more_requests_per_key_than_its_cap(
    world: World, small_cache: RequestAuthenticator, stored: tuple[str, bytes, bytes]
) -> None:
    vid, _, _ = stored
    query = f"vehicle_id={vid}"
    key = seeded_key("saic")
    for _ in range(small_cache.max_per_key):
        headers = sign_request_at(key, "saic", "GET", "/batches", query, now_ms())
        assert get(world.gateway.url, "/batches", query, headers).status_code == 200
    headers = sign_request_at(key, "saic", "GET", "/batches", query, now_ms())
    resp = get(world.gateway.url, "/batches", query, headers)
    assert resp.status_code == 401
    assert "by this key" in resp.json()["error"]["message"]
    with GatewayClient(world.gateway.url, signer=seeded_key(f"owner/{vid}"), oem="saic") as gc:
        assert gc.batches(vid)  # another key is not affected


# --- the cache alone (times chosen, no clock) ------------------------------------------


def checked(
    auth: RequestAuthenticator, label: str, at_ms: int, now: int | None = None
) -> SignedRequest:
    headers = sign_request_at(seeded_key(label), "saic", "GET", "/batches", "", at_ms)
    return auth.authenticate_at("GET", "/batches", "", headers, at_ms if now is None else now)


def test_nothing_is_remembered_until_admitted() -> None:
    auth = RequestAuthenticator("saic", NOW_MS, max_nonces=2, max_per_key=2)
    headers = sign_request_at(seeded_key("saic"), "saic", "GET", "/batches", "", NOW_MS)
    for _ in range(5):  # authenticated but never admitted (e.g. refused with 403): no entry
        first = auth.authenticate_at("GET", "/batches", "", headers, NOW_MS + 1)
    auth.remember_at(first, NOW_MS + 1)
    with pytest.raises(Unauthenticated, match="replayed"):
        auth.authenticate_at("GET", "/batches", "", headers, NOW_MS + 2)
    with pytest.raises(Unauthenticated, match="replayed"):  # two racing copies: one wins
        auth.remember_at(first, NOW_MS + 2)


def test_full_cache_forgets_expired_entries_first_never_live_ones() -> None:
    auth = RequestAuthenticator("saic", NOW_MS, max_skew_ms=SKEW_MS, max_nonces=3)
    live = [checked(auth, f"reader/{i}", NOW_MS) for i in range(3)]
    for req in live:
        auth.remember_at(req, NOW_MS)
    later = NOW_MS + SKEW_MS
    with pytest.raises(Unauthenticated, match="too many signed requests in the replay window"):
        auth.remember_at(checked(auth, "reader/new", later), later)
    with pytest.raises(Unauthenticated, match="replayed"):
        auth.remember_at(live[0], later)
    # A nonce from the future (time ahead of the clock) is kept past the older ones.
    ahead = checked(auth, "reader/ahead", NOW_MS + 2 * SKEW_MS + SKEW_MS // 2, later + SKEW_MS)
    expired = NOW_MS + 2 * SKEW_MS + 1
    fresh = [checked(auth, f"reader/fresh{i}", expired) for i in range(2)]
    auth.remember_at(ahead, expired)
    for req in fresh:
        auth.remember_at(req, expired)
    with pytest.raises(Unauthenticated, match="too many"):
        auth.remember_at(checked(auth, "reader/more", expired), expired)


def test_per_key_cap_frees_as_entries_expire() -> None:
    auth = RequestAuthenticator("saic", NOW_MS, max_skew_ms=SKEW_MS, max_per_key=2)
    for i in range(2):
        auth.remember_at(checked(auth, "saic", NOW_MS + i), NOW_MS + i)
    with pytest.raises(Unauthenticated, match="by this key"):
        auth.remember_at(checked(auth, "saic", NOW_MS + 5), NOW_MS + 5)
    auth.remember_at(checked(auth, "custodian/saic", NOW_MS + 5), NOW_MS + 5)
    after = NOW_MS + 2 * SKEW_MS + 10
    auth.remember_at(checked(auth, "saic", after), after)
