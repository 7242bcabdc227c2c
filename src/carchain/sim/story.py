"""The demo's story on one chain: a city's fleet drives an hour, two cars of different
brands crash, the police investigate under a court's authorisation and the
custodians' release, and at the end everyone sees what happened to their data.

``run_story`` builds the story's world (``story_world``), runs the investigation
(``investigation``), then everyone's view after the notification delay (``views``),
and writes the picture (``incident_report``): every step through the real chain,
gateways and custodian services, each a phase with its progress bar.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from carchain.api.routes.reports import REPORTS_FOLDER
from carchain.sim.fleet_run import SimResult
from carchain.sim.incident_report import write_incident_report
from carchain.sim.investigation import Investigation, run_investigation
from carchain.sim.investigation_print import print_investigation
from carchain.sim.story_world import StoryWorld, run_story_world
from carchain.sim.views import EveryonesView, compute_everyones_view, print_everyones_view
from carchain.sim.world import FleetParams


@dataclass(frozen=True, slots=True)
class StoryOutcome:
    """What the story did: the investigation, everyone's view, the picture's files."""

    investigation: Investigation
    view: EveryonesView
    report: tuple[Path, Path]
    sim: SimResult
    seconds: float
    timings: dict[str, float]  # wall seconds per phase: the world's, then the story's


def compute_facts(sw: StoryWorld, inv: Investigation) -> list[tuple[str, str]]:
    """Return the report's summary rows (ids and counts only)."""
    truth = sw.world.truth
    return [
        ("fleet", f"{len(sw.world.cars)} cars, {sw.world.params.minutes} simulated minutes"),
        (
            "crash cars",
            ", ".join(f"{v} ({o})" for v, o in zip(truth.vehicles, truth.oems, strict=True)),
        ),
        ("witnesses found", ", ".join(inv.search.witnesses) or "none"),
        ("cases", ", ".join(str(r.case_id) for r in inv.cases)),
        ("records decrypted", f"{sum(inv.disclosed.values())} of {len(inv.disclosed)} vehicles"),
    ]


def publish_report(sw: StoryWorld, files: tuple[Path, Path]) -> None:
    """Put the picture in the embedded node's ``reports/`` folder: the node serves it
    at ``/reports/…`` and the explorer's overview links to it."""
    embedded = sw.chain.embedded
    if embedded is None:
        return
    folder = embedded.home.path / REPORTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copyfile(path, folder / path.name)


def run_story(
    console: Console | None,
    params: FleetParams,
    root: Path,
    network: bool = False,
    report_dir: Path | None = None,
) -> StoryOutcome:
    """Run the whole story in ``root``; the picture goes to ``report_dir`` (default
    ``root/report``) and, on the embedded node, to the node's published reports."""
    started = time.monotonic()
    out_dir = report_dir or root / "report"
    story_timings: dict[str, float] = {}

    def story(sw: StoryWorld) -> tuple[Investigation, EveryonesView, tuple[Path, Path]]:
        with sw.phases.phase("investigation", 1) as advance:
            inv = run_investigation(sw)
            advance(1)
        view = compute_everyones_view(sw, [r.case_id for r in inv.cases], sw.notice_delay_ms)
        with sw.phases.phase("picture", 1) as advance:
            report = write_incident_report(inv, out_dir, compute_facts(sw, inv))
            publish_report(sw, report)
            advance(1)
        story_timings.update(sw.phases.timings)
        if console is not None:
            print_investigation(console, inv)
            print_everyones_view(console, view)
        return inv, view, report

    (inv, view, report), sim = run_story_world(console, params, root, story, network=network)
    timings = sim.timings | story_timings
    outcome = StoryOutcome(inv, view, report, sim, time.monotonic() - started, timings)
    if console is not None:
        console.print(f"picture: {report[0]} and {report[1]}", markup=False, highlight=False)
        console.print(f"the story took {outcome.seconds:.1f} s", markup=False)
    return outcome
