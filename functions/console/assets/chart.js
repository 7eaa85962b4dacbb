// A SKU's units over time, drawn as inline SVG: the units back-ordered and not yet received
// (a step line: sales add to it, receipts take from it), with each order's opening, close,
// receipts and expected date marked. Data: the SKU's orders and the sales that fed them.

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * orders: the SKU's orders (GET /replenishments?sku=), each with `sales` (its contributions).
 * Returns a <figure> content: an <svg> with a title and description, and a caption.
 */
export function drawChart(figure, sku, orders) {
  figure.replaceChildren();
  const steps = []; // [time, delta]
  const marks = []; // [time, label, kind]
  for (const o of orders) {
    const short = o.replenishment_id.slice(-6);
    marks.push([Date.parse(o.created_at), `opened …${short}`, "opened"]);
    if (o.closed_at) marks.push([Date.parse(o.closed_at), `closed …${short} (${o.ordered_quantity ?? o.quantity})`, "closed"]);
    if (o.received > 0) {
      marks.push([Date.parse(o.updated_at), `received ${o.received}`, "received"]);
      steps.push([Date.parse(o.updated_at), -Math.min(o.received, o.quantity)]);
    }
    if (o.expected_at && o.receipt_status !== "received") marks.push([Date.parse(o.expected_at), `expected …${short}`, "expected"]);
    for (const c of o.sales || []) {
      steps.push([Date.parse(c.at), c.units]);
      if (c.taken_back) steps.push([Date.parse(c.cancelled_at), -c.taken_back]);
    }
  }
  const caption = document.createElement("figcaption");
  if (!steps.length) {
    caption.textContent = `${sku} has no back-ordered units yet: nothing to draw.`;
    figure.append(caption);
    return;
  }
  steps.sort((a, b) => a[0] - b[0]);
  // From the first event to now: expected dates ahead are written at the right edge.
  const past = marks.filter((m) => m[2] !== "expected").map((m) => m[0]);
  const times = steps.map((s) => s[0]).concat(past, [Date.now()]);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 60000);
  const ahead = marks.filter((m) => m[2] === "expected" && m[0] > t1);
  const shown = marks.filter((m) => !ahead.includes(m));
  let level = 0;
  const points = [[t0, 0]];
  let peak = 1;
  for (const [t, d] of steps) {
    points.push([t, level]);
    level += d;
    points.push([t, level]);
    peak = Math.max(peak, level);
  }
  points.push([t1, level]);

  const W = 720, H = 260, L = 48, R = 16, T = 16, B = 64;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / peak) * (H - T - B);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "chart-title chart-desc", class: "chart" });
  svg.append(el("title", { id: "chart-title" }, `${sku}: units back-ordered and awaiting stock over time`));
  svg.append(el("desc", { id: "chart-desc" },
    `Now ${level} units await stock. ${marks.map((m) => `${m[1]} ${new Date(m[0]).toLocaleString()}`).join("; ")}.`));
  // Axes and the value grid.
  svg.append(el("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), class: "axis" }));
  svg.append(el("line", { x1: L, y1: T, x2: L, y2: y(0), class: "axis" }));
  for (const v of [0, Math.round(peak / 2), peak]) {
    svg.append(el("text", { x: L - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, v));
    if (v) svg.append(el("line", { x1: L, y1: y(v), x2: W - R, y2: y(v), class: "grid" }));
  }
  svg.append(el("text", { x: L, y: H - 8, class: "tick" }, new Date(t0).toLocaleString()));
  svg.append(el("text", { x: W - R, y: H - 8, class: "tick", "text-anchor": "end" }, `now, ${new Date(t1).toLocaleString()}`));
  // Order events: a vertical mark each, labelled.
  shown.sort((a, b) => a[0] - b[0]);
  shown.forEach(([t, label, kind], i) => {
    const left = x(t) > W - R - 140;
    svg.append(el("line", { x1: x(t), y1: T, x2: x(t), y2: y(0), class: `mark ${kind}` }));
    svg.append(el("text", { x: x(t) + (left ? -3 : 3), y: y(0) - 8 - (i % 5) * 13, class: `label ${kind}`, "text-anchor": left ? "end" : "start" }, label));
  });
  ahead.forEach(([t, label], i) => {
    svg.append(el("text", { x: W - R, y: H - 24 - i * 13, class: "label expected", "text-anchor": "end" }, `${label} ${new Date(t).toLocaleDateString()} →`));
  });
  svg.append(el("polyline", { points: points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" "), class: "level" }));
  figure.append(svg);
  caption.textContent = `Units of ${sku} back-ordered and not yet received (now ${level}), with its orders opened, closed, received and expected.`;
  figure.append(caption);
}
