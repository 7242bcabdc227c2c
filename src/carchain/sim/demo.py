"""The demo: a consortium on an embedded node registers and manages a fleet."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from carchain.core import governance as gov
from carchain.core.vehicles import (
    RegisterVehicle,
    RevokeVehicle,
    RotateVehicleKey,
    TransferVehicle,
    compute_vehicle_id,
    compute_vehicle_namespace,
)
from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.transactions import sign_rotation_consent, sign_transfer_consent
from carchain.sdk.vin import compute_vin_commitment, compute_vin_salt, compute_vin_with_check_digit
from carchain.sim.claim import process_claim_fetch
from carchain.sim.consortium import create_consortium
from carchain.sim.drive import DataPlane, Driver, DriveStats, run_drive
from carchain.sim.embedded import EmbeddedNode
from carchain.sim.sharing import INSURER, MAP_PROVIDER, SharingSummary, run_sharing
from carchain.sim.sharing_report import add_sharing_rows, compute_access_log_table

BATCH = 250


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo did, for the printed table and for tests."""

    members: int
    vehicles: int
    transfers: int
    rotations: int
    revocations: int
    blocks: int
    transactions: int
    app_hash: str
    verified_vehicle: str
    verified_height: int
    seconds: float
    data: DriveStats | None = None
    sharing: SharingSummary | None = None


