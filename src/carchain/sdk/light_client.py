"""A light client that trusts nothing the node says about who the validators are.

Trust starts from a root the node does not control, then moves to the height
asked for, as CometBFT's light client does (``light/verifier.go``):

- ``TrustedValidatorSet``: the validator set at a height, e.g. the initial set
  computed from the genesis file the user holds (``load_genesis_trust``). The
  node's header at that height must hash its validators to that set and carry
  signatures of more than 2/3 of its power.
- ``TrustedHash``: a block hash and height the user got elsewhere (another
  member, a court record). The node's header at that height must recompute to it.

From the trusted block, a later header is accepted by *adjacent* verification
(its ``validators_hash`` is the trusted header's ``next_validators_hash`` and
more than 2/3 of that set signed) or by *skipping* verification (more than 1/3
of the trusted set's power signed it, so at least one honest validator vouches,
and more than 2/3 of its own set did); when too little of the trusted set
signed, the range is bisected. An earlier header is accepted backwards through
the ``last_block_id`` hash chain. Every header must have the trusted chain id
and the height asked for. No root: ``NoTrustRoot``.

A trust root does not expire here (CometBFT's trusting period exists because
unbonded stake costs nothing to an attacker); in a consortium a removed
member's old validator key could still sign a fork from an old root, so prefer
a recent ``TrustedHash`` to the genesis set on a long-lived chain.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carchain.core.genesis import Genesis, compute_genesis_validators, decode_genesis
from carchain.errors import (
    CarchainError,
    InsufficientTrust,
    InvalidGenesis,
    InvalidProof,
    NoTrustRoot,
    StaleProof,
    UntrustedHeader,
)
from carchain.sdk.bundle_format import decode_strict_json
from carchain.sdk.client import Client, VerifiedValue
from carchain.sdk.light import (
    Header,
    LightBlock,
    Validator,
    compute_header_hash,
    compute_trusted_power,
    compute_validator_address,
    compute_validator_set_hash,
    fetch_light_block,
    parse_json_int,
    verify_commit_light,
)
from carchain.sdk.proofs import verify_state_proof

TRUST_NUMERATOR, TRUST_DENOMINATOR = 1, 3  # CometBFT's default trust level
MAX_CLOCK_DRIFT_S = 10.0
DEFAULT_MAX_PROOF_AGE_S = 60.0
MAX_LIGHT_BLOCKS = 64  # bisection depth bound: a node cannot make us fetch forever
MAX_BACKWARD_STEPS = 10_000

Provider = Callable[[int], LightBlock]


@dataclass(frozen=True, slots=True)
class TrustedValidatorSet:
    """The validators (in CometBFT's order) that signed block ``height`` of ``chain_id``."""

    chain_id: str
    height: int
    validators: list[Validator]


@dataclass(frozen=True, slots=True)
class TrustedHash:
    """A block hash the user trusts; ``chain_id``, when given, is checked too."""

    height: int
    hash: bytes
    chain_id: str = ""


TrustRoot = TrustedValidatorSet | TrustedHash


def compute_sorted_validators(validators: list[Validator]) -> list[Validator]:
    """Return a set in CometBFT's order (power descending, then address), as it hashes."""
    return sorted(validators, key=lambda v: (-v.power, v.address))


def compute_genesis_trust(genesis: Genesis, initial_height: int = 1) -> TrustedValidatorSet:
    """Return the trust root a carchain genesis names: its members with power at the
    initial height (InitChain returns exactly these to CometBFT).
    """
    vals = [
        Validator(compute_validator_address(u.pub_key), u.pub_key, u.power)
        for u in compute_genesis_validators(genesis)
    ]
    return TrustedValidatorSet(genesis.chain_id, initial_height, compute_sorted_validators(vals))


def load_genesis_trust(path: Path) -> TrustedValidatorSet:
    """Read a genesis file (CometBFT's ``genesis.json`` with carchain's ``app_state``,
    or carchain's own) and return its initial validator set as a trust root.
    """
    try:
        doc = decode_strict_json(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise InvalidGenesis(f"cannot read genesis file {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidGenesis("genesis file is not a JSON object")
    app_state = doc.get("app_state", doc)
    genesis = decode_genesis(json.dumps(app_state).encode())
    if "app_state" in doc and doc.get("chain_id") != genesis.chain_id:
        raise InvalidGenesis("CometBFT and carchain genesis name different chains")
    try:
        initial_height = int(doc.get("initial_height") or 1)
    except (TypeError, ValueError) as exc:
        raise InvalidGenesis("initial_height is not a number") from exc
    return compute_genesis_trust(genesis, initial_height)


def fetch_at(provider: Provider, height: int) -> LightBlock:
    """Return the provider's light block at ``height``; refuse one for another height."""
    lb = provider(height)
    if lb.header.height != height or lb.commit.height != height:
        raise UntrustedHeader(
            "node answered with a header at another height", asked=height, got=lb.header.height
        )
    return lb


def validate_chain_id(header: Header, chain_id: str) -> None:
    """Raise ``UntrustedHeader`` unless the header is of the expected chain."""
    if header.chain_id != chain_id:
        raise UntrustedHeader(
            "header is of another chain", expected=chain_id, got=header.chain_id, link="chain id"
        )


def process_trust_root(provider: Provider, root: TrustRoot) -> LightBlock:
    """Return the light block at the root's height once it matches the root."""
    lb = fetch_at(provider, root.height)
    if isinstance(root, TrustedHash):
        if compute_header_hash(lb.header) != root.hash:
            raise UntrustedHeader("header does not hash to the trusted block hash", link="trust")
        if root.chain_id:
            validate_chain_id(lb.header, root.chain_id)
    else:
        validate_chain_id(lb.header, root.chain_id)
        if compute_validator_set_hash(root.validators) != lb.header.validators_hash:
            raise UntrustedHeader(
                "header's validators are not the trusted validator set", link="trust"
            )
    verify_commit_light(lb.header, lb.commit, lb.validators)
    return lb


def validate_new_header(trusted: Header, untrusted: Header, now: float) -> None:
    """Raise unless ``untrusted`` may follow ``trusted``: same chain, later height and
    time, not from the future.
    """
    validate_chain_id(untrusted, trusted.chain_id)
    if untrusted.height <= trusted.height:
        raise UntrustedHeader("new header is not above the trusted one")
    t_new, t_old = untrusted.time, trusted.time
    if (t_new.seconds, t_new.nanos) <= (t_old.seconds, t_old.nanos):
        raise UntrustedHeader("new header's time is not after the trusted header's")
    if t_new.seconds > now + MAX_CLOCK_DRIFT_S:
        raise UntrustedHeader("header time is in the future", header_time=t_new.seconds)


def verify_light_block(trusted: LightBlock, untrusted: LightBlock, now: float) -> None:
    """Verify ``untrusted`` from ``trusted``: adjacent or skipping (1/3 trust level)."""
    validate_new_header(trusted.header, untrusted.header, now)
    if untrusted.header.height == trusted.header.height + 1:
        if untrusted.header.validators_hash != trusted.header.next_validators_hash:
            raise UntrustedHeader("validators differ from the trusted header's next validators")
    else:
        total = sum(v.power for v in trusted.validators)
        signed = compute_trusted_power(
            untrusted.header.chain_id, untrusted.commit, trusted.validators
        )
        if signed * TRUST_DENOMINATOR <= total * TRUST_NUMERATOR:
            raise InsufficientTrust("less than 1/3 of the trusted power signed")
    verify_commit_light(untrusted.header, untrusted.commit, untrusted.validators)


def verify_forward(provider: Provider, trusted: LightBlock, height: int, now: float) -> LightBlock:
    """Return the light block at ``height`` > trusted's, verified by skipping with bisection."""
    pending = [fetch_at(provider, height)]
    while pending:
        try:
            verify_light_block(trusted, pending[-1], now)
        except InsufficientTrust:
            if len(pending) >= MAX_LIGHT_BLOCKS:
                raise UntrustedHeader("too many intermediate headers to verify") from None
            pivot = (trusted.header.height + pending[-1].header.height) // 2
            pending.append(fetch_at(provider, pivot))
            continue
        trusted = pending.pop()
    return trusted


def verify_backward(provider: Provider, trusted: Header, height: int) -> Header:
    """Return the header at ``height`` < trusted's, checked through ``last_block_id``."""
    if trusted.height - height > MAX_BACKWARD_STEPS:
        raise UntrustedHeader("target is too far below the trust root")
    current = trusted
    while current.height > height:
        prev = fetch_at(provider, current.height - 1).header
        if compute_header_hash(prev) != current.last_block_id.hash:
            raise UntrustedHeader("header does not hash to its successor's last block id")
        validate_chain_id(prev, trusted.chain_id)
        current = prev
    return current


def verify_header_at(
    provider: Provider, root: TrustRoot | None, height: int, now: float | None = None
) -> Header:
    """Return the header at ``height`` once verified from ``root``; ``None`` raises."""
    if root is None:
        raise NoTrustRoot("no trust root: give the genesis file or a trusted block hash and height")
    now = time.time() if now is None else now
    base = process_trust_root(provider, root)
    if height == base.header.height:
        return base.header
    if height < base.header.height:
        return verify_backward(provider, base.header, height)
    return verify_forward(provider, base, height, now).header


def validate_freshness(header: Header, max_age_s: float, now: float) -> None:
    """Raise ``StaleProof`` if the header is older than ``max_age_s`` at ``now``."""
    age = now - header.time.seconds
    if age > max_age_s:
        raise StaleProof(
            "proof is for an old header", height=header.height, age_s=int(age), max_age_s=max_age_s
        )


def make_rpc_provider(rpc_url: str) -> Provider:
    """Return a provider that fetches light blocks from a CometBFT RPC."""
    return lambda height: fetch_light_block(rpc_url, height)


def _parse_query(doc: dict[str, Any]) -> tuple[int, bytes, list[Any]]:
    try:
        state_height = parse_json_int(doc["height"])
        proof_height = parse_json_int(doc.get("proof_height") or state_height + 1)
        value = bytes.fromhex(str(doc["value"]))
        proof = doc["proof"]
        if not isinstance(proof, list):
            raise TypeError("proof is not a list")
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidProof(f"malformed query answer: {str(exc)[:200]}") from exc
    # CometBFT's header H+1 carries the app hash after block H; the API's
    # proof_height is a hint, and a wrong one is refused rather than followed.
    if proof_height != state_height + 1:
        raise InvalidProof("proof height is not the state height + 1")
    return state_height + 1, value, proof


def query_verified_by_consensus(
    client: Client,
    provider: Provider,
    store: str,
    key: bytes,
    root: TrustRoot | None,
    max_age_s: float = DEFAULT_MAX_PROOF_AGE_S,
    now: float | None = None,
) -> VerifiedValue:
    """Return ``store/key`` read through ``client``, proven against a header verified
    from ``root`` and no older than ``max_age_s`` (``StaleProof`` otherwise).
    """
    if root is None:
        raise NoTrustRoot("no trust root: give the genesis file or a trusted block hash")
    now = time.time() if now is None else now
    doc = client.query(store, key, prove=True)
    if not isinstance(doc, dict):
        raise CarchainError("query answer is not an object")
    header_height, value, proof = _parse_query(doc)
    header = verify_header_at(provider, root, header_height, now)
    validate_freshness(header, max_age_s, now)
    verify_state_proof(header.app_hash, store, key, value, proof)
    return VerifiedValue(store, key, value, header_height, header.app_hash)
