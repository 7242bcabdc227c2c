"""``carchain custodian``: run an escrow custodian's service, and its local approvals.

``start`` runs the service in the foreground until interrupted: it releases this
custodian's shares of authorised cases at quorum, checked by itself against the
chain. With ``--require-local-approval`` a case's shares wait in ``pending``
until a person runs ``custodian approve CASE`` on this machine (a condition on top
of the chain's, never instead of one). On-chain votes are separate:
``carchain case approve|decline``.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    CarchainTyper,
    JsonOpt,
    KeyOpt,
    KeyringOpt,
    NodeOpt,
    console,
    emit_json,
    make_text,
    unlock,
)
from carchain.cli.consent import print_status
from carchain.custodian.journal import WAITING
from carchain.custodian.runner import (
    DEFAULT_INTERVAL_S,
    JOURNAL_FILE,
    CustodianRunner,
    CustodianSettings,
    open_journal,
)

app = CarchainTyper(help="An escrow custodian's service: releases shares at quorum, by itself.")
HomeOpt = Annotated[
    Path,
    typer.Option("--home", envvar="CARCHAIN_CUSTODIAN_HOME", help="Custodian home (journal)."),
]
DEFAULT_HOME = Path.home() / ".carchain" / "custodian"


@app.command("start")
def start(
    key: KeyOpt,
    escrow_key: Annotated[str, typer.Option(help="Name of the escrow key (opens the shares).")],
    gateway: Annotated[list[str], typer.Option(help="A gateway API URL (repeat: one per OEM).")],
    node: NodeOpt = DEFAULT_NODE,
    home: HomeOpt = DEFAULT_HOME,
    require_local_approval: Annotated[
        bool,
        typer.Option(help="Release a case only once `custodian approve CASE` approved it here."),
    ] = False,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between rounds.")] = (
        DEFAULT_INTERVAL_S
    ),
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Run the custodian service until interrupted (SIGINT or SIGTERM)."""
    member_key = unlock(keyring, key)
    settings = CustodianSettings(
        home, member_key, unlock(keyring, escrow_key), node, gateway,
        require_local_approval, interval,
    )  # fmt: skip
    runner = CustodianRunner(settings)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    service = runner.start()
    print_status(
        "started", "green", f"custodian {service.member_id}, journal {home / JOURNAL_FILE}"
    )
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
    print_status("stopped", "green", f"custodian {service.member_id}")


@app.command("approve")
def approve(
    case_id: Annotated[int, typer.Argument(min=1, help="The case id.")],
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Approve a case locally: the service (under --require-local-approval) may release it
    once the chain's own rules allow too. Not an on-chain vote (see `case approve`)."""
    journal = open_journal(home)
    try:
        fresh = journal.approve_locally(case_id, int(time.time() * 1000))
    finally:
        journal.close()
    print_status("approved" if fresh else "already approved", "green", f"case {case_id} locally")


@app.command("pending")
def pending(home: HomeOpt = DEFAULT_HOME, as_json: JsonOpt = False) -> None:
    """List the cases whose release waits for a local approval."""
    journal = open_journal(home)
    try:
        tasks = journal.get_tasks_in(WAITING)
    finally:
        journal.close()
    if as_json:
        emit_json({"pending": [{"case_id": t.case_id, "detail": t.detail} for t in tasks]})
        return
    table = Table("case", "detail")
    for t in tasks:
        table.add_row(make_text(t.case_id), make_text(t.detail))
    console.print(table)


@app.command("status")
def status(home: HomeOpt = DEFAULT_HOME, as_json: JsonOpt = False) -> None:
    """Show the journal: the cursor and the cases per state."""
    journal = open_journal(home)
    try:
        cursor, counts = journal.get_cursor(), journal.count_by_state()
    finally:
        journal.close()
    if as_json:
        emit_json({"cursor": cursor, "cases": counts})
        return
    console.print(make_text(f"cursor: {cursor}"))
    for state, n in sorted(counts.items()):
        console.print(make_text(f"{state}: {n}"))
