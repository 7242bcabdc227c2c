// Registry pages: members, proposals with votes, vehicles and one vehicle's log and consents.

import { getJSON, getOptional, seg } from "./api.js";
import { badge, card, fmtNum, fmtTime, h, jsonView, kv, link, pageHead, pager, short, table } from "./dom.js";
import { who } from "./pages_chain.js";

const VEHICLE_PAGE = 50;

function roles(m) {
  return (m.roles || []).map((r) => badge(r, "neutral"));
}

/** #/members — every member. */
export async function members() {
  const doc = await getJSON("/members", { limit: 1000 });
  const cols = [
    { label: "Member", cell: (m) => link(`/members/${seg(m.member_id)}`, m.member_id) },
    { label: "Name", cell: (m) => m.name },
    { label: "Roles", cell: roles },
    { label: "Status", cell: (m) => badge(m.status) },
    { label: "Power", cell: (m) => fmtNum(m.power), cls: "num" },
    { label: "Joined", cell: (m) => link(`/blocks/${m.joined_height}`, `#${m.joined_height}`), cls: "num" },
  ];
  return [pageHead("Members", `${doc.members.length} consortium members`), card(null, table(cols, doc.members))];
}

/** #/members/ID — one member, its vehicles and anchors. */
export async function member(params) {
  const m = await getJSON(`/members/${seg(params.id)}`);
  const isOem = (m.roles || []).includes("oem");
  const fleet = isOem ? await getJSON("/vehicles", { oem: m.member_id, limit: 10 }) : null;
  const info = kv([
    ["Member id", m.member_id],
    ["Name", m.name],
    ["Roles", roles(m)],
    ["Status", badge(m.status)],
    ["Public key", h("span", { class: "mono" }, m.public_key)],
    ["Validator key", m.validator_key ? h("span", { class: "mono" }, m.validator_key) : "—"],
    ["Voting power", fmtNum(m.power)],
    ["Joined at", link(`/blocks/${m.joined_height}`, `block #${m.joined_height}`)],
  ]);
  const more = isOem
    ? card("Vehicles", vehicleTable(fleet.vehicles),
      h("p", {}, link(`/vehicles?oem=${seg(m.member_id)}`, "All of its vehicles →"), " · ",
        link(`/anchors?gateway=${seg(m.member_id)}`, "Its gateway's anchors →")))
    : null;
  return [pageHead(m.name || m.member_id, m.member_id), card("Member", info), more];
}

function count(v) {
  return Array.isArray(v) ? v.length : Number(v || 0);
}

function voteTable(votes) {
  return table(
    [
      { label: "Member", cell: (v) => who(v.member_id, v.name) },
      { label: "Vote", cell: (v) => badge(v.vote) },
      { label: "Block", cell: (v) => (v.height ? link(`/blocks/${v.height}`, `#${v.height}`) : "—"), cls: "num" },
    ],
    votes,
    "No votes yet.",
  );
}

function proposalCard(p) {
  return h(
    "article",
    { class: "card proposal", id: `proposal-${p.id}` },
    h("h3", {}, link(`/proposals/${p.id}`, `Proposal #${p.id}`), " ", badge(p.kind, "type"), " ", badge(p.status)),
    kv([
      ["Proposer", who(p.proposer, p.proposer_name)],
      ["Created", link(`/blocks/${p.created_height}`, `block #${p.created_height}`)],
      ["Tally", h("span", {}, badge(`yes ${count(p.yes)}`, "good"), " ", badge(`no ${count(p.no)}`, "bad"))],
    ]),
    h("details", {}, h("summary", {}, "Proposed action"), jsonView(p.body)),
    voteTable(p.votes || []),
  );
}

const STATUSES = ["", "open", "passed", "rejected", "expired"];

/** #/proposals?status= — governance proposals with their votes. */
export async function proposals(_params, query) {
  const status = query.get("status") || "";
  const page = await getJSON("/proposals", { status, before: query.get("before"), limit: 20 });
  const tabs = h("nav", { class: "tabs" }, STATUSES.map((s) =>
    link(s ? `/proposals?status=${s}` : "/proposals", s || "all", s === status ? "tab active" : "tab")));
  const next = page.next_before ? `/proposals?status=${status}&before=${page.next_before}` : null;
  const list = page.proposals.length ? page.proposals.map(proposalCard) : h("p", { class: "empty" }, "No proposals.");
  return [pageHead("Governance proposals", "votes of the members, newest first"), tabs, list, pager(next)];
}

