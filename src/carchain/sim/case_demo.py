"""The lawful-access part of the demo: a short case end to end on its own embedded world.

Three SAIC cars upload telemetry for yesterday and today (their location and motion
keys escrowed 3 of 4 to the court, CAAM, the auditor and SAIC). The traffic police
open a case over two of them (location and motion, both days); a court of another
organisation authorises it narrowed to location; three of the four custodians
approve (SAIC does not); their custodian services release their shares by
themselves, each checked against the chain; the officer combines three shares per
key, fetches the scoped batches through the gateway, checks each against its
anchor on chain, decrypts exactly the location segments of the two cars and signs
the receipts. It writes its data directory, exports the evidence bundle and verifies
it offline against the block hash read from the node (and shows a tampered copy
refused at its broken link), then prints the public transparency report of the
quarter, every number proven. Nothing decrypted is printed: counts only.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from carchain.core.case_records import DAY_MS, CaseScope
from carchain.core.cases import get_case
from carchain.errors import InvalidProof, NodeUnavailable
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.case_files import write_case_data
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.chainview import ChainView
from carchain.sdk.evidence_export import build_evidence, read_data_dir, write_evidence
from carchain.sdk.evidence_source import OfficerSource
from carchain.sdk.evidence_verify import verify_evidence
from carchain.sdk.officer import (
    CaseFetch,
    compute_case_receipts,
    fetch_case_data,
    post_case_receipts,
)
from carchain.sdk.transparency import fetch_report
from carchain.sim.case_world import CHAIN_ID, CaseWorld, make_key, open_case_world

CARS = 3
IN_SCOPE = ["saic:1", "saic:2"]
APPROVERS = ("court", "caam", "audit")


@dataclass(frozen=True, slots=True)
class CaseDemoSummary:
    """What the case demo did, for the printed table and for tests."""

    case_id: int
    shares_released: int
    segments: int
    categories: list[str]
    vehicles: list[str]
    receipts: int
    missing_keys: int
    seconds: float
    evidence_files: int = 0
    evidence_trust: str = ""
    tampered_link: str = ""
    transparency: dict[str, int] = field(default_factory=dict)


def upload_two_days(world: CaseWorld) -> tuple[int, int]:
    """Upload yesterday's and today's telemetry of every car; return the two-day window."""
    now = int(time.time() * 1000)
    today = now // DAY_MS * DAY_MS
    for vid in world.cars:
        world.upload_at(vid, today - DAY_MS // 2)
        world.upload_at(vid, max(today, now - 600_000))
    world.wait_anchored()
    return today - DAY_MS, today + DAY_MS


def wait_shares(world: CaseWorld, case_id: int, count: int, timeout_s: float = 120) -> int:
    """Wait until the case has ``count`` shares released; return how many it has."""
    view = ChainView(world.client)
    deadline = time.monotonic() + timeout_s
    while (released := get_case(view, case_id).released_keys) < count:
        if time.monotonic() > deadline:
            raise NodeUnavailable("the custodian services did not release in time")
        time.sleep(0.05)
    return released


def run_case(world: CaseWorld) -> tuple[int, int, CaseFetch, int]:
    """Open, authorise (narrowed), approve 3 of 4, release, fetch and receipt a case."""
    start, end = upload_two_days(world)
    case_id = world.open_case(CaseScope(IN_SCOPE, ["location", "motion"], start, end))
    world.authorize(case_id, CaseScope(IN_SCOPE, ["location"], start, end))
    world.approve(case_id, *APPROVERS)
    for member in APPROVERS:
        world.start_custodian(member)
    released = wait_shares(world, case_id, len(IN_SCOPE) * 2 * len(APPROVERS))
    officer = make_key("officer")
    with CaseGatewayClient(world.gateway_url, signer=officer) as gw:
        fetch = fetch_case_data(lambda oem: gw, world.client, case_id, officer)
    receipts = post_case_receipts(world.client, officer, compute_case_receipts(fetch))
    return case_id, released, fetch, len(receipts)


@dataclass(frozen=True, slots=True)
class EvidenceRun:
    """What the evidence step did."""

    files: int
    trusted_by: str
    tampered_link: str


def export_and_verify(world: CaseWorld, case_id: int, fetch: CaseFetch, tmp: Path) -> EvidenceRun:
    """Write the officer's data directory, export the evidence bundle, verify it offline
    against the node's block hash, and check a tampered copy is refused at its link."""
    data, bundle = tmp / "case-data", tmp / "evidence"
    write_case_data(data, fetch)
    _, segments = read_data_dir(data)
    officer = make_key("officer")
    with CaseGatewayClient(world.gateway_url, signer=officer) as gw:
        source = OfficerSource(world.client, {"saic": gw}, case_id, officer)
        files = build_evidence(world.client, case_id, segments, source)
    write_evidence(bundle, files)
    height = int(json.loads((bundle / "manifest.json").read_text())["block_height"])
    trust = BlockTrust(bytes.fromhex(str(world.client.header(height)["hash"])), chain_id=CHAIN_ID)
    verified = verify_evidence(bundle, trust)
    return EvidenceRun(len(files), "; ".join(verified.trusted_by), tamper_and_verify(bundle, trust))


