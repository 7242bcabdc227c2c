"""Errors of a node's setup and storage: genesis, configuration, home, localnet."""

from carchain.errors.base import CarchainError


class NodeError(CarchainError, abstract=True):
    """A node cannot start or go on as configured (group, not raised)."""


class InvalidGenesis(NodeError):
    """The genesis document is not acceptable."""

    code = "invalid_genesis"
    abci_code = 41
    http_status = 422
    app: str | None
    comet: str | None


class ConfigError(InvalidGenesis):
    """The node configuration is not acceptable."""

    code = "invalid_config"
    abci_code = 65
    http_status = 500
    address: str | None
    host: str | None
    missing: str | None
    mode: str | None
    path: str | None
    state_versions: object
    uid: int | None


class HomeLocked(ConfigError):
    """Another process holds the home's lock: two nodes on one state would fork it."""

    code = "home_locked"
    abci_code = 66
    http_status = 500


class GatewayConfigError(InvalidGenesis):
    """The gateway configuration is not acceptable."""

    code = "invalid_gateway_config"
    abci_code = 67
    http_status = 500
    path: str | None
    endpoint: str | None
    bucket: str | None
    prefix: str | None
    region: str | None
    versioning: str | None


class GatewayNotConfigured(NodeError):
    """No gateway is configured for the OEM whose vehicle data is needed (custodian
    service, officer fetch), or two are for one OEM."""

    code = "gateway_not_configured"
    abci_code = 190
    http_status = 500
    oem: str | None


class StorageCorrupted(NodeError):
    """Stored data does not match its commitment; the node refuses to go on."""

    code = "storage_corrupted"
    abci_code = 43
    http_status = 500
    app: bytes | str | None
    blocks: int | None
    comet: bytes | str | None
    digest: bytes | str | None
    height: int | None
    idx: int | None
    level: int | None
    state: int | None
    store: str | None


class StorageUnavailable(NodeError):
    """The blob store's backend (an S3-compatible object store) did not do what was asked:
    unreachable, refused the credentials, or failed; nothing is assumed stored."""

    code = "storage_unavailable"
    abci_code = 59
    http_status = 503
    operation: str | None
    reason: str | None
    status: int | None
    bucket: str | None
    endpoint: str | None


class NetworkError(NodeError):
    """The localnet cannot do what was asked (not created, already running, ...)."""

    code = "network_error"
    abci_code = 47
    http_status = 500
    abci_transport: str | None
    home: str | None
    node: str | None
    pid_file: str | None
    port: int | None
    validators: int | None


class ProtosMissing(NodeError):
    """The generated ABCI protobuf modules are not there; run the network setup."""

    code = "protos_missing"
    abci_code = 46
    http_status = 500
    folder: str | None


class NotReady(NodeError):
    """The node or gateway is alive but cannot serve yet: not caught up, or its consensus
    (the block loop, CometBFT, or for a gateway its node) is unreachable."""

    code = "not_ready"
    abci_code = 290
    http_status = 503
    reason: str | None
    height: int | None
    consensus_height: int | None
