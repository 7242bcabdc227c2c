"""Hypothesis fuzz of the V2X SCMS bodies: any field values give a typed result, never a
crash, and a failed transaction changes nothing but its signer's nonce."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carchain.core import governance as gov
from carchain.core import misbehaviour as mb
from carchain.core import v2x_ca
from carchain.core import v2x_revocation as rvk
from carchain.errors import get_error_class
from tests.core.v2x_world import open_world

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WORLD = open_world()
INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what MessagePack carries
BYTES = st.binary(max_size=80)
TEXT = st.text(max_size=20)

BODIES = st.one_of(
    st.tuples(
        st.just("saic"),
        st.builds(mb.SubmitReport, BYTES, TEXT, INTS, BYTES, BYTES, BYTES, BYTES),
    ),
    st.tuples(
        st.just("mama"),
        st.builds(mb.Review, INTS, st.sampled_from(["dismiss", "revoke", "x"]), BYTES, BYTES, INTS),
    ),
    st.tuples(st.just("mama"), st.builds(rvk.Revoke, BYTES, BYTES, INTS, INTS)),
    st.tuples(st.sampled_from(["caam", "cstc"]), st.builds(rvk.ReleaseSeed, INTS, BYTES)),
    st.tuples(
        st.just("saic"),
        st.builds(
            gov.Propose,
            st.one_of(
                st.builds(v2x_ca.RegisterPseudonymCa, TEXT, BYTES, BYTES, BYTES, INTS, INTS),
                st.builds(v2x_ca.RevokePseudonymCa, BYTES, TEXT),
                st.builds(rvk.SetLinkageAuthorities, TEXT, INTS, TEXT, INTS),
            ),
        ),
    ),
)  # fmt: skip


@FUZZ
@given(BODIES)
def test_fuzzed_v2x_bodies_fail_typed_and_change_nothing(item: tuple[str, object]) -> None:
    signer, body = item
    chain = WORLD.chain
    before = chain.state.snapshot(skip=("accounts",))
    results = chain.include(chain.build(signer, body))  # type: ignore[arg-type]
    assert len(results) == 1
    if results[0].code != 0:
        assert get_error_class(results[0].error_code) is not None
        assert results[0].error_code != "internal"
        assert chain.state.snapshot(skip=("accounts",)) == before
