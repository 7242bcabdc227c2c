"""The whole story (``carchain demo --network``'s ``run_story``) on a fresh 4-validator
localnet: both cases closed with the report filed, each evidence bundle verified
offline against CometBFT's light-client headers (a tampered copy refused), the owners'
logs after the 15-second notice delay in real block time, every OEM's statement and
the picture written; the localnet is stopped by pid at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from carchain.sim.story import run_story
from carchain.sim.world import FleetParams
from tests.network.conftest import require_network_setup

pytestmark = pytest.mark.network
PARAMS = FleetParams(vehicles=20, minutes=5, seed=7)


def test_the_story_runs_on_a_localnet(tmp_path: Path) -> None:
    require_network_setup()
    out = run_story(None, PARAMS, tmp_path / "story", network=True, report_dir=tmp_path / "pic")
    inv, view = out.investigation, out.view
    assert len(inv.cases) == 2 and inv.search.witnesses
    steps = [label for label, _, _ in inv.timeline]
    for run in inv.cases:
        assert f"case {run.case_id} closed" in steps
        assert f"case {run.case_id} report filed" in steps
    assert len(inv.evidence) == 2
    for e in inv.evidence:
        assert e.trusted_by and e.tampered_link
    in_scope = [log for log in view.owner_logs if log.in_scope]
    assert in_scope and all(log.kinds.get("case_notice") for log in in_scope)
    assert all(not any(k.startswith("case") for k in log.kinds) for log in view.owner_logs
               if not log.in_scope)  # fmt: skip
    assert {s.oem for s in view.statements} == set(out.sim.world.cas)
    html, png = out.report
    assert html.read_text().count("<svg") >= 1 and png.read_bytes()[:4] == b"\x89PNG"
