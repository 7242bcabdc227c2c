"""Errors of proofs, the light client and evidence bundles (verification raises)."""

from carchain.errors.base import CarchainError


class ProofError(CarchainError, abstract=True):
    """A proof, header or bundle does not check out (group, not raised)."""


class InvalidProof(ProofError):
    """A Merkle or state proof does not verify."""

    code = "invalid_proof"
    abci_code = 40
    http_status = 422
    height: int | None
    index: int | None
    limit: int | None
    limit_s: int | float | None
    link: str | None
    total: int | None
    url: str | None
    value: str | None
    vehicle_id: str | None


class ProofUnavailable(ProofError):
    """A proof of this kind cannot be produced (e.g. absence of a never-written key)."""

    code = "proof_unavailable"
    abci_code = 44
    http_status = 404
    error: str | None
    field: str | None
    heights: list[int] | None


class NoTrustRoot(ProofError):
    """Verification was asked for without a trust root the node does not control."""

    code = "no_trust_root"
    abci_code = 60
    http_status = 400
    chain_id: str | None


class UntrustedHeader(InvalidProof):
    """A block header does not chain to the trust root (hash, signatures or chain id)."""

    code = "untrusted_header"
    abci_code = 61
    http_status = 422
    asked: int | None
    expected: str | None
    got: int | str | None
    header_time: int | None
    signed: int | None
    validator: bytes | str | None


class InsufficientTrust(UntrustedHeader):
    """Too little of the trusted set signed a non-adjacent header (bisect further)."""

    code = "insufficient_trust"
    abci_code = 80
    http_status = 422


class StaleProof(InvalidProof):
    """A proof is for a header older than the freshness bound."""

    code = "stale_proof"
    abci_code = 62
    http_status = 422
    age_s: int | None
    max_age_s: int | float | None


class MalformedBundle(InvalidProof):
    """A proof bundle is not well-formed JSON of the expected shape and version."""

    code = "malformed_bundle"
    abci_code = 63
    http_status = 422


class VinCommitmentMismatch(InvalidProof):
    """A (salt, VIN) pair does not open the vehicle's VIN commitment."""

    code = "vin_commitment_mismatch"
    abci_code = 74
    http_status = 422


class KeyNotValidForBatch(InvalidProof):
    """A batch was signed by a vehicle key that was not the vehicle's key during its time range."""

    code = "key_not_valid_for_batch"
    abci_code = 75
    http_status = 422
    key_version: int | None
