"""Fuzzing the issue-9 transaction types through the core: whatever the body's values
(negative or huge ints, odd strings, bad lists), a block never raises anything but a
typed result, and a failed transaction changes no state but its signer's nonce."""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carchain.core.categories import CATEGORY_NAMES
from carchain.core.registry import TX_TYPES
from carchain.errors import CarchainError
from tests.core.memory import CoreChain, core_chain  # noqa: F401
from tests.core.sharing import (
    approved_request,
    genesis,  # noqa: F401
    release_body,
    setup_world,
)

SHARING_TYPES = sorted(
    n for n in TX_TYPES if n.startswith(("consent.", "access.", "erasure.", "legal_hold."))
)
SIGNERS = ["owner-a", "owner-new", "owner-prev", "saic", "geely", "bosch", "court", "pingan"]
INTS = st.one_of(
    st.sampled_from([0, 1, -1, 2**31, 2**63 - 1, 2**63, 2**64 - 1, -(2**63)]),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
)
STRS = st.one_of(
    st.sampled_from(["saic:1", "saic:3", "geely:1", "saic:99", "", "bosch", "insurer"]),
    st.sampled_from(sorted(CATEGORY_NAMES)),
    st.text(max_size=80),
)
BYTES = st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40))


def _strategy(info: mi.Type) -> st.SearchStrategy[Any]:
    if isinstance(info, mi.IntType):
        return INTS
    if isinstance(info, mi.StrType):
        return STRS
    if isinstance(info, mi.BytesType):
        return BYTES
    if isinstance(info, mi.BoolType):
        return st.booleans()
    if isinstance(info, mi.ListType):
        return st.lists(_strategy(info.item_type), max_size=4)
    if isinstance(info, mi.StructType):
        fields = [_strategy(f.type) for f in info.fields]
        return st.tuples(*fields).map(lambda vals: info.cls(*vals))
    raise AssertionError(f"no strategy for {info}")


def _body(name: str) -> st.SearchStrategy[msgspec.Struct]:
    info = mi.type_info(TX_TYPES[name].body)
    assert isinstance(info, mi.StructType)
    return _strategy(info)


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    setup_world(chain)
    approved_request(chain)
    chain.send("saic", release_body())
    return chain


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("name", SHARING_TYPES)
def test_any_body_is_a_typed_result(world: CoreChain, name: str) -> None:
    @FUZZ
    @given(body=_body(name), who=st.sampled_from(SIGNERS))
    def run(body: msgspec.Struct, who: str) -> None:
        raw = world.build(who, body)
        before = world.state.snapshot(skip=("accounts",))
        check = world.submit(raw)
        results = world.block() if check.ok else world.include(raw)
        assert len(results) == 1
        if results[0].code != 0:
            assert results[0].error_code, results[0].log
            assert world.state.snapshot(skip=("accounts",)) == before
        world._last.pop(world.key(who).public_key, None)

    run()


class _RecordingView:
    """A read-only view that records which stores were read."""

    def __init__(self, chain: CoreChain) -> None:
        self.chain, self.stores = chain, set[str]()

    def get(self, store: str, key: bytes) -> bytes | None:
        self.stores.add(store)
        return self.chain.state.get(store, key)


@pytest.mark.parametrize("name", SHARING_TYPES)
def test_admission_reads_only_the_stores_its_row_declares(world: CoreChain, name: str) -> None:
    """The mempool keeps a check state across a block only if the block wrote no store
    any admission reads: a row that reads an undeclared store could keep a stale verdict."""
    tx_type = TX_TYPES[name]

    @FUZZ
    @given(body=_body(name), who=st.sampled_from(SIGNERS))
    def run(body: msgspec.Struct, who: str) -> None:
        view = _RecordingView(world)
        with contextlib.suppress(CarchainError):
            tx_type.admit(view, world.key(who).public_key, body)  # type: ignore[arg-type]
        assert view.stores <= tx_type.admission_reads, (name, view.stores)

    run()
