"""Learned layouts of ``ToBeSignedData`` for the CAM/DENM profile: the receive hot path.

Every CAM from a station has the same ``tbsData`` shape (unsecured payload of some length,
PSID, generation time), so once pycrate has decoded one, a layout derived from pycrate's
own encodings of that shape tells which bytes are structure and which are data: pycrate
encodes the shape twice, with all-zero and all-one payload and time, and the bytes that
differ are the data. A later ``tbsData`` whose structure bytes all equal the layout's is an
encoding of exactly that shape (C-OER is prefix-free and these fields take any value), so
its payload and time are read from their spans without running the decoder again. Nothing
is re-encoded: the received bytes stay what is hashed. A shape with any other header
field, or a non-canonical encoding, is never learned and always goes through pycrate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carchain.v2x import codec

MAX_LAYOUTS = 256  # distinct (size, PSID) shapes kept; CAM sizes vary by a few bytes
_TIME_SIZE = 8


@dataclass(frozen=True, slots=True)
class TbsLayout:
    """Where a learned shape's structure bytes, payload and generation time lie."""

    size: int
    psid: int
    fixed: tuple[tuple[int, bytes], ...]  # (offset, bytes) runs that must match exactly
    payload: tuple[int, int]
    time: tuple[int, int]

    def read(self, data: bytes, start: int) -> tuple[bytes, int] | None:
        """Return (payload, generationTime) if ``data[start:]`` begins with this shape."""
        for offset, run in self.fixed:
            at = start + offset
            if data[at : at + len(run)] != run:
                return None
        p0, p1 = self.payload
        t0, t1 = self.time
        return data[start + p0 : start + p1], int.from_bytes(data[start + t0 : start + t1], "big")


def _shape(payload: bytes, psid: int, time: int) -> dict[str, Any]:
    return {
        "payload": {"data": {"protocolVersion": 3, "content": ("unsecuredData", payload)}},
        "headerInfo": {"psid": psid, "generationTime": time},
    }


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Return the contiguous runs [start, end) of sorted ``positions``."""
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and runs[-1][1] == p:
            runs[-1] = (runs[-1][0], p + 1)
        else:
            runs.append((p, p + 1))
    return runs


def compute_layout(tbs: bytes, value: dict[str, Any]) -> TbsLayout | None:
    """Return the layout of a decoded ``tbsData`` of the plain CAM/DENM shape, else None."""
    header, data = value.get("headerInfo", {}), value.get("payload", {}).get("data")
    if set(value) != {"payload", "headerInfo"} or set(value["payload"]) != {"data"}:
        return None
    if set(header) != {"psid", "generationTime"} or data is None or data["protocolVersion"] != 3:
        return None
    kind, payload = data["content"]
    if kind != "unsecuredData" or not payload:
        return None
    psid, n = header["psid"], len(payload)
    low = codec.encode_to_be_signed_data(_shape(bytes(n), psid, 0))
    high = codec.encode_to_be_signed_data(_shape(b"\xff" * n, psid, 2**64 - 1))
    if not len(low) == len(high) == len(tbs):
        return None
    runs = _runs([i for i in range(len(low)) if low[i] != high[i]])
    if [e - s for s, e in runs] != [n, _TIME_SIZE]:
        return None
    fixed = _runs([i for i in range(len(low)) if low[i] == high[i]])
    layout = TbsLayout(len(tbs), psid, tuple((s, low[s:e]) for s, e in fixed), runs[0], runs[1])
    return layout if layout.read(tbs, 0) is not None else None  # non-canonical: not learned


class TbsLayouts:
    """The learned layouts by ``tbsData`` size, bounded."""

    def __init__(self) -> None:
        self._by_size: dict[int, list[TbsLayout]] = {}
        self._count = 0

    def find(
        self, data: bytes, start: int, size: int | None
    ) -> tuple[TbsLayout, bytes, int] | None:
        """Return a layout matching ``data[start:]`` (of ``size`` if known) and its reads."""
        groups = [self._by_size.get(size, [])] if size is not None else self._by_size.values()
        for layouts in groups:
            for layout in layouts:
                found = layout.read(data, start)
                if found is not None:
                    return layout, found[0], found[1]
        return None

    def learn(self, tbs: bytes, value: dict[str, Any]) -> None:
        """Derive and keep the layout of a pycrate-decoded ``tbsData``, if it has the shape."""
        if self._count >= MAX_LAYOUTS or self.find(tbs, 0, len(tbs)) is not None:
            return
        layout = compute_layout(tbs, value)
        if layout is not None:
            self._by_size.setdefault(layout.size, []).append(layout)
            self._count += 1


LAYOUTS = TbsLayouts()
