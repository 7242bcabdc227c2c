"""An access-log page trusted through the light client: its app hash must be the one
of a header verified from the caller's trust root, fresh, at the state height + 1."""

from __future__ import annotations

from typing import Any

import pytest

from carchain.errors import InvalidProof, NoTrustRoot, StaleProof, UntrustedHeader
from carchain.sdk.access_log_trust import (
    get_access_log_by_consensus,
    get_oem_access_log_by_consensus,
)
from carchain.sdk.light_client import TrustedValidatorSet
from tests.access_log_chain import LogChain, log_chain, test_tx_type
from tests.sdk.lightchain import make_chain, make_keys, make_set

__all__ = ["log_chain", "test_tx_type"]
START = 1_800_000_000
KEYS = make_keys(4, "member")


class NetworkShaped:
    """The solo chain's pages, as a CometBFT node states them (header = height + 1)."""

    def __init__(self, chain: LogChain) -> None:
        self.chain = chain

    def _shaped(self, path: str, before: int | None, limit: int) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit} | ({} if before is None else {"before": before})
        doc: dict[str, Any] = self.chain.get(path, **params)
        return doc | {"proof_height": doc["height"] + 1}

    def access_log_doc(self, vehicle_id: str, before: int | None, limit: int) -> dict[str, Any]:
        return self._shaped(f"/vehicles/{vehicle_id}/access-log", before, limit)

    def oem_access_log_doc(self, oem: str, before: int | None, limit: int) -> dict[str, Any]:
        return self._shaped(f"/members/{oem}/access-log", before, limit)


@pytest.fixture
def node(log_chain: LogChain) -> tuple[Any, bytes, int]:
    log_chain.register("saic:1")
    height = log_chain.append("saic:1", 4)
    app_hash = bytes.fromhex(log_chain.get(f"/blocks/{height}")["app_hash"])
    return NetworkShaped(log_chain), app_hash, height


ROOT = TrustedValidatorSet("carchain-a", 1, make_set(KEYS))


def test_page_proven_against_a_light_client_header(node: tuple[Any, bytes, int]) -> None:
    client, app_hash, height = node
    chain = make_chain("carchain-a", {1: KEYS}, height + 1, START, app_hash=app_hash)
    now = START + height + 2
    page = get_access_log_by_consensus(client, chain.provider(), ROOT, "saic:1", limit=2, now=now)
    assert [e.seq for e in page.events] == [3, 2] and page.app_hash == app_hash
    oem = get_oem_access_log_by_consensus(client, chain.provider(), ROOT, "saic", now=now)
    assert oem.oem_seqs == [3, 2, 1, 0]


def test_invalid_header_app_hash_stale_header_or_no_root(node: tuple[Any, bytes, int]) -> None:
    client, app_hash, height = node
    other = make_chain("carchain-a", {1: KEYS}, height + 1, START)
    now = START + height + 2
    with pytest.raises(InvalidProof):
        get_access_log_by_consensus(client, other.provider(), ROOT, "saic:1", now=now)
    good = make_chain("carchain-a", {1: KEYS}, height + 1, START, app_hash=app_hash)
    with pytest.raises(StaleProof):
        get_access_log_by_consensus(client, good.provider(), ROOT, "saic:1", now=now + 3600)
    with pytest.raises(NoTrustRoot):
        get_access_log_by_consensus(client, good.provider(), None, "saic:1", now=now)
    stranger = TrustedValidatorSet("carchain-a", 1, make_set(make_keys(4, "attacker")))
    with pytest.raises(UntrustedHeader):
        get_access_log_by_consensus(client, good.provider(), stranger, "saic:1", now=now)


def test_invalid_proof_height_other_than_next_is_refused(node: tuple[Any, bytes, int]) -> None:
    client, app_hash, height = node
    chain = make_chain("carchain-a", {1: KEYS}, height + 2, START, app_hash=app_hash)

    class SoloShaped(NetworkShaped):
        def _shaped(self, path: str, before: int | None, limit: int) -> dict[str, Any]:
            return super()._shaped(path, before, limit) | {"proof_height": height + 2}

    with pytest.raises(InvalidProof, match="state height"):
        get_access_log_by_consensus(
            SoloShaped(client.chain), chain.provider(), ROOT, "saic:1", now=START + height + 3
        )
