"""Light-client checks against CometBFT consensus, in plain Python.

A state proof only shows that a value is committed under an app hash. On a
network, that app hash must come from a block header that more than 2/3 of
the voting power signed. This module rebuilds what the validators signed and
checks it:

- the header hash (CometBFT ``Header.Hash``: an RFC 6962 root over the
  protobuf encoding of each header field) must equal the commit's block id;
- the validator set (from ``/validators``) must hash to the header's
  ``validators_hash``;
- each commit signature is checked with Ed25519 over the length-delimited
  protobuf ``CanonicalVote`` (precommit, height, round, block id, timestamp,
  chain id), and the signing power must exceed 2/3 of the total.

These checks only show that a header is consistent with *some* validator set.
Which set to believe comes from a trust root the node does not control (the
genesis file, or a block hash the user holds): see ``carchain.sdk.light_client``.

CometBFT's header ``H+1`` carries the app hash after block ``H``: a proof at
state height ``H`` is checked against header ``H+1`` (``/commit?height=H+1``).
The protobuf encoding is written by hand here (a few fixed messages), so the
SDK needs neither CometBFT nor generated code.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import httpx

from carchain.crypto.merkle import compute_merkle_root, encode_uvarint
from carchain.crypto.signing import verify_signature
from carchain.errors import (
    CarchainError,
    InvalidProof,
    InvalidSignature,
    NodeUnavailable,
    NoTrustRoot,
    UntrustedHeader,
)
from carchain.sdk.bounded_http import get_json_bounded

PRECOMMIT_TYPE = 2
BLOCK_ID_FLAG_ABSENT, BLOCK_ID_FLAG_COMMIT, BLOCK_ID_FLAG_NIL = 1, 2, 3
ED25519_TYPE = "tendermint/PubKeyEd25519"
MAX_INT32, MAX_INT64 = 2**31 - 1, 2**63 - 1
MAX_UINT32, MAX_UINT64 = 2**32 - 1, 2**64 - 1
# CometBFT's ``MaxTotalVotingPower``. Every number here is range-checked because the
# varint encoding keeps only 64 bits: a power of 2**64 + p hashes exactly like p, so an
# unchecked set could match a genuine validators hash and give one key all the power.
MAX_TOTAL_VOTING_POWER = MAX_INT64 // 8
MAX_VALIDATORS = 100  # this client's bound (one /validators page), also on commits
MAX_RPC_BYTES = 1 << 20  # a /commit or /validators answer of 100 validators is ~30 KB


def validate_range(value: int, low: int, high: int, what: str) -> int:
    """Return ``value`` if ``low <= value <= high``; raise ``InvalidProof`` if not."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidProof(f"{what} is out of range", value=str(value)[:40])
    return value


# --- protobuf wire encoding (proto3 / gogoproto as CometBFT marshals) ----------------


def encode_varint(value: int) -> bytes:
    """Return a protobuf varint; negative int64 values take ten bytes (two's complement).
    A value outside int64/uint64 raises: it would alias a smaller one.
    """
    validate_range(value, -MAX_INT64 - 1, MAX_UINT64, "varint")
    return encode_uvarint(value & MAX_UINT64)


def encode_varint_field(field: int, value: int) -> bytes:
    """Return a varint field, omitted when zero (proto3 default)."""
    return encode_varint(field << 3) + encode_varint(value) if value else b""


def encode_sfixed64_field(field: int, value: int) -> bytes:
    """Return an sfixed64 field, omitted when zero."""
    if not value:
        return b""
    validate_range(value, -MAX_INT64 - 1, MAX_INT64, "sfixed64")
    return encode_varint(field << 3 | 1) + (value & MAX_UINT64).to_bytes(8, "little")


def encode_bytes_field(field: int, value: bytes, always: bool = False) -> bytes:
    """Return a length-delimited field; empty ones are omitted unless ``always``
    (gogoproto's non-nullable embedded messages are always written).
    """
    if not value and not always:
        return b""
    return encode_varint(field << 3 | 2) + encode_varint(len(value)) + value


# --- the signed structures -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A protobuf ``Timestamp``."""

    seconds: int
    nanos: int

    def __post_init__(self) -> None:
        validate_range(self.seconds, -MAX_INT64 - 1, MAX_INT64, "time seconds")
        validate_range(self.nanos, 0, 999_999_999, "time nanos")

    def encode(self) -> bytes:
        """Return its protobuf encoding."""
        return encode_varint_field(1, self.seconds) + encode_varint_field(2, self.nanos)