/** #/proposals/ID — one proposal. */
export async function proposal(params) {
  const p = await getJSON(`/proposals/${seg(params.id)}`);
  return [pageHead(`Proposal #${p.id}`, p.kind), proposalCard(p)];
}

function vehicleTable(rows) {
  return table(
    [
      { label: "Vehicle", cell: (v) => link(`/vehicles/${seg(v.vehicle_id)}`, v.vehicle_id, "mono") },
      { label: "OEM", cell: (v) => who(v.oem, v.oem_name) },
      { label: "Model", cell: (v) => [v.model, v.year ? ` (${v.year})` : ""] },
      { label: "Owner", cell: (v) => link(`/vehicles?owner=${v.owner}`, short(v.owner)) },
      { label: "Status", cell: (v) => badge(v.status) },
      { label: "Registered", cell: (v) => link(`/blocks/${v.registered_height}`, `#${v.registered_height}`), cls: "num" },
    ],
    rows,
    "No vehicles match.",
  );
}

function vehicleFilter(oem, owner, oems) {
  const select = h("select", { name: "oem", "aria-label": "OEM" },
    h("option", { value: "" }, "all OEMs"),
    oems.map((m) => h("option", { value: m.member_id, selected: m.member_id === oem }, m.name || m.member_id)));
  const ownerIn = h("input", { name: "owner", placeholder: "owner public key (hex)", value: owner, "aria-label": "Owner" });
  const form = h("form", { class: "filters", id: "vehicle-filter" }, select, ownerIn, h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (select.value) q.set("oem", select.value);
    if (ownerIn.value.trim()) q.set("owner", ownerIn.value.trim());
    const s = q.toString();
    location.hash = s ? `#/vehicles?${s}` : "#/vehicles";
  });
  return form;
}

/** #/vehicles?oem=&owner=&after= — registered vehicles, filtered by OEM or owner. */
export async function vehicles(_params, query) {
  const oem = query.get("oem") || "";
  const owner = query.get("owner") || "";
  const [page, all] = await Promise.all([
    getJSON("/vehicles", { oem, owner, after: query.get("after"), limit: VEHICLE_PAGE }),
    getJSON("/members", { limit: 1000 }),
  ]);
  const oems = all.members.filter((m) => (m.roles || []).includes("oem"));
  const rows = page.vehicles;
  const q = new URLSearchParams({ oem, owner });
  const after = page.next_after ?? (rows.length === VEHICLE_PAGE ? rows[rows.length - 1].vehicle_id : null);
  const next = after ? `/vehicles?${q}&after=${seg(after)}` : null;
  const sub = [oem && `OEM ${oem}`, owner && "one owner"].filter(Boolean).join(" · ") || "all OEMs";
  return [pageHead("Vehicles", sub), vehicleFilter(oem, owner, oems), card(null, vehicleTable(rows)), pager(next, "More →")];
}

function accessLogTable(page) {
  return table(
    [
      { label: "#", cell: (e) => String(e.seq), cls: "num" },
      { label: "What", cell: (e) => badge(e.event.kind) },
      { label: "When", cell: (e) => fmtTime(e.event.time_ms) },
      { label: "Block", cell: (e) => link(`/blocks/${e.event.height}`, `#${e.event.height}`), cls: "num" },
      { label: "Who", cell: (e) => who(e.event.actor_member, null, e.event.actor) || "owner" },
      { label: "Categories", cell: (e) => (e.event.categories || []).map((c) => badge(c, "neutral")) },
      { label: "Detail", cell: (e) => e.event.detail || "—" },
    ],
    page ? page.events : [],
    "No one has accessed this vehicle's data.",
  );
}

