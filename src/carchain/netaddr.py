"""Which network addresses a carchain process may bind or connect to: loopback only.

A low module (it imports only ``carchain.errors``), so the engine, the node, the
network launcher and the gateway can all check an address without importing
each other.
"""

from __future__ import annotations

import ipaddress

from carchain.errors import ConfigError


def validate_loopback(host: str) -> None:
    """Refuse any address outside 127.0.0.0/8 and ::1: nodes serve loopback only."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ConfigError("nodes bind to loopback only (127.0.0.0/8 or ::1)", host=host)
