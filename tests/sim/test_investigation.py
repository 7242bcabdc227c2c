"""The story's crash investigated end to end (``carchain.sim.investigation``), checked from
the chain itself: the cases' transitions and exact scopes, the witnesses (against the
simulator's ground truth), nothing released, receipted or served outside the scopes,
the evidence verifying offline, the reconstruction agreeing with the cars' EDRs; and
the rules broken on purpose while the cases are live (the pseudonym CAs' checks, the
gateway refusing a witness's data under case 1)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from carchain.core.case_records import Case, CaseState, ShareRelease
from carchain.core.escrow_releases import CaseReceiptRecord
from carchain.crypto.signing import SigningKey
from carchain.data.records import EdrEvent
from carchain.errors import (
    CarchainError,
    CaseNotAuthorized,
    InvalidBody,
    InvalidProof,
    Unauthorized,
)
from carchain.sdk import cases
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.chainview import ChainView
from carchain.sdk.evidence_verify import verify_evidence
from carchain.sim.case_steps import CaseRun
from carchain.sim.investigation import (
    CRASH_CATEGORIES,
    WITNESS_CATEGORIES,
    Investigation,
    compute_case_window,
    derive_officer_key,
    run_investigation,
)
from carchain.sim.pseudonym_resolution import PseudonymResolver, ResolutionRequest, sign_request
from carchain.sim.radio_log import compute_window
from carchain.sim.story_consortium import AUTHORISING_COURT, CUSTODIANS, POLICE
from carchain.sim.story_world import StoryWorld, run_story_world
from carchain.sim.witness_search import WitnessSearch
from carchain.sim.world import BATCH_WINDOW_MS, FleetParams, FleetWorld


@dataclass
class Outcome:
    """The investigation, the world, what the chain says and what the probes got."""

    inv: Investigation
    world: FleetWorld
    cases: list[Case]
    releases: dict[int, list[ShareRelease]]
    receipts: dict[int, list[CaseReceiptRecord]]
    probes: dict[str, CarchainError | None] = field(default_factory=dict)


def attempt(probes: dict[str, CarchainError | None], name: str, fn: Callable[[], Any]) -> None:
    """Record the typed error ``fn`` raised (``None`` if it did not raise)."""
    try:
        fn()
    except CarchainError as exc:
        probes[name] = exc
    else:
        probes[name] = None


def resolve_as(sw: StoryWorld, case_id: int, key: SigningKey, ids: list[bytes]) -> dict[bytes, str]:
    """Ask the first CA to resolve ``ids`` under ``case_id``, signed with ``key``."""
    oem = sorted(sw.world.cas)[0]
    now = int(sw.client.status()["latest_block_time_ms"])
    request = ResolutionRequest(case_id, ids, now)
    resolver = PseudonymResolver(oem, sw.world.directory, sw.client)
    return resolver.resolve(request, sign_request(request, key), now)


def probe_case1(
    sw: StoryWorld, runs: list[CaseRun], search: WitnessSearch, probes: dict[str, Any]
) -> None:
    """Before case 2: the officer may not read a witness's data under case 1; a CA refuses
    another signer, an unknown case and a malformed request."""
    officer = derive_officer_key(sw.world.params.seed)
    case1 = runs[0]
    witness = search.witnesses[0]
    oem = witness.split(":")[0]
    with CaseGatewayClient(sw.gateway_url(oem), signer=officer) as gw:
        scope = case1.scope
        attempt(probes, "witness_under_case1",
                lambda: gw.case_batches(case1.case_id, witness, scope.data_from_ms,
                                        scope.data_until_ms - 1))  # fmt: skip
    ids = search.peer_ids
    stranger = SigningKey.from_seed(b"\x07" * 32)
    attempt(probes, "ca_other_signer", lambda: resolve_as(sw, case1.case_id, stranger, ids))
    attempt(probes, "ca_unknown_case", lambda: resolve_as(sw, 999, officer, ids))
    attempt(probes, "ca_malformed", lambda: resolve_as(sw, case1.case_id, officer, ids[::-1]))
    attempt(probes, "ca_case1_ok", lambda: resolve_as(sw, case1.case_id, officer, ids))


def probe_case2(
    sw: StoryWorld, runs: list[CaseRun], search: WitnessSearch, probes: dict[str, Any]
) -> None:
    """Case 2 is authorised, but for location and motion only: no CA resolves under it."""
    officer = derive_officer_key(sw.world.params.seed)
    attempt(probes, "ca_unrelated_case",
            lambda: resolve_as(sw, runs[1].case_id, officer, search.peer_ids))  # fmt: skip


def run_and_read(params: FleetParams, root: Path, probing: bool) -> Outcome:
    """Run the story with the investigation; read the chain's records while it runs."""
    probes: dict[str, CarchainError | None] = {}

    def checkpoint(stage: str, sw: StoryWorld, runs: list[CaseRun], s: WitnessSearch) -> None:
        if probing:
            (probe_case1 if stage == "witnesses_found" else probe_case2)(sw, runs, s, probes)

    def story(sw: StoryWorld) -> Outcome:
        inv = run_investigation(sw, checkpoint)
        view = ChainView(sw.client)
        ids = [r.case_id for r in inv.cases]
        officer = derive_officer_key(sw.world.params.seed)
        if probing:
            attempt(probes, "ca_closed_case",
                    lambda: resolve_as(sw, ids[0], officer, inv.search.peer_ids))  # fmt: skip
        return Outcome(
            inv, sw.world, [cases.get_case(view, i) for i in ids],
            {i: cases.get_releases(view, i) for i in ids},
            {i: cases.get_receipts(view, i) for i in ids}, probes,
        )  # fmt: skip

    outcome, _ = run_story_world(None, params, root, story)
    return outcome


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """The investigation of a 40-car, 6-minute story (seed 13), probes included."""
    root = tmp_path_factory.mktemp("investigation")
    return run_and_read(FleetParams(vehicles=40, minutes=6, seed=13), root, probing=True)


