"""Node status, blocks and state queries with proofs."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import parse_hex, proof_json, result_json
from carchain.api.errors import compute_http_status, error_body
from carchain.api.explorer_models import DecodedTx
from carchain.api.routes.txs import TxResultOut
from carchain.api.schemas import ProofOp, compute_error_responses
from carchain.api.tx_decode import MemberNames, compute_decoded_txs
from carchain.api.view import BackendView
from carchain.errors import ApiError, NotFound, make_error
from carchain.node.backend import BlockView, NodeBackend

router = APIRouter(tags=["chain"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeStatusOut(_Strict):
    """The node's view of the chain."""

    chain_id: str
    engine: str = Field(description="`solo` (embedded) or `cometbft`.")
    height: int = Field(description="Latest committed height (0 before the first block).")
    app_hash: str = Field(description="App hash after the latest block, hex.")
    mempool_size: int
    latest_block_time_ms: int


class BlockOut(_Strict):
    """A committed block: header fields (hex), its transactions (base64) and results."""

    height: int
    hash: str
    time_ms: int
    prev_hash: str
    tx_root: str
    app_hash: str
    proposer: str
    txs: list[str] = Field(description="The encoded transactions, base64, in block order.")
    results: list[TxResultOut | None]
    decoded_txs: list[DecodedTx] = Field(
        description="Each transaction decoded (docs/explorer-api.md)."
    )


class BlockHeaderOut(_Strict):
    """A committed block's header fields (hex) and its transaction count, no transactions."""

    height: int
    hash: str
    time_ms: int
    prev_hash: str = Field(description="The previous block's hash (empty at height 1).")
    tx_root: str
    app_hash: str = Field(description="Solo: the state after this block; CometBFT: before it.")
    proposer: str
    tx_count: int
    results_hash: str = Field(
        description="Solo: the header's root over the results' codes; empty on a network."
    )


class RawBlockOut(_Strict):
    """A committed block's header fields and transactions, without results or decoding."""

    height: int
    hash: str
    time_ms: int
    app_hash: str
    txs: list[str] = Field(description="The encoded transactions, base64, in block order.")


class RawBlockPage(_Strict):
    """Committed blocks from a height up, oldest first; ``next_height`` continues."""

    blocks: list[RawBlockOut]
    next_height: int | None = Field(description="The next page's `from_height` (null: none).")


MAX_RAW_BLOCKS = 100
MAX_RAW_PAGE_BYTES = 4 * 1024 * 1024  # the transactions of one page (at least one block)


class StateAnswer(_Strict):
    """One key of committed state: its value (hex) and, with ``prove``, the proof."""

    store: str
    key: str = Field(description="The state key, hex.")
    height: int = Field(description="The state height read.")
    proof: list[ProofOp] | None = Field(default=None, description="With `prove` only.")
    app_hash: str | None = Field(default=None, description="With `prove` only, hex.")
    proof_height: int | None = Field(
        default=None, description="The block whose header carries `app_hash` (with `prove`)."
    )
    value: str = Field(description="The value, hex (empty for a deleted key's 404).")


@router.get("/status", response_model=NodeStatusOut)
def status(backend: Annotated[NodeBackend, Depends(get_backend)]) -> dict[str, Any]:
    """Return chain id, engine, height, app hash and mempool size."""
    s = backend.status()
    return {
        "chain_id": s.chain_id,
        "engine": s.engine,
        "height": s.height,
        "app_hash": s.app_hash.hex(),
        "mempool_size": s.mempool_size,
        "latest_block_time_ms": s.latest_block_time_ms,
    }


@router.get("/blocks/raw", response_model=RawBlockPage, responses=compute_error_responses(422))
def list_raw_blocks(
    backend: Annotated[NodeBackend, Depends(get_backend)],
    from_height: Annotated[int, Query(ge=1, lt=2**63)] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_RAW_BLOCKS)] = MAX_RAW_BLOCKS,
) -> dict[str, Any]:
    """Return up to ``limit`` committed blocks from ``from_height`` up, oldest first: the
    header fields and the transactions (base64) of each, for a reader that goes through
    the whole chain (``GET /blocks/{height}`` gives one block with results and decoding).
    A page stops after 4 MiB of transactions; a block a pruned store no longer holds is
    left out (its height is missing). ``next_height`` is null after the latest block."""
    latest = backend.status().height
    blocks: list[dict[str, Any]] = []
    size, h = 0, from_height
    while h <= min(latest, from_height + limit - 1) and (not blocks or size < MAX_RAW_PAGE_BYTES):
        b = backend.get_block_optional(h)
        if b is not None:
            size += sum(len(t) for t in b.txs)
            blocks.append(compute_raw_block(b))
        h += 1
    return {"blocks": blocks, "next_height": h if h <= latest else None}


def compute_raw_block(b: BlockView) -> dict[str, Any]:
    """Return the ``RawBlockOut`` document of a block view."""
    return {
        "height": b.height, "hash": b.hash.hex(), "time_ms": b.time_ms,
        "app_hash": b.app_hash.hex(), "txs": [base64.b64encode(t).decode() for t in b.txs],
    }  # fmt: skip


