"""A linkage authority (LA): seed chains per anonymous request, pre-linkage values, releases.

The arithmetic is ``carchain.crypto.linkage`` (verified against CAMP's test
vectors); this module is the LA's service around it. An LA knows a chain only
by a random ``chain_id`` it drew itself: the registration authority (RA) asks
for "a chain from period i0" without naming the vehicle, and the LA answers,
for every (i, j), with the PLV sealed to the pseudonym CA (the RA relays it but
cannot open it) and a lookup sealed to the LA itself (the PCA keeps it with the
certificate; at revocation it comes back to the LA, which alone can open it and
find the chain). So the LA never learns which vehicle a chain belongs to, and
never sees a certificate.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import msgspec

from carchain.crypto.linkage import SEED_BYTES, compute_plv, compute_seed_at
from carchain.crypto.sealing import open_sealed_box, seal_to
from carchain.crypto.signing import SigningKey
from carchain.errors import DecryptionFailed, InvalidV2xBody

PLV_INFO = b"carchain/v2x-plv/v1"
LOOKUP_INFO = b"carchain/v2x-la-lookup/v1"


class PlvPlaintext(msgspec.Struct, array_like=True, frozen=True):
    """What the PCA opens: the LA that made it, the period and index, the PLV."""

    la_id: int
    i_period: int
    j: int
    plv: bytes


class LookupPlaintext(msgspec.Struct, array_like=True, frozen=True):
    """What only the LA opens again: which of its chains a certificate's PLV came from."""

    la_id: int
    chain_id: bytes
    i_period: int
    j: int


class EncryptedPlv(msgspec.Struct, frozen=True):
    """One (i, j) answer of an LA: the PLV sealed to the PCA and the lookup sealed to the LA."""

    la_id: int
    for_pca: bytes
    lookup: bytes


@dataclass(frozen=True)
class Chain:
    """One anonymous seed chain: its first period and the seed of that period."""

    start_period: int
    seed: bytes  # ls(start_period)


@dataclass
class LinkageAuthority:
    """One LA: its 16-bit id, its member key (to open lookups) and its seed chains."""

    la_id: int
    key: SigningKey
    chains: dict[bytes, Chain] = field(default_factory=dict)

    def process_new_chain(self, start_period: int) -> bytes:
        """Draw a fresh random seed ls(start_period); return the new chain's random id."""
        chain_id = secrets.token_bytes(16)
        self.chains[chain_id] = Chain(start_period, secrets.token_bytes(SEED_BYTES))
        return chain_id

    def get_seed(self, chain_id: bytes, i_period: int) -> bytes:
        """Return ls(i_period) of a chain; periods before its start do not exist."""
        chain = self._get_chain(chain_id)
        if i_period < chain.start_period:
            raise InvalidV2xBody("no seed before the chain's first period", field="i_period")
        return compute_seed_at(self.la_id, chain.seed, i_period - chain.start_period)

    def compute_encrypted_plvs(
        self, chain_id: bytes, i_period: int, j_count: int, pca_key: bytes
    ) -> list[EncryptedPlv]:
        """Return plv(i, 0..j_count-1) of a chain, each sealed to the PCA, with its lookup."""
        seed = self.get_seed(chain_id, i_period)
        out = []
        for j in range(j_count):
            plv = PlvPlaintext(self.la_id, i_period, j, compute_plv(self.la_id, seed, j))
            lookup = LookupPlaintext(self.la_id, chain_id, i_period, j)
            out.append(
                EncryptedPlv(
                    self.la_id,
                    seal_to(pca_key, msgspec.msgpack.encode(plv), PLV_INFO),
                    seal_to(self.key.public_key, msgspec.msgpack.encode(lookup), LOOKUP_INFO),
                )
            )
        return out

    def get_release_seed(self, lookup: bytes, i_period: int) -> bytes:
        """Open a certificate's lookup and return its chain's seed for ``i_period``.

        This is what the LA posts for a revocation: the seed of period i, never
        one before, so the vehicle's earlier certificates stay unlinkable. Nor one
        before the certificate's own period: the chain only checks the seeds against
        the decision's period, so a decision naming an earlier period (the previous
        one is allowed) would have the LA publish a week the car did not misbehave in.
        """
        plain = open_lookup(self.key, lookup)
        if plain.la_id != self.la_id:
            raise DecryptionFailed("cannot decrypt")
        if i_period < plain.i_period:
            raise InvalidV2xBody(
                "no seed of a period before the certificate's own", field="i_period"
            )
        return self.get_seed(plain.chain_id, i_period)

    def _get_chain(self, chain_id: bytes) -> Chain:
        chain = self.chains.get(chain_id)
        if chain is None:
            raise InvalidV2xBody("unknown linkage chain", field="chain_id")
        return chain


def open_lookup(key: SigningKey, lookup: bytes) -> LookupPlaintext:
    """Open an LA lookup sealed to ``key``; raise ``DecryptionFailed`` for anything else."""
    raw = open_sealed_box(key, lookup, LOOKUP_INFO)
    try:
        return msgspec.msgpack.decode(raw, type=LookupPlaintext)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecryptionFailed("cannot decrypt") from exc


def open_plv(key: SigningKey, box: bytes) -> PlvPlaintext:
    """Open a PLV sealed to the PCA's ``key``; raise ``DecryptionFailed`` for anything else."""
    raw = open_sealed_box(key, box, PLV_INFO)
    try:
        return msgspec.msgpack.decode(raw, type=PlvPlaintext)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecryptionFailed("cannot decrypt") from exc
