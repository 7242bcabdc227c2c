"""The root of carchain's errors and the registry every subclass joins on definition.

Each concrete error class declares, as class attributes, its stable string
``code`` (on the API's wire), its ``abci_code`` (the CheckTx/ExecTxResult code on
CometBFT's wire) and the ``http_status`` the API answers with. Defining a class
registers it; a code or ABCI code that another class already holds is refused
at import time, so two errors can never be mistaken for each other on any wire.

Fields are declared as annotations on the class (``expected: int | None``): the
constructor accepts only declared fields, checks their types, and sets them as
attributes; ``make_error`` rebuilds the typed error, fields included, from the
JSON form ``to_dict`` writes, so a field survives every layer up to the SDK.
"""

import json
import types
import typing
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

_BY_CODE: dict[str, type["CarchainError"]] = {}
_BY_ABCI: dict[int, type["CarchainError"]] = {}
_CLASS_ATTRS = ("code", "abci_code", "http_status")
MAX_PEER_TEXT = 1_000  # characters kept of a message or text field a peer sends
_RESERVED = frozenset({"message", "fields", "args", *_CLASS_ATTRS})


class CarchainError(Exception):
    """Root of every error carchain raises on purpose (code ``internal``)."""

    code: ClassVar[str] = "internal"
    abci_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500
    field_types: ClassVar[Mapping[str, tuple[type, ...]]] = {}
    field_items: ClassVar[Mapping[str, tuple[type, ...]]] = {}
    is_group: ClassVar[bool] = False

    def __init__(self, message: str, **fields: object) -> None:
        if type(self).is_group:
            raise TypeError(f"{type(self).__name__} groups errors; raise one of its subclasses")
        super().__init__(message)
        self.message = message
        self.fields: dict[str, object] = validate_fields(type(self), fields)
        for name in type(self).field_types:
            setattr(self, name, self.fields.get(name))

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.field_types = _collect_field_types(cls)
        cls.field_items = _collect_item_types(cls)
        cls.is_group = abstract
        if not abstract:
            _register(cls)

    def to_json_fields(self) -> dict[str, object]:
        """Return the fields as JSON values (bytes as hex): what every wire carries."""
        return compute_json_fields(self.fields)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly description: code, message and fields."""
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.fields:
            out["fields"] = self.to_json_fields()
        return out


def _collect_field_types(cls: type[CarchainError]) -> dict[str, tuple[type, ...]]:
    out: dict[str, tuple[type, ...]] = {}
    for klass in reversed(cls.__mro__):
        for name, ann in vars(klass).get("__annotations__", {}).items():
            if name in _RESERVED or typing.get_origin(ann) is ClassVar:
                continue
            out[name] = _compute_runtime_types(ann)
    return out


def _collect_item_types(cls: type[CarchainError]) -> dict[str, tuple[type, ...]]:
    """Return the element types of the sequence fields (``heights: list[int]`` gives int)."""
    out: dict[str, tuple[type, ...]] = {}
    for klass in reversed(cls.__mro__):
        for name, ann in vars(klass).get("__annotations__", {}).items():
            parts = typing.get_args(ann) if isinstance(ann, types.UnionType) else (ann,)
            items = [
                a
                for p in parts
                if typing.get_origin(p) in (list, tuple)
                for a in typing.get_args(p)
                if isinstance(a, type)
            ]
            if name in cls.field_types and items:
                out[name] = tuple(items)
    return out


def _compute_runtime_types(ann: object) -> tuple[type, ...]:
    parts = typing.get_args(ann) if isinstance(ann, types.UnionType) else (ann,)
    out = tuple(typing.get_origin(p) or p for p in parts)
    if not all(isinstance(p, type) for p in out):
        raise TypeError(f"error field annotation {ann!r} is not a union of plain types")
    return typing.cast(tuple[type, ...], out)


def _register(cls: type[CarchainError]) -> None:
    missing = [a for a in _CLASS_ATTRS if a not in vars(cls)]
    if missing:
        raise TypeError(f"{cls.__name__} must declare {', '.join(missing)}")
    for table, key in ((_BY_CODE, cls.code), (_BY_ABCI, cls.abci_code)):
        other = typing.cast(dict[object, type[CarchainError]], table).get(key)
        if other is not None and _compute_name(other) != _compute_name(cls):
            raise TypeError(f"{cls.__name__} reuses {key!r} of {other.__name__}")
    _BY_CODE[cls.code] = cls
    _BY_ABCI[cls.abci_code] = cls


def _compute_name(cls: type) -> str:
    # A module reloaded (tests, REPL) redefines its classes: the same name may take its code back.
    return f"{cls.__module__}.{cls.__qualname__}"


def validate_fields(cls: type[CarchainError], fields: Mapping[str, object]) -> dict[str, object]:
    """Return ``fields`` if ``cls`` declares each with a matching type; else raise ``TypeError``."""
    for name, value in fields.items():
        allowed = cls.field_types.get(name)
        if allowed is None:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        if not isinstance(value, allowed):
            raise TypeError(f"{cls.__name__}.{name} must be {allowed}, not {type(value)}")
    return dict(fields)


def compute_json_fields(fields: Mapping[str, object]) -> dict[str, object]:
    """Return ``fields`` as JSON values (bytes as hex, sequences as lists)."""
    return {k: _compute_jsonable(v) for k, v in fields.items()}


def _compute_jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_compute_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def encode_fields_json(fields: Mapping[str, object]) -> str:
    """Return JSON fields as the compact, key-sorted JSON text the ABCI wire carries."""
    return json.dumps(dict(fields), sort_keys=True, separators=(",", ":")) if fields else ""


def decode_fields_json(text: str | bytes) -> dict[str, object]:
    """Return the fields in a peer's JSON text; ``{}`` when absent, not a JSON object, or
    nested too deep to decode (``RecursionError``)."""
    try:
        doc = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def compute_printable_text(text: str) -> str:
    """Return ``text`` safe for a terminal or a log line: whitespace controls become
    spaces, every other control or format character (escape sequences, C1 codes, bidi
    overrides) becomes U+FFFD."""
    return "".join(
        " " if c in "\t\n\r\v\f" else "\ufffd" if unicodedata.category(c) in ("Cc", "Cf") else c
        for c in text
    )


def compute_peer_text(text: str) -> str:
    """Return a peer's ``text`` printable and at most ``MAX_PEER_TEXT`` characters long."""
    if len(text) > MAX_PEER_TEXT:
        text = text[: MAX_PEER_TEXT - 1] + "\u2026"
    return compute_printable_text(text)


