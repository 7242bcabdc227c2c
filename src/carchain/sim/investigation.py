"""The investigation of the story's crash, on the story's chain, no step faked.

Case 1: the traffic police open a case over the two crash cars x the junction's window
(30 s before to 10 s after the crash, widened to whole batches: the cars upload every
5 minutes, and a gateway serves only batches wholly in a case's window) x the categories a
reconstruction and a witness search need; the Beijing court authorises it (30-day
notice delay); the Shanghai court, CAAM and the auditor approve (3 of 4); their
custodian services release the shares by themselves; the officer fetches the scoped
batches from each crash car's OEM gateway, checks each against its anchor, decrypts
and posts receipts. The witnesses are then found from the crash cars' decrypted V2X
logs (``witness_search``), their pseudonyms resolved by the issuing CAs under case 1.
Case 2 names exactly those witnesses x the same window x location, motion and time.
The reconstruction uses the decrypted records only (``reconstruction``). Each case's
evidence bundle is exported and verified offline (a tampered copy refused), the report
filed (its hash on chain) and both cases closed. The time line is read from the chain.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carchain.core.case_records import CaseScope, CloseCase, ReportCase
from carchain.crypto.signing import SigningKey
from carchain.data.records import Record
from carchain.errors import InvalidProof
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.case_files import write_case_data
from carchain.sdk.evidence_export import build_evidence, read_data_dir, write_evidence
from carchain.sdk.evidence_source import OfficerSource
from carchain.sdk.evidence_verify import verify_evidence
from carchain.sim.case_steps import CaseRun, Served, ServedGatewayClient, run_case
from carchain.sim.fleet import derive_key
from carchain.sim.investigation_print import print_investigation
from carchain.sim.investigation_timeline import TimelineEntry, compute_timeline
from carchain.sim.pseudonym_resolution import PseudonymResolver
from carchain.sim.radio_log import compute_window
from carchain.sim.reconstruction import (
    CrashCarReconstruction,
    WitnessPosition,
    compute_vehicle_records,
    count_outside,
    locate_witness,
    reconstruct_crash_car,
)
from carchain.sim.story_consortium import POLICE
from carchain.sim.story_world import StoryWorld
from carchain.sim.witness_search import WitnessSearch, find_witnesses
from carchain.sim.world import FleetParams

__all__ = ["Investigation", "print_investigation", "run_investigation"]

CRASH_CATEGORIES = ["crash_pulse", "location", "motion", "time", "v2x_peer", "vehicle_control"]
WITNESS_CATEGORIES = ["location", "motion", "time"]


def derive_officer_key(seed: int) -> SigningKey:
    """Return the investigating officer's key (the police register it in each case)."""
    return derive_key(seed, "officer/" + POLICE)


@dataclass(frozen=True, slots=True)
class EvidenceCheck:
    """A case's exported evidence bundle: where, files, trust, the tampered copy's link."""

    case_id: int
    path: Path
    files: int
    block_height: int
    block_hash: bytes
    trusted_by: str
    tampered_link: str


@dataclass
class Investigation:
    """What the investigation did and found (plain data; the decrypted records kept)."""

    window: tuple[int, int]
    cases: list[CaseRun]
    search: WitnessSearch
    crash_cars: dict[str, CrashCarReconstruction]
    witnesses: list[WitnessPosition]
    records: dict[str, list[Record]]  # decrypted, per vehicle (both cases)
    disclosed: dict[str, int]  # records decrypted per vehicle
    outside_window: dict[str, int]  # of them, outside the case's window
    evidence: list[EvidenceCheck] = field(default_factory=list)
    report_hash: bytes = b""
    timeline: list[TimelineEntry] = field(default_factory=list)
    witnesses_found_at: tuple[int, int] = (0, 0)  # height, time ms

    @property
    def served(self) -> list[Served]:
        """Return everything the gateways served to the officer, both cases."""
        return [s for c in self.cases for s in c.served]


