"""The read methods the node and the API use instead of reaching into the state store."""

from __future__ import annotations

import pytest

from carchain.core import accounts, vehicles
from carchain.core.transactions import compute_tx_hash
from carchain.errors import HeightUnavailable
from tests.conftest import Chain
from tests.core.test_vehicles import register_body


def test_height_and_app_hash_follow_commits(chain: Chain) -> None:
    before = chain.app.get_app_hash()
    chain.send("saic", register_body("saic:1"))
    info = chain.app.info()
    assert chain.app.get_height() == info.last_block_height == 1
    assert chain.app.get_app_hash() == info.last_block_app_hash != before
    assert chain.engine.get_header(1).app_hash == chain.app.get_app_hash()  # type: ignore[union-attr]


def test_read_answers_at_any_height_of_the_window(chain: Chain) -> None:
    saic = chain.key("saic").public_key
    chain.send("saic", register_body("saic:1"))
    chain.send("saic", register_body("saic:2"))
    assert chain.app.read(accounts.STORE, saic) == (2).to_bytes(8, "big")
    assert chain.app.read(accounts.STORE, saic, 1) == (1).to_bytes(8, "big")
    assert chain.app.read(vehicles.STORE, vehicles.compute_vehicle_key("saic:2"), 1) is None
    assert chain.app.get_oldest_height() == 0


def test_invalid_read_height_outside_the_window_is_typed(chain: Chain) -> None:
    chain.send("saic", register_body("saic:1"))
    with pytest.raises(HeightUnavailable):
        chain.app.read(accounts.STORE, chain.key("saic").public_key, 5)


def test_iterate_and_engine_lookups_see_committed_blocks(chain: Chain) -> None:
    chain.send("saic", register_body("saic:1"))
    listed = [k for k, _ in chain.app.iterate(vehicles.STORE, vehicles.VEHICLE_KEY_PREFIX, 10)]
    assert listed == [vehicles.compute_vehicle_key("saic:1")]
    block = chain.engine.get_block(1)
    assert block is not None
    assert chain.engine.get_tx_location(compute_tx_hash(block.txs[0])) == (1, 0)
    assert chain.engine.get_block(2) is None
