"""The legal bases a case may name: a closed code table, each with its provision.

A case names one code; the chain refuses any other. The text is what the
transparency report and the owner's notice print; the roles are who may open
a case on that basis. Codes are stable identifiers: a new basis is a new row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from carchain.errors import InvalidBody


class LegalBasis(StrEnum):
    """The code of a legal basis for lawful access."""

    ACCIDENT_INVESTIGATION = "rtsl_accident"
    CRIMINAL_INVESTIGATION = "cpl_evidence"
    SEARCH_AND_SEIZURE = "cpl_seizure"
    DATA_SECURITY_DUTY = "dsl_public_security"


@dataclass(frozen=True, slots=True)
class Provision:
    """What a legal basis code stands for."""

    code: LegalBasis
    law: str
    provision: str
    summary: str


PROVISIONS: dict[LegalBasis, Provision] = {
    p.code: p
    for p in (
        Provision(
            LegalBasis.ACCIDENT_INVESTIGATION,
            "Road Traffic Safety Law of the PRC",
            "arts. 72-73",
            "traffic police investigate a road traffic accident and determine liability",
        ),
        Provision(
            LegalBasis.CRIMINAL_INVESTIGATION,
            "Criminal Procedure Law of the PRC (2018)",
            "art. 54",
            "courts, procuratorates and public security organs collect evidence "
            "from units and individuals",
        ),
        Provision(
            LegalBasis.SEARCH_AND_SEIZURE,
            "Criminal Procedure Law of the PRC (2018)",
            "arts. 136-145",
            "search, and seizure of documentary and electronic evidence",
        ),
        Provision(
            LegalBasis.DATA_SECURITY_DUTY,
            "Data Security Law of the PRC",
            "art. 35",
            "public security or state security organs obtain data under strict approval procedures",
        ),
    )
}

LEGAL_BASIS_CODES = frozenset(b.value for b in LegalBasis)


def validate_legal_basis(code: str) -> LegalBasis:
    """Return the legal basis of ``code`` or raise ``InvalidBody`` if the table has none."""
    if code not in LEGAL_BASIS_CODES:
        raise InvalidBody("unknown legal basis code", legal_basis=code[:40])
    return LegalBasis(code)