def get_error_class(code: str) -> type[CarchainError]:
    """Return the registered class for a stable ``code`` (``CarchainError`` if unknown)."""
    return _BY_CODE.get(code, CarchainError)


def get_error_class_by_abci(abci_code: int) -> type[CarchainError]:
    """Return the registered class for an ABCI result code (``CarchainError`` if unknown)."""
    return _BY_ABCI.get(abci_code, CarchainError)


def get_registered_errors() -> tuple[type[CarchainError], ...]:
    """Return every registered error class, the root first, in definition order."""
    return tuple(_BY_CODE.values())


def make_error(
    code: str, message: str, fields: Mapping[str, object] | None = None
) -> CarchainError:
    """Return the typed error for ``code`` rebuilt from its JSON form (see ``to_dict``).

    Fields arrive as JSON: a bytes field comes back from hex; a field the class
    does not declare, or of the wrong type, is dropped (a newer server may send
    more), so a peer's answer can never make this raise. The message and text fields
    are a peer's text: cut to ``MAX_PEER_TEXT`` characters and made printable
    (``compute_peer_text``), so no caller prints or logs a hostile node's escape
    sequences, forged log lines or megabytes.
    """
    cls = get_error_class(code)
    kept: dict[str, object] = {}
    for name, value in (fields or {}).items():
        decoded = _decode_field(cls.field_types.get(name, ()), value)
        if isinstance(decoded, (list, tuple)) and not _is_items_of(
            decoded, cls.field_items.get(name, ())
        ):
            decoded = None
        if decoded is not None:
            kept[name] = compute_peer_text(decoded) if isinstance(decoded, str) else decoded
    return cls(compute_peer_text(message), **kept)


def _decode_field(allowed: tuple[type, ...], value: object) -> object:
    if not allowed or value is None:
        return None
    if bytes in allowed and isinstance(value, str) and not isinstance(value, allowed):
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None
    if isinstance(value, bool) and bool not in allowed:
        return None
    if tuple in allowed and isinstance(value, list):
        return tuple(value)
    return value if isinstance(value, allowed) else None


def _is_items_of(values: Sequence[object], items: tuple[type, ...]) -> bool:
    """Return whether every element has one of the declared element types (bool only
    if declared); true when no element type is declared."""
    return not items or all(
        isinstance(v, items) and (bool in items or not isinstance(v, bool)) for v in values
    )


_BY_CODE[CarchainError.code] = CarchainError
_BY_ABCI[CarchainError.abci_code] = CarchainError
