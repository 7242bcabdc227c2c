"""Applying transactions and blocks: the table of contents of the state machine.

A transaction passes two gates. The stateless gate (decode, version, chain id,
known type, signature) depends only on the bytes, so engines may cache its
result by transaction hash. The stateful gate (nonce, then the type's own
rules) runs against state. A transaction that passes authentication but fails
its own rules is still included: its nonce is consumed, its writes are dropped,
and its result carries the error code.
"""

from __future__ import annotations

from carchain.core import accounts
from carchain.core.effects import Effects
from carchain.core.exceptions import CarchainError, UnknownTransactionType
from carchain.core.registry import TX_TYPES
from carchain.core.state import KVView, WriteBuffer
from carchain.core.transactions import (
    Envelope,
    compute_envelope_signing_bytes,
    decode_body,
    decode_envelope,
    validate_chain_id,
)
from carchain.core.types import (
    OK_RESULT_CODE,
    BlockContext,
    BlockResult,
    Event,
    TxResult,
    ValidatorUpdate,
)
from carchain.crypto.signing import verify_signature


def validate_stateless(raw: bytes, chain_id: str) -> Envelope:
    """Return the envelope if its bytes alone are acceptable; raise a typed error if not."""
    env = decode_envelope(raw)
    validate_chain_id(env, chain_id)
    if env.type not in TX_TYPES:
        raise UnknownTransactionType("unknown transaction type", type=env.type[:64])
    verify_signature(env.signer, compute_envelope_signing_bytes(env), env.signature)
    return env


def validate_authentication(view: KVView, env: Envelope) -> None:
    """Raise ``InvalidNonce`` unless ``env`` carries the signer's next nonce."""
    accounts.validate_nonce(view, env.signer, env.nonce)


def validate_admission(view: KVView, env: Envelope) -> None:
    """Raise unless the signer may send this type at all, with its next nonce.

    This is all the mempool checks against state; the type's full rules run in
    ``process_transaction``.
    """
    accounts.validate_nonce(view, env.signer, env.nonce)
    TX_TYPES[env.type].admit(view, env.signer)


def process_admission(view: KVView, env: Envelope) -> None:
    """Record an admitted transaction's nonce in the mempool's check state."""
    accounts.process_nonce(view, env.signer, env.nonce)


def process_transaction(
    view: KVView, ctx: BlockContext, env: Envelope
) -> tuple[TxResult, list[ValidatorUpdate]]:
    """Apply an authenticated envelope; return its result and validator changes.

    The caller must have run ``validate_stateless`` and ``validate_authentication``.
    Never raises ``CarchainError``: rule violations become a failed result.
    """
    accounts.process_nonce(view, env.signer, env.nonce)
    tx_type = TX_TYPES[env.type]
    scope = WriteBuffer(view)
    fx = Effects()
    try:
        body = decode_body(env.body, tx_type.body)
        tx_type.process(scope, ctx, env.signer, body, fx)
    except CarchainError as exc:
        return TxResult(exc.abci_code, exc.code, exc.message, []), []
    scope.flush()
    events = [Event("tx", {"type": env.type, "signer": env.signer.hex()}), *fx.events]
    return TxResult(OK_RESULT_CODE, "", "", events), fx.validator_updates


def process_block(view: KVView, ctx: BlockContext, envelopes: list[Envelope]) -> BlockResult:
    """Apply a block of stateless-valid envelopes in order."""
    results: list[TxResult] = []
    updates: list[ValidatorUpdate] = []
    for env in envelopes:
        try:
            validate_authentication(view, env)
        except CarchainError as exc:
            results.append(TxResult(exc.abci_code, exc.code, exc.message, []))
            continue
        result, tx_updates = process_transaction(view, ctx, env)
        results.append(result)
        updates.extend(tx_updates)
    return BlockResult(results, [], updates)
