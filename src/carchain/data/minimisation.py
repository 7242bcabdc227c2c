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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec

from carchain.data.categories import DataCategory
from carchain.data.records import Record
from carchain.errors import InvalidBody

PSEUDONYM_BYTES = 16


_FieldRule = Callable[[Any, bytes], Any]
_Plan = list[tuple[str, str, bool, _FieldRule | None]]


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


def _make_coarsener(step: float, category: DataCategory) -> _FieldRule:
    """Return the function that coarsens one field of ``category`` to ``step`` (numbers,
    or lists of numbers), its grid worked out once rather than per value."""
    if category == DataCategory.TIME:
        s = max(1, int(step))

        def scalar(value: int | float) -> int | float:
            return int(value) // s * s
    else:
        # round() to the grid, then to the grid's decimals so 0.001-steps stay short.
        decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0

        def scalar(value: int | float) -> int | float:
            if isinstance(value, int):
                return int(round(value / step) * step)
            return round(round(value / step) * step, decimals)

    def coarsen(value: Any, pseudonym_key: bytes) -> Any:
        if isinstance(value, list):
            return [coarsen(v, pseudonym_key) for v in value]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidBody("only numbers can be coarsened", category=category.value)
        return scalar(value)

    return coarsen


def _drop(value: Any, pseudonym_key: bytes) -> Any:
    return None


def _make_pseudonymiser(category: DataCategory) -> _FieldRule:
    def pseudonymise(value: Any, pseudonym_key: bytes) -> Any:
        if isinstance(value, (str, bytes)):
            return compute_pseudonym(pseudonym_key, value)
        raise InvalidBody("only identifiers can be pseudonymised", category=category.value)

    return pseudonymise


def _compile_rule(rule: Rule, category: DataCategory) -> _FieldRule | None:
    """Return what ``rule`` does to one value (``None``: the value is kept as it is)."""
    if rule.action == Action.COLLECT:
        return None
    if rule.action == Action.DROP:
        return _drop
    if rule.action == Action.COARSEN:
        return _make_coarsener(rule.step, category)
    return _make_pseudonymiser(category)


def _compile(policy: MinimisationPolicy, rtype: type[Record]) -> _Plan:
    """Return the policy's plan for one record kind, compiled on first use: per field,
    its name, its category's name, whether it is the time, and its rule's function."""
    plan = policy._plans.get(rtype)
    if plan is None:
        plan = [
            (
                name,
                category.value,
                category == DataCategory.TIME,
                _compile_rule(policy.get_rule(category), category),
            )
            for name, category in rtype.CATEGORIES.items()
        ]
        policy._plans[rtype] = plan
    return plan


def apply_policy(record: Record, policy: MinimisationPolicy, pseudonym_key: bytes) -> Record | None:
    """Return the minimised record, or ``None`` when nothing but its time would remain."""
    minimised = apply_policy_with_categories(record, policy, pseudonym_key)
    return None if minimised is None else minimised[0]


def apply_policy_with_categories(
    record: Record, policy: MinimisationPolicy, pseudonym_key: bytes
) -> tuple[Record, set[str]] | None:
    """Return the minimised record and the names of the categories of the fields it still
    carries (``compute_record_categories`` of it), or ``None`` when nothing but its time
    would remain; one pass over the record's fields."""
    changes: dict[str, Any] = {}
    categories: set[str] = set()
    kept = False
    for name, category, is_time, rule in _compile(policy, type(record)):
        value = getattr(record, name)
        if value is None:
            continue
        if rule is not None:
            value = rule(value, pseudonym_key)
            changes[name] = value
            if value is None:
                continue
        categories.add(category)
        if not is_time:
            kept = True
    if not kept:
        return None
    return (msgspec.structs.replace(record, **changes) if changes else record), categories


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
