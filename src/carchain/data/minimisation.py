"""Minimisation in the car: drop, coarsen or pseudonymise fields by category.

A policy maps categories to rules; a category without a rule is dropped, so
the default policy collects nothing. A record left with nothing but its time
is not sent at all. Policies run in the vehicle SDK before anything is batched:
what a policy drops never exists outside the car.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec

from carchain.data.categories import DataCategory
from carchain.data.records import Record
from carchain.errors import InvalidBody

PSEUDONYM_BYTES = 16


_Plan = list[tuple[str, DataCategory, "Rule"]]


class Action(StrEnum):
    """What a policy does with the fields of one category."""

    COLLECT = "collect"
    COARSEN = "coarsen"
    PSEUDONYMISE = "pseudonymise"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Rule:
    """One category's treatment. ``step`` is the coarsening grid (degrees, ms, units)."""

    action: Action
    step: float = 0.0


@dataclass(frozen=True)
class MinimisationPolicy:
    """Rules by category; anything without a rule is dropped."""

    name: str
    rules: Mapping[DataCategory, Rule] = field(default_factory=dict)
    _plans: dict[type, _Plan] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for cat, rule in self.rules.items():
            if rule.action == Action.COARSEN and not (rule.step > 0 and math.isfinite(rule.step)):
                raise InvalidBody("coarsening needs a positive step", category=cat.value)

    def get_rule(self, category: DataCategory) -> Rule:
        """Return the rule for ``category`` (drop when the policy names none)."""
        return self.rules.get(category, _DROP)


_DROP = Rule(Action.DROP)

DEFAULT_POLICY = MinimisationPolicy("collect-nothing")
"""The default: no category is asked for, so nothing is collected."""

FLEET_TELEMATICS_POLICY = MinimisationPolicy(
    "fleet-telematics",
    {
        DataCategory.TIME: Rule(Action.COARSEN, 1000),
        DataCategory.LOCATION: Rule(Action.COARSEN, 0.001),
        DataCategory.MOTION: Rule(Action.COLLECT),
        DataCategory.VEHICLE_CONTROL: Rule(Action.COLLECT),
        DataCategory.OCCUPANT: Rule(Action.COLLECT),
        DataCategory.CRASH_PULSE: Rule(Action.COLLECT),
        DataCategory.VEHICLE_STATUS: Rule(Action.COLLECT),
        DataCategory.DIAGNOSTICS: Rule(Action.COLLECT),
        DataCategory.V2X_PEER: Rule(Action.PSEUDONYMISE),
        DataCategory.V2X_MESSAGE: Rule(Action.COLLECT),
    },
)
"""An example OEM policy: positions to ~100 m, times to 1 s, V2X peers pseudonymised,
no audio/video or biometrics."""


def compute_pseudonym(key: bytes, value: str | bytes) -> str:
    """Return a keyed pseudonym (HMAC-SHA256, 16 bytes, hex) of an identifier."""
    raw = value.encode() if isinstance(value, str) else value
    return hmac.new(key, raw, hashlib.sha256).digest()[:PSEUDONYM_BYTES].hex()


def _coarsen(value: Any, step: float, category: DataCategory) -> Any:
    if isinstance(value, list):
        return [_coarsen(v, step, category) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidBody("only numbers can be coarsened", category=category.value)
    if category == DataCategory.TIME:
        s = max(1, int(step))
        return int(value) // s * s
    if isinstance(value, int):
        return int(round(value / step) * step)
    # round() to the grid, then to the grid's decimals so 0.001-steps stay short.
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return round(round(value / step) * step, decimals)


def _apply_rule(value: Any, rule: Rule, category: DataCategory, pseudonym_key: bytes) -> Any:
    if value is None or rule.action == Action.COLLECT:
        return value
    if rule.action == Action.DROP:
        return None
    if rule.action == Action.COARSEN:
        return _coarsen(value, rule.step, category)
    if isinstance(value, (str, bytes)):
        return compute_pseudonym(pseudonym_key, value)
    raise InvalidBody("only identifiers can be pseudonymised", category=category.value)


def _compile(policy: MinimisationPolicy, rtype: type[Record]) -> _Plan:
    plan = policy._plans.get(rtype)
    if plan is None:
        plan = [
            (name, category, policy.get_rule(category))
            for name, category in rtype.CATEGORIES.items()
        ]
        policy._plans[rtype] = plan
    return plan


def apply_policy(record: Record, policy: MinimisationPolicy, pseudonym_key: bytes) -> Record | None:
    """Return the minimised record, or ``None`` when nothing but its time would remain."""
    changes: dict[str, Any] = {}
    kept = False
    for name, category, rule in _compile(policy, type(record)):
        value = getattr(record, name)
        if value is None:
            continue
        if rule.action != Action.COLLECT:
            value = _apply_rule(value, rule, category, pseudonym_key)
            changes[name] = value
        if value is not None and category != DataCategory.TIME:
            kept = True
    if not kept:
        return None
    return msgspec.structs.replace(record, **changes) if changes else record


def compute_time_precision_ms(policy: MinimisationPolicy) -> int:
    """Return the finest time step the policy lets out of the car, in ms.

    Collected: 1 ms; coarsened: its step (at least 1 ms); dropped: a whole epoch
    (a batch must still say which day it belongs to).
    """
    rule = policy.get_rule(DataCategory.TIME)
    if rule.action == Action.COLLECT:
        return 1
    if rule.action == Action.COARSEN:
        return max(1, int(rule.step))
    return _EPOCH_MS


def compute_coarse_time(policy: MinimisationPolicy, time_ms: int) -> int:
    """Return ``time_ms`` floored to the policy's time precision (never before its day)."""
    step = compute_time_precision_ms(policy)
    day_start = time_ms // _EPOCH_MS * _EPOCH_MS
    return max(day_start, time_ms // step * step)


_EPOCH_MS = 86_400_000
