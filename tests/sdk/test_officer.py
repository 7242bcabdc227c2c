"""The officer SDK's own checks: only the case's officer key, only an authorised case,
and a gateway listing that names no usable batch is a typed proof error."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core.case_records import Case, CaseScope, CaseState
from carchain.errors import InvalidProof, InvalidState, Unauthorized
from carchain.sdk.officer import parse_header_hash, validate_officer
from tests.conftest import seeded_key

OFFICER = seeded_key("officer")
SCOPE = CaseScope(["saic:1"], ["location"], 0, 86_400_000)
CASE = Case(1, b"r" * 32, "rtsl_accident", "police", OFFICER.public_key, b"j" * 32, SCOPE, 1, 1,
            state=CaseState.AUTHORIZED, scope=SCOPE, court="court", expires_ms=10**13)  # fmt: skip


def test_the_officer_of_an_authorised_case_gets_its_authorised_scope() -> None:
    assert validate_officer(CASE, OFFICER) == SCOPE


def test_invalid_another_key_is_not_the_officer() -> None:
    with pytest.raises(Unauthorized):
        validate_officer(CASE, seeded_key("officer-of-another-authority"))


@pytest.mark.parametrize("state", [CaseState.OPEN, CaseState.REJECTED, CaseState.CLOSED])
def test_invalid_a_case_not_authorised_is_not_fetched(state: CaseState) -> None:
    with pytest.raises(InvalidState):
        validate_officer(msgspec.structs.replace(CASE, state=state), OFFICER)


@pytest.mark.parametrize(
    "doc", [{}, {"header_hash": "zz"}, {"header_hash": "ab" * 31}, {"header_hash": None}]
)
def test_invalid_a_listing_without_a_usable_header_hash_is_a_proof_error(doc: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidProof):
        parse_header_hash(doc)
    assert parse_header_hash({"header_hash": "ab" * 32}) == b"\xab" * 32