def _wait_committed(client: Client, tx_hash: bytes, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = client._request("GET", f"/txs/{tx_hash.hex()}", ok=(200, 404))
        if st.get("state") == "committed":
            return
        time.sleep(0.05)
    raise CarchainError("transaction not committed in time")


def _vehicle_id(oem: str, i: int) -> str:
    return compute_vehicle_id(oem, f"{i:06d}")


@dataclass(slots=True)
class _Demo:
    """The demo's shared state: the node's client, the members' accounts, the fleet's keys."""

    console: Console
    client: Client
    chain_id: str
    accounts: dict[str, Account]
    oems: list[str]
    owners: dict[str, SigningKey] = field(default_factory=dict)
    vehicle_keys: dict[str, SigningKey] = field(default_factory=dict)
    sharing: SharingSummary | None = None


@dataclass(frozen=True, slots=True)
class _LifeEvents:
    """The vehicles sold, re-keyed and revoked."""

    transfers: list[str]
    rotations: list[str]
    revocations: list[str]


def run_demo(
    console: Console,
    vehicles: int = 1000,
    home: Path | None = None,
    bundle_dir: Path | None = None,
    data_dir: Path | None = None,
) -> DemoSummary:
    """Run the whole demo on an embedded node in ``home`` and gateways in ``data_dir``
    (temporary folders by default)."""
    started = time.monotonic()
    consortium = create_consortium()
    assert consortium.genesis is not None  # create_consortium always sets it
    with tempfile.TemporaryDirectory(prefix="carchain-demo-") as tmp:
        node_home = home or Path(tmp) / "node"
        with EmbeddedNode(node_home, consortium.genesis) as node, Client(node.url) as client:
            console.print(
                f"[bold]carchain demo[/bold] — embedded node at {node.url}, "
                f"chain {consortium.chain_id}"
            )
            accounts = {
                m: Account(client, k, consortium.chain_id) for m, k in consortium.keys.items()
            }
            demo = _Demo(console, client, consortium.chain_id, accounts, consortium.oems)
            process_admit_member(demo, INSURER, "Ping An Insurance", "insurer")
            process_admit_member(demo, MAP_PROVIDER, "AutoNavi Maps", "service_provider")
            ids = process_register_fleet(demo, vehicles)
            events = process_life_events(demo, ids)
            process_forbidden_revocation(demo, ids)
            oem_keys = {oem: consortium.keys[oem] for oem in demo.oems}
            plane_dir = data_dir or Path(tmp) / "data-plane"
            data = process_drive(demo, ids, events, oem_keys, plane_dir, bundle_dir)
            summary, record = compute_summary(demo, events, data, started)
            _print_summary(console, summary, record)
    return summary


def process_admit_member(demo: _Demo, member_id: str, name: str, role: str) -> None:
    """Governance: admit a member by a 2/3 vote of the founders; keep its account."""
    key = SigningKey.generate()
    action = gov.AddMember(member_id, name, [role], key.public_key)
    res = demo.accounts["miit"].send(gov.Propose(action))
    pid = int(
        next(
            e["attributes"]["proposal_id"]
            for e in res["result"]["events"]
            if e["type"] == "proposal_created"
        )
    )
    for voter in ("saic", "geely", "vw-china", "bosch", "audit-cn"):
        demo.accounts[voter].send(gov.Vote(pid, True))
    status = demo.client.proposal(pid)["status"]
    demo.console.print(f"governance: proposal {pid} to admit {name} → {status}")
    demo.accounts[member_id] = Account(demo.client, key, demo.chain_id)


def _build_registration(demo: _Demo, i: int) -> bytes:
    """Return the signed registration of the demo's ``i``-th vehicle (keys kept in ``demo``)."""
    oem = demo.oems[i % len(demo.oems)]
    vid = _vehicle_id(oem, i)
    owner = SigningKey.generate()
    demo.owners[vid] = owner
    demo.vehicle_keys[vid] = SigningKey.generate()
    body = RegisterVehicle(
        vehicle_id=vid,
        vin_commitment=compute_vin_commitment(
            compute_vin_with_check_digit(f"LSVAX4180E2{i:06d}"), compute_vin_salt()
        ),
        public_key=demo.vehicle_keys[vid].public_key,
        model=("Roewe RX5", "Geely Galaxy E8", "VW ID.4")[i % 3],
        year=2022 + i % 4,
        owner=owner.public_key,
    )
    return demo.accounts[oem].build(body)


def _submit_registrations(client: Client, pending: list[bytes], last_tx: dict[str, bytes]) -> None:
    """Check one batch of registrations; keep each signer's last transaction hash."""
    out = client.submit_batch(pending)
    refused = [r for r in out["results"] if r["check"]["code"] != 0]
    if refused:
        raise CarchainError(f"vehicle registration refused: {refused[0]}")
    for r, t in zip(out["results"], pending, strict=True):
        last_tx[msgspec.msgpack.decode(t)[2].hex()] = bytes.fromhex(r["hash"])


def process_register_fleet(demo: _Demo, vehicles: int) -> list[str]:
    """The fleet: each OEM registers its share, in batches; return the vehicle ids."""
    last_tx: dict[str, bytes] = {}
    with Progress(console=demo.console, transient=False) as progress:
        task = progress.add_task("registering vehicles", total=vehicles)
        pending: list[bytes] = []
        for i in range(vehicles):
            pending.append(_build_registration(demo, i))
            if len(pending) == BATCH or i == vehicles - 1:
                _submit_registrations(demo.client, pending, last_tx)
                progress.advance(task, len(pending))
                pending = []
        for h in last_tx.values():
            _wait_committed(demo.client, h)
    return list(demo.owners)


def process_life_events(demo: _Demo, ids: list[str]) -> _LifeEvents:
    """Life events: sales, key rotations, revocations."""
    events = _LifeEvents(ids[:20], ids[20:30], ids[30:40])
    for vid in events.transfers:
        new_owner = SigningKey.generate()
        sig = sign_transfer_consent(demo.chain_id, demo.owners[vid], vid, new_owner.public_key, 0)
        body = TransferVehicle(vid, new_owner.public_key, sig)
        demo.accounts[compute_vehicle_namespace(vid)].send(body, mode="sync")
    for vid in events.rotations:
        new_key = SigningKey.generate().public_key
        sig = sign_rotation_consent(demo.chain_id, demo.owners[vid], vid, new_key, 2, 0)
        demo.accounts[compute_vehicle_namespace(vid)].send(
            RotateVehicleKey(vid, new_key, sig), "sync"
        )
    last = b""
    for vid in events.revocations:
        account = demo.accounts[compute_vehicle_namespace(vid)]
        last = bytes.fromhex(account.send(RevokeVehicle(vid, "scrapped"), "sync")["hash"])
    if last:
        _wait_committed(demo.client, last)
    return events


def process_forbidden_revocation(demo: _Demo, ids: list[str]) -> None:
    """A forbidden act: an OEM tries to revoke another OEM's vehicle."""
    oem = demo.oems[1]
    try:
        demo.accounts[oem].send(RevokeVehicle(ids[0], "not mine"), "commit")
        demo.console.print("[red]unexpected: cross-OEM revocation accepted[/red]")
    except CarchainError as exc:
        demo.console.print(f"authorisation: {oem} revoking {ids[0]} → refused ({exc.code})")


def process_drive(
    demo: _Demo,
    ids: list[str],
    events: _LifeEvents,
    oem_keys: dict[str, SigningKey],
    data_dir: Path,
    bundle_dir: Path | None,
) -> DriveStats | None:
    """The data plane: the fleet drives an hour; gateways store and anchor its data."""

    def driver(vid: str) -> Driver:
        keys = demo.vehicle_keys[vid]
        return Driver(vid, compute_vehicle_namespace(vid), keys, demo.owners[vid])

    if not ids[40:]:
        return None
    return run_drive(
        demo.console,
        demo.client,
        [driver(vid) for vid in ids[40:]],
        oem_keys,
        data_dir,
        revoked=driver(events.revocations[0]) if events.revocations else None,
        bundle_dir=bundle_dir,
        after=lambda plane: process_sharing(demo, plane),
    )


def process_sharing(demo: _Demo, plane: DataPlane) -> None:
    """Consent and sharing on the crashed car, while the gateways still serve."""
    demo.sharing = run_sharing(
        demo.console, plane, demo.accounts, demo.chain_id, fetch_claim=process_claim_fetch
    )


def compute_summary(
    demo: _Demo, events: _LifeEvents, data: DriveStats | None, started: float
) -> tuple[DemoSummary, object]:
    """Return what the demo did, and one vehicle's record verified by proof against an app hash."""
    client = demo.client
    probe = events.transfers[0]
    verified = client.query_verified("vehicles", f"v/{probe}".encode())
    record = msgspec.msgpack.decode(verified.value)
    st = client.status()
    blocks = int(st["height"])
    n_txs = sum(int(client.header(h)["tx_count"]) for h in range(1, blocks + 1))
    summary = DemoSummary(
        members=len(client.members(limit=1000)),
        vehicles=len(demo.owners),
        transfers=len(events.transfers),
        rotations=len(events.rotations),
        revocations=len(events.revocations),
        blocks=blocks,
        transactions=n_txs,
        app_hash=str(st["app_hash"]),
        verified_vehicle=probe,
        verified_height=verified.height,
        seconds=time.monotonic() - started,
        data=data,
        sharing=demo.sharing,
    )
    return summary, record


def _print_summary(console: Console, s: DemoSummary, record: object) -> None:
    table = Table(title="carchain demo summary", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("members", str(s.members))
    table.add_row("vehicles registered", str(s.vehicles))
    table.add_row(
        "transfers / key rotations / revocations",
        f"{s.transfers} / {s.rotations} / {s.revocations}",
    )
    table.add_row("blocks", str(s.blocks))
    table.add_row("transactions", str(s.transactions))
    table.add_row("app hash", s.app_hash)
    table.add_row(
        "proof",
        f"vehicle {s.verified_vehicle} verified against block {s.verified_height}'s app hash",
    )
    if s.data is not None:
        _add_data_rows(table, s.data)
    if s.sharing is not None:
        add_sharing_rows(table, s.sharing)
    table.add_row("elapsed", f"{s.seconds:.1f} s")
    console.print(table)
    if s.sharing is not None:
        console.print(compute_access_log_table(s.sharing))
    if isinstance(record, dict):
        console.print(
            f"  {s.verified_vehicle}: owner transferred "
            f"{record.get('transfer_seq', '?')} time(s), status {record.get('status')}"
        )


def _add_data_rows(table: Table, d: DriveStats) -> None:
    table.add_row("vehicles driving (simulated hour)", str(d.vehicles))
    table.add_row("records (after minimisation)", f"{d.records:,} ({d.record_bytes:,} bytes)")
    table.add_row("batches uploaded (encrypted)", f"{d.batches:,} ({d.upload_bytes:,} bytes)")
    table.add_row(
        "bad uploads refused", ", ".join(f"{k}: {v}" for k, v in sorted(d.rejected.items()))
    )
    table.add_row(
        "anchor transactions",
        f"{d.anchor_txs} in {d.anchor_blocks} blocks "
        f"(max {d.max_anchors_per_gateway_block} per gateway per block)",
    )
    if d.verified is not None:
        v = d.verified
        table.add_row(
            "record verified end to end",
            f"{v.kind} of {v.vehicle_id}: record → batch {v.batch_seq} → {v.oem} anchor "
            f"{v.anchor_seq} (block {v.anchor_height}) → app hash of block {v.height}",
        )
    if d.resale:
        table.add_row("car sold mid-life (new key epoch)", d.resale)
    table.add_row("data plane time", f"{d.seconds:.1f} s")
