"""The car home refuses what could be turned against it: a short passphrase, a vehicle id or
URL that only looks right (a trailing newline, an unparsable URL), a temp file planted
under the name an atomic write uses, and a home folder others can write to."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec
import pytest

from carchain.errors import CarStateCorrupted, InvalidCarConfig, PassphraseTooShort
from carchain.sdk.car_home import (
    CONFIG_FILE,
    CONFIG_FORMAT,
    STATE_FILE,
    CarConfig,
    init_car_home,
    open_car_home,
    read_car_config,
)
from carchain.sdk.car_state import write_atomic
from carchain.sdk.keystore import MIN_PASSPHRASE_LENGTH
from tests.car.homes import CUSTODIAN, PASSPHRASE, make_home
from tests.car.test_car_home import record_batch
from tests.dataplane import NOW_MS

GOOD_URL = "http://127.0.0.1:1"


def make_config(
    vehicle_id: str = "saic:ok", gateway: str = GOOD_URL, node: str = GOOD_URL
) -> CarConfig:
    return CarConfig(CONFIG_FORMAT, vehicle_id, gateway, node, CUSTODIAN.public_key.hex())


@pytest.mark.parametrize("passphrase", ["", "x", "a" * (MIN_PASSPHRASE_LENGTH - 1)])
def test_invalid_short_passphrase_is_refused_and_creates_nothing(
    tmp_path: Path, passphrase: str
) -> None:
    with pytest.raises(PassphraseTooShort) as exc:
        init_car_home(tmp_path / "car", make_config(), passphrase, scrypt_n=2**10)
    assert exc.value.fields["minimum"] == MIN_PASSPHRASE_LENGTH
    assert not (tmp_path / "car").exists()
    init_car_home(tmp_path / "car", make_config(), "a" * MIN_PASSPHRASE_LENGTH, scrypt_n=2**10)


@pytest.mark.parametrize(
    ("vehicle_id", "gateway", "node", "option"),
    [
        ("saic:ok\n", GOOD_URL, GOOD_URL, "vehicle"),  # `$` lets a trailing newline through
        ("saic:ok", GOOD_URL + "\n", GOOD_URL, "gateway"),
        ("saic:ok", "http://[::1", GOOD_URL, "gateway"),  # httpx.InvalidURL on first use
        ("saic:ok", "http://127.0.0.1:port", GOOD_URL, "gateway"),
        ("saic:ok", "http://127.0.0.1:99999", GOOD_URL, "gateway"),
        ("saic:ok", "http://127.0.0.1:0", GOOD_URL, "gateway"),
        ("saic:ok", "https://h\tx", GOOD_URL, "gateway"),
        ("saic:ok", "http://user:secret@127.0.0.1:1", GOOD_URL, "gateway"),
        ("saic:ok", "http://127.0.0.1:1/?q=1", GOOD_URL, "gateway"),
        ("saic:ok", "http://127.0.0.1:1#top", GOOD_URL, "gateway"),
        ("saic:ok", GOOD_URL, "http://h:x", "node"),
        ("saic:ok", GOOD_URL, "http://[::1", "node"),
    ],
)
def test_invalid_config_that_only_looks_right_is_refused(
    tmp_path: Path, vehicle_id: str, gateway: str, node: str, option: str
) -> None:
    with pytest.raises(InvalidCarConfig) as exc:
        init_car_home(tmp_path / "car", make_config(vehicle_id, gateway, node), PASSPHRASE)
    assert exc.value.fields["option"] == option
    assert not (tmp_path / "car").exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "https://[::1]:8443/api", "http://gw.example"]
)
def test_sound_urls_are_taken(tmp_path: Path, url: str) -> None:
    home = make_home(tmp_path / "car", gateway=url, node=url)
    assert read_car_config(home.root).gateway == url


def test_invalid_edited_config_is_refused_at_open(tmp_path: Path) -> None:
    root = tmp_path / "car"
    make_home(root)
    path = root / CONFIG_FILE
    doc = msgspec.json.decode(path.read_bytes())
    for field, value in (("vehicle_id", "saic:car-home\n"), ("gateway", "http://[::1")):
        path.write_bytes(msgspec.json.encode({**doc, field: value}))
        with pytest.raises(InvalidCarConfig):
            open_car_home(root, PASSPHRASE)


@pytest.mark.parametrize("name", ["1-0.batch\n", "\u0661-0.batch", "0-\u0662.batch"])
def test_a_file_only_named_like_a_batch_is_not_counted(tmp_path: Path, name: str) -> None:
    root = tmp_path / "car"
    record_batch(make_home(root), NOW_MS)
    (root / "batches" / name).write_bytes(b"not a batch")
    assert len(open_car_home(root, PASSPHRASE).state.batches) == 1


def test_invalid_symlink_at_the_temp_name_is_not_written_through(tmp_path: Path) -> None:
    root = tmp_path / "car"
    home = make_home(root)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    tmp = root / f".{STATE_FILE}.tmp"
    tmp.symlink_to(victim)
    home.save()
    assert victim.read_bytes() == b"keep me"
    assert not (root / STATE_FILE).is_symlink()
    dangling = tmp_path / "would-be-created"
    tmp.symlink_to(dangling)
    home.save()
    assert not dangling.exists()
    assert open_car_home(root, PASSPHRASE).state.vehicle_id == "saic:car-home"


def test_a_planted_temp_file_does_not_lend_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "file"
    tmp = tmp_path / ".file.tmp"
    tmp.write_bytes(b"planted")
    os.chmod(tmp, 0o666)
    write_atomic(target, b"data")
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not tmp.exists()


def test_home_is_created_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        root = make_home(tmp_path / "a" / "car").root
    finally:
        os.umask(old)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for path in root.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


@pytest.mark.parametrize("mode", [0o770, 0o702, 0o777, 0o720])
def test_invalid_home_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    root = tmp_path / "car"
    make_home(root)
    os.chmod(root, mode)
    for open_it in (lambda: open_car_home(root, PASSPHRASE), lambda: read_car_config(root)):
        with pytest.raises(InvalidCarConfig) as exc:
            open_it()
        assert exc.value.fields["option"] == "home"
    os.chmod(root, 0o750)  # readable by the group is fine
    open_car_home(root, PASSPHRASE)


def test_invalid_init_into_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    os.chmod(root, 0o777)
    with pytest.raises(InvalidCarConfig) as exc:
        make_home(root)
    assert exc.value.fields["option"] == "home" and list(root.iterdir()) == []


def test_invalid_folder_at_the_temp_name_is_a_typed_error(tmp_path: Path) -> None:
    root = tmp_path / "car"
    home = make_home(root)
    (root / f".{STATE_FILE}.tmp").mkdir()
    with pytest.raises(CarStateCorrupted):
        home.save()
    with pytest.raises(CarStateCorrupted):
        open_car_home(root, PASSPHRASE)
    (root / f".{STATE_FILE}.tmp").rmdir()
    open_car_home(root, PASSPHRASE)
