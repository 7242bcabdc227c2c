"""A live lawful-access world: an embedded solo node, SAIC's gateway, cars that seal
escrow shares to the committee, the custodians' services and an officer.

Used by the end-to-end tests and ``bench/bench_case.py``. A committee set on chain
is in force from the next UTC day, and cars seal to committee(epoch); so the world
starts its chain ``past_days`` in the past (the node's block clock shifted back),
registers the cars, the escrow keys and the committee there, then brings the clock
to now: the cars' data of the last ``past_days - 1`` days and of today is escrowed.

Cast: ``saic`` (OEM), ``police`` (law enforcement), ``court2`` (the authorising
court), ``court`` (court, custodian), ``caam`` (association, custodian), ``audit``
(auditor, custodian), ``miit`` (regulator); committee court, caam, audit and the
vehicle-OEM seat, 3 of 4, escrowing location, motion and the other escrowable
categories. Keys are derived from their names (repeatable runs).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from carchain.core import governance as gov
from carchain.core.case_records import (
    DAY_MS,
    VEHICLE_OEM_SEAT,
    ApproveCase,
    AuthorizeCase,
    CaseScope,
    CommitteeSeat,
    OpenCase,
    RegisterEscrowKey,
)
from carchain.core.escrow_committee import SetEscrowCommittee
from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.custodian.runner import CustodianRunner, CustodianSettings
from carchain.data.categories import DataCategory
from carchain.data.minimisation import Action, MinimisationPolicy, Rule
from carchain.data.records import Telemetry
from carchain.errors import InvalidNonce, NodeUnavailable
from carchain.gateway.ingest import IngestLimits
from carchain.gateway.server import EmbeddedGateway
from carchain.sdk.account import Account
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.client import Client
from carchain.sdk.escrow_seats import ChainEscrowSource
from carchain.sdk.vehicle import Upload, VehicleRecorder
from carchain.sim.embedded import EmbeddedNode

CHAIN_ID = "carchain-cases"
MEMBERS: tuple[tuple[str, str, list[str]], ...] = (
    ("saic", "SAIC Motor", ["oem"]),
    ("miit", "MIIT", ["regulator"]),
    ("police", "Traffic Police", ["law_enforcement"]),
    ("court", "Shanghai Court", ["court"]),
    ("court2", "Beijing Court", ["court"]),
    ("caam", "CAAM", ["association"]),
    ("audit", "Independent Auditor", ["auditor"]),
)
CUSTODIANS = ("court", "caam", "audit")
SEATS = [
    CommitteeSeat("court", "court"),
    CommitteeSeat("caam", "association"),
    CommitteeSeat("audit", "auditor"),
    CommitteeSeat(VEHICLE_OEM_SEAT, "oem"),
]
ESCROWED = ["audio_video", "biometrics", "crash_pulse", "location", "motion"]
COLLECT_ALL = MinimisationPolicy(
    "collect-all", {c: Rule(Action.COLLECT) for c in DataCategory if c != DataCategory.V2X_PEER}
)


def make_key(label: str) -> SigningKey:
    """Return the world's deterministic key called ``label``."""
    return SigningKey.from_seed(hashlib.sha256(b"carchain/case-world/" + label.encode()).digest())


def make_genesis() -> Genesis:
    """Return the world's genesis (2/3 governance threshold)."""
    members = [GenesisMember(m, n, r, make_key(m).public_key.hex()) for m, n, r in MEMBERS]
    return Genesis(CHAIN_ID, 0, gov.GovernanceParams(2, 3, 1000), members)


@dataclass
class ShiftedClock:
    """The node's block clock: wall clock plus ``offset_ms``."""

    offset_ms: int = 0

    def time(self) -> float:
        """Return the shifted time in seconds."""
        return time.time() + self.offset_ms / 1000


def get_event_attr(res: dict[str, Any], event_type: str, name: str) -> str:
    """Return an attribute of the first ``event_type`` event of a committed answer."""
    for event in (res.get("result") or {}).get("events") or []:
        if event.get("type") == event_type:
            return str((event.get("attributes") or {}).get(name, ""))
    raise NodeUnavailable(f"the answer has no {event_type} event")


