"""Gateway ingest benchmark: durable batches/s through one gateway's ``Ingestor``, with
and without group commit, against what a million cars need.

1M vehicles sending one batch a minute through 10 gateways need 1,667 batches/s per
gateway. Here ``--threads`` request threads (as the gateway's HTTP server runs its
handlers) each upload single sealed batches of about 4.8 KB (``POST /batches``: one
batch a request) into the gateway's default stores (segment blob stores, the SQLite
journal, every write flushed) for ``--seconds``, twice: with group commit
(``gateway.group_commit``: a store takes every upload that arrived while the previous
one flushed) and one store per request (the lock taken per upload, as before). The
vehicle lookups come from the gateway's registry view (``RegistryView``) over an
embedded node (in this process, its API on 127.0.0.1) where the cars are registered
(``--registry chain``, the default; each run starts with a view that has read every
car once, the steady state: a car's later batches need no node read), or from a plain dictionary
(``--registry memory``: the store path alone). Prints batches/s, stores (flushes) per
batch and the ratio to 1,667/s.

``--stores fs,seaweedfs`` (the default) runs the same pair of paths a second time
with the blob namespaces in S3 (``S3BlobStore``) on a SeaweedFS server this script
starts on loopback (``weed server -s3``, built by ``make setup-objectstore``; its
data folder on the same disk; stopped by its pid at the end); the journal stays
in SQLite on the local disk either way.

Usage: ``PYTHONPATH=$PWD/src .venv/bin/python bench/bench_gateway_ingest.py
[--threads T] [--seconds S] [--cars N] [--stores fs,seaweedfs]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

from carchain.core.vehicles import OwnerPeriod, Vehicle, get_current_owner_period
from carchain.crypto.signing import SigningKey
from carchain.data.categories import DataCategory
from carchain.data.minimisation import Action, MinimisationPolicy, Rule
from carchain.data.records import Telemetry
from carchain.gateway.ingest import CheckedUpload, Ingestor, Outcome, VehicleDirectory
from carchain.gateway.journal import Journal
from carchain.gateway.registry_view import RegistryView
from carchain.sdk.client import Client
from carchain.sdk.vehicle import VehicleRecorder
from carchain.sim.embedded import EmbeddedNode
from carchain.storage.local_s3 import LocalS3, find_weed
from carchain.storage.namespaces import open_namespace
from carchain.storage.s3_location import S3Location

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_registry_view import make_genesis, register_vehicles

NEED = 1_000_000 / 60 / 10  # batches/s per gateway: 1M cars, one a minute, 10 gateways
SAMPLE_MS = 2_500  # 24 samples in a one-minute batch: about 4.8 KB sealed
STORE_NAMES = {"fs": "segment files", "seaweedfs": "S3 (SeaweedFS)"}
REGISTRIES = {"chain": "registry view over a node", "memory": "memory"}
COLLECT = MinimisationPolicy("bench", {c: Rule(Action.COLLECT) for c in DataCategory})


class Registry:
    """The vehicles, in memory (``VehicleDirectory``)."""

    def __init__(self) -> None:
        self.vehicles: dict[str, Vehicle] = {}

    def get_vehicle(self, vehicle_id: str, not_before_ms: int = 0) -> Vehicle:
        return self.vehicles[vehicle_id]

    def get_owner_period(self, vehicle: Vehicle, time_ms: int) -> OwnerPeriod:
        return get_current_owner_period(vehicle)


def make_uploads(cars: int, per_car: int, custodian: bytes) -> tuple[Registry, list[bytes]]:
    """Seal ``per_car`` one-minute batches for each of ``cars`` cars, ending now."""
    registry, uploads = Registry(), []
    start = int(time.time() * 1000) - per_car * 60_000 - 60_000
    for i in range(cars):
        vid, key, owner = f"saic:bench-{i}", SigningKey.generate(), SigningKey.generate()
        registry.vehicles[vid] = Vehicle(vid, "saic", b"\0" * 32, key.public_key, "RX5", 2024,
                                         owner.public_key, "active", 1)  # fmt: skip
        rec = VehicleRecorder(vid, key, owner.public_key, custodian, COLLECT, window_ms=60_000)
        for s in range(per_car * 60_000 // SAMPLE_MS):
            t = start + s * SAMPLE_MS
            for up in rec.add_at(Telemetry(t, 31.2, 121.4, 50.0, 90.0, 0.1), t):
                uploads.append(up.body)
        uploads += [u.body for u in rec.flush()]
    return registry, uploads


def open_ingestor(
    folder: Path, registry: VehicleDirectory, custodian: bytes, s3: S3Location | None = None
) -> Ingestor:
    journal = Journal(folder / "journal.db")
    blobs = open_namespace(folder, "blobs", s3=s3)
    keys = open_namespace(folder, "keys", s3=s3)
    return Ingestor("saic", custodian, blobs, keys, journal, registry)


@contextlib.contextmanager
def seaweedfs(folder: Path) -> Iterator[str]:
    """Run a SeaweedFS S3 server on loopback; yield its endpoint (its key in the env)."""
    binary = find_weed()
    if binary is None:
        sys.exit("SeaweedFS (weed) is missing: run `make setup-objectstore`")
    with LocalS3(binary, folder) as server:
        os.environ["AWS_ACCESS_KEY_ID"] = server.access_key
        os.environ["AWS_SECRET_ACCESS_KEY"] = server.secret_key
        yield server.endpoint_url


@contextlib.contextmanager
def open_chain(home: Path, registry: Registry) -> Iterator[Client]:
    """Run an embedded node with the registry's cars registered; yield its client."""
    with EmbeddedNode(home, make_genesis(), block_interval_ms=200) as node:
        client = Client(node.url)
        cars = [(v.vehicle_id, v.public_key, v.owner) for v in registry.vehicles.values()]
        register_vehicles(client, cars)
        try:
            yield client
        finally:
            client.close()


