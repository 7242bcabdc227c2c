"""An S3 object store for the tests: SeaweedFS on loopback for the session, credentials in
a 0600 file boto3 finds through its own chain, and a fake endpoint that fails (5xx).

``objectstore`` skips a test when the ``weed`` binary is missing, except in CI
(``CI`` set), where ``make setup-objectstore`` has installed it and a missing
binary fails the test.
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from carchain.storage import s3_blobs
from carchain.storage.local_s3 import LocalS3, find_weed
from carchain.storage.s3_location import S3Location


@dataclass(frozen=True)
class ObjectStore:
    """A running SeaweedFS S3 server and the 0600 credentials file boto3 reads its key from."""

    endpoint_url: str
    credentials_file: Path
    server: LocalS3

    def make_location(self, label: str) -> S3Location:
        """Return a location with a prefix of its own (tests share one bucket)."""
        return S3Location(self.endpoint_url, "carchain-test", f"t/{label}")


def require_weed() -> Path:
    """Return the SeaweedFS binary; skip without it, but fail in CI (which installs it)."""
    binary = find_weed()
    if binary is None:
        message = "SeaweedFS (weed) is missing: run `make setup-objectstore`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def objectstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """One ``weed server -s3`` on loopback for the session, stopped by its pid at the end.

    Its access key goes into a 0600 shared credentials file that
    ``AWS_SHARED_CREDENTIALS_FILE`` names (the AWS key variables are cleared), so
    the stores take it through boto3's own chain, as a deployed gateway does."""
    binary = require_weed()
    folder = tmp_path_factory.mktemp("objectstore")
    server = LocalS3(binary, folder / "weed")
    credentials = folder / "credentials"
    fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"[default]\naws_access_key_id = {server.access_key}\n"
                f"aws_secret_access_key = {server.secret_key}\n")  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):  # fmt: skip
            mp.delenv(name, raising=False)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        mp.setenv("AWS_CONFIG_FILE", str(folder / "no-config"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        server.start()
        try:
            yield ObjectStore(server.endpoint_url, credentials, server)
        finally:
            server.stop()


@pytest.fixture
def env_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials from the AWS environment variables (and no credentials file)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "carchain-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class _Failing(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint whose bucket exists (unversioned) but which answers every other
    request 503."""

    def _answer(self) -> None:
        bucket_only = self.path.split("?")[0].rstrip("/").count("/") == 1
        ok = bucket_only and self.command == "HEAD"
        versioning = bucket_only and self.command == "GET" and "versioning" in self.path
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<VersioningConfiguration/>" if versioning else b""
        self.send_response(200 if ok or versioning else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET = do_PUT = do_DELETE = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def failing_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3 endpoint failing every request with 503 (retried twice, not six times)."""
    monkeypatch.setattr(s3_blobs, "MAX_ATTEMPTS", 2)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
