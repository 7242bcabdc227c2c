"""schemathesis against a live solo node with a small demo chain: every operation of
``app.openapi()`` gets generated requests (bounded: 10 examples, derandomized), and
every answer is no 5xx, conforms to the documented schema (status, content type,
body), and invalid input is refused with a 4xx. Streaming endpoints
(``text/event-stream``) are skipped, by name."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from carchain.api.app import create_app
from carchain.core import governance as gov
from carchain.index.follower import run_indexer
from carchain.index.queries import AuditIndex
from carchain.index.source import BackendSource
from carchain.index.store import IndexStore
from carchain.node.solo_node import SoloNode
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from tests.conftest import CHAIN_ID, make_genesis, seeded_key
from tests.core.test_vehicles import register_body
from tests.postgres_cluster import find_pg_bin, run_cluster

MAX_EXAMPLES = 10  # per operation, valid input
MAX_NEGATIVE_EXAMPLES = 5  # per operation, invalid input (keeps the file well under 60 s)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
STREAMING = "text/event-stream"
# This fixture's node has no block loop, so /ready truthfully answers its documented 503
# `not_ready` (tests/api/test_ops_routes.py covers both answers): there, and only there,
# a 5xx is the right answer; its body is still checked against the document.
NOT_READY_PATH = "/ready"
# The /index routes answer from a PostgreSQL audit index (tests/postgres_cluster.py starts
# one); only on a machine without the server binary do they answer their documented 503.
INDEX_PREFIX = "/index/"


def compute_checks(path: str, indexed: bool = True) -> list[Any]:
    """Return the checks for an operation (all of them, except a 5xx on /ready, and on
    /index routes when no PostgreSQL server could be started)."""
    may_503 = path == NOT_READY_PATH or (not indexed and path.startswith(INDEX_PREFIX))
    return [c for c in CHECKS if not may_503 or c is not not_a_server_error]


def start_index(stack: contextlib.ExitStack, node: SoloNode) -> AuditIndex | None:
    """Return a reader of an index of ``node`` on a throwaway server, or ``None`` without one."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        return None
    dsn = stack.enter_context(run_cluster(bin_dir))
    store = IndexStore.open(dsn)
    try:
        run_indexer(BackendSource(node), store, follow=False)
    finally:
        store.close()
    reader = AuditIndex(dsn)
    stack.callback(reader.close)
    return reader


def build_demo_node(tmp: Path) -> tuple[SoloNode, Database]:
    """Return a solo node with two registered vehicles and an open proposal."""
    db = Database(tmp / "node.db")
    node = SoloNode(db)
    node.app.init_chain(make_genesis())
    for nonce, vid in enumerate(("saic:1", "saic:2"), start=1):
        raw = build_tx(CHAIN_ID, seeded_key("saic"), nonce, register_body(vid))
        assert node.engine.submit(raw).ok
        node.produce_block()
    propose = gov.Propose(gov.SuspendMember("bosch"))
    assert node.engine.submit(build_tx(CHAIN_ID, seeded_key("miit"), 1, propose)).ok
    node.produce_block()
    return node, db


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, Any, bool]]:
    node, db = build_demo_node(tmp_path_factory.mktemp("fuzz"))
    with contextlib.ExitStack() as stack:
        stack.callback(db.close)
        reader = start_index(stack, node)
        app = create_app(node, None, reader)
        schema = schemathesis.openapi.from_dict(app.openapi())
        schema.app = app
        yield app, schema, reader is not None


def is_streaming(operation: Any) -> bool:
    """Return whether the operation answers a stream (text/event-stream)."""
    for response in operation.definition.raw.get("responses", {}).values():
        if STREAMING in response.get("content", {}):
            return True
    return False


def has_negatable_input(operation: Any) -> bool:
    """Return whether invalid input can be generated: a query parameter or a body (an
    operation with only free-text path segments has no invalid value)."""
    raw = operation.definition.raw
    query = [p for p in raw.get("parameters", []) if p.get("in") == "query"]
    return bool(query or raw.get("requestBody"))


def compute_operation_labels() -> list[str]:
    spec = create_app(cast(Any, SimpleNamespace())).openapi()
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", compute_operation_labels())
def test_operation_conforms(
    live: tuple[FastAPI, Any, bool], label: str, mode: GenerationMode
) -> None:
    app, schema, indexed = live
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    if is_streaming(operation):
        pytest.skip(f"{label} streams text/event-stream")
    if mode == GenerationMode.NEGATIVE and not has_negatable_input(operation):
        pytest.skip(f"{label} has no input that can be invalid")
    strategy = operation.as_strategy(generation_mode=mode)

    @settings(
        max_examples=MAX_EXAMPLES if mode == GenerationMode.POSITIVE else MAX_NEGATIVE_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(case: Any) -> None:
        case.call_and_validate(checks=compute_checks(path, indexed))

    with TestClient(app):
        run()


# Path and query values that name the demo chain's data, so that the answers checked are
# real ones (200s with content), not only the 404s of random ids.
DEMO_PATH = {
    "height": 1,
    "store": "vehicles",
    "member_id": "saic",
    "oem": "saic",
    "vehicle_id": "saic:1",
    "proposal_id": 1,
    "public_key": seeded_key("saic").public_key.hex(),
    "tx_hash": "00" * 32,
    "seq": 1,
    "case_id": 1,
    "hashed_id8": "00" * 8,
    "name": "incident.html",
}
DEMO_QUERY = {
    "/state/{store}": {"key": "v/saic:1", "prove": "true"},
    "/transparency/annual": {"oem": "saic", "year": 2026},
}


def test_demo_answers_conform(live: tuple[FastAPI, Any, bool]) -> None:
    """Every GET operation, asked about the demo's data, answers as documented; the
    registry reads answer 200 with their content."""
    app, schema, indexed = live
    statuses = {}
    with TestClient(app):
        for result in schema.get_all_operations():
            op = result.ok()
            if op.method.upper() != "GET" or is_streaming(op):
                continue
            names = [
                p["name"] for p in op.definition.raw.get("parameters", []) if p["in"] == "path"
            ]
            case = op.Case(
                path_parameters={n: DEMO_PATH[n] for n in names},
                query=DEMO_QUERY.get(op.path, {}),
            )
            checks = compute_checks(op.path, indexed)
            statuses[op.path] = case.call_and_validate(checks=checks).status_code
    for path in ("/status", "/blocks/{height}", "/members", "/members/{member_id}", "/vehicles",
                 "/vehicles/{vehicle_id}", "/proposals/{proposal_id}", "/state/{store}",
                 "/vehicles/{vehicle_id}/access-log", "/members/{oem}/access-log",
                 "/transparency", "/vehicles/{vehicle_id}/consents"):  # fmt: skip
        assert statuses[path] == 200, (path, statuses)
    assert statuses[NOT_READY_PATH] == 503, statuses
    index_paths = [p for p in statuses if p.startswith(INDEX_PREFIX)]
    assert len(index_paths) == 4
    assert {statuses[p] for p in index_paths} == ({200} if indexed else {503}), statuses
