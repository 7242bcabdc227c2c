"""Who is at the other end of an ABCI connection: the peer's uid, as the kernel says.

ABCI has no authentication, so the server accepts only processes of its own
user. On a Unix socket the kernel answers ``SO_PEERCRED``. On loopback TCP
(the explicit ``--abci-transport tcp``) any local user can connect, so the
owner of the client's socket is looked up in ``/proc/net/tcp`` (or ``tcp6``):
the row whose local end is the peer's address and whose remote end is ours.
Where the OS offers neither (not Linux), no uid is known and none is checked.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import sys
from pathlib import Path
from typing import Any

from carchain.errors import AbciConnectionRefused

PROC_TCP = {socket.AF_INET: Path("/proc/net/tcp"), socket.AF_INET6: Path("/proc/net/tcp6")}
Endpoint = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


def compute_proc_endpoint(text: str) -> Endpoint:
    """Return the address and port of a ``/proc/net/tcp`` field (``0100007F:1F90``):
    the address is hex of 32-bit words, each in the host's byte order.
    """
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(raw), int(port, 16)


def compute_endpoint(name: Any) -> Endpoint:
    """Return the address and port of a ``getpeername``/``getsockname`` answer."""
    return ipaddress.ip_address(str(name[0]).split("%")[0]), int(name[1])


def get_tcp_peer_uid(table: str, peer: Endpoint, ours: Endpoint) -> int:
    """Return the uid owning the connection from ``peer`` to ``ours`` in ``table``
    (the text of ``/proc/net/tcp``); refuse a connection the table does not show.
    """
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        if (compute_proc_endpoint(fields[1]), compute_proc_endpoint(fields[2])) == (peer, ours):
            return int(fields[7])
    raise AbciConnectionRefused("cannot tell which user the ABCI peer runs as")


def get_peer_uid(sock: Any) -> int | None:
    """Return the uid of the process at the other end of ``sock``, or ``None`` where
    the OS does not tell it.
    """
    if sock.family == socket.AF_UNIX:
        if not hasattr(socket, "SO_PEERCRED"):
            return None
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", creds)[1])
    table = PROC_TCP.get(sock.family)
    if table is None or not table.exists():
        return None
    peer, ours = compute_endpoint(sock.getpeername()), compute_endpoint(sock.getsockname())
    return get_tcp_peer_uid(table.read_text(), peer, ours)


def validate_peer_uid(sock: Any) -> None:
    """Refuse a peer running as another user (where the OS reports it)."""
    if sock is None:
        return
    uid = get_peer_uid(sock)
    if uid is not None and uid != os.getuid():
        raise AbciConnectionRefused("ABCI peer runs as another user", uid=uid)
