"""The ``carchain`` command: one sub-command group per domain concept."""

from __future__ import annotations

from typing import Annotated

import typer

from carchain.cli import (
    access,
    car,
    case,
    consent,
    custodian,
    demo,
    erasure,
    escrow,
    events,
    evidence,
    gateway,
    index,
    keys,
    member,
    network,
    node,
    oem,
    proposal,
    sim,
    transparency,
    tx,
    v2x,
    v2x_scms,
    vehicle,
    verify,
)
from carchain.cli.common import CarchainTyper


def print_version(value: bool) -> None:
    """Print the installed carchain version and stop (``--version``)."""
    if value:
        from importlib.metadata import version

        typer.echo(f"carchain {version('carchain')}")
        raise typer.Exit()


app = CarchainTyper(
    help="carchain: consortium blockchain for connected-car data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """carchain: consortium blockchain for connected-car data."""


app.add_typer(keys.app, name="keys")
app.add_typer(node.node_app, name="node")
app.add_typer(member.app, name="member")
app.add_typer(proposal.app, name="proposal")
app.add_typer(tx.app, name="tx")
app.add_typer(vehicle.app, name="vehicle")
app.add_typer(gateway.app, name="gateway")
app.add_typer(index.app, name="index")
app.add_typer(car.app, name="car")
app.add_typer(erasure.app, name="erasure")
app.add_typer(erasure.hold_app, name="hold")
app.add_typer(consent.app, name="consent")
app.add_typer(access.app, name="access")
app.add_typer(case.app, name="case")
app.add_typer(escrow.app, name="escrow")
app.add_typer(custodian.app, name="custodian")
app.command("verify")(verify.verify)
app.add_typer(evidence.app, name="evidence")
app.add_typer(network.app, name="network")
app.add_typer(transparency.app, name="transparency")
app.add_typer(oem.app, name="oem")
# One ``v2x`` group: V2XMSG's sign/verify/decode and the SCMS commands (issue 11).
v2x_scms.register(v2x.v2x_app)
app.add_typer(v2x.v2x_app, name="v2x")
app.command("sim")(sim.sim)
app.command("init")(node.init)
app.command("query")(node.query)
app.command("events")(events.events)


app.command("demo")(demo.demo)


if __name__ == "__main__":
    app()
