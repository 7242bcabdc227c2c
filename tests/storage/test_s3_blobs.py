"""The S3 blob store's own behaviour: key layout, multipart uploads, parallel groups,
listing page by page, the bucket on open, and typed errors for every backend failure
(nothing listening, 5xx, wrong credentials, a credentials file others can read).

Its contract with the other blob stores is in test_blob_contract.py.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from carchain.errors import GatewayConfigError, StorageCorrupted, StorageUnavailable
from carchain.storage import s3_blobs
from carchain.storage.local_s3 import find_free_ports
from carchain.storage.s3_blobs import MIB, S3BlobStore
from carchain.storage.s3_location import S3Location
from tests.objectstore import ObjectStore


@pytest.fixture
def location(objectstore: ObjectStore) -> S3Location:
    return objectstore.make_location(uuid.uuid4().hex[:12])


@pytest.mark.objectstore
def test_objects_are_named_prefix_namespace_digest(location: S3Location) -> None:
    store = S3BlobStore(location, "keys")
    digest = store.put(b"envelope")
    listed = store.client.list_objects_v2(Bucket=location.bucket, Prefix=location.prefix + "/")
    assert [o["Key"] for o in listed["Contents"]] == [f"{location.prefix}/keys/{digest.hex()}"]
    store.close()


@pytest.mark.objectstore
def test_a_blob_above_the_threshold_goes_up_in_parts_and_reads_back(location: S3Location) -> None:
    store = S3BlobStore(location, "blobs", multipart_threshold=5 * MIB)
    small, big = os.urandom(1000), os.urandom(11 * MIB + 17)
    d_small, d_big = store.put(small), store.put(big)
    head = store.client.head_object(Bucket=location.bucket, Key=store.get_key(d_big))
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 1 MiB: a multipart upload
    plain = store.client.head_object(Bucket=location.bucket, Key=store.get_key(d_small))
    assert "-" not in plain["ETag"]  # one PUT
    assert store.get(d_big) == big
    assert store.get(d_small) == small
    store.close()


@pytest.mark.objectstore
def test_a_tampered_multipart_blob_is_refused_on_read(location: S3Location) -> None:
    store = S3BlobStore(location, "blobs", multipart_threshold=5 * MIB)
    digest = store.put(b"a" * (6 * MIB))
    store.put_hashed(digest, b"b" * (6 * MIB))  # a caller lying about the hash
    with pytest.raises(StorageCorrupted):
        store.get(digest)
    store.close()


@pytest.mark.objectstore
def test_multipart_threshold_below_the_s3_part_size_is_refused(location: S3Location) -> None:
    with pytest.raises(ValueError):
        S3BlobStore(location, "blobs", multipart_threshold=MIB)


@pytest.mark.objectstore
def test_a_parallel_group_is_complete_on_return_and_lists_page_by_page(
    location: S3Location,
) -> None:
    store = S3BlobStore(location, "blobs", workers=6, page_size=7)
    blobs = [os.urandom(300) for _ in range(40)]
    store.put_many_hashed([(hashlib.sha256(b).digest(), b) for b in blobs])
    other = S3BlobStore(location, "blobs")  # a fresh client sees every object at once
    assert sorted(other.iter_digests()) == sorted(hashlib.sha256(b).digest() for b in blobs)
    assert sorted(store.iter_digests()) == sorted(other.iter_digests())  # 6 pages of 7
    for store_ in (store, other):
        store_.close()


@pytest.mark.objectstore
def test_a_missing_bucket_is_created_on_open_or_refused(objectstore: ObjectStore) -> None:
    name = "carchain-" + uuid.uuid4().hex[:12]
    location = S3Location(objectstore.endpoint_url, name)
    with pytest.raises(StorageUnavailable) as caught:
        S3BlobStore(location, "blobs", create_bucket=False)
    assert caught.value.fields["bucket"] == name
    store = S3BlobStore(location, "blobs")
    assert store.get(store.put(b"x")) == b"x"
    S3BlobStore(location, "keys").close()  # the bucket is there now: opened, not created
    store.close()


def test_invalid_no_credentials_at_all_is_storage_unavailable(
    env_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (port,) = find_free_ports(1)
    with pytest.raises(StorageUnavailable) as caught:
        S3BlobStore(S3Location(f"http://127.0.0.1:{port}", "carchain-test"), "blobs")
    assert caught.value.fields["reason"] == "NoCredentialsError"


def test_invalid_nothing_listening_is_storage_unavailable(
    env_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_blobs, "MAX_ATTEMPTS", 2)
    (port,) = find_free_ports(1)
    location = S3Location(f"http://127.0.0.1:{port}", "carchain-test")
    with pytest.raises(StorageUnavailable) as caught:
        S3BlobStore(location, "blobs")
    assert caught.value.fields["operation"] == "head_bucket"
    assert caught.value.fields["reason"] == "EndpointConnectionError"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_invalid_server_errors_are_storage_unavailable(
    failing_s3: str, env_credentials: None
) -> None:
    store = S3BlobStore(S3Location(failing_s3, "carchain-test"), "blobs")
    digest = hashlib.sha256(b"x").digest()
    for call in (
        lambda: store.put(b"x"),
        lambda: store.put_many_hashed([(digest, b"x"), (hashlib.sha256(b"y").digest(), b"y")]),
        lambda: store.get(digest),
        lambda: store.has(digest),
        lambda: store.delete(digest),
        lambda: list(store.iter_digests()),
    ):
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert caught.value.fields["status"] == 503
        assert caught.value.http_status == 503
    store.close()


@pytest.mark.objectstore
def test_invalid_wrong_credentials_are_refused_without_leaking_them(
    objectstore: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = tmp_path / "credentials"
    wrong.write_text(
        "[default]\naws_access_key_id = nobody\naws_secret_access_key = s3cr3t-guess\n"
    )
    wrong.chmod(0o600)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(wrong))
    with pytest.raises(StorageUnavailable) as caught:
        S3BlobStore(objectstore.make_location("denied"), "blobs")
    assert caught.value.fields["status"] == 403
    assert "s3cr3t-guess" not in str(caught.value.to_dict())


@pytest.mark.objectstore
def test_invalid_credentials_file_readable_by_others_is_refused(
    objectstore: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    objectstore.credentials_file.chmod(0o644)
    try:
        with pytest.raises(GatewayConfigError) as caught:
            S3BlobStore(objectstore.make_location("lax"), "blobs")
        assert caught.value.fields["path"] == str(objectstore.credentials_file)
    finally:
        objectstore.credentials_file.chmod(0o600)


@pytest.mark.parametrize(
    ("endpoint", "bucket", "prefix", "region"),
    [
        ("ftp://127.0.0.1:1", "carchain", "p", "us-east-1"),
        ("127.0.0.1:9000", "carchain", "p", "us-east-1"),
        ("http://key:secret@127.0.0.1:9000", "carchain", "p", "us-east-1"),
        ("http://127.0.0.1:9000", "Car_Chain", "p", "us-east-1"),
        ("http://127.0.0.1:9000", "ab", "p", "us-east-1"),
        ("http://127.0.0.1:9000", "carchain", "/p", "us-east-1"),
        ("http://127.0.0.1:9000", "carchain", "p/../q", "us-east-1"),
        ("http://127.0.0.1:9000", "carchain", "", "us-east-1"),
        ("http://127.0.0.1:9000", "carchain", "p", "US East"),
        ("s3://AKIAKEY:s3cret@host", "carchain", "p", "us-east-1"),  # a review: quoted back
        ("AKIAKEY:s3cret@host", "carchain", "p", "us-east-1"),
        ("http://AKIAKEY:s3cret@", "carchain", "p", "us-east-1"),
        ("http://[::1", "carchain", "p", "us-east-1"),  # urlsplit raised a raw ValueError
    ],
)
def test_invalid_locations_are_refused(
    endpoint: str, bucket: str, prefix: str, region: str
) -> None:
    with pytest.raises(GatewayConfigError) as refused:
        S3Location(endpoint, bucket, prefix, region)
    assert "s3cret" not in str(refused.value.to_dict())


@pytest.mark.objectstore
def test_key_envelopes_refuse_a_versioned_bucket_blobs_do_not(objectstore: ObjectStore) -> None:
    name = "carchain-v" + uuid.uuid4().hex[:12]
    location = S3Location(objectstore.endpoint_url, name)
    blobs = S3BlobStore(location, "blobs")
    blobs.client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    # A delete there only adds a marker: an erased key envelope would stay readable.
    with pytest.raises(GatewayConfigError) as refused:
        S3BlobStore(location, "keys")
    assert refused.value.fields["versioning"] == "Enabled"
    tombstones = S3BlobStore(location, "tombstones")  # not shredded: versions allowed
    tombstones.close()
    blobs.close()