def parse_rfc3339(value: str) -> Timestamp:
    """Parse CometBFT's RFC 3339 UTC time (``2026-01-02T03:04:05.123456789Z``)."""
    try:
        if not value.endswith("Z") or not value.isascii():
            raise ValueError("time must be UTC, in ASCII")
        main, _, frac = value[:-1].partition(".")
        seconds = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
        if frac and (not frac.isdigit() or len(frac) > 9):
            raise ValueError("bad fraction")
        return Timestamp(seconds, int(frac.ljust(9, "0")) if frac else 0)
    except ValueError as exc:
        raise InvalidProof(f"bad time in header or commit: {value[:40]}") from exc


@dataclass(frozen=True, slots=True)
class BlockId:
    """A block id: header hash and part-set header."""

    hash: bytes
    parts_total: int
    parts_hash: bytes

    def __post_init__(self) -> None:
        validate_range(self.parts_total, 0, MAX_UINT32, "part set total")

    def encode(self) -> bytes:
        """Return the ``BlockID`` protobuf encoding (as in the header)."""
        psh = encode_varint_field(1, self.parts_total) + encode_bytes_field(2, self.parts_hash)
        return encode_bytes_field(1, self.hash) + encode_bytes_field(2, psh, always=True)


@dataclass(frozen=True, slots=True)
class Header:
    """A CometBFT block header (the fields its hash covers)."""

    version_block: int
    version_app: int
    chain_id: str
    height: int
    time: Timestamp
    last_block_id: BlockId
    last_commit_hash: bytes
    data_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    consensus_hash: bytes
    app_hash: bytes
    last_results_hash: bytes
    evidence_hash: bytes
    proposer_address: bytes

    def __post_init__(self) -> None:
        validate_range(self.version_block, 0, MAX_UINT64, "block version")
        validate_range(self.version_app, 0, MAX_UINT64, "app version")
        validate_range(self.height, 1, MAX_INT64, "header height")


def compute_header_hash(h: Header) -> bytes:
    """Return CometBFT's ``Header.Hash()``: RFC 6962 root over the encoded fields.

    Scalars are wrapped as gogoproto ``StringValue``/``Int64Value``/``BytesValue``;
    an empty scalar is an empty leaf.
    """

    def wrap_bytes(b: bytes) -> bytes:
        return encode_bytes_field(1, b)

    version = encode_varint_field(1, h.version_block) + encode_varint_field(2, h.version_app)
    return compute_merkle_root(
        [
            version,
            wrap_bytes(h.chain_id.encode()),
            encode_varint_field(1, h.height),
            h.time.encode(),
            h.last_block_id.encode(),
            wrap_bytes(h.last_commit_hash),
            wrap_bytes(h.data_hash),
            wrap_bytes(h.validators_hash),
            wrap_bytes(h.next_validators_hash),
            wrap_bytes(h.consensus_hash),
            wrap_bytes(h.app_hash),
            wrap_bytes(h.last_results_hash),
            wrap_bytes(h.evidence_hash),
            wrap_bytes(h.proposer_address),
        ]
    )


def compute_vote_sign_bytes(
    chain_id: str, height: int, round_: int, block_id: BlockId | None, timestamp: Timestamp
) -> bytes:
    """Return what a validator signs for a precommit: a length-delimited ``CanonicalVote``."""
    body = encode_varint_field(1, PRECOMMIT_TYPE)
    body += encode_sfixed64_field(2, height) + encode_sfixed64_field(3, round_)
    if block_id is not None and (block_id.hash or block_id.parts_hash):
        psh = encode_varint_field(1, block_id.parts_total)
        psh += encode_bytes_field(2, block_id.parts_hash)
        cbid = encode_bytes_field(1, block_id.hash) + encode_bytes_field(2, psh, always=True)
        body += encode_bytes_field(4, cbid, always=True)
    body += encode_bytes_field(5, timestamp.encode(), always=True)
    body += encode_bytes_field(6, chain_id.encode())
    return encode_varint(len(body)) + body


