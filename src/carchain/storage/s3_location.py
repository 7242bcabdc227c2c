"""Where an S3-compatible object store keeps a gateway's blobs (no secrets).

The location names the endpoint, the bucket, a key prefix and the region; it is
what ``gateway.json`` holds. The credentials are never part of it: boto3 takes
them from its usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, the
shared credentials file named by ``AWS_SHARED_CREDENTIALS_FILE`` or
``~/.aws/credentials``, an instance role), so they stay out of every config file
and log this project writes. This module does not import boto3, so a gateway on
the filesystem store never loads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from carchain.errors import GatewayConfigError

# S3's bucket naming rule (lower case, digits, dots, hyphens; 3 to 63 characters).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_REGION = re.compile(r"^[a-z0-9-]{1,32}$")


@dataclass(frozen=True, slots=True)
class S3Location:
    """An S3 endpoint URL, a bucket, a key prefix and a region."""

    endpoint_url: str
    bucket: str
    prefix: str = "carchain"
    region: str = "us-east-1"

    def __post_init__(self) -> None:
        validate_location(self)

    def get_key_prefix(self, namespace: str) -> str:
        """Return the key prefix of a namespace's objects: ``<prefix>/<namespace>/``."""
        return f"{self.prefix}/{namespace}/"


def validate_location(location: S3Location) -> None:
    """Refuse an endpoint that is not a plain http(s) URL, or a bad bucket, prefix or region."""
    # The endpoint is never quoted back: a mistyped one may hold a key (``user:secret@``).
    if "@" in location.endpoint_url:
        raise GatewayConfigError(
            "the S3 endpoint URL carries no credentials (they come from the AWS "
            "environment variables or credentials file)"
        )
    try:
        parts = urlsplit(location.endpoint_url)
        host = parts.hostname
    except ValueError:
        raise GatewayConfigError("the S3 endpoint is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise GatewayConfigError("the S3 endpoint is an http(s) URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise GatewayConfigError(
            "the S3 endpoint URL carries no credentials, query or fragment (credentials "
            "come from the AWS environment variables or credentials file)"
        )
    if not _BUCKET.match(location.bucket):
        raise GatewayConfigError("not a valid S3 bucket name", bucket=location.bucket)
    if not _PREFIX.match(location.prefix) or {".", ".."} & set(location.prefix.split("/")):
        raise GatewayConfigError(
            "the S3 key prefix is one or more plain names joined by '/'", prefix=location.prefix
        )
    if not _REGION.match(location.region):
        raise GatewayConfigError("not a valid S3 region name", region=location.region)
