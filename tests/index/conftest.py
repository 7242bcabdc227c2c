"""A throwaway PostgreSQL server per session, a fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.postgres_cluster import create_database, find_pg_bin, run_cluster

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """Yield the DSN of a PostgreSQL server started for this session (Unix socket)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries missing: run scripts/setup_postgres.py")
    with run_cluster(bin_dir) as dsn:
        yield dsn


@pytest.fixture
def pg_dsn(pg_admin_dsn: str) -> str:
    """Return the DSN of a new, empty database on the session's server."""
    return create_database(pg_admin_dsn, f"t{next(_names)}")
