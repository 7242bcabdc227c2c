"""The explorer in a real browser (Debian's chromium) against a live demo chain: every
page renders the chain's real content, links lead where they say, search finds
blocks, transactions, vehicles and members, and the layout holds on a phone.
Screenshots of each page go to test-artifacts/explorer/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.explorer.conftest import ARTIFACTS, PHONE, DemoChain, Explorer

pytestmark = pytest.mark.browser


def find_block_with(chain: DemoChain, tx_type: str) -> dict[str, Any]:
    """Return the newest block holding a transaction of ``tx_type`` (read from the API)."""
    before = None
    while True:
        page = chain.api("/blocks", limit=100, **({"before": before} if before else {}))
        for b in page["blocks"]:
            if b["tx_count"]:
                block = chain.api(f"/blocks/{b['height']}")
                if any(t["type"] == tx_type for t in block["decoded_txs"]):
                    return dict(block)
        before = page["next_before"]
        assert before, f"no {tx_type} transaction on the demo chain"


def test_overview_shows_the_chain_stats_chart_and_latest_blocks(explorer: Explorer) -> None:
    view = explorer.open("/")
    o = explorer.chain.api("/overview")
    stats = explorer.page.locator(".stat").all_inner_texts()
    assert any(s.startswith(f"{o['counts']['vehicles']}\n") and "Vehicles" in s for s in stats)
    assert any("Members" in s and s.startswith(str(o["counts"]["members"])) for s in stats)
    assert any("Block time" in s and "ms" in s for s in stats)
    # The throughput chart: one bar per block of the API's series, drawn as inline SVG.
    bars = view.locator("svg.chart rect.bar")
    assert bars.count() == len(o["throughput"]) > 0
    assert "Latest blocks" in explorer.text()
    explorer.shot("overview")
    top = view.locator("table a[href^='#/blocks/']").first
    height = top.inner_text().lstrip("#")
    top.click()
    explorer.rendered(f"/blocks/{height}")
    assert f"Block #{height}" in explorer.text()


def test_blocks_list_pages_back_in_time(explorer: Explorer) -> None:
    view = explorer.open("/blocks")
    first = [int(t.lstrip("#")) for t in view.locator("td:first-child a").all_inner_texts()]
    assert first == sorted(first, reverse=True) and len(first) == 25
    explorer.shot("blocks")
    view.locator(".pager a").click()
    expect(explorer.page).to_have_url(re.compile(rf"#/blocks\?before={first[-1]}$"))
    older = explorer.page.locator("#view td:first-child a").first
    expect(older).to_have_text(f"#{first[-1] - 1}")


def test_block_page_decodes_its_transactions(explorer: Explorer) -> None:
    block = find_block_with(explorer.chain, "vehicle.register")
    tx = next(t for t in block["decoded_txs"] if t["type"] == "vehicle.register")
    view = explorer.open(f"/blocks/{block['height']}")
    cards = view.locator("article.tx")
    assert cards.count() == len(block["decoded_txs"])
    card = cards.filter(has_text=tx["hash"]).first
    body = card.locator("details.body")
    if body.get_attribute("open") is None:  # folded in a block of many transactions
        body.locator("summary").click()
    text = card.inner_text()
    assert "vehicle.register" in text and "ok" in text
    assert tx["body"]["vehicle_id"] in text  # body fields, decoded
    assert tx["signer_name"] and tx["signer_name"] in text  # signer shown by member name
    for event in tx["result"]["events"]:
        assert event["type"] in text
    assert card.locator(f"a[href='#/members/{tx['signer_member']}']").count() >= 1
    explorer.shot("block")
    card.locator(f"a[href='#/txs/{tx['hash']}']").first.click()
    explorer.rendered(f"/txs/{tx['hash']}")
    assert "Transaction" in explorer.text() and tx["hash"] in explorer.text()
    assert "vehicle.register" in explorer.text()
    explorer.shot("tx")


def test_members_link_to_a_member_and_its_fleet(explorer: Explorer) -> None:
    view = explorer.open("/members")
    members = explorer.chain.api("/members")["members"]
    text = explorer.text()
    assert all(m["member_id"] in text and m["name"] in text for m in members)
    explorer.shot("members")
    oem = next(m for m in members if "oem" in m["roles"])
    view.locator(f"a[href='#/members/{oem['member_id']}']").first.click()
    explorer.rendered(f"/members/{oem['member_id']}")
    fleet = explorer.chain.api("/vehicles", oem=oem["member_id"], limit=10)["vehicles"]
    assert oem["name"] in explorer.text()
    assert fleet and all(v["vehicle_id"] in explorer.text() for v in fleet)
    explorer.shot("member")


def test_proposals_show_their_votes(explorer: Explorer) -> None:
    view = explorer.open("/proposals")
    proposals = explorer.chain.api("/proposals")["proposals"]
    assert proposals
    p = proposals[0]
    card = view.locator(f"#proposal-{p['id']}")
    text = card.inner_text()
    assert p["kind"] in text and p["proposer_name"] in text
    assert all(v["name"] in text for v in p["votes"])
    assert card.locator("tbody tr").count() == len(p["votes"])
    explorer.shot("proposals")
    view.locator("a.tab", has_text="rejected").click()
    expect(explorer.page).to_have_url(re.compile(r"#/proposals\?status=rejected$"))
    rejected = explorer.chain.api("/proposals", status="rejected")["proposals"]
    expect(explorer.page.locator("#view article.proposal")).to_have_count(len(rejected))
    explorer.open(f"/proposals/{p['id']}")
    assert f"Proposal #{p['id']}" in explorer.text()


def test_vehicles_filter_by_oem_and_by_owner(explorer: Explorer) -> None:
    view = explorer.open("/vehicles")
    explorer.shot("vehicles")
    oem = explorer.chain.api(f"/vehicles/{explorer.chain.crashed}")["oem"]
    view.locator("select[name=oem]").select_option(oem)
    view.locator("#vehicle-filter button").click()
    want = [v["vehicle_id"] for v in explorer.chain.api("/vehicles", oem=oem, limit=50)["vehicles"]]
    expect(explorer.page).to_have_url(re.compile(rf"#/vehicles\?oem={oem}$"))
    expect(explorer.page.locator("#view td:first-child a")).to_have_count(len(want))
    ids = explorer.page.locator("#view td:first-child a").all_inner_texts()
    assert ids == want and all(i.startswith(f"{oem}:") for i in ids)
    owner = explorer.chain.api(f"/vehicles/{explorer.chain.crashed}")["owner"]
    view = explorer.open(f"/vehicles?owner={owner}")
    owned = explorer.chain.api("/vehicles", owner=owner)["vehicles"]
    assert view.locator("td:first-child a").all_inner_texts() == [v["vehicle_id"] for v in owned]
    view.locator(f"a[href='#/vehicles/{explorer.chain.crashed}']").click()
    explorer.rendered(f"/vehicles/{explorer.chain.crashed}")


def test_vehicle_page_shows_its_access_log_and_consents(explorer: Explorer) -> None:
    vid = explorer.chain.crashed
    view = explorer.open(f"/vehicles/{vid}")
    log = explorer.chain.api(f"/vehicles/{vid}/access-log", limit=20)
    grants = explorer.chain.api(f"/vehicles/{vid}/consents")["grants"]
    assert log["events"] and grants
    sections = {c.locator("h2").inner_text(): c for c in view.locator("section.card").all()}
    log_card = next(c for t, c in sections.items() if t.startswith("Access log"))
    assert log_card.locator("tbody tr").count() == len(log["events"])
    kinds = set(log_card.locator("tbody td:nth-child(2)").all_inner_texts())
    assert kinds == {e["event"]["kind"] for e in log["events"]}
    consents = sections["Consent grants"].inner_text()
    assert all(g["purpose"] in consents for g in grants)
    proven = explorer.chain.api("/state/vehicles", key=f"v/{vid}", prove="true")
    proof = sections["State proof"].inner_text()
    assert proven["app_hash"] in proof and f"block #{proven['proof_height']}" in proof
    assert sections["State proof"].locator("tbody tr").count() == len(proven["proof"])
    explorer.shot("vehicle")


def test_anchors_chart_each_gateway_and_filter(explorer: Explorer) -> None:
    view = explorer.open("/anchors")
    gateways = explorer.chain.api("/anchors/summary")["gateways"]
    assert gateways
    # Two line charts (batches, records), one line per gateway.
    assert view.locator("svg.chart path.line").count() == 2 * len(gateways)
    stats = explorer.page.locator(".stat").all_inner_texts()
    for g in gateways:
        assert any(s.startswith(f"{g['records']:,}") and g["name"] in s for s in stats)
    explorer.shot("anchors")
    g = gateways[0]
    view.locator("a.tab", has_text=g["name"]).click()
    expect(explorer.page).to_have_url(re.compile(rf"#/anchors\?gateway={g['gateway']}$"))
    expect(explorer.page.locator("#view a.tab.active")).to_have_text(g["name"])
    names = set(explorer.page.locator("#view tbody td:nth-child(3)").all_inner_texts())
    assert names == {g["name"]}


def test_cases_list_and_case_page(explorer: Explorer) -> None:
    view = explorer.open("/cases", node="case")
    cases = explorer.chain.api("/cases", node="case")["cases"]
    assert cases
    c = cases[0]
    assert c["case"]["legal_basis"] in explorer.text() and c["display_state"] in explorer.text()
    explorer.shot("cases")
    view.locator(f"a[href='#/cases/{c['case']['case_id']}']").click()
    explorer.rendered(f"/cases/{c['case']['case_id']}")
    text = explorer.text()
    assert f"Case #{c['case']['case_id']}" in text
    approvals = c["case"]["approvals"]
    assert approvals and all(a["member_id"] in text for a in approvals)
    assert all(v in text for v in c["case"]["scope"]["vehicles"])
    explorer.shot("case")


def test_story_overview_links_to_the_incident_picture(explorer: Explorer) -> None:
    explorer.open("/", node="story")
    published = {r["name"] for r in explorer.chain.api("/reports", node="story")["reports"]}
    assert published == {"incident.html", "incident.png"}
    card = explorer.page.locator("#view section.card", has_text="Reports")
    preview = card.locator("a.report-preview img")
    expect(preview).to_have_attribute("src", "/reports/incident.png")
    loaded = preview.evaluate("img => img.decode().then(() => img.naturalWidth)")
    assert loaded > 800  # the PNG the demo drew, served by the node
    explorer.shot("story-overview")
    card.locator("a.report-preview").click()
    explorer.page.wait_for_url("**/reports/incident.html")
    assert "The crash, investigated" in explorer.page.inner_text("h1")
    assert explorer.page.locator("svg").count() >= 1
    cases = explorer.chain.api("/cases", node="story")["cases"]
    body = explorer.page.inner_text("body")
    assert len(cases) == 2 and all(str(c["case"]["case_id"]) in body for c in cases)
    explorer.page.screenshot(path=str(ARTIFACTS / "story-report.png"), full_page=True)


def test_story_cases_show_the_crash_then_exactly_the_witnesses(explorer: Explorer) -> None:
    explorer.open("/cases", node="story")
    cases = sorted(explorer.chain.api("/cases", node="story")["cases"], key=case_id)
    crash, witnesses = (c["case"]["scope"]["vehicles"] for c in cases)
    assert len(crash) == 2 and witnesses and not set(crash) & set(witnesses)
    explorer.page.locator(f"a[href='#/cases/{case_id(cases[1])}']").click()
    explorer.rendered(f"/cases/{case_id(cases[1])}")
    text = explorer.text()
    assert all(v in text for v in witnesses)
    explorer.shot("story-case")


def case_id(c: dict[str, Any]) -> int:
    return int(c["case"]["case_id"])


def test_transparency_report_as_charts(explorer: Explorer) -> None:
    view = explorer.open("/transparency", node="case")
    report = explorer.chain.api("/transparency", node="case")
    assert report["counters"]
    assert f"Transparency report {report['period']}" in explorer.text()
    bars = [c for c in report["counters"] if not c["name"].endswith(("/count", "/sum_ms"))]
    assert view.locator("svg.chart rect").count() == len(bars)
    assert "Cases by authority" in explorer.text()
    explorer.shot("transparency")


def search(explorer: Explorer, q: str) -> None:
    explorer.page.fill("#search-q", q)
    explorer.page.click("#search button")


def test_search_finds_heights_hashes_vehicles_and_members(explorer: Explorer) -> None:
    explorer.open("/")
    block = find_block_with(explorer.chain, "vehicle.register")
    tx = block["decoded_txs"][0]
    cases = [
        (str(block["height"]), f"/blocks/{block['height']}"),
        (tx["hash"], f"/txs/{tx['hash']}"),
        (explorer.chain.crashed, f"/vehicles/{explorer.chain.crashed}"),
        (tx["signer_member"], f"/members/{tx['signer_member']}"),
    ]
    for q, path in cases:
        search(explorer, q)
        explorer.rendered(path)
    explorer.shot("search")
    search(explorer, "no-such-thing-anywhere")
    expect(explorer.page.locator("#search-msg")).to_contain_text("Nothing matches")


def test_unknown_pages_and_ids_show_a_not_found_card(explorer: Explorer) -> None:
    # "/txs/%E0": a malformed escape in a crafted link is no page, not a broken router.
    for route in ("/no/such/page", "/blocks/999999", "/vehicles/saic:nope", "/txs/%E0"):
        explorer.open(route)
        assert explorer.page.locator("#view .card.error").count() == 1
        assert "Not found" in explorer.text()


def test_phone_layout_stacks_tables_and_folds_the_menu(phone: Explorer) -> None:
    phone.open("/")
    nav = phone.page.locator("#nav")
    assert not nav.is_visible()
    phone.page.click("#menu")
    assert nav.is_visible()
    phone.page.click("#nav a[data-section='vehicles']")
    phone.rendered("/vehicles")
    assert not nav.is_visible()
    # No sideways scrolling; tables stack their cells with the column's label.
    width = phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    assert not phone.page.locator("#view thead").first.is_visible()
    label = phone.page.evaluate(
        "getComputedStyle(document.querySelector('#view td'), '::before').content"
    )
    assert label == '"Vehicle"'
    phone.shot("phone-vehicles")
    phone.open("/")
    phone.shot("phone-overview")