@dataclass
class CaseWorld:
    """The running world; ``close`` stops what it started."""

    tmp: Path
    past_days: int
    node: EmbeddedNode
    clock: ShiftedClock
    client: Client
    gateway: EmbeddedGateway | None = None
    accounts: dict[str, Account] = field(default_factory=dict)
    cars: list[str] = field(default_factory=list)
    runners: list[CustodianRunner] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        """Return the gateway's URL (``NodeUnavailable`` before ``start_gateway``)."""
        if self.gateway is None:
            raise NodeUnavailable("the world's gateway is not started")
        return self.gateway.url

    def send(self, member: str, body: msgspec.Struct) -> dict[str, Any]:
        """Send as ``member`` (or a named key), retrying a nonce the gateway's anchors took."""
        if member not in self.accounts:
            self.accounts[member] = Account(self.client, make_key(member), CHAIN_ID)
        deadline = time.monotonic() + 30
        while True:
            try:
                return self.accounts[member].send(body)
            except InvalidNonce:
                if time.monotonic() > deadline:
                    raise

    def register_cars(self, count: int) -> None:
        """Register ``count`` SAIC cars owned by one owner."""
        for n in range(count):
            vid = f"saic:{n + 1}"
            body = RegisterVehicle(
                vid, hashlib.sha256(vid.encode()).digest(), make_key("car/" + vid).public_key,
                "RX5", 2024, make_key("owner").public_key,
            )  # fmt: skip
            self.send("saic", body)
            self.cars.append(vid)

    def set_committee(self) -> None:
        """Register the custodians' escrow keys and set the 3-of-4 committee by governance."""
        for m in CUSTODIANS:
            self.send(m, RegisterEscrowKey(make_key("escrow/" + m).public_key))
        res = self.send("miit", gov.Propose(SetEscrowCommittee(SEATS, 3, ESCROWED)))
        pid = int(get_event_attr(res, "proposal_created", "proposal_id"))
        for m in ("saic", "police", "court", "caam"):
            self.send(m, gov.Vote(pid, True))

    def start_gateway(self) -> None:
        """Start SAIC's gateway (accepting the last ``past_days`` epochs)."""
        gw = EmbeddedGateway(
            self.tmp / "gateway", "saic", make_key("saic"),
            make_key("custodian/saic").public_key, self.node.url, 0.05,
        )  # fmt: skip
        gw.gateway.ingestor.limits = IngestLimits(accepted_epoch_lag=self.past_days)
        gw.start()
        self.gateway = gw

    def recorder(self, vid: str) -> VehicleRecorder:
        """Return a recorder of car ``vid`` sealing shares to committee(epoch)."""
        return VehicleRecorder(
            vid, make_key("car/" + vid), make_key("owner").public_key,
            make_key("custodian/saic").public_key, COLLECT_ALL, window_ms=600_000,
            escrow=ChainEscrowSource(self.client, "saic"),
        )  # fmt: skip

    def upload_at(self, vid: str, t0: int, records: int = 5) -> list[Upload]:
        """Upload one batch of ``records`` telemetry samples of ``vid`` from ``t0`` (one a
        second); return the uploads."""
        rec = self.recorder(vid)
        ups: list[Upload] = []
        for i in range(records):
            t = t0 + i * 1000
            ups += rec.add_at(Telemetry(t, 31.2 + i / 1000, 121.4, 50.0 + i, 90.0, 0.1), t)
        ups += rec.flush()
        with CaseGatewayClient(self.gateway_url) as gc:
            for up in ups:
                gc.submit(up.body)
        return ups

    def wait_anchored(self, timeout_s: float = 60) -> None:
        """Wait until the gateway anchored every batch it accepted."""
        deadline = time.monotonic() + timeout_s
        with CaseGatewayClient(self.gateway_url) as gc:
            while gc.status()["unanchored"] != 0:
                if time.monotonic() > deadline:
                    raise TimeoutError("anchoring")
                time.sleep(0.02)

    def open_case(self, scope: CaseScope, officer: str = "officer") -> int:
        """Open a case (police) under accident investigation; return its id."""
        body = OpenCase(
            hashlib.sha256(b"case-ref").digest(), "rtsl_accident", scope,
            hashlib.sha256(b"justification").digest(), make_key(officer).public_key,
        )  # fmt: skip
        return int(get_event_attr(self.send("police", body), "case_opened", "case_id"))

    def authorize(self, case_id: int, scope: CaseScope, days: int = 30) -> None:
        """Authorise the case (court2) with an expiry and a 60-day notice delay."""
        expires = int(self.clock.time() * 1000) + days * DAY_MS
        self.send("court2", AuthorizeCase(case_id, scope, expires, 60 * DAY_MS))

    def approve(self, case_id: int, *members: str) -> None:
        """Have each custodian approve the case."""
        for m in members:
            self.send(m, ApproveCase(case_id))

    def start_custodian(self, member: str, require_local_approval: bool = False) -> CustodianRunner:
        """Start ``member``'s custodian service (journal under the world's folder)."""
        settings = CustodianSettings(
            self.tmp / "custodian" / member, make_key(member), make_key("escrow/" + member),
            self.node.url, [self.gateway_url], require_local_approval, 0.05,
        )  # fmt: skip
        runner = CustodianRunner(settings)
        runner.start()
        self.runners.append(runner)
        return runner

    def close(self) -> None:
        """Stop the custodians, the gateway and the node."""
        for r in self.runners:
            r.stop()
        if self.gateway is not None:
            self.gateway.stop()
        self.client.close()
        self.node.stop()


def open_case_world(tmp: Path, cars: int, past_days: int = 1) -> CaseWorld:
    """Start the world: chain ``past_days`` back, cars and committee there, then now."""
    node = EmbeddedNode(tmp / "node", make_genesis(), block_interval_ms=20)
    clock = ShiftedClock(-past_days * DAY_MS)
    node.start()
    if node.node is None:
        raise NodeUnavailable("the embedded node did not start")
    node.node.clock = clock.time
    world = CaseWorld(tmp, past_days, node, clock, Client(node.url))
    try:
        world.register_cars(cars)
        world.set_committee()
        clock.offset_ms = 0
        world.start_gateway()
    except BaseException:
        world.close()
        raise
    return world