@router.get(
    "/blocks/{height}",
    response_model=BlockOut,
    response_model_exclude_unset=True,  # a result's `fields` only when it has some
    responses=compute_error_responses(400, 404, 422),
)
def get_block(height: int, backend: Annotated[NodeBackend, Depends(get_backend)]) -> dict[str, Any]:
    """Return a committed block: header fields, transactions (base64), results and
    ``decoded_txs`` (each transaction decoded, see docs/explorer-api.md)."""
    validate_block_height(height)
    b = backend.get_block_optional(height)
    if b is None:
        raise NotFound("no block at this height", height=height)
    return {
        "height": b.height,
        "hash": b.hash.hex(),
        "time_ms": b.time_ms,
        "prev_hash": b.prev_hash.hex(),
        "tx_root": b.tx_root.hex(),
        "app_hash": b.app_hash.hex(),
        "proposer": b.proposer.hex(),
        "txs": [base64.b64encode(t).decode() for t in b.txs],
        "results": [result_json(r) for r in b.results],
        "decoded_txs": compute_decoded_txs(
            b.txs, b.results, b.height, MemberNames(BackendView(backend))
        ),
    }


@router.get(
    "/blocks/{height}/header",
    response_model=BlockHeaderOut,
    responses=compute_error_responses(400, 404, 422),
)
def get_block_header(
    height: int, backend: Annotated[NodeBackend, Depends(get_backend)]
) -> dict[str, Any]:
    """Return a committed block's header fields and transaction count, without its
    transactions: what a reader that checks a proof against an app hash needs."""
    validate_block_height(height)
    h = backend.get_header_optional(height)
    if h is None:
        raise NotFound("no block at this height", height=height)
    return {
        "height": h.height, "hash": h.hash.hex(), "time_ms": h.time_ms,
        "prev_hash": h.prev_hash.hex(), "tx_root": h.tx_root.hex(), "app_hash": h.app_hash.hex(),
        "proposer": h.proposer.hex(), "tx_count": h.tx_count, "results_hash": h.results_hash.hex(),
    }  # fmt: skip


def validate_block_height(height: int) -> None:
    """Raise ``ApiError`` for a height below 1 and ``NotFound`` for one no block can have."""
    if height < 1:
        raise ApiError("height must be at least 1")
    if height >= 2**63:  # no such block, and SQLite cannot even bind the number
        raise NotFound("no block at this height", height=height)


@router.get(
    "/state/{store}",
    response_model=StateAnswer,
    response_model_exclude_unset=True,
    responses=compute_error_responses(400, 404, 422),
)
def query_state(
    store: str,
    backend: Annotated[NodeBackend, Depends(get_backend)],
    key: Annotated[str | None, Query(max_length=512)] = None,
    key_hex: Annotated[str | None, Query(max_length=1024)] = None,
    prove: bool = False,
    height: Annotated[int, Query(ge=0, lt=2**63)] = 0,
) -> dict[str, Any] | JSONResponse:
    """Read one key of committed state; with ``prove`` also the proof and the app hash.

    ``height`` reads the state as committed at that height (0: the latest); the
    node keeps a window of recent heights, and one outside it gets 404
    ``height_unavailable``. Two reads at one height prove two keys against one
    app hash. The proof is two ``simple:v`` ops (key in store root, store root in
    app hash). ``height`` in the answer is the state height read, and
    ``proof_height`` names the block header whose app hash the proof checks
    against. A key that was never written cannot be proven absent (404,
    ``not_found``); a deleted key proves its empty value (404, ``not_found``,
    with ``value`` empty and the ``proof``: the error document then also carries the
    answer's fields).
    """
    if (key is None) == (key_hex is None):
        raise ApiError("give exactly one of key and key_hex")
    raw_key = key.encode() if key is not None else parse_hex(key_hex or "", "key_hex")
    q = backend.query(store, raw_key, prove, height)
    doc: dict[str, Any] = {"store": store, "key": raw_key.hex(), "height": q.height}
    if q.proof is not None:
        doc["proof"] = proof_json(q.proof)
        doc["app_hash"] = q.proof.app_hash.hex()
        anchor = backend.get_proof_app_hash_optional(q.height)
        if anchor is not None:
            doc["proof_height"] = anchor[0]
    if q.code != 0 and q.proof is not None:
        # A deleted key: refuse the read, but return the proof of its empty value.
        doc["value"] = ""
        doc.update(error_body(q.error_code, q.log, q.fields))
        return JSONResponse(doc, status_code=compute_http_status(q.error_code))
    if q.code != 0:
        where = {"store": store, "key": raw_key.hex(), "height": q.height}
        raise make_error(q.error_code, q.log, {**where, **q.fields})
    doc["value"] = q.value.hex()
    return doc


def register(app: FastAPI) -> None:
    """Add the chain routes."""
    app.include_router(router)
