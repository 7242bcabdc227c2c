"""``GET /transparency`` and ``/transparency/annual``: public, every number proven; the SDK
verifies them and refuses a tampered count; bad input is a typed 4xx."""

from __future__ import annotations

import copy

import pytest

from carchain.core import transparency as tr
from carchain.errors import InvalidProof
from carchain.sdk import transparency as sdk_tr
from tests.core.lawful_world import get_case
from tests.lawful_node import NodeChain, node_chain, run_case

__all__ = ["node_chain"]


def period_of(chain: NodeChain, case_id: int = 1) -> str:
    return tr.compute_quarter(get_case(chain, case_id).opened_ms)  # type: ignore[arg-type]


def test_report_counts_match_the_cases_made_and_verify(node_chain: NodeChain) -> None:
    run_case(node_chain, notice_delay_ms=0)
    run_case(node_chain, notice_delay_ms=30 * 86_400_000)
    period = period_of(node_chain)
    doc = node_chain.get("/transparency", period=period)
    assert doc["scope"] == f"q/{period}" and doc["oem"] is None
    counts = {c["name"]: c["value"] for c in doc["counters"]}
    assert counts["state/open"] == counts["state/authorized"] == 2
    assert counts["authority/police"] == counts["court/court2"] == 2
    assert counts["oem/saic"] == 2
    assert counts["approvals"] == 6
    assert counts["shares_released"] == 4
    assert counts["notices"] == 1
    assert counts["notice_delay/count"] == 2
    assert counts["notice_delay/le_0d"] == counts["notice_delay/le_30d"] == 1
    report = sdk_tr.fetch_report(node_chain.sdk(), period)
    assert report.counters == counts
    assert report.size == len(counts) == doc["size"]


def test_default_period_is_now_and_public(node_chain: NodeChain) -> None:
    run_case(node_chain)
    doc = node_chain.get("/transparency")  # no key, no membership
    assert doc["period"] == tr.compute_quarter(node_chain.now_ms)
    assert doc["size"] > 0


def test_tampered_count_fails(node_chain: NodeChain) -> None:
    run_case(node_chain)
    period = period_of(node_chain)
    doc = node_chain.get("/transparency", period=period)
    app_hash = bytes.fromhex(doc["app_hash"])
    sdk_tr.verify_report_page(doc, doc["scope"], app_hash, 0)
    for mutate in (
        lambda d: d["counters"][0].update(value=d["counters"][0]["value"] + 1),
        lambda d: d["counters"][0]["counter"].update(value=(41).to_bytes(8, "big").hex()),
        lambda d: d["counters"].pop(1),
        lambda d: d["counters"][0].update(name="authority/someone-else"),
        lambda d: d.update(size=d["size"] - 1),
        lambda d: d.update(size_proof=None),
    ):
        bad = copy.deepcopy(doc)
        mutate(bad)
        with pytest.raises(InvalidProof):
            page, size, _ = sdk_tr.verify_report_page(bad, doc["scope"], app_hash, 0)
            if len(page) != size:  # a dropped counter: the fetch's completeness check
                raise InvalidProof("incomplete")


def test_paging_reads_one_height(node_chain: NodeChain) -> None:
    run_case(node_chain)
    period = period_of(node_chain)
    first = node_chain.get("/transparency", period=period, limit=3)
    assert len(first["counters"]) == 3 and first["next_start"] == 3
    rest = node_chain.get("/transparency", period=period, start=3, height=first["height"])
    assert rest["app_hash"] == first["app_hash"]
    names = [c["name"] for c in first["counters"] + rest["counters"]]
    assert len(names) == first["size"] == len(set(names))


def test_annual_report_of_an_oem(node_chain: NodeChain) -> None:
    run_case(node_chain)
    year = tr.compute_year(node_chain.now_ms)
    report = sdk_tr.fetch_annual_report(node_chain.sdk(), "saic", year)
    assert report.due_date == f"{year}-12-15"
    assert report.totals["cases_authorized"] == 1
    assert report.totals["vehicles"] == 2
    assert report.totals["shares_released"] == 2
    assert report.totals["owners_notified"] == 2
    assert report.by_legal_basis == [
        {
            "code": "rtsl_accident",
            "cases": 1,
            "law": "Road Traffic Safety Law of the PRC",
            "provision": "arts. 72-73",
        }
    ]
    assert report.by_authority == {"police": 1} and report.by_court == {"court2": 1}
    empty = sdk_tr.fetch_annual_report(node_chain.sdk(), "geely", year)
    assert empty.totals["cases_authorized"] == 0


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/transparency", {"period": "2026Q5"}),
        ("/transparency", {"period": "26Q1"}),
        ("/transparency", {"period": "2026Q1", "limit": 0}),
        ("/transparency", {"period": "2026Q1", "limit": 501}),
        ("/transparency", {"period": "2026Q1", "start": -1}),
        ("/transparency/annual", {"oem": "saic", "year": 1969}),
    ],
)
def test_invalid_params_are_400(
    node_chain: NodeChain, path: str, params: dict[str, object]
) -> None:
    body = node_chain.get(path, status=400, **params)
    assert body["error"]["code"] in ("bad_request", "invalid_body")


def test_invalid_oem_id_is_422(node_chain: NodeChain) -> None:
    body = node_chain.get("/transparency/annual", status=422, oem="sa/ic", year=2026)
    assert body["error"]["code"] == "invalid_body"


def test_period_never_counted_is_empty(node_chain: NodeChain) -> None:
    doc = node_chain.get("/transparency", period="1999Q1")
    assert (doc["size"], doc["size_proof"], doc["counters"]) == (0, None, [])


def test_a_node_hiding_a_whole_quarter_is_not_taken_as_proven(
    node_chain: NodeChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lying node answers a counted quarter as "never counted": no size proof, no
    # counters. Absence has no proof, so the report must not call that proven.
    run_case(node_chain)
    period = period_of(node_chain)
    client = node_chain.sdk()
    honest = sdk_tr.fetch_report(client, period)
    assert honest.size > 0 and honest.size_proven
    doc = client.transparency_doc(period)
    lie = doc | {"size": 0, "size_proof": None, "counters": [], "next_start": None}
    monkeypatch.setattr(client, "transparency_doc", lambda *a, **k: lie)
    hidden = sdk_tr.fetch_report(client, period)
    assert (hidden.size, hidden.counters) == (0, {})
    assert not hidden.size_proven
    never = sdk_tr.fetch_report(node_chain.sdk(), "1999Q1")  # honest, but no proof either
    assert not never.size_proven
