// Data pages: anchors per gateway, lawful-access cases, the transparency report.

import { getJSON, seg } from "./api.js";
import { hbarChart, lineChart, swatch } from "./charts.js";
import { badge, card, fmtDuration, fmtNum, fmtTime, h, kv, link, pageHead, pager, short, stat, table } from "./dom.js";
import { who } from "./pages_chain.js";

function legend(names) {
  return h("div", { class: "legend" }, names.map((n, i) => h("span", { class: "legend-item" }, swatch(i), n)));
}

function seriesChart(gateways, field, label) {
  const series = gateways.map((g) => ({
    name: g.name || g.gateway,
    points: (g.series || []).map((p) => ({ x: p.time_ms, y: p[field] })),
  }));
  const dayTime = (ms) => fmtTime(ms).slice(5, 16);
  return card(label, lineChart(series, { label, xLabel: dayTime }), legend(series.map((s) => s.name)));
}

/** #/anchors?gateway=&before= — gateways' anchor transactions and their growth. */
export async function anchors(_params, query) {
  const gateway = query.get("gateway") || "";
  const [summary, page] = await Promise.all([
    getJSON("/anchors/summary"),
    getJSON("/anchors", { gateway, before: query.get("before"), limit: 25 }),
  ]);
  const gws = summary.gateways;
  const tiles = h("div", { class: "stats" }, gws.map((g) =>
    stat(`records via ${g.name || g.gateway}`, fmtNum(g.records), `${fmtNum(g.batches)} batches · ${fmtNum(g.anchors)} anchors`)));
  const tabs = h("nav", { class: "tabs" },
    link("/anchors", "all gateways", gateway ? "tab" : "tab active"),
    gws.map((g) => link(`/anchors?gateway=${seg(g.gateway)}`, g.name || g.gateway, g.gateway === gateway ? "tab active" : "tab")));
  const rows = table(
    [
      { label: "Block", cell: (a) => link(`/blocks/${a.height}`, `#${a.height}`), cls: "num" },
      { label: "Time", cell: (a) => fmtTime(a.time_ms) },
      { label: "Gateway", cell: (a) => who(a.gateway, a.gateway_name) },
      { label: "Batches", cell: (a) => fmtNum(a.batches), cls: "num" },
      { label: "Records", cell: (a) => fmtNum(a.records), cls: "num" },
      { label: "Root", cell: (a) => short(a.root) },
    ],
    page.anchors,
    "No anchors yet.",
  );
  const q = gateway ? `gateway=${seg(gateway)}&` : "";
  const next = page.next_before ? `/anchors?${q}before=${page.next_before}` : null;
  return [
    pageHead("Anchors", "each OEM gateway anchors the batch roots it received, one transaction per block"),
    tiles,
    h("div", { class: "grid-2" },
      seriesChart(gws, "batches", "Batches anchored over time"),
      seriesChart(gws, "records", "Records anchored over time")),
    tabs,
    card(null, rows),
    pager(next),
  ];
}

const CASE_COLUMNS = [
  { label: "Case", cell: (d) => link(`/cases/${d.case.case_id}`, `#${d.case.case_id}`) },
  { label: "State", cell: (d) => badge(d.display_state) },
  { label: "Legal basis", cell: (d) => d.case.legal_basis },
  { label: "Authority", cell: (d) => who(d.case.authority) },
  { label: "Court", cell: (d) => (d.case.court ? who(d.case.court) : "—") },
  { label: "Vehicles", cell: (d) => fmtNum(scopeOf(d.case).vehicles.length), cls: "num" },
  { label: "Opened", cell: (d) => fmtTime(d.case.opened_ms) },
];

function scopeOf(c) {
  return c.scope || c.opened_scope || { vehicles: [], categories: [] };
}

/** #/cases?before= — lawful-access cases (hashes, ids and counts only: never documents). */
export async function cases(_params, query) {
  const page = await getJSON("/cases", { before: query.get("before"), limit: 20 });
  const next = page.next_before ? `/cases?before=${page.next_before}` : null;
  return [
    pageHead("Lawful-access cases", "opened by law enforcement, authorised by a court, released by custodians"),
    card(null, table(CASE_COLUMNS, page.cases, "No lawful-access case has been opened.")),
    pager(next),
  ];
}

function scopeView(s) {
  if (!s) return "—";
  return kv([
    ["Vehicles", s.vehicles.map((v) => [link(`/vehicles/${seg(v)}`, v, "mono"), " "])],
    ["Categories", s.categories.map((c) => badge(c, "neutral"))],
    ["Data window", `${fmtTime(s.data_from_ms)} → ${fmtTime(s.data_until_ms)}`],
  ]);
}

