"""The car home at rest: a restart the same day continues the batch counter and keeps the
epoch key; a damaged, edited or foreign state file is a typed error and nothing is lost."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from carchain.data.batches import decode_signed_header, decode_submitted
from carchain.data.custody import open_category_key
from carchain.errors import (
    CarchainError,
    CarHomeBusy,
    CarHomeExists,
    CarHomeNotFound,
    CarLocked,
    CarStateCorrupted,
    InvalidCarConfig,
)
from carchain.sdk.car_home import (
    CONFIG_FORMAT,
    STATE_FILE,
    CarConfig,
    CarHome,
    init_car_home,
    open_car_home,
)
from carchain.sdk.car_state import BatchEntry
from tests.car.homes import PASSPHRASE, make_home
from tests.conftest import seeded_key
from tests.dataplane import NOW_MS, make_records

OWNER = seeded_key("owner/car-home")


def record_batch(home: CarHome, start_ms: int, owner: bytes = OWNER.public_key) -> BatchEntry:
    """Record ten telemetry records in one batch and store it in the home."""
    rec = home.make_recorder(owner, 0, None)
    ups = []
    for t, r in make_records(10, start_ms):
        ups += rec.add_at(r, t)
    ups += rec.flush()
    assert len(ups) == 1
    home.keep_recorder(rec)
    return home.store_batch(ups[0])


def key_refs(home: CarHome, entry: BatchEntry) -> set[bytes]:
    body = home.read_batch(entry)
    header = decode_signed_header(decode_submitted(body).header).header
    return {s.key_ref for s in header.segments}


def test_restart_same_day_continues_the_counter_and_keeps_the_key(tmp_path: Path) -> None:
    home = make_home(tmp_path / "car")
    first = record_batch(home, NOW_MS)
    second = record_batch(open_car_home(tmp_path / "car", PASSPHRASE), NOW_MS + 60_000)
    again = open_car_home(tmp_path / "car", PASSPHRASE)
    third = record_batch(again, NOW_MS + 120_000)
    assert [first.seq, second.seq, third.seq] == [0, 1, 2]
    assert first.epoch == second.epoch == third.epoch
    assert again.state.next_seqs == {first.epoch: 3}
    # The same epoch key: every batch of the day names the same category key envelopes.
    assert key_refs(again, first) == key_refs(again, third)
    assert [b.seq for b in open_car_home(tmp_path / "car", PASSPHRASE).state.batches] == [0, 1, 2]


def test_epoch_keys_are_never_on_disk_in_clear(tmp_path: Path) -> None:
    home = make_home(tmp_path / "car")
    record_batch(home, NOW_MS)
    (epoch_key,) = [k.key for k in home.state.epochs.values()]
    for path in (tmp_path / "car").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (epoch_key, home.key.seed()):
                assert secret not in data and secret.hex().encode() not in data, path


def test_an_older_state_restored_never_replays_a_seq(tmp_path: Path) -> None:
    root = tmp_path / "car"
    home = make_home(root)
    record_batch(home, NOW_MS)
    old = (root / STATE_FILE).read_bytes()
    record_batch(home, NOW_MS + 60_000)  # seq 1, then the state is rolled back (or the
    (root / STATE_FILE).write_bytes(old)  # process died between batch file and state)
    reopened = open_car_home(root, PASSPHRASE)
    assert [b.seq for b in reopened.state.batches] == [0, 1]
    assert reopened.state.batches[1].status == "pending"  # nothing lost: still to send
    assert record_batch(reopened, NOW_MS + 120_000).seq == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_invalid_damaged_state_is_typed_and_left_as_it_is(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "car"
    entry = record_batch(make_home(root), NOW_MS)
    good = (root / STATE_FILE).read_bytes()
    bad = {
        "flip": good[:-5] + bytes([good[-5] ^ 1]) + good[-4:],
        "truncate": good[: len(good) // 2],
        "empty": b"",
        "garbage": b"\x93\xc4\x01x",
    }[damage]
    (root / STATE_FILE).write_bytes(bad)
    batch = (root / "batches" / f"{entry.epoch}-{entry.seq}.batch").read_bytes()
    with pytest.raises(CarStateCorrupted) as exc:
        open_car_home(root, PASSPHRASE)
    assert exc.value.fields["path"] == str(root / STATE_FILE)
    assert (root / STATE_FILE).read_bytes() == bad  # not overwritten
    assert (root / "batches" / f"{entry.epoch}-{entry.seq}.batch").read_bytes() == batch
    (root / STATE_FILE).write_bytes(good)  # the backup restored: all there
    assert [b.header_hash for b in open_car_home(root, PASSPHRASE).state.batches] == [
        entry.header_hash
    ]


def test_invalid_state_of_another_car_does_not_open(tmp_path: Path) -> None:
    make_home(tmp_path / "a", "saic:car-a")
    make_home(tmp_path / "b", "saic:car-b")
    shutil.copy(tmp_path / "b" / STATE_FILE, tmp_path / "a" / STATE_FILE)
    with pytest.raises(CarStateCorrupted):
        open_car_home(tmp_path / "a", PASSPHRASE)


def test_invalid_changed_batch_file_is_refused_before_upload(tmp_path: Path) -> None:
    root = tmp_path / "car"
    home = make_home(root)
    entry = record_batch(home, NOW_MS)
    path = root / "batches" / f"{entry.epoch}-{entry.seq}.batch"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(CarStateCorrupted):
        home.read_batch(entry)
    path.unlink()
    with pytest.raises(CarStateCorrupted):
        home.read_batch(entry)


def test_invalid_unknown_home_wrong_passphrase_and_init_twice(tmp_path: Path) -> None:
    with pytest.raises(CarHomeNotFound):
        open_car_home(tmp_path / "nowhere", PASSPHRASE)
    root = tmp_path / "car"
    make_home(root)
    with pytest.raises(CarLocked):
        open_car_home(root, "another passphrase")
    key_file = (root / "vehicle-key.json").read_bytes()
    with pytest.raises(CarHomeExists):
        make_home(root)
    assert (root / "vehicle-key.json").read_bytes() == key_file


@pytest.mark.parametrize(
    ("vehicle_id", "gateway", "custodian", "option"),
    [
        ("no-namespace", "http://127.0.0.1:1", "00" * 32, "vehicle"),
        ("saic:", "http://127.0.0.1:1", "00" * 32, "vehicle"),
        ("saic:ok", "ftp://127.0.0.1", "00" * 32, "gateway"),
        ("saic:ok", "http://127.0.0.1:1", "zz", "custodian"),
        ("saic:ok", "http://127.0.0.1:1", "00" * 31, "custodian"),
    ],
)
def test_invalid_config_is_refused_and_creates_nothing(
    tmp_path: Path, vehicle_id: str, gateway: str, custodian: str, option: str
) -> None:
    config = CarConfig(CONFIG_FORMAT, vehicle_id, gateway, "http://127.0.0.1:2", custodian)
    with pytest.raises(InvalidCarConfig) as exc:
        init_car_home(tmp_path / "car", config, PASSPHRASE, scrypt_n=2**10)
    assert exc.value.fields["option"] == option
    assert not (tmp_path / "car").exists()


def test_a_transfer_drops_the_old_keys_but_not_the_counter(tmp_path: Path) -> None:
    home = make_home(tmp_path / "car")
    first = record_batch(home, NOW_MS)
    buyer = seeded_key("owner/buyer")
    rec = home.make_recorder(buyer.public_key, NOW_MS + 30_000, None)
    assert home.state.epochs == {}
    ups = []
    for t, r in make_records(5, NOW_MS + 60_000):
        ups += rec.add_at(r, t)
    ups += rec.flush()
    home.keep_recorder(rec)
    second = home.store_batch(ups[0])
    assert second.seq == first.seq + 1
    assert key_refs(home, first).isdisjoint(key_refs(home, second))
    # The buyer opens the new batch's keys; the seller does not.
    envelope = decode_submitted(home.read_batch(second)).key_envelopes[0]
    open_category_key(envelope, buyer)
    with pytest.raises(CarchainError):
        open_category_key(envelope, OWNER)


def test_invalid_second_process_on_one_home_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "car"
    make_home(root)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_HOME, str(root), PASSPHRASE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        with pytest.raises(CarHomeBusy):
            open_car_home(root, PASSPHRASE)
    finally:
        holder.kill()  # by its pid: the process this test started
        holder.wait()
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
    open_car_home(root, PASSPHRASE)  # free again once it is gone


HOLD_HOME = """
import sys
from pathlib import Path
from carchain.sdk.car_home import open_car_home
home = open_car_home(Path(sys.argv[1]), sys.argv[2])
print("open", flush=True)
sys.stdin.read()
"""
