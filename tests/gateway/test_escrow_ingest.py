"""Ingest refuses a key envelope whose escrow shares are not exactly the committee's seats
for its epoch (holders, indices, count, version), or that escrows a category no committee
escrows; an honest car's envelopes are accepted. A refused batch leaves no trace."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from carchain.core.case_records import Custodian
from carchain.data.batches import decode_submitted
from carchain.data.custody import decode_key_envelope
from carchain.errors import EscrowMismatch, InvalidKeyEnvelope
from carchain.sdk.escrow_seats import EscrowSeats
from carchain.sdk.vehicle import VehicleRecorder
from tests.core.lawful_world import EPOCH, genesis  # noqa: F401
from tests.core.memory import core_chain  # noqa: F401
from tests.data.test_records import edr
from tests.dataplane import make_records
from tests.gateway.case_world import NOON_MS, CaseGateway, StateEscrowSource

DAY_MS = 86_400_000


class TamperedSource:
    """The chain's committee, changed by ``tamper`` before the car seals to it."""

    def __init__(self, inner: StateEscrowSource, tamper: Callable[[EscrowSeats], EscrowSeats]):
        self.inner = inner
        self.tamper = tamper

    def get_escrow_seats(self, epoch: int) -> EscrowSeats | None:
        """Return the tampered seats (also where the chain has no committee)."""
        seats = self.inner.get_escrow_seats(epoch) or self.inner.get_escrow_seats(EPOCH)
        assert seats is not None
        return self.tamper(seats)


def upload(rec: VehicleRecorder, start_ms: int = NOON_MS) -> bytes:
    """Return one closed batch of telemetry and an EDR event."""
    ups = []
    for t, r in make_records(10, start_ms):
        ups += rec.add_at(r, t)
    ups += rec.add_at(edr(), start_ms + 11_000)
    ups += rec.flush()
    assert len(ups) == 1
    return ups[0].body


def assert_refused(cg: CaseGateway, body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        cg.ingestor.process_batch_at(body, NOON_MS + 60_000)
    assert list(cg.keys.iter_digests()) == [] and cg.ingestor.journal.count_batches()[0] == 0


def test_honest_car_seals_escrowed_categories_to_every_seat(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    body = upload(cg.recorder("saic:1"))
    cg.ingestor.process_batch_at(body, NOON_MS + 60_000)
    envs = {e.category: e for e in map(decode_key_envelope, decode_submitted(body).key_envelopes)}
    saic = cg.chain.key("saic").public_key  # the vehicle-OEM seat: SAIC has no escrow key
    holders = [cg.chain.key(f"escrow/{m}").public_key for m in ("court", "caam", "audit")]
    for category in ("location", "crash_pulse", "motion"):
        assert envs[category].committee_version == 1
        assert [(s.index, s.holder) for s in envs[category].escrow] == list(
            enumerate([*holders, saic], start=1)
        )
    assert envs["time"].escrow == [] and envs["time"].committee_version == 0
    assert cg.ingestor.journal.count_batches()[0] == 1


def test_honest_car_before_any_committee_seals_no_shares(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    body = upload(cg.recorder("saic:1"), NOON_MS - DAY_MS)  # the day before the committee
    cg.ingestor.process_batch_at(body, NOON_MS + 60_000)
    assert all(not decode_key_envelope(e).escrow for e in decode_submitted(body).key_envelopes)


def _drop_last(s: EscrowSeats) -> EscrowSeats:
    c = s.committee
    return EscrowSeats(msgspec.structs.replace(c, custodians=c.custodians[:-1]), s.seat_keys[:-1])


def _add_seat(s: EscrowSeats) -> EscrowSeats:
    c = s.committee
    extra = Custodian(len(c.custodians) + 1, "pingan", "insurer", b"\x01" * 32)
    return EscrowSeats(
        msgspec.structs.replace(c, custodians=[*c.custodians, extra]),
        [*s.seat_keys, STRANGER],
    )


STRANGER = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
TAMPERS: dict[str, Callable[[EscrowSeats], EscrowSeats]] = {
    "wrong holder": lambda s: EscrowSeats(
        s.committee, [s.seat_keys[0], STRANGER, *s.seat_keys[2:]]
    ),
    "missing share": _drop_last,
    "extra share": _add_seat,
    "other version": lambda s: EscrowSeats(
        msgspec.structs.replace(s.committee, version=2), s.seat_keys
    ),
    "non-escrowed category": lambda s: EscrowSeats(
        msgspec.structs.replace(s.committee, categories=[*s.committee.categories, "time"]),
        s.seat_keys,
    ),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_invalid_escrow_list_not_the_committee_is_refused(
    case_gateway: CaseGateway, tamper: str
) -> None:
    cg = case_gateway
    rec = cg.recorder("saic:1")
    rec.escrow = TamperedSource(StateEscrowSource(cg.chain.state, "saic"), TAMPERS[tamper])
    assert_refused(cg, upload(rec), EscrowMismatch)


def test_invalid_shares_where_no_committee_is_in_force(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    rec = cg.recorder("saic:1")
    rec.escrow = TamperedSource(StateEscrowSource(cg.chain.state, "saic"), lambda s: s)
    assert_refused(cg, upload(rec, NOON_MS - DAY_MS), EscrowMismatch)


def test_invalid_car_without_escrow_while_a_committee_escrows(case_gateway: CaseGateway) -> None:
    """A sensitive key sealed only to the owner, with a committee in force: refused."""
    cg = case_gateway
    rec = cg.recorder("saic:1")
    rec.escrow = None
    assert_refused(cg, upload(rec), EscrowMismatch)


def test_invalid_swapped_share_indices_are_refused(case_gateway: CaseGateway) -> None:
    cg = case_gateway

    class Swapping(VehicleRecorder):
        def seal_category_key(self, category_key: bytes, epoch: int, category: str) -> bytes:
            env = decode_key_envelope(super().seal_category_key(category_key, epoch, category))
            if not env.escrow:
                return msgspec.msgpack.encode(env)
            a, b, *rest = env.escrow
            swapped = [msgspec.structs.replace(a, index=2), msgspec.structs.replace(b, index=1)]
            return msgspec.msgpack.encode(msgspec.structs.replace(env, escrow=[*swapped, *rest]))

    base = cg.recorder("saic:1")
    rec = Swapping(
        base.vehicle_id,
        base.key,
        base.owner,
        base.custodian,
        base.policy,
        window_ms=10**9,
        escrow=base.escrow,
    )
    assert_refused(cg, upload(rec), InvalidKeyEnvelope)
