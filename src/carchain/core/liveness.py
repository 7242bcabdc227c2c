"""Liveness of the validator set: governance must not hand the chain to keys that do not sign.

CometBFT commits a block only when validators holding more than 2/3 of the
voting power sign it. A decision that gives 1/3 or more of the power to a key
no node runs (a random key with a large power) halts the chain for good: no
block commits, so no proposal can undo it. The block context names the keys
that signed the previous block (``BlockContext.signers``); their power is the
power known to be live. A change to the validator set is refused when it
leaves at most 2/3 of the power on those keys and lowers their share; a change
that keeps more than 2/3 live, or that improves a bad share (removing a dead
validator), passes. With no signers known (solo engine, first blocks) the rule
does not apply.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from carchain.core.members import get_total_validator_power, get_validator_power
from carchain.core.state import KVView
from carchain.errors import LivenessViolation


class PowerShare(msgspec.Struct, frozen=True):
    """The power held by keys that signed the previous block, and the set's total power."""

    live: int
    total: int


def compute_power_share(view: KVView, signers: Sequence[bytes]) -> PowerShare:
    """Return the power the ``signers`` hold in ``view`` and the total voting power."""
    live = sum(get_validator_power(view, key) for key in set(signers))
    return PowerShare(live, get_total_validator_power(view))


def is_live_share(share: PowerShare) -> bool:
    """Return whether more than 2/3 of the total power is on keys that signed."""
    return 3 * share.live > 2 * share.total


def is_share_lowered(before: PowerShare, after: PowerShare) -> bool:
    """Return whether the live fraction ``live / total`` is lower after than before."""
    return after.live * before.total < before.live * after.total


def validate_power_change(before: PowerShare, after: PowerShare) -> None:
    """Raise ``LivenessViolation`` if the change leaves at most 2/3 of the power live
    and lowers the live fraction."""
    if not is_live_share(after) and is_share_lowered(before, after):
        raise LivenessViolation(
            "the change would leave 2/3 or less of the voting power on validators"
            " that signed the last block",
            power=after.live,
            total=after.total,
        )