def test_case_transitions_and_scopes_on_chain(outcome: Outcome) -> None:
    truth = outcome.world.truth
    window = compute_case_window(outcome.world.params, truth.time_ms)
    junction = compute_window(outcome.world.params.start_ms, truth.time_ms)
    assert window[0] <= junction.start_ms < junction.end_ms <= window[1]
    assert (window[0] - outcome.world.params.start_ms) % BATCH_WINDOW_MS == 0
    assert window[1] - window[0] <= 2 * BATCH_WINDOW_MS
    case1, case2 = outcome.cases
    for case in outcome.cases:
        assert case.state == CaseState.CLOSED
        assert case.authority == POLICE and case.court == AUTHORISING_COURT
        assert case.opened_height < case.authorized_height < case.closed_height
        assert case.report_hash == outcome.inv.report_hash and len(case.report_hash) == 32
        assert {v.member_id for v in case.approvals} == set(CUSTODIANS)
        assert case.scope is not None
        assert (case.scope.data_from_ms, case.scope.data_until_ms) == window
    assert case1.scope is not None and case2.scope is not None
    assert case1.scope.vehicles == sorted(truth.vehicles)
    assert case1.scope.categories == CRASH_CATEGORIES
    assert case2.scope.vehicles == sorted(truth.witnesses)
    assert case2.scope.categories == WITNESS_CATEGORIES


def test_approvals_and_receipts_of_a_case_are_sent_without_waiting(outcome: Outcome) -> None:
    """The custodians approve at once, and the officer's receipts (one per vehicle) go out
    together: each set shares blocks (one after another they would take one each)."""
    for case in outcome.cases:
        assert len(case.approvals) == len(CUSTODIANS)
        assert len({v.height for v in case.approvals}) < len(CUSTODIANS)
        heights = [r.height for r in outcome.receipts[case.case_id]]
        assert len(heights) < 3 or len(set(heights)) < len(heights)


def test_witnesses_are_the_truth(outcome: Outcome) -> None:
    assert outcome.inv.search.witnesses == sorted(outcome.world.truth.witnesses)
    assert outcome.inv.search.witnesses  # a crash in a 40-car city has witnesses


def test_witnesses_of_another_seed(tmp_path: Path) -> None:
    other = run_and_read(FleetParams(vehicles=20, minutes=5, seed=7), tmp_path, probing=False)
    assert other.inv.search.witnesses == sorted(other.world.truth.witnesses)
    assert other.inv.search.witnesses


