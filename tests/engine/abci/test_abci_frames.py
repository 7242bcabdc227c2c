"""A connection beyond CometBFT's four is refused on its first byte, before it can
make the server buffer a frame of up to ``MAX_FRAME_BYTES``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from carchain.engine.abci.wire import MAX_FRAME_BYTES, encode_uvarint
from tests.engine.abci.test_abci_server import run
from tests.engine.abci.test_abci_transport import abci, connect_comet, serving  # noqa: F401

pytestmark = pytest.mark.network


def test_invalid_fifth_connection_refused_before_its_huge_frame(tmp_path: Path, abci: Any) -> None:  # noqa: F811
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            comet = await connect_comet(rig)  # kept open: CometBFT holds the four
            intruder = await rig.connect()
            # The prefix announces a frame just under the bound; only 64 KiB follow.
            intruder.writer.write(encode_uvarint(MAX_FRAME_BYTES - 1) + bytes(1 << 16))
            await intruder.writer.drain()
            raw = await asyncio.wait_for(intruder.frames.read_frame(), 10)
            assert raw is not None, "closed without an answer"
            resp = abci.Response.FromString(raw)
            assert resp.WhichOneof("value") == "exception"
            assert "abci_connection_refused" in resp.exception.error
            await rig.wait_connections(4)
            assert (await comet.query.call(info=abci.RequestInfo())).info.last_block_height == 1

    run(body())
