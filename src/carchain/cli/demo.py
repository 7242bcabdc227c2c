"""``carchain demo``: the consortium story on an embedded node, optionally kept serving.

With ``--serve`` the demo's chain stays up afterwards, so that a newcomer can open the
explorer (``/explorer/``), the API docs (``/docs``) and follow events on it; with
``--home`` the chain and the gateways' data are kept in a folder of one's own.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer

from carchain.cli.common import check_port_free, console
from carchain.errors import InvalidOption
from carchain.sim.world import FleetParams, validate_params

VehiclesOpt = Annotated[int, typer.Option(help="Fleet size.", min=1, max=100_000)]
BundleOpt = Annotated[
    Path | None,
    typer.Option(help="Write the verified record's proof bundle and block header here."),
]
CaseOpt = Annotated[
    bool,
    typer.Option("--case/--no-case", help="With --classic: then a lawful-access case."),
]
ClassicOpt = Annotated[
    bool,
    typer.Option(
        "--classic",
        help="The former tour instead of the story: governance, life events, sharing, "
        "a record's proof bundle (--bundle-out) and a case on a chain of its own.",
    ),
]
SeedOpt = Annotated[int, typer.Option(help="The story's seed (same seed, same story).")]
MinutesOpt = Annotated[int, typer.Option(help="The story's simulated drive, in minutes.")]
ServeOpt = Annotated[
    bool,
    typer.Option(
        "--serve", help="Keep the demo chain serving afterwards (explorer, API) until Ctrl-C."
    ),
]
HomeOpt = Annotated[
    Path | None,
    typer.Option(help="Keep the demo's node home and gateway data in this new folder."),
]
NetworkOpt = Annotated[
    bool,
    typer.Option(
        "--network", help="Run on a fresh 4-validator CometBFT localnet instead (slower)."
    ),
]
ReportOpt = Annotated[
    Path,
    typer.Option(
        "--report",
        help="Write the story's picture (incident.html, incident.png) in this folder.",
        file_okay=False,
    ),
]
DEFAULT_REPORT_DIR = Path("carchain-report")
PortOpt = Annotated[
    int, typer.Option(min=0, max=65535, help="With --serve: the API port (0: a free one).")
]


def demo(
    vehicles: VehiclesOpt = 1000,
    bundle_out: BundleOpt = None,
    case: CaseOpt = True,
    serve: ServeOpt = False,
    home: HomeOpt = None,
    port: PortOpt = 0,
    network: NetworkOpt = False,
    seed: SeedOpt = 13,
    minutes: MinutesOpt = 60,
    classic: ClassicOpt = False,
    report: ReportOpt = DEFAULT_REPORT_DIR,
) -> None:
    """Run the demo on an embedded node (in a temporary home unless --home is given),
    or with --network on a 4-validator CometBFT localnet (stopped at the end)."""
    if not classic:
        validate_params(FleetParams(vehicles, minutes, seed))
        if bundle_out is not None or not case:
            name = "--bundle-out" if bundle_out is not None else "--no-case"
            raise InvalidOption(f"{name} belongs to the former tour: add --classic", option=name)
    if home is not None and home.exists() and any(home.iterdir()):
        raise InvalidOption(f"--home {home} is not empty: give a new folder", option="home")
    if network:
        run_network_demo(FleetParams(vehicles, minutes, seed), serve, home, report)
        return
    if serve and port:
        check_port_free(port)
    with tempfile.TemporaryDirectory(prefix="carchain-demo-") as tmp:
        root = home or Path(tmp)
        if classic:
            run_classic(vehicles, bundle_out, case, root)
        else:
            run_city_story(FleetParams(vehicles, minutes, seed), root, report, network=False)
        if serve:
            serve_chain(root / "node", port)


def run_city_story(params: FleetParams, root: Path, report: Path, network: bool) -> None:
    """Run the story (``sim.story``): the city's fleet, the crash, the investigation,
    everyone's view and the picture (in ``report``), on one chain in ``root``."""
    from carchain.sim.story import run_story

    root.mkdir(parents=True, exist_ok=True)
    run_story(console, params, root, network=network, report_dir=report)


def run_classic(vehicles: int, bundle_out: Path | None, case: bool, root: Path) -> None:
    """Run the fleet demo on a node in ``root/node``, then (``case``) the case demo."""
    from carchain.sim.case_demo import run_case_demo
    from carchain.sim.demo import run_demo

    root.mkdir(parents=True, exist_ok=True)
    run_demo(
        console, vehicles=vehicles, home=root / "node", bundle_dir=bundle_out,
        data_dir=root / "data",
    )  # fmt: skip
    if case:
        with tempfile.TemporaryDirectory() as tmp:
            run_case_demo(console, Path(tmp))


def run_network_demo(params: FleetParams, serve: bool, home: Path | None, report: Path) -> None:
    """Run the story on a localnet in ``home/network`` (a temporary folder unless given)."""
    if serve:
        raise InvalidOption("--serve keeps the embedded chain only", option="serve")
    with tempfile.TemporaryDirectory(prefix="carchain-demo-") as tmp:
        run_city_story(params, home or Path(tmp), report, network=True)


def serve_chain(node_home: Path, port: int, stop: threading.Event | None = None) -> None:
    """Serve the demo's chain again on loopback and print where; return on Ctrl-C (or
    when ``stop`` is set)."""
    from carchain.api.routes.reports import REPORTS_FOLDER
    from carchain.sim.consortium import create_consortium
    from carchain.sim.embedded import EmbeddedNode

    genesis = create_consortium().genesis
    assert genesis is not None  # create_consortium always sets it
    with EmbeddedNode(node_home, genesis, port=port) as node:
        console.print(f"listening on {node.url}", markup=False, highlight=False)
        console.print(f"home: {node_home}", markup=False, highlight=False)
        console.print(f"explorer: {node.url}/explorer/  API docs: {node.url}/docs", markup=False)
        if (node_home / REPORTS_FOLDER / "incident.html").exists():
            console.print(f"picture: {node.url}/reports/incident.html", markup=False)
        console.print("serving the demo chain; Ctrl-C to stop", markup=False)
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            console.print("stopped", markup=False)
