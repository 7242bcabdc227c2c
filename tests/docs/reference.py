"""Reference primitives written from docs/formats.md alone, never from carchain's encoders.

A MessagePack encoder following the page's table (section 1.1), RFC 6962 trees and
proofs (section 2.1), the ``simple:v`` KV leaf (section 5.3), minimal protobuf
(section 10.2), and readers for the tables the tests take from the page itself.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path
from typing import Any

FORMATS_MD = Path(__file__).resolve().parents[2] / "docs" / "formats.md"


def sha256(data: bytes) -> bytes:
    """Return SHA-256 of ``data``."""
    return hashlib.sha256(data).digest()


def u64be(n: int) -> bytes:
    """Return ``n`` as 8 bytes big-endian."""
    return struct.pack(">Q", n)


def u16be(n: int) -> bytes:
    """Return ``n`` as 2 bytes big-endian."""
    return struct.pack(">H", n)


# --- MessagePack, section 1.1 ----------------------------------------------------------


def _mp_int(n: int) -> bytes:
    if 0 <= n < 2**7:
        return bytes([n])
    if n >= 0:
        for limit, code, fmt in ((2**8, 0xCC, ">B"), (2**16, 0xCD, ">H"), (2**32, 0xCE, ">I")):
            if n < limit:
                return bytes([code]) + struct.pack(fmt, n)
        return b"\xcf" + struct.pack(">Q", n)
    if n >= -32:
        return struct.pack(">b", n)
    for low, code, fmt in ((-(2**7), 0xD0, ">b"), (-(2**15), 0xD1, ">h"), (-(2**31), 0xD2, ">i")):
        if n >= low:
            return bytes([code]) + struct.pack(fmt, n)
    return b"\xd3" + struct.pack(">q", n)


_STR = ((2**8, 0xD9, ">B"), (2**16, 0xDA, ">H"), (2**32, 0xDB, ">I"))
_BIN = ((2**8, 0xC4, ">B"), (2**16, 0xC5, ">H"), (2**32, 0xC6, ">I"))
_ARRAY = ((2**16, 0xDC, ">H"), (2**32, 0xDD, ">I"))
_MAP = ((2**16, 0xDE, ">H"), (2**32, 0xDF, ">I"))


def _mp_head(n: int, fix: int, fix_max: int, forms: tuple[tuple[int, int, str], ...]) -> bytes:
    if n < fix_max:
        return bytes([fix + n])
    for limit, code, fmt in forms:
        if n < limit:
            return bytes([code]) + struct.pack(fmt, n)
    raise ValueError("too long for MessagePack")


def mp(value: Any) -> bytes:
    """Return the canonical MessagePack of ``value`` (dict = map, list/tuple = array)."""
    if value is None:
        return b"\xc0"
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        return _mp_int(value)
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode()
        return _mp_head(len(raw), 0xA0, 32, _STR) + raw
    if isinstance(value, bytes):
        return _mp_head(len(value), 0, 0, _BIN) + value
    if isinstance(value, (list, tuple)):
        return _mp_head(len(value), 0x90, 16, _ARRAY) + b"".join(mp(v) for v in value)
    if isinstance(value, dict):
        head = _mp_head(len(value), 0x80, 16, _MAP)
        return head + b"".join(mp(k) + mp(v) for k, v in value.items())
    raise TypeError(f"no MessagePack form for {type(value).__name__}")


# --- RFC 6962, section 2.1 ---------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    """Return ``sha256(0x00 || leaf)``."""
    return sha256(b"\x00" + leaf)


def inner_hash(left: bytes, right: bytes) -> bytes:
    """Return ``sha256(0x01 || left || right)``."""
    return sha256(b"\x01" + left + right)


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_of_hashes(hashes: list[bytes]) -> bytes:
    """Return the RFC 6962 root over leaf hashes."""
    if not hashes:
        return sha256(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return inner_hash(root_of_hashes(hashes[:k]), root_of_hashes(hashes[k:]))


def merkle_root(leaves: list[bytes]) -> bytes:
    """Return the RFC 6962 root over raw leaves."""
    return root_of_hashes([leaf_hash(x) for x in leaves])


def proof_root(index: int, total: int, leaf: bytes, aunts: list[bytes]) -> bytes:
    """Return the root a proof implies; raise ``ValueError`` if its shape is off."""
    if total == 1:
        if aunts:
            raise ValueError("aunts left over")
        return leaf
    if not aunts:
        raise ValueError("too few aunts")
    k = _split(total)
    if index < k:
        return inner_hash(proof_root(index, k, leaf, aunts[:-1]), aunts[-1])
    return inner_hash(aunts[-1], proof_root(index - k, total - k, leaf, aunts[:-1]))


def check_proof(doc: dict[str, Any], leaf: bytes) -> bytes:
    """Return the root of a JSON Merkle proof that holds ``leaf``; raise ``ValueError``."""
    total, index = int(doc["total"]), int(doc["index"])
    lh = bytes.fromhex(doc["leaf_hash"])
    aunts = [bytes.fromhex(a) for a in doc["aunts"]]
    if not 0 <= index < total or lh != leaf_hash(leaf):
        raise ValueError("proof does not hold the leaf")
    if len(lh) != 32 or any(len(a) != 32 for a in aunts):
        raise ValueError("hashes must be 32 bytes")
    return proof_root(index, total, lh, aunts)


# --- state commitment, sections 5.3 and 5.4 ---------------------------------------------


def uvarint(n: int) -> bytes:
    """Return unsigned LEB128."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def kv_leaf(key: bytes, value: bytes) -> bytes:
    """Return ``uvarint(len key) || key || uvarint(32) || sha256(value)``."""
    return uvarint(len(key)) + key + uvarint(32) + sha256(value)


