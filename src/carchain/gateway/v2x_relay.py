"""The OEM gateway's misbehaviour-report relay: a car posts a report signed by its
pseudonym, without vehicle credentials; the gateway checks it as the chain will and
submits ``v2x.report`` with the OEM key (under the lock the anchoring loop shares).

The gateway learns nothing the report does not carry: the car authenticates with its
pseudonym's signature only, and the relay keeps no record of who connected.
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec

from carchain.core.misbehaviour import SubmitReport, validate_report_body
from carchain.crypto.signing import SigningKey
from carchain.errors import BatchTooLarge, InvalidV2xBody
from carchain.gateway.custody import LockedAccount
from carchain.sdk.client import Client

MAX_REPORT_BYTES = 4096


class ReportRelay:
    """Checks and submits cars' reports as the OEM."""

    def __init__(self, client: Client, oem_key: SigningKey, lock: threading.Lock) -> None:
        self.account = LockedAccount(client, oem_key, lock)

    def process_report(self, raw: bytes) -> dict[str, Any]:
        """Decode (MessagePack ``SubmitReport``), check, submit; return seq and height."""
        if len(raw) > MAX_REPORT_BYTES:
            raise BatchTooLarge("report too large", size=len(raw))
        try:
            body = msgspec.msgpack.decode(raw, type=SubmitReport)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InvalidV2xBody("not a report", field="body") from exc
        validate_report_body(self.account.chain_id, body)
        res = self.account.send(body)
        events = res.get("result", {}).get("events", [])
        seq = next(
            (e["attributes"].get("report_seq") for e in events if e.get("type") == "v2x_report"),
            None,
        )
        return {"report_seq": None if seq is None else int(seq), "height": res.get("height")}
