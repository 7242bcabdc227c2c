"""Errors of the state rules: what the state machine refuses given current state."""

from carchain.errors.base import CarchainError


class StateError(CarchainError, abstract=True):
    """A transaction or read conflicts with the state it meets (group, not raised)."""


class NotFound(StateError):
    """A referenced entity does not exist."""

    code = "not_found"
    abci_code = 20
    http_status = 404
    case_id: int | None
    committee_version: int | None
    digest: bytes | str | None
    height: int | None
    key_version: int | None
    member_id: str | None
    node: str | None
    oem: str | None
    path: str | None
    proposal_id: int | None
    seq: int | None
    store: str | None
    time_ms: int | None
    vehicle_id: str | None


class AlreadyExists(StateError):
    """An entity with this identity already exists."""

    code = "already_exists"
    abci_code = 21
    http_status = 409
    member_id: str | None
    vehicle_id: str | None


class InvalidState(StateError):
    """The entity is in a state that forbids the action (revoked, expired, ...)."""

    code = "invalid_state"
    abci_code = 22
    http_status = 409
    expected: int | None
    expires_height: int | None
    member_id: str | None
    oem: str | None
    seq: int | None
    status: str | None
    vehicle_id: str | None


class LivenessViolation(StateError):
    """The change would leave the chain unable to go on: no validator, no active
    member, 2/3 or less of the power on validators that signed the last block
    (``power`` live of ``total``), or a validator change set CometBFT would refuse."""

    code = "liveness_violation"
    abci_code = 29
    http_status = 409
    key: bytes | None
    member_id: str | None
    power: int | None
    total: int | None


class HeightUnavailable(StateError):
    """State at this height is not kept: older than the version window, or not yet committed."""

    code = "height_unavailable"
    abci_code = 79
    http_status = 404
    height: int | None
    latest: int | None
    oldest: int | None


class ReadOnlyState(StateError):
    """Something tried to write through a read-only view of committed state."""

    code = "read_only_state"
    abci_code = 64
    http_status = 500
    store: str | None


# --- erasure and legal holds (issue 9: core/erasure.py, core/holds.py) -----------


class LegalHoldActive(StateError):
    """A legal hold in force (``hold_seq``) covers part of the erasure's scope: not yet."""

    code = "legal_hold_active"
    abci_code = 130
    http_status = 409
    vehicle_id: str | None
    erasure_seq: int | None
    hold_seq: int | None


class ErasureNotOpen(StateError):
    """The erasure request is already complete (``status``): it completes once."""

    code = "erasure_not_open"
    abci_code = 131
    http_status = 409
    vehicle_id: str | None
    erasure_seq: int | None
    status: str | None


class HoldNotInForce(StateError):
    """The legal hold was already lifted."""

    code = "hold_not_in_force"
    abci_code = 132
    http_status = 409
    vehicle_id: str | None
    hold_seq: int | None


# --- consent and access (issue 9: core/consents.py, core/access*.py) -------------


class TooManyGrants(StateError):
    """The vehicle already has the most grants in force that the chain keeps (``limit``)."""

    code = "too_many_grants"
    abci_code = 110
    http_status = 409
    vehicle_id: str | None
    limit: int | None


class GrantNotInForce(StateError):
    """The grant is withdrawn, expired, or was given by an owner who no longer owns the car."""

    code = "grant_not_in_force"
    abci_code = 111
    http_status = 409
    vehicle_id: str | None
    grant_seq: int | None


class RequestNotApproved(StateError):
    """The access request was refused by the chain (``reason``): nothing may be released."""

    code = "request_not_approved"
    abci_code = 112
    http_status = 409
    vehicle_id: str | None
    request_seq: int | None
    reason: str | None


class AlreadyReleased(StateError):
    """The access request's keys were already released; a request releases once."""

    code = "already_released"
    abci_code = 113
    http_status = 409
    vehicle_id: str | None
    request_seq: int | None


class ReleaseOutOfScope(StateError):
    """A release names categories or batches the approved request does not cover."""

    code = "release_out_of_scope"
    abci_code = 114
    http_status = 409
    vehicle_id: str | None
    request_seq: int | None
    category: str | None
    header_hash: str | None


class NotReleased(StateError):
    """Nothing was released for this access request yet: there is nothing to receipt."""

    code = "not_released"
    abci_code = 115
    http_status = 409
    vehicle_id: str | None
    request_seq: int | None


class BatchNotReleased(StateError):
    """A receipt names a batch that the request's release does not hold."""

    code = "batch_not_released"
    abci_code = 116
    http_status = 409
    vehicle_id: str | None
    request_seq: int | None
    header_hash: str | None


class AlreadyReceipted(StateError):
    """The requester already posted a receipt for this batch of the release."""

    code = "already_receipted"
    abci_code = 117
    http_status = 409
    vehicle_id: str | None
    request_seq: int | None
    header_hash: str | None


# --- lawful access (issue 10: core/escrow_committee.py, core/cases.py, ...) ------


class NoEscrowKey(StateError):
    """The member has registered no escrow key (``escrow.register_key``)."""

    code = "no_escrow_key"
    abci_code = 170
    http_status = 409
    member_id: str | None


class NoEscrowCommittee(StateError):
    """No escrow committee is in force for this epoch: no key of it was escrowed."""

    code = "no_escrow_committee"
    abci_code = 171
    http_status = 409
    epoch: int | None


class CategoryNotEscrowed(StateError):
    """The committee in force for ``epoch`` does not escrow ``category``."""

    code = "category_not_escrowed"
    abci_code = 172
    http_status = 409
    category: str | None
    epoch: int | None
    committee_version: int | None


