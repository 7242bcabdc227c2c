"""Shamir k-of-n over pycryptodome: any k combine, k-1 say nothing, bad input is typed."""

from __future__ import annotations

import itertools
import os

import pytest
from Crypto.Protocol.SecretSharing import Shamir
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.crypto.shamir import HALF_SIZE, combine_shares, split_secret
from carchain.errors import InvalidSecretShares

SECRET = bytes(range(32))


@pytest.mark.parametrize(("k", "n"), [(2, 2), (2, 3), (3, 4), (4, 4), (5, 9)])
def test_any_k_shares_combine_to_the_secret(k: int, n: int) -> None:
    shares = split_secret(SECRET, k, n)
    assert [i for i, _ in shares] == list(range(1, n + 1))
    assert all(len(s) == 32 for _, s in shares)
    for subset in itertools.combinations(shares, k):
        assert combine_shares(list(subset)) == SECRET
    # More than k genuine shares interpolate the same polynomial.
    assert combine_shares(shares) == SECRET


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_any_secret_round_trips_3_of_4(secret: bytes) -> None:
    shares = split_secret(secret, 3, 4)
    assert combine_shares([shares[3], shares[0], shares[2]]) == secret


def test_two_splits_of_one_secret_differ() -> None:
    """Fresh random polynomials each time: shares of one split say nothing of another's."""
    assert split_secret(SECRET, 3, 4) != split_secret(SECRET, 3, 4)


def test_k_minus_1_shares_combine_to_a_wrong_secret() -> None:
    shares = split_secret(SECRET, 3, 4)
    for subset in itertools.combinations(shares, 2):
        assert combine_shares(list(subset)) != SECRET


def _complete_to(fixed: list[tuple[int, bytes]], index: int, candidate: bytes) -> bytes:
    """Return the 16-byte share at ``index`` which, with ``fixed``, gives ``candidate``.

    Uses only pycryptodome: in GF(2^128) addition is XOR, so the polynomial through
    ``(0, candidate)`` and ``fixed``, shifted by ``index``, has ``p(index)`` as its
    constant term: interpolate at the points ``x XOR index``.
    """
    return Shamir.combine([(index, candidate)] + [(i ^ index, s) for i, s in fixed])


@pytest.mark.parametrize("k", [2, 3, 4])
def test_k_minus_1_shares_are_consistent_with_every_candidate_secret(k: int) -> None:
    """Perfect secrecy shown with pycryptodome itself: for k-1 fixed shares, EVERY
    candidate secret (the true one, zeros, random ones) has a k-th share completing
    them to it, so the k-1 shares single out no secret."""
    shares = split_secret(SECRET, k, k + 1)
    fixed = shares[: k - 1]
    candidates = [SECRET, b"\x00" * 32, b"\xff" * 32, *(os.urandom(32) for _ in range(8))]
    for candidate in candidates:
        completed = []
        for half in (slice(0, HALF_SIZE), slice(HALF_SIZE, 32)):
            low = [(i, s[half]) for i, s in fixed]
            completed.append(_complete_to(low, k, candidate[half]))
        last = (k, completed[0] + completed[1])
        assert combine_shares([*fixed, last]) == candidate
    # And the genuine k-th share is the completion to the true secret.
    genuine = [(i, s[:HALF_SIZE]) for i, s in fixed]
    assert _complete_to(genuine, k, SECRET[:HALF_SIZE]) == shares[k - 1][1][:HALF_SIZE]


@pytest.mark.parametrize(
    ("secret", "k", "n"),
    [
        (b"short", 2, 3),
        (b"x" * 33, 2, 3),
        (SECRET, 1, 3),
        (SECRET, 0, 3),
        (SECRET, 4, 3),
        (SECRET, 2, 256),
        (SECRET, True, 3),
        ("x" * 32, 2, 3),
    ],
)
def test_invalid_split_parameters_are_typed(secret: object, k: object, n: object) -> None:
    with pytest.raises(InvalidSecretShares):
        split_secret(secret, k, n)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "shares",
    [
        [],
        [(1, b"a" * 32)],
        [(1, b"a" * 32), (1, b"b" * 32)],
        [(0, b"a" * 32), (1, b"b" * 32)],
        [(256, b"a" * 32), (1, b"b" * 32)],
        [(1, b"a" * 31), (2, b"b" * 32)],
        [(1, b"a" * 16), (2, b"b" * 16)],
        [(1, "a" * 32), (2, b"b" * 32)],
        [("1", b"a" * 32), (2, b"b" * 32)],
        [(1, b"a" * 32, 3), (2, b"b" * 32)],
        [[1, b"a" * 32], (2, b"b" * 32)],
    ],
)
def test_invalid_shares_are_typed(shares: list[object]) -> None:
    with pytest.raises(InvalidSecretShares):
        combine_shares(shares)  # type: ignore[arg-type]
