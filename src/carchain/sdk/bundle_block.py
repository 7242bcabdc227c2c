"""The block a proof bundle is proven against, and the trust roots that vouch for it.

A bundle's ``block`` section carries every header field, so its hash is
recomputed, never read:

- ``"engine": "solo"``: ``header`` holds ``chain_id, height, time_ms, prev_hash,
  tx_root, results_hash, app_hash, proposer``; the solo block hash is SHA-256
  over the 2-byte length of the tag ``carchain/block-header/v1``, the tag, and
  the msgpack array of those eight fields in that order (bytes as msgpack bin),
  as ``carchain.storage.blocks.compute_block_hash``. A solo block is signed by
  no one: only a hash or header copy the user holds can vouch for it.
- ``"engine": "cometbft"``: ``header``, ``commit`` and ``validators`` as
  CometBFT's RPC serves them; the hash is CometBFT's ``Header.Hash``, the commit
  must be for it and signed by more than 2/3 of the validators, which must hash
  to the header's ``validators_hash``.

Trust roots (``BlockTrust``), any of which may be combined:

- ``trusted_hash``: a block hash the user got elsewhere; the recomputed hash must match;
- ``validators``: a validator set the user trusts (``--validators`` or the genesis
  set); more than 2/3 of the block's own set signed it and it is either that
  set or more than 1/3 of the trusted power signed it (CometBFT's trust level);
- ``own_header``: the user's own copy of the block section; hashes must match.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from carchain.errors import InvalidProof, NoTrustRoot, UntrustedHeader
from carchain.sdk.light import (
    LightBlock,
    compute_header_hash,
    compute_trusted_power,
    compute_validator_set_hash,
    parse_light_block,
    verify_commit_light,
)
from carchain.sdk.light_client import TRUST_DENOMINATOR, TRUST_NUMERATOR, TrustedValidatorSet
from carchain.storage.blocks import BlockHeader, compute_block_hash

SOLO, COMETBFT = "solo", "cometbft"
SOLO_FIELDS = ("chain_id", "height", "time_ms", "prev_hash", "tx_root", "results_hash")


@dataclass(frozen=True, slots=True)
class BlockTrust:
    """What the verifier trusts, given by the user, not by the bundle."""

    trusted_hash: bytes | None = None
    validators: TrustedValidatorSet | None = None
    own_header: Any = None
    chain_id: str = ""

    def is_empty(self) -> bool:
        """Return whether no trust root is given."""
        return self.trusted_hash is None and self.validators is None and self.own_header is None


@dataclass(frozen=True, slots=True)
class VerifiedBlock:
    """A block whose hash was recomputed and vouched for by ``trusted_by``."""

    engine: str
    chain_id: str
    height: int
    hash: bytes
    app_hash: bytes
    trusted_by: list[str]
    light_block: LightBlock | None = None
    time_ms: int = 0  # the header's block time (Unix ms)


def _hex_field(doc: dict[str, Any], name: str) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str):
        raise InvalidProof(f"block header field {name!r} is missing or not a string")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise InvalidProof(f"block header field {name!r} is not hex") from exc


def _int_field(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise InvalidProof(f"block header field {name!r} is missing or not a number")
    return value


def parse_solo_header(doc: Any) -> BlockHeader:
    """Return a solo ``BlockHeader`` from its JSON (bytes as hex); ``InvalidProof`` if bad."""
    if not isinstance(doc, dict):
        raise InvalidProof("block header must be an object")
    chain_id = doc.get("chain_id")
    if not isinstance(chain_id, str) or not chain_id:
        raise InvalidProof("block header field 'chain_id' is missing or not a string")
    return BlockHeader(
        chain_id=chain_id,
        height=_int_field(doc, "height"),
        time_ms=_int_field(doc, "time_ms"),
        prev_hash=_hex_field(doc, "prev_hash"),
        tx_root=_hex_field(doc, "tx_root"),
        results_hash=_hex_field(doc, "results_hash"),
        app_hash=_hex_field(doc, "app_hash"),
        proposer=_hex_field(doc, "proposer"),
    )


def compute_solo_header_json(header: dict[str, Any], chain_id: str) -> dict[str, Any]:
    """Return the solo header JSON from the API's ``/blocks/{h}/header`` answer (the
    block's hash covers every field, so the bundle's verifier checks them all)."""
    fields = ("height", "time_ms", "prev_hash", "tx_root", "results_hash", "app_hash", "proposer")
    return {"chain_id": chain_id} | {k: header[k] for k in fields}


def compute_block_section_hash(section: Any) -> tuple[VerifiedBlock, bytes]:
    """Return the parsed block section (not yet trusted) and its recomputed hash."""
    if not isinstance(section, dict):
        raise InvalidProof("bundle's block section must be an object")
    engine = section.get("engine")
    if engine == SOLO:
        h = parse_solo_header(section.get("header"))
        digest = compute_block_hash(h)
        block = VerifiedBlock(SOLO, h.chain_id, h.height, digest, h.app_hash, [], None, h.time_ms)
        return block, digest
    if engine == COMETBFT:
        lb = parse_light_block(section)
        digest = compute_header_hash(lb.header)
        hdr = lb.header
        time_ms = hdr.time.seconds * 1000 + hdr.time.nanos // 1_000_000  # as the chain's
        return VerifiedBlock(
            COMETBFT, hdr.chain_id, hdr.height, digest, hdr.app_hash, [], lb, time_ms
        ), digest
    raise InvalidProof("bundle's block engine must be 'solo' or 'cometbft'")


def validate_stated_hash(section: dict[str, Any], digest: bytes) -> None:
    """Raise ``UntrustedHeader`` if the section's stated hash differs from the recomputed."""
    stated = section.get("hash")
    if not isinstance(stated, str) or stated.lower() != digest.hex():
        raise UntrustedHeader("block header does not hash to the block's hash", link="block hash")


