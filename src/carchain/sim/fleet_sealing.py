"""The cars seal and upload their batches, each in its own ``VehicleRecorder``, in
worker processes.

Every car seals independently of every other (its own keys, its own recorder), as
real cars do, so the fleet's sealing is spread over worker processes, forked before
the node and the gateways start (``open_sealers``). A worker gets a chunk of cars and
their records, derives each car's keys from the seed, seals with the car's
``VehicleRecorder`` and uploads each car's batches to its OEM's gateway itself (one
group a car, several in flight), as a car does over its own link: what comes back to
the main process is a few counts a car, not the sealed bytes (``upload_job``).

The escrow committee a car seals its shares to is what its node answers
(``ChainEscrowSource``): the main process reads it once per epoch of the drive
before sealing starts and hands it to the workers (``KnownEscrow``); an epoch it
did not read is an error, never a batch sealed without escrow.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import msgspec

from carchain.data.batches import compute_epoch
from carchain.data.categories import DataCategory
from carchain.data.minimisation import Action, MinimisationPolicy, Rule
from carchain.data.records import EdrEvent, Record
from carchain.errors import CarchainError, make_error
from carchain.sdk.escrow_seats import EscrowSeats, EscrowSource
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.vehicle import Upload, VehicleRecorder
from carchain.sim.fleet import Car, derive_owner_key, derive_vehicle_key

BATCH_WINDOW_MS = 3_600_000  # one batch a car an hour, as the demo's drive: gateways cost per batch
SEAL_CHUNK = 20  # cars per worker task
SEAL_WORKERS = max(1, min(4, os.cpu_count() or 1))
UPLOADS_PER_WORKER = 4  # a worker's uploads in flight while it seals the next cars
UPLOAD_GROUP = 256  # a car's batches go up in groups of at most this many

# The fleet's policy: time to the second, position to ~10 m, the peer of a V2X log
# kept as it is (it is already a pseudonym: a certificate's HashedId8, which only
# its CA can resolve), everything else collected.
SIM_POLICY = MinimisationPolicy(
    "fleet-sim",
    {
        **{c: Rule(Action.COLLECT) for c in DataCategory},
        DataCategory.TIME: Rule(Action.COARSEN, 1000),
        DataCategory.LOCATION: Rule(Action.COARSEN, 0.0001),
    },
)

TimedRecords = list[tuple[int, Record]]
_records_encoder = msgspec.msgpack.Encoder()
_records_decoder = msgspec.msgpack.Decoder(list[list[tuple[int, Record]]])


def encode_records(records: Sequence[TimedRecords]) -> bytes:
    """Return cars' timed records as msgpack (what a ``SealJob`` carries)."""
    return _records_encoder.encode(list(records))


@dataclass(frozen=True, slots=True)
class KnownEscrow:
    """committee(epoch) for one OEM's cars, as read from the node for every epoch of
    the drive (``None``: no committee in force)."""

    seats: dict[int, EscrowSeats | None]

    def get_escrow_seats(self, epoch: int) -> EscrowSeats | None:
        """Return the seats read for ``epoch``; ``CarchainError`` for an epoch not read."""
        if epoch not in self.seats:
            raise CarchainError(f"escrow committee of epoch {epoch} was not read")
        return self.seats[epoch]


def read_escrow(source: EscrowSource, records: Sequence[TimedRecords]) -> KnownEscrow:
    """Read ``source``'s committee for every epoch a record of ``records`` falls in."""
    epochs = {compute_epoch(t) for car in records for t, _ in car}
    return KnownEscrow({e: source.get_escrow_seats(e) for e in sorted(epochs)})


@dataclass(frozen=True, slots=True)
class SealJob:
    """A chunk of cars to seal: the world's seed, the cars, their records, and per OEM
    the custodian's public key and the escrow committee."""

    seed: int
    cars: list[Car]
    records: bytes  # the cars' records, msgpack (``encode_records``): cheaper than pickle
    custodians: dict[str, bytes]
    escrow: dict[str, KnownEscrow]
    window_ms: int = BATCH_WINDOW_MS
    origin_ms: int = 0


def record_car(
    records: TimedRecords, rec: VehicleRecorder, window_ms: int = BATCH_WINDOW_MS,
    origin_ms: int = 0,
) -> list[Upload]:  # fmt: skip
    """Return every batch a car uploads (an EDR event in a batch of its own).

    A batch holds the records of one whole ``window_ms`` of the drive (windows counted
    from ``origin_ms``): a case's window of whole windows then covers whole batches, and
    the gateway serves a batch's segments only if it lies wholly in the case's window
    (its category key opens every record of it), so a case gets exactly its window's
    records, never a longer batch's nor nothing of a batch straddling its edge."""
    ups: list[Upload] = []
    slot: int | None = None
    for t, record in records:
        if (t - origin_ms) // window_ms != slot:
            ups += rec.flush()
            slot = (t - origin_ms) // window_ms
        if isinstance(record, EdrEvent):
            ups += rec.flush()
            ups += rec.add_at(record, t)
            ups += rec.flush()
        else:
            ups += rec.add_at(record, t)
    return ups + rec.flush()


def seal_job(job: SealJob) -> list[list[Upload]]:
    """Seal each car of ``job`` in its own recorder; return its uploads, car by car."""
    out: list[list[Upload]] = []
    for car, records in zip(job.cars, _records_decoder.decode(job.records), strict=True):
        rec = VehicleRecorder(
            car.vehicle_id, derive_vehicle_key(job.seed, car),
            derive_owner_key(job.seed, car).public_key, job.custodians[car.oem], SIM_POLICY,
            window_ms=job.window_ms, escrow=job.escrow[car.oem],
        )  # fmt: skip
        out.append(record_car(records, rec, job.window_ms, job.origin_ms))
    return out


