"""The revocation check's cost per message against the number of revoked vehicles.

Builds a ``RevocationIndex`` with N revoked vehicles (random seed pairs, as the chain
publishes them), measures the once-per-period precomputation (N x 64 linkage values)
and then the per-message ``is_revoked`` lookup for each N. The lookup is a set lookup,
so its cost must not grow with N. One core, one process.

    .venv/bin/python bench/bench_v2x_revocation.py --sizes 10 1000 10000
"""

from __future__ import annotations

import argparse
import secrets
import time
from dataclasses import dataclass

from carchain.v2x.revocation_index import RevocationIndex, RevokedSeeds

PERIOD = 1200


@dataclass(frozen=True)
class Row:
    """One size: revoked vehicles, precompute seconds, ns per lookup (miss and hit)."""

    revoked: int
    precompute_s: float
    miss_ns: float
    hit_ns: float


def measure(revoked: int, lookups: int) -> Row:
    """Return the figures for ``revoked`` vehicles and ``lookups`` lookups of each kind."""
    index = RevocationIndex()
    for _ in range(revoked):
        index.process_add(
            RevokedSeeds(1, 2, PERIOD - 1, secrets.token_bytes(16), secrets.token_bytes(16))
        )
    t0 = time.perf_counter()
    values = index.compute_period_values(PERIOD)
    precompute = time.perf_counter() - t0
    hit = next(iter(values))
    misses = [secrets.token_bytes(9) for _ in range(1024)]
    t0 = time.perf_counter()
    for k in range(lookups):
        index.is_revoked(misses[k & 1023], PERIOD)
    miss = (time.perf_counter() - t0) / lookups * 1e9
    t0 = time.perf_counter()
    for _ in range(lookups):
        index.is_revoked(hit, PERIOD)
    return Row(revoked, precompute, miss, (time.perf_counter() - t0) / lookups * 1e9)


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the benchmark; print a table; return its rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--lookups", type=int, default=200_000)
    args = parser.parse_args(argv)
    rows = [measure(n, args.lookups) for n in args.sizes]
    print("revoked  precompute/period (s)  lookup miss (ns)  lookup hit (ns)")
    for r in rows:
        print(f"{r.revoked:7d}  {r.precompute_s:21.3f}  {r.miss_ns:16.0f}  {r.hit_ns:15.0f}")
    return rows


if __name__ == "__main__":
    main()