def validate_state_height(block: VerifiedBlock, state_height: int, proof_height: int) -> None:
    """Raise ``InvalidProof`` unless ``state_height`` is the state whose app hash ``block``
    (at ``proof_height``) carries: the block's own height on solo, the one before it on
    CometBFT (header ``H+1`` carries the app hash after block ``H``). Accepting either on
    either engine would let a CometBFT file claim a state one block newer than it proves.
    """
    if block.height != proof_height:
        raise InvalidProof("file names another proof height than its block", link="height")
    expected = block.height - 1 if block.engine == COMETBFT else block.height
    if state_height != expected:
        raise InvalidProof(
            f"a {block.engine} block {block.height} proves the state at height {expected}",
            link="height",
            height=state_height,
        )


def validate_consensus(block: VerifiedBlock) -> None:
    """On a network, raise unless >2/3 of the block's own validators signed its header."""
    if block.light_block is not None:
        lb = block.light_block
        verify_commit_light(lb.header, lb.commit, lb.validators)


def check_trusted_hash(block: VerifiedBlock, trusted: bytes) -> str:
    """Return the trust statement if the recomputed hash is the user's trusted one."""
    if block.hash != trusted:
        raise UntrustedHeader("block hash is not the trusted hash", link="trusted hash")
    return f"block hash {trusted.hex()} given by you (--trust-hash)"


def check_trusted_validators(
    block: VerifiedBlock, trusted: TrustedValidatorSet, chain_id: str = ""
) -> str:
    """Return the trust statement if the trusted set vouches for the block's commit.

    A validator set names no chain, and the same validators may sign several
    chains: the chain id (the set's own, or ``chain_id``) must be known.
    """
    lb = block.light_block
    if lb is None:
        raise NoTrustRoot("a solo block carries no validator signatures: give --trust-hash")
    expected = trusted.chain_id or chain_id
    if not expected:
        raise NoTrustRoot("a trusted validator set needs the chain id it signs (--chain-id)")
    if lb.header.chain_id != expected:
        raise UntrustedHeader("block is of another chain than the trusted set", link="chain id")
    if compute_validator_set_hash(trusted.validators) != lb.header.validators_hash:
        total = sum(v.power for v in trusted.validators)
        signed = compute_trusted_power(lb.header.chain_id, lb.commit, trusted.validators)
        if signed * TRUST_DENOMINATOR <= total * TRUST_NUMERATOR:
            raise UntrustedHeader(
                "less than 1/3 of the trusted validators' power signed the block",
                link="trusted validators",
            )
    return f"validator set you trust ({len(trusted.validators)} validators) signed the block"


def check_own_header(block: VerifiedBlock, own: Any) -> str:
    """Return the trust statement if the user's own header copy is this block."""
    if isinstance(own, dict) and "block" in own:
        own = own["block"]
    _, digest = compute_block_section_hash(own)
    if digest != block.hash:
        raise UntrustedHeader("block header differs from your copy of it", link="own header")
    what = "no consensus signatures exist on a solo node" if block.engine == SOLO else "no more"
    return f"your own copy of block {block.height}'s header, nothing else ({what})"


def verify_bundle_block(section: Any, trust: BlockTrust) -> VerifiedBlock:
    """Recompute the block's hash, check its commit (network) and the user's trust roots."""
    if trust.is_empty():
        raise NoTrustRoot(
            "no trust root: give --trust-hash, --validators or --genesis, or --header"
        )
    block, digest = compute_block_section_hash(section)
    validate_stated_hash(section, digest)
    validate_consensus(block)
    if trust.chain_id and block.chain_id != trust.chain_id:
        raise UntrustedHeader("block is of another chain", link="chain id")
    said = []
    if trust.trusted_hash is not None:
        said.append(check_trusted_hash(block, trust.trusted_hash))
    if trust.validators is not None:
        said.append(check_trusted_validators(block, trust.validators, trust.chain_id))
    if trust.own_header is not None:
        said.append(check_own_header(block, trust.own_header))
    return dataclasses.replace(block, trusted_by=said)
