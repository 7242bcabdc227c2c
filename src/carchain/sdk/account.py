"""A signer bound to a node: tracks its nonce, builds, signs and sends."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from carchain.core.transactions import compute_tx_hash, is_valid_nonce
from carchain.crypto.signing import SigningKey
from carchain.errors import CommitTimeout, InvalidNonce, NodeUnavailable
from carchain.sdk.client import Client
from carchain.sdk.transactions import build_tx


def get_chain_id(client: Client) -> str:
    """Return the chain id the node names; ``NodeUnavailable`` if its status has none."""
    status = client.status()
    chain_id = status.get("chain_id")
    if not isinstance(chain_id, str) or not chain_id:
        raise NodeUnavailable(f"node at {client.url} answered a status without a chain id")
    return chain_id


class Account:
    """Sends transactions for one key, with consecutive nonces."""

    def __init__(self, client: Client, key: SigningKey, chain_id: str | None = None) -> None:
        self.client = client
        self.key = key
        self.chain_id = chain_id or get_chain_id(client)
        self._nonce: int | None = None

    @property
    def public_key(self) -> bytes:
        """Return the account's public key."""
        return self.key.public_key

    def next_nonce(self) -> int:
        """Return the next nonce (fetched from the node the first time)."""
        if self._nonce is None:
            self._nonce = self.client.nonce(self.key.public_key)
        self._nonce += 1
        return self._nonce

    def resync(self) -> None:
        """Forget the local nonce; the next send asks the node again."""
        self._nonce = None

    def build(self, body: msgspec.Struct) -> bytes:
        """Return a signed transaction with the next nonce."""
        return build_tx(self.chain_id, self.key, self.next_nonce(), body)

    def send(
        self, body: msgspec.Struct, mode: Literal["sync", "commit"] = "commit"
    ) -> dict[str, Any]:
        """Build, sign and submit; on a refusal, resync the nonce and re-raise.

        A commit timeout names the transaction's hash (``CommitTimeout.tx_hash``).
        A nonce refusal names the signer's next nonce (``InvalidNonce.expected``):
        the account takes it from there without asking the node again.
        """
        raw = self.build(body)
        try:
            return self.client.submit(raw, mode)
        except CommitTimeout as exc:
            # Admitted, not yet committed: name the hash so the caller can follow it.
            self.resync()
            raise CommitTimeout(exc.message, tx_hash=compute_tx_hash(raw).hex()) from exc
        except InvalidNonce as exc:
            self.resync_from(exc)
            raise
        except Exception:
            self.resync()
            raise

    def resync_from(self, exc: InvalidNonce) -> None:
        """Continue from the node's expected nonce when the refusal names one a transaction
        can carry; else (absent, zero, negative, 2**63 or more: a hostile node's answer)
        resync, so the account never signs with a nonce no honest node accepts."""
        if not is_valid_nonce(exc.expected):
            self.resync()
        else:
            self._nonce = exc.expected - 1
