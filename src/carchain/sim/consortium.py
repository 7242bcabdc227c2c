"""A simulated consortium: founding members with keys, and its genesis."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.crypto.signing import SigningKey
from carchain.network.genesis import FOUNDERS as FOUNDERS


@dataclass
class Consortium:
    """Founding members' keys and the genesis that names them."""

    chain_id: str
    keys: dict[str, SigningKey] = field(default_factory=dict)
    genesis: Genesis | None = None

    @property
    def oems(self) -> list[str]:
        """Return the member ids of the OEMs."""
        return [m for m, _, roles in FOUNDERS if "oem" in roles and m in self.keys]


def create_consortium(chain_id: str = "carchain-demo") -> Consortium:
    """Return fresh keys for the founders and a genesis with a 2/3 threshold."""
    c = Consortium(chain_id)
    members = []
    for member_id, name, roles in FOUNDERS:
        key = SigningKey.generate()
        c.keys[member_id] = key
        members.append(GenesisMember(member_id, name, sorted(roles), key.public_key.hex()))
    c.genesis = Genesis(
        chain_id=chain_id,
        genesis_time_ms=int(time.time() * 1000),
        governance=GovernanceParams(2, 3, 1000),
        members=members,
    )
    return c
