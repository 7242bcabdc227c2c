"""Car-to-car transfers at the crash: each crash car sends its crash alert to the
nearest car it hears, which signs a receipt (``carchain.v2x.transfer``).

Both cars log the same signed transfer and receipt (``V2xTransfer``): the sender's
pseudonym signature over a salted commitment to the data, the receiver's over the
transfer's hash. The salt and the ECDSA signatures are random, so these records,
alone of the simulation's, differ between two runs of one seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from carchain.data.records import V2xTransfer
from carchain.sim.crash import CrashPlan
from carchain.sim.pseudonyms import Pseudonym
from carchain.sim.radio_log import Exchange
from carchain.sim.routes import Route
from carchain.v2x.transfer import build_receipt, build_transfer, build_transfer_record

SEND_AFTER_MS = 1_000
RECEIPT_AFTER_MS = 50
HEARD_BEFORE_MS = 10_000  # the receiver: a car heard in the last seconds before the impact


def _choose_receiver(
    index: int, plan: CrashPlan, routes: Sequence[Route], exchange: Exchange
) -> int | None:
    """Return the nearest car ``index`` heard shortly before the crash (not the other crash car)."""
    crash = (plan.a.index, plan.b.index)
    recent = {
        peer
        for t, peer in exchange.heard[index]
        if plan.time_ms - HEARD_BEFORE_MS <= t <= plan.time_ms and peer not in crash
    }
    if not recent:
        return None
    x, y = routes[index].position_at(plan.time_ms)

    def distance(peer: int) -> tuple[float, int]:
        px, py = routes[peer].position_at(plan.time_ms)
        return (px - x) ** 2 + (py - y) ** 2, peer

    return min(recent, key=distance)


def compute_crash_transfers(
    plan: CrashPlan, pseudonyms: Sequence[Pseudonym], routes: Sequence[Route], exchange: Exchange
) -> list[tuple[int, int, V2xTransfer]]:
    """Return ``(car index, time, record)`` of both sides of each crash car's transfer."""
    out: list[tuple[int, int, V2xTransfer]] = []
    for sender in (plan.a.index, plan.b.index):
        receiver = _choose_receiver(sender, plan, routes, exchange)
        if receiver is None:
            continue
        sent = plan.time_ms + SEND_AFTER_MS
        alert = msgspec.msgpack.encode({"event": "collision", "time_ms": plan.time_ms})
        transfer, _salt = build_transfer(
            pseudonyms[sender].credential, pseudonyms[receiver].credential.certificate, alert, sent
        )
        receipt = build_receipt(pseudonyms[receiver].credential, transfer, sent + RECEIPT_AFTER_MS)
        t = sent + RECEIPT_AFTER_MS
        out.append((sender, t, build_transfer_record("sender", transfer, receipt)))
        out.append((receiver, t, build_transfer_record("receiver", transfer, receipt)))
    return out
