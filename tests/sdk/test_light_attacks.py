"""Attacks on the light client's numbers: values that alias in the 64-bit varint
encoding, validator sets CometBFT could not have, and JSON that ``int()`` reads
too generously.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from carchain.crypto.merkle import compute_merkle_root
from carchain.errors import CarchainError, InvalidProof
from carchain.sdk import light
from carchain.sdk.light import BlockId, LightBlock, compute_validator_set_hash, parse_light_block
from carchain.sdk.light_client import (
    TrustedHash,
    TrustedValidatorSet,
    query_verified_by_consensus,
    verify_header_at,
)
from tests.sdk.lightchain import (
    Chain,
    light_block_json,
    make_chain,
    make_header,
    make_keys,
    make_set,
    sign_commit,
)

START = 1_800_000_000
KEYS = make_keys(4, "member")
WRAP = 2**64


def inflate(vals: list[light.Validator], who: bytes, by: int) -> list[Any]:
    """The set with ``who``'s power raised by ``by``, built past the constructor's check."""
    out: list[Any] = []
    for v in vals:
        if v.pub_key == who:
            fake = object.__new__(light.Validator)
            for name in ("address", "pub_key"):
                object.__setattr__(fake, name, getattr(v, name))
            object.__setattr__(fake, "power", v.power + by)
            out.append(fake)
        else:
            out.append(v)
    return out


def compute_raw_set_hash(vals: list[light.Validator]) -> bytes:
    """A validators hash computed without any check (what a forger computes)."""
    enc = light.encode_bytes_field
    return compute_merkle_root(
        [
            enc(1, enc(1, v.pub_key, always=True), always=True)
            + light.encode_uvarint(2 << 3)
            + light.encode_uvarint(v.power)
            for v in vals
        ]
    )


def test_invalid_power_wrapping_to_the_genuine_validators_hash() -> None:
    # One validator of four (far below 1/3) serves the genuine block 1 with its own
    # power raised by 2**64, which the varint encoding drops: the set still hashes to
    # the genesis set. Skipping from it, its lone signature "is" > 1/3 of the trusted
    # power, and it forges a header at height 30 with any app hash.
    genuine = make_chain("carchain-a", {1: KEYS}, 40, START)
    gset = make_set(KEYS)
    attacker = KEYS[0]
    forged_chain = Chain(
        "carchain-a",
        {attacker.public_key: attacker},
        {30: make_set([attacker]), 31: make_set([attacker])},
        START,
    )
    forged = make_header(forged_chain, 30, BlockId(b"\x01" * 32, 1, b"\x02" * 32), b"\xee" * 32)
    b1 = genuine.blocks[1]
    served = {
        1: LightBlock(b1.header, b1.commit, inflate(b1.validators, attacker.public_key, WRAP)),
        30: LightBlock(forged, sign_commit(forged_chain, forged, forged_chain.sets[30]), []),
    }
    served[30] = dataclasses.replace(served[30], validators=forged_chain.sets[30])
    root = TrustedValidatorSet("carchain-a", 1, gset)
    with pytest.raises(InvalidProof, match="out of range"):
        verify_header_at(lambda h: served[h], root, 30, START + 40)


def test_invalid_wrapped_power_in_the_rpc_json_is_refused_at_parsing() -> None:
    genuine = make_chain("carchain-a", {1: KEYS}, 3, START)
    doc = light_block_json(genuine.blocks[2])
    for bad in (str(10 + WRAP), str(10 - WRAP), "0", "-10", str(light.MAX_TOTAL_VOTING_POWER + 1)):
        d = copy.deepcopy(doc)
        d["validators"][0]["voting_power"] = bad
        with pytest.raises(InvalidProof):
            parse_light_block(d)
    assert parse_light_block(doc).validators == genuine.blocks[2].validators


def test_invalid_total_power_overflowing_cometbfts_bound() -> None:
    big = light.MAX_TOTAL_VOTING_POWER // 2 + 1
    vals = [dataclasses.replace(v, power=big) for v in make_set(KEYS[:2])]
    with pytest.raises(InvalidProof, match="total power"):
        compute_validator_set_hash(vals)


def test_invalid_validator_counted_twice_by_a_duplicated_entry() -> None:
    # A set listing one validator three times hashes fine, and its one signature,
    # copied to three indexes, makes 3/4 of the "power": CometBFT never has such a set.
    a, b = make_set(KEYS[:1])[0], make_set(KEYS[1:2])[0]
    vals = [a, a, a, b]
    unique = [a, b]
    chain = Chain("carchain-a", {k.public_key: k for k in KEYS}, {5: unique, 6: unique}, START)
    header = make_header(chain, 5, BlockId(b"\x01" * 32, 1, b"\x02" * 32))
    header = dataclasses.replace(header, validators_hash=compute_raw_set_hash(vals))
    commit = sign_commit(chain, header, vals, {b.address})
    with pytest.raises(InvalidProof, match="twice"):
        light.verify_commit_light(header, commit, vals)


def test_invalid_height_beyond_int64_aliasing_a_genuine_block() -> None:
    # Block 5 re-served as height 5 + 2**64 keeps its hash and signatures (the varint
    # and sfixed64 encodings keep 64 bits): it must not verify as that height.
    chain = make_chain("carchain-a", {1: KEYS}, 10, START)
    lb = chain.blocks[5]
    aliased: Any = object.__new__(light.Header)
    for f in dataclasses.fields(light.Header):
        object.__setattr__(aliased, f.name, getattr(lb.header, f.name))
    object.__setattr__(aliased, "height", 5 + WRAP)
    commit: Any = object.__new__(light.Commit)
    for f in dataclasses.fields(light.Commit):
        object.__setattr__(commit, f.name, getattr(lb.commit, f.name))
    object.__setattr__(commit, "height", 5 + WRAP)
    blocks = dict(chain.blocks) | {5 + WRAP: LightBlock(aliased, commit, lb.validators)}
    root = TrustedHash(1, light.compute_header_hash(chain.blocks[1].header), "carchain-a")
    with pytest.raises(InvalidProof, match="out of range"):
        verify_header_at(lambda h: blocks[h], root, 5 + WRAP, START + 20)
    doc = light_block_json(lb)
    doc["header"]["height"] = doc["commit"]["height"] = str(5 + WRAP)
    with pytest.raises(InvalidProof):
        parse_light_block(doc)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("height", "1_0"),
        ("height", "\u0661\u0660"),  # Arabic-Indic digits: int() reads them as 10
        ("height", " 10"),
        ("height", True),
        ("height", 10.0),
        ("height", "0"),
        ("round", -1),
        ("round", 2**31),
        ("flag", 0),
        ("flag", 7),
        ("parts", 2**32),
        ("time", "2026-01-02T03:04:05.\u0661Z"),
    ],
)
def test_invalid_numbers_in_the_rpc_json(where: str, value: Any) -> None:
    doc = light_block_json(make_chain("carchain-a", {1: KEYS}, 12, START).blocks[10])
    if where == "height":
        doc["header"]["height"] = value
    elif where == "round":
        doc["commit"]["round"] = value
    elif where == "flag":
        doc["commit"]["signatures"][0]["block_id_flag"] = value
    elif where == "parts":
        doc["commit"]["block_id"]["parts"]["total"] = value
    else:
        doc["header"]["time"] = value
    with pytest.raises(InvalidProof):
        parse_light_block(doc)


def test_invalid_oversized_commit_or_validator_list_is_refused_before_work() -> None:
    doc = light_block_json(make_chain("carchain-a", {1: KEYS}, 3, START).blocks[2])
    d = copy.deepcopy(doc)
    d["commit"]["signatures"] *= 30  # 120 entries
    with pytest.raises(InvalidProof, match="more signatures"):
        parse_light_block(d)
    d = copy.deepcopy(doc)
    d["validators"] *= 30
    with pytest.raises(InvalidProof, match="larger than"):
        parse_light_block(d)


class FakeClient:
    """A node API answering one query document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def query(self, store: str, key: bytes, prove: bool = False) -> dict[str, Any]:
        return self.doc


