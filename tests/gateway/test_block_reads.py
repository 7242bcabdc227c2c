"""The gateway's case-check reads kept for one block height: read once at a height,
dropped at the next, so a case closed in a block is refused from that block on."""

from __future__ import annotations

from carchain.gateway.case_access import BlockReads


class CountingView:
    """A state view from a dict, counting its reads."""

    def __init__(self, values: dict[tuple[str, bytes], bytes]) -> None:
        self.values = values
        self.reads = 0

    def get(self, store: str, key: bytes) -> bytes | None:
        self.reads += 1
        return self.values.get((store, key))

    def set(self, store: str, key: bytes, value: bytes) -> None:
        raise AssertionError("read only")

    def delete(self, store: str, key: bytes) -> None:
        raise AssertionError("read only")


def test_reads_are_kept_for_their_height_only() -> None:
    view = CountingView({("cases", b"1"): b"authorized"})
    reads = BlockReads()
    at5 = reads.view_at(view, 5)
    assert at5.get("cases", b"1") == b"authorized" and at5.get("cases", b"1") == b"authorized"
    assert reads.view_at(view, 5).get("cases", b"2") is None  # an absent key is kept too
    assert reads.view_at(view, 5).get("cases", b"2") is None
    assert view.reads == 2
    view.values[("cases", b"1")] = b"closed"  # block 6 closes the case
    assert reads.view_at(view, 6).get("cases", b"1") == b"closed"
    assert view.reads == 3


def test_a_late_request_of_an_older_height_reads_through_and_keeps_nothing() -> None:
    view = CountingView({("cases", b"1"): b"closed"})
    reads = BlockReads()
    reads.view_at(view, 6).get("cases", b"1")
    view.values[("cases", b"9")] = b"x"
    assert reads.view_at(view, 5).get("cases", b"9") == b"x"
    assert reads.view_at(view, 5).get("cases", b"9") == b"x"
    assert view.reads == 3  # height 5 is behind: read through each time
    assert reads.view_at(view, 6).get("cases", b"1") == b"closed" and view.reads == 3
