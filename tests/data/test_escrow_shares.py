"""Escrow shares: sealed per seat, opened by their seat, resealed to one case's officer,
combined only by k of them and only into this envelope's key."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from carchain.crypto.kdf import compute_category_key
from carchain.data.custody import decode_key_envelope, open_category_key
from carchain.data.escrow_shares import (
    combine_category_key,
    compute_officer_share_info,
    compute_share_info,
    open_officer_share,
    open_share,
    reseal_share_for_officer,
    seal_shares,
)
from carchain.errors import (
    DecryptionFailed,
    EscrowMismatch,
    InvalidKeyEnvelope,
    InvalidSecretShares,
    KeyCheckMismatch,
)
from tests.conftest import seeded_key
from tests.data.escrow_helpers import OWNER, SEAT_KEYS, make_committee, seal_escrowed

VID, EPOCH, CAT = "saic:v1", 20_000, "location"
KEY = compute_category_key(b"e" * 32, VID, EPOCH, CAT)
OFFICER = seeded_key("escrow/officer")


def _released(env_raw: bytes, seats: list[int], case_id: int = 7) -> list[tuple[int, bytes]]:
    """Custodians at ``seats`` open their shares and reseal them; the officer opens them."""
    env = decode_key_envelope(env_raw)
    out = []
    for index in seats:
        share = open_share(env, index, SEAT_KEYS[index - 1])
        box = reseal_share_for_officer(
            share, case_id, VID, EPOCH, CAT, env.committee_version, index, OFFICER.public_key
        )
        assert len(box) == 80
        got = open_officer_share(box, case_id, VID, EPOCH, CAT, 1, index, OFFICER)
        out.append((index, got))
    return out


def test_every_3_of_4_custodians_recover_the_key_and_no_2_do() -> None:
    raw = seal_escrowed(KEY, VID, EPOCH, CAT)
    env = decode_key_envelope(raw)
    assert env.committee_version == 1 and [s.index for s in env.escrow] == [1, 2, 3, 4]
    assert [s.holder for s in env.escrow] == [k.public_key for k in SEAT_KEYS]
    assert env.custodian == b"" and open_category_key(raw, OWNER) == KEY
    for seats in itertools.combinations([1, 2, 3, 4], 3):
        assert combine_category_key(_released(raw, list(seats)), env) == KEY
    for seats in itertools.combinations([1, 2, 3, 4], 2):
        with pytest.raises(KeyCheckMismatch):
            combine_category_key(_released(raw, list(seats)), env)
    assert KEY not in raw


def test_invalid_share_opens_only_for_its_seat_and_index() -> None:
    env = decode_key_envelope(seal_escrowed(KEY, VID, EPOCH, CAT))
    with pytest.raises(DecryptionFailed):
        open_share(env, 1, SEAT_KEYS[1])  # seat 2's key on seat 1's share
    with pytest.raises(DecryptionFailed):
        open_share(env, 5, SEAT_KEYS[0])  # no such index
    with pytest.raises(DecryptionFailed):
        open_share(env, 1, OWNER)
    # Seat 2's box relabelled as index 1 with seat 2 as holder: the index is in the info.
    moved = msgspec.structs.replace(
        env,
        escrow=[msgspec.structs.replace(env.escrow[1], index=1), *env.escrow[1:]],
    )
    with pytest.raises(DecryptionFailed):
        open_share(moved, 1, SEAT_KEYS[1])


@pytest.mark.parametrize(
    "change", [{"epoch": EPOCH + 1}, {"vehicle_id": "saic:v2"}, {"category": "audio_video"}]
)
def test_invalid_share_box_moved_to_another_key_scope_does_not_open(change: dict) -> None:
    """A share box copied into another vehicle's, epoch's or category's envelope."""
    env = decode_key_envelope(seal_escrowed(KEY, VID, EPOCH, CAT))
    moved = msgspec.structs.replace(env, **change)
    with pytest.raises(DecryptionFailed):
        open_share(moved, 1, SEAT_KEYS[0])


def test_invalid_share_box_moved_to_another_committee_version_does_not_open() -> None:
    env = decode_key_envelope(seal_escrowed(KEY, VID, EPOCH, CAT))
    with pytest.raises(DecryptionFailed):
        open_share(msgspec.structs.replace(env, committee_version=2), 1, SEAT_KEYS[0])