@dataclass(frozen=True, slots=True)
class Validator:
    """A validator: address, Ed25519 public key and voting power."""

    address: bytes
    pub_key: bytes
    power: int

    def __post_init__(self) -> None:
        validate_range(self.power, 1, MAX_TOTAL_VOTING_POWER, "voting power")


def compute_validator_address(pub_key: bytes) -> bytes:
    """Return a validator's address: the first 20 bytes of SHA-256 of its public key."""
    return hashlib.sha256(pub_key).digest()[:20]


def validate_validator_set(validators: list[Validator]) -> None:
    """Raise ``InvalidProof`` unless the set is one CometBFT could have: 1 to
    ``MAX_VALIDATORS`` validators, each key once, total power within bounds.
    """
    validate_range(len(validators), 1, MAX_VALIDATORS, "validator set size")
    # By key: an address is derived from it (and checked against it at each vote).
    if len({v.pub_key for v in validators}) != len(validators):
        raise InvalidProof("a validator appears twice in the validator set")
    validate_range(sum(v.power for v in validators), 1, MAX_TOTAL_VOTING_POWER, "total power")


def compute_validator_set_hash(validators: list[Validator]) -> bytes:
    """Return ``ValidatorSet.Hash()``: RFC 6962 root over each ``SimpleValidator``;
    raise ``InvalidProof`` for a set that ``validate_validator_set`` refuses.
    """
    validate_validator_set(validators)
    return compute_merkle_root(
        [
            encode_bytes_field(1, encode_bytes_field(1, v.pub_key, always=True), always=True)
            + encode_varint_field(2, v.power)
            for v in validators
        ]
    )


@dataclass(frozen=True, slots=True)
class CommitSig:
    """One validator's entry in a commit."""

    flag: int
    address: bytes
    timestamp: Timestamp
    signature: bytes

    def __post_init__(self) -> None:
        validate_range(self.flag, BLOCK_ID_FLAG_ABSENT, BLOCK_ID_FLAG_NIL, "block id flag")


@dataclass(frozen=True, slots=True)
class Commit:
    """The precommits that decided a block."""

    height: int
    round: int
    block_id: BlockId
    signatures: list[CommitSig]

    def __post_init__(self) -> None:
        validate_range(self.height, 1, MAX_INT64, "commit height")
        validate_range(self.round, 0, MAX_INT32, "commit round")
        validate_range(len(self.signatures), 1, MAX_VALIDATORS, "commit size")


# --- parsing the RPC's JSON --------------------------------------------------------------


def _hex(value: Any) -> bytes:
    return bytes.fromhex(str(value or ""))


