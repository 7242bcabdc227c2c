"""The state the core reads and writes: named stores of keys and values.

The core sees state only through ``KVView``. Storage supplies the committed
view with its Merkle commitment; the core layers ``WriteBuffer`` scopes on top so
that a failing transaction leaves no trace.
"""

from __future__ import annotations

import abc
from typing import Protocol, TypeVar

import msgspec

from carchain.errors import InvalidBody, NotFound, ReadOnlyState

# Every store the chain commits to, in commitment order. Adding one changes the
# app hash layout, so the list is fixed per chain version and grows only by
# appending through a software upgrade (``access`` was appended by chain v2).
STORES: tuple[str, ...] = (
    "accounts",
    "anchors",
    "consents",
    "erasure",
    "governance",
    "keys",
    "lawful_access",
    "members",
    "params",
    "v2x",
    "vehicles",
    "access",
)
STORE_SET = frozenset(STORES)

MAX_KEY_BYTES = 256

T = TypeVar("T")

_encoder = msgspec.msgpack.Encoder()


class KVView(Protocol):
    """Read and write access to the stores. Absent keys read as ``None``."""

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the value under ``key`` in ``store`` or ``None``."""

    def set(self, store: str, key: bytes, value: bytes) -> None:
        """Store a non-empty ``value`` under ``key``."""

    def delete(self, store: str, key: bytes) -> None:
        """Remove ``key`` from ``store``."""


class ReadOnlyKVView(abc.ABC):
    """Base of the read-only ``KVView``s outside the core (API, gateway, SDK, CLI).

    Subclasses implement ``get`` over their own source of committed state; writes
    are refused: chain state changes only through transactions.
    """

    @abc.abstractmethod
    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the committed value under ``key`` in ``store`` or ``None``."""

    def set(self, store: str, key: bytes, value: bytes) -> None:
        """Refuse: the view is read-only."""
        raise ReadOnlyState("this view of chain state is read-only", store=store)

    def delete(self, store: str, key: bytes) -> None:
        """Refuse: the view is read-only."""
        raise ReadOnlyState("this view of chain state is read-only", store=store)


_DELETED = b""


class WriteBuffer:
    """Buffered writes over a parent view; ``flush`` applies them, dropping discards them."""

    __slots__ = ("_parent", "_writes")

    def __init__(self, parent: KVView) -> None:
        self._parent = parent
        self._writes: dict[tuple[str, bytes], bytes] = {}

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the buffered value if any, else the parent's."""
        v = self._writes.get((store, key))
        if v is None:
            return self._parent.get(store, key)
        return None if v == _DELETED else v

    def set(self, store: str, key: bytes, value: bytes) -> None:
        """Buffer a write."""
        if store not in STORE_SET:
            raise KeyError(f"unknown store {store!r}")
        if not value:
            raise ValueError("stored values are never empty; use delete")
        self._writes[(store, key)] = value

    def delete(self, store: str, key: bytes) -> None:
        """Buffer a deletion."""
        self._writes[(store, key)] = _DELETED

    def flush(self) -> None:
        """Apply every buffered write to the parent, in order, and clear the buffer."""
        parent = self._parent
        for (store, key), value in self._writes.items():
            if value == _DELETED:
                parent.delete(store, key)
            else:
                parent.set(store, key, value)
        self._writes.clear()


def decode_record(raw: bytes, record_type: type[T]) -> T:
    """Decode a stored record (for readers that list a store rather than read one key)."""
    return msgspec.msgpack.decode(raw, type=record_type)


def get_record_optional(view: KVView, store: str, key: bytes, record_type: type[T]) -> T | None:
    """Decode and return the record under ``key`` or ``None`` when absent."""
    raw = view.get(store, key)
    if raw is None:
        return None
    return decode_record(raw, record_type)


def get_record(
    view: KVView, store: str, key: bytes, record_type: type[T], what: str, **fields: object
) -> T:
    """Decode and return the record under ``key``; raise ``NotFound("no such <what>")``."""
    record = get_record_optional(view, store, key, record_type)
    if record is None:
        raise NotFound(f"no such {what}", **fields)
    return record


def put_record(view: KVView, store: str, key: bytes, record: object) -> None:
    """Encode and store a record."""
    view.set(store, key, _encoder.encode(record))


def compute_key(*parts: str | bytes | int) -> bytes:
    """Return a store key from parts joined by ``/`` (ints as fixed 8-byte big-endian).

    Every state access builds a key, so the common shapes (a one-letter prefix
    and one id or public key) take a direct path.
    """
    if len(parts) == 2:
        prefix, ident = parts
        if type(prefix) is str and type(ident) is bytes:
            key = prefix.encode() + b"/" + ident
        elif type(prefix) is str and type(ident) is str:
            key = f"{prefix}/{ident}".encode()
        else:
            key = _join(parts)
    else:
        key = _join(parts)
    if len(key) > MAX_KEY_BYTES:
        raise InvalidBody("identifier too long for a state key")
    return key


def _join(parts: tuple[str | bytes | int, ...]) -> bytes:
    return b"/".join(
        p if isinstance(p, bytes) else p.encode() if isinstance(p, str) else _encode_int(p)
        for p in parts
    )


def _encode_int(value: int) -> bytes:
    # A seq from a body may be negative or >= 2**64: a typed refusal, never OverflowError
    # (which no transition catches, so it would stop every node at the same block).
    if not 0 <= value < 2**64:
        raise InvalidBody("a sequence number must be 0..2**64-1", value=str(value)[:40])
    return value.to_bytes(8, "big")