function consentTable(doc) {
  return table(
    [
      { label: "#", cell: (g) => String(g.seq), cls: "num" },
      { label: "In force", cell: (g) => (g.in_force ? badge("in force", "good") : badge(g.withdrawn_height ? "withdrawn" : "lapsed", "muted")) },
      { label: "Recipient", cell: (g) => (g.recipient_id ? who(g.recipient_id) : `role: ${g.recipient_role}`) },
      { label: "Purpose", cell: (g) => g.purpose },
      { label: "Categories", cell: (g) => (g.categories || []).map((c) => badge(c, "neutral")) },
      { label: "Data window", cell: (g) => `${fmtTime(g.data_from_ms)} → ${fmtTime(g.data_until_ms)}` },
      { label: "Expires", cell: (g) => fmtTime(g.expires_ms) },
      { label: "Granted", cell: (g) => link(`/blocks/${g.height}`, `#${g.height}`), cls: "num" },
    ],
    doc ? doc.grants : [],
    "The owner has granted no consent.",
  );
}

function noticedCases(doc) {
  const list = doc && doc.cases ? doc.cases.map((c) => c.case) : [];
  if (list.length === 0) return null;
  return card("Lawful-access cases (notified)", table(
    [
      { label: "Case", cell: (c) => link(`/cases/${c.case_id}`, `#${c.case_id}`) },
      { label: "Basis", cell: (c) => c.legal_basis || "—" },
      { label: "Authority", cell: (c) => (c.authority ? who(c.authority) : "—") },
      { label: "State", cell: (c) => badge(c.state) },
    ],
    list,
  ));
}

/** The registration's state proof: two `simple:v` ops to the app hash of a block header. */
function stateProof(id, proof) {
  if (!proof || !proof.proof) return null;
  const ops = table(
    [
      { label: "Op", cell: (op) => op.type },
      { label: "Key (hex)", cell: (op) => h("span", { class: "mono" }, short(op.key, 16)) },
      { label: "Leaf", cell: (op) => h("span", { class: "mono" }, short(op.proof.leaf_hash, 12)) },
      { label: "Position", cell: (op) => `${fmtNum(op.proof.index)} of ${fmtNum(op.proof.total)}` },
      { label: "Aunts", cell: (op) => fmtNum(op.proof.aunts.length) },
    ],
    proof.proof,
  );
  return card(
    "State proof",
    kv([
      ["Read at", `state height ${proof.height}`],
      ["App hash", h("span", { class: "mono" }, proof.app_hash)],
      ["In the header of", link(`/blocks/${proof.proof_height}`, `block #${proof.proof_height}`)],
      ["Verify it yourself", h("code", {}, `carchain query vehicles/v/${id} --prove`)],
    ]),
    ops,
  );
}

/** #/vehicles/ID?before= — a vehicle: registration, access log (who read my data), consents. */
export async function vehicle(params, query) {
  const id = params.id;
  const [v, log, consents, cases, proof] = await Promise.all([
    getJSON(`/vehicles/${seg(id)}`),
    getJSON(`/vehicles/${seg(id)}/access-log`, { before: query.get("before"), limit: 20 }),
    getOptional(`/vehicles/${seg(id)}/consents`),
    getOptional(`/vehicles/${seg(id)}/cases`).catch(() => null),
    getOptional("/state/vehicles", { key: `v/${id}`, prove: "true" }).catch(() => null),
  ]);
  const info = kv([
    ["Vehicle id", h("span", { class: "mono" }, v.vehicle_id)],
    ["OEM", who(v.oem, v.oem_name)],
    ["Model", [v.model, v.year ? ` (${v.year})` : ""]],
    ["Status", badge(v.status)],
    ["Owner", link(`/vehicles?owner=${v.owner}`, h("span", { class: "mono" }, v.owner))],
    ["Vehicle key", h("span", { class: "mono" }, v.public_key)],
    ["Key version", fmtNum(v.key_version)],
    ["Transfers", fmtNum(v.transfer_seq)],
    ["VIN commitment", h("span", { class: "mono" }, v.vin_commitment)],
    ["Registered", link(`/blocks/${v.registered_height}`, `block #${v.registered_height}`)],
    v.revoked_reason ? ["Revoked because", v.revoked_reason] : null,
  ]);
  const next = log.next_before !== null && log.next_before !== undefined ? `/vehicles/${seg(id)}?before=${log.next_before}` : null;
  return [
    pageHead(`Vehicle ${v.vehicle_id}`, `${v.model || ""} · ${v.oem_name || v.oem}`),
    card("Registration", info),
    card(`Access log (${fmtNum(log.size)} entries, proven at block #${log.height})`, accessLogTable(log), pager(next)),
    card("Consent grants", consentTable(consents)),
    stateProof(id, proof),
    noticedCases(cases),
  ];
}