def test_nothing_released_receipted_or_served_outside_scope(outcome: Outcome) -> None:
    scoped: set[str] = set()
    for case in outcome.cases:
        assert case.scope is not None
        scope = set(case.scope.vehicles)
        scoped |= scope
        released = {i.vehicle_id for r in outcome.releases[case.case_id] for i in r.items}
        assert released == scope
        cats = {i.category for r in outcome.releases[case.case_id] for i in r.items}
        assert cats == set(case.scope.categories)
        assert {r.vehicle_id for r in outcome.receipts[case.case_id]} == scope
        served = [s for s in outcome.inv.served if s.case_id == case.case_id]
        assert served and {s.vehicle_id for s in served} <= scope
        assert {s.category for s in served if s.category} <= set(case.scope.categories)
    truth = outcome.world.truth
    assert scoped == set(truth.vehicles) | set(truth.witnesses)
    assert set(outcome.inv.records) == scoped


def test_disclosure_stays_in_the_window(outcome: Outcome) -> None:
    inv = outcome.inv
    assert all(inv.disclosed[v] > 0 for v in inv.disclosed)
    assert set(inv.outside_window.values()) == {0}


def test_reconstruction_agrees_with_the_edrs(outcome: Outcome) -> None:
    world, inv = outcome.world, outcome.inv
    by_id = {c.vehicle_id: i for i, c in enumerate(world.cars)}
    for vid in world.truth.vehicles:
        edr = next(r for _, r in world.records[by_id[vid]] if isinstance(r, EdrEvent))
        car = inv.crash_cars[vid]
        assert car.edr is not None  # decrypted: the categories in scope, time to the second
        assert car.edr.pre_crash_speed_kmh == edr.pre_crash_speed_kmh
        assert car.edr.service_brake == edr.service_brake
        assert car.edr.delta_v_long_kmh == edr.delta_v_long_kmh
        assert car.edr.ignition_cycle_count is None  # vehicle_status: not in scope
        assert car.max_delta_v_kmh == edr.max_delta_v_long_kmh
        assert car.impact_speed_kmh == (edr.pre_crash_speed_kmh or [])[-1]
        assert car.track and all(inv.window[0] <= p[0] < inv.window[1] for p in car.track)
    assert {w.vehicle_id for w in inv.witnesses} == set(world.truth.witnesses)


def test_evidence_verifies_offline_and_tampered_copy_fails(outcome: Outcome) -> None:
    assert len(outcome.inv.evidence) == 2
    for e in outcome.inv.evidence:
        trust = BlockTrust(e.block_hash, chain_id="carchain-demo")
        assert verify_evidence(e.path, trust).trusted_by
        assert e.tampered_link
        with pytest.raises(InvalidProof):
            verify_evidence(e.path.with_name(e.path.name + "-tampered"), trust)
        wrong = BlockTrust(bytes(32), chain_id="carchain-demo")
        with pytest.raises(InvalidProof):
            verify_evidence(e.path, wrong)


def test_timeline_is_in_chain_order(outcome: Outcome) -> None:
    labels = [label for label, _, _ in outcome.inv.timeline]
    heights = [h for _, h, _ in outcome.inv.timeline]
    assert heights == sorted(heights)
    assert labels[0] == "case 1 opened by mps-traffic"
    assert labels.index("case 1 authorised by court-bj") < labels.index(
        "case 2 opened by mps-traffic"
    )
    assert labels[-1] == "case 2 closed"


def test_invalid_officer_reads_witness_under_case1(outcome: Outcome) -> None:
    assert isinstance(outcome.probes["witness_under_case1"], Unauthorized)


def test_invalid_ca_resolution(outcome: Outcome) -> None:
    p = outcome.probes
    assert isinstance(p["ca_other_signer"], Unauthorized)
    assert isinstance(p["ca_unknown_case"], CaseNotAuthorized)
    assert isinstance(p["ca_malformed"], InvalidBody)
    assert isinstance(p["ca_unrelated_case"], Unauthorized)
    assert isinstance(p["ca_closed_case"], CaseNotAuthorized)
    assert p["ca_case1_ok"] is None
