"""Errors of the car agent (``carchain car``): its home, its state and its uploads."""

from carchain.errors.base import CarchainError


class CarError(CarchainError, abstract=True):
    """The car agent refuses or cannot finish a command (group, not raised)."""


class CarHomeNotFound(CarError):
    """No car home at the given folder (``carchain car init`` creates one)."""

    code = "car_home_not_found"
    abci_code = 300
    http_status = 404
    home: str | None


class CarHomeExists(CarError):
    """``car init`` found a car home already there: it never overwrites one."""

    code = "car_home_exists"
    abci_code = 301
    http_status = 409
    home: str | None


class CarLocked(CarError):
    """The car home's vehicle key does not open with this passphrase."""

    code = "car_locked"
    abci_code = 302
    http_status = 401
    home: str | None


class CarStateCorrupted(CarError):
    """The car's state file (or a stored batch) is damaged or was changed: it is left as
    it is, nothing is overwritten or deleted, and the command stops."""

    code = "car_state_corrupted"
    abci_code = 303
    http_status = 422
    path: str | None


class GatewayUnreachable(CarError):
    """The gateway did not take a batch after every retry (connection refused, 5xx, 429)."""

    code = "gateway_unreachable"
    abci_code = 304
    http_status = 503
    attempts: int | None
    gateway: str | None
    reason: str | None


class CarUploadRefused(CarError):
    """The gateway refused a batch for good (a 4xx): not retried, the batch stays pending."""

    code = "car_upload_refused"
    abci_code = 305
    http_status = 422
    reason: str | None
    epoch: int | None
    seq: int | None


class CarNotRegistered(CarError):
    """The car's vehicle id is not registered on chain (the OEM registers its key first)."""

    code = "car_not_registered"
    abci_code = 306
    http_status = 404
    vehicle_id: str | None


class CarKeyMismatch(CarError):
    """The chain holds another key for this vehicle than the car home's (or another OEM
    than the gateway's): its batches would be refused."""

    code = "car_key_mismatch"
    abci_code = 307
    http_status = 409
    vehicle_id: str | None


class InvalidCarConfig(CarError):
    """A ``car`` option or the home's ``car.json`` is invalid (vehicle id, URL, key)."""

    code = "invalid_car_config"
    abci_code = 308
    http_status = 400
    option: str | None


class CarHomeBusy(CarError):
    """Another ``carchain car`` process has this car home open: two at once could hand
    out one batch seq twice."""

    code = "car_home_busy"
    abci_code = 309
    http_status = 409
    home: str | None
