"""Applying transactions and blocks: the table of contents of the state machine.

A transaction passes three gates. The stateless gate (decode, version, chain id,
known type, signature) depends only on the bytes, so engines may cache its
result by transaction hash. Admission (the signer's next nonce, and may this
signer send this type at all) runs against state; a transaction that fails it
writes nothing, not even a nonce, so a signer who is not admitted costs the
chain no state. The type's own rules run last: a transaction that is admitted
but fails them is still included: its nonce is consumed, its writes are
dropped, and its result carries the error code.
"""

from __future__ import annotations

from collections.abc import Sequence

from carchain.core import accounts, case_notice, erasure, members, validators
from carchain.core.effects import Effects
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
from carchain.errors import CarchainError, UnknownTransactionType


def validate_stateless(raw: bytes, chain_id: str) -> Envelope:
    """Return the envelope if its bytes alone are acceptable; raise a typed error if not."""
    env = validate_envelope_form(raw, chain_id)
    verify_signature(env.signer, compute_envelope_signing_bytes(env), env.signature)
    return env


def validate_envelope_form(raw: bytes, chain_id: str) -> Envelope:
    """Return the decoded envelope if it is of this chain and a known type (every
    stateless check but the signature's); raise a typed error if not."""
    env = decode_envelope(raw)
    validate_chain_id(env, chain_id)
    if env.type not in TX_TYPES:
        raise UnknownTransactionType("unknown transaction type", type=env.type[:64])
    return env


def validate_admission(view: KVView, env: Envelope) -> None:
    """Raise unless the signer may send this type at all, with its next nonce.

    This is all the mempool checks against state; the type's full rules run in
    ``process_transaction``. The body is decoded here so that a rule may name
    the body's subject (an owner may sign only about their own vehicle); a body
    that does not decode fails admission and costs the chain nothing.
    """
    accounts.validate_nonce(view, env.signer, env.nonce)
    tx_type = TX_TYPES[env.type]
    tx_type.admit(view, env.signer, decode_body(env.body, tx_type.body))


def process_admission(view: KVView, env: Envelope) -> None:
    """Record an admitted transaction's nonce in a check state or a scratch view."""
    accounts.process_nonce(view, env.signer, env.nonce)


def process_transaction(
    view: KVView, ctx: BlockContext, env: Envelope
) -> tuple[TxResult, list[ValidatorUpdate]]:
    """Apply an admitted envelope; return its result and validator changes.

    The caller must have run ``validate_stateless`` and ``validate_admission``.
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
        return compute_failed_result(exc), []
    scope.flush()
    events = [Event("tx", {"type": env.type, "signer": env.signer.hex()}), *fx.events]
    return TxResult(OK_RESULT_CODE, "", "", events), fx.validator_updates


def compute_failed_result(exc: CarchainError) -> TxResult:
    """Return the result of a transaction that failed with ``exc``."""
    return TxResult(exc.abci_code, exc.code, exc.message, [], exc.to_json_fields())


def process_block(
    view: KVView, ctx: BlockContext, envelopes: Sequence[Envelope | CarchainError]
) -> BlockResult:
    """Apply a block: its transactions in order, then the end-of-block steps; return
    the results and the merged validator updates.

    Each item is a stateless-valid envelope or the error its bytes failed with
    (a decided block may hold such a transaction: it gets a failed result). An
    envelope that fails admission gets a failed result and writes nothing.
    Raises ``LivenessViolation`` only if the block's validator updates break
    CometBFT's rules, which the governance rules exclude: returning them would
    halt every node, so the node stops here with the reason instead.
    """
    scope = WriteBuffer(view)
    results, updates = process_block_transactions(scope, ctx, envelopes)
    process_end_of_block(scope, ctx)
    # ``view`` still holds the state at the start of the block: CometBFT's set.
    merged = compute_block_validator_updates(view, updates)
    scope.flush()
    return BlockResult(results, [], merged)


def process_block_transactions(
    view: KVView, ctx: BlockContext, envelopes: Sequence[Envelope | CarchainError]
) -> tuple[list[TxResult], list[ValidatorUpdate]]:
    """Apply a block's transactions in order; return their results and validator updates."""
    results: list[TxResult] = []
    updates: list[ValidatorUpdate] = []
    for item in envelopes:
        if isinstance(item, CarchainError):
            results.append(compute_failed_result(item))
            continue
        failure = _find_admission_error(view, item)
        if failure is not None:
            results.append(compute_failed_result(failure))
            continue
        result, tx_updates = process_transaction(view, ctx, item)
        results.append(result)
        updates.extend(tx_updates)
    return results, updates


def process_end_of_block(view: KVView, ctx: BlockContext) -> None:
    """Run the steps the chain owes at every block, after its transactions: erasure
    requests past their deadline become overdue; lawful-access notices that fell due
    are written to the owners' logs."""
    erasure.process_overdue_erasures(view, ctx)
    case_notice.process_due_notices(view, ctx)


def _find_admission_error(view: KVView, env: Envelope) -> CarchainError | None:
    try:
        validate_admission(view, env)
    except CarchainError as exc:
        return exc
    return None


def compute_block_validator_updates(
    start: KVView, updates: Sequence[ValidatorUpdate]
) -> list[ValidatorUpdate]:
    """Return a block's validator updates merged per key and checked against CometBFT's rules.

    ``start`` is the state at the start of the block, whose validator set is
    the one CometBFT applies the updates to.
    """
    if not updates:
        return []
    before = {u.pub_key: members.get_validator_power(start, u.pub_key) for u in updates}
    merged = validators.compute_merged_updates(updates, before)
    validators.validate_validator_updates(merged, before, members.get_total_validator_power(start))
    return merged