def tamper_and_verify(bundle: Path, trust: BlockTrust) -> str:
    """Return the link a copy of the bundle with one record file changed fails at."""
    copy = bundle.with_name("evidence-tampered")
    shutil.copytree(bundle, copy)
    record = next(p for p in sorted(copy.rglob("*.json")) if "records" in p.parts)
    record.write_bytes(record.read_bytes().replace(b"121.4", b"121.5"))
    try:
        verify_evidence(copy, trust)
    except InvalidProof as exc:
        return str(exc.fields.get("link") or exc.code)
    raise InvalidProof("a tampered evidence bundle verified")


def print_case_summary(console: Console, s: CaseDemoSummary) -> None:
    """Print the case demo's table (counts, ids and codes only)."""
    table = Table("lawful access", "result", title="A case end to end")
    rows = [
        ("case", f"{s.case_id}: opened by police, authorised by court2 (narrowed to location)"),
        ("approvals", "court, caam, audit: 3 of 4 (saic did not approve)"),
        ("shares released by the custodian services", str(s.shares_released)),
        ("officer decrypted", f"{s.segments} segments: {', '.join(s.categories)} of "
                              f"{', '.join(s.vehicles)} (saic:3 and motion: nothing)"),
        ("keys with fewer than k shares", str(s.missing_keys)),
        ("receipts signed by the officer", str(s.receipts)),
        ("evidence bundle", f"{s.evidence_files} files, verified offline ({s.evidence_trust})"),
        ("tampered bundle", f"refused at link: {s.tampered_link}"),
        ("seconds", f"{s.seconds:.1f}"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    report = Table("transparency counter (this quarter, proven)", "count")
    for counter, count in sorted(s.transparency.items()):
        report.add_row(counter, str(count))
    console.print(report)


def run_case_demo(console: Console, tmp: Path) -> CaseDemoSummary:
    """Run the case demo in ``tmp``; print and return its summary."""
    t0 = time.monotonic()
    world = open_case_world(tmp, cars=CARS, past_days=2)
    try:
        case_id, released, fetch, receipts = run_case(world)
        evidence = export_and_verify(world, case_id, fetch, tmp)
        counters = fetch_report(world.client).counters
    finally:
        world.close()
    summary = CaseDemoSummary(
        case_id, released, len(fetch.segments),
        sorted({s.segment.category for s in fetch.segments}),
        sorted({s.vehicle_id for s in fetch.segments}), receipts, len(fetch.missing_keys),
        time.monotonic() - t0, evidence.files, evidence.trusted_by, evidence.tampered_link,
        counters,
    )  # fmt: skip
    print_case_summary(console, summary)
    return summary
