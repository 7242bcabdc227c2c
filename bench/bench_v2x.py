"""V2X receive-path benchmark: raw ECDSA P-256 verify vs our full receiver, one core, one run.

One table:

- raw ECDSA P-256 verify/s through pyca/cryptography (pre-hashed digest, loaded key: the
  primitive alone);
- the full receive path (``Receiver.verify_at``: parse with the fast path, PSID, time
  window, replay, signer from the warm certificate cache, CA still trusted, validity,
  linkage revocation against 10^4 revoked vehicles, signature) for ``signer=digest`` CAMs,
  as msgs/s and as a ratio to the raw rate (goal >= 0.8);
- the same for ``signer=certificate`` CAMs with a warm cache, and with a cold cache
  (every certificate new: decode, chain check, CA signature);
- the same digest path with the fast parser switched off (pycrate decodes the whole
  ``Ieee1609Dot2Data`` with its structure): the figure before the structural change;
- decoding the CAM itself (UPER, pycrate), which the application does after verifying;
- the revocation check per message with 10^3, 10^4 and 10^5 revoked vehicles (20 linkage
  values each for the current period, precomputed into a set): it must not grow.

Usage: ``.venv/bin/python bench/bench_v2x.py [--messages N] [--repeat R] [--profile]``.
Each figure is the best of R runs (default 2): the machine is shared.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from rich.console import Console
from rich.table import Table

from carchain.crypto.ecdsa import P256SigningKey
from carchain.v2x import codec
from carchain.v2x import signed_data as signed_data_module
from carchain.v2x.certificates import (
    PSID_CAM,
    PSID_DENM,
    LinkageData,
    build_ca_certificate,
    build_pseudonym_certificate,
)
from carchain.v2x.messages import build_cam_value
from carchain.v2x.receiver import Receiver
from carchain.v2x.signed_data import build_signed_data
from carchain.v2x.trust import LinkageValueSet, StaticTrustStore, compute_ca_record

START_S = 1_780_000_000
T0_MS = (START_S + 60) * 1000
SIGNERS = 50
REVOKED_VEHICLES = 10_000
CERTS_PER_PERIOD = 20


@dataclass
class Fleet:
    """A CA, pseudonyms, and pre-built messages (each one distinct, so no replay hits)."""

    trust: StaticTrustStore
    certificates: list[bytes]
    digest: list[tuple[bytes, int]]
    certificate: list[tuple[bytes, int]]
    cold: list[tuple[bytes, int]]
    cam: bytes


def build_fleet(messages: int) -> Fleet:
    """Return a CA, SIGNERS pseudonyms and ``messages`` CAMs of each signer kind."""
    ca_key = P256SigningKey.generate()
    ca_cert = build_ca_certificate(ca_key, [PSID_CAM, PSID_DENM], START_S - 86_400, 24 * 365)
    keys, certs = [], []
    for n in range(SIGNERS + messages):  # the extra ones are only ever seen cold
        key = P256SigningKey.generate()
        linkage = LinkageData(1, n.to_bytes(9, "big"))
        certs.append(
            build_pseudonym_certificate(
                ca_cert, ca_key, key.public_key_compressed, START_S, 168, [PSID_CAM], linkage
            )
        )
        keys.append(key)
    cam = codec.encode_cam(build_cam_value(1, T0_MS))

    def batch(signer: str, pick: Callable[[int], int]) -> list[tuple[bytes, int]]:
        out = []
        for m in range(messages):
            at = T0_MS + m
            i = pick(m)
            out.append((build_signed_data(cam, PSID_CAM, at, keys[i], certs[i], signer), at))
        return out

    return Fleet(
        trust=StaticTrustStore([compute_ca_record(ca_cert)]),
        certificates=certs[:SIGNERS],
        digest=batch("digest", lambda m: m % SIGNERS),
        certificate=batch("certificate", lambda m: m % SIGNERS),
        cold=batch("certificate", lambda m: SIGNERS + m),
        cam=cam,
    )


def compute_revoked(vehicles: int, period: int = 1) -> LinkageValueSet:
    """Return the precomputed linkage values of ``vehicles`` revoked vehicles for a period."""
    revoked = LinkageValueSet()
    for v in range(vehicles):
        for j in range(CERTS_PER_PERIOD):
            revoked.add(os.urandom(9) if v or j else b"\xff" * 9, period)
    return revoked


_ALGORITHM = ec.ECDSA(Prehashed(hashes.SHA256()))


def build_raw_items(count: int) -> tuple[ec.EllipticCurvePublicKey, list[tuple[bytes, bytes]]]:
    """Return a public key and ``count`` (DER signature, digest) pairs it verifies."""
    key = ec.generate_private_key(ec.SECP256R1())
    items = []
    for _ in range(count):
        digest = os.urandom(32)
        items.append((key.sign(digest, _ALGORITHM), digest))
    return key.public_key(), items


def measure_interleaved(
    fleet: Fleet, batch: list[tuple[bytes, int]], revoked: LinkageValueSet, chunk: int = 100
) -> tuple[float, float]:
    """Return (raw verify/s, receive msgs/s), alternating chunks so both see the same load.

    The machine is shared: measured minutes apart, the two rates would not be comparable.
    """
    public, items = build_raw_items(len(batch))
    receiver = make_receiver(fleet, revoked, warm=True)
    raw_s = receive_s = 0.0
    for at in range(0, len(batch), chunk):
        start = time.perf_counter()
        for signature, digest in items[at : at + chunk]:
            public.verify(signature, digest, _ALGORITHM)
        middle = time.perf_counter()
        for message, when in batch[at : at + chunk]:
            receiver.verify_at(message, when)
        raw_s += middle - start
        receive_s += time.perf_counter() - middle
    return len(batch) / raw_s, len(batch) / receive_s


def make_receiver(fleet: Fleet, revoked: LinkageValueSet, warm: bool) -> Receiver:
    """Return a receiver whose cache knows every signer if ``warm``."""
    receiver = Receiver(fleet.trust, revoked, lambda: T0_MS)
    for cert in fleet.certificates if warm else ():
        receiver.admit_certificate(cert)
    return receiver


def measure_receive(
    fleet: Fleet, batch: list[tuple[bytes, int]], revoked: LinkageValueSet, warm: bool
) -> float:
    """Return messages per second through ``Receiver.verify_at``."""
    receiver = make_receiver(fleet, revoked, warm)
    start = time.perf_counter()
    for raw, at in batch:
        receiver.verify_at(raw, at)
    return len(batch) / (time.perf_counter() - start)


def measure_receive_full_parse(fleet: Fleet, revoked: LinkageValueSet) -> float:
    """The digest path with the fast parser off: pycrate decodes every whole message."""
    fast = signed_data_module._decode_fast
    signed_data_module._decode_fast = lambda raw: None  # type: ignore[assignment]
    try:
        return measure_receive(fleet, fleet.digest, revoked, warm=True)
    finally:
        signed_data_module._decode_fast = fast


def measure_cam_decode(cam: bytes, count: int) -> float:
    """Return CAM (UPER) decodes per second through pycrate."""
    start = time.perf_counter()
    for _ in range(count):
        codec.decode_cam(cam)
    return count / (time.perf_counter() - start)


def measure_revocation_ns(vehicles: int, probes: int = 100_000) -> float:
    """Return nanoseconds per ``is_revoked`` lookup with ``vehicles`` revoked vehicles."""
    revoked = compute_revoked(vehicles)
    values = [os.urandom(9) for _ in range(probes)]
    start = time.perf_counter_ns()
    for value in values:
        revoked.is_revoked(value, 1)
    return (time.perf_counter_ns() - start) / probes


def best_of(repeat: int, measure: Callable[[], float], lowest: bool = False) -> float:
    """Return the best of ``repeat`` runs (highest rate, or lowest cost)."""
    results = [measure() for _ in range(repeat)]
    return min(results) if lowest else max(results)


def run(messages: int, repeat: int, console: Console) -> dict[str, float]:
    """Run every measure and print the table; return the figures."""
    fleet = build_fleet(messages)
    revoked = compute_revoked(REVOKED_VEHICLES)
    digest = max((measure_interleaved(fleet, fleet.digest, revoked) for _ in range(repeat)),
                 key=lambda pair: pair[1] / pair[0])  # fmt: skip
    certificate = max(
        (measure_interleaved(fleet, fleet.certificate, revoked) for _ in range(repeat)),
        key=lambda pair: pair[1] / pair[0],
    )
    figures = {
        "raw": digest[0],
        "digest": digest[1],
        "raw_certificate": certificate[0],
        "certificate": certificate[1],
        "cold": best_of(repeat, lambda: measure_receive(fleet, fleet.cold, revoked, False)),
        "full_parse": best_of(repeat, lambda: measure_receive_full_parse(fleet, revoked)),
        "cam_decode": best_of(repeat, lambda: measure_cam_decode(fleet.cam, messages)),
    }
    for vehicles in (1_000, 10_000, 100_000):
        figures[f"revocation_{vehicles}"] = best_of(
            repeat, lambda v=vehicles: measure_revocation_ns(v), lowest=True
        )
    print_table(console, figures, messages)
    return figures


def print_table(console: Console, f: dict[str, float], messages: int) -> None:
    """Print the figures as one table."""
    table = Table("measure", "rate or cost", "ratio to raw verify", title="V2X receive path")
    table.add_row("raw ECDSA P-256 verify (pyca/cryptography)", f"{f['raw']:,.0f} /s", "1.00")
    table.add_row(
        "  (interleaved with the signer=certificate run)", f"{f['raw_certificate']:,.0f} /s", ""
    )
    rows = [
        ("receive signer=digest, warm cache", "digest"),
        ("receive signer=certificate, warm cache", "certificate"),
        ("receive signer=certificate, cold cache", "cold"),
        ("receive signer=digest, full pycrate parse (before)", "full_parse"),
    ]
    for label, key in rows:
        raw = f["raw_certificate"] if key == "certificate" else f["raw"]
        table.add_row(label, f"{f[key]:,.0f} msgs/s", f"{f[key] / raw:.2f}")
    table.add_row("CAM decode (UPER, pycrate), after verify", f"{f['cam_decode']:,.0f} /s", "")
    for vehicles in (1_000, 10_000, 100_000):
        cost = f[f"revocation_{vehicles}"]
        table.add_row(f"revocation check, {vehicles:,} revoked vehicles", f"{cost:,.0f} ns", "")
    console.print(table)
    console.print(
        f"{messages} messages per measure, {SIGNERS} signers, "
        f"{REVOKED_VEHICLES:,} revoked vehicles x {CERTS_PER_PERIOD} linkage values; "
        f"1,000-3,000 msgs/s needed: {'met' if f['digest'] >= 1_000 else 'NOT met'} "
        f"(digest, {f['digest']:,.0f} msgs/s)"
    )


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    console = Console()
    run(args.messages, args.repeat, console)
    if args.profile:
        fleet = build_fleet(args.messages)
        revoked = compute_revoked(REVOKED_VEHICLES)
        profiler = cProfile.Profile()
        profiler.runcall(measure_receive, fleet, fleet.digest, revoked, True)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