def check_state_proof(
    app_hash: bytes, store: str, key: bytes, value: bytes, ops: list[dict[str, Any]]
) -> None:
    """Raise ``ValueError`` unless the two ``simple:v`` ops prove ``store/key = value``."""
    if len(ops) != 2 or any(op["type"] != "simple:v" for op in ops):
        raise ValueError("expected two simple:v ops")
    if bytes.fromhex(ops[0]["key"]) != key or bytes.fromhex(ops[1]["key"]) != store.encode():
        raise ValueError("ops are for another key or store")
    store_root = check_proof(ops[0]["proof"], kv_leaf(key, value))
    if check_proof(ops[1]["proof"], kv_leaf(store.encode(), store_root)) != app_hash:
        raise ValueError("store root is not under the app hash")


# --- protobuf, section 10.2 -----------------------------------------------------------


def pb_varint(field: int, value: int) -> bytes:
    """Return a varint field, omitted when zero."""
    return uvarint(field << 3) + uvarint(value & (2**64 - 1)) if value else b""


def pb_bytes(field: int, value: bytes, always: bool = False) -> bytes:
    """Return a length-delimited field, omitted when empty unless ``always``."""
    if not value and not always:
        return b""
    return uvarint(field << 3 | 2) + uvarint(len(value)) + value


# --- the page's own tables -----------------------------------------------------------


def read_section(begin: str, end: str) -> str:
    """Return the text of formats.md between two HTML comment markers."""
    text = FORMATS_MD.read_text(encoding="utf-8")
    start = text.index(f"<!-- {begin} -->") + len(begin) + 9
    return text[start : text.index(f"<!-- {end} -->")]


def read_domain_tags() -> list[tuple[str, bytes, str]]:
    """Return ``(name, bytes, constant path)`` of every row of the domain-tag table."""
    rows = []
    for line in read_section("domain-tags:begin", "domain-tags:end").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("name", "") or set(cells[0]) <= {"-"}:
            continue
        literal = cells[1].strip("`").replace("\\x00", "\x00")
        rows.append((cells[0], literal.encode("latin-1"), cells[2].strip("`")))
    return rows


def read_store_order() -> list[str]:
    """Return the store names in the order formats.md lists them."""
    return re.findall(r"`([a-z0-9_]+)`", read_section("stores:begin", "stores:end"))
