"""Everyone's view after a lawful-access case, checked against the chain itself.

One story world (a small fleet) runs, as its story, a minimal case over one crash car
(police open, court-bj authorises with a notice delay, the three custodians approve
and their services release, the officer fetches and posts receipts), reads the
scoped car's log BEFORE the delay, then computes everyone's view; the test also
counts, independently and while the world still runs, what the chain holds.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from carchain.core.access import RefusalReason
from carchain.core.access_log import MAX_PAGE, AccessEvent
from carchain.core.case_records import ApproveCase, AuthorizeCase, CaseScope, OpenCase
from carchain.core.cases import get_case
from carchain.core.escrow_committee import get_escrow_key_optional
from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError, NodeUnavailable
from carchain.sdk.access_log_export import build_access_log_export
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.chainview import ChainView
from carchain.sdk.officer import (
    CaseFetch,
    compute_case_receipts,
    fetch_case_data,
    post_case_receipts,
)
from carchain.sim.case_world import get_event_attr
from carchain.sim.fleet_consents import compute_recipient
from carchain.sim.oem_statements import DISCLOSURE_KINDS, build_vehicle_statement
from carchain.sim.owner_logs import CASE_KINDS, fetch_owner_log
from carchain.sim.story_consortium import AUDITOR, AUTHORISING_COURT, CUSTODIANS, POLICE
from carchain.sim.story_world import StoryWorld, run_story_world
from carchain.sim.views import EveryonesView, compute_everyones_view, print_everyones_view
from carchain.sim.world import FleetParams

NOTICE_DELAY_MS = 2 * 3_600_000
CATEGORIES = ["motion"]
OFFICER = SigningKey.from_seed(hashlib.sha256(b"test-views/officer").digest())
FETCH_WAIT_S = 60.0


@dataclass
class StoryRun:
    """What the story did and what the test counted from the chain meanwhile."""

    case_id: int
    scoped: str
    before_case_entries: int
    fetch_segments: int
    receipts: int
    view: EveryonesView
    logs: dict[str, list[AccessEvent]]  # every car's whole log, after the view
    released_keys: int
    blocks: int
    txs_by_type: Counter[str]
    tx_bytes: int
    anchors: Counter[str]
    oem_of: dict[str, str]
    crash_cars: tuple[str, str]
    consenting: dict[str, bool]  # has the owner granted ping-an anything
    sealed_statement: str  # the error code of a statement asked for before the notice
    unknown_case: str  # the error code of a view over a case that does not exist
    foreign_statement: str  # the error code of an OEM's statement for another's car
    stranger_export: str  # the error code of a log export signed by another than the owner
    escrow_key_kept: bool  # the block tick left the auditor's escrow key as it was


def open_case(sw: StoryWorld, vehicle_id: str) -> int:
    """Open, authorise (with the notice delay) and approve a case over ``vehicle_id``."""
    w = sw.world.truth.window
    scope = CaseScope([vehicle_id], CATEGORIES, w.start_ms, w.end_ms)
    body = OpenCase(hashlib.sha256(b"ref").digest(), "rtsl_accident", scope,
                    hashlib.sha256(b"why").digest(), OFFICER.public_key)  # fmt: skip
    case_id = int(get_event_attr(sw.send(POLICE, body), "case_opened", "case_id"))
    expires = int(sw.clock.time() * 1000) + 30 * 86_400_000
    sw.send(AUTHORISING_COURT, AuthorizeCase(case_id, scope, expires, NOTICE_DELAY_MS))
    for member in CUSTODIANS:
        sw.send(member, ApproveCase(case_id))
        sw.start_custodian(member)
    return case_id


def fetch_released(sw: StoryWorld, case_id: int) -> CaseFetch:
    """Poll the officer's fetch until every scoped key has its k shares."""
    deadline = time.monotonic() + FETCH_WAIT_S
    while True:
        fetch = fetch_case_data(
            lambda oem: CaseGatewayClient(sw.gateway_url(oem), signer=OFFICER),
            sw.client, case_id, OFFICER,
        )  # fmt: skip
        if fetch.segments and not fetch.missing_keys:
            return fetch
        if time.monotonic() > deadline:
            raise NodeUnavailable("the custodians did not release in time")
        time.sleep(0.1)


