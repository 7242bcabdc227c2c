"""Errors of the vehicle data plane (off chain): batches, ciphertext, the gateway's edges."""

from carchain.errors.base import CarchainError


class DataPlaneError(CarchainError, abstract=True):
    """A data batch or a gateway request is refused (group, not raised)."""


class InvalidBatch(DataPlaneError):
    """A data batch or its header is malformed or inconsistent."""

    code = "invalid_batch"
    abci_code = 50
    http_status = 400
    count: int | None
    key_since_ms: int | None
    key_version: int | None
    size: int | None
    transfer_ms: int | None
    vehicle_id: str | None
    version: int | None


class BatchTooLarge(DataPlaneError):
    """A data batch exceeds the gateway's size limits."""

    code = "batch_too_large"
    abci_code = 51
    http_status = 413
    count: int | None
    size: int | None


class UnregisteredVehicle(DataPlaneError):
    """A batch names a vehicle the chain does not know."""

    code = "unregistered_vehicle"
    abci_code = 52
    http_status = 403
    vehicle_id: str | None


class VehicleRevoked(DataPlaneError):
    """A batch comes from a revoked vehicle."""

    code = "vehicle_revoked"
    abci_code = 53
    http_status = 403
    vehicle_id: str | None


class WrongOem(DataPlaneError):
    """A batch reached the gateway of an OEM that did not register the vehicle."""

    code = "wrong_oem"
    abci_code = 54
    http_status = 403
    vehicle_id: str | None


class ReplayedBatch(DataPlaneError):
    """A batch with this vehicle, epoch and sequence number was already accepted."""

    code = "replayed_batch"
    abci_code = 55
    http_status = 409
    epoch: int | None
    seq: int | None
    vehicle_id: str | None


class WrongEpoch(DataPlaneError):
    """A batch's epoch does not match its time range or is outside the accepted window."""

    code = "wrong_epoch"
    abci_code = 56
    http_status = 422
    end_ms: int | None
    epoch: int | None


class TruncatedCiphertext(DataPlaneError):
    """A batch's ciphertext is shorter than its signed header says."""

    code = "truncated_ciphertext"
    abci_code = 57
    http_status = 400
    expected: int | None
    size: int | None


class CiphertextMismatch(DataPlaneError):
    """A batch's ciphertext does not hash to the value in its signed header."""

    code = "ciphertext_mismatch"
    abci_code = 58
    http_status = 400
    size: int | None


class DecryptionFailed(DataPlaneError):
    """Decryption failed. Deliberately says nothing more."""

    code = "decryption_failed"
    abci_code = 42
    http_status = 400


class Unauthenticated(DataPlaneError):
    """A request is not signed, wrongly signed, stale or replayed (HTTP 401)."""

    code = "unauthenticated"
    abci_code = 76
    http_status = 401


class GatewayKeyNotOem(DataPlaneError):
    """A gateway's key is not the member key of the active OEM it is set up for."""

    code = "gateway_key_not_oem"
    abci_code = 77
    http_status = 403


class InvalidKeyEnvelope(InvalidBatch):
    """A category key envelope is malformed, or sealed to the wrong parties."""

    code = "invalid_key_envelope"
    abci_code = 150
    http_status = 400
    category: str | None


class InvalidReleasePackage(DataPlaneError):
    """A release package is malformed or holds items that do not belong to it."""

    code = "invalid_release_package"
    abci_code = 151
    http_status = 400
    size: int | None


class EscrowMismatch(InvalidKeyEnvelope):
    """A key envelope's escrow shares are not exactly the escrow committee's seats for its
    epoch and category (holders, indices, count, committee version), or it escrows a
    category the committee does not."""

    code = "escrow_mismatch"
    abci_code = 245
    http_status = 400
    committee_version: int | None
    index: int | None


class InvalidSecretShares(DataPlaneError):
    """Secret-sharing input is malformed: threshold or share count out of range, a share
    of the wrong size, or an index out of range or given twice."""

    code = "invalid_secret_shares"
    abci_code = 246
    http_status = 400
    count: int | None
    index: int | None
    threshold: int | None


class KeyCheckMismatch(DataPlaneError):
    """Combined escrow shares do not give the envelope's category key (too few shares,
    or shares of another key): nothing is decrypted."""

    code = "key_check_mismatch"
    abci_code = 247
    http_status = 400
    category: str | None
    count: int | None


class V2xDecodeError(DataPlaneError):
    """V2X bytes (CAM, DENM, IEEE 1609.2 C-OER) are truncated, garbage or oversized."""

    code = "v2x_decode_error"
    abci_code = 238
    http_status = 400
    kind: str | None
    size: int | None


class V2xRejected(DataPlaneError):
    """A V2X receiver refuses a signed message; ``reason`` says which check failed."""

    code = "v2x_rejected"
    abci_code = 239
    http_status = 422
    reason: str | None
    hashed_id8: str | None


class EvidenceHashMismatch(DataPlaneError):
    """A misbehaviour report's opened evidence does not hash to its ``evidence_hash``."""

    code = "evidence_hash_mismatch"
    abci_code = 271
    http_status = 422
    report_seq: int | None


class LeaseLost(DataPlaneError):
    """A gateway instance wrote anchoring state under a lease it no longer holds (another
    instance of the same OEM took it): the write is refused, the instance stands by."""

    code = "lease_lost"
    abci_code = 331
    http_status = 503
    holder: str | None
    epoch: int | None
