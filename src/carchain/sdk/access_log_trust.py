"""Trusting an access-log page beyond the node that served it.

``Client.access_log`` proves every entry against the app hash of the node's own
block header. These functions tie that app hash to a header the caller trusts:
on a CometBFT network through the light client (a trust root the node does not
control: the genesis validator set or a trusted block hash; see
``carchain.sdk.light_client``), or, offline, through a block section and the
``BlockTrust`` of ``carchain verify`` (a solo node signs nothing, so there only
a block hash or header copy the user holds can vouch).
"""

from __future__ import annotations

import time
from typing import Any

from carchain.errors import InvalidProof, NoTrustRoot
from carchain.sdk.access_log import (
    AccessLogPage,
    parse_int_field,
    verify_access_log_page,
    verify_oem_access_log_page,
)
from carchain.sdk.bundle_block import BlockTrust, verify_bundle_block
from carchain.sdk.client import Client
from carchain.sdk.light_client import (
    DEFAULT_MAX_PROOF_AGE_S,
    Provider,
    TrustRoot,
    validate_freshness,
    verify_header_at,
)


def verify_page_header(app_hash: bytes, block_section: Any, trust: BlockTrust) -> tuple[str, ...]:
    """Raise unless ``block_section`` is vouched for by ``trust`` and carries ``app_hash``;
    return the trust statements."""
    block = verify_bundle_block(block_section, trust)
    if block.app_hash != app_hash:
        raise InvalidProof("page's app hash is not the trusted block's", link="block")
    return tuple(block.trusted_by)


def get_consensus_app_hash(
    doc: dict[str, Any], provider: Provider, root: TrustRoot | None, max_age_s: float, now: float
) -> bytes:
    """Return the app hash of the header after the page's state height, once the light
    client verified that header from ``root`` and found it fresh."""
    if root is None:
        raise NoTrustRoot("no trust root: give the genesis file or a trusted block hash")
    height = parse_int_field(doc, "height") or 0
    if parse_int_field(doc, "proof_height", optional=True) != height + 1:
        raise InvalidProof("proof height is not the state height + 1")
    header = verify_header_at(provider, root, height + 1, now)
    validate_freshness(header, max_age_s, now)
    return header.app_hash


def get_access_log_by_consensus(
    client: Client,
    provider: Provider,
    root: TrustRoot | None,
    vehicle_id: str,
    before: int | None = None,
    limit: int = 20,
    max_age_s: float = DEFAULT_MAX_PROOF_AGE_S,
    now: float | None = None,
) -> AccessLogPage:
    """Return a vehicle's page, every entry proven against a header the light client
    verified from ``root`` (CometBFT network)."""
    now = time.time() if now is None else now
    doc = client.access_log_doc(vehicle_id, before, limit)
    app_hash = get_consensus_app_hash(doc, provider, root, max_age_s, now)
    return verify_access_log_page(doc, vehicle_id, app_hash, before, limit)


def get_oem_access_log_by_consensus(
    client: Client,
    provider: Provider,
    root: TrustRoot | None,
    oem: str,
    before: int | None = None,
    limit: int = 20,
    max_age_s: float = DEFAULT_MAX_PROOF_AGE_S,
    now: float | None = None,
) -> AccessLogPage:
    """Return an OEM's page, every pointer and event proven against a verified header."""
    now = time.time() if now is None else now
    doc = client.oem_access_log_doc(oem, before, limit)
    app_hash = get_consensus_app_hash(doc, provider, root, max_age_s, now)
    return verify_oem_access_log_page(doc, oem, app_hash, before, limit)
