"""One lawful-access case of the story, step by step on the story's chain: the police
open it, the authorising court authorises it, the custodians approve, their services
release the shares by themselves, the officer fetches, checks, decrypts and receipts.

The officer reads through ``ServedGatewayClient``: a gateway client that keeps what each
OEM's gateway actually served for the case (the batches it listed and the segments whose
ciphertext it handed over), so a test can check the gateways' side of "nothing else".
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from carchain.core.case_records import (
    DAY_MS,
    ApproveCase,
    AuthorizeCase,
    CaseReceipt,
    CaseScope,
    OpenCase,
)
from carchain.core.cases import compute_scope_epochs, get_case
from carchain.core.escrow_committee import get_committee_for_epoch
from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError, NodeUnavailable, make_error
from carchain.sdk.account import Account
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.officer import (
    CaseFetch,
    compute_case_receipts,
    drop_receipted,
    fetch_case_data,
)
from carchain.sim.case_world import get_event_attr
from carchain.sim.story_consortium import AUTHORISING_COURT, CUSTODIANS, POLICE
from carchain.sim.story_world import StoryWorld

LEGAL_BASIS = "rtsl_accident"
AUTHORIZATION_MS = 90 * DAY_MS
RELEASE_TIMEOUT_S = 120.0

log = logging.getLogger("carchain.sim")


@dataclass(frozen=True, slots=True)
class Served:
    """One thing a gateway served for a case: a listed batch or a segment's ciphertext."""

    case_id: int
    vehicle_id: str
    header_hash: bytes
    category: str  # "" for a listing row


class ServedGatewayClient(CaseGatewayClient):
    """A case gateway client that keeps what the gateway served."""

    def __init__(self, url: str, signer: SigningKey, served: list[Served]) -> None:
        super().__init__(url, signer=signer)
        self.served = served
        self._vehicle_of: dict[bytes, str] = {}

    def case_batches(
        self, case_id: int, vehicle_id: str, start_ms: int, end_ms: int
    ) -> list[dict[str, Any]]:
        """Return and keep the gateway's listing for the case."""
        docs = super().case_batches(case_id, vehicle_id, start_ms, end_ms)
        for d in docs:
            header_hash = bytes.fromhex(str(d["header_hash"]))
            self._vehicle_of[header_hash] = str(d["vehicle_id"])
            self.served.append(Served(case_id, str(d["vehicle_id"]), header_hash, ""))
        return docs

    def case_segment_ciphertext(self, case_id: int, header_hash: bytes, category: str) -> bytes:
        """Return and keep a segment's ciphertext served for the case."""
        data = super().case_segment_ciphertext(case_id, header_hash, category)
        vehicle = self._vehicle_of.get(header_hash, "")
        self.served.append(Served(case_id, vehicle, header_hash, category))
        return data


@dataclass
class CaseRun:
    """What one case did: its id, scope, the officer's fetch and receipts posted."""

    case_id: int
    scope: CaseScope
    fetch: CaseFetch
    receipts: int
    served: list[Served] = field(default_factory=list)


def open_case(sw: StoryWorld, scope: CaseScope, officer: SigningKey, ref: str) -> int:
    """Open a case (the traffic police) over ``scope``; return its id."""
    body = OpenCase(
        hashlib.sha256(ref.encode()).digest(), LEGAL_BASIS, scope,
        hashlib.sha256(b"justification/" + ref.encode()).digest(), officer.public_key,
    )  # fmt: skip
    return int(get_event_attr(sw.send(POLICE, body), "case_opened", "case_id"))


def authorize_and_approve(sw: StoryWorld, case_id: int, scope: CaseScope) -> None:
    """Authorise the case (the Beijing court, a notice delay of 30 days) and have the
    three independent custodians approve it (the OEM seat does not need to)."""
    expires = int(sw.clock.time() * 1000) + AUTHORIZATION_MS
    sw.send(AUTHORISING_COURT, AuthorizeCase(case_id, scope, expires, sw.notice_delay_ms))
    approve_at_once(sw, case_id)


def approve_at_once(sw: StoryWorld, case_id: int) -> None:
    """Have the custodians approve the case as people approving at once: each approval
    submitted without waiting but the last, whose commit is awaited (the node's mempool
    is first come, first served: the others are committed by then, in its block or one
    before); each one's committed result is checked."""
    pending = [sw.send(m, ApproveCase(case_id), "sync")["hash"] for m in CUSTODIANS[:-1]]
    sw.send(CUSTODIANS[-1], ApproveCase(case_id))
    for tx_hash in pending:
        check_committed(sw.client, str(tx_hash))


