"""Revoked linkage values per period, precomputed from the seeds the chain publishes.

A completed revocation on chain holds the two linkage seeds ls1(i), ls2(i) of its
first period i. For any period p >= i a receiver steps both seeds forward p - i
times and derives lv(p, j) for every j < ``MAX_J``; the union over all revoked
vehicles is one set per period. Checking a certificate is then one set lookup,
whatever the number of revoked vehicles: the cost per message does not grow with
the list, only the once-per-period precomputation does. A certificate of a period
before a revocation's first period never matches: its values cannot be derived.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from carchain.core import v2x_revocation as rvk
from carchain.core.state import KVView
from carchain.crypto.linkage import compute_linkage_values, compute_next_seed

CACHED_PERIODS = 4  # the current period, the previous and the next two cover every valid cert


@dataclass
class RevokedSeeds:
    """One revoked vehicle: the two LAs' ids and seeds of its first revoked period."""

    la1_id: int
    la2_id: int
    i_from: int
    seed1: bytes
    seed2: bytes
    _at: tuple[int, bytes, bytes] | None = None  # the last period stepped to, memoised

    def compute_seeds_at(self, i_period: int) -> tuple[bytes, bytes]:
        """Return (ls1(p), ls2(p)) for a period p >= i_from, stepping from the nearest memo."""
        start = self._at if self._at is not None and self._at[0] <= i_period else None
        p, s1, s2 = start if start is not None else (self.i_from, self.seed1, self.seed2)
        while p < i_period:
            s1, s2, p = (
                compute_next_seed(self.la1_id, s1),
                compute_next_seed(self.la2_id, s2),
                p + 1,
            )
        self._at = (p, s1, s2)
        return s1, s2


@dataclass
class RevocationIndex:
    """The ``RevocationCheck`` of the receiver: ``is_revoked(lv, i)`` is a set lookup."""

    j_count: int = rvk.MAX_J
    revoked: list[RevokedSeeds] = field(default_factory=list)
    _periods: OrderedDict[int, frozenset[bytes]] = field(default_factory=OrderedDict)

    def process_add(self, seeds: RevokedSeeds) -> None:
        """Add a revoked vehicle; the per-period sets are recomputed on next use."""
        self.revoked.append(seeds)
        self._periods.clear()

    def compute_period_values(self, i_period: int) -> frozenset[bytes]:
        """Return every revoked linkage value of period ``i_period`` (cached per period)."""
        cached = self._periods.get(i_period)
        if cached is not None:
            self._periods.move_to_end(i_period)
            return cached
        values: set[bytes] = set()
        for r in self.revoked:
            if r.i_from <= i_period:
                s1, s2 = r.compute_seeds_at(i_period)
                values.update(compute_linkage_values(r.la1_id, s1, r.la2_id, s2, self.j_count))
        out = frozenset(values)
        self._periods[i_period] = out
        while len(self._periods) > CACHED_PERIODS:
            self._periods.popitem(last=False)
        return out

    def is_revoked(self, linkage_value: bytes, i_period: int) -> bool:
        """Return whether a certificate with ``linkage_value`` in ``i_period`` is revoked."""
        return linkage_value in self.compute_period_values(i_period)


@dataclass
class ChainRevocationIndex(RevocationIndex):
    """A ``RevocationIndex`` fed from chain state; ``process_refresh`` picks up new revocations."""

    _seen: int = 0
    _pending: set[int] = field(default_factory=set)

    def process_refresh(self, view: KVView) -> int:
        """Read decisions made or completed since the last refresh; return how many were added."""
        added = 0
        count = rvk.get_revocation_count(view)
        for seq in sorted(self._pending | set(range(self._seen + 1, count + 1))):
            rv = rvk.get_revocation_optional(view, seq)
            pair = None if rv is None else rvk.get_seed_pair(rv)
            if rv is None or pair is None:
                self._pending.add(seq)
                continue
            self._pending.discard(seq)
            self.process_add(RevokedSeeds(rv.la1_id, rv.la2_id, rv.i_period, *pair))
            added += 1
        self._seen = count
        return added


def build_revocation_index(view: KVView, j_count: int = rvk.MAX_J) -> ChainRevocationIndex:
    """Return an index of every completed revocation in ``view``."""
    index = ChainRevocationIndex(j_count=j_count)
    index.process_refresh(view)
    return index
