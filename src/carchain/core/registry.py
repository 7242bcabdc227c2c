"""The table of transaction types: name -> body struct and transition function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from carchain.core import governance, vehicles
from carchain.core.effects import Effects
from carchain.core.state import KVView
from carchain.core.types import BlockContext

Process = Callable[[KVView, BlockContext, bytes, Any, Effects], None]


@dataclass(frozen=True, slots=True)
class TxType:
    """A transaction type: its wire name, body struct and transition."""

    name: str
    body: type[msgspec.Struct]
    process: Process


def _table(*types: TxType) -> dict[str, TxType]:
    return {t.name: t for t in types}


TX_TYPES: dict[str, TxType] = _table(
    TxType("governance.propose", governance.Propose, governance.process_propose),
    TxType("governance.vote", governance.Vote, governance.process_vote),
    TxType("vehicle.register", vehicles.RegisterVehicle, vehicles.process_register),
    TxType("vehicle.transfer", vehicles.TransferVehicle, vehicles.process_transfer),
    TxType("vehicle.rotate_key", vehicles.RotateVehicleKey, vehicles.process_rotate_key),
    TxType("vehicle.revoke", vehicles.RevokeVehicle, vehicles.process_revoke),
)
