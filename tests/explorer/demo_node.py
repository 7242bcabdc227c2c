"""A live demo chain for the explorer's browser tests, run as its own process.

``python -m tests.explorer.demo_node DIR`` runs the demo (a small fleet: members
admitted by vote, vehicles registered, transferred, rotated and revoked, trips
driven and anchored by the OEM gateways, consents and data sharing) on a node
home in DIR, then serves that home again; it also runs the lawful-access case
world (a case opened, authorised, its shares released, the transparency counters
written) and keeps its node serving; and it runs ``carchain demo``'s story on a small
fleet (the crash, both cases, the picture published in the node's ``reports/``) and
serves that chain too. When all three answer it writes ``DIR/urls.json``
(``{"demo": url, "case": url, "story": url, "crashed": vehicle id}``, the vehicle
whose data was shared) and serves until SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from rich.console import Console

from carchain.sim.case_demo import CARS, run_case
from carchain.sim.case_world import open_case_world
from carchain.sim.consortium import create_consortium
from carchain.sim.demo import run_demo
from carchain.sim.embedded import EmbeddedNode
from carchain.sim.story import run_story
from carchain.sim.story_consortium import create_story_consortium
from carchain.sim.world import FleetParams

VEHICLES = 52  # the demo drives the fleet beyond its first 40 (transfers, rotations, revocations)
STORY = FleetParams(vehicles=40, minutes=6, seed=13)


def main(out: Path) -> None:
    """Build both chains in ``out``, serve them, write the URLs; stop on SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    quiet = Console(quiet=True)
    summary = run_demo(quiet, vehicles=VEHICLES, home=out / "node", data_dir=out / "data")
    assert summary.sharing is not None  # the fleet is large enough to drive
    crashed = summary.sharing.vehicle_id
    genesis = create_consortium().genesis
    assert genesis is not None
    run_story(None, STORY, out / "story", report_dir=out / "story-report")
    story_genesis = create_story_consortium(STORY.seed).genesis
    world = open_case_world(out / "case", cars=CARS, past_days=2)
    try:
        run_case(world)
        with (
            EmbeddedNode(out / "node", genesis) as node,
            EmbeddedNode(out / "story" / "node", story_genesis) as story,
        ):
            urls = {"demo": node.url, "case": world.node.url, "story": story.url}
            urls["crashed"] = crashed
            tmp = out / "urls.json.tmp"
            tmp.write_text(json.dumps(urls))
            tmp.replace(out / "urls.json")
            stop.wait()
    finally:
        world.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
