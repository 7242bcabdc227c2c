"""The four ABCI connections CometBFT opens, and which requests each may carry.

CometBFT v0.38's proxy opens one socket client per connection (query,
snapshot, mempool, consensus, in that order) and sends nothing on connect; a
connection shows what it is by its first requests: ``Info``/``Query`` on the
query connection, ``CheckTx`` on the mempool one, ``InitChain`` through
``Commit`` on the consensus one, the snapshot calls on the snapshot one.
``Echo`` and ``Flush`` may come on any of them.

The server serves at most four connections: one that sends its first byte
(before its first frame is buffered) while four others are open is refused.
(The count is taken at the first byte, not at accept: a start-up probe that
connected and closed is then already gone, where at accept time it may still
sit unread beside CometBFT's four.) A connection takes its role with its first
role-bearing request, a role is held by one open connection at a time, and a request of another role
on a connection is refused. Roles free up when their connection closes
(CometBFT restarting), so a new CometBFT can connect again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from carchain.errors import AbciConnectionRefused

MAX_CONNECTIONS = 4
# Sockets accepted but silent yet; beyond this many open ones a connection is
# refused at once (bounds the file descriptors a local client can hold).
MAX_ACCEPTED = 16


class Role(enum.Enum):
    """A connection of CometBFT's proxy."""

    QUERY = "query"
    SNAPSHOT = "snapshot"
    MEMPOOL = "mempool"
    CONSENSUS = "consensus"


REQUEST_ROLES: dict[str, Role] = {
    "info": Role.QUERY,
    "query": Role.QUERY,
    "check_tx": Role.MEMPOOL,
    "init_chain": Role.CONSENSUS,
    "prepare_proposal": Role.CONSENSUS,
    "process_proposal": Role.CONSENSUS,
    "extend_vote": Role.CONSENSUS,
    "verify_vote_extension": Role.CONSENSUS,
    "finalize_block": Role.CONSENSUS,
    "commit": Role.CONSENSUS,
    "list_snapshots": Role.SNAPSHOT,
    "offer_snapshot": Role.SNAPSHOT,
    "load_snapshot_chunk": Role.SNAPSHOT,
    "apply_snapshot_chunk": Role.SNAPSHOT,
}


@dataclass(eq=False)
class Connection:
    """One accepted connection and the role it took (``None`` until its first request)."""

    ident: int
    role: Role | None = None
    admitted: bool = False


@dataclass
class ConnectionTable:
    """The open connections and the role each one holds."""

    max_connections: int = MAX_CONNECTIONS
    _open: set[Connection] = field(default_factory=set)
    _holders: dict[Role, Connection] = field(default_factory=dict)
    _next: int = 0

    def open(self) -> Connection:
        """Register an accepted connection; raise ``AbciConnectionRefused`` if too many are."""
        if len(self._open) >= MAX_ACCEPTED:
            raise AbciConnectionRefused("too many ABCI connections", limit=MAX_ACCEPTED)
        self._next += 1
        conn = Connection(self._next)
        self._open.add(conn)
        return conn

    def close(self, conn: Connection) -> None:
        """Forget a closed connection and free its role."""
        self._open.discard(conn)
        if conn.role is not None and self._holders.get(conn.role) is conn:
            del self._holders[conn.role]

    def validate_admission(self, conn: Connection) -> None:
        """Raise unless ``conn``, sending its first request, is within the four."""
        if conn.admitted:
            return
        if len(self._open) > self.max_connections:
            raise AbciConnectionRefused(
                "CometBFT's four ABCI connections are already open", limit=self.max_connections
            )
        conn.admitted = True

    def validate_request(self, conn: Connection, kind: str) -> bool:
        """Raise unless ``conn`` may send a ``kind`` request; return whether it just took
        its role with this request.
        """
        role = REQUEST_ROLES.get(kind)
        if role is None:  # echo, flush: allowed on every connection
            return False
        if conn.role is not None:
            if conn.role is not role:
                raise AbciConnectionRefused(
                    f"{kind} on the {conn.role.value} connection", request=kind
                )
            return False
        if role in self._holders:
            raise AbciConnectionRefused(
                f"the {role.value} connection is already open", request=kind
            )
        conn.role = role
        self._holders[role] = conn
        return True

    @property
    def count(self) -> int:
        """Return how many connections are open."""
        return len(self._open)

    @property
    def roles(self) -> set[Role]:
        """Return the roles currently held."""
        return set(self._holders)
