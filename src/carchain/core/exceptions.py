"""One error hierarchy with stable codes.

Each error carries a stable string ``code`` and a small integer ``abci_code``:
the ABCI layer reports the integer as the CheckTx/ExecTxResult code, the REST API
maps the string code to an HTTP status. Codes never change once released.
"""

from __future__ import annotations

from typing import ClassVar


class CarchainError(Exception):
    """Root of every error carchain raises on purpose."""

    code: ClassVar[str] = "internal"
    abci_code: ClassVar[int] = 1

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly description: code, message and fields."""
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.fields:
            out["fields"] = {k: _jsonable(v) for k, v in self.fields.items()}
        return out


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


# --- transaction decoding and authentication -------------------------------


class MalformedTransaction(CarchainError):
    """The bytes are not a canonical transaction envelope."""

    code = "malformed_tx"
    abci_code = 2


class UnknownTransactionType(CarchainError):
    """The envelope names a transaction type this chain does not know."""

    code = "unknown_tx_type"
    abci_code = 3


class InvalidSignature(CarchainError):
    """A signature does not verify under the claimed public key."""

    code = "invalid_signature"
    abci_code = 4


class WrongChainId(CarchainError):
    """The transaction was signed for another chain."""

    code = "wrong_chain_id"
    abci_code = 5


class InvalidNonce(CarchainError):
    """The nonce was already used (replay) or skips ahead (out of order)."""

    code = "invalid_nonce"
    abci_code = 6


class Unauthorized(CarchainError):
    """The signer may not perform this action."""

    code = "unauthorized"
    abci_code = 7


class InvalidBody(CarchainError):
    """The transaction body is well-formed but its content is not acceptable."""

    code = "invalid_body"
    abci_code = 8


class UnsupportedVersion(CarchainError):
    """The envelope version is not supported by this node."""

    code = "unsupported_version"
    abci_code = 9


class TransactionTooLarge(CarchainError):
    """The encoded transaction exceeds the size limit."""

    code = "tx_too_large"
    abci_code = 10


# --- state rules -------------------------------------------------------------


class NotFound(CarchainError):
    """A referenced entity does not exist."""

    code = "not_found"
    abci_code = 20


class AlreadyExists(CarchainError):
    """An entity with this identity already exists."""

    code = "already_exists"
    abci_code = 21


class InvalidState(CarchainError):
    """The entity is in a state that forbids the action (revoked, expired, ...)."""

    code = "invalid_state"
    abci_code = 22


class LivenessViolation(CarchainError):
    """The change would leave the chain unable to go on: no validator, no active
    member, or a validator change set CometBFT would refuse."""

    code = "liveness_violation"
    abci_code = 29


class MempoolFull(CarchainError):
    """The mempool cannot take more transactions right now."""

    code = "mempool_full"
    abci_code = 30


class DuplicateTransaction(CarchainError):
    """This exact transaction is already in the mempool or in a block."""

    code = "duplicate_tx"
    abci_code = 31


# --- outside the state machine ----------------------------------------------


class InvalidProof(CarchainError):
    """A Merkle or state proof does not verify."""

    code = "invalid_proof"
    abci_code = 40


class InvalidGenesis(CarchainError):
    """The genesis document is not acceptable."""

    code = "invalid_genesis"
    abci_code = 41


class DecryptionFailed(CarchainError):
    """Decryption failed. Deliberately says nothing more."""

    code = "decryption_failed"
    abci_code = 42


class StorageCorrupted(CarchainError):
    """Stored data does not match its commitment; the node refuses to go on."""

    code = "storage_corrupted"
    abci_code = 43


class ProofUnavailable(CarchainError):
    """A proof of this kind cannot be produced (e.g. absence of a never-written key)."""

    code = "proof_unavailable"
    abci_code = 44


# --- light client and evidence bundles ----------------------------------------


class NoTrustRoot(CarchainError):
    """Verification was asked for without a trust root the node does not control."""

    code = "no_trust_root"
    abci_code = 60


class UntrustedHeader(InvalidProof):
    """A block header does not chain to the trust root (hash, signatures or chain id)."""

    code = "untrusted_header"
    abci_code = 61


class StaleProof(InvalidProof):
    """A proof is for a header older than the freshness bound."""

    code = "stale_proof"
    abci_code = 62


class MalformedBundle(InvalidProof):
    """A proof bundle is not well-formed JSON of the expected shape and version."""

    code = "malformed_bundle"
    abci_code = 63


class HeightUnavailable(CarchainError):
    """State at this height is not kept: older than the version window, or not yet committed."""

    code = "height_unavailable"
    abci_code = 79


# --- the vehicle data plane (off chain) ---------------------------------------


class InvalidBatch(CarchainError):
    """A data batch or its header is malformed or inconsistent."""

    code = "invalid_batch"
    abci_code = 50


class BatchTooLarge(CarchainError):
    """A data batch exceeds the gateway's size limits."""

    code = "batch_too_large"
    abci_code = 51


