"""Vehicle data plane benchmark: raw crypto rates vs our ingest pipeline, and anchor cost.

One run, one report, pinned to one core:

- raw AES-256-GCM (pyca/cryptography) and SHA-256 (hashlib) throughput on 1 MiB
  buffers, and their combination (one AEAD pass plus one hash pass over the
  same bytes, 1 / (1/aead + 1/sha));
- our ingest throughput for 256-byte and 4 KiB records: ``seal_batch`` (split into
  category projections, HKDF segment keys, salted RFC 6962 roots, AES-256-GCM per
  segment, SHA-256 of the ciphertext, Ed25519-signed v2 header) plus
  ``FileBlobStore.put_hashed`` of the ciphertext, in 1 MiB batches; as records/s,
  MB/s and the ratio to the raw AEAD-plus-hash rate; with fsync (durable, as the
  gateway stores) and without (page cache only);
- anchor transactions per block for 1k, 10k and 100k simulated vehicles, each
  sending one batch per block to one of three OEM gateways: every gateway
  aggregates its headers into one root and sends one ``anchor.submit``; a solo
  engine executes the block. The count must stay one per gateway per block;
- key envelopes (per vehicle x epoch x category, once a day, not per record): a
  plain one (owner and custodian boxes), an escrowed one (owner box plus a 3-of-4
  Shamir split with one HPKE box per seat) and the gateway's escrow check of it,
  each in microseconds and amortised over a day of one record per second.

Usage: ``.venv/bin/python bench/bench_ingest.py [--seconds S]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from rich.console import Console
from rich.table import Table

from carchain.core.anchors import SubmitAnchor
from carchain.core.case_records import Custodian, EscrowCommittee
from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.crypto.kdf import compute_category_key
from carchain.crypto.signing import SigningKey
from carchain.data.batches import (
    BATCH_VERSION,
    BatchHeader,
    BatchIdentity,
    SignedBatchHeader,
    compute_epoch,
    seal_batch,
)
from carchain.data.custody import decode_key_envelope, seal_category_key
from carchain.data.escrow_shares import seal_shares, validate_escrow_for
from carchain.data.records import V2xLog, encode_record
from carchain.data.segments import SegmentHeader
from carchain.engine.application import Application
from carchain.engine.solo import SoloEngine
from carchain.gateway.anchoring import compute_gateway_root
from carchain.sdk.transactions import build_tx
from carchain.storage.blobstore import FileBlobStore
from carchain.storage.database import Database

MB = 1_000_000
BATCH_BYTES = 1 << 20
CHAIN_ID = "carchain-bench"
OEMS = ("saic", "geely", "byd")
NOW_MS = 1_790_000_000_000


def pin_one_core() -> str:
    """Pin this process to one CPU so every rate is a one-core rate."""
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "not pinned"


def measure(fn: object, seconds: float) -> tuple[int, float]:
    """Call ``fn()`` repeatedly for about ``seconds``; return (calls, elapsed)."""
    call = fn  # type: ignore[assignment]
    n, start = 0, time.perf_counter()
    while True:
        call()  # type: ignore[operator]
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n, elapsed


def raw_rates(seconds: float) -> tuple[float, float, float]:
    """Return raw AES-256-GCM, SHA-256 and combined MB/s on 1 MiB buffers."""
    data = os.urandom(BATCH_BYTES)
    aead = AESGCM(os.urandom(32))
    nonce = os.urandom(12)
    n, t = measure(lambda: aead.encrypt(nonce, data, b""), seconds)
    aes = n * len(data) / t / MB
    n, t = measure(lambda: hashlib.sha256(data).digest(), seconds)
    sha = n * len(data) / t / MB
    return aes, sha, 1 / (1 / aes + 1 / sha)


def ingest_rate(record_size: int, seconds: float, store_mode: str) -> tuple[float, float]:
    """Return (records/s, MB/s) of seal + hash + Merkle + sign (+ store) for one record size.

    ``store_mode``: ``fsync`` (durable), ``page cache`` (no fsync) or ``none`` (CPU only).
    """
    per_batch = BATCH_BYTES // record_size
    # V2X logs whose message hash fills the record: two segments (time, v2x_message).
    records = [
        encode_record(V2xLog(NOW_MS + i, "rx", None, "cam", os.urandom(max(1, record_size - 30))))
        for i in range(per_batch)
    ]
    key = SigningKey.generate()
    epoch_key = os.urandom(32)
    epoch = compute_epoch(NOW_MS)
    cats = ("time", "v2x_message")
    category_keys = {c: compute_category_key(epoch_key, "bench-vehicle", epoch, c) for c in cats}
    key_refs = {c: b"r" * 32 for c in cats}
    with tempfile.TemporaryDirectory(prefix="carchain-bench-") as tmp:
        store = FileBlobStore(Path(tmp), fsync=store_mode == "fsync")
        seq = 0

        def one_batch() -> None:
            nonlocal seq
            sealed = seal_batch(
                records,
                key=key,
                batch=BatchIdentity("bench-vehicle", epoch, seq, NOW_MS, NOW_MS + 60_000),
                category_keys=category_keys,
                key_refs=key_refs,
            )
            if store_mode != "none":
                store.put_hashed(sealed.signed.header.ciphertext_hash, sealed.ciphertext)
            seq += 1

        n, t = measure(one_batch, seconds)
    plaintext = sum(len(r) for r in records)
    return n * per_batch / t, n * plaintext / t / MB


def _make_signed_header(oem: str, v: int, seq: int, sig: bytes) -> SignedBatchHeader:
    """Return a v2 header of vehicle ``v`` (three segments, 100 records) for the anchor bench."""
    segments = [
        SegmentHeader(
            cat,
            100,
            hashlib.sha256(b"r%d%s" % (v, cat.encode())).digest(),
            b"n" * 12,
            i * 8_000,
            8_000,
            hashlib.sha256(b"c%d%s" % (v, cat.encode())).digest(),
            hashlib.sha256(b"k%d%s" % (v, cat.encode())).digest(),
        )
        for i, cat in enumerate(("location", "motion", "time"))
    ]
    header = BatchHeader(
        BATCH_VERSION,
        f"{oem}:{v:06d}",
        compute_epoch(NOW_MS),
        seq,
        NOW_MS,
        NOW_MS + 1000,
        100,
        segments,
        hashlib.sha256(b"c%d" % v).digest(),
        24_000,
    )
    return SignedBatchHeader(header, sig)


def anchors_per_block(vehicles: int, blocks: int = 3) -> tuple[float, float, int, float]:
    """Simulate ``vehicles`` each sending one batch per block; return per-block averages:
    anchor txs, batches, on-chain anchor bytes, and gateway root ms (largest gateway)."""
    keys = {m: SigningKey.from_seed(hashlib.sha256(m.encode()).digest()) for m in OEMS}
    genesis = Genesis(
        CHAIN_ID,
        0,
        GovernanceParams(2, 3, 1000),
        [GenesisMember(m, m.upper(), ["oem"], k.public_key.hex()) for m, k in keys.items()],
    )
    dummy_sig = b"\x00" * 64
    with tempfile.TemporaryDirectory(prefix="carchain-bench-") as tmp:
        db = Database(Path(tmp) / "state.db")
        app = Application(db)
        app.init_chain(genesis)
        engine = SoloEngine(app)
        txs_total = batches_total = bytes_total = 0
        root_ms = 0.0
        for b in range(blocks):
            nonce = b + 1
            for g, oem in enumerate(OEMS):
                mine = range(g, vehicles, len(OEMS))
                headers = [_encode_header(_make_signed_header(oem, v, b, dummy_sig)) for v in mine]
                t0 = time.perf_counter()
                root = compute_gateway_root(headers)
                root_ms = max(root_ms, (time.perf_counter() - t0) * 1000)
                body = SubmitAnchor(
                    nonce, root, len(headers), 100 * len(headers), NOW_MS, NOW_MS + 1000, root
                )
                tx = build_tx(CHAIN_ID, keys[oem], nonce, body)
                assert engine.submit(tx).ok
                batches_total += len(headers)
                bytes_total += len(tx)
            block = engine.produce_block(NOW_MS + b * 1000)
            assert block is not None
            assert all(r.code == 0 for r in block.results), block.results
            txs_total += len(block.txs)
        db.close()
    return txs_total / blocks, batches_total / blocks, bytes_total // blocks, root_ms


def envelope_costs(seconds: float) -> list[tuple[str, float]]:
    """Return microseconds per key envelope: plain sealing, escrowed 3-of-4 sealing, and
    the gateway's decode plus escrow check of an escrowed one."""
    seats = [SigningKey.generate() for _ in range(4)]
    committee = EscrowCommittee(
        1,
        3,
        [Custodian(i, f"m{i}", f"org{i}", k.public_key) for i, k in enumerate(seats, 1)],
        ["location"],
        0,
        1,
    )
    holders = [k.public_key for k in seats]
    owner, custodian = SigningKey.generate().public_key, SigningKey.generate().public_key
    key, epoch = os.urandom(32), compute_epoch(NOW_MS)

    def plain() -> bytes:
        return seal_category_key(key, "bench-vehicle", epoch, "motion", owner, custodian)

    def escrowed() -> bytes:
        shares = seal_shares(key, "bench-vehicle", epoch, "location", committee, holders)
        return seal_category_key(
            key,
            "bench-vehicle",
            epoch,
            "location",
            owner,
            custodian,
            committee_version=1,
            escrow=shares,
        )

    raw = escrowed()
    out = []
    for name, fn in (
        ("plain (owner + custodian)", plain),
        ("escrowed 3 of 4 (owner + 4 shares)", escrowed),
        (
            "gateway check of an escrowed one",
            lambda: validate_escrow_for(decode_key_envelope(raw), committee, holders),
        ),
    ):
        n, t = measure(fn, seconds)
        out.append((name, t / n * 1e6))
    return out


