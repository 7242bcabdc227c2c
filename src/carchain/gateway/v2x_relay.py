"""The OEM gateway's misbehaviour-report relay: a car posts a report signed by its
pseudonym, without vehicle credentials, the evidence in clear; the gateway checks it as
the chain will, seals the evidence to every active misbehaviour authority and submits
``v2x.report`` (hash and boxes, never the evidence) with the OEM key (under the lock
the anchoring loop shares).

The gateway learns nothing the report does not carry: the car authenticates with its
pseudonym's signature only, and the relay keeps no record of who connected. What the
chain cannot check (it never decodes C-OER: for it the certificate is bytes that hold
the key), the relay does: the reporter certificate is a pseudonym certificate that a CA
this OEM registered on chain issued, valid now, for exactly the key that signed. Without
it anyone could have the OEM sign and store any number of reports under made-up
"pseudonyms".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import msgspec

from carchain.core import v2x_ca
from carchain.core.members import Role
from carchain.core.misbehaviour import MAX_EVIDENCE_BYTES, SubmitReport, validate_report_body
from carchain.core.state import KVView
from carchain.crypto.signing import SigningKey
from carchain.errors import BatchTooLarge, CarchainError, InvalidV2xBody
from carchain.gateway.custody import LockedAccount
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.v2x.ca_trust import ChainCaTrustStore, verify_issued_certificate
from carchain.v2x.misbehaviour import CarReport, seal_report

MAX_REPORT_BYTES = 4096


def get_misbehaviour_authorities(client: Client) -> list[tuple[str, bytes]]:
    """Return ``(member_id, public_key)`` of every active misbehaviour authority."""
    out: list[tuple[str, bytes]] = []
    after = ""
    while True:
        page = client.members(limit=1000, after=after)
        out += [
            (m["member_id"], bytes.fromhex(m["public_key"]))
            for m in page
            if m.get("status") == "active" and Role.MISBEHAVIOUR_AUTHORITY.value in m["roles"]
        ]
        if len(page) < 1000:
            return out
        after = page[-1]["member_id"]


def validate_reporter(view: KVView, oem: str, body: SubmitReport, now_s: int) -> None:
    """Raise ``InvalidV2xBody`` unless the reporter certificate is a pseudonym (linkage
    data, no issuing rights) that an active CA of ``oem`` registered on chain issued,
    valid at ``now_s``, whose key is the one that signed the report."""
    try:
        cert = verify_issued_certificate(body.reporter_certificate, ChainCaTrustStore(view), now_s)
    except CarchainError as exc:
        raise InvalidV2xBody(
            "the reporter certificate is no valid pseudonym of a registered CA",
            field="reporter_certificate",
        ) from exc
    if cert.is_ca or cert.linkage is None or cert.public_key != body.reporter_public_key:
        raise InvalidV2xBody(
            "the reporter certificate is no pseudonym of the signing key",
            field="reporter_certificate",
        )
    ca = v2x_ca.get_ca_optional(view, cert.issuer_id8 or b"")
    if ca is None or ca.oem != oem:
        raise InvalidV2xBody(
            "the reporter's pseudonym is not of this OEM's CA", field="reporter_certificate"
        )


def prepare_report(client: Client, chain_id: str, car: CarReport) -> SubmitReport:
    """Return the chain body of a car's report: check the evidence's size, seal it to
    the chain's active misbehaviour authorities, check the body as the chain will."""
    if not 0 < len(car.evidence) <= MAX_EVIDENCE_BYTES:
        raise InvalidV2xBody(
            "evidence size", field="evidence", size=len(car.evidence), limit=MAX_EVIDENCE_BYTES
        )
    body = seal_report(chain_id, car, get_misbehaviour_authorities(client))
    validate_report_body(chain_id, body)
    return body


class ReportRelay:
    """Checks and submits cars' reports as the OEM."""

    def __init__(
        self,
        client: Client,
        oem_key: SigningKey,
        lock: AbstractContextManager[object],
        oem: str,
        now_s: Callable[[], int] = lambda: int(time.time()),
    ) -> None:
        self.account = LockedAccount(client, oem_key, lock)
        self.client, self.oem, self._now_s = client, oem, now_s

    def process_report(self, raw: bytes) -> dict[str, Any]:
        """Decode (MessagePack ``CarReport``), check, seal, submit; return seq and height."""
        if len(raw) > MAX_REPORT_BYTES:
            raise BatchTooLarge("report too large", size=len(raw))
        try:
            car = msgspec.msgpack.decode(raw, type=CarReport)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InvalidV2xBody("not a report", field="body") from exc
        body = prepare_report(self.client, self.account.chain_id, car)
        validate_reporter(ChainView(self.client), self.oem, body, self._now_s())
        res = self.account.send(body)
        events = res.get("result", {}).get("events", [])
        seq = next(
            (e["attributes"].get("report_seq") for e in events if e.get("type") == "v2x_report"),
            None,
        )
        return {"report_seq": None if seq is None else int(seq), "height": res.get("height")}
