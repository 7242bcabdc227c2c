"""The mempool recheck shortcut asks the registry which stores admission reads.

A block that writes none of them leaves the check state exact (no recheck); a
type whose admission reads another store makes a write to that store count.
"""

from __future__ import annotations

from dataclasses import replace

import msgspec
import pytest

from carchain.core import governance, registry
from carchain.core.anchors import SubmitAnchor
from carchain.core.consents import GrantConsent
from carchain.core.registry import TX_TYPES, TxType, compute_admission_stores
from carchain.core.state import KVView
from carchain.core.types import BlockContext
from carchain.engine.solo import SoloConfig
from tests.conftest import CHAIN_ID, Chain
from tests.core.test_transactions import sign_envelope
from tests.core.test_vehicles import OWNER, register_body


def _admit_reading_governance(view: KVView, signer: bytes, body: object) -> None:
    """A fake admission rule that reads the ``governance`` store."""
    view.get(governance.STORE, signer)


def _add_fake_type(monkeypatch: pytest.MonkeyPatch) -> None:
    base = TX_TYPES["anchor.submit"]
    fake = replace(
        base,
        name="test.gated",
        admit=_admit_reading_governance,
        admission_reads=frozenset({governance.STORE}),
    )
    monkeypatch.setitem(registry.TX_TYPES, fake.name, fake)


def _finalize_block(chain: Chain, raw: bytes) -> None:
    ctx = BlockContext(CHAIN_ID, chain.app.state.height + 1, chain.now_ms + 1000, b"\x01" * 20)
    [result] = chain.app.finalize_block(ctx, [raw]).tx_results
    assert result.code == 0


def test_every_registry_row_declares_the_stores_its_admission_reads() -> None:
    assert all(isinstance(t, TxType) and t.admission_reads for t in TX_TYPES.values())
    # Owner-signed types (consent.*) and access.release read the vehicle registry;
    # case.receipt reads the case (its officer key).
    assert compute_admission_stores(TX_TYPES.values()) == {"members", "vehicles", "lawful_access"}


def _propose(chain: Chain) -> bytes:
    # A proposal writes ``governance`` (and nonces) only.
    return chain.build("miit", governance.Propose(governance.SuspendMember("police")))


def test_block_writing_no_admission_store_does_not_change_admission(chain: Chain) -> None:
    _finalize_block(chain, _propose(chain))
    assert chain.app.is_admission_changed_by_pending() is False
    chain.app.commit()


def _gated(chain: Chain) -> bytes:
    """A pending ``test.gated`` transaction (its admission reads ``governance``)."""
    body = msgspec.msgpack.encode(SubmitAnchor(1, b"r" * 32, 1, 1, 0, 0, b"r" * 32))
    key = chain.key("saic")
    return sign_envelope(key, nonce=chain.nonce(key) + 1, tx_type="test.gated", body=body)


def test_vehicle_write_changes_admission_of_pending_owner_signed_types(chain: Chain) -> None:
    chain.send("saic", register_body("saic:1"))
    grant = chain.build(
        OWNER, GrantConsent("saic:1", ["diagnostics"], "research", "bosch", "", 0, 1, 2**62)
    )
    assert chain.app.check_tx(grant).ok  # an owner-signed type is now in the check state
    _finalize_block(chain, chain.build("saic", register_body("saic:2")))
    assert chain.app.is_admission_changed_by_pending() is True
    chain.app.commit()


def test_vehicle_write_keeps_verdicts_when_no_owner_signed_type_is_pending(chain: Chain) -> None:
    """Registrations write ``vehicles``, which only owner admission reads: with only
    registrations pending, their verdicts stand (no recheck of the whole mempool)."""
    assert chain.app.check_tx(chain.build("saic", register_body("saic:1"))).ok
    _finalize_block(chain, chain.build("geely", register_body("geely:1")))
    assert chain.app.is_admission_changed_by_pending() is False
    chain.app.commit()


def test_fake_type_reading_governance_makes_a_governance_write_change_admission(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_fake_type(monkeypatch)
    assert compute_admission_stores(TX_TYPES.values()) == {
        "members",
        "vehicles",
        "lawful_access",
        "governance",
    }
    _finalize_block(chain, _propose(chain))
    assert chain.app.is_admission_changed_by_pending() is False  # nothing gated is pending
    chain.app.commit()
    assert chain.app.check_tx(_gated(chain)).ok
    _finalize_block(chain, _propose(chain))
    assert chain.app.is_admission_changed_by_pending() is True
    chain.app.commit()


def test_solo_engine_rechecks_when_a_block_writes_a_store_admission_reads(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_fake_type(monkeypatch)
    chain.engine.config = SoloConfig(max_block_txs=1)
    raws = [_propose(chain) for _ in range(2)]
    assert all(chain.submit(r).ok for r in raws)
    assert chain.submit(_gated(chain)).ok
    calls: list[bool] = []
    check_tx = chain.app.check_tx

    def spy(raw: bytes, recheck: bool = False) -> object:
        calls.append(recheck)
        return check_tx(raw, recheck)

    chain.app.check_tx = spy  # type: ignore[method-assign,assignment]
    chain.block()
    assert calls == [True, True]  # the block wrote ``governance``: the rest is rechecked
