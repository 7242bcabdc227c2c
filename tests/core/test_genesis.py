"""The genesis document: parsing, founding members, validators, refusals."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from carchain.core import members
from carchain.core.genesis import (
    Genesis,
    GenesisMember,
    apply_genesis,
    compute_genesis_validators,
    decode_genesis,
    encode_genesis,
)
from carchain.core.governance import GovernanceParams, get_params
from carchain.core.state import WriteBuffer
from carchain.core.types import ValidatorUpdate
from carchain.engine.application import Application
from carchain.errors import InvalidGenesis
from carchain.storage.database import Database
from tests.conftest import CHAIN_ID, FOUNDERS, make_genesis, seeded_key, validator_key
from tests.core.memory import MemoryView


def apply(genesis: Genesis) -> tuple[MemoryView, list[ValidatorUpdate]]:
    view = MemoryView()
    buf = WriteBuffer(view)
    updates = apply_genesis(buf, genesis)
    buf.flush()
    return view, updates


def test_apply_genesis_writes_founders_and_validators() -> None:
    view, updates = apply(make_genesis())
    assert updates == [
        ValidatorUpdate(validator_key("saic"), 10),
        ValidatorUpdate(validator_key("geely"), 10),
    ]
    assert compute_genesis_validators(make_genesis()) == updates
    assert members.get_active_member_count(view) == len(FOUNDERS)
    for mid, name, roles, power in FOUNDERS:
        m = members.get_member(view, mid)
        assert (m.name, m.roles, m.public_key, m.status, m.joined_height, m.power) == (
            name,
            roles,
            seeded_key(mid).public_key,
            "active",
            0,
            power,
        )
        assert members.get_member_by_key(view, seeded_key(mid).public_key) == m
    assert get_params(view) == GovernanceParams(2, 3, 5)


def test_apply_genesis_is_deterministic() -> None:
    assert apply(make_genesis())[0].data == apply(make_genesis())[0].data


def test_json_round_trip(tmp_path: Path) -> None:
    g = make_genesis()
    path = tmp_path / "genesis.json"
    path.write_bytes(encode_genesis(g))
    assert decode_genesis(path.read_bytes()) == g


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"[]",
        b'{"chain_id": 5}',
        b'{"chain_id": "c"}',
        b"\xff\xfe",
        b'{"chain_id": "\xff"}',
    ],
)
def test_invalid_genesis_json(raw: bytes) -> None:
    with pytest.raises(InvalidGenesis) as info:
        decode_genesis(raw)
    assert info.value.code == "invalid_genesis"


def _founder(mid: str, **kw: object) -> GenesisMember:
    base = GenesisMember(mid, mid.upper(), ["oem"], seeded_key(mid).public_key.hex())
    return msgspec.structs.replace(base, **kw)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"chain_id": ""}, "chain id"),
        ({"chain_id": "c" * 51}, "chain id"),
        ({"members": []}, "at least one member"),
        ({"governance": GovernanceParams(0, 3, 10)}, "positive"),
        ({"governance": GovernanceParams(2, 0, 10)}, "positive"),
        ({"governance": GovernanceParams(4, 3, 10)}, "exceed"),
        ({"governance": GovernanceParams(2, 3, 0)}, "ttl"),
        ({"governance": GovernanceParams(2, 3, 10**7)}, "ttl"),
        ({"members": [_founder("a", public_key="zz")]}, "not hex"),
        ({"members": [_founder("a", public_key="ab" * 31)]}, "32 bytes"),
        ({"members": [_founder("a"), _founder("a")]}, "already used"),
        (
            {
                "members": [
                    _founder("a"),
                    _founder("b", public_key=seeded_key("a").public_key.hex()),
                ]
            },
            "already belongs",
        ),
        ({"members": [_founder("a", roles=["pirate"])]}, "unknown role"),
        ({"members": [_founder("a", roles=["supplier", "oem"])]}, "sorted"),
        ({"members": [_founder("a", power=5)]}, "validator"),
        ({"members": [_founder("a", member_id="bad id")]}, "member id"),
        (
            {
                "members": [
                    _founder("a", validator_key=validator_key("a").hex(), power=1),
                    _founder("b", validator_key=validator_key("a").hex(), power=1),
                ]
            },
            "validator key already belongs",
        ),
    ],
)
def test_invalid_genesis_content(change: dict[str, object], match: str) -> None:
    g = msgspec.structs.replace(make_genesis(), **change)
    with pytest.raises(InvalidGenesis, match=match):
        apply(g)


def test_init_chain_twice(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    app = Application(db)
    assert not app.is_initialised()
    app_hash, validators = app.init_chain(make_genesis())
    assert app.is_initialised() and app.chain_id == CHAIN_ID
    assert app.info().last_block_height == 0
    assert app.info().last_block_app_hash == app_hash
    # The same genesis again (a restart before the first block) is a no-op.
    assert app.init_chain(make_genesis()) == (app_hash, validators)
    with pytest.raises(InvalidGenesis):
        app.init_chain(make_genesis(ttl=6))
    db.close()
    # And after reopening.
    db = Database(tmp_path / "s.db")
    app = Application(db)
    assert app.chain_id == CHAIN_ID and app.info().last_block_app_hash == app_hash
    with pytest.raises(InvalidGenesis):
        app.init_chain(make_genesis(chain_id="other"))
    db.close()


def test_invalid_genesis_leaves_database_uninitialised(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    app = Application(db)
    with pytest.raises(InvalidGenesis):
        app.init_chain(msgspec.structs.replace(make_genesis(), members=[]))
    assert not app.is_initialised()
    assert db.conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0] == 0
    app.init_chain(make_genesis())
    assert app.is_initialised()
    db.close()


def test_same_genesis_same_app_hash(tmp_path: Path) -> None:
    hashes = []
    for name in ("a.db", "b.db"):
        db = Database(tmp_path / name)
        hashes.append(Application(db).init_chain(make_genesis())[0])
        db.close()
    assert hashes[0] == hashes[1]
    db = Database(tmp_path / "c.db")
    other = Application(db).init_chain(make_genesis(ttl=6))[0]
    db.close()
    assert other != hashes[0]
