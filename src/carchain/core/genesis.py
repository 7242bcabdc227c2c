"""The genesis document: chain id, founding members and governance rules."""

from __future__ import annotations

import msgspec

from carchain.core import cases, erasure, escrow_committee, members
from carchain.core.case_records import MAX_NOTICE_DELAY_MS_DEFAULT
from carchain.core.escrow_committee import SetEscrowCommittee
from carchain.core.governance import GovernanceParams, validate_params
from carchain.core.state import KVView, put_record
from carchain.core.transactions import MAX_CHAIN_ID_LENGTH
from carchain.core.types import ValidatorUpdate
from carchain.errors import CarchainError, InvalidGenesis


class GenesisMember(msgspec.Struct, frozen=True):
    """A founding member; keys are hex in the JSON file."""

    member_id: str
    name: str
    roles: list[str]
    public_key: str
    validator_key: str = ""
    power: int = 0
    # Hex Ed25519 public key the member's escrow shares are sealed to ("": none yet).
    escrow_key: str = ""


class Genesis(msgspec.Struct, frozen=True):
    """The genesis document as stored in ``genesis.json``."""

    chain_id: str
    genesis_time_ms: int
    governance: GovernanceParams
    members: list[GenesisMember]
    # Chain parameter: working days an OEM has to complete an erasure (GB/T 41871: 10).
    erasure_working_days: int = erasure.DEFAULT_WORKING_DAYS
    # Chain parameter: the longest notification delay a court may set for a case.
    max_notice_delay_ms: int = MAX_NOTICE_DELAY_MS_DEFAULT
    # The founding escrow committee, in force from epoch 0 (later ones: governance).
    escrow_committee: SetEscrowCommittee | None = None


def decode_genesis(raw: bytes) -> Genesis:
    """Parse ``genesis.json``; raise ``InvalidGenesis`` on any defect."""
    try:
        return msgspec.json.decode(raw, type=Genesis)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidGenesis(f"cannot parse genesis: {exc}") from exc


def encode_genesis(genesis: Genesis) -> bytes:
    """Return ``genesis.json`` bytes, pretty-printed."""
    return msgspec.json.format(msgspec.json.encode(genesis), indent=2)


def _hex32(value: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise InvalidGenesis(f"{what} is not hex") from exc
    if len(raw) != 32:
        raise InvalidGenesis(f"{what} must be 32 bytes")
    return raw


def apply_genesis(view: KVView, genesis: Genesis) -> list[ValidatorUpdate]:
    """Write the initial state; return the initial validator set."""
    if not genesis.chain_id or len(genesis.chain_id) > MAX_CHAIN_ID_LENGTH:
        raise InvalidGenesis("chain id must be 1-50 characters")
    if not genesis.members:
        raise InvalidGenesis("genesis needs at least one member")
    try:
        validate_params(genesis.governance)
    except CarchainError as exc:
        raise InvalidGenesis(exc.message) from exc
    put_record(view, "params", b"governance", genesis.governance)
    _apply_erasure_working_days(view, genesis.erasure_working_days)
    _apply_max_notice_delay(view, genesis.max_notice_delay_ms)
    validators: list[ValidatorUpdate] = []
    for gm in genesis.members:
        key = _hex32(gm.public_key, f"public key of {gm.member_id}")
        vkey = (
            _hex32(gm.validator_key, f"validator key of {gm.member_id}")
            if gm.validator_key
            else b""
        )
        try:
            members.process_add_member(
                view, 0, gm.member_id, gm.name, gm.roles, key, vkey, gm.power
            )
        except CarchainError as exc:
            raise InvalidGenesis(f"member {gm.member_id!r}: {exc.message}") from exc
        if gm.power:
            validators.append(ValidatorUpdate(vkey, gm.power))
    _apply_escrow(view, genesis)
    return validators


def _apply_escrow(view: KVView, genesis: Genesis) -> None:
    for gm in genesis.members:
        if gm.escrow_key:
            key = _hex32(gm.escrow_key, f"escrow key of {gm.member_id}")
            try:
                escrow_committee.process_put_escrow_key(view, gm.member_id, key)
            except CarchainError as exc:
                raise InvalidGenesis(f"member {gm.member_id!r}: {exc.message}") from exc
    if genesis.escrow_committee is not None:
        try:
            escrow_committee.process_genesis_committee(view, genesis.escrow_committee)
        except CarchainError as exc:
            raise InvalidGenesis(f"escrow committee: {exc.message}") from exc


def _apply_erasure_working_days(view: KVView, days: int) -> None:
    if not 1 <= days <= erasure.MAX_WORKING_DAYS:
        raise InvalidGenesis(f"erasure_working_days must be 1-{erasure.MAX_WORKING_DAYS}")
    # The default is not stored (chains from before the parameter keep their state).
    if days != erasure.DEFAULT_WORKING_DAYS:
        view.set("params", erasure.PARAM_KEY, days.to_bytes(8, "big"))


def _apply_max_notice_delay(view: KVView, delay_ms: int) -> None:
    if not 0 <= delay_ms <= cases.MAX_NOTICE_DELAY_CAP_MS:
        raise InvalidGenesis(f"max_notice_delay_ms must be 0-{cases.MAX_NOTICE_DELAY_CAP_MS}")
    # As erasure_working_days: the default is not stored (older chains keep their state).
    if delay_ms != MAX_NOTICE_DELAY_MS_DEFAULT:
        view.set("params", cases.PARAM_MAX_NOTICE_DELAY, delay_ms.to_bytes(8, "big"))


def compute_genesis_validators(genesis: Genesis) -> list[ValidatorUpdate]:
    """Return the initial validator set named by ``genesis`` (members with power)."""
    return [
        ValidatorUpdate(_hex32(m.validator_key, f"validator key of {m.member_id}"), m.power)
        for m in genesis.members
        if m.power
    ]
