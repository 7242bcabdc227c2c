"""The story's consortium: the founders and the parties of the crash investigation,
each with a key derived from the seed, and a genesis with the founding escrow
committee in force from the first day.

Beside the founders (three OEMs, a supplier, the regulator, the traffic police, a
court and an auditor) the story needs the automakers' association (a custodian),
a second court (the one that authorises: no custodian judges its own release), an
insurer and a map provider (who receive data under the owners' consent). The
committee is 3 of 4: the court, the association, the auditor and the vehicle's own
OEM; it escrows every category an investigation may need.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from carchain.core.case_records import VEHICLE_OEM_SEAT, CommitteeSeat
from carchain.core.escrow_committee import SetEscrowCommittee
from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.crypto.signing import SigningKey
from carchain.network.genesis import FOUNDERS
from carchain.sim.consortium import Consortium
from carchain.sim.fleet import derive_key

POLICE = "mps-traffic"
CUSTODIAN_COURT = "court-sh"
AUTHORISING_COURT = "court-bj"
ASSOCIATION = "caam"
AUDITOR = "audit-cn"
INSURER = "ping-an"
MAP_PROVIDER = "amap"
REGULATOR = "miit"

STORY_MEMBERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (ASSOCIATION, "China Association of Automobile Manufacturers", ("association",)),
    (AUTHORISING_COURT, "Beijing Internet Court", ("court",)),
    (INSURER, "Ping An Insurance", ("insurer",)),
    (MAP_PROVIDER, "AutoNavi Maps", ("service_provider",)),
)
CUSTODIANS = (CUSTODIAN_COURT, ASSOCIATION, AUDITOR)
THRESHOLD = 3
# ``time`` too: without the records' times an investigator cannot tell when a car was
# where (each record's time is its own category segment).
ESCROWED = sorted(
    ["audio_video", "biometrics", "crash_pulse", "location", "motion", "time", "v2x_peer",
     "vehicle_control"]
)  # fmt: skip
COMMITTEE = SetEscrowCommittee(
    [
        CommitteeSeat(CUSTODIAN_COURT, "court"),
        CommitteeSeat(ASSOCIATION, "association"),
        CommitteeSeat(AUDITOR, "auditor"),
        CommitteeSeat(VEHICLE_OEM_SEAT, "oem"),
    ],
    THRESHOLD,
    ESCROWED,
)


@dataclass
class StoryConsortium(Consortium):
    """The consortium with the custodians' escrow keys (their shares are sealed to them)."""

    escrow_keys: dict[str, SigningKey] = field(default_factory=dict)


def derive_member_key(seed: int, member_id: str) -> SigningKey:
    """Return member ``member_id``'s signing key in the story of ``seed``."""
    return derive_key(seed, "member/" + member_id)


def derive_escrow_key(seed: int, member_id: str) -> SigningKey:
    """Return custodian ``member_id``'s escrow key in the story of ``seed``."""
    return derive_key(seed, "escrow/" + member_id)


def create_story_consortium(seed: int, chain_id: str = "carchain-demo") -> StoryConsortium:
    """Return the story's consortium: keys from ``seed``, genesis with the committee."""
    c = StoryConsortium(chain_id)
    members = []
    for member_id, name, roles in (*FOUNDERS, *STORY_MEMBERS):
        key = derive_member_key(seed, member_id)
        c.keys[member_id] = key
        escrow = ""
        if member_id in CUSTODIANS:
            c.escrow_keys[member_id] = derive_escrow_key(seed, member_id)
            escrow = c.escrow_keys[member_id].public_key.hex()
        members.append(
            GenesisMember(member_id, name, sorted(roles), key.public_key.hex(), escrow_key=escrow)
        )
    c.genesis = Genesis(
        chain_id=chain_id,
        genesis_time_ms=int(time.time() * 1000),
        governance=GovernanceParams(2, 3, 1000),
        members=members,
        escrow_committee=COMMITTEE,
    )
    return c
