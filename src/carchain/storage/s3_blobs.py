"""A blob store on an S3-compatible object store (SeaweedFS, MinIO, Ceph RGW, a cloud bucket).

Same contract as ``FileBlobStore``: a blob's address is its SHA-256, every read
re-hashes and raises ``StorageCorrupted`` on a mismatch, ``put`` is idempotent.
Objects are named ``<prefix>/<namespace>/<hex digest>`` in one bucket, so the
namespaces (``blobs``, ``keys``...) stay apart exactly as their folders do on disk.

Writing the same address twice writes the same bytes (content addressing), so a
put simply uploads; S3 makes an object visible only once its upload completed,
so a blob is absent or whole. A blob above ``multipart_threshold`` is uploaded in
parts (boto3's transfer manager: create, upload parts, complete; aborted on
failure). ``put_many_hashed`` uploads a group on a small thread pool and returns
once every upload completed (or raises, naming the first that failed).

Every failure of the backend (connection refused, timeout, access denied, 5xx)
becomes ``StorageUnavailable`` with the operation, the S3 error code and HTTP
status; no botocore traceback leaves this module. Credentials come from boto3's
own chain (``s3_location``); a shared credentials file readable by others is
refused.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import boto3
import botocore.session
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import Loader

from carchain.crypto.hashing import compute_sha256
from carchain.errors import GatewayConfigError, NotFound, StorageCorrupted, StorageUnavailable
from carchain.storage.blobstore import validate_digest
from carchain.storage.s3_location import S3Location

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 16 * MIB
MIN_PART_SIZE = 5 * MIB  # S3's smallest part (all but the last)
DEFAULT_WORKERS = 8
_HEX_NAME = re.compile(r"^[0-9a-f]{64}$")
_MISSING = {"404", "NoSuchKey", "NotFound"}


_SESSION_LOCK = threading.Lock()
_LOADERS: list[Loader] = []


def _make_session() -> boto3.session.Session:
    """Return a new boto3 session (so credentials are resolved afresh) that shares the
    process's botocore loader: it caches the parsed S3 service model, so a client
    costs milliseconds instead of most of a second."""
    core = botocore.session.get_session()
    if _LOADERS:
        core.register_component("data_loader", _LOADERS[0])
    else:
        _LOADERS.append(core.get_component("data_loader"))
    return boto3.session.Session(botocore_session=core)


def get_credentials_file() -> Path:
    """Return the shared credentials file boto3 would read."""
    named = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    return Path(named).expanduser() if named else Path.home() / ".aws" / "credentials"


def validate_credentials_file(path: Path) -> None:
    """Refuse a credentials file that others than its owner may read (it must be 0600)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # no file: credentials come from the environment or an instance role
    if mode & 0o077:
        raise GatewayConfigError(
            "the S3 credentials file is readable by others; chmod 600 it", path=str(path)
        )


# Namespaces whose deletes must destroy: crypto-shredding deletes key envelopes.
SHREDDED_NAMESPACES = ("keys",)

# Attempts per request (boto3's standard mode: exponential backoff with jitter on 5xx,
# throttling and connection errors): a store that is busy or growing a new bucket's
# volumes (SeaweedFS answers InternalError meanwhile) gets about 30 s before a
# request fails with ``StorageUnavailable``.
MAX_ATTEMPTS = 6


def make_s3_client(location: S3Location, max_connections: int = DEFAULT_WORKERS) -> S3Client:
    """Return a boto3 S3 client for ``location``: path-style addressing, bounded retries,
    credentials from boto3's chain (never from carchain's config)."""
    validate_credentials_file(get_credentials_file())
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=max_connections,
        # Checksums only where S3 requires them: older S3-compatible servers reject
        # the newer default (a CRC trailer on every upload). Reads re-hash anyway.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    try:
        with _SESSION_LOCK:  # a session makes clients one at a time; clients are thread-safe
            return _make_session().client(
                "s3", endpoint_url=location.endpoint_url, region_name=location.region,
                config=config,
            )  # fmt: skip
    except BotoCoreError as exc:
        raise StorageUnavailable(
            "cannot create the S3 client", reason=type(exc).__name__,
            endpoint=location.endpoint_url,
        ) from None  # fmt: skip