class CaseNotOpen(StateError):
    """The case is no longer open (``state``): it was authorised, rejected or closed."""

    code = "case_not_open"
    abci_code = 173
    http_status = 409
    case_id: int | None
    state: str | None


class CaseNotAuthorized(StateError):
    """The case is not authorised by a court (``state``): nothing may be approved or released."""

    code = "case_not_authorized"
    abci_code = 174
    http_status = 409
    case_id: int | None
    state: str | None


class CaseExpired(StateError):
    """The court's authorisation expired (``expires_ms``): no further vote or release."""

    code = "case_expired"
    abci_code = 175
    http_status = 409
    case_id: int | None
    expires_ms: int | None


class CaseEnded(StateError):
    """The case was already closed or rejected (``state``)."""

    code = "case_ended"
    abci_code = 176
    http_status = 409
    case_id: int | None
    state: str | None


class AlreadyVoted(StateError):
    """The custodian already approved or declined this case: one vote per member."""

    code = "already_voted"
    abci_code = 177
    http_status = 409
    case_id: int | None
    member_id: str | None


class QuorumNotReached(StateError):
    """Fewer than ``threshold`` active custodians of the epoch's committee approved."""

    code = "quorum_not_reached"
    abci_code = 178
    http_status = 409
    case_id: int | None
    epoch: int | None
    approvals: int | None
    threshold: int | None


class ShareAlreadyReleased(StateError):
    """This share was already released for this case: each share is released once."""

    code = "share_already_released"
    abci_code = 179
    http_status = 409
    case_id: int | None
    vehicle_id: str | None
    epoch: int | None
    category: str | None
    index: int | None


class ShareBoxReplayed(StateError):
    """This exact share box was already posted (in ``case_id``): a box is sealed for one
    case and one officer, never posted twice."""

    code = "share_box_replayed"
    abci_code = 184
    http_status = 409
    case_id: int | None
    vehicle_id: str | None
    epoch: int | None
    index: int | None


class CaseReleaseOutOfScope(StateError):
    """A share names a vehicle, epoch or category outside the authorised scope."""

    code = "case_release_out_of_scope"
    abci_code = 180
    http_status = 409
    case_id: int | None
    vehicle_id: str | None
    epoch: int | None
    category: str | None


class NoSharesReleased(StateError):
    """No share of the vehicle was released for the case: there is nothing to receipt."""

    code = "no_shares_released"
    abci_code = 181
    http_status = 409
    case_id: int | None
    vehicle_id: str | None


class CaseAlreadyReceipted(StateError):
    """The officer already posted a receipt for this batch of the case."""

    code = "case_already_receipted"
    abci_code = 182
    http_status = 409
    case_id: int | None
    vehicle_id: str | None
    header_hash: str | None


class CaseAlreadyReported(StateError):
    """The authority already filed the case's final report."""

    code = "case_already_reported"
    abci_code = 183
    http_status = 409
    case_id: int | None


# --- lawful-access views (issue 10: sdk/oem_statement.py) -------------------------------


class SealedCasePending(StateError):
    """A case whose notice is not yet due touches the vehicle: no complete statement of
    its disclosures can be issued before that notice (the case may not be shown yet)."""

    code = "sealed_case_pending"
    abci_code = 199
    http_status = 409
    vehicle_id: str | None


# --- V2X SCMS: pseudonym CAs, linkage authorities, revocation, misbehaviour (issue 11) ----


class UnknownPseudonymCa(StateError):
    """No pseudonym CA with this HashedId8 is registered on chain."""

    code = "unknown_pseudonym_ca"
    abci_code = 220
    http_status = 404
    hashed_id8: str | None


class PseudonymCaNotInForce(StateError):
    """The pseudonym CA is revoked or outside its validity (``status``)."""

    code = "pseudonym_ca_not_in_force"
    abci_code = 221
    http_status = 409
    hashed_id8: str | None
    status: str | None


class LinkageAuthoritiesNotSet(StateError):
    """Governance has not named the two linkage authorities yet."""

    code = "linkage_authorities_not_set"
    abci_code = 222
    http_status = 409


class RevocationNotPending(StateError):
    """The revocation decision is not waiting for seeds (``status``)."""

    code = "revocation_not_pending"
    abci_code = 223
    http_status = 409
    decision_seq: int | None
    status: str | None


class SeedAlreadyReleased(StateError):
    """This linkage authority already released its seed for the decision."""

    code = "seed_already_released"
    abci_code = 224
    http_status = 409
    decision_seq: int | None
    la_id: int | None


class SeedMismatch(StateError):
    """The two released seeds do not give the decision's linkage value in its period."""

    code = "seed_mismatch"
    abci_code = 225
    http_status = 409
    decision_seq: int | None
    i_period: int | None


class UnknownMisbehaviourReport(StateError):
    """No misbehaviour report with this sequence number."""

    code = "unknown_misbehaviour_report"
    abci_code = 226
    http_status = 404
    report_seq: int | None


class ReportAlreadyReviewed(StateError):
    """The misbehaviour report was already reviewed (``status``)."""

    code = "report_already_reviewed"
    abci_code = 227
    http_status = 409
    report_seq: int | None
    status: str | None


class AlreadyRevokedLinkage(StateError):
    """A revocation for this linkage value in this period already exists."""

    code = "already_revoked_linkage"
    abci_code = 228
    http_status = 409
    decision_seq: int | None


class VehicleNotEligible(StateError):
    """The vehicle may not get pseudonym certificates: unknown, revoked or another OEM's."""

    code = "vehicle_not_eligible"
    abci_code = 229
    http_status = 409
    vehicle_id: str | None
    status: str | None
