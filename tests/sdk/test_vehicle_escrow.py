"""The car seals escrowed keys to committee(epoch) once per vehicle x epoch x category, not
per batch or record; if the committee cannot be read, the batch stays open (nothing lost)."""

from __future__ import annotations

import pytest

from carchain.core.case_records import Custodian, EscrowCommittee
from carchain.data.batches import decode_signed_header, decode_submitted
from carchain.data.custody import decode_key_envelope
from carchain.errors import NodeUnavailable
from carchain.sdk.escrow_seats import EscrowSeats
from carchain.sdk.vehicle import Upload, VehicleRecorder
from tests.conftest import seeded_key
from tests.dataplane import COLLECT_ALL, NOW_MS, make_records

SEATS = [seeded_key(f"seat/{i}") for i in range(1, 5)]
COMMITTEE = EscrowCommittee(
    3,
    3,
    [Custodian(i, f"m{i}", f"org{i}", k.public_key) for i, k in enumerate(SEATS, start=1)],
    ["location", "motion"],
    0,
    1,
)


class CountingSource:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[int] = []
        self.fail_first = fail_first

    def get_escrow_seats(self, epoch: int) -> EscrowSeats | None:
        self.calls.append(epoch)
        if len(self.calls) <= self.fail_first:
            raise NodeUnavailable("node down")
        return EscrowSeats(COMMITTEE, [k.public_key for k in SEATS])


def recorder(source: CountingSource) -> VehicleRecorder:
    return VehicleRecorder(
        "saic:e1",
        seeded_key("vehicle/saic:e1"),
        seeded_key("owner/saic:e1").public_key,
        seeded_key("custodian/saic").public_key,
        COLLECT_ALL,
        window_ms=60_000,
        escrow=source,
    )


def test_shares_are_sealed_once_per_epoch_and_category() -> None:
    source = CountingSource()
    rec = recorder(source)
    ups: list[Upload] = []
    for t, r in make_records(600, NOW_MS - 1_200_000):  # 10 minutes: ten batches
        ups += rec.add_at(r, t)
    ups += rec.flush()
    assert len(ups) >= 10
    refs: dict[str, set[bytes]] = {}
    for up in ups:
        sub = decode_submitted(up.body)
        for s in decode_signed_header(sub.header).header.segments:
            refs.setdefault(s.category, set()).add(s.key_ref)
        for raw in sub.key_envelopes:
            env = decode_key_envelope(raw)
            escrowed = env.category in COMMITTEE.categories
            assert (env.committee_version, len(env.escrow)) == ((3, 4) if escrowed else (0, 0))
    assert all(len(r) == 1 for r in refs.values())  # one envelope per category that day
    assert len(source.calls) == len(refs)  # one committee read per new key, none per batch


def test_batch_stays_open_when_the_committee_cannot_be_read() -> None:
    rec = recorder(CountingSource(fail_first=1))
    for t, r in make_records(5, NOW_MS - 30_000):
        assert rec.add_at(r, t) == []
    with pytest.raises(NodeUnavailable):
        rec.flush()
    (up,) = rec.flush()
    assert up.record_count == 5 and up.seq == 0
