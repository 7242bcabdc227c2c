"""A running gateway: blob store, journal, ingest and the anchoring loop."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from carchain.core.exceptions import CarchainError
from carchain.crypto.signing import SigningKey
from carchain.gateway.anchoring import Anchorer
from carchain.gateway.auth import ReadAccess, RequestAuthenticator
from carchain.gateway.chainview import ChainView
from carchain.gateway.ingest import ChainDirectory, IngestLimits, Ingestor, Receipt
from carchain.gateway.journal import Journal
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.storage.blobstore import make_private_dir, open_namespace

log = logging.getLogger("carchain.gateway")


class Gateway:
    """One OEM's ingest gateway over a data folder and a node."""

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
        registry_max_age_s: float = 1.0,
        fsync: bool = True,
    ) -> None:
        self.oem = oem
        self.client = Client(node_url)
        make_private_dir(data_dir)
        # Separate namespaces: ciphertexts and manifests, and sealed epoch keys.
        self.blobs = open_namespace(data_dir, "blobs", fsync=fsync)
        self.keys = open_namespace(data_dir, "keys", fsync=fsync)
        self.journal = Journal(data_dir / "journal.db")
        self.ingestor = Ingestor(
            oem,
            custodian,
            self.blobs,
            self.keys,
            self.journal,
            ChainDirectory(self.client, registry_max_age_s),
            limits,
        )
        self.anchorer = Anchorer(oem, Account(self.client, oem_key), self.journal, self.blobs)
        self.oem_key = oem_key.public_key
        self.authenticator = RequestAuthenticator(int(time.time() * 1000))
        self.access = ReadAccess(oem, custodian, ChainView(self.client))
        self.anchor_interval_s = anchor_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def process_batch(self, raw: bytes) -> Receipt:
        """Validate and store one upload now."""
        return self.ingestor.process_batch_at(raw, int(time.time() * 1000))

    def start_anchoring(self) -> None:
        """Run the anchoring loop in a background thread."""
        self._thread = threading.Thread(target=self._loop, name="carchain-anchor", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.anchorer.step() is not None
            except CarchainError as exc:
                log.warning("anchoring: %s: %s", exc.code, exc.message)
                busy = False
            if not busy:
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
        }

    def close(self) -> None:
        """Stop anchoring and close the journal and the node client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self.journal.close()
        self.client.close()
