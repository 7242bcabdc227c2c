"""Decoding committed transactions for the explorer: type, signer, body and result as JSON.

The body is decoded with the transaction registry's struct for its type and
turned into JSON objects (bytes as hex, tagged unions keep their ``type``).
Bodies on chain are privacy-safe already (commitments, hashes, sealed boxes), so
nothing is redacted here; nothing is decrypted either.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from carchain.core import members
from carchain.core.registry import TX_TYPES
from carchain.core.state import KVView
from carchain.core.transactions import compute_tx_hash, decode_body, decode_envelope
from carchain.core.types import TxResult
from carchain.errors import CarchainError, InvalidBody


def compute_body_json(value: Any) -> Any:
    """Return a decoded body as JSON objects: structs (even array-like ones) become
    objects, a tagged struct adds its ``type`` tag, bytes become hex, enums their value."""
    if isinstance(value, msgspec.Struct):
        doc: dict[str, Any] = {}
        tag = value.__struct_config__.tag
        if isinstance(tag, str):
            doc[str(value.__struct_config__.tag_field or "type")] = tag
        for name in value.__struct_fields__:
            doc[name] = compute_body_json(getattr(value, name))
        return doc
    if isinstance(value, list | tuple):
        return [compute_body_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): compute_body_json(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return value.value
    return value


class MemberNames:
    """Member lookups of one request, cached: by id and by current public key."""

    def __init__(self, view: KVView) -> None:
        self.view = view
        self._by_id: dict[str, members.Member | None] = {}
        self._by_key: dict[bytes, members.Member | None] = {}

    def get_member_optional(self, member_id: str) -> members.Member | None:
        """Return the member ``member_id`` or ``None`` (also for a malformed id)."""
        if member_id not in self._by_id:
            try:
                self._by_id[member_id] = members.get_member_optional(self.view, member_id)
            except CarchainError:
                self._by_id[member_id] = None
        return self._by_id[member_id]

    def get_name_optional(self, member_id: str) -> str | None:
        """Return a member's display name or ``None``."""
        m = self.get_member_optional(member_id)
        return None if m is None else m.name

    def get_member_by_key_optional(self, public_key: bytes) -> members.Member | None:
        """Return the member whose current key is ``public_key`` or ``None``."""
        if public_key not in self._by_key:
            try:
                self._by_key[public_key] = members.get_member_by_key_optional(self.view, public_key)
            except CarchainError:
                self._by_key[public_key] = None
        return self._by_key[public_key]


def compute_result_json(result: TxResult) -> dict[str, Any]:
    """Return a result as the explorer shows it: ``error_code`` is ``None`` on success."""
    return {
        "code": result.code,
        "error_code": result.error_code or None,
        "log": result.log,
        "events": [{"type": e.type, "attributes": dict(e.attributes)} for e in result.events],
    }


def _decode_body_json(tx_type: str, raw_body: bytes) -> Any:
    row = TX_TYPES.get(tx_type)
    if row is None:
        return None
    try:
        return compute_body_json(decode_body(raw_body, row.body))
    except InvalidBody:
        return None  # included but undecodable: the result says why it failed


def compute_decoded_tx(
    raw: bytes, height: int, index: int, result: TxResult, names: MemberNames
) -> dict[str, Any]:
    """Return the ``DecodedTx`` document of the committed transaction ``raw``.

    ``body`` is ``None`` when the type is unknown or the body does not decode
    (such a transaction failed in its block, and ``result`` says why).
    """
    doc: dict[str, Any] = {
        "hash": compute_tx_hash(raw).hex(),
        "index": index,
        "height": height,
        "type": "",
        "signer": "",
        "signer_member": None,
        "signer_name": None,
        "nonce": 0,
        "body": None,
        "result": compute_result_json(result),
    }
    try:
        env = decode_envelope(raw)
    except CarchainError:
        return doc
    member = names.get_member_by_key_optional(env.signer)
    doc.update(
        type=env.type,
        signer=env.signer.hex(),
        signer_member=None if member is None else member.member_id,
        signer_name=None if member is None else member.name,
        nonce=env.nonce,
        body=_decode_body_json(env.type, env.body),
    )
    return doc


def compute_decoded_txs(
    txs: list[bytes], results: list[TxResult], height: int, names: MemberNames
) -> list[dict[str, Any]]:
    """Return the ``DecodedTx`` documents of one block's transactions, in order."""
    return [
        compute_decoded_tx(raw, height, i, res, names)
        for i, (raw, res) in enumerate(zip(txs, results, strict=True))
    ]
