"""The table of transaction types: name -> body struct, admission rule, transition.

Admission is the cheap check the mempool runs (like an ante handler): may this
signer send this type at all? The full rules run only in block execution, so a
transaction that is admitted but breaks a rule is included as a failed
transaction and leaves a trace.

Each row names the stores its admission rule reads (``admission_reads``, besides
the signer's nonce in ``accounts``, which every type checks). An engine keeps its
mempool's check state across a block only if the block wrote none of the stores
that any admission reads (``compute_admission_stores``), so a new type whose
admission reads a new store must list it here, or a stale verdict could survive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from carchain.core import (
    access,
    access_releases,
    anchors,
    case_votes,
    cases,
    consents,
    erasure,
    escrow_committee,
    escrow_releases,
    governance,
    holds,
    members,
    misbehaviour,
    owners,
    v2x_revocation,
    vehicles,
)
from carchain.core import case_records as cr
from carchain.core.effects import Effects
from carchain.core.state import KVView
from carchain.core.types import BlockContext

Process = Callable[[KVView, BlockContext, bytes, Any, Effects], None]
# Admission sees the signer and the decoded body (e.g. to match an owner to a vehicle).
Admit = Callable[[KVView, bytes, Any], None]


@dataclass(frozen=True, slots=True)
class TxType:
    """A transaction type: its wire name, body struct, admission rule (with the
    stores that rule reads) and transition."""

    name: str
    body: type[msgspec.Struct]
    admit: Admit
    admission_reads: frozenset[str]
    process: Process


def _table(*types: TxType) -> dict[str, TxType]:
    return {t.name: t for t in types}


def compute_admission_stores(types: Iterable[TxType]) -> frozenset[str]:
    """Return every store that the admission rule of any of ``types`` reads."""
    return frozenset().union(*(t.admission_reads for t in types))


# What ``members.admit_member`` and ``members.admit_oem`` read.
_MEMBERS = frozenset({members.STORE})


TX_TYPES: dict[str, TxType] = _table(
    TxType(
        "governance.propose",
        governance.Propose,
        members.admit_member,
        _MEMBERS,
        governance.process_propose,
    ),
    TxType(
        "governance.vote", governance.Vote, members.admit_member, _MEMBERS, governance.process_vote
    ),
    TxType(
        "vehicle.register",
        vehicles.RegisterVehicle,
        members.admit_oem,
        _MEMBERS,
        vehicles.process_register,
    ),
    TxType(
        "vehicle.transfer",
        vehicles.TransferVehicle,
        members.admit_oem,
        _MEMBERS,
        vehicles.process_transfer,
    ),
    TxType(
        "vehicle.rotate_key",
        vehicles.RotateVehicleKey,
        members.admit_oem,
        _MEMBERS,
        vehicles.process_rotate_key,
    ),
    TxType(
        "vehicle.revoke",
        vehicles.RevokeVehicle,
        members.admit_oem,
        _MEMBERS,
        vehicles.process_revoke,
    ),
    TxType(
        "anchor.submit",
        anchors.SubmitAnchor,
        members.admit_oem,
        _MEMBERS,
        anchors.process_submit_anchor,
    ),
    # --- erasure and legal holds (issue 9 item 7) ---
    TxType(
        "erasure.request",
        erasure.RequestErasure,
        owners.admit_window_owner,
        owners.ADMISSION_READS,
        erasure.process_request,
    ),
    TxType(
        "erasure.complete",
        erasure.CompleteErasure,
        members.admit_oem,
        _MEMBERS,
        erasure.process_complete,
    ),
    TxType(
        "legal_hold.place",
        holds.PlaceHold,
        holds.admit_court,
        holds.ADMISSION_READS,
        erasure.process_place_hold,
    ),
    TxType(
        "legal_hold.lift",
        holds.LiftHold,
        holds.admit_court,
        holds.ADMISSION_READS,
        erasure.process_lift_hold,
    ),
    # --- consent and access (issue 9: core/consents.py, core/access*.py) ---
    TxType(
        "consent.grant",
        consents.GrantConsent,
        owners.admit_owner,
        owners.ADMISSION_READS,
        consents.process_grant,
    ),
    TxType(
        "consent.withdraw",
        consents.WithdrawConsent,
        owners.admit_owner,
        owners.ADMISSION_READS,
        consents.process_withdraw,
    ),
    TxType(
        "access.request",
        access.RequestAccess,
        members.admit_member,
        _MEMBERS,
        access.process_request,
    ),
    TxType(
        "access.release",
        access_releases.ReleaseAccess,
        access_releases.admit_custodian,
        access_releases.CUSTODIAN_ADMISSION_READS,
        access_releases.process_release,
    ),
    TxType(
        "access.receipt",
        access_releases.ReceiptAccess,
        members.admit_member,
        _MEMBERS,
        access_releases.process_receipt,
    ),
    # --- lawful access (issue 10: core/escrow_committee.py, cases.py, escrow_releases.py) ---
    TxType(
        "escrow.register_key",
        cr.RegisterEscrowKey,
        members.admit_member,
        escrow_committee.ADMISSION_READS,
        escrow_committee.process_register_key,
    ),
    TxType(
        "case.open",
        cr.OpenCase,
        cases.admit_law_enforcement,
        cases.ADMISSION_READS,
        cases.process_open,
    ),
    TxType(
        "case.authorize",
        cr.AuthorizeCase,
        cases.admit_court,
        cases.ADMISSION_READS,
        cases.process_authorize,
    ),
    TxType(
        "case.reject", cr.RejectCase, cases.admit_court, cases.ADMISSION_READS, cases.process_reject
    ),
    TxType(
        "case.approve",
        cr.ApproveCase,
        members.admit_member,
        cases.ADMISSION_READS,
        case_votes.process_approve,
    ),
    TxType(
        "case.decline",
        cr.DeclineCase,
        members.admit_member,
        cases.ADMISSION_READS,
        case_votes.process_decline,
    ),
    TxType(
        "case.extend_notice",
        cr.ExtendNotice,
        cases.admit_court,
        cases.ADMISSION_READS,
        cases.process_extend_notice,
    ),
    TxType(
        "case.report",
        cr.ReportCase,
        cases.admit_law_enforcement,
        cases.ADMISSION_READS,
        cases.process_report,
    ),
    TxType(
        "case.close", cr.CloseCase, members.admit_member, cases.ADMISSION_READS, cases.process_close
    ),
    TxType(
        "escrow.release",
        cr.ReleaseShares,
        members.admit_member,
        cases.ADMISSION_READS,
        escrow_releases.process_release,
    ),
    TxType(
        "case.receipt",
        cr.CaseReceipt,
        escrow_releases.admit_officer,
        escrow_releases.OFFICER_ADMISSION_READS,
        escrow_releases.process_receipt,
    ),
    # --- V2X SCMS (issue 11: core/v2x_ca.py, core/v2x_revocation.py, core/misbehaviour.py) ---
    TxType(
        "v2x.report",
        misbehaviour.SubmitReport,
        members.admit_oem,
        _MEMBERS,
        misbehaviour.process_report,
    ),
    TxType(
        "v2x.review",
        misbehaviour.Review,
        members.admit_misbehaviour_authority,
        _MEMBERS,
        misbehaviour.process_review,
    ),
    TxType(
        "v2x.revoke",
        v2x_revocation.Revoke,
        members.admit_misbehaviour_authority,
        _MEMBERS,
        v2x_revocation.process_revoke,
    ),
    TxType(
        "v2x.release_seed",
        v2x_revocation.ReleaseSeed,
        members.admit_linkage_authority,
        _MEMBERS,
        v2x_revocation.process_release_seed,
    ),
)