def read_all_logs(sw: StoryWorld) -> dict[str, list[AccessEvent]]:
    """Return every car's whole access log (proven pages), oldest first."""
    out = {}
    for car in sw.world.cars:
        page = sw.client.access_log(car.vehicle_id, None, MAX_PAGE)
        events = list(page.events)
        while page.next_before is not None:
            page = sw.client.access_log(car.vehicle_id, page.next_before, MAX_PAGE, page.height)
            events += page.events
        out[car.vehicle_id] = list(reversed(events))
    return out


def count_blocks(sw: StoryWorld) -> tuple[int, Counter[str], int, Counter[str]]:
    """Count blocks, txs by type, tx bytes and anchors per OEM from the node's own
    decoding of each block (the explorer's ``decoded_txs``), not the view's."""
    height = int(sw.client.status()["height"])
    types: Counter[str] = Counter()
    anchors: Counter[str] = Counter()
    size = 0
    for h in range(1, height + 1):
        block = sw.client.block(h)
        size += sum(len(base64.b64decode(tx)) for tx in block["txs"])
        for decoded in block["decoded_txs"]:
            types[decoded["type"]] += 1
            if decoded["type"] == "anchor.submit":
                anchors[decoded["signer_member"]] += 1
    return height, types, size, anchors


def story(sw: StoryWorld) -> StoryRun:
    scoped = sw.world.truth.vehicles[0]
    case_id = open_case(sw, scoped)
    fetch = fetch_released(sw, case_id)
    receipts = post_case_receipts(sw.client, OFFICER, compute_case_receipts(fetch))
    before = fetch_owner_log(sw, scoped, True).case_entries
    sealed = get_error_code(
        lambda: build_vehicle_statement(sw, oem_of(sw, scoped), scoped, 0, 2**62)
    )
    unknown = get_error_code(lambda: compute_everyones_view(sw, [case_id + 99], NOTICE_DELAY_MS))
    other = next(c.oem for c in sw.world.cars if c.oem != oem_of(sw, scoped))
    foreign = get_error_code(lambda: build_vehicle_statement(sw, other, scoped, 0, 2**62))
    stranger = get_error_code(
        lambda: build_access_log_export(sw.client, OFFICER, scoped, None, MAX_PAGE, True)
    )
    view = compute_everyones_view(sw, [case_id], NOTICE_DELAY_MS)
    logs = read_all_logs(sw)
    released = get_case(ChainView(sw.client), case_id).released_keys
    blocks, types, size, anchors = count_blocks(sw)
    consenting = {
        c.vehicle_id: any(compute_recipient(c, ch.purpose)[0] == "ping-an" for ch in c.consents)
        for c in sw.world.cars
    }
    return StoryRun(
        case_id, scoped, before, len(fetch.segments), len(receipts), view, logs, released,
        blocks, types, size, anchors, {c.vehicle_id: c.oem for c in sw.world.cars},
        sw.world.truth.vehicles, consenting, sealed, unknown, foreign, stranger,
        get_escrow_key(sw, AUDITOR) == sw.consortium.escrow_keys[AUDITOR].public_key,
    )  # fmt: skip


def get_escrow_key(sw: StoryWorld, member_id: str) -> bytes:
    """Return the member's escrow key as the chain holds it."""
    return get_escrow_key_optional(ChainView(sw.client), member_id) or b""


def oem_of(sw: StoryWorld, vehicle_id: str) -> str:
    return next(c.oem for c in sw.world.cars if c.vehicle_id == vehicle_id)


def get_error_code(call: Callable[[], object]) -> str:
    """Return the typed error code ``call`` raises ("" if it returns)."""
    try:
        call()
    except CarchainError as exc:
        return exc.code
    return ""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoryRun]:
    root: Path = tmp_path_factory.mktemp("views")
    out, _ = run_story_world(None, FleetParams(vehicles=40, minutes=10), root, story)
    yield out


def test_case_released_and_receipted(run: StoryRun) -> None:
    assert run.fetch_segments > 0 and run.receipts > 0
    assert run.released_keys > 0


def test_no_case_entry_before_the_delay(run: StoryRun) -> None:
    assert run.before_case_entries == 0