def warm_view(client: Client, registry: Registry) -> RegistryView:
    """Return a registry view that has read every car once (the steady state of a
    gateway that has seen each car's first batch)."""
    view = RegistryView(client)
    for vid in registry.vehicles:
        view.get_vehicle(vid)
    return view


def per_request_store(ingestor: Ingestor) -> Callable[[bytes, int], object]:
    """One store (one flush) per upload, under the ingestor's lock: no group commit."""

    def process(raw: bytes, now_ms: int) -> Outcome:
        checked: CheckedUpload = ingestor.check_upload_at(raw, now_ms)
        (outcome,) = ingestor._store_locked([checked])
        return outcome

    return process


def run(uploads: list[bytes], threads: int, seconds: float, ingestor: Ingestor,
        grouped: bool) -> tuple[float, int, int]:  # fmt: skip
    """Upload from ``threads`` threads for ``seconds``; return batches/s, batches, stores."""
    process = ingestor.process_batch_at if grouped else per_request_store(ingestor)
    stores = [0]
    if not grouped:
        inner = ingestor._store_locked

        def counted(group: list[CheckedUpload]) -> list[Outcome]:
            stores[0] += 1
            return inner(group)

        ingestor._store_locked = counted  # type: ignore[method-assign]
    taken, lock, stop = iter(uploads), threading.Lock(), time.monotonic() + seconds
    done = [0]

    def worker() -> None:
        while time.monotonic() < stop:
            with lock:
                raw = next(taken, None)
            if raw is None:
                return
            process(raw, int(time.time() * 1000))
            with lock:
                done[0] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(worker) for _ in range(threads)]:
            f.result()
    elapsed = time.monotonic() - started
    n_stores = ingestor.committer.stores if grouped else stores[0]
    return done[0] / elapsed, done[0], n_stores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cars", type=int, default=400)
    parser.add_argument("--per-car", type=int, default=30, help="batches sealed per car")
    parser.add_argument("--stores", default="fs,seaweedfs", help="fs and/or seaweedfs")
    parser.add_argument("--registry", default="chain", choices=("chain", "memory"))
    args = parser.parse_args()
    custodian = SigningKey.generate().public_key
    console = Console(width=120)  # one line a row, also in a narrow terminal or a pipe
    load = os.getloadavg()[0]
    console.print(f"sealing {args.cars * args.per_car:,} batches ...")
    registry, uploads = make_uploads(args.cars, args.per_car, custodian)
    size = sum(len(u) for u in uploads) / len(uploads)
    title = f"gateway ingest, {args.threads} threads, {size:,.0f}-byte batches"
    table = Table(title=f"{title}, vehicles from the {REGISTRIES[args.registry]}")
    for col in (
        "blob store",
        "store path",
        "batches",
        "batches/s",
        "stores per batch",
        "of 1,667/s",
    ):
        table.add_column(col, justify="right")
    stores = args.stores.split(",")
    if not set(stores) <= {"fs", "seaweedfs"}:
        sys.exit("--stores takes fs and/or seaweedfs")
    with contextlib.ExitStack() as stack:
        tmp_root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-gw-")))
        endpoint, client = "", None
        if args.registry == "chain":
            client = stack.enter_context(open_chain(tmp_root / "node", registry))
        if "seaweedfs" in stores:
            endpoint = stack.enter_context(seaweedfs(tmp_root / "weed"))
        runs = [(store, grouped) for store in stores for grouped in (True, False, True, False)]
        for i, (store, grouped) in enumerate(runs):
            folder = tmp_root / f"run{i}"
            s3 = S3Location(endpoint, "bench", f"run{i}") if store == "seaweedfs" else None
            view: VehicleDirectory = registry if client is None else warm_view(client, registry)
            ingestor = open_ingestor(folder, view, custodian, s3)
            rate, n, n_stores = run(uploads, args.threads, args.seconds, ingestor, grouped)
            ingestor.journal.close()
            for ns in (ingestor.blobs, ingestor.keys):
                ns.close()  # type: ignore[attr-defined]
            path = "group commit" if grouped else "a store per request"
            table.add_row(STORE_NAMES[store], path, f"{n:,}", f"{rate:,.0f}",
                          f"{n_stores / max(n, 1):.3f}", f"{rate / NEED:.2f}")  # fmt: skip
    console.print(table)
    console.print(f"{os.cpu_count()} CPUs, load average {load:.1f} before, "
                  f"{os.getloadavg()[0]:.1f} after")  # fmt: skip


if __name__ == "__main__":
    main()
