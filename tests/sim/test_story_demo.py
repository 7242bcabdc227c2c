"""``carchain demo`` end to end on a small fleet, checked from the chain itself once the
demo has ended: its node home is served again and read through the SDK, never from
the demo's printout. The cases' transitions and exact scopes, the shares released
only for the vehicles in scope, each evidence bundle verifying offline against the
chain's block hash, the owners' logs after the notice delay, the transparency counts,
and the picture written."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from carchain.cli.main import app
from carchain.core.case_records import Case, CaseState
from carchain.sdk import cases
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.evidence_verify import verify_evidence
from carchain.sdk.transparency import fetch_report
from carchain.sim.consortium import create_consortium
from carchain.sim.embedded import EmbeddedNode
from carchain.sim.story_consortium import AUTHORISING_COURT, POLICE
from carchain.sim.world import BATCH_WINDOW_MS, FleetParams, FleetWorld, simulate_fleet

PARAMS = FleetParams(vehicles=40, minutes=6, seed=13)


@dataclasses.dataclass
class Demo:
    """The demo's folder, its chain served again, and the world the seed makes."""

    home: Path
    client: Client
    world: FleetWorld
    output: str

    def cases(self) -> list[Case]:
        view = ChainView(self.client)
        out, case_id = [], 1
        while True:
            try:
                out.append(cases.get_case(view, case_id))
            except Exception:
                return out
            case_id += 1


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("story") / "demo"
    args = ["demo", "--vehicles", str(PARAMS.vehicles), "--minutes", str(PARAMS.minutes)]
    args += ["--report", str(home.parent / "picture")]
    result = CliRunner().invoke(app, [*args, "--seed", str(PARAMS.seed), "--home", str(home)])
    assert result.exit_code == 0, result.output
    genesis = create_consortium().genesis
    assert genesis is not None
    with EmbeddedNode(home / "node", genesis) as node, Client(node.url) as client:
        yield Demo(home, client, simulate_fleet(PARAMS), result.output)


def test_two_cases_opened_authorised_reported_closed(demo: Demo) -> None:
    found = demo.cases()
    assert len(found) == 2
    for case in found:
        assert case.state == CaseState.CLOSED
        assert case.authority == POLICE and case.court == AUTHORISING_COURT
        assert case.opened_height < case.authorized_height < case.closed_height
        assert len(case.report_hash) == 32


def test_scopes_are_the_crash_cars_then_exactly_the_witnesses(demo: Demo) -> None:
    crash, witnesses = (c.scope for c in demo.cases())
    truth = demo.world.truth
    assert crash is not None and witnesses is not None
    assert crash.vehicles == sorted(truth.vehicles)
    assert witnesses.vehicles == sorted(truth.witnesses)
    assert (crash.data_from_ms, crash.data_until_ms) == (
        witnesses.data_from_ms,
        witnesses.data_until_ms,
    )
    assert crash.data_until_ms - crash.data_from_ms <= 2 * BATCH_WINDOW_MS  # not the hour


def test_shares_released_only_in_scope(demo: Demo) -> None:
    view = ChainView(demo.client)
    for case in demo.cases():
        assert case.scope is not None
        releases = cases.get_releases(view, case.case_id)
        assert releases
        released = {item.vehicle_id for r in releases for item in r.items}
        assert released == set(case.scope.vehicles)


def test_evidence_verifies_offline_against_the_chain(demo: Demo) -> None:
    for case in demo.cases():
        bundle = demo.home / "evidence" / f"case-{case.case_id}"
        manifest = (bundle / "manifest.json").read_text()
        height = int(manifest.split('"block_height":')[1].split(",")[0].strip())
        block_hash = bytes.fromhex(str(demo.client.block(height)["hash"]))
        verified = verify_evidence(bundle, BlockTrust(block_hash, chain_id="carchain-demo"))
        assert verified.trusted_by


def test_owners_logs_show_the_case_after_the_delay(demo: Demo) -> None:
    crash, witnesses = (c.scope for c in demo.cases())
    assert crash is not None and witnesses is not None
    in_scope = {*crash.vehicles, *witnesses.vehicles}
    for vid in sorted(in_scope)[:4]:
        kinds = {e.kind for e in demo.client.access_log(vid, limit=100).events}
        assert "case_notice" in kinds
    outsider = next(c.vehicle_id for c in demo.world.cars if c.vehicle_id not in in_scope)
    kinds = {e.kind for e in demo.client.access_log(outsider, limit=100).events}
    assert not any(k.startswith("case") for k in kinds)


def test_transparency_counts_the_cases(demo: Demo) -> None:
    found = demo.cases()
    opened = fetch_report(demo.client, period=quarter(found[0].opened_ms)).counters
    assert opened["state/closed"] == len(found)
    assert opened["authority/" + POLICE] == len(found)
    assert opened["authorized_vehicles"] == sum(
        len(c.scope.vehicles) for c in found if c.scope is not None
    )


def test_picture_written(demo: Demo) -> None:
    html = (demo.home.parent / "picture" / "incident.html").read_text()
    truth = demo.world.truth
    assert all(v in html for v in truth.vehicles)
    assert all(w in html for w in truth.witnesses)
    assert "<svg" in html
    assert not any(f'{a}="http' in html or f"{a}='http" in html for a in ("src", "href"))
    png = (demo.home.parent / "picture" / "incident.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 800 and height > 400
    assert "picture:" in demo.output


def test_the_node_publishes_the_picture_for_the_explorer(demo: Demo) -> None:
    listed = httpx.get(demo.client.url + "/reports").json()["reports"]
    assert {r["name"] for r in listed} == {"incident.html", "incident.png"}
    for name in ("incident.html", "incident.png"):
        served = httpx.get(f"{demo.client.url}/reports/{name}")
        assert served.status_code == 200
        assert served.content == (demo.home.parent / "picture" / name).read_bytes()


def quarter(time_ms: int) -> str:
    """Return the quarter label (``2026Q4``) of a UTC time."""
    import datetime

    day = datetime.datetime.fromtimestamp(time_ms / 1000, tz=datetime.UTC)
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"