def test_owner_logs_after_the_delay(run: StoryRun) -> None:
    logs = {log.vehicle_id: log for log in run.view.owner_logs}
    assert run.view.clock_shift_ms >= NOTICE_DELAY_MS
    scoped = logs[run.scoped]
    assert scoped.in_scope and scoped.complete
    assert scoped.kinds.get("case_notice") == 1
    chain = Counter(e.kind for e in run.logs[run.scoped])
    assert chain["case_notice"] == 1
    outside = [log for log in run.view.owner_logs if not log.in_scope]
    assert len(outside) == 1 and outside[0].case_entries == 0
    assert not any(e.kind in CASE_KINDS for e in run.logs[outside[0].vehicle_id])
    assert set(logs) - {outside[0].vehicle_id} == {run.scoped}


def test_oem_statements_list_exactly_the_disclosures(run: StoryRun) -> None:
    oems = {s.oem for s in run.view.statements}
    assert oems == set(run.oem_of.values())
    assert any(s.foreign for s in run.view.statements)
    for s in run.view.statements:
        expected = {
            (vid, e.seq, e.kind)
            for vid, events in run.logs.items()
            if run.oem_of[vid] == s.oem
            for e in events
            if e.kind in DISCLOSURE_KINDS
        }
        stated = {(v.vehicle_id, q, k) for v in s.statements for q, k, _ in v.disclosures}
        assert stated == expected
        assert all(v.trusted_by for v in s.statements)
    scoped = next(
        v for s in run.view.statements for v in s.statements if v.vehicle_id == run.scoped
    )
    assert scoped.cases == [run.case_id]


def test_insurer_granted_with_consent(run: StoryRun) -> None:
    a = run.view.insurer
    assert a.vehicle_id in run.crash_cars
    assert a.decision == "approved"
    assert set(a.released) <= {"crash_pulse", "motion", "time"} and a.released
    assert "edr" in a.decrypted_kinds and a.edr_fields > 0
    insurer_kinds = Counter(e.kind for e in run.logs[a.vehicle_id] if e.actor_member == "ping-an")
    assert insurer_kinds["request"] >= 1 and insurer_kinds["receipt"] >= 1
    assert a.owner_log.actors.get("ping-an", 0) >= 2


def test_insurer_refused_without_consent(run: StoryRun) -> None:
    a = run.view.insurer
    assert not run.consenting[a.refused_vehicle]
    assert a.refused_decision == "refused"
    assert a.refused_code == RefusalReason.NO_GRANT
    refused = [e for e in run.logs[a.refused_vehicle] if e.kind == "refused"]
    assert [e.detail for e in refused] == [a.refused_code]


def test_transparency_counts_the_case(run: StoryRun) -> None:
    total: Counter[str] = Counter()
    for report in run.view.transparency:
        total.update(report.counters)
    assert total["state/open"] == 1
    assert total["state/authorized"] == 1
    assert total["approvals"] == len(CUSTODIANS)
    assert total["notices"] == 1
    assert total["shares_released"] == run.released_keys
    assert total["authority/" + POLICE] == 1


def test_chain_figures_match_the_blocks(run: StoryRun) -> None:
    f = run.view.figures
    # The view was counted before the test's own count; nothing is sent in between.
    assert f.height == run.blocks
    assert f.txs_by_type == dict(run.txs_by_type)
    assert f.txs == sum(run.txs_by_type.values())
    assert f.anchors_per_oem == dict(run.anchors)
    assert f.max_anchors_per_gateway_block == 1
    assert f.tx_bytes == run.tx_bytes
    assert f.upload_bytes > f.tx_bytes // 100 and f.node_db_bytes > 0
    assert f.gateway_store_bytes > 0


def test_print(run: StoryRun) -> None:
    console = Console(file=io.StringIO(), width=200)
    print_everyones_view(console, run.view)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "and no others" in text and "Transparency report" in text


def test_invalid_statement_before_the_notice(run: StoryRun) -> None:
    """A sealed case can be neither listed nor left out: no statement until its notice."""
    assert run.sealed_statement == "sealed_case_pending"


def test_invalid_statement_by_another_oem(run: StoryRun) -> None:
    assert run.foreign_statement == "unauthorized"


def test_invalid_unknown_case(run: StoryRun) -> None:
    assert run.unknown_case == "not_found"


def test_invalid_log_export_by_a_stranger(run: StoryRun) -> None:
    """Only the vehicle's owner signs its log's export (the officer cannot)."""
    assert run.stranger_export == "unauthorized"


def test_block_tick_keeps_state(run: StoryRun) -> None:
    assert run.escrow_key_kept
