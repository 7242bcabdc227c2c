"""A running gateway: blob store, journal, ingest and the anchoring loop.

Several instances of one OEM's gateway may share one data folder (``lease``): all
of them ingest, and the one that holds the anchoring lease runs the anchoring and
custody loops; the others stand by and take the lease over when it expires.

The loop backs off when a step fails (doubling from the anchor interval up to
``MAX_BACKOFF_S``) and keeps the failure visible in ``status()``: consecutive
errors, the last one, and since when anchoring fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError, GatewayConfigError, LeaseLost
from carchain.gateway.anchoring import Anchorer, AnchorOutcome
from carchain.gateway.auth import ReadAccess, RequestAuthenticator, validate_gateway_key
from carchain.gateway.case_access import BlockReads, CaseReadDecisions
from carchain.gateway.custody import (
    CustodyService,
    LockedAccount,
    compute_loop_failure,
    run_step_loop,
)
from carchain.gateway.custody_journal import CustodyJournal
from carchain.gateway.escrow_directory import ChainEscrowDirectory
from carchain.gateway.ingest import IngestLimits, Ingestor, Outcome, Receipt
from carchain.gateway.journal import Journal
from carchain.gateway.lease import DEFAULT_LEASE_TTL_S
from carchain.gateway.lease_keeper import LeaseKeeper, make_instance_id
from carchain.gateway.registry_view import RegistryView
from carchain.gateway.signing_lock import SigningLock
from carchain.gateway.v2x_relay import ReportRelay
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.storage.blobstore import make_private_dir
from carchain.storage.namespaces import open_namespace
from carchain.storage.s3_location import S3Location
from carchain.telemetry.gateway import GatewayMetrics

log = logging.getLogger("carchain.gateway")
MAX_BACKOFF_S = 30.0


@dataclass
class AnchoringHealth:
    """How the anchoring loop is doing; ``errors`` counts failures since the last success."""

    errors: int = 0
    total_errors: int = 0
    last_error: str = ""
    last_error_ms: int = 0
    failing_since_ms: int = 0
    retry_in_s: float = 0.0

    def record_failure(self, exc: CarchainError, now_ms: int, base_s: float) -> float:
        """Count a failed step; return how long to wait before the next one."""
        if not self.errors:
            self.failing_since_ms = now_ms
        self.errors += 1
        self.total_errors += 1
        self.last_error = f"{exc.code}: {exc.message}"
        self.last_error_ms = now_ms
        self.retry_in_s = min(MAX_BACKOFF_S, max(base_s, 0.05) * 2 ** min(self.errors, 20))
        return self.retry_in_s

    def record_success(self) -> None:
        """Forget the current run of failures (the totals stay)."""
        self.errors, self.failing_since_ms, self.retry_in_s = 0, 0, 0.0

    def to_dict(self) -> dict[str, object]:
        """Return the status fields (flat, so ``gateway status`` prints one per line)."""
        return {
            "anchoring": "failing" if self.errors else "ok",
            "anchor_errors": self.errors,
            "anchor_errors_total": self.total_errors,
            "anchor_last_error": self.last_error,
            "anchor_last_error_ms": self.last_error_ms,
            "anchor_failing_since_ms": self.failing_since_ms,
            "anchor_retry_in_s": round(self.retry_in_s, 3),
        }


class CustodyHealth(AnchoringHealth):
    """How the custody loop is doing (same fields as anchoring, ``custody_`` prefix)."""

    def to_dict(self) -> dict[str, object]:
        """Return the status fields of the custody loop."""
        return {
            "custody_errors": self.errors,
            "custody_errors_total": self.total_errors,
            "custody_last_error": self.last_error,
            "custody_failing_since_ms": self.failing_since_ms,
        }


class Gateway:
    """One OEM's ingest gateway over a data folder and a node.

    With ``s3`` the blob namespaces live in that S3-compatible bucket instead of
    ``data_dir`` (the journal stays in ``data_dir``)."""

    def __init__(
        self,
        data_dir: Path,
        oem: str,
        oem_key: SigningKey,
        custodian: bytes,
        node_url: str,
        *,
        limits: IngestLimits | None = None,
        anchor_interval_s: float = 0.2,
        escrow_max_age_s: float = 1.0,
        fsync: bool = True,
        custodian_key: SigningKey | None = None,
        s3: S3Location | None = None,
        instance_id: str = "",
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
    ) -> None:
        if custodian_key is not None and custodian_key.public_key != custodian:
            raise GatewayConfigError("the custodian key file does not hold the custodian key")
        self.oem = oem
        self.client = Client(node_url)
        make_private_dir(data_dir)
        # Separate namespaces: ciphertexts and manifests, and sealed category keys.
        self.blobs = open_namespace(data_dir, "blobs", fsync=fsync, s3=s3)
        self.keys = open_namespace(data_dir, "keys", fsync=fsync, s3=s3)
        self.journal = Journal(data_dir / "journal.db")
        self.registry = RegistryView(self.client, oem=oem)
        self.ingestor = Ingestor(
            oem,
            custodian,
            self.blobs,
            self.keys,
            self.journal,
            self.registry,
            limits,
            escrow=ChainEscrowDirectory(ChainView(self.client), escrow_max_age_s),
        )
        self.signing_lock = SigningLock(data_dir / "signing.lock")
        self.lease = LeaseKeeper(self.journal, instance_id or make_instance_id(), lease_ttl_s)
        self.anchorer = Anchorer(oem, Account(self.client, oem_key), self.journal, self.blobs)
        # Release packages and erasure tombstones the custody service made.
        self.releases = open_namespace(data_dir, "releases", fsync=fsync, s3=s3)
        self.tombstones = open_namespace(data_dir, "tombstones", fsync=fsync, s3=s3)
        self.custody = self._make_custody(oem_key, custodian, custodian_key, data_dir)
        self.reports = ReportRelay(self.client, oem_key, self.signing_lock, self.oem)
        self.custody_health = CustodyHealth()
        self.oem_key = oem_key.public_key
        self.authenticator = RequestAuthenticator(oem, int(time.time() * 1000))
        self.access = ReadAccess(oem, custodian, ChainView(self.client))
        self.case_decisions = CaseReadDecisions()  # case reads allowed in the latest block
        self.case_reads = BlockReads()  # the chain reads under them, for the latest block
        self.anchor_interval_s = anchor_interval_s
        self.health = AnchoringHealth()
        self.metrics = GatewayMetrics()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._custody_thread: threading.Thread | None = None

    def _make_custody(
        self, oem_key: SigningKey, custodian: bytes, key: SigningKey | None, data_dir: Path
    ) -> CustodyService | None:
        if key is None:
            return None
        account = LockedAccount(self.client, oem_key, self.signing_lock)
        stores = (self.keys, self.releases, self.tombstones)
        custody = CustodyJournal(data_dir / "journal.db")
        return CustodyService(self.oem, key, account, self.journal, custody, self.ingestor, stores)

    def process_batch(self, raw: bytes) -> Receipt:
        """Validate and store one upload now (counted in the metrics, by result)."""
        try:
            receipt = self.ingestor.process_batch_at(raw, int(time.time() * 1000))
        except CarchainError as exc:
            self.metrics.record_batch(exc.code)
            raise
        self.metrics.record_batch("")
        return receipt

    def process_batches(self, raws: Sequence[bytes]) -> list[Outcome]:
        """Validate and store a group of uploads now (``Ingestor.process_batches_at``);
        each counted in the metrics by its result."""
        outcomes = self.ingestor.process_batches_at(raws, int(time.time() * 1000))
        for outcome in outcomes:
            self.metrics.record_batch(outcome.code if isinstance(outcome, CarchainError) else "")
        return outcomes

    def validate_key(self) -> None:
        """Raise ``GatewayKeyNotOem`` unless the gateway's key is its active OEM's member key."""
        validate_gateway_key(ChainView(self.client), self.oem_key, self.oem)

    def start_anchoring(self) -> None:
        """Run the lease keeper and the anchoring and custody loops in background
        threads (the loops work only while this instance holds the lease)."""
        self.lease.start()
        self._thread = threading.Thread(target=self._loop, name="carchain-anchor", daemon=True)
        self._thread.start()
        if self.custody is not None:
            self._custody_thread = threading.Thread(
                target=run_step_loop,
                args=(
                    self._step_custody, "custody", self.custody_health, self._stop,
                    self.anchor_interval_s,
                ),
                name="carchain-custody",
                daemon=True,
            )  # fmt: skip
            self._custody_thread.start()

    def _step_custody(self) -> bool:
        """Run a custody round if this instance holds the lease (it signs with the OEM key
        and moves the shared custody cursor: one instance does it)."""
        if self.custody is None or self.lease.current() is None:
            return False
        return self.custody.step()

    def _step_anchoring(self) -> AnchorOutcome | None:
        """Run an anchoring step under the lease; ``None`` if idle or standing by."""
        if self.lease.current() is None:  # a standby: not even the signing lock
            return None
        with self.signing_lock:
            fence = self.lease.current()  # again: the wait for the lock may have been long
            self.anchorer.fence = fence
            if fence is None:
                return None
            try:
                return self.anchorer.step()
            except LeaseLost:
                log.info("anchoring lease lost mid-step: standing by")
                return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                outcome = self._step_anchoring()
            except Exception as raised:
                exc = compute_loop_failure(raised)
                delay = self.health.record_failure(
                    exc, int(time.time() * 1000), self.anchor_interval_s
                )
                log.warning(
                    "anchoring failed (%d in a row), retrying in %.1f s: %s: %s",
                    self.health.errors,
                    delay,
                    exc.code,
                    exc.message,
                )
                self._stop.wait(delay)
                continue
            self.health.record_success()
            if isinstance(outcome, AnchorOutcome):
                self.metrics.record_anchor(outcome.batch_count)
            else:
                self._stop.wait(self.anchor_interval_s)

    def status(self) -> dict[str, object]:
        """Return counts of accepted, anchored and pending batches and of anchors."""
        total, anchored = self.journal.count_batches()
        return {
            "oem": self.oem,
            "batches": total,
            "anchored": anchored,
            "unanchored": total - anchored,
            "anchors": self.journal.count_anchors(),
            **self.health.to_dict(),
            **self.registry.to_dict(),
            **self.get_lease_status(),
            **self.get_custody_status(),
        }

    def get_lease_status(self) -> dict[str, object]:
        """Return which instance this is, whether it anchors (``leader``) or stands by
        (``standby``), and who holds the anchoring lease, its epoch and expiry."""
        state = self.journal.get_lease_optional()
        return {
            "instance": self.lease.holder,
            "role": "leader" if self.lease.current() is not None else "standby",
            "lease_holder": "" if state is None else state.holder,
            "lease_epoch": 0 if state is None else state.epoch,
            "lease_expires_ms": 0 if state is None else state.expires_ms,
        }

    def is_anchoring(self) -> bool:
        """Return whether the anchoring loop runs."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def get_custody_status(self) -> dict[str, object]:
        """Return the custody loop's status fields (``custody: off`` without its key)."""
        if self.custody is None:
            return {"custody": "off (no custodian key file)"}
        state = "failing" if self.custody_health.errors else "ok"
        return {"custody": state, **self.custody_health.to_dict(), **self.custody.to_dict()}

    def close(self) -> None:
        """Stop anchoring and close the journal, the blob stores and the node client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self._custody_thread is not None:
            self._custody_thread.join(30)
        self.lease.stop()
        self.signing_lock.close()
        if self.custody is not None:
            self.custody.custody.close()
        self.journal.close()
        for store in (self.blobs, self.keys, self.releases, self.tombstones):
            store.close()
        self.client.close()
