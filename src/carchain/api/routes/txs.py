"""Submitting transactions and asking about them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import parse_base64, parse_hex, result_json
from carchain.api.errors import compute_http_status, error_body
from carchain.node.backend import NodeBackend, SubmitResult

router = APIRouter(tags=["transactions"])
MAX_BATCH = 5_000


class TxIn(BaseModel):
    """One encoded transaction, base64."""

    tx: str = Field(max_length=200_000)


class BatchIn(BaseModel):
    """Several encoded transactions, base64, checked in order."""

    txs: list[str] = Field(max_length=MAX_BATCH)


def _submit_json(res: SubmitResult) -> dict[str, Any]:
    c = res.check
    out: dict[str, Any] = {
        "hash": c.tx_hash.hex(),
        "check": {"code": c.code, "error_code": c.error_code, "log": c.log},
    }
    if c.fields:
        out["check"]["fields"] = c.fields
    if res.height:
        out["height"] = res.height
        out["index"] = res.index
        out["result"] = result_json(res.result)
    return out


@router.post("/txs")
async def submit_tx(
    body: TxIn,
    backend: Annotated[NodeBackend, Depends(get_backend)],
    mode: Literal["sync", "commit"] = "sync",
    timeout: Annotated[float, Query(gt=0, le=60)] = 10.0,
) -> JSONResponse:
    """Submit a transaction. ``sync`` returns the check verdict; ``commit`` waits for its block.

    A refused transaction gets a 4xx with its error code; in commit mode a
    transaction that was included but failed its rules gets 422 with the result.
    """
    res = await backend.submit(parse_base64(body.tx, "tx"), mode, timeout)
    doc = _submit_json(res)
    if not res.check.ok:
        doc.update(error_body(res.check.error_code, res.check.log, res.check.fields))
        return JSONResponse(doc, status_code=compute_http_status(res.check.error_code))
    if mode == "commit":
        if not res.height:
            doc.update(error_body("timeout", "not committed within the timeout; ask again later"))
            return JSONResponse(doc, status_code=202)
        if res.result is not None and res.result.code != 0:
            doc.update(error_body(res.result.error_code, res.result.log, res.result.fields))
            return JSONResponse(doc, status_code=422)
    return JSONResponse(doc)


@router.post("/txs/batch")
async def submit_batch(
    body: BatchIn, backend: Annotated[NodeBackend, Depends(get_backend)]
) -> dict[str, Any]:
    """Check several transactions in order (sync mode); one verdict per transaction."""
    raws = [parse_base64(t, f"txs[{i}]") for i, t in enumerate(body.txs)]
    out = []
    for raw in raws:
        out.append(_submit_json(await backend.submit(raw, "sync", 0.0)))
    return {"results": out, "accepted": sum(1 for r in out if r["check"]["code"] == 0)}


@router.get("/txs/{tx_hash}")
def get_tx(tx_hash: str, backend: Annotated[NodeBackend, Depends(get_backend)]) -> JSONResponse:
    """Return a transaction's status: pending, committed (with result) or unknown (404)."""
    st = backend.get_tx(parse_hex(tx_hash, "tx hash", 32))
    doc: dict[str, Any] = {"hash": st.tx_hash.hex(), "state": st.state}
    if st.state == "committed":
        doc.update(height=st.height, index=st.index, result=result_json(st.result))
    if st.state == "unknown":
        doc.update(error_body("not_found", "transaction not known to this node"))
        return JSONResponse(doc, status_code=404)
    return JSONResponse(doc)


def register(app: FastAPI) -> None:
    """Add the transaction routes."""
    app.include_router(router)
