"""Errors of transaction decoding, authentication and mempool admission."""

from carchain.errors.base import CarchainError


class TransactionError(CarchainError, abstract=True):
    """A transaction is refused before or while it is checked (group, not raised)."""


class MalformedTransaction(TransactionError):
    """The bytes are not a canonical transaction envelope."""

    code = "malformed_tx"
    abci_code = 2
    http_status = 400


class UnknownTransactionType(TransactionError):
    """The envelope names a transaction type this chain does not know."""

    code = "unknown_tx_type"
    abci_code = 3
    http_status = 400
    type: str | None


class InvalidSignature(TransactionError):
    """A signature does not verify under the claimed public key."""

    code = "invalid_signature"
    abci_code = 4
    http_status = 400


class WrongChainId(TransactionError):
    """The transaction was signed for another chain."""

    code = "wrong_chain_id"
    abci_code = 5
    http_status = 400
    got: str | None
    want: str | None


class InvalidNonce(TransactionError):
    """The nonce was already used (replay) or skips ahead (out of order).

    ``expected`` is the signer's next nonce: a client resyncs from it directly.
    """

    code = "invalid_nonce"
    abci_code = 6
    http_status = 409
    expected: int | None
    got: int | None


class Unauthorized(TransactionError):
    """The signer may not perform this action."""

    code = "unauthorized"
    abci_code = 7
    http_status = 403
    member_id: str | None
    status: str | None
    vehicle_id: str | None


class InvalidBody(TransactionError):
    """The transaction body is well-formed but its content is not acceptable."""

    code = "invalid_body"
    abci_code = 8
    http_status = 422
    batch_count: int | None
    category: str | None
    legal_basis: str | None
    length: int | None
    power: int | None
    record_count: int | None
    roles: str | None
    size: int | None
    value: str | None
    year: int | None


class UnsupportedVersion(TransactionError):
    """The envelope version is not supported by this node."""

    code = "unsupported_version"
    abci_code = 9
    http_status = 400
    version: int | None


class TransactionTooLarge(TransactionError):
    """The encoded transaction exceeds the size limit."""

    code = "tx_too_large"
    abci_code = 10
    http_status = 413
    size: int | None
    limit: int | None


class MempoolFull(TransactionError):
    """The mempool cannot take more transactions right now."""

    code = "mempool_full"
    abci_code = 30
    http_status = 503
    size: int | None


class DuplicateTransaction(TransactionError):
    """This exact transaction is already in the mempool or in a block."""

    code = "duplicate_tx"
    abci_code = 31
    http_status = 409


class CommitTimeout(TransactionError):
    """A transaction was accepted but not committed within the wait; it may still commit."""

    code = "timeout"
    abci_code = 78
    http_status = 202
    tx_hash: str | None


class ForeignVehicleNamespace(Unauthorized):
    """A vehicle id lies in another OEM's namespace (``<oem member id>:<local id>``)."""

    code = "foreign_vehicle_namespace"
    abci_code = 71
    http_status = 403
    oem: str | None


class InvalidOwnerConsent(Unauthorized):
    """The vehicle's current owner did not sign this exact action (or the consent is stale)."""

    code = "invalid_owner_consent"
    abci_code = 73
    http_status = 403


class InvalidVin(InvalidBody):
    """A VIN is not 17 ISO 3779 characters, or its check digit is wrong."""

    code = "invalid_vin"
    abci_code = 72
    http_status = 422
    expected: str | None


# --- erasure and legal holds (issue 9: core/erasure.py, core/holds.py) -----------


class NotHoldOwner(TransactionError):
    """Only the court member that placed a legal hold may lift it."""

    code = "not_hold_owner"
    abci_code = 133
    http_status = 403
    vehicle_id: str | None
    hold_seq: int | None
    member_id: str | None


# --- consent and access (issue 9: core/consents.py, core/access*.py) -------------


class SensitiveConsentNotSeparate(InvalidBody):
    """A grant covers a sensitive category together with others, or names a role
    instead of one recipient: sensitive data needs its own, named consent."""

    code = "sensitive_consent_not_separate"
    abci_code = 118
    http_status = 422


class SensitiveReleaseNeedsOwner(Unauthorized):
    """Only the vehicle's owner may release a sensitive category (the OEM holds no key to it)."""

    code = "sensitive_release_needs_owner"
    abci_code = 119
    http_status = 403


# --- lawful access (issue 10: core/escrow_committee.py, core/cases.py, ...) ------


class InvalidCommittee(InvalidBody):
    """A proposed escrow committee breaks a rule: k of n bounds, distinct seats, one
    custodian per organisation type, no law enforcement, escrowed categories."""

    code = "invalid_committee"
    abci_code = 160
    http_status = 422
    member_id: str | None
    org_type: str | None
    threshold: int | None


class ScopeWidened(InvalidBody):
    """An authorised scope names a vehicle, category or moment the opened case does not."""

    code = "scope_widened"
    abci_code = 161
    http_status = 422
    case_id: int | None
    vehicle_id: str | None
    category: str | None


class NoticeDelayOutOfRange(InvalidBody):
    """A notification delay exceeds the chain's cap, or an extension does not lengthen it."""

    code = "notice_delay_out_of_range"
    abci_code = 162
    http_status = 422
    case_id: int | None
    notice_delay_ms: int | None
    limit: int | None


class CourtNotIndependent(Unauthorized):
    """The court is the case's own authority (or also holds the law-enforcement role):
    no organisation authorises its own case."""

    code = "court_not_independent"
    abci_code = 163
    http_status = 403
    case_id: int | None


class NotCaseCustodian(Unauthorized):
    """The signer holds no seat of the escrow committee the case's keys (or this share) use."""

    code = "not_case_custodian"
    abci_code = 164
    http_status = 403
    case_id: int | None
    epoch: int | None
    index: int | None


class NotCaseParty(Unauthorized):
    """Only the case's authority, its authorising court or its officer key may do this."""

    code = "not_case_party"
    abci_code = 165
    http_status = 403
    case_id: int | None


class CaseHoldNotLiftable(Unauthorized):
    """The legal hold belongs to a lawful-access case: only ``case.close`` lifts it."""

    code = "case_hold_not_liftable"
    abci_code = 166
    http_status = 403
    vehicle_id: str | None
    hold_seq: int | None
    case_id: int | None


# --- V2X SCMS (issue 11) ----------------------------------------------------------


class InvalidV2xBody(TransactionError):
    """A V2X body's content is not acceptable: ``field`` is off (size, range, shape)."""

    code = "invalid_v2x_body"
    abci_code = 230
    http_status = 422
    field: str | None
    size: int | None
    limit: int | None


class InvalidTransfer(TransactionError):
    """A car-to-car transfer or its receipt does not verify (``reason``)."""

    code = "invalid_transfer"
    abci_code = 231
    http_status = 422
    reason: str | None
