"""Errors of the wires between processes: the ABCI socket, CometBFT's RPC, the REST API."""

from carchain.errors.base import CarchainError


class TransportError(CarchainError, abstract=True):
    """A peer broke a protocol or did not answer (group, not raised)."""


class AbciProtocolError(TransportError):
    """A peer broke the ABCI socket protocol (bad length prefix, undecodable message)."""

    code = "abci_protocol"
    abci_code = 45
    http_status = 502
    size: int | None


class AbciSequenceError(AbciProtocolError):
    """A consensus request came out of order (Commit without FinalizeBlock, a height
    that is not the next one): refused on its connection, never executed."""

    code = "abci_out_of_order"
    abci_code = 49
    http_status = 502
    expected: int | None
    finalized: int | None
    height: int | None


class AbciConnectionRefused(AbciProtocolError):
    """A connection or request does not fit CometBFT's four connections."""

    code = "abci_connection_refused"
    abci_code = 68
    http_status = 502
    limit: int | None
    request: str | None
    uid: int | None


class ConsensusUnavailable(TransportError):
    """The node's CometBFT did not answer (stopped, starting, or overloaded)."""

    code = "consensus_unavailable"
    abci_code = 48
    http_status = 503


class NodeUnavailable(TransportError):
    """The node did not answer."""

    code = "node_unavailable"
    abci_code = 69
    http_status = 503


class IndexUnavailable(TransportError):
    """The audit index (PostgreSQL) did not answer, refused the connection or the DSN,
    or is not configured for this API."""

    code = "index_unavailable"
    abci_code = 341
    http_status = 503
    reason: str | None


class ApiError(TransportError):
    """A request the API itself refuses (bad path parameter, bad encoding)."""

    code = "bad_request"
    abci_code = 70
    http_status = 400