def parse_json_int(value: Any) -> int:
    """Return an integer the RPC wrote as a JSON number or a decimal string (CometBFT
    writes int64 as strings); refuse booleans, floats, signs other than ``-``,
    underscores, spaces and non-ASCII digits, which ``int()`` would accept.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and 0 < len(value) <= 20:
        digits = value[1:] if value.startswith("-") else value
        if digits and digits.isascii() and digits.isdigit():
            return int(value)
    raise ValueError(f"not an integer: {str(value)[:40]!r}")


def _block_id(doc: Any) -> BlockId:
    parts = doc.get("parts") or {}
    total = parse_json_int(parts.get("total") or 0)
    return BlockId(_hex(doc.get("hash")), total, _hex(parts.get("hash")))


def parse_header(doc: Any) -> Header:
    """Return a ``Header`` from the RPC's JSON; raise ``InvalidProof`` if malformed."""
    try:
        return Header(
            version_block=parse_json_int(doc["version"]["block"]),
            version_app=parse_json_int(doc["version"].get("app") or 0),
            chain_id=str(doc["chain_id"]),
            height=parse_json_int(doc["height"]),
            time=parse_rfc3339(str(doc["time"])),
            last_block_id=_block_id(doc["last_block_id"]),
            last_commit_hash=_hex(doc["last_commit_hash"]),
            data_hash=_hex(doc["data_hash"]),
            validators_hash=_hex(doc["validators_hash"]),
            next_validators_hash=_hex(doc["next_validators_hash"]),
            consensus_hash=_hex(doc["consensus_hash"]),
            app_hash=_hex(doc["app_hash"]),
            last_results_hash=_hex(doc["last_results_hash"]),
            evidence_hash=_hex(doc["evidence_hash"]),
            proposer_address=_hex(doc["proposer_address"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise InvalidProof(f"malformed header: {exc}") from exc


def parse_commit(doc: Any) -> Commit:
    """Return a ``Commit`` from the RPC's JSON; raise ``InvalidProof`` if malformed."""
    try:
        if len(doc["signatures"]) > MAX_VALIDATORS:
            raise InvalidProof("commit has more signatures than this client supports")
        sigs = [
            CommitSig(
                parse_json_int(s["block_id_flag"]),
                _hex(s.get("validator_address")),
                parse_rfc3339(str(s["timestamp"])) if s.get("signature") else Timestamp(0, 0),
                base64.b64decode(s.get("signature") or "", validate=True),
            )
            for s in doc["signatures"]
        ]
        height, round_ = parse_json_int(doc["height"]), parse_json_int(doc["round"])
        return Commit(height, round_, _block_id(doc["block_id"]), sigs)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise InvalidProof(f"malformed commit: {exc}") from exc


def parse_validators(docs: Any) -> list[Validator]:
    """Return validators from the RPC's ``/validators`` JSON list (``voting_power``,
    or ``power`` as in a genesis file); the address is recomputed from the key and,
    when given, must match.
    """
    try:
        if len(docs) > MAX_VALIDATORS:
            raise InvalidProof("validator set is larger than this client supports")
        out = []
        for v in docs:
            if v["pub_key"]["type"] != ED25519_TYPE:
                raise InvalidProof("only Ed25519 validators are supported")
            key = base64.b64decode(str(v["pub_key"]["value"]), validate=True)
            address = compute_validator_address(key)
            if v.get("address") not in (None, "") and _hex(v["address"]) != address:
                raise InvalidProof("a validator's address does not match its key")
            power = parse_json_int(v["voting_power"] if "voting_power" in v else v["power"])
            out.append(Validator(address, key, power))
        validate_validator_set(out)
        return out
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise InvalidProof(f"malformed validator set: {exc}") from exc


# --- verification ------------------------------------------------------------------------


def validate_signed_header(header: Header, commit: Commit, validators: list[Validator]) -> None:
    """Raise ``UntrustedHeader`` unless ``commit`` is for ``header`` (recomputed hash) and
    ``validators`` hash to the header's ``validators_hash``.
    """
    if commit.height != header.height:
        raise UntrustedHeader("commit is for another height", link="commit height")
    if compute_header_hash(header) != commit.block_id.hash:
        raise UntrustedHeader("header does not hash to the committed block id", link="header hash")
    if compute_validator_set_hash(validators) != header.validators_hash:
        raise UntrustedHeader(
            "validator set does not match the header's validators hash", link="validators hash"
        )


def _verify_vote(chain_id: str, commit: Commit, val: Validator, sig: CommitSig) -> None:
    if sig.address != val.address or compute_validator_address(val.pub_key) != val.address:
        raise UntrustedHeader("commit signature does not belong to the validator at its index")
    message = compute_vote_sign_bytes(
        chain_id, commit.height, commit.round, commit.block_id, sig.timestamp
    )
    try:
        verify_signature(val.pub_key, message, sig.signature)
    except InvalidSignature as exc:
        raise UntrustedHeader("a commit signature does not verify", validator=val.address) from exc


def verify_commit_light(header: Header, commit: Commit, validators: list[Validator]) -> int:
    """Raise ``UntrustedHeader`` unless more than 2/3 of ``validators`` (the set that
    hashes to the header's ``validators_hash``) signed ``header``; return the power
    that signed. As CometBFT's ``VerifyCommitLight``: signatures by index.

    This alone proves nothing about who the validators are: a node can serve a set
    of its own keys. Trust comes from ``carchain.sdk.light_client``'s roots.
    """
    validate_signed_header(header, commit, validators)
    if len(commit.signatures) != len(validators):
        raise UntrustedHeader("commit and validator set differ in size")
    total = sum(v.power for v in validators)
    signed = 0
    for val, sig in zip(validators, commit.signatures, strict=True):
        if sig.flag != BLOCK_ID_FLAG_COMMIT:
            continue
        _verify_vote(header.chain_id, commit, val, sig)
        signed += val.power
    if total <= 0 or signed * 3 <= total * 2:
        raise UntrustedHeader(
            "less than 2/3 of the voting power signed", signed=signed, total=total
        )
    return signed


def compute_trusted_power(chain_id: str, commit: Commit, trusted: list[Validator]) -> int:
    """Return the power of ``trusted`` validators whose valid signatures are in ``commit``.

    As CometBFT's ``VerifyCommitLightTrusting``, signatures are matched by address
    (the sets may differ); a validator counts once; a bad signature raises.
    """
    validate_validator_set(trusted)
    by_address = {v.address: v for v in trusted}
    seen: set[bytes] = set()
    signed = 0
    for sig in commit.signatures:
        val = by_address.get(sig.address)
        if sig.flag != BLOCK_ID_FLAG_COMMIT or val is None:
            continue
        if sig.address in seen:
            raise UntrustedHeader("a validator signed the commit twice", validator=sig.address)
        seen.add(sig.address)
        _verify_vote(chain_id, commit, val, sig)
        signed += val.power
    return signed


def verify_commit(
    header: Header,
    commit: Commit,
    validators: list[Validator],
    trusted: dict[bytes, int] | None,
) -> int:
    """Raise unless more than 2/3 of the ``trusted`` set's power (public key -> power)
    signed ``header`` and its own validator set agrees. ``None`` raises ``NoTrustRoot``:
    a node's own answer about its validators is no root of trust.
    """
    if trusted is None:
        raise NoTrustRoot("no trusted validator set: give a genesis file or a trusted header")
    verify_commit_light(header, commit, validators)
    total = sum(trusted.values())
    signed = sum(
        trusted.get(v.pub_key, 0)
        for v, s in zip(validators, commit.signatures, strict=True)
        if s.flag == BLOCK_ID_FLAG_COMMIT
    )
    if total <= 0 or signed * 3 <= total * 2:
        raise UntrustedHeader(
            "less than 2/3 of the trusted voting power signed", signed=signed, total=total
        )
    return signed


@dataclass(frozen=True, slots=True)
class LightBlock:
    """A header with its commit and validator set, as fetched from a CometBFT RPC."""

    header: Header
    commit: Commit
    validators: list[Validator]


def fetch_light_block_docs(rpc_url: str, height: int, timeout_s: float = 10.0) -> dict[str, Any]:
    """Return the RPC's JSON of header, commit and validators at ``height``, as
    ``{"header", "commit", "validators"}`` (the form a proof bundle carries).
    """
    base = rpc_url.rstrip("/")
    vparams = {"height": height, "per_page": MAX_VALIDATORS}
    try:
        with httpx.Client(timeout=timeout_s) as http:
            c = get_json_bounded(
                http, f"{base}/commit", {"height": height}, MAX_RPC_BYTES, timeout_s
            )
            v = get_json_bounded(http, f"{base}/validators", vparams, MAX_RPC_BYTES, timeout_s)
    except (httpx.HTTPError, ValueError, RecursionError) as exc:
        raise NodeUnavailable(f"cannot reach CometBFT RPC at {base}: {exc}") from exc
    for doc in (c, v):
        if not isinstance(doc, dict) or not isinstance(doc.get("result"), dict):
            err = doc.get("error") if isinstance(doc, dict) else None
            raise CarchainError(f"CometBFT RPC refused: {err}")
    try:
        sh = c["result"]["signed_header"]
        if parse_json_int(v["result"].get("total", 0)) > MAX_VALIDATORS:
            raise InvalidProof("validator sets over 100 are not supported by this client")
        return {
            "header": sh["header"],
            "commit": sh["commit"],
            "validators": v["result"]["validators"],
        }
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise InvalidProof(f"malformed RPC answer: {exc}") from exc


def parse_light_block(docs: Any) -> LightBlock:
    """Return a ``LightBlock`` from ``{"header", "commit", "validators"}`` JSON."""
    if not isinstance(docs, dict):
        raise InvalidProof("a light block must be an object")
    try:
        parts = docs["header"], docs["commit"], docs["validators"]
    except KeyError as exc:
        raise InvalidProof(f"light block lacks {exc}") from exc
    return LightBlock(parse_header(parts[0]), parse_commit(parts[1]), parse_validators(parts[2]))


def fetch_light_block(rpc_url: str, height: int, timeout_s: float = 10.0) -> LightBlock:
    """Fetch ``/commit`` and ``/validators`` at ``height`` from a CometBFT RPC (unverified)."""
    return parse_light_block(fetch_light_block_docs(rpc_url, height, timeout_s))
