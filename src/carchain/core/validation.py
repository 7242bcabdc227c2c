"""Small shared field checks that raise ``InvalidBody``."""

from __future__ import annotations

import re

from carchain.errors import InvalidBody

# Member ids never contain the namespace separator, so ``<member id>:<local id>``
# splits one way only: ``saic:1`` and ``saic-x:1`` are in different namespaces.
NAMESPACE_SEPARATOR = ":"
_MEMBER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def validate_member_identifier(value: str, what: str = "member id") -> None:
    """Raise unless ``value`` is 1-64 characters of letters, digits and ``._-`` (no ``:``)."""
    if not _MEMBER_ID_RE.fullmatch(value):
        raise InvalidBody(f"{what} must be 1-64 characters of [A-Za-z0-9._-]", value=value[:80])


def validate_public_key(value: bytes, what: str) -> None:
    """Raise unless ``value`` is a 32-byte key."""
    if len(value) != 32:
        raise InvalidBody(f"{what} must be a 32-byte public key", length=len(value))


def validate_text(value: str, what: str, max_length: int = 128) -> None:
    """Raise unless ``value`` is non-empty printable text of at most ``max_length``."""
    if not value or len(value) > max_length or not value.isprintable():
        raise InvalidBody(f"{what} must be 1-{max_length} printable characters")


def validate_digest(value: bytes, what: str) -> None:
    """Raise unless ``value`` is a 32-byte digest."""
    if len(value) != 32:
        raise InvalidBody(f"{what} must be a 32-byte digest", length=len(value))


MAX_SEQ = 2**63 - 1


def validate_seq(seq: int, what: str) -> None:
    """Raise ``InvalidBody`` unless ``seq`` is a sequence number (0 <= seq < 2**63)."""
    if not 0 <= seq <= MAX_SEQ:
        raise InvalidBody(f"{what} must be 0..2**63-1")
