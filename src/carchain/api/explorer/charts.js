// Charts as inline SVG, drawn by this file with the DOM API (no chart library).

// The SVG namespace is an identifier the DOM needs, never fetched.
const NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#db2777", "#7c3aed", "#0891b2", "#dc2626"];

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) {
    if (c === null || c === undefined) continue;
    el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

/** The colour of series `i`. */
export function colour(i) {
  return PALETTE[i % PALETTE.length];
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmtTick(v) {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return String(+v.toFixed(2));
}

function frame(width, height, label) {
  return svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-label": label,
    preserveAspectRatio: "xMidYMid meet",
  });
}

function yAxis(root, box, max) {
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = box.y + box.h - (box.h * i) / 4;
    root.appendChild(svg("line", { x1: box.x, x2: box.x + box.w, y1: y, y2: y, class: "grid" }));
    root.appendChild(svg("text", { x: box.x - 6, y: y + 4, class: "tick", "text-anchor": "end" }, fmtTick(v)));
  }
}

/**
 * A vertical bar chart: points [{x: label, y: value, title}].
 * Used for transactions per block.
 */
export function barChart(points, { label = "chart", width = 640, height = 220, unit = "" } = {}) {
  const root = frame(width, height, label);
  const box = { x: 44, y: 10, w: width - 54, h: height - 40 };
  const max = niceMax(Math.max(0, ...points.map((p) => p.y)));
  yAxis(root, box, max);
  const step = box.w / Math.max(points.length, 1);
  const bw = Math.max(1, step * 0.72);
  points.forEach((p, i) => {
    const bh = (box.h * p.y) / max;
    const x = box.x + i * step + (step - bw) / 2;
    const bar = svg("rect", { x, y: box.y + box.h - bh, width: bw, height: Math.max(bh, 0), class: "bar", rx: 2 });
    bar.appendChild(svg("title", {}, p.title || `${p.x}: ${p.y}${unit}`));
    root.appendChild(bar);
  });
  labelEnds(root, box, points.map((p) => p.x));
  return root;
}

function labelEnds(root, box, xs) {
  if (xs.length === 0) return;
  const y = box.y + box.h + 18;
  root.appendChild(svg("text", { x: box.x, y, class: "tick", "text-anchor": "start" }, String(xs[0])));
  if (xs.length > 1) {
    root.appendChild(svg("text", { x: box.x + box.w, y, class: "tick", "text-anchor": "end" }, String(xs[xs.length - 1])));
  }
}

/**
 * A line chart of several series sharing one x axis (numbers, e.g. time):
 * series [{name, points: [{x, y}]}]; `xLabel` formats the first and last x.
 */
export function lineChart(series, { label = "chart", width = 640, height = 240, xLabel = String } = {}) {
  const root = frame(width, height, label);
  const box = { x: 48, y: 12, w: width - 60, h: height - 44 };
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return root;
  const max = niceMax(Math.max(0, ...all.map((p) => p.y)));
  const x0 = Math.min(...all.map((p) => p.x));
  const x1 = Math.max(...all.map((p) => p.x));
  const sx = (x) => box.x + (x1 === x0 ? box.w / 2 : ((x - x0) / (x1 - x0)) * box.w);
  const sy = (y) => box.y + box.h - (box.h * y) / max;
  yAxis(root, box, max);
  series.forEach((s, i) => {
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
    root.appendChild(svg("path", { d, class: "line", stroke: colour(i) }));
    for (const p of s.points) {
      const dot = svg("circle", { cx: sx(p.x), cy: sy(p.y), r: 2.5, fill: colour(i) });
      dot.appendChild(svg("title", {}, `${s.name}: ${p.y}`));
      root.appendChild(dot);
    }
  });
  labelEnds(root, box, [xLabel(x0), xLabel(x1)]);
  return root;
}

/**
 * A horizontal bar chart of labelled values: items [{label, value}].
 * Used for the transparency report's counters.
 */
export function hbarChart(items, { label = "chart", width = 560 } = {}) {
  const row = 26;
  const height = items.length * row + 8;
  const root = frame(width, height, label);
  const lw = 190;
  const max = niceMax(Math.max(0, ...items.map((it) => it.value)));
  items.forEach((it, i) => {
    const y = 4 + i * row;
    const w = ((width - lw - 60) * it.value) / max;
    root.appendChild(svg("text", { x: lw - 8, y: y + 16, class: "tick", "text-anchor": "end" }, truncate(it.label, 28)));
    const bar = svg("rect", { x: lw, y: y + 3, width: Math.max(w, 1), height: row - 8, rx: 3, fill: colour(i) });
    bar.appendChild(svg("title", {}, `${it.label}: ${it.value}`));
    root.appendChild(bar);
    root.appendChild(svg("text", { x: lw + w + 6, y: y + 16, class: "value" }, String(it.value)));
  });
  return root;
}

function truncate(s, n) {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

/** A small square of series `i`'s colour, for legends. */
export function swatch(i) {
  return svg("svg", { viewBox: "0 0 10 10", class: "swatch", "aria-hidden": "true" },
    svg("rect", { width: 10, height: 10, rx: 2, fill: colour(i) }));
}
