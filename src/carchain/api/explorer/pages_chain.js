// Chain pages: overview, blocks, one block, one transaction.

import { getJSON, getOptional, seg } from "./api.js";
import { barChart } from "./charts.js";
import {
  badge, card, fmtDuration, fmtNum, fmtTime, h, jsonView, kv, link, pageHead, pager, short, stat, table,
} from "./dom.js";

/** A member (linked, by name) or, for a non-member signer, its shortened key. */
export function who(memberId, name, key) {
  if (memberId) return link(`/members/${seg(memberId)}`, name || memberId);
  return key ? short(key) : "—";
}

function resultBadge(result) {
  if (!result) return badge("pending", "info");
  return result.code === 0 ? badge("ok", "good") : badge(result.error_code || `code ${result.code}`, "bad");
}

const BLOCK_COLUMNS = [
  { label: "Height", cell: (b) => link(`/blocks/${b.height}`, `#${b.height}`), cls: "num" },
  { label: "Time", cell: (b) => fmtTime(b.time_ms) },
  { label: "Txs", cell: (b) => fmtNum(b.tx_count), cls: "num" },
  { label: "Proposer", cell: (b) => short(b.proposer) },
  { label: "Hash", cell: (b) => short(b.hash) },
];

/** #/ — the chain at a glance. */
export async function overview() {
  const [o, recent, published] = await Promise.all([
    getJSON("/overview"), getJSON("/blocks", { limit: 10 }), getOptional("/reports", {}, { reports: [] }),
  ]);
  const c = o.counts || {};
  const stats = h(
    "div",
    { class: "stats" },
    stat("Height", fmtNum(o.height)),
    stat("Block time", fmtDuration(o.block_interval_ms), "mean of the last blocks"),
    stat("Validators", fmtNum(o.validators.length)),
    stat("Mempool", fmtNum(o.mempool_size), "pending txs"),
    stat("Members", fmtNum(c.members)),
    stat("Vehicles", fmtNum(c.vehicles)),
    stat("Open proposals", fmtNum(c.proposals_open)),
    stat("Anchors", fmtNum(c.anchors)),
  );
  const points = o.throughput.map((t) => ({ x: `#${t.height}`, y: t.txs, title: `block ${t.height}: ${t.txs} txs` }));
  const validators = table(
    [
      { label: "Validator", cell: (v) => who(v.member_id, v.name, v.address) },
      { label: "Address", cell: (v) => short(v.address) },
      { label: "Power", cell: (v) => fmtNum(v.power), cls: "num" },
    ],
    o.validators,
    "No member holds voting power (a solo node seals the blocks itself).",
  );
  return [
    pageHead("Chain overview", `chain ${o.chain_id} · latest block ${fmtTime(o.latest_block_time_ms)}`),
    stats,
    h("div", { class: "grid-2" },
      card("Throughput (transactions per block)", barChart(points, { label: "transactions per block" })),
      card("Validators", validators)),
    ...reportsCard(published.reports),
    card("Latest blocks", table(BLOCK_COLUMNS, recent.blocks), h("p", {}, link("/blocks", "All blocks →"))),
  ];
}

/** The node's published reports (the demo's incident picture): the PNG as a preview
 * linking to the HTML report, and every file by name; nothing when there are none. */
function reportsCard(reports) {
  if (!reports || reports.length === 0) return [];
  const png = reports.find((r) => r.media_type === "image/png");
  const page = reports.find((r) => r.media_type.startsWith("text/html")) || png;
  const preview = png
    ? h("a", { href: page.url, class: "report-preview" }, h("img", { src: png.url, alt: `report ${png.name}` }))
    : null;
  const files = h("ul", { class: "report-files" },
    ...reports.map((r) => h("li", {}, h("a", { href: r.url }, r.name), ` · ${fmtNum(r.bytes)} bytes`)));
  return [card("Reports", preview, files)];
}

/** #/blocks?before=H — blocks, newest first. */
export async function blocks(_params, query) {
  const page = await getJSON("/blocks", { before: query.get("before"), limit: 25 });
  const next = page.next_before ? `/blocks?before=${page.next_before}` : null;
  return [pageHead("Blocks", "newest first"), card(null, table(BLOCK_COLUMNS, page.blocks)), pager(next)];
}

function eventsView(events) {
  if (!events || events.length === 0) return h("span", { class: "muted" }, "no events");
  return h(
    "ul",
    { class: "events" },
    events.map((e) =>
      h("li", {}, badge(e.type, "neutral"), " ",
        Object.entries(e.attributes || {}).map(([k, v]) => h("span", { class: "attr" }, h("b", {}, k), "=", String(v))))),
  );
}

/** One decoded transaction as a card (block and tx pages). */
export function txCard(tx, withLink = true, open = true) {
  const r = tx.result || {};
  const title = h("span", {}, badge(tx.type, "type"), " ", withLink ? link(`/txs/${tx.hash}`, `tx ${tx.index}`) : `tx ${tx.index}`);
  return h(
    "article",
    { class: "tx card" },
    h("h3", {}, title, " ", resultBadge(tx.result)),
    kv([
      ["Hash", withLink ? link(`/txs/${tx.hash}`, tx.hash, "mono") : h("span", { class: "mono" }, tx.hash)],
      ["Signer", who(tx.signer_member, tx.signer_name, tx.signer)],
      ["Signer key", short(tx.signer)],
      ["Nonce", fmtNum(tx.nonce)],
      ["Block", link(`/blocks/${tx.height}`, `#${tx.height}`)],
      r.code ? ["Error", h("span", { class: "bad-text" }, `${r.error_code}: ${r.log}`)] : null,
      ["Events", eventsView(r.events)],
    ]),
    h("details", { class: "body", open }, h("summary", {}, "Body"), jsonView(tx.body)),
  );
}

/** #/blocks/H — a block and its decoded transactions. */
export async function block(params) {
  const b = await getJSON(`/blocks/${seg(params.height)}`);
  const txs = b.decoded_txs || [];
  const nav = h("nav", { class: "pager" },
    b.height > 1 ? link(`/blocks/${b.height - 1}`, "← Previous", "button") : null,
    link(`/blocks/${b.height + 1}`, "Next →", "button"));
  return [
    pageHead(`Block #${b.height}`, fmtTime(b.time_ms)),
    card("Header", kv([
      ["Hash", h("span", { class: "mono" }, b.hash)],
      ["Time", fmtTime(b.time_ms)],
      ["Proposer", h("span", { class: "mono" }, b.proposer)],
      ["Previous hash", b.height > 1 ? link(`/blocks/${b.height - 1}`, b.prev_hash, "mono") : h("span", { class: "mono" }, b.prev_hash)],
      ["Tx root", h("span", { class: "mono" }, b.tx_root)],
      ["App hash", h("span", { class: "mono" }, b.app_hash)],
      ["Transactions", fmtNum(txs.length)],
    ])),
    h("h2", { class: "section" }, `Transactions (${txs.length})`),
    txs.length ? txs.map((t) => txCard(t, true, txs.length <= 3)) : h("p", { class: "empty" }, "This block has no transactions."),
    nav,
  ];
}

/** #/txs/HASH — one transaction. */
export async function tx(params) {
  const t = await getJSON(`/txs/${seg(params.hash)}`);
  const head = pageHead("Transaction", t.hash);
  if (!t.decoded) return [head, card(null, kv([["State", badge(t.state)], ["Height", t.height ?? "—"]]))];
  return [head, txCard(t.decoded, false)];
}
