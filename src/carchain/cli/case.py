"""``carchain case``: a lawful-access case from opening to closing, every step a signed
transaction (police open, a court authorises or rejects, custodians approve or decline,
the authority reports and closes), and reads of the case as the chain holds it.

Documents never leave this machine: ``--case-ref`` and the justification and report
files are hashed (SHA-256) here and only the hashes go on chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.table import Table

from carchain.cli import case_data
from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    CarchainTyper,
    JsonOpt,
    KeyOpt,
    KeyringOpt,
    NodeOpt,
    client,
    console,
    emit_json,
    key_path,
    make_text,
    parse_hex_option,
    send_body,
)
from carchain.cli.consent import get_event_seq, print_status
from carchain.core import case_records as cr
from carchain.core.legal_basis import LegalBasis
from carchain.crypto.hashing import compute_sha256
from carchain.sdk import cases
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.keystore import load_public_key

app = CarchainTyper(help="Lawful-access cases: open, authorise, approve, report, close, fetch.")
CaseOpt = Annotated[int, typer.Option("--case-id", min=1, help="The case id (1, 2, ...).")]
VehiclesOpt = Annotated[
    list[str] | None, typer.Option("--vehicle-id", help="A vehicle in scope (repeat).")
]
CategoriesOpt = Annotated[
    list[str] | None, typer.Option("--category", "-c", help="A data category in scope (repeat).")
]
FromOpt = Annotated[
    int | None, typer.Option(min=0, help="Start of the data window (ms since epoch, UTC).")
]
UntilOpt = Annotated[int | None, typer.Option(min=0, help="End of the data window (exclusive).")]
NO_SCOPE = cr.CaseScope([], [], -1, -1)


def compute_document_hash(path: Path | None, hex_value: str | None, what: str) -> bytes:
    """Return the SHA-256 of a document file, or a given 32-byte hex hash (exactly one)."""
    if hex_value is not None and path is None:
        return parse_hex_option(hex_value, f"{what} hash")
    if path is None or hex_value is not None:
        raise typer.BadParameter(f"give the {what} as a file or as its hash, exactly one")
    try:
        return compute_sha256(path.read_bytes())
    except OSError as exc:
        raise typer.BadParameter(f"cannot read the {what} file: {exc.strerror}") from None


def compute_scope(
    vehicles: list[str] | None,
    categories: list[str] | None,
    data_from_ms: int | None,
    data_until_ms: int | None,
    base: cr.CaseScope = NO_SCOPE,
) -> cr.CaseScope:
    """Return a scope from the options, each one not given taken from ``base``."""
    scope = cr.CaseScope(
        sorted(set(vehicles)) if vehicles else list(base.vehicles),
        sorted(set(categories)) if categories else list(base.categories),
        base.data_from_ms if data_from_ms is None else data_from_ms,
        base.data_until_ms if data_until_ms is None else data_until_ms,
    )
    if (
        not scope.vehicles
        or not scope.categories
        or min(scope.data_from_ms, scope.data_until_ms) < 0
    ):
        raise typer.BadParameter(
            "a scope needs --vehicle-id, --category, --data-from-ms and --data-until-ms"
        )
    return scope


def send_case_body(
    node: str, keyring: Path, key: str, body: msgspec.Struct, word: str
) -> dict[str, Any]:
    """Send a case transaction and print ``word`` with the case id and height."""
    res = send_body(node, keyring, key, body)
    case_id = getattr(body, "case_id", None)
    print_status(word, "green", f"case {case_id} at height {res.get('height')}")
    return res


@app.command("open")
def open_case(
    case_ref: Annotated[
        str, typer.Option(help="Your case reference (only its hash goes on chain).")
    ],
    legal_basis: Annotated[LegalBasis, typer.Option(help="The legal basis (code table).")],
    officer_key: Annotated[
        str, typer.Option(help="Name of the officer's key (shares are sealed to it).")
    ],
    key: KeyOpt,
    vehicle_id: VehiclesOpt = None,
    category: CategoriesOpt = None,
    data_from_ms: FromOpt = None,
    data_until_ms: UntilOpt = None,
    justification_file: Annotated[
        Path | None, typer.Option(help="The justification (hashed here).")
    ] = None,
    justification_hash: Annotated[str | None, typer.Option(help="Or its SHA-256 (hex).")] = None,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As law enforcement: open a case over vehicles x window x categories."""
    body = cr.OpenCase(
        compute_sha256(case_ref.encode()),
        legal_basis.value,
        compute_scope(vehicle_id, category, data_from_ms, data_until_ms),
        compute_document_hash(justification_file, justification_hash, "justification"),
        load_public_key(key_path(keyring, officer_key)),
    )
    res = send_body(node, keyring, key, body)
    case_id = get_event_seq(res, "case_opened", "case_id")
    print_status("opened", "green", f"case {case_id} at height {res.get('height')}")


