"""The ABCI socket server in-process: framing, ordering, every method, bad input."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from carchain.core import governance as gov
from carchain.core.genesis import encode_genesis
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.merkle import MerkleProof
from carchain.crypto.signing import SigningKey
from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.abci.server import AbciServer
from carchain.engine.abci.wire import FrameReader, decode_uvarint, encode_frame
from carchain.engine.application import Application
from carchain.errors import AbciProtocolError, InvalidProof, MalformedTransaction
from carchain.sdk.proofs import verify_state_proof
from carchain.sdk.transactions import build_tx
from carchain.sdk.vin import compute_vin_commitment
from carchain.storage.database import Database
from tests.conftest import (
    CHAIN_ID,
    FOUNDERS,
    VIN_SALT,
    make_genesis,
    make_vin,
    seeded_key,
    validator_key,
)
from tests.network.conftest import require_network_setup

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def abci() -> Any:
    """The generated ``tendermint.abci.types_pb2`` module."""
    require_network_setup()
    from carchain.engine.abci import protos

    return protos.get_abci()


# --- framing ---------------------------------------------------------------------------


def test_frame_length_is_unsigned_varint_not_zigzag() -> None:
    msg = b"x" * 300
    framed = encode_frame(msg)
    assert framed[:2] == b"\xac\x02"  # 300 as uvarint; zigzag would be 600 (\xd8\x04)
    assert decode_uvarint(framed) == (300, 2)
    assert encode_frame(b"") == b"\x00"


def _read_all(data: bytes, chunk: int = 3) -> list[bytes]:
    async def run() -> list[bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        frames = FrameReader(reader, chunk_size=chunk)
        out = []
        while (f := await frames.read_frame()) is not None:
            out.append(f)
        return out

    return asyncio.run(run())


def test_frame_reader_splits_a_stream_in_small_chunks() -> None:
    msgs = [b"", b"a", b"b" * 200, os.urandom(5000)]
    assert _read_all(b"".join(encode_frame(m) for m in msgs)) == msgs


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff" * 11, "longer than 10"),
        (b"\xff\xff\xff\xff\x7f", "too large"),
        (encode_frame(b"abcdef")[:-2], "inside a message"),
        (b"\x85", "inside a message"),
    ],
)
def test_invalid_frames_raise_a_typed_error(data: bytes, why: str) -> None:
    with pytest.raises(AbciProtocolError, match=why) as info:
        _read_all(data, chunk=64)
    assert info.value.code == "abci_protocol"


def test_invalid_truncated_uvarint_raises() -> None:
    with pytest.raises(AbciProtocolError):
        decode_uvarint(b"\x80\x80")


# --- the server ------------------------------------------------------------------------


class Conn:
    """One client connection speaking the socket protocol."""

    def __init__(self, abci: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.abci = abci
        self.frames = FrameReader(reader)
        self.writer = writer

    def send(self, **kw: Any) -> None:
        self.writer.write(encode_frame(self.abci.Request(**kw).SerializeToString()))

    async def recv(self) -> Any:
        raw = await asyncio.wait_for(self.frames.read_frame(), 10)
        assert raw is not None, "server closed the connection"
        return self.abci.Response.FromString(raw)

    async def call(self, **kw: Any) -> Any:
        """Send one request and a flush; return the response (then the flush)."""
        self.send(**kw)
        self.send(flush=self.abci.RequestFlush())
        await self.writer.drain()
        resp = await self.recv()
        assert (await self.recv()).WhichOneof("value") == "flush"
        return resp


@asynccontextmanager
async def serving(
    tmp: Path, abci: Any
) -> AsyncIterator[tuple[AbciServer, Callable[[], Awaitable[Conn]]]]:
    db = Database(tmp / "state.db")
    server = AbciServer(AbciAdapter(Application(db)), "tcp://127.0.0.1:0")
    await server.start()
    writers: list[asyncio.StreamWriter] = []

    async def connect() -> Conn:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        writers.append(w)
        return Conn(abci, r, w)

    try:
        yield server, connect
    finally:
        for w in writers:
            w.close()
        server.close()
        db.close()


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))  # type: ignore[arg-type]


def init_request(abci: Any, chain_id: str = CHAIN_ID) -> Any:
    return abci.RequestInitChain(
        chain_id=chain_id, initial_height=1, app_state_bytes=encode_genesis(make_genesis())
    )


def register_tx(nonce: int, vid: str, signer: str = "saic") -> bytes:
    body = RegisterVehicle(
        vid,
        compute_vin_commitment(make_vin(vid), VIN_SALT),
        seeded_key("veh/" + vid).public_key,
        "RX5",
        2024,
        seeded_key("owner/" + vid).public_key,
    )
    return build_tx(CHAIN_ID, seeded_key(signer), nonce, body)


def finalize(abci: Any, height: int, txs: list[bytes]) -> Any:
    ts = abci.RequestFinalizeBlock().time.__class__(seconds=1_700_000_000 + height)
    return abci.RequestFinalizeBlock(
        txs=txs, height=height, time=ts, hash=os.urandom(32), proposer_address=b"\x01" * 20
    )


def test_handshake_genesis_and_a_block(tmp_path: Path, abci: Any) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as (_, connect):
            consensus, mempool, query = await connect(), await connect(), await connect()
            info = (await query.call(info=abci.RequestInfo())).info
            assert (info.last_block_height, info.last_block_app_hash) == (0, b"")

            init = (await consensus.call(init_chain=init_request(abci))).init_chain
            genesis_vals = {validator_key(m): p for m, _, _, p in FOUNDERS if p}
            assert {bytes(v.pub_key.ed25519): v.power for v in init.validators} == genesis_vals
            assert len(init.app_hash) == 32

            good, bad = register_tx(1, "saic:v-1"), b"not a transaction"
            ok = (await mempool.call(check_tx=abci.RequestCheckTx(tx=good))).check_tx
            assert (ok.code, ok.codespace) == (0, "")
            refused = (await mempool.call(check_tx=abci.RequestCheckTx(tx=bad))).check_tx
            assert refused.code == MalformedTransaction.abci_code
            assert refused.codespace == "malformed_tx"

            prep = (
                await consensus.call(
                    prepare_proposal=abci.RequestPrepareProposal(
                        txs=[good, bad], max_tx_bytes=1 << 20, height=1
                    )
                )
            ).prepare_proposal
            assert list(prep.txs) == [good]  # the invalid one is left out
            pp = abci.ResponseProcessProposal
            rejected = await consensus.call(
                process_proposal=abci.RequestProcessProposal(txs=[good, bad], height=1)
            )
            assert rejected.process_proposal.status == pp.REJECT
            accepted = await consensus.call(
                process_proposal=abci.RequestProcessProposal(txs=[good], height=1)
            )
            assert accepted.process_proposal.status == pp.ACCEPT

            fin = (await consensus.call(finalize_block=finalize(abci, 1, [good]))).finalize_block
            assert [r.code for r in fin.tx_results] == [0]
            assert {e.type for e in fin.tx_results[0].events} >= {"tx", "vehicle_registered"}
            assert len(fin.app_hash) == 32 and fin.app_hash != init.app_hash
            assert (await consensus.call(commit=abci.RequestCommit())).commit.retain_height == 0

            info = (await query.call(info=abci.RequestInfo())).info
            assert (info.last_block_height, info.last_block_app_hash) == (1, fin.app_hash)

            # Recheck after the block: the committed transaction is now a replay.
            again = await mempool.call(check_tx=abci.RequestCheckTx(tx=good, type=abci.RECHECK))
            assert again.check_tx.codespace == "invalid_nonce"

            q = (
                await query.call(
                    query=abci.RequestQuery(
                        path="/store/vehicles/key", data=b"v/saic:v-1", prove=True
                    )
                )
            ).query
            assert q.code == 0 and q.height == 1
            ops = [
                {
                    "type": op.type,
                    "key": op.key.hex(),
                    "proof": _value_op_proof(abci, op.data),
                }
                for op in q.proof_ops.ops
            ]
            verify_state_proof(fin.app_hash, "vehicles", b"v/saic:v-1", q.value, ops)
            with pytest.raises(InvalidProof):
                verify_state_proof(fin.app_hash, "vehicles", b"v/saic:v-1", q.value + b"x", ops)

            missing = (
                await query.call(query=abci.RequestQuery(path="/store/vehicles", data=b"v/none"))
            ).query
            assert (missing.code, missing.codespace) == (20, "not_found")
            bad_path = (await query.call(query=abci.RequestQuery(path="/", data=b"x"))).query
            assert bad_path.codespace == "not_found"

    run(body())


def _value_op_proof(abci: Any, data: bytes) -> dict[str, object]:
    from carchain.engine.abci import protos

    op = protos.get_crypto_proof().ValueOp.FromString(data)
    p = op.proof
    return MerkleProof(p.total, p.index, p.leaf_hash, tuple(p.aunts)).to_dict()


def test_responses_come_in_request_order_before_flush(tmp_path: Path, abci: Any) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as (_, connect):
            c = await connect()
            for i in range(50):
                c.send(echo=abci.RequestEcho(message=f"m{i}"))
            c.send(flush=abci.RequestFlush())
            await c.writer.drain()
            got = [(await c.recv()).echo.message for _ in range(50)]
            assert got == [f"m{i}" for i in range(50)]
            assert (await c.recv()).WhichOneof("value") == "flush"

    run(body())


def test_governance_validator_change_reaches_finalize_block(tmp_path: Path, abci: Any) -> None:
    new_key = SigningKey.generate().public_key

    async def body() -> None:
        async with serving(tmp_path, abci) as (_, connect):
            c = await connect()
            await c.call(init_chain=init_request(abci))
            action = gov.SetValidator("bosch", new_key, 7)
            txs = [build_tx(CHAIN_ID, seeded_key("saic"), 1, gov.Propose(action))]
            txs += [
                build_tx(CHAIN_ID, seeded_key(m), 1, gov.Vote(1, True))
                for m in ("geely", "bosch", "miit")
            ]
            fin = (await c.call(finalize_block=finalize(abci, 1, txs))).finalize_block
            assert [r.code for r in fin.tx_results] == [0, 0, 0, 0]
            updates = [(bytes(v.pub_key.ed25519), v.power) for v in fin.validator_updates]
            assert updates == [(new_key, 7)]
            await c.call(commit=abci.RequestCommit())

    run(body())


@pytest.mark.parametrize(
    "garbage",
    [b"\xff" * 11, encode_frame(b"\xff\xff\xff"), b"\xff\xff\xff\xff\x7f"],
    ids=["overlong-prefix", "undecodable-protobuf", "oversized-frame"],
)
def test_invalid_frame_gets_exception_and_close_server_survives(
    tmp_path: Path, abci: Any, garbage: bytes
) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as (_, connect):
            c = await connect()
            c.writer.write(garbage)
            await c.writer.drain()
            resp = await c.recv()
            assert resp.WhichOneof("value") == "exception"
            assert "abci_protocol" in resp.exception.error
            assert await asyncio.wait_for(c.frames.read_frame(), 10) is None  # closed
            fresh = await connect()
            assert (await fresh.call(echo=abci.RequestEcho(message="hi"))).echo.message == "hi"

    run(body())


def test_invalid_genesis_stops_the_server(tmp_path: Path, abci: Any) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as (server, connect):
            c = await connect()
            c.send(init_chain=init_request(abci, chain_id="another-chain"))
            c.send(flush=abci.RequestFlush())
            await c.writer.drain()
            assert (await c.recv()).WhichOneof("value") == "exception"
            with pytest.raises(Exception, match="chain id"):
                await asyncio.wait_for(server.wait_closed(), 10)

    run(body())


class FakeRpc:
    """Answers ``status`` like CometBFT would, with a chosen header app hash."""

    def __init__(self, height: int, app_hash: bytes) -> None:
        self.doc = {
            "sync_info": {"latest_block_height": str(height), "latest_app_hash": app_hash.hex()}
        }

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        assert method == "status"
        return self.doc


def test_app_compares_its_state_with_cometbft_header(tmp_path: Path, abci: Any) -> None:
    from carchain.errors import StorageCorrupted
    from carchain.network.backend import CometBackend

    db = Database(tmp_path / "state.db")
    adapter = AbciAdapter(Application(db))
    adapter.handle("init_chain", abci.Request(init_chain=init_request(abci)))
    genesis_hash = adapter.app.state.app_hash
    adapter.handle(
        "finalize_block",
        abci.Request(finalize_block=finalize(abci, 1, [register_tx(1, "saic:v-1")])),
    )
    adapter.handle("commit", abci.Request(commit=abci.RequestCommit()))

    def check(height: int, app_hash: bytes) -> None:
        backend = CometBackend(adapter, FakeRpc(height, app_hash))  # type: ignore[arg-type]
        asyncio.run(backend.validate_consensus_agreement(1))

    check(1, genesis_hash)  # header 1 carries the state before block 1
    check(2, adapter.app.state.app_hash)  # block 2 not executed here yet
    with pytest.raises(StorageCorrupted):
        check(1, os.urandom(32))
    with pytest.raises(StorageCorrupted):
        check(2, genesis_hash)
    db.close()


def test_invalid_query_or_check_bug_answers_internal_code_and_node_keeps_serving(
    tmp_path: Path, abci: Any
) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as (server, connect):
            consensus, query, mempool = await connect(), await connect(), await connect()
            await consensus.call(init_chain=init_request(abci))

            def broken(*_: object) -> None:
                raise RuntimeError("bug")

            server.adapter.app.query = broken  # type: ignore[method-assign]
            resp = await query.call(query=abci.RequestQuery(path="/store/vehicles", data=b"k"))
            # Never a ResponseException: CometBFT's client would stop the node.
            assert resp.WhichOneof("value") == "query"
            assert (resp.query.code, resp.query.codespace) == (1, "internal")
            server.adapter.app.check_tx = broken  # type: ignore[method-assign]
            resp = await mempool.call(check_tx=abci.RequestCheckTx(tx=b"anything"))
            assert resp.WhichOneof("value") == "check_tx"
            assert (resp.check_tx.code, resp.check_tx.codespace) == (1, "internal")
            for c in (consensus, query, mempool):
                assert (await c.call(echo=abci.RequestEcho(message="ok"))).echo.message == "ok"

    run(body())


def test_process_proposal_rejects_txs_of_signers_not_admitted(tmp_path: Path, abci: Any) -> None:
    """A Byzantine proposer's block of validly signed transactions from non-member
    keys (or out of nonce order) is refused; PrepareProposal never proposes one."""
    stranger = build_tx(CHAIN_ID, seeded_key("stranger"), 1, gov.Propose(gov.SuspendMember("saic")))
    pp = abci.ResponseProcessProposal

    async def body() -> None:
        async with serving(tmp_path, abci) as (_, connect):
            c, query = await connect(), await connect()
            await c.call(init_chain=init_request(abci))

            async def verdict(txs: list[bytes]) -> Any:
                req = abci.RequestProcessProposal(txs=txs, height=1)
                return (await c.call(process_proposal=req)).process_proposal.status

            good = [register_tx(1, "v-1"), register_tx(2, "v-2")]
            assert await verdict(good) == pp.ACCEPT
            assert await verdict([good[0], stranger]) == pp.REJECT
            assert await verdict([register_tx(1, "v-1", signer="bosch")]) == pp.REJECT
            assert await verdict([good[1], good[0]]) == pp.REJECT
            assert await verdict([good[0], register_tx(3, "v-3")]) == pp.REJECT
            prep = await c.call(
                prepare_proposal=abci.RequestPrepareProposal(
                    txs=[good[0], stranger, good[1]], max_tx_bytes=1 << 20, height=1
                )
            )
            assert list(prep.prepare_proposal.txs) == good
            # Decided anyway: the stranger's transaction fails and writes nothing.
            fin = (await c.call(finalize_block=finalize(abci, 1, [stranger]))).finalize_block
            assert [r.codespace for r in fin.tx_results] == ["unauthorized"]
            await c.call(commit=abci.RequestCommit())
            q = await query.call(
                query=abci.RequestQuery(
                    path="/store/accounts", data=seeded_key("stranger").public_key
                )
            )
            assert q.query.codespace == "not_found"

    run(body())


def test_two_decisions_on_one_key_in_a_block_give_one_validator_update(
    tmp_path: Path, abci: Any
) -> None:
    new_key = SigningKey.generate().public_key

    async def body() -> None:
        async with serving(tmp_path, abci) as (_, connect):
            c = await connect()
            await c.call(init_chain=init_request(abci))
            txs: list[bytes] = []
            for n, (pid, power) in enumerate([(1, 7), (2, 9)], start=1):
                action = gov.SetValidator("bosch", new_key, power)
                txs.append(build_tx(CHAIN_ID, seeded_key("saic"), n, gov.Propose(action)))
                txs += [
                    build_tx(CHAIN_ID, seeded_key(m), n, gov.Vote(pid, True))
                    for m in ("geely", "bosch", "miit")
                ]
            fin = (await c.call(finalize_block=finalize(abci, 1, txs))).finalize_block
            assert [r.code for r in fin.tx_results] == [0] * 8
            updates = [(bytes(v.pub_key.ed25519), v.power) for v in fin.validator_updates]
            assert updates == [(new_key, 9)]
            await c.call(commit=abci.RequestCommit())

    run(body())


def _query(adapter: AbciAdapter, abci: Any, key: bytes, height: int, prove: bool = True) -> Any:
    req = abci.RequestQuery(path="/store/accounts/key", data=key, height=height, prove=prove)
    return adapter.handle("query", abci.Request(query=req)).query


def test_query_answers_any_height_of_the_window(tmp_path: Path, abci: Any) -> None:
    db = Database(tmp_path / "state.db")
    adapter = AbciAdapter(Application(db, state_versions=4))
    adapter.handle("init_chain", abci.Request(init_chain=init_request(abci)))
    saic = seeded_key("saic").public_key
    app_hashes = {}
    for height in range(1, 7):
        block = finalize(abci, height, [register_tx(height, f"v-{height}")])
        adapter.handle("finalize_block", abci.Request(finalize_block=block))
        adapter.handle("commit", abci.Request(commit=abci.RequestCommit()))
        app_hashes[height] = adapter.app.state.app_hash
    # Any height of the window (3..6), as asked: the saic nonce as it was then.
    for height in (3, 4, 6):
        q = _query(adapter, abci, saic, height)
        assert (q.code, q.height, int.from_bytes(q.value, "big")) == (0, height, height)
        ops = [
            {"type": op.type, "key": op.key.hex(), "proof": _value_op_proof(abci, op.data)}
            for op in q.proof_ops.ops
        ]
        verify_state_proof(app_hashes[height], "accounts", saic, q.value, ops)
        other = app_hashes[5 if height == 6 else 6]  # the nonce differs there
        with pytest.raises(InvalidProof):
            verify_state_proof(other, "accounts", saic, q.value, ops)
    # Height 0 with a proof: the newest state whose app hash is in a header
    # already (header H+1 for state H): 5 while block 7 is undecided ...
    assert _query(adapter, abci, saic, 0).height == 5
    # ... 6 once block 7 is decided (CometBFT stores it before FinalizeBlock);
    block = finalize(abci, 7, [register_tx(7, "v-7")])
    adapter.handle("finalize_block", abci.Request(finalize_block=block))
    assert _query(adapter, abci, saic, 0).height == 6
    # without a proof, 0 is the latest committed state.
    assert _query(adapter, abci, saic, 0, prove=False).height == 6
    adapter.handle("commit", abci.Request(commit=abci.RequestCommit()))
    # Outside the window (4..7), or not committed yet: a typed error, not a crash.
    for height in (3, 1, 8, 2**40, -1):
        q = _query(adapter, abci, saic, height)
        assert (q.code, q.codespace) == (79, "height_unavailable"), height
        assert not q.value and not q.proof_ops.ops
    db.close()


def test_query_with_a_window_of_one_height_proves_the_latest(tmp_path: Path, abci: Any) -> None:
    db = Database(tmp_path / "state.db")
    adapter = AbciAdapter(Application(db, state_versions=1))
    adapter.handle("init_chain", abci.Request(init_chain=init_request(abci)))
    for height in range(1, 4):
        block = finalize(abci, height, [register_tx(height, f"v-{height}")])
        adapter.handle("finalize_block", abci.Request(finalize_block=block))
        adapter.handle("commit", abci.Request(commit=abci.RequestCommit()))
    saic = seeded_key("saic").public_key
    q = _query(adapter, abci, saic, 0)
    assert (q.code, q.height, int.from_bytes(q.value, "big")) == (0, 3, 3)
    assert _query(adapter, abci, saic, 2).codespace == "height_unavailable"
    db.close()
