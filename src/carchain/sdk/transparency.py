"""Reading the public transparency counters, every number checked against the app hash.

``fetch_report`` pages ``GET /transparency`` (or ``/transparency/annual``) at one state
height and checks each counter: the index entry ``ti/<scope>/<n>`` proves the name,
``t/<scope>/<name>`` the value, ``tin/<scope>`` how many there are, so a reader knows
it has every number of the scope (none left out, none added). A scope never counted
has no ``tin`` to prove: the report then says ``size_proven=False`` (the node's word
that there is nothing; a lying node could hide a whole scope that way).
``compute_annual_report``
turns an OEM's year into the figures the annual report of the 2021 Several Provisions
on Automotive Data Security Management (art. 13, due by 15 December) asks for about
data provided to public authorities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carchain.core import transparency as tr
from carchain.core.case_records import STORE
from carchain.core.legal_basis import PROVISIONS, LegalBasis
from carchain.errors import InvalidProof
from carchain.sdk.access_log import parse_hex_field, parse_int_field
from carchain.sdk.client import Client
from carchain.sdk.proofs import verify_state_proof

MAX_PAGES = 1000
ANNUAL_DUE = "12-15"


@dataclass(frozen=True, slots=True)
class VerifiedReport:
    """A scope's counters, each proven under ``app_hash`` at ``height``."""

    scope: str
    counters: dict[str, int]
    size: int
    height: int
    app_hash: bytes
    # False when the node said the scope was never counted: absence has no proof, so
    # "no counter" is the node's word only (a lying node could hide a whole scope).
    size_proven: bool = True

    def get(self, name: str) -> int:
        """Return a counter (0 when never counted)."""
        return self.counters.get(name, 0)

    def compute_group(self, prefix: str) -> dict[str, int]:
        """Return the counters under ``prefix/`` keyed by the rest of their name."""
        head = prefix + "/"
        return {k[len(head) :]: v for k, v in sorted(self.counters.items()) if k.startswith(head)}


def verify_lawful_value(app_hash: bytes, proven: Any, key: bytes) -> bytes:
    """Return the value of ``lawful_access/key`` once its proof checks under ``app_hash``."""
    if parse_hex_field(proven, "key") != key:
        raise InvalidProof("value is proven at another key than expected", value=key.hex())
    value = parse_hex_field(proven, "value")
    proof = proven.get("proof")
    if not isinstance(proof, list):
        raise InvalidProof("value proof is not a list")
    verify_state_proof(app_hash, STORE, key, value, proof)
    return value


def verify_counter_size(app_hash: bytes, doc: dict[str, Any], key: bytes) -> int:
    """Return the proven size of an index (0 only when the node says none was written)."""
    stated = parse_int_field(doc, "size")
    proven = doc.get("size_proof")
    if proven is None:
        if stated != 0:
            raise InvalidProof("a non-empty index must prove its size")
        return 0
    raw = verify_lawful_value(app_hash, proven, key)
    if len(raw) != 8 or int.from_bytes(raw, "big") != stated:
        raise InvalidProof("stated size differs from the proven counter")
    return int.from_bytes(raw, "big")


def verify_report_page(
    doc: Any, scope: str, app_hash: bytes, start: int
) -> tuple[dict[str, int], int, int | None]:
    """Return (counters, size, next start) of one page once every number is proven."""
    if not isinstance(doc, dict) or doc.get("scope") != scope:
        raise InvalidProof("report page is not of the scope asked for", value=scope)
    size = verify_counter_size(app_hash, doc, tr.compute_index_count_key(scope))
    entries = doc.get("counters")
    if not isinstance(entries, list):
        raise InvalidProof("report counters are not a list")
    out: dict[str, int] = {}
    for offset, entry in enumerate(entries):
        n = start + offset
        if not isinstance(entry, dict) or parse_int_field(entry, "n") != n or n >= size:
            raise InvalidProof("report counters are not the index positions asked for", index=n)
        name = verify_lawful_value(app_hash, entry.get("index"), tr.compute_index_key(scope, n))
        raw = verify_lawful_value(
            app_hash, entry.get("counter"), tr.compute_counter_key(scope, name.decode())
        )
        if len(raw) != 8 or entry.get("value") != int.from_bytes(raw, "big"):
            raise InvalidProof("stated counter differs from the proven value", index=n)
        if entry.get("name") != name.decode() or name.decode() in out:
            raise InvalidProof("counter name differs from its proven index entry", index=n)
        out[name.decode()] = int.from_bytes(raw, "big")
    end = start + len(entries)
    if end < size and not entries:
        raise InvalidProof("report page is empty before the end of the index")
    return out, size, end if end < size else None


