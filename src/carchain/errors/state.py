"""Errors of the state rules: what the state machine refuses given current state."""

from carchain.errors.base import CarchainError


class StateError(CarchainError, abstract=True):
    """A transaction or read conflicts with the state it meets (group, not raised)."""


class NotFound(StateError):
    """A referenced entity does not exist."""

    code = "not_found"
    abci_code = 20
    http_status = 404
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
