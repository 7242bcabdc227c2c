// The explorer's entry module: hash routing, the search box, loading and error states.

import { ApiError, getJSON, seg } from "./api.js";
import { h, append } from "./dom.js";
import * as chain from "./pages_chain.js";
import * as data from "./pages_data.js";
import * as registry from "./pages_registry.js";

// [pattern, page, nav section]; a pattern's :names become params.
const ROUTES = [
  ["/", chain.overview, "overview"],
  ["/blocks", chain.blocks, "blocks"],
  ["/blocks/:height", chain.block, "blocks"],
  ["/txs/:hash", chain.tx, "blocks"],
  ["/members", registry.members, "members"],
  ["/members/:id", registry.member, "members"],
  ["/proposals", registry.proposals, "proposals"],
  ["/proposals/:id", registry.proposal, "proposals"],
  ["/vehicles", registry.vehicles, "vehicles"],
  ["/vehicles/:id", registry.vehicle, "vehicles"],
  ["/anchors", data.anchors, "anchors"],
  ["/cases", data.cases, "cases"],
  ["/cases/:id", data.caseDetail, "cases"],
  ["/transparency", data.transparency, "transparency"],
];

// Where a search hit leads (the API names the kind of thing found).
const SEARCH_ROUTES = {
  block: (id) => `/blocks/${seg(id)}`,
  tx: (id) => `/txs/${seg(id)}`,
  vehicle: (id) => `/vehicles/${seg(id)}`,
  member: (id) => `/members/${seg(id)}`,
  case: (id) => `/cases/${seg(id)}`,
};

/** Match a hash path against the routes: [page, params, section] or null. */
export function match(path) {
  const parts = path.split("/").filter(Boolean);
  let decoded;
  try {
    decoded = parts.map((p) => decodeURIComponent(p));
  } catch {
    return null; // a malformed escape (#/txs/%E0): no page, the not-found view
  }
  for (const [pattern, page, section] of ROUTES) {
    const want = pattern.split("/").filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    const ok = want.every((w, i) => {
      if (w.startsWith(":")) {
        params[w.slice(1)] = decoded[i];
        return true;
      }
      return w === parts[i];
    });
    if (ok) return [page, params, section];
  }
  return null;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const cut = raw.indexOf("?");
  const path = cut < 0 ? raw : raw.slice(0, cut);
  return [path || "/", new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1))];
}

function errorView(exc) {
  const notFound = exc instanceof ApiError && exc.status === 404;
  return h(
    "section",
    { class: "card error", role: "alert" },
    h("h1", {}, notFound ? "Not found" : "Something went wrong"),
    h("p", {}, exc.message || String(exc)),
    exc.code ? h("p", { class: "mono muted" }, `error code: ${exc.code}`) : null,
    h("p", {}, h("a", { href: "#/" }, "Back to the overview")),
  );
}

function markNav(section) {
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.section === section);
  }
}

let renderSeq = 0;

/** Render the page the hash names into #view (a newer navigation wins a race). */
export async function render() {
  const seq = ++renderSeq;
  const view = document.getElementById("view");
  const [path, query] = parseHash();
  const found = match(path);
  view.setAttribute("aria-busy", "true");
  let content;
  if (!found) {
    content = errorView(new ApiError(404, "no_such_page", `no explorer page at ${path}`));
  } else {
    markNav(found[2]);
    try {
      content = await found[0](found[1], query);
    } catch (exc) {
      content = errorView(exc);
    }
  }
  if (seq !== renderSeq) return;
  view.replaceChildren();
  append(view, [content]);
  view.setAttribute("aria-busy", "false");
  view.dataset.path = path;
  window.scrollTo(0, 0);
}

async function search(ev) {
  ev.preventDefault();
  const input = document.getElementById("search-q");
  const msg = document.getElementById("search-msg");
  const q = input.value.trim();
  msg.textContent = "";
  if (!q) return;
  try {
    const hit = await getJSON("/search", { q });
    const to = SEARCH_ROUTES[hit.kind];
    if (!to) throw new ApiError(404, "not_found", "nothing matches");
    input.value = "";
    location.hash = "#" + to(hit.id);
  } catch (exc) {
    msg.textContent = exc instanceof ApiError && exc.status === 404 ? `Nothing matches “${q}”.` : exc.message;
  }
}

function start() {
  document.getElementById("search").addEventListener("submit", search);
  document.getElementById("menu").addEventListener("click", () => {
    document.body.classList.toggle("nav-open");
  });
  window.addEventListener("hashchange", () => {
    document.body.classList.remove("nav-open");
    render();
  });
  render();
}

start();
