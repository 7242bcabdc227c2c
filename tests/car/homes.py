"""Car homes for tests: cheap scrypt, seeded owner and custodian keys."""

from __future__ import annotations

from pathlib import Path

from carchain.sdk.car_home import CONFIG_FORMAT, CarConfig, CarHome, init_car_home
from tests.conftest import seeded_key

PASSPHRASE = "car test passphrase"
CUSTODIAN = seeded_key("custodian/saic")


def make_home(
    root: Path,
    vehicle_id: str = "saic:car-home",
    gateway: str = "http://127.0.0.1:1",
    node: str = "http://127.0.0.1:2",
) -> CarHome:
    """Create a car home (scrypt n=2**10, so tests stay fast)."""
    config = CarConfig(CONFIG_FORMAT, vehicle_id, gateway, node, CUSTODIAN.public_key.hex())
    home, _ = init_car_home(root, config, PASSPHRASE, scrypt_n=2**10)
    return home