@app.command("authorize")
def authorize(
    case_id: CaseOpt,
    expires_ms: Annotated[int, typer.Option(min=0, help="When the authorisation ends (ms).")],
    notice_delay_ms: Annotated[int, typer.Option(min=0, help="Delay before owners are told (ms).")],
    key: KeyOpt,
    vehicle_id: VehiclesOpt = None,
    category: CategoriesOpt = None,
    data_from_ms: FromOpt = None,
    data_until_ms: UntilOpt = None,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As a court: authorise an open case, narrowing its scope (options not given keep the
    opened scope), with an expiry and a notification delay."""
    with client(node) as c:
        opened = cases.get_case(ChainView(c), case_id).opened_scope
    scope = compute_scope(vehicle_id, category, data_from_ms, data_until_ms, opened)
    body = cr.AuthorizeCase(case_id, scope, expires_ms, notice_delay_ms)
    send_case_body(node, keyring, key, body, "authorized")


@app.command("reject")
def reject(
    case_id: CaseOpt,
    reason: Annotated[cr.DeclineReason, typer.Option(help="Why the court refuses (a code).")],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As a court: refuse to authorise an open case, with a reason code."""
    send_case_body(node, keyring, key, cr.RejectCase(case_id, reason.value), "rejected")


@app.command("approve")
def approve(
    case_id: CaseOpt,
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As an escrow custodian: approve an authorised case (a person's decision; the
    custodian service never approves by itself)."""
    send_case_body(node, keyring, key, cr.ApproveCase(case_id), "approved")


@app.command("decline")
def decline(
    case_id: CaseOpt,
    reason: Annotated[cr.DeclineReason, typer.Option(help="Why the custodian declines.")],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As an escrow custodian: decline an authorised case, with a reason code."""
    send_case_body(node, keyring, key, cr.DeclineCase(case_id, reason.value), "declined")


@app.command("extend-notice")
def extend_notice(
    case_id: CaseOpt,
    notice_delay_ms: Annotated[int, typer.Option(min=0, help="The new total delay (ms).")],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the authorising court: lengthen the delay before owners are told."""
    send_case_body(node, keyring, key, cr.ExtendNotice(case_id, notice_delay_ms), "extended")


@app.command("report")
def report(
    case_id: CaseOpt,
    key: KeyOpt,
    report_file: Annotated[
        Path | None, typer.Option(help="The final report (hashed here).")
    ] = None,
    report_hash: Annotated[str | None, typer.Option(help="Or its SHA-256 (hex).")] = None,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the authority: file the hash of the case's final report."""
    digest = compute_document_hash(report_file, report_hash, "report")
    send_case_body(node, keyring, key, cr.ReportCase(case_id, digest), "reported")


@app.command("close")
def close(
    case_id: CaseOpt,
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the authority or the authorising court: end the case (lifts its legal holds)."""
    send_case_body(node, keyring, key, cr.CloseCase(case_id), "closed")


def compute_display_state(case: cr.Case, time_ms: int) -> str:
    """Return the state a reader sees: ``expired`` for an authorised case past its expiry."""
    return "expired" if cases.is_expired(case, time_ms) else case.state.value


def get_block_time_ms(c: Client) -> int:
    """Return the latest block's time the node names (0 if it names none)."""
    value = c.status().get("latest_block_time_ms")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def print_case(case: cr.Case, display_state: str) -> None:
    """Print a case as a two-column table (hashes, ids, codes: no document)."""
    table = Table("field", "value")
    scope = case.scope or case.opened_scope
    rows: list[tuple[str, object]] = [
        ("display_state", display_state), ("case_id", case.case_id),
        ("legal_basis", case.legal_basis), ("authority", case.authority),
        ("court", case.court or "-"), ("case_ref", case.case_ref.hex()),
        ("expires_ms", case.expires_ms), ("notice_due_ms", case.notice_due_ms),
        ("noticed", case.noticed), ("released_keys", case.released_keys),
        ("scope.vehicles", ", ".join(scope.vehicles)),
        ("scope.categories", ", ".join(scope.categories)),
        ("scope.window", f"{scope.data_from_ms}-{scope.data_until_ms}"),
        ("approvals", ", ".join(v.member_id for v in case.approvals) or "-"),
        ("declines", ", ".join(f"{v.member_id} ({v.reason})" for v in case.declines) or "-"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, make_text(value))
    console.print(table)


@app.command("show")
def show(case_id: CaseOpt, node: NodeOpt = DEFAULT_NODE, as_json: JsonOpt = False) -> None:
    """Show a case as the chain holds it."""
    with client(node) as c:
        case = cases.get_case(ChainView(c), case_id)
        state = compute_display_state(case, get_block_time_ms(c))
    if as_json:
        emit_json({"case": case, "display_state": state})
        return
    print_case(case, state)


@app.command("list")
def list_cases(
    before: Annotated[int | None, typer.Option(min=1, help="List ids below this one.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many.")] = 20,
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """List cases, newest first (id, state, basis, authority, court, vehicles, shares)."""
    table = Table("id", "state", "basis", "authority", "court", "vehicles", "shares released")
    with client(node) as c:
        view, now_ms = ChainView(c), get_block_time_ms(c)
        top = min(cases.get_case_count(view), (before or 2**63) - 1)
        ids = range(top, max(top - limit, 0), -1)
        found = [case for i in ids if (case := cases.get_case_optional(view, i)) is not None]
    if as_json:
        docs = [{"case": k, "display_state": compute_display_state(k, now_ms)} for k in found]
        emit_json({"cases": docs})
        return
    for case in found:
        scope = case.scope or case.opened_scope
        cells = (case.case_id, compute_display_state(case, now_ms), case.legal_basis,
                 case.authority, case.court or "-", len(scope.vehicles),
                 case.released_keys)  # fmt: skip
        table.add_row(*(make_text(v) for v in cells))
    console.print(table)


app.command("fetch")(case_data.fetch)
