"""The storage ports: what the engines, the node and the gateway need from storage.

Each port is a ``typing.Protocol``; the embedded implementations are SQLite
(``StateStore``, ``BlockStore``, the ABCI ``BlockLog``) and files
(``SegmentBlobStore``; ``FileBlobStore`` for the older layout); ``S3BlobStore``
(``storage/s3_blobs.py``) keeps blobs in an S3-compatible object store. A
scale-out index (PostgreSQL) would implement the same methods.
``tests/storage/test_ports.py`` holds typed assignments of every implementation
to its port, which ``mypy`` checks.

Atomicity crosses ports in one way only: the committed state opens the write
transaction of a block, and a block store takes part in it as a
``CommitParticipant`` (``stage_block``), so the state and the block that led
to it are written together, block last, or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from carchain.crypto.merkle import MerkleProof

BlockT_co = TypeVar("BlockT_co", covariant=True)
BlockT_contra = TypeVar("BlockT_contra", contravariant=True)


class WriteTransaction(Protocol):
    """The state commit's open atomic write (an SQLite connection inside ``BEGIN``)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any:
        """Run one statement inside the transaction."""

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        """Run one statement per row inside the transaction."""


class CommitParticipant(Protocol):
    """Writes that join a block's state commit (e.g. the block record itself)."""

    def write_in(self, txn: WriteTransaction) -> None:
        """Write inside ``txn``; raising aborts the whole commit."""


class StateProofPort(Protocol):
    """A value with its proof: key in store root, store root in app hash."""

    store: str
    key: bytes
    value: bytes
    value_proof: MerkleProof
    store_root: bytes
    store_proof: MerkleProof
    app_hash: bytes


class StateVersion(Protocol):
    """Committed state at one height: what a proof is built from."""

    height: int
    app_hash: bytes
    sizes: dict[str, int]
    roots: dict[str, bytes]

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the value, ``None`` if absent or deleted."""

    def get_leaf_index(self, store: str, key: bytes) -> int | None:
        """Return the key's leaf position, ``None`` if it did not exist."""

    def get_node(self, store: str, level: int, idx: int) -> bytes:
        """Return a commitment node."""


class StateOverlay(Protocol):
    """The uncommitted writes of one block over committed state (a core ``KVView``)."""

    writes: dict[tuple[str, bytes], bytes]

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the newest value of ``key``."""

    def set(self, store: str, key: bytes, value: bytes) -> None:
        """Write a non-empty value."""

    def delete(self, store: str, key: bytes) -> None:
        """Delete ``key`` (its leaf stays, committing to the empty value)."""

    def compute_app_hash(self) -> bytes:
        """Return the app hash the state will have once this overlay is committed."""


OverlayT = TypeVar("OverlayT")


class CommittedState(Protocol[OverlayT]):
    """Committed state with its commitment and a window of past versions."""

    @property
    def height(self) -> int:
        """Return the last committed height."""

    @property
    def app_hash(self) -> bytes:
        """Return the app hash after the last committed height."""

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the latest committed value, or ``None``."""

    def iterate(
        self, store: str, prefix: bytes, limit: int, after: bytes = b""
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield up to ``limit`` live pairs by key prefix, keys after ``after``."""

    def get_oldest_height(self) -> int:
        """Return the oldest height that can be read now."""

    def get_version(self, height: int = 0) -> StateVersion:
        """Return the state at ``height`` (0: latest); raise ``HeightUnavailable`` outside."""

    def prove(self, store: str, key: bytes, height: int = 0) -> StateProofPort:
        """Return ``key``'s value at ``height`` with its proof against that app hash."""

    def begin_block(self) -> OverlayT:
        """Return a fresh overlay for executing the next block."""

    def commit(
        self, overlay: OverlayT, height: int, also: Sequence[CommitParticipant] | None = None
    ) -> None:
        """Persist ``overlay`` as ``height`` and ``also``'s writes in one atomic transaction."""


class TxIndex(Protocol):
    """Where a committed transaction is."""

    def get_tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """Return ``(height, position)`` of a committed transaction, or ``None``."""


class BlockReader(TxIndex, Protocol[BlockT_co]):
    """Committed blocks by height, and the transaction index."""

    def get_height(self) -> int:
        """Return the height of the newest block (0 if none)."""

    def get_block(self, height: int) -> BlockT_co | None:
        """Return the block at ``height`` or ``None``."""


class BlockWriter(Protocol[BlockT_contra]):
    """Adds a block to the state commit of its height."""

    def stage_block(self, block: BlockT_contra, tx_hashes: list[bytes]) -> CommitParticipant:
        """Return the writes of ``block`` (and its tx index) for the state commit."""


class BlobStore(Protocol):
    """Content-addressed, immutable blobs."""

    def put(self, data: bytes) -> bytes:
        """Store ``data`` durably; return its address (SHA-256). Idempotent."""

    def put_hashed(self, digest: bytes, data: bytes) -> None:
        """Store ``data`` whose SHA-256 the caller has just computed as ``digest``."""

    def put_many_hashed(self, blobs: Sequence[tuple[bytes, bytes]]) -> None:
        """Store each ``(digest, data)`` as ``put_hashed`` would, all durable on return."""

    def get(self, digest: bytes) -> bytes:
        """Return the blob; raise ``NotFound``, or ``StorageCorrupted`` on a bad hash."""

    def has(self, digest: bytes) -> bool:
        """Return whether the blob is stored."""

    def delete(self, digest: bytes) -> None:
        """Remove a blob if present."""

    def iter_digests(self) -> Iterator[bytes]:
        """Yield every stored address (in no particular order)."""