def _encode_header(h: SignedBatchHeader) -> bytes:
    import msgspec

    return msgspec.msgpack.encode(h)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument(
        "--fleets", type=int, nargs="+", default=[1_000, 10_000, 100_000], help="vehicle counts"
    )
    args = parser.parse_args(argv)
    console = Console(width=120)
    pinned = pin_one_core()
    console.print(
        f"[bold]bench_ingest[/bold] {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus ({pinned}), "
        f"Python {platform.python_version()}"
    )
    aes, sha, combined = raw_rates(args.seconds)
    raw = Table("raw, one core", "MB/s")
    raw.add_row("AES-256-GCM (pyca/cryptography)", f"{aes:,.0f}")
    raw.add_row("SHA-256 (hashlib)", f"{sha:,.0f}")
    raw.add_row("AEAD + hash over the same bytes", f"{combined:,.0f}")
    console.print(raw)

    table = Table(
        "record size",
        "store",
        "records/s",
        "MB/s",
        "ratio to AEAD+hash",
        "goal",
        title="ingest: seal + Merkle + hash + sign, then store (1 MiB batches)",
    )
    for size in (256, 4096):
        for mode in ("fsync", "page cache", "none"):
            rps, mbps = ingest_rate(size, args.seconds, mode)
            goal = (
                f"≥100k rec/s: {'met' if rps >= 100_000 else 'MISSED'}"
                if size == 256
                else f"≥0.5: {'met' if mbps / combined >= 0.5 else 'MISSED'}"
            )
            table.add_row(
                f"{size} B",
                mode,
                f"{rps:,.0f}",
                f"{mbps:,.0f}",
                f"{mbps / combined:.2f}",
                goal,
            )
    console.print(table)

    anchors = Table(
        "vehicles",
        "gateways",
        "batches/block",
        "anchor txs/block",
        "anchor bytes/block",
        "root ms (largest gateway)",
        title="anchoring: one batch per vehicle per block",
    )
    for vehicles in args.fleets:
        txs, batches, nbytes, root_ms = anchors_per_block(vehicles)
        assert txs == len(OEMS), f"{txs} anchor txs per block for {len(OEMS)} gateways"
        anchors.add_row(
            f"{vehicles:,}",
            str(len(OEMS)),
            f"{batches:,.0f}",
            f"{txs:.0f}",
            f"{nbytes:,}",
            f"{root_ms:,.1f}",
        )
    console.print(anchors)

    envelopes = Table(
        "key envelope (once per vehicle x epoch x category)",
        "µs each",
        "ns per record (1 rec/s for a day)",
        title="key envelopes and escrow shares",
    )
    for name, us in envelope_costs(args.seconds):
        envelopes.add_row(name, f"{us:,.0f}", f"{us * 1000 / 86_400:,.2f}")
    console.print(envelopes)


if __name__ == "__main__":
    main()
