// DOM helpers. Every piece of data reaches the page as a text node or an
// attribute value set through the DOM API: nothing is ever parsed as HTML.

/** Create an element: h("a", {href: "#/"}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Set attributes; `class` and `data-*` included; null/false values are skipped. */
export function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
}

/** Append children: strings and numbers become text nodes, arrays are flattened. */
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

/** A link to an explorer route (a hash path such as "/blocks/12"). */
export function link(path, text, cls) {
  return h("a", { href: "#" + path, class: cls }, text);
}

/** Shorten a long hex string for tables: abcd1234…9f0e (the full value in the title). */
export function short(hex, keep = 8) {
  const s = String(hex ?? "");
  if (s.length <= keep * 2 + 1) return h("span", { class: "mono" }, s);
  return h("span", { class: "mono", title: s }, s.slice(0, keep) + "…" + s.slice(-4));
}

/** Format milliseconds since the epoch as a UTC date and time. */
export function fmtTime(ms) {
  if (!ms) return "—";
  const d = new Date(Number(ms));
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** Format a duration in milliseconds (e.g. 250 ms, 1.5 s, 3 min, 2 d). */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  const n = Number(ms);
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(n < 10000 ? 2 : 1)} s`;
  if (n < 3600000) return `${Math.round(n / 60000)} min`;
  if (n < 86400000) return `${(n / 3600000).toFixed(1)} h`;
  return `${(n / 86400000).toFixed(1)} d`;
}

/** Format a number with thousands separators. */
export function fmtNum(n) {
  if (n === null || n === undefined) return "—";
  return Number(n).toLocaleString("en-US");
}

/** A coloured label (status, kind, result). */
export function badge(text, tone) {
  return h("span", { class: `badge ${tone || toneOf(text)}` }, text);
}

const TONES = {
  ok: "good", active: "good", passed: "good", authorized: "good", committed: "good",
  approved: "good", in_force: "good", yes: "good", grant: "good", release: "good",
  open: "info", pending: "info", request: "info",
  rejected: "bad", refused: "bad", revoked: "bad", failed: "bad", no: "bad", withdraw: "bad",
  expired: "muted", closed: "muted", removed: "muted", suspended: "warn",
};

function toneOf(text) {
  return TONES[String(text).toLowerCase()] || "neutral";
}

/** A table: columns [{label, cell: row => node|string, cls}], rows; empty text when none. */
export function table(columns, rows, empty = "Nothing here yet.") {
  if (!rows || rows.length === 0) return h("p", { class: "empty" }, empty);
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.cls, scope: "col" }, c.label)));
  const body = rows.map((r) =>
    h("tr", {}, columns.map((c) => h("td", { class: c.cls, "data-label": c.label }, c.cell(r)))),
  );
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

/** A definition list of [label, value] pairs (values may be nodes). */
export function kv(pairs) {
  return h(
    "dl",
    { class: "kv" },
    pairs.filter((p) => p).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]),
  );
}

/** A section card with a title and content. */
export function card(title, ...content) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, content);
}

/** A stat tile: a big number and its label. */
export function stat(label, value, hint) {
  return h(
    "div",
    { class: "stat" },
    h("div", { class: "stat-value" }, value),
    h("div", { class: "stat-label" }, label),
    hint ? h("div", { class: "stat-hint" }, hint) : null,
  );
}

/** Render any JSON value as a readable nested list (body fields of a transaction). */
export function jsonView(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "null");
  if (Array.isArray(value)) {
    if (value.length === 0) return h("span", { class: "muted" }, "[]");
    return h("ol", { class: "json-list" }, value.map((v) => h("li", {}, jsonView(v))));
  }
  if (typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 0) return h("span", { class: "muted" }, "{}");
    return kv(keys.map((k) => [k, jsonView(value[k])]));
  }
  if (typeof value === "string" && /^[0-9a-f]{40,}$/.test(value)) return short(value, 12);
  return h("span", { class: typeof value === "string" ? "json-str" : "json-num" }, String(value));
}

/** Page title and an optional subtitle. */
export function pageHead(title, sub) {
  document.title = `${title} · carchain explorer`;
  return h("header", { class: "page-head" }, h("h1", {}, title), sub ? h("p", { class: "sub" }, sub) : null);
}

/** A "newer/older" pager for cursor pages. */
export function pager(nextPath, label = "Older →") {
  if (!nextPath) return null;
  return h("nav", { class: "pager" }, link(nextPath, label, "button"));
}