class UnregisteredVehicle(CarchainError):
    """A batch names a vehicle the chain does not know."""

    code = "unregistered_vehicle"
    abci_code = 52


class VehicleRevoked(CarchainError):
    """A batch comes from a revoked vehicle."""

    code = "vehicle_revoked"
    abci_code = 53


class WrongOem(CarchainError):
    """A batch reached the gateway of an OEM that did not register the vehicle."""

    code = "wrong_oem"
    abci_code = 54


class ReplayedBatch(CarchainError):
    """A batch with this vehicle, epoch and sequence number was already accepted."""

    code = "replayed_batch"
    abci_code = 55


class WrongEpoch(CarchainError):
    """A batch's epoch does not match its time range or is outside the accepted window."""

    code = "wrong_epoch"
    abci_code = 56


class TruncatedCiphertext(CarchainError):
    """A batch's ciphertext is shorter than its signed header says."""

    code = "truncated_ciphertext"
    abci_code = 57


class CiphertextMismatch(CarchainError):
    """A batch's ciphertext does not hash to the value in its signed header."""

    code = "ciphertext_mismatch"
    abci_code = 58


# --- the vehicle registry (items of issue 7: namespaces, VINs, key history) ----


class ForeignVehicleNamespace(Unauthorized):
    """A vehicle id lies in another OEM's namespace (``<oem member id>:<local id>``)."""

    code = "foreign_vehicle_namespace"
    abci_code = 71


class InvalidVin(InvalidBody):
    """A VIN is not 17 ISO 3779 characters, or its check digit is wrong."""

    code = "invalid_vin"
    abci_code = 72


class InvalidOwnerConsent(Unauthorized):
    """The vehicle's current owner did not sign this exact action (or the consent is stale)."""

    code = "invalid_owner_consent"
    abci_code = 73


class VinCommitmentMismatch(InvalidProof):
    """A (salt, VIN) pair does not open the vehicle's VIN commitment."""

    code = "vin_commitment_mismatch"
    abci_code = 74


class KeyNotValidForBatch(InvalidProof):
    """A batch was signed by a vehicle key that was not the vehicle's key during its time range."""

    code = "key_not_valid_for_batch"
    abci_code = 75


# --- the gateway's edges -------------------------------------------------------


class Unauthenticated(CarchainError):
    """A request is not signed, wrongly signed, stale or replayed (HTTP 401)."""

    code = "unauthenticated"
    abci_code = 76


class GatewayKeyNotOem(CarchainError):
    """A gateway's key is not the member key of the active OEM it is set up for."""

    code = "gateway_key_not_oem"
    abci_code = 77


class CommitTimeout(CarchainError):
    """A transaction was accepted but not committed within the wait; it may still commit."""

    code = "timeout"
    abci_code = 78


ALL_ERRORS: tuple[type[CarchainError], ...] = (
    CarchainError,
    MalformedTransaction,
    UnknownTransactionType,
    InvalidSignature,
    WrongChainId,
    InvalidNonce,
    Unauthorized,
    InvalidBody,
    UnsupportedVersion,
    TransactionTooLarge,
    NotFound,
    AlreadyExists,
    InvalidState,
    LivenessViolation,
    MempoolFull,
    DuplicateTransaction,
    InvalidProof,
    InvalidGenesis,
    DecryptionFailed,
    StorageCorrupted,
    ProofUnavailable,
    NoTrustRoot,
    UntrustedHeader,
    StaleProof,
    MalformedBundle,
    HeightUnavailable,
    InvalidBatch,
    BatchTooLarge,
    UnregisteredVehicle,
    VehicleRevoked,
    WrongOem,
    ReplayedBatch,
    WrongEpoch,
    TruncatedCiphertext,
    CiphertextMismatch,
    ForeignVehicleNamespace,
    InvalidVin,
    InvalidOwnerConsent,
    VinCommitmentMismatch,
    KeyNotValidForBatch,
    Unauthenticated,
    GatewayKeyNotOem,
    CommitTimeout,
)

ERRORS_BY_CODE: dict[str, type[CarchainError]] = {cls.code: cls for cls in ALL_ERRORS}


def make_error(code: str, message: str, **fields: object) -> CarchainError:
    """Return the typed error for a stable ``code`` (``CarchainError`` if unknown)."""
    return ERRORS_BY_CODE.get(code, CarchainError)(message, **fields)
