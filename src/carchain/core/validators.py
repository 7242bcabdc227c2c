"""The validator updates a block hands to CometBFT: merged per key and checked.

Governance may touch one validator key several times in one block (two
``set_validator`` decisions, a change and a suspension, a key swap between two
members). CometBFT refuses a change set that names a key twice ("duplicate
entry"), that removes a key it does not hold ("failed to find validator"), that
empties the set, or whose total power passes its limit; any of these stops
every node at that height for good. So the block's updates are merged here, the
last write for a key winning as it does in the state, and the result is checked
against those rules before it leaves the application.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from carchain.core.types import ValidatorUpdate
from carchain.errors import LivenessViolation

# CometBFT's types.MaxTotalVotingPower: MaxInt64 / 8.
MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8
ED25519_KEY_BYTES = 32
ADDRESS_BYTES = 20


def compute_validator_address(pub_key: bytes) -> bytes:
    """Return CometBFT's address of an Ed25519 key: the first 20 bytes of its SHA-256."""
    return hashlib.sha256(pub_key).digest()[:ADDRESS_BYTES]


def compute_merged_updates(
    updates: Sequence[ValidatorUpdate], before: Mapping[bytes, int]
) -> list[ValidatorUpdate]:
    """Return one update per key, the last one winning, without no-ops.

    ``before`` maps keys to their power at the start of the block (absent: 0).
    A key whose final power equals its starting power is left out, so a key
    added and removed again within the block (never in CometBFT's set) yields
    no removal. Keys keep the order of their first update.
    """
    last: dict[bytes, int] = {}
    for update in updates:
        last[update.pub_key] = update.power
    return [ValidatorUpdate(k, p) for k, p in last.items() if p != before.get(k, 0)]


def compute_total_power_after(
    updates: Sequence[ValidatorUpdate], before: Mapping[bytes, int], total_before: int
) -> int:
    """Return the set's total power once merged ``updates`` apply to it."""
    return total_before + sum(u.power - before.get(u.pub_key, 0) for u in updates)


def validate_validator_updates(
    updates: Sequence[ValidatorUpdate], before: Mapping[bytes, int], total_before: int
) -> None:
    """Raise ``LivenessViolation`` unless CometBFT accepts merged ``updates``.

    The rules of CometBFT v0.38 (``state.validateValidatorUpdates`` and
    ``ValidatorSet.UpdateWithChangeSet``): Ed25519 keys of 32 bytes, one entry
    per address, power in [0, MaxTotalVotingPower], a removal only of a key in
    the set, a total power within the limit, and a set that is not left empty.
    """
    addresses: set[bytes] = set()
    for u in updates:
        _validate_one(u, before)
        address = compute_validator_address(u.pub_key)
        if address in addresses:
            raise LivenessViolation("two validator updates for one address", key=u.pub_key)
        addresses.add(address)
    if not updates:
        return
    total = compute_total_power_after(updates, before, total_before)
    if total <= 0:
        raise LivenessViolation("the validator updates would leave the set empty")
    if total > MAX_TOTAL_VOTING_POWER:
        raise LivenessViolation("total voting power would exceed CometBFT's limit", total=total)


def _validate_one(u: ValidatorUpdate, before: Mapping[bytes, int]) -> None:
    if len(u.pub_key) != ED25519_KEY_BYTES:
        raise LivenessViolation("a validator key must be a 32-byte Ed25519 key")
    if not 0 <= u.power <= MAX_TOTAL_VOTING_POWER:
        raise LivenessViolation("validator power out of range", power=u.power)
    if u.power == 0 and before.get(u.pub_key, 0) <= 0:
        raise LivenessViolation("removal of a key that is not a validator", key=u.pub_key)