def test_invalid_officer_box_does_not_open_under_another_case_or_scope() -> None:
    env = decode_key_envelope(seal_escrowed(KEY, VID, EPOCH, CAT))
    share = open_share(env, 2, SEAT_KEYS[1])
    box = reseal_share_for_officer(share, 7, VID, EPOCH, CAT, 1, 2, OFFICER.public_key)
    for args in (
        (8, VID, EPOCH, CAT, 1, 2),  # case B
        (7, "saic:v2", EPOCH, CAT, 1, 2),
        (7, VID, EPOCH - 1, CAT, 1, 2),
        (7, VID, EPOCH, "audio_video", 1, 2),
        (7, VID, EPOCH, CAT, 2, 2),
        (7, VID, EPOCH, CAT, 1, 3),
    ):
        with pytest.raises(DecryptionFailed):
            open_officer_share(box, *args, OFFICER)
    with pytest.raises(DecryptionFailed):
        open_officer_share(box, 7, VID, EPOCH, CAT, 1, 2, seeded_key("other-officer"))
    assert open_officer_share(box, 7, VID, EPOCH, CAT, 1, 2, OFFICER) == share


def test_invalid_shares_of_another_key_do_not_combine_into_this_one() -> None:
    """Shares of another vehicle's (or epoch's, category's) key fail this envelope's check,
    alone and mixed with genuine ones."""
    env = decode_key_envelope(seal_escrowed(KEY, VID, EPOCH, CAT))
    other_key = compute_category_key(b"e" * 32, VID, EPOCH + 1, CAT)
    other = decode_key_envelope(seal_escrowed(other_key, VID, EPOCH + 1, CAT))
    theirs = [(i, open_share(other, i, SEAT_KEYS[i - 1])) for i in (1, 2, 3)]
    ours = [(i, open_share(env, i, SEAT_KEYS[i - 1])) for i in (1, 2, 3)]
    assert combine_category_key(theirs, other) == other_key
    with pytest.raises(KeyCheckMismatch):
        combine_category_key(theirs, env)
    with pytest.raises(KeyCheckMismatch):
        combine_category_key([ours[0], ours[1], theirs[2]], env)


def test_invalid_malformed_shares_are_typed() -> None:
    env = decode_key_envelope(seal_escrowed(KEY, VID, EPOCH, CAT))
    for shares in ([], [(1, b"x" * 32)], [(1, b"x" * 32), (1, b"y" * 32)], [(1, b"x"), (2, b"y")]):
        with pytest.raises(InvalidSecretShares):
            combine_category_key(shares, env)


def test_invalid_seat_keys_not_one_per_seat_are_refused() -> None:
    committee = make_committee()
    keys = [k.public_key for k in SEAT_KEYS]
    for bad in (keys[:3], [*keys, keys[0]], [*keys[:3], b"short"]):
        with pytest.raises(EscrowMismatch):
            seal_shares(KEY, VID, EPOCH, CAT, committee, bad)
    shuffled = msgspec.structs.replace(
        committee, custodians=[committee.custodians[1], committee.custodians[0]]
    )
    with pytest.raises(EscrowMismatch):
        seal_shares(KEY, VID, EPOCH, CAT, shuffled, keys[:2])


def test_share_infos_bind_every_field_and_differ_by_purpose() -> None:
    base = compute_share_info(VID, EPOCH, CAT, 1, 1)
    assert base.startswith(b"carchain/escrow-share/v1")
    variants = {
        compute_share_info("saic:v2", EPOCH, CAT, 1, 1),
        compute_share_info(VID, EPOCH + 1, CAT, 1, 1),
        compute_share_info(VID, EPOCH, "audio_video", 1, 1),
        compute_share_info(VID, EPOCH, CAT, 2, 1),
        compute_share_info(VID, EPOCH, CAT, 1, 2),
        compute_officer_share_info(7, VID, EPOCH, CAT, 1, 1),
        compute_officer_share_info(8, VID, EPOCH, CAT, 1, 1),
    }
    assert base not in variants and len(variants) == 7


def test_invalid_escrow_list_shape_is_refused_on_decode() -> None:
    env = decode_key_envelope(seal_escrowed(KEY, VID, EPOCH, CAT))
    s = env.escrow
    for change in (
        {"committee_version": 0},  # shares without a committee
        {"escrow": []},  # a committee without shares
        {"escrow": s[:1]},  # one share: a single holder would hold the key
        {"escrow": [s[1], s[0], *s[2:]]},  # indices out of order
        {"escrow": [*s[:3], msgspec.structs.replace(s[3], box=b"x" * 10)]},
        {"escrow": [*s[:3], msgspec.structs.replace(s[3], holder=b"x")]},
        {"escrow": [*s, *s, *s, *s, s[0]]},  # 17 shares
        {"key_check": b""},
    ):
        with pytest.raises(InvalidKeyEnvelope):
            decode_key_envelope(msgspec.msgpack.encode(msgspec.structs.replace(env, **change)))
