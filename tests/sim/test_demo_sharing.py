"""The demo's sharing stage: what the insurer got, what the chain refused, withdrawal,
erasure and the owner's access log, from the returned summary and from the chain itself."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from carchain.core import access, access_releases
from carchain.core.access_log import EventKind
from carchain.errors import InvalidProof
from carchain.node.home import NodeHome
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sim.embedded import EmbeddedNode
from carchain.sim.sharing import SharingSummary
from tests.sim.conftest import DemoRun

EDR_ONLY = ["crash_pulse", "motion", "occupant", "time", "vehicle_control", "vehicle_status"]


@pytest.fixture(scope="module")
def sharing(demo_run: DemoRun) -> SharingSummary:
    assert demo_run.summary.sharing is not None
    return demo_run.summary.sharing


@pytest.fixture(scope="module")
def chain(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """The demo's chain, reopened from a copy of its node home after the demo ended."""
    home = tmp_path_factory.mktemp("reopened") / "node"
    shutil.copytree(demo_run.node_home, home)
    genesis = NodeHome(home).load_genesis()
    with EmbeddedNode(home, genesis) as node, Client(node.url) as client:
        yield client


def test_insurer_gets_only_the_edr_record(sharing: SharingSummary) -> None:
    assert sharing.insurer_decision == "approved"
    assert sharing.insurer_released == EDR_ONLY
    assert sharing.insurer_categories == EDR_ONLY  # no location, no diagnostics, no V2X
    assert sharing.insurer_kinds == ["edr"]  # no telemetry record came with it
    assert sharing.edr_fields == 11  # every field of the EDR record
    assert sharing.insurer_verified == 1 and sharing.insurer_receipt


def test_release_on_chain_is_the_crash_batch_alone(
    sharing: SharingSummary, demo_run: DemoRun, chain: Client
) -> None:
    view = ChainView(chain)
    vid = sharing.vehicle_id
    request = access.get_request(view, vid, 0)
    assert request.requester_member == "ping-an" and request.purpose == "insurance"
    release = access_releases.get_release(view, vid, 0)
    assert release.releaser_member == vid.split(":")[0]  # the OEM's custody service
    assert release.categories == EDR_ONLY and len(release.batches) == 1
    data = demo_run.summary.data
    assert data is not None
    (batch,) = release.batches
    assert batch.start_ms == batch.end_ms == data.crash_ms // 1000 * 1000
    (receipt,) = access_releases.get_receipts(view, vid, 0)
    assert [i.header_hash for i in receipt.items] == [batch.header_hash]
    assert receipt.items[0].record_count == 1


def test_location_is_refused_role_wide(sharing: SharingSummary, demo_run: DemoRun) -> None:
    assert sharing.role_wide_location == "sensitive_consent_not_separate"
    assert sharing.map_location == "sensitive_needs_named_grant"
    assert "refused (sensitive_consent_not_separate)" in demo_run.console


def test_withdrawn_grant_refuses_the_next_request(sharing: SharingSummary, chain: Client) -> None:
    assert (sharing.map_motion_before, sharing.map_motion_after) == ("approved", "no_grant")
    view = ChainView(chain)
    before = access.get_request(view, sharing.vehicle_id, 2)
    after = access.get_request(view, sharing.vehicle_id, 3)
    assert before.categories == after.categories == ["motion"]
    assert before.requester_member == after.requester_member == "amap"
    assert (before.decision, after.decision, after.reason) == ("approved", "refused", "no_grant")


def test_erasure_completes_and_the_owner_cannot_open_the_keys(sharing: SharingSummary) -> None:
    assert sharing.owner_before_erasure == len(EDR_ONLY)  # the owner opened them before
    assert sharing.erasure_status == "complete"
    assert sharing.erasure_destroyed >= len(EDR_ONLY)
    assert sharing.owner_after_erasure == "cannot open the crash's 6 category keys (not_found)"


def test_access_log_lists_every_step_newest_first(
    sharing: SharingSummary, demo_run: DemoRun, chain: Client
) -> None:
    log = sharing.access_log
    assert [e.seq for e in log] == list(range(len(log) - 1, -1, -1))  # newest first, no gap
    kinds = [e.kind for e in reversed(log)]
    assert kinds == [
        EventKind.GRANT, EventKind.REQUEST, EventKind.APPROVED, EventKind.RELEASE,
        EventKind.RECEIPT, EventKind.GRANT, EventKind.REQUEST, EventKind.REFUSED,
        EventKind.REQUEST, EventKind.APPROVED, EventKind.RELEASE, EventKind.WITHDRAW,
        EventKind.REQUEST, EventKind.REFUSED, EventKind.ERASURE_REQUEST,
        EventKind.ERASURE_COMPLETE,
    ]  # fmt: skip
    receipt = next(e for e in log if e.kind == EventKind.RECEIPT)
    assert receipt.who == "ping-an"
    # Who received keys before the erasure stays visible after it.
    erased = next(e for e in log if e.kind == EventKind.ERASURE_COMPLETE)
    assert erased.seq > receipt.seq
    # The same log, read and proven again against the reopened chain.
    events = chain.access_log(sharing.vehicle_id, None, 100).events
    assert [(e.seq, e.kind) for e in events] == [(e.seq, e.kind) for e in log]
    assert "access log of " + sharing.vehicle_id in demo_run.console


def test_access_log_entry_that_was_tampered_with_is_refused(
    sharing: SharingSummary, chain: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = chain.access_log_doc

    def forged(
        vehicle_id: str, before: int | None = None, limit: int = 20, height: int = 0
    ) -> dict[str, Any]:
        doc = real(vehicle_id, before, limit, height)
        record = doc["events"][0]["record"]
        value = bytearray.fromhex(record["value"])
        value[-1] ^= 1
        record["value"] = value.hex()
        return doc

    monkeypatch.setattr(chain, "access_log_doc", forged)
    with pytest.raises(InvalidProof):
        chain.access_log(sharing.vehicle_id, None, 100)