def check_committed(client: Client, tx_hash: str) -> None:
    """Raise unless transaction ``tx_hash`` is committed with success (its typed error
    if it failed its rules)."""
    doc = client.tx(bytes.fromhex(tx_hash))
    result = doc.get("result")
    if doc.get("state") != "committed" or not isinstance(result, dict):
        raise NodeUnavailable("a transaction sent before a committed one is not committed")
    if result.get("code") != 0:
        raise make_error(str(result.get("error_code")), str(result.get("log")), {})


def compute_expected_shares(sw: StoryWorld, scope: CaseScope) -> int:
    """Return how many shares the running custodians release for ``scope``: one per
    vehicle x epoch x escrowed category x custodian."""
    view = ChainView(sw.client)
    first, last = compute_scope_epochs(scope)
    total = 0
    for epoch in range(first, last + 1):
        committee = get_committee_for_epoch(view, epoch)
        if committee is not None:
            cats = [c for c in scope.categories if c in committee.categories]
            total += len(scope.vehicles) * len(cats) * len(CUSTODIANS)
    return total


def follow_releases(client: Client, case_id: int, count: int, done: threading.Event) -> None:
    """Follow the chain's ``shares_released`` events from the case's opening block and set
    ``done`` once the case's state holds ``count`` released shares (checked when the
    events of the case name that many)."""
    view = ChainView(client)
    opened = get_case(view, case_id).opened_height
    events = client.events(["shares_released"], from_height=opened)
    shares = 0
    try:
        for event in events:
            if event.attributes.get("case_id") != str(case_id):
                continue
            shares += int(event.attributes.get("shares", "0"))
            if shares >= count and get_case(view, case_id).released_keys >= count:
                done.set()
                return
    except CarchainError as exc:  # the waiter times out; the log says why
        log.warning("following the releases of case %d failed: %s", case_id, exc.code)
    finally:
        events.close()


def wait_released(sw: StoryWorld, case_id: int, count: int) -> None:
    """Wait until the case has ``count`` shares released: the chain's event stream wakes
    the wait at each release block (no polling); the case's state confirms the count."""
    done = threading.Event()
    client = Client(sw.client.url)
    worker = threading.Thread(
        target=follow_releases, args=(client, case_id, count, done), daemon=True
    )
    worker.start()
    try:
        if not done.wait(RELEASE_TIMEOUT_S):
            raise NodeUnavailable("the custodian services did not release in time")
        worker.join()
    finally:
        client.close()  # ends a stream still followed (on a timeout)


def fetch_and_receipt(sw: StoryWorld, case_id: int, officer: SigningKey) -> CaseRun:
    """Fetch the case's scoped data from each OEM's gateway (checked against the anchors,
    decrypted) and post the officer's receipts."""
    served: list[Served] = []
    gateways = {
        oem: ServedGatewayClient(g.url, officer, served) for oem, g in sw.plane.gateways.items()
    }
    try:
        fetch = fetch_case_data(lambda oem: gateways[oem], sw.client, case_id, officer)
    finally:
        for gw in gateways.values():
            gw.close()
    receipts = post_receipts_at_once(sw.client, officer, compute_case_receipts(fetch))
    return CaseRun(case_id, fetch.scope, fetch, receipts, served)


def post_receipts_at_once(client: Client, officer: SigningKey, receipts: list[CaseReceipt]) -> int:
    """Post the officer's receipts as ``post_case_receipts`` does (batches receipted
    already left out), each submitted without waiting but the last, whose commit is
    awaited (the others are committed by then); check each one's committed result and
    return how many were posted."""
    bodies = drop_receipted(client, receipts)
    if not bodies:
        return 0
    account = Account(client, officer)
    pending = [str(account.send(body, "sync")["hash"]) for body in bodies[:-1]]
    account.send(bodies[-1])
    for tx_hash in pending:
        check_committed(client, tx_hash)
    return len(bodies)


def run_case(sw: StoryWorld, scope: CaseScope, officer: SigningKey, ref: str) -> CaseRun:
    """Run a case end to end up to the officer's receipts. The custodian services run
    until their shares are on chain, then stop: the story asks no more of them, and their
    polling of the node (every 50 ms each) would only slow the officer's reads."""
    case_id = open_case(sw, scope, officer, ref)
    authorize_and_approve(sw, case_id, scope)
    for member in CUSTODIANS:
        if member not in sw.runners:
            sw.start_custodian(member)
    try:
        wait_released(sw, case_id, compute_expected_shares(sw, scope))
    finally:
        sw.stop_custodians()
    return fetch_and_receipt(sw, case_id, officer)