class S3BlobStore:
    """The blobs of one namespace as objects under ``<prefix>/<namespace>/`` in a bucket."""

    def __init__(
        self,
        location: S3Location,
        namespace: str,
        *,
        client: S3Client | None = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        workers: int = DEFAULT_WORKERS,
        create_bucket: bool = True,
        page_size: int = 1000,
    ) -> None:
        if not namespace.isidentifier():
            raise ValueError("a blob namespace is a plain name")
        if multipart_threshold < MIN_PART_SIZE:
            raise ValueError(f"the multipart threshold is at least {MIN_PART_SIZE} bytes")
        self.location = location
        self.namespace = namespace
        self.key_prefix = location.get_key_prefix(namespace)
        self.workers = max(1, workers)
        self.page_size = page_size
        self._owns_client = client is None
        self.client = client if client is not None else make_s3_client(location, self.workers)
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=max(MIN_PART_SIZE, multipart_threshold // 2),
            use_threads=False,  # parallel across blobs (put_many_hashed), not within one
        )
        try:
            self.ensure_bucket(create_bucket)
            if namespace in SHREDDED_NAMESPACES:
                self.validate_unversioned()
        except BaseException:
            self.close()
            raise

    def ensure_bucket(self, create: bool) -> None:
        """Check the bucket exists; create it when missing and ``create`` (else refuse)."""
        try:
            self.client.head_bucket(Bucket=self.location.bucket)
            return
        except ClientError as exc:
            if _get_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                self._raise("head_bucket", exc)
        except BotoCoreError as exc:
            self._raise("head_bucket", exc)
        if not create:
            raise StorageUnavailable(
                "the S3 bucket does not exist", operation="head_bucket",
                bucket=self.location.bucket, endpoint=self.location.endpoint_url,
            )  # fmt: skip
        with self._translate("create_bucket"):
            try:
                self._create_bucket()
            except ClientError as exc:  # another gateway created it in between
                if _get_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

    def validate_unversioned(self) -> None:
        """Refuse a bucket that keeps object versions (``GatewayConfigError``): there a
        delete only adds a marker and the old version of a key envelope stays readable,
        so crypto-shredding would not shred."""
        with self._translate("get_bucket_versioning"):
            status = self.client.get_bucket_versioning(Bucket=self.location.bucket).get("Status")
        if status in ("Enabled", "Suspended"):
            raise GatewayConfigError(
                "the S3 bucket keeps object versions: a deleted key envelope would stay "
                "readable; keep key envelopes in an unversioned bucket",
                bucket=self.location.bucket,
                versioning=status,
            )

    def _create_bucket(self) -> None:
        region = self.location.region
        if region == "us-east-1":  # S3 refuses the location constraint of its first region
            self.client.create_bucket(Bucket=self.location.bucket)
        else:
            self.client.create_bucket(
                Bucket=self.location.bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )

    def get_key(self, digest: bytes) -> str:
        """Return the object key of the blob with ``digest``."""
        return self.key_prefix + validate_digest(digest)

    def put(self, data: bytes) -> bytes:
        """Store ``data``; return its SHA-256 address."""
        digest = compute_sha256(data)
        self.put_hashed(digest, data)
        return digest

    def put_hashed(self, digest: bytes, data: bytes) -> None:
        """Store ``data`` under ``digest`` (the caller's fresh SHA-256 of exactly ``data``)."""
        self._upload(self.get_key(digest), data)

    def put_many_hashed(self, blobs: Sequence[tuple[bytes, bytes]]) -> None:
        """Upload each ``(digest, data)`` (each address once), in parallel; every upload
        has completed when this returns, or it raises ``StorageUnavailable``."""
        todo = {self.get_key(digest): data for digest, data in blobs}
        if len(todo) <= 1 or self.workers == 1:
            for key, data in todo.items():
                self._upload(key, data)
            return
        with ThreadPoolExecutor(min(self.workers, len(todo))) as pool:
            futures = [pool.submit(self._upload, key, data) for key, data in todo.items()]
        for future in futures:
            future.result()  # re-raises the first failure, after all uploads ended

    def _upload(self, key: str, data: bytes) -> None:
        """Upload one object: one PUT, or a multipart upload above the threshold."""
        with self._translate("put_object"):
            if len(data) < self.transfer.multipart_threshold:
                self.client.put_object(Bucket=self.location.bucket, Key=key, Body=data)
            else:
                self.client.upload_fileobj(
                    io.BytesIO(data), self.location.bucket, key, Config=self.transfer
                )

    def get(self, digest: bytes) -> bytes:
        """Return the blob after checking its hash."""
        key = self.get_key(digest)
        try:
            with self._translate("get_object"):
                body = self.client.get_object(Bucket=self.location.bucket, Key=key)["Body"]
                try:
                    data = body.read()
                finally:
                    body.close()
        except _Missing:
            raise NotFound("no such blob", digest=digest) from None
        if compute_sha256(data) != digest:
            raise StorageCorrupted("blob does not match its address", digest=digest)
        return data

    def has(self, digest: bytes) -> bool:
        """Return whether the blob is stored."""
        key = self.get_key(digest)
        try:
            with self._translate("head_object"):
                self.client.head_object(Bucket=self.location.bucket, Key=key)
        except _Missing:
            return False
        return True

    def delete(self, digest: bytes) -> None:
        """Remove a blob if present; once this returns the object is gone (S3 deletes
        are strongly consistent; deleting a missing object succeeds)."""
        key = self.get_key(digest)
        with contextlib.suppress(_Missing), self._translate("delete_object"):
            self.client.delete_object(Bucket=self.location.bucket, Key=key)

    def iter_digests(self) -> Iterator[bytes]:
        """Yield every stored address (``list_objects_v2``, page by page)."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.location.bucket,
            Prefix=self.key_prefix,
            PaginationConfig={"PageSize": self.page_size},
        )
        with self._translate("list_objects_v2"):
            for page in pages:
                for item in page.get("Contents", []):
                    name = item.get("Key", "")[len(self.key_prefix) :]
                    if _HEX_NAME.match(name):
                        yield bytes.fromhex(name)

    def close(self) -> None:
        """Close the client's connections (when this store created the client)."""
        if self._owns_client:
            self.client.close()

    @contextlib.contextmanager
    def _translate(self, operation: str) -> Iterator[None]:
        """Turn botocore's errors into typed ones: ``_Missing`` for a missing object
        (the caller decides what that means), ``StorageUnavailable`` for the rest."""
        try:
            yield
        except ClientError as exc:
            if _get_code(exc) in _MISSING:
                raise _Missing from None
            self._raise(operation, exc)
        except (BotoCoreError, ValueError) as exc:  # ValueError: a body cut short
            self._raise(operation, exc)

    def _raise(self, operation: str, exc: Exception) -> NoReturn:
        """Raise ``StorageUnavailable`` for ``exc`` (code and status, never the request)."""
        status = None
        if isinstance(exc, ClientError):
            reason = _get_code(exc)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        else:
            reason = type(exc).__name__
        raise StorageUnavailable(
            f"the S3 store failed to {operation.replace('_', ' ')}",
            operation=operation, reason=reason, status=status,
            bucket=self.location.bucket, endpoint=self.location.endpoint_url,
        ) from None  # fmt: skip


class _Missing(Exception):
    """An object is not there (404): ``NotFound`` for a read, ``False`` for ``has``."""


def _get_code(exc: ClientError) -> str:
    """Return the S3 error code of ``exc`` (``404`` for a HEAD, which has no body)."""
    return str(exc.response.get("Error", {}).get("Code", ""))