function votes(list) {
  return table(
    [
      { label: "Custodian", cell: (v) => who(v.member_id) },
      { label: "When", cell: (v) => fmtTime(v.time_ms) },
      { label: "Block", cell: (v) => link(`/blocks/${v.height}`, `#${v.height}`), cls: "num" },
      { label: "Reason", cell: (v) => v.reason || "—" },
    ],
    list,
    "None.",
  );
}

/** #/cases/ID — one case: its scope, court, custodians' votes and released shares. */
export async function caseDetail(params) {
  const d = await getJSON(`/cases/${seg(params.id)}`);
  const c = d.case;
  const info = kv([
    ["State", badge(d.display_state)],
    ["Legal basis", c.legal_basis],
    ["Authority", who(c.authority)],
    ["Court", c.court ? who(c.court) : "—"],
    ["Opened", [fmtTime(c.opened_ms), " · ", link(`/blocks/${c.opened_height}`, `block #${c.opened_height}`)]],
    ["Authorised", c.authorized_height ? [fmtTime(c.authorized_ms), " · ", link(`/blocks/${c.authorized_height}`, `block #${c.authorized_height}`)] : "—"],
    ["Expires", fmtTime(c.expires_ms)],
    ["Owner notice due", fmtTime(c.notice_due_ms)],
    ["Owners notified", c.noticed ? "yes" : "not yet"],
    ["Key shares released", fmtNum(c.released_keys)],
    ["Case reference (hash)", short(c.case_ref, 12)],
    ["Justification (hash)", short(c.justification_hash, 12)],
    c.reject_reason ? ["Rejected because", c.reject_reason] : null,
  ]);
  return [
    pageHead(`Case #${c.case_id}`, c.legal_basis),
    card("Case", info),
    h("div", { class: "grid-2" }, card("Scope as opened", scopeView(c.opened_scope)), card("Scope as authorised", scopeView(c.scope))),
    h("div", { class: "grid-2" }, card("Custodian approvals", votes(c.approvals)), card("Custodian declines", votes(c.declines))),
  ];
}

/** Group counters `group/label` by group; timing counters keep count and sum apart. */
export function groupCounters(counters) {
  const groups = new Map();
  for (const c of counters) {
    const cut = c.name.indexOf("/");
    const group = cut < 0 ? c.name : c.name.slice(0, cut);
    const label = cut < 0 ? "total" : c.name.slice(cut + 1);
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push({ label, value: c.value });
  }
  return groups;
}

const GROUP_TITLES = {
  state: "Cases by state", authority: "Cases by authority", basis: "Cases by legal basis",
  oem: "Cases by OEM", category: "Cases by data category", court: "Cases by court",
};

function groupCard(group, items) {
  const count = items.find((i) => i.label === "count");
  const sum = items.find((i) => i.label === "sum_ms");
  const bars = items.filter((i) => i.label !== "count" && i.label !== "sum_ms");
  const title = GROUP_TITLES[group] || group.replaceAll("_", " ");
  const mean = count && sum && count.value ? h("p", { class: "sub" }, `${fmtNum(count.value)} cases · mean ${fmtDuration(sum.value / count.value)}`) : null;
  return card(title, mean, bars.length ? hbarChart(bars, { label: title }) : null);
}

function reportForm(period) {
  const input = h("input", { name: "period", value: period, placeholder: "2026Q4", "aria-label": "Quarter", pattern: "[0-9]{4}Q[1-4]" });
  const form = h("form", { class: "filters", id: "period-form" }, input, h("button", { type: "submit" }, "Show quarter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#/transparency?period=${encodeURIComponent(input.value.trim())}`;
  });
  return form;
}

/** #/transparency?period= — the public lawful-access counters of a quarter, as charts. */
export async function transparency(_params, query) {
  const doc = await getJSON("/transparency", { period: query.get("period") });
  const groups = groupCounters(doc.counters);
  const cards = [...groups.entries()].map(([g, items]) => groupCard(g, items));
  const opened = (groups.get("state") || []).find((i) => i.label === "open");
  return [
    pageHead(`Transparency report ${doc.period}`, `${doc.size} counters, each proven at block #${doc.height}`),
    reportForm(doc.period),
    h("div", { class: "stats" }, stat("Cases opened", fmtNum(opened ? opened.value : 0)), stat("Counters", fmtNum(doc.size))),
    cards.length ? h("div", { class: "grid-2" }, cards) : card(null, h("p", { class: "empty" }, "No lawful-access activity in this quarter.")),
  ];
}