def fetch_report(
    client: Client, period: str = "", oem: str = "", year: int = 0, height: int = 0
) -> VerifiedReport:
    """Return a quarter's counters (or with ``oem`` and ``year``, the OEM's year), every
    page read at the first page's height and checked against that block's app hash."""
    start, pages = 0, 0
    counters: dict[str, int] = {}
    doc = _fetch_page(client, period, oem, year, 0, height)
    scope = str(doc.get("scope", ""))
    expected = (
        tr.compute_year_scope(year, oem)
        if oem
        else tr.compute_quarter_scope(str(doc.get("period", period)))
    )
    if scope != expected or (period and not oem and doc.get("period") != period):
        raise InvalidProof("report names another scope than asked for", value=scope[:80])
    app_hash = client.get_header_app_hash(doc)
    at = parse_int_field(doc, "height") or 0
    size_proven = doc.get("size_proof") is not None
    while True:
        page, size, next_start = verify_report_page(doc, scope, app_hash, start)
        counters |= page
        pages += 1
        if next_start is None or pages >= MAX_PAGES:
            break
        start = next_start
        doc = _fetch_page(client, period, oem, year, start, at)
    if len(counters) != size:
        raise InvalidProof("report does not hold every counter of its index", total=size)
    return VerifiedReport(scope, counters, size, at, app_hash, size_proven)


def _fetch_page(
    client: Client, period: str, oem: str, year: int, start: int, height: int
) -> dict[str, Any]:
    if oem:
        return client.transparency_annual_doc(oem, year, start=start, height=height)
    return client.transparency_doc(period, start=start, height=height)


# --- the annual OEM report ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnnualReport:
    """An OEM's lawful-access figures of a calendar year, each proven on chain."""

    oem: str
    year: int
    due_date: str
    totals: dict[str, int]
    by_legal_basis: list[dict[str, Any]]
    by_authority: dict[str, int]
    by_court: dict[str, int]
    by_category: dict[str, int]
    height: int
    app_hash: str
    size_proven: bool = True  # see ``VerifiedReport.size_proven``
    provision: str = (
        "Several Provisions on Automotive Data Security Management (Trial), 2021, art. 13: "
        "annual report by 15 December, incl. data provided to others"
    )
    notes: list[str] = field(default_factory=list)


TOTALS = (
    "cases_opened",
    "cases_authorized",
    "cases_rejected",
    "cases_closed",
    "vehicles",
    "shares_released",
    "owners_notified",
    "notice_extensions",
    "declines",
)


def compute_annual_report(report: VerifiedReport, oem: str, year: int) -> AnnualReport:
    """Return the annual report figures of ``oem`` for ``year`` from its proven counters."""
    if report.scope != tr.compute_year_scope(year, oem):
        raise InvalidProof("counters are not of that OEM's year", value=report.scope[:80])
    bases = []
    for code, count in report.compute_group("basis").items():
        known = code in {b.value for b in LegalBasis}
        p = PROVISIONS[LegalBasis(code)] if known else None
        bases.append(
            {
                "code": code,
                "cases": count,
                "law": p.law if p else "",
                "provision": p.provision if p else "",
            }
        )
    return AnnualReport(
        oem,
        year,
        f"{year:04d}-{ANNUAL_DUE}",
        {name: report.get(name) for name in TOTALS},
        bases,
        report.compute_group("authority"),
        report.compute_group("court"),
        report.compute_group("category"),
        report.height,
        report.app_hash.hex(),
        report.size_proven,
        notes=[
            "counts are per UTC calendar year of the transition's block time",
            "vehicles: vehicles of the OEM named in authorised cases (a vehicle per case)",
            "shares_released: Shamir shares (all custodians) of the OEM's vehicles' keys",
        ],
    )


def fetch_annual_report(client: Client, oem: str, year: int, height: int = 0) -> AnnualReport:
    """Fetch, verify and compute an OEM's annual report."""
    return compute_annual_report(fetch_report(client, oem=oem, year=year, height=height), oem, year)
