"""Errors of the command line's own checks: local files, terminal, ports and the
user's input, each reported as one line naming what is wrong and what to do."""

from carchain.errors.base import CarchainError


class CliError(CarchainError, abstract=True):
    """A check the ``carchain`` command makes before or after talking to a node (group)."""


class KeyringMissing(CliError):
    """The keyring folder does not exist."""

    code = "keyring_missing"
    abci_code = 310
    http_status = 400
    keyring: str | None


class KeyMissing(CliError):
    """No key of that name in the keyring."""

    code = "key_missing"
    abci_code = 311
    http_status = 400
    key: str | None
    keyring: str | None


class PassphraseRequired(CliError):
    """No passphrase in ``$CARCHAIN_PASSPHRASE`` and no terminal to ask for one."""

    code = "passphrase_required"
    abci_code = 312
    http_status = 400


class PassphraseTooShort(CliError):
    """A new key's passphrase is shorter than the keystore's minimum."""

    code = "passphrase_too_short"
    abci_code = 313
    http_status = 400
    minimum: int | None


class PortInUse(CliError):
    """The loopback port a server should listen on is taken by another process."""

    code = "port_in_use"
    abci_code = 314
    http_status = 409
    port: int | None


class TxPending(CliError):
    """A transaction was admitted but not committed in time; it may still commit."""

    code = "tx_pending"
    abci_code = 315
    http_status = 202
    tx_hash: str | None


class QuorumLost(CliError):
    """Fewer validators than a commit needs are running: no block can be made."""

    code = "quorum_lost"
    abci_code = 316
    http_status = 503
    up: int | None
    needed: int | None


class UnknownRole(CliError):
    """A role name that is not one of the consortium's roles."""

    code = "unknown_role"
    abci_code = 317
    http_status = 400
    role: str | None


class InvalidPublicKeyArg(CliError):
    """An option that takes a public key got neither 32 bytes of hex nor a key name."""

    code = "invalid_public_key"
    abci_code = 318
    http_status = 400
    option: str | None


class InvalidOption(CliError):
    """A command's option or argument cannot be used as given (a missing companion
    option, an output path that is taken, a file that cannot be written)."""

    code = "invalid_option"
    abci_code = 319
    http_status = 400
    option: str | None