@pytest.mark.parametrize("proof_height", ["abc", ["6"], {"h": 1}, "9" * 5000])
def test_invalid_proof_height_is_a_typed_error(proof_height: Any) -> None:
    chain = make_chain("carchain-a", {1: KEYS}, 8, START)
    doc = {"height": "5", "value": "00", "proof": [], "proof_height": proof_height}
    client: Any = FakeClient(doc)
    root = TrustedValidatorSet("carchain-a", 1, make_set(KEYS))
    with pytest.raises(CarchainError) as exc:
        query_verified_by_consensus(client, chain.provider(), "vehicles", b"k", root, now=START + 8)
    assert isinstance(exc.value, InvalidProof), repr(exc.value)


def test_invalid_genesis_file_with_a_repeated_key(tmp_path: Any) -> None:
    # The trust root itself must read one way: CometBFT and a reviewer's tool could
    # take the other of two "app_state"s or "chain_id"s.
    from carchain.core.genesis import encode_genesis
    from carchain.errors import InvalidGenesis
    from carchain.sdk.light_client import load_genesis_trust
    from tests.conftest import make_genesis

    text = encode_genesis(make_genesis()).decode()
    path = tmp_path / "genesis.json"
    path.write_text(text)
    assert load_genesis_trust(path).validators
    path.write_text(text.replace("{", '{"chain_id": "carchain-elsewhere", ', 1))
    with pytest.raises(InvalidGenesis, match="duplicate key 'chain_id'"):
        load_genesis_trust(path)
