"""``carchain car``: the vehicle side of the data plane, from a car home.

``init`` creates the home (vehicle key, encrypted), ``key`` prints its public key
for registration, ``drive`` records a simulated trip into sealed pending batches,
``send`` uploads them to the OEM's gateway (progress bar, retry with backoff), and
``status`` shows pending / sent / anchored, each anchor checked against the chain.
The logic is in ``sdk/car_*.py`` and ``sim/car_trip.py``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from carchain.cli.common import (
    DEFAULT_NODE,
    CarchainTyper,
    JsonOpt,
    NodeOpt,
    console,
    emit_json,
    get_passphrase,
    make_text,
    parse_hex_option,
)
from carchain.sdk.car_home import (
    CONFIG_FORMAT,
    KEY_FILE,
    CarConfig,
    CarHome,
    init_car_home,
    open_car_home,
    read_car_config,
)
from carchain.sdk.car_state import BatchEntry
from carchain.sdk.car_status import compute_status_json, refresh_anchors
from carchain.sdk.car_uploader import CarUploader, RetryPolicy, UploadEvent, get_pending
from carchain.sdk.client import Client
from carchain.sdk.keystore import load_public_key

app = CarchainTyper(help="A car: its home, simulated trips, uploads to its OEM's gateway.")
DEFAULT_CAR_HOME = Path(os.environ.get("CARCHAIN_CAR_HOME", str(Path.home() / ".carchain" / "car")))
HomeOpt = Annotated[
    Path, typer.Option("--home", envvar="CARCHAIN_CAR_HOME", help="Car home folder.")
]


def _open(home: Path) -> CarHome:
    read_car_config(home)  # "no car home" before asking for a passphrase
    return open_car_home(home, get_passphrase())


@app.command("init")
def init(
    vehicle: Annotated[str, typer.Option("--vehicle", help="Vehicle id, <oem>:<local id>.")],
    gateway: Annotated[str, typer.Option(help="The OEM gateway's URL.")],
    custodian: Annotated[str, typer.Option(help="The OEM custodian's public key (hex).")],
    node: NodeOpt = DEFAULT_NODE,
    home: HomeOpt = DEFAULT_CAR_HOME,
) -> None:
    """Create a car home: a fresh vehicle key (encrypted), empty counters; never overwrites."""
    parse_hex_option(custodian, "--custodian")
    config = CarConfig(CONFIG_FORMAT, vehicle, gateway.rstrip("/"), node.rstrip("/"), custodian)
    _, key = init_car_home(home, config, get_passphrase(confirm=True))
    console.print(make_text(f"initialised car home {home} for {vehicle}"))
    console.print(make_text(f"vehicle public key: {key.public_key.hex()}"))


@app.command("key")
def key(home: HomeOpt = DEFAULT_CAR_HOME) -> None:
    """Print the vehicle's public key (hex), for `carchain vehicle register --public-key`."""
    read_car_config(home)
    typer.echo(load_public_key(home / KEY_FILE).hex())


@app.command("drive")
def drive(
    minutes: Annotated[int, typer.Option(help="Trip length.", min=1, max=1440)] = 10,
    edr: Annotated[bool, typer.Option("--edr", help="Crash: record an EDR event.")] = False,
    v2x: Annotated[bool, typer.Option("--v2x", help="Record the V2X exchange log.")] = False,
    home: HomeOpt = DEFAULT_CAR_HOME,
) -> None:
    """Simulate a trip ending now; store its sealed batches, pending upload."""
    from carchain.sim.car_trip import drive as run_trip
    from carchain.sim.car_trip import plan_trip

    car = _open(home)
    now_ms = int(time.time() * 1000)
    plan = plan_trip(now_ms, minutes, edr=edr, v2x=v2x, seed=car.state.trips)
    with Client(car.config.node) as client:
        report = run_trip(car, client, plan)
    crash = f", crash at {report.crash_ms}" if report.crash_ms else ""
    console.print(
        make_text(
            f"drove {minutes} min: {report.records} records, {len(report.batches)} batches "
            f"sealed (pending: {len(get_pending(car))}){crash}"
        )
    )


@app.command("send")
def send(
    attempts: Annotated[int, typer.Option(help="Attempts per batch.", min=1, max=100)] = 6,
    home: HomeOpt = DEFAULT_CAR_HOME,
) -> None:
    """Upload pending batches to the OEM gateway, retrying transient failures."""
    car = _open(home)
    pending = get_pending(car)
    if not pending:
        console.print("nothing to send")
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("sending", total=len(pending))
        sent_bytes = {"n": 0}

        def show(event: UploadEvent) -> None:
            if event.kind == "retry":
                progress.update(
                    task,
                    description=f"retry {event.attempt}/{attempts} in {event.delay_s:.1f} s "
                    f"({event.reason})",
                )
                return
            sent_bytes["n"] += event.entry.size
            progress.update(task, advance=1, description=f"sent {_name(event.entry)}")

        uploader = CarUploader(car, RetryPolicy(attempts=attempts), on_event=show)
        report = uploader.send_pending()
    again = f", {report.stored_already} already stored" if report.stored_already else ""
    console.print(
        make_text(
            f"sent {len(report.sent)} batches ({sent_bytes['n']} bytes){again} "
            f"to {car.config.gateway}"
        )
    )


def _name(entry: BatchEntry) -> str:
    return f"{entry.epoch}-{entry.seq}"


@app.command("status")
def status(
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="Ask the gateway and the chain which sent batches are anchored.",
        ),
    ] = True,
    json_out: JsonOpt = False,
    home: HomeOpt = DEFAULT_CAR_HOME,
) -> None:
    """Show the car's batches: pending, sent, anchored (header hashes in full)."""
    car = _open(home)
    if check:
        with Client(car.config.node) as client:
            refresh_anchors(car, client)
    doc = compute_status_json(car)
    if json_out:
        emit_json(doc)
        return
    counts = doc["counts"]
    console.print(
        make_text(
            f"{doc['vehicle_id']}: {counts['pending']} pending, {counts['sent']} sent, "
            f"{counts['anchored']} anchored (gateway {doc['gateway']})"
        )
    )
    for b in doc["batches"]:
        anchor = f" anchor height {b['anchor_height']}" if b["anchor_height"] else ""
        error = f" ({b['last_error']})" if b["last_error"] else ""
        line = (
            f"{b['status']:<8} {b['epoch']}-{b['seq']} {b['records']} records "
            f"{b['start_ms']}..{b['end_ms']} {b['header_hash']}{anchor}{error}"
        )
        console.print(make_text(line), soft_wrap=True)