def compute_junction_window(p: FleetParams, crash_ms: int) -> tuple[int, int]:
    """Return the junction's window: 30 s before to 10 s after the crash, whole radio
    slots (where the witnesses are searched for in the crash cars' V2X logs)."""
    w = compute_window(p.start_ms, crash_ms)
    return w.start_ms, w.end_ms


def compute_case_window(p: FleetParams, crash_ms: int) -> tuple[int, int]:
    """Return the cases' data window: the junction's window widened to whole batch
    windows of the drive (the gateways serve whole batches only)."""
    start, end = compute_junction_window(p, crash_ms)
    first = (start - p.start_ms) // p.batch_window_ms
    last = -(-(end - p.start_ms) // p.batch_window_ms)
    return p.start_ms + first * p.batch_window_ms, p.start_ms + last * p.batch_window_ms


def get_chain_now(sw: StoryWorld) -> tuple[int, int]:
    """Return the latest block's height and time."""
    status = sw.client.status()
    return int(status["height"]), int(status["latest_block_time_ms"])


def search_witnesses(
    sw: StoryWorld, case1: CaseRun, officer: SigningKey, window: tuple[int, int]
) -> WitnessSearch:
    """Find the witnesses from case 1's decrypted V2X logs through the CAs."""
    records = compute_vehicle_records(case1.fetch.segments)
    crash = {v: records.get(v, []) for v in case1.scope.vehicles}
    resolvers = {
        oem: PseudonymResolver(oem, sw.world.directory, sw.client) for oem in sorted(sw.world.cas)
    }
    now_ms = get_chain_now(sw)[1]
    return find_witnesses(resolvers, case1.case_id, officer, crash, window, now_ms)


def tamper_and_verify(bundle: Path, trust: BlockTrust) -> str:
    """Return the link a copy of ``bundle`` with one digit of a record file changed fails at."""
    copy = bundle.with_name(bundle.name + "-tampered")
    shutil.copytree(bundle, copy)
    record = next(p for p in sorted(copy.rglob("*.json")) if "records" in p.parts)
    raw = bytearray(record.read_bytes())
    at = next(i for i, b in enumerate(raw) if chr(b).isdigit())
    raw[at] = ord("8") if raw[at] == ord("9") else raw[at] + 1
    record.write_bytes(bytes(raw))
    try:
        verify_evidence(copy, trust)
    except InvalidProof as exc:
        return str(exc.fields.get("link") or exc.code)
    raise InvalidProof("a tampered evidence bundle verified")


def export_evidence(sw: StoryWorld, run: CaseRun, officer: SigningKey) -> EvidenceCheck:
    """Write the officer's data directory, export the case's evidence bundle, verify it
    offline against the node's block hash, and check a tampered copy is refused."""
    data = sw.root / "case-data" / f"case-{run.case_id}"
    bundle = sw.root / "evidence" / f"case-{run.case_id}"
    write_case_data(data, run.fetch)
    _, segments = read_data_dir(data)
    served: list[Served] = []
    gws = {o: ServedGatewayClient(g.url, officer, served) for o, g in sw.plane.gateways.items()}
    try:
        source = OfficerSource(sw.client, dict(gws), run.case_id, officer)
        files = build_evidence(sw.client, run.case_id, segments, source, sw.rpc_url)
    finally:
        for gw in gws.values():
            gw.close()
    write_evidence(bundle, files)
    height = int(json.loads((bundle / "manifest.json").read_text())["block_height"])
    block_hash = bytes.fromhex(str(sw.client.header(height)["hash"]))
    trust = BlockTrust(block_hash, chain_id=sw.chain_id)
    verified = verify_evidence(bundle, trust)
    tampered = tamper_and_verify(bundle, trust)
    trusted = "; ".join(verified.trusted_by)
    return EvidenceCheck(run.case_id, bundle, len(files), height, block_hash, trusted, tampered)


def compute_report(inv: Investigation) -> bytes:
    """Return the final report's canonical bytes: findings, witnesses, evidence manifests."""
    doc: dict[str, Any] = {
        "cases": [c.case_id for c in inv.cases],
        "window": list(inv.window),
        "witnesses": inv.search.witnesses,
        "crash_cars": {
            v: {
                "impact_kmh": r.impact_speed_kmh,
                "max_delta_v_kmh": r.max_delta_v_kmh,
                "brake_onset_ms": r.brake_onset_ms,
            }
            for v, r in sorted(inv.crash_cars.items())
        },
        "evidence": {
            str(e.case_id): hashlib.sha256((e.path / "manifest.json").read_bytes()).hexdigest()
            for e in inv.evidence
        },
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def file_report_and_close(sw: StoryWorld, inv: Investigation) -> list[TimelineEntry]:
    """File the report's hash in each case and close both (the police); return the
    report transactions' blocks."""
    report = compute_report(inv)
    inv.report_hash = hashlib.sha256(report).digest()
    (sw.root / "evidence" / "report.json").write_bytes(report)
    filed: list[TimelineEntry] = []
    for run in inv.cases:
        height = int(sw.send(POLICE, ReportCase(run.case_id, inv.report_hash))["height"])
        filed.append((f"case {run.case_id} report filed", height, get_block_ms(sw, height)))
        sw.send(POLICE, CloseCase(run.case_id))
    return filed


def get_block_ms(sw: StoryWorld, height: int) -> int:
    """Return the time of block ``height``."""
    return int(sw.client.header(height)["time_ms"])


def reconstruct(inv: Investigation, crash: list[str], crash_ms: int) -> None:
    """Fill the reconstruction from the decrypted records."""
    for vid in crash:
        inv.crash_cars[vid] = reconstruct_crash_car(vid, inv.records.get(vid, []))
    inv.witnesses = [
        locate_witness(v, inv.records[v], crash_ms)
        for v in inv.search.witnesses
        if inv.records.get(v)
    ]


Checkpoint = Callable[[str, StoryWorld, list[CaseRun], WitnessSearch], None]
"""Called at ``"witnesses_found"`` (case 1 fetched, witnesses resolved, before case 2)
and ``"fetched"`` (every case fetched, before evidence and closing): what tests use to
try breaking the rules while the cases are in those states."""


def run_investigation(sw: StoryWorld, checkpoint: Checkpoint | None = None) -> Investigation:
    """Run the investigation of the story's crash end to end; return what it did."""
    officer = derive_officer_key(sw.world.params.seed)
    params, crash_ms = sw.world.params, sw.world.truth.time_ms
    window = compute_case_window(params, crash_ms)
    crash = sorted(sw.world.truth.vehicles)
    case1 = run_case(sw, CaseScope(crash, CRASH_CATEGORIES, *window), officer, "crash/scene")
    junction = compute_junction_window(params, crash_ms)
    search = search_witnesses(sw, case1, officer, junction)
    found_at = get_chain_now(sw)
    runs = [case1]
    if checkpoint is not None:
        checkpoint("witnesses_found", sw, runs, search)
    if search.witnesses:
        scope2 = CaseScope(search.witnesses, WITNESS_CATEGORIES, *window)
        runs.append(run_case(sw, scope2, officer, "crash/witnesses"))
    if checkpoint is not None:
        checkpoint("fetched", sw, runs, search)
    records: dict[str, list[Record]] = {}
    for run in runs:
        records |= compute_vehicle_records(run.fetch.segments)
    inv = Investigation(
        window, runs, search, {}, [], records, {v: len(r) for v, r in records.items()},
        {v: count_outside(r, *window) for v, r in records.items()}, witnesses_found_at=found_at,
    )  # fmt: skip
    reconstruct(inv, crash, sw.world.truth.time_ms)
    inv.evidence = [export_evidence(sw, run, officer) for run in runs]
    off_chain: list[TimelineEntry] = [(f"{len(search.witnesses)} witnesses found", *found_at)]
    off_chain += [
        (f"case {e.case_id} evidence verified offline", e.block_height,
         get_block_ms(sw, e.block_height))
        for e in inv.evidence
    ]  # fmt: skip
    off_chain += file_report_and_close(sw, inv)
    inv.timeline = compute_timeline(sw.client, [r.case_id for r in runs], off_chain)
    return inv
