"""The gateway's REST API: vehicles upload batches; key holders fetch ciphertext and proofs."""

from __future__ import annotations

import time
from typing import Annotated, Any, cast

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from carchain import __version__
from carchain.api import errors
from carchain.api.encoding import parse_hex
from carchain.core.exceptions import BatchTooLarge, NotFound
from carchain.data.batches import decode_signed_header
from carchain.data.custody import decode_envelope
from carchain.gateway.journal import BatchRow
from carchain.gateway.service import Gateway

OCTETS = "application/octet-stream"


def _gateway(request: Request) -> Gateway:
    return cast(Gateway, request.app.state.gateway)


def _batch_json(row: BatchRow, gw: Gateway) -> dict[str, Any]:
    h = decode_signed_header(row.header).header
    doc: dict[str, Any] = {
        "header_hash": row.header_hash.hex(),
        "vehicle_id": row.vehicle_id,
        "epoch": row.epoch,
        "seq": row.seq,
        "start_ms": row.start_ms,
        "end_ms": row.end_ms,
        "record_count": row.record_count,
        "categories": h.categories,
        "ciphertext_size": row.ciphertext_size,
        "ciphertext_hash": h.ciphertext_hash.hex(),
        "key_ref": h.key_ref.hex(),
        "anchor_seq": row.anchor_seq,
        "anchor_height": 0,
    }
    if row.anchor_seq is not None:
        anchor = gw.journal.get_anchor(row.anchor_seq)
        doc["anchor_height"] = anchor.height if anchor else 0
    return doc


def _authenticate(request: Request) -> bytes:
    """Return the key that signed this request (``Unauthenticated`` if none did)."""
    gw = _gateway(request)
    return gw.authenticator.authenticate_at(
        request.method,
        request.url.path,
        request.scope.get("query_string", b"").decode("latin-1"),
        request.headers,
        int(time.time() * 1000),
    )


def _get_owner_of(gw: Gateway, row: BatchRow) -> bytes:
    """Return the owner of the batch's whole time range (``b""``: none, operators only).

    A batch accepted before a transfer that its time range reaches past was
    committed is nobody's: the previous owner must not read past the transfer.
    """
    vehicle = gw.ingestor.directory.get_vehicle(row.vehicle_id, row.end_ms)
    period = gw.ingestor.directory.get_owner_period(vehicle, row.start_ms)
    return period.owner if row.end_ms < period.until_ms else b""


def _get_row(gw: Gateway, header_hash: str, reader: bytes) -> BatchRow:
    row = gw.journal.get_batch(parse_hex(header_hash, "header hash", 32))
    if row is None:
        raise NotFound("no such batch")
    if not gw.access.is_operator(reader):
        gw.access.validate_reader(reader, _get_owner_of(gw, row))
    return row


def _filter_readable(gw: Gateway, rows: list[BatchRow], reader: bytes) -> list[BatchRow]:
    """Return the rows ``reader`` may see (all for an operator, an owner's periods' rows)."""
    if gw.access.is_operator(reader):
        return rows
    return [r for r in rows if _get_owner_of(gw, r) == reader]


def create_gateway_app(gw: Gateway) -> FastAPI:
    """Return the gateway API app serving ``gw``."""
    app = FastAPI(title=f"carchain gateway ({gw.oem})", version=__version__)
    app.state.gateway = gw
    errors.register(app)

    @app.get("/status")
    def status(request: Request) -> dict[str, object]:
        """Return counts of accepted, anchored and pending batches and of anchors."""
        return _gateway(request).status()

    @app.post("/batches")
    async def submit_batch(request: Request) -> dict[str, Any]:
        """Upload one batch (MessagePack ``SubmittedBatch``); 200 only once it is durable."""
        gw = _gateway(request)
        limit = gw.ingestor.limits.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BatchTooLarge("upload too large", size=int(declared))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:  # chunked uploads have no length to check up front
                raise BatchTooLarge("upload too large", size=size)
            chunks.append(chunk)
        raw = b"".join(chunks)
        receipt = await run_in_threadpool(gw.process_batch, raw)
        return {"header_hash": receipt.header_hash.hex(), "received": receipt.received}

    @app.get("/batches")
    def list_batches(
        request: Request,
        vehicle_id: str,
        start_ms: Annotated[int, Query(ge=0, lt=2**63)] = 0,
        end_ms: Annotated[int, Query(ge=0, lt=2**63)] = 2**62,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        anchored_only: bool = False,
    ) -> dict[str, Any]:
        """Return a vehicle's batches overlapping a time range (optionally anchored only).

        Operators see all; an owner sees the batches of its ownership periods.
        """
        reader = _authenticate(request)
        gw = _gateway(request)
        gw.access.validate_vehicle_reader(reader, vehicle_id)
        rows = gw.journal.find_batches(vehicle_id, start_ms, end_ms, limit)
        rows = _filter_readable(gw, rows, reader)
        docs = [_batch_json(r, gw) for r in rows]
        if anchored_only:
            docs = [d for d in docs if d["anchor_height"]]
        return {"batches": docs}

    @app.get("/batches/{header_hash}")
    def get_batch(header_hash: str, request: Request) -> dict[str, Any]:
        """Return one batch's header fields and anchoring state."""
        reader = _authenticate(request)
        gw = _gateway(request)
        return _batch_json(_get_row(gw, header_hash, reader), gw)

    @app.get("/batches/{header_hash}/ciphertext")
    def get_ciphertext(header_hash: str, request: Request) -> Response:
        """Return the batch's ciphertext (useless without a released key)."""
        reader = _authenticate(request)
        gw = _gateway(request)
        h = decode_signed_header(_get_row(gw, header_hash, reader).header).header
        return Response(gw.blobs.get(h.ciphertext_hash), media_type=OCTETS)

    @app.get("/batches/{header_hash}/proof")
    def get_batch_proof(header_hash: str, request: Request) -> dict[str, Any]:
        """Return the signed header, its proof to the gateway root and the anchor transaction."""
        reader = _authenticate(request)
        gw = _gateway(request)
        row = _get_row(gw, header_hash, reader)
        anchor, proof = gw.anchorer.get_batch_proof(row)
        return {
            "batch_header": row.header.hex(),
            "batch_proof": proof.to_dict(),
            "anchor": {
                "oem": gw.oem,
                "seq": anchor.seq,
                "root": anchor.root.hex(),
                "height": anchor.height,
                "tx": anchor.tx.hex(),
            },
        }

    @app.get("/keys/{key_ref}")
    def get_key_envelope(key_ref: str, request: Request) -> Response:
        """Return a sealed epoch key envelope (opens only for owner or custodian).

        Served from the key namespace only: no ciphertext or manifest answers here;
        to an operator or the owner the envelope is sealed to.
        """
        reader = _authenticate(request)
        gw = _gateway(request)
        raw = gw.keys.get(parse_hex(key_ref, "key ref", 32))
        gw.access.validate_reader(reader, decode_envelope(raw).owner)
        return Response(raw, media_type=OCTETS)

    return app
