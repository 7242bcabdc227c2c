"""Per-signer nonces: every signer's transactions apply in strict nonce order."""

from __future__ import annotations

from carchain.core.state import KVView
from carchain.errors import InvalidNonce

STORE = "accounts"


def get_nonce(view: KVView, signer: bytes) -> int:
    """Return the last nonce used by ``signer`` (0 if it never signed)."""
    raw = view.get(STORE, signer)
    return 0 if raw is None else int.from_bytes(raw, "big")


def validate_nonce(view: KVView, signer: bytes, nonce: int) -> None:
    """Raise ``InvalidNonce`` unless ``nonce`` is exactly the signer's next nonce."""
    expected = get_nonce(view, signer) + 1
    if nonce < expected:
        raise InvalidNonce("nonce already used (replay)", expected=expected, got=nonce)
    if nonce > expected:
        raise InvalidNonce("nonce skips ahead (out of order)", expected=expected, got=nonce)


def process_nonce(view: KVView, signer: bytes, nonce: int) -> None:
    """Record ``nonce`` as the signer's last used nonce."""
    view.set(STORE, signer, nonce.to_bytes(8, "big"))
