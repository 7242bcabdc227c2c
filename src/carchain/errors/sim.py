"""Errors of the fleet simulator (``carchain sim``): parameters it cannot simulate."""

from carchain.errors.base import CarchainError


class SimulationError(CarchainError, abstract=True):
    """The fleet simulator cannot run as asked (group, not raised)."""


class InvalidSimParameters(SimulationError):
    """A simulator parameter is out of range (``param`` names it, ``value`` is what was given)."""

    code = "invalid_sim_parameters"
    abci_code = 330
    http_status = 422
    param: str | None
    value: int | None
    minimum: int | None
    maximum: int | None
