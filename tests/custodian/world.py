"""The custodian service over the in-memory chain (``tests/core/lawful_world``): the
chain's rules apply for real, the service's transactions go through admission and
``process_block``; a fake gateway serves envelopes escrowed to the world's committee.

``CustodianWorld.service(member)`` builds the member's service (journal in a tmp dir)
whose clock is the chain's time; ``sealed`` records every envelope's category key so
a test can check what an officer would recover.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from carchain.core.case_records import DAY_MS, EscrowCommittee
from carchain.core.escrow_committee import get_committee_for_epoch, get_seat_key
from carchain.core.escrow_releases import get_releases
from carchain.crypto.signing import SigningKey
from carchain.custodian.journal import CustodianJournal
from carchain.custodian.release import ReleaseContext
from carchain.custodian.service import CustodianService
from carchain.data.custody import compute_key_ref, seal_category_key
from carchain.data.escrow_shares import seal_shares
from carchain.errors import make_error
from tests.core.lawful_world import escrow_key_name
from tests.core.memory import CoreChain

KeyOfShare = tuple[str, int, str]


class ChainSender:
    """Sends a member's transaction to the in-memory chain as a node would: the typed
    error of a refusal (admission or block) is raised."""

    def __init__(self, chain: CoreChain, member: str) -> None:
        self.chain, self.member = chain, member
        self.sent: list[msgspec.Struct] = []

    def send(self, body: msgspec.Struct) -> dict[str, Any]:
        """Admit and include ``body``; raise its typed error if it fails."""
        self.sent.append(body)
        check = self.chain.submit(self.chain.build(self.member, body))
        if not check.ok:
            self.chain.pending.clear()
            raise make_error(check.error_code, check.log)
        (result,) = self.chain.block()
        if result.code != 0:
            raise make_error(result.error_code, result.log, result.fields)
        return {"height": self.chain.height}


@dataclass
class FakeGateway:
    """A gateway holding one envelope per vehicle x epoch x category, escrowed to the
    committee of its epoch; records every read."""

    chain: CoreChain
    oem: str = "saic"
    envelopes: dict[bytes, bytes] = field(default_factory=dict)
    refs: dict[KeyOfShare, bytes] = field(default_factory=dict)
    sealed: dict[KeyOfShare, bytes] = field(default_factory=dict)
    reads: list[tuple[str, int]] = field(default_factory=list)

    def store(self, vehicle_id: str, epoch: int, category: str) -> bytes:
        """Seal a fresh category key as the car would and store its envelope."""
        committee = get_committee_for_epoch(self.chain.state, epoch)
        assert isinstance(committee, EscrowCommittee)
        key = hashlib.sha256(f"{vehicle_id}/{epoch}/{category}".encode()).digest()
        seats = [get_seat_key(self.chain.state, c, self.oem) for c in committee.custodians]
        shares = seal_shares(key, vehicle_id, epoch, category, committee, seats)
        raw = seal_category_key(
            key, vehicle_id, epoch, category, self.chain.key("owner-a").public_key,
            self.chain.key("custodian/saic").public_key,
            committee_version=committee.version, escrow=shares,
        )  # fmt: skip
        ref = compute_key_ref(raw)
        self.envelopes[ref] = raw
        self.refs[(vehicle_id, epoch, category)] = ref
        self.sealed[(vehicle_id, epoch, category)] = key
        return ref

    def case_batches(
        self, case_id: int, vehicle_id: str, start_ms: int, end_ms: int
    ) -> list[dict[str, Any]]:
        """Return one batch document per stored epoch of the vehicle in the range."""
        self.reads.append(("batches", case_id))
        epochs = sorted({e for v, e, _ in self.refs if v == vehicle_id})
        return [
            {
                "epoch": e,
                "segments": [
                    {"category": c, "key_ref": ref.hex()}
                    for (v, ep, c), ref in sorted(self.refs.items())
                    if v == vehicle_id and ep == e
                ],
            }
            for e in epochs
            if start_ms // DAY_MS <= e <= end_ms // DAY_MS
        ]

    def case_key_envelope(self, case_id: int, key_ref: bytes) -> bytes:
        """Return an envelope."""
        self.reads.append(("key", case_id))
        return self.envelopes[key_ref]


@dataclass
class CustodianWorld:
    """The in-memory chain, one fake SAIC gateway and the services built on them."""

    chain: CoreChain
    tmp: Path
    gateway: FakeGateway

    def service(self, member: str, require_local_approval: bool = False) -> CustodianService:
        """Return ``member``'s custodian service (escrow key, then member key)."""
        keys: list[SigningKey] = [self.chain.key(escrow_key_name(member)), self.chain.key(member)]
        ctx = ReleaseContext(
            self.chain.state, ChainSender(self.chain, member), {"saic": self.gateway}, keys
        )
        journal = CustodianJournal(self.tmp / member / "custodian.db")
        return CustodianService(
            member, ctx, journal, lambda: self.chain.now_ms, require_local_approval
        )

    def store_scope(self, vehicles: list[str], epochs: list[int], categories: list[str]) -> None:
        """Store an envelope for every vehicle x epoch x category."""
        for v in vehicles:
            for e in epochs:
                for c in categories:
                    self.gateway.store(v, e, c)

    def released(self, case_id: int) -> list[tuple[str, str, int, str, int]]:
        """Return ``(custodian, vehicle, epoch, category, index)`` of every released share."""
        return [
            (r.custodian, i.vehicle_id, i.epoch, i.category, i.index)
            for r in get_releases(self.chain.state, case_id)
            for i in r.items
        ]
