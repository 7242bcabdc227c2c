"""Identifiers, block context and results shared by every core module."""

from __future__ import annotations

from typing import Any, NewType

import msgspec

MemberId = NewType("MemberId", str)
VehicleId = NewType("VehicleId", str)
PublicKey = NewType("PublicKey", bytes)
TxHash = NewType("TxHash", bytes)


class BlockContext(msgspec.Struct, frozen=True):
    """Everything about the block that the state machine may depend on."""

    chain_id: str
    height: int
    time_ms: int
    proposer: bytes
    # Ed25519 keys of the validators that signed the previous block (CometBFT's
    # decided last commit); empty when unknown (solo engine, first blocks).
    signers: tuple[bytes, ...] = ()


class Event(msgspec.Struct, frozen=True):
    """A typed event with string attributes, as ABCI events are."""

    type: str
    attributes: dict[str, str]


class ValidatorUpdate(msgspec.Struct, frozen=True):
    """A change to the validator set: power 0 removes the validator."""

    pub_key: bytes
    power: int


class TxResult(msgspec.Struct, frozen=True):
    """The outcome of one transaction in a block."""

    code: int
    error_code: str
    log: str
    events: list[Event]
    # The failed transaction's typed error fields, as JSON values (not in the results hash).
    fields: dict[str, Any] = msgspec.field(default_factory=dict)


class BlockResult(msgspec.Struct, frozen=True):
    """The outcome of one block: per-transaction results and validator changes."""

    tx_results: list[TxResult]
    events: list[Event]
    validator_updates: list[ValidatorUpdate]


OK_RESULT_CODE = 0
