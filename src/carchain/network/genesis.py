"""The genesis of a network: founding members, the first of them running validators.

Each validator is a member's node: the member's ``validator_key`` is the
Ed25519 public key in that node's CometBFT ``priv_validator_key.json``, so the
validator set CometBFT runs is exactly the set governance controls.
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.crypto.signing import SigningKey
from carchain.errors import NetworkError
from carchain.sdk.keystore import save_key

VALIDATOR_POWER = 10
LOCALNET_PASSPHRASE = "carchain-localnet"
# The founding members of a localnet and of the demo consortium (``sim``):
# member id, name, roles.
FOUNDERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("saic", "SAIC Motor", ("oem",)),
    ("geely", "Geely Auto", ("oem",)),
    ("vw-china", "Volkswagen China", ("oem",)),
    ("bosch", "Bosch China", ("supplier",)),
    ("miit", "Ministry of Industry and IT", ("regulator",)),
    ("mps-traffic", "Traffic Police Bureau", ("law_enforcement",)),
    ("court-sh", "Shanghai Maritime Court", ("court",)),
    ("audit-cn", "Independent Auditor", ("auditor",)),
)


def compute_network_genesis(
    chain_id: str,
    validator_keys: list[bytes],
    member_keys: dict[str, SigningKey],
    power: int = VALIDATOR_POWER,
    extra_members: list[GenesisMember] | None = None,
) -> Genesis:
    """Return a genesis whose first ``len(validator_keys)`` founders run validators."""
    members = [
        GenesisMember(member_id, name, sorted(roles), member_keys[member_id].public_key.hex())
        for member_id, name, roles in FOUNDERS
    ]
    members.extend(extra_members or [])
    genesis = Genesis(
        chain_id=chain_id,
        genesis_time_ms=int(time.time() * 1000),
        governance=GovernanceParams(2, 3, 1000),
        members=members,
    )
    return assign_validators(genesis, validator_keys, power)


def assign_validators(
    genesis: Genesis, validator_keys: list[bytes], power: int = VALIDATOR_POWER
) -> Genesis:
    """Return ``genesis`` with its first ``len(validator_keys)`` members running the
    validators of those keys (``power`` each) and every other member none.

    Any genesis can so become a network's: the founders' (``network up``) or one of
    the simulator's (the story's, with its extra members and escrow committee).
    """
    if len(validator_keys) > len(genesis.members):
        raise NetworkError(
            f"more validators than genesis members ({len(genesis.members)})",
            validators=len(validator_keys),
        )
    members = [
        msgspec.structs.replace(
            m,
            validator_key=validator_keys[i].hex() if i < len(validator_keys) else "",
            power=power if i < len(validator_keys) else 0,
        )
        for i, m in enumerate(genesis.members)
    ]
    return msgspec.structs.replace(genesis, members=members)


def create_member_keys() -> dict[str, SigningKey]:
    """Return a fresh key for each founder."""
    return {member_id: SigningKey.generate() for member_id, _, _ in FOUNDERS}


def save_member_keys(keyring: Path, keys: dict[str, SigningKey], passphrase: str) -> None:
    """Store the founders' keys encrypted in ``keyring`` (one file per member id)."""
    for member_id, key in keys.items():
        save_key(keyring / f"{member_id}.json", key, passphrase, n=2**14)