@dataclass(frozen=True, slots=True)
class UploadJob:
    """A chunk of cars to seal and upload: the sealing, and per OEM its gateway's URL."""

    seal: SealJob
    gateways: dict[str, str]


@dataclass(frozen=True, slots=True)
class CarUploads:
    """What one car uploaded: its OEM, how many batches, records and bytes."""

    oem: str
    batches: int
    records: int
    size: int


def upload_group(gateway: GatewayClient, bodies: list[bytes]) -> None:
    """Upload one car's batches in one group; raise the typed error of the first the
    gateway refused (a simulated car's batches are all valid)."""
    for result in gateway.submit_group(bodies):
        error = result.get("error")
        if isinstance(error, dict):
            raise make_error(str(error.get("code")), str(error.get("message")), error.get("fields"))


class _WorkerLinks:
    """A worker process's gateway clients and upload threads (made in the worker, after
    the fork: a forked process shares no connection nor thread with its parent)."""

    def __init__(self) -> None:
        self.clients: dict[str, GatewayClient] = {}
        self.pool = ThreadPoolExecutor(UPLOADS_PER_WORKER, thread_name_prefix="car-upload")

    def get_client(self, url: str) -> GatewayClient:
        if url not in self.clients:
            self.clients[url] = GatewayClient(url, timeout_s=120.0)
        return self.clients[url]


_links: _WorkerLinks | None = None


def _get_links() -> _WorkerLinks:
    global _links
    if _links is None:
        _links = _WorkerLinks()
    return _links


def upload_job(job: UploadJob) -> list[CarUploads]:
    """Seal each car of ``job`` and upload its batches to its OEM's gateway (sealing the
    next car while they travel); return once all are stored, with what each car sent.
    A refused batch or an unreachable gateway raises its typed error."""
    links, pending = _get_links(), list[Future[None]]()
    out: list[CarUploads] = []
    for car, ups in zip(job.seal.cars, seal_job(job.seal), strict=True):
        gateway = links.get_client(job.gateways[car.oem])
        bodies = [u.body for u in ups]
        pending += [
            links.pool.submit(upload_group, gateway, bodies[lo : lo + UPLOAD_GROUP])
            for lo in range(0, len(bodies), UPLOAD_GROUP)
        ]
        out.append(CarUploads(car.oem, len(ups), sum(u.record_count for u in ups),
                              sum(u.size for u in ups)))  # fmt: skip
    for future in pending:
        future.result()
    return out


@contextmanager
def open_sealers() -> Iterator[ProcessPoolExecutor]:
    """Yield the sealing worker processes, already started: forked now, so call it
    while this process runs no other thread (before the node and the gateways start);
    a forked worker starts at once, where a spawned one re-imports the whole program.
    When the block fails, the jobs not started yet are dropped (no car goes on sealing
    and uploading to gateways already stopped); the workers end either way."""
    pool = ProcessPoolExecutor(SEAL_WORKERS, mp_context=multiprocessing.get_context("fork"))
    try:
        pool.submit(int).result()  # a fork pool starts every worker on its first task
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _make_jobs(
    seed: int,
    cars: Sequence[Car],
    records: Sequence[TimedRecords],
    custodians: dict[str, bytes],
    escrow: dict[str, KnownEscrow],
    window_ms: int,
    origin_ms: int,
) -> Iterator[SealJob]:
    for lo in range(0, len(cars), SEAL_CHUNK):
        yield SealJob(seed, list(cars[lo : lo + SEAL_CHUNK]),
                      encode_records(records[lo : lo + SEAL_CHUNK]), custodians, escrow,
                      window_ms, origin_ms)  # fmt: skip


def seal_fleet(
    pool: ProcessPoolExecutor,
    seed: int,
    cars: Sequence[Car],
    records: Sequence[TimedRecords],
    custodians: dict[str, bytes],
    escrow: dict[str, KnownEscrow],
    window_ms: int = BATCH_WINDOW_MS,
    origin_ms: int = 0,
) -> Iterator[tuple[int, list[Upload]]]:
    """Yield ``(car index, its uploads)`` for every car, in order, sealed in ``pool``'s
    worker processes (``open_sealers``) in batches of whole ``window_ms`` from ``origin_ms``."""
    jobs = _make_jobs(seed, cars, records, custodians, escrow, window_ms, origin_ms)
    yield from enumerate(ups for sealed in pool.map(seal_job, jobs) for ups in sealed)


def upload_fleet(
    pool: ProcessPoolExecutor,
    gateways: dict[str, str],
    seed: int,
    cars: Sequence[Car],
    records: Sequence[TimedRecords],
    custodians: dict[str, bytes],
    escrow: dict[str, KnownEscrow],
    window_ms: int = BATCH_WINDOW_MS,
    origin_ms: int = 0,
) -> Iterator[tuple[int, CarUploads]]:
    """Yield ``(car index, what it uploaded)`` for every car, in order, once its batches
    are stored by its OEM's gateway (``gateways``: OEM to URL): sealed and uploaded by
    the cars in ``pool``'s worker processes (``upload_job``)."""
    jobs = _make_jobs(seed, cars, records, custodians, escrow, window_ms, origin_ms)
    sent = pool.map(upload_job, (UploadJob(job, gateways) for job in jobs))
    yield from enumerate(car for chunk in sent for car in chunk)
