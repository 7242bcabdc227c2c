"""Submitting transactions and asking about them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import parse_base64, parse_hex, result_json
from carchain.api.errors import compute_http_status, error_body
from carchain.api.explorer_models import DecodedTx
from carchain.api.schemas import ErrorDetail, compute_error_responses
from carchain.api.tx_decode import MemberNames, compute_decoded_tx
from carchain.api.view import BackendView
from carchain.node.backend import NodeBackend, SubmitResult

router = APIRouter(tags=["transactions"])
MAX_BATCH = 5_000


class TxIn(BaseModel):
    """One encoded transaction, base64."""

    tx: str = Field(max_length=200_000)


class BatchIn(BaseModel):
    """Several encoded transactions, base64, checked in order."""

    txs: list[str] = Field(max_length=MAX_BATCH)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckVerdict(_Strict):
    """The mempool's verdict (check_tx): code 0 when admitted, else the error code."""

    code: int
    error_code: str
    log: str
    fields: dict[str, Any] | None = Field(default=None, description="The error's typed fields.")


class EventOut(_Strict):
    """An event a transaction emitted (e.g. ``access_approved`` with the vehicle and seq)."""

    type: str
    attributes: dict[str, str]


class TxResultOut(_Strict):
    """A transaction's result in its block: code 0 when its rules passed."""

    code: int
    error_code: str
    log: str
    events: list[EventOut]
    fields: dict[str, Any] | None = None


class SubmitAnswer(_Strict):
    """What ``POST /txs`` answers: the hash, the check verdict and, once committed, the
    height, index and result; a refusal or failure adds the error document."""

    hash: str = Field(description="SHA-256 of the encoded envelope, hex.")
    check: CheckVerdict
    height: int | None = None
    index: int | None = None
    result: TxResultOut | None = None
    error: ErrorDetail | None = None


class TxStatusOut(_Strict):
    """A transaction's status on this node."""

    hash: str
    state: Literal["pending", "committed", "unknown"]
    height: int | None = None
    index: int | None = None
    result: TxResultOut | None = None
    decoded: DecodedTx | None = Field(default=None, description="Once committed: decoded.")
    error: ErrorDetail | None = None


class BatchAnswer(_Strict):
    """One verdict per transaction of a batch, in order, and how many were admitted."""

    results: list[SubmitAnswer]
    accepted: int


_SUBMIT_STATUSES = {
    202: "Admitted but not committed within the timeout: ask `GET /txs/{hash}` later.",
    400: "Malformed transaction (decoding, version, chain id, signature): the error "
    "document with the answer's `hash` and `check`; or a `tx` that is not base64.",
    422: "Committed, but the transaction's rules failed: the error document with the "
    "answer's fields (`result` carries the error); or a body that does not match the schema.",
}
_SUBMIT_REFUSALS = {
    403: "The signer may not send this type (e.g. not the vehicle's owner).",
    409: "Refused by state (e.g. a replayed nonce, a duplicate transaction).",
    413: "The encoded transaction is larger than the chain allows.",
}


def compute_submit_responses() -> dict[int | str, dict[str, Any]]:
    """Return the documented answers of ``POST /txs`` besides its 200."""
    out = compute_error_responses(400, 422)
    out.update(compute_error_responses(*_SUBMIT_REFUSALS, context=SubmitAnswer))
    for status, what in {**_SUBMIT_STATUSES, **_SUBMIT_REFUSALS}.items():
        out.setdefault(status, {})["description"] = what
    out[202]["model"] = SubmitAnswer
    return out


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


@router.post(
    "/txs",
    response_model=SubmitAnswer,
    responses=compute_submit_responses(),
)
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


@router.post("/txs/batch", response_model=BatchAnswer, responses=compute_error_responses(400, 422))
async def submit_batch(
    body: BatchIn, backend: Annotated[NodeBackend, Depends(get_backend)]
) -> dict[str, Any]:
    """Check several transactions in order (sync mode); one verdict per transaction."""
    raws = [parse_base64(t, f"txs[{i}]") for i, t in enumerate(body.txs)]
    out = [_submit_json(res) for res in await backend.submit_batch(raws)]
    return {"results": out, "accepted": sum(1 for r in out if r["check"]["code"] == 0)}


@router.get(
    "/txs/{tx_hash}",
    response_model=TxStatusOut,
    responses={
        **compute_error_responses(400, 422),
        **compute_error_responses(404, context=TxStatusOut),
    },
)
def get_tx(tx_hash: str, backend: Annotated[NodeBackend, Depends(get_backend)]) -> JSONResponse:
    """Return a transaction's status: pending, committed (with result and ``decoded``, see
    docs/explorer-api.md) or unknown (404)."""
    st = backend.get_tx(parse_hex(tx_hash, "tx hash", 32))
    doc: dict[str, Any] = {"hash": st.tx_hash.hex(), "state": st.state}
    if st.state == "committed":
        doc.update(height=st.height, index=st.index, result=result_json(st.result))
        if st.result is not None:
            names = MemberNames(BackendView(backend))
            doc["decoded"] = compute_decoded_tx(st.tx, st.height, st.index, st.result, names)
    if st.state == "unknown":
        doc.update(error_body("not_found", "transaction not known to this node"))
        return JSONResponse(doc, status_code=404)
    return JSONResponse(doc)


def register(app: FastAPI) -> None:
    """Add the transaction routes."""
    app.include_router(router)
