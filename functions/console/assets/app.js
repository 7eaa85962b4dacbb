// The console's screens. Every call goes through api.js; every error is shown in the alert region
// with the field it names, and the form keeps what was typed.

import * as api from "./api.js";
import { drawChart } from "./chart.js";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const POLICY_NAMES = { backorder: "Backorder", vendor_default: "Vendor Default", never: "Never" };

function text(tag, value, attrs = {}) {
  const node = document.createElement(tag);
  node.textContent = value ?? "";
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function date(value) {
  return value ? new Date(value).toLocaleString() : "—";
}

function day(value) {
  return value ? new Date(value).toLocaleDateString() : "—";
}

// ---- messages --------------------------------------------------------------------------------

function clearMessages() {
  $("alert").replaceChildren();
  $("status").textContent = "";
  for (const bad of document.querySelectorAll("[aria-invalid=true]")) {
    bad.removeAttribute("aria-invalid");
    bad.removeAttribute("aria-describedby");
  }
}

function say(message) {
  $("status").textContent = message;
}

/** Shows an error, naming its field and marking the control that holds it (in `form`). */
function fail(err, form) {
  const box = $("alert");
  box.replaceChildren();
  const p = text("p", "");
  p.append(text("strong", err.status === 403 ? "Not allowed: " : "Error: "));
  p.append(document.createTextNode(err.message));
  box.append(p);
  if (err.field) {
    box.append(text("p", `Field: ${err.field}`, { class: "field" }));
    const control = form && (form.querySelector(`[data-field="${CSS.escape(err.field)}"]`)
      || form.querySelector(`[name="${CSS.escape(err.field)}"]`));
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", "alert");
      control.focus();
    }
  }
  if (err.code && err.status) box.append(text("p", `(${err.status} ${err.code})`, { class: "code" }));
}

/** Runs an action of a form: messages cleared first, errors shown, the form left as typed. */
async function act(form, fn) {
  clearMessages();
  const buttons = form ? form.querySelectorAll("button") : [];
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await fn();
  } catch (err) {
    if (err instanceof api.ApiError) fail(err, form);
    else fail(new api.ApiError(0, "page_error", err.message), form);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function onSubmit(id, fn) {
  const form = $(id);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    act(form, () => fn(form));
  });
}

function numberOrNull(input) {
  return input.value.trim() === "" ? null : Number(input.value);
}

// ---- navigation ------------------------------------------------------------------------------

const screens = ["setup", "sku", "sale", "orders", "waiting"];

function show(name) {
  for (const s of screens) $(s).hidden = s !== name;
  for (const b of document.querySelectorAll("nav button")) {
    if (b.dataset.screen === name) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  clearMessages();
  location.hash = name;
  const load = { setup: loadSetup, orders: loadOrders }[name];
  if (load) act(null, load);
}

for (const b of document.querySelectorAll("nav button")) {
  b.addEventListener("click", () => show(b.dataset.screen));
}

// ---- Setup -----------------------------------------------------------------------------------

async function loadSetup() {
  const settings = await api.call("GET", "/settings");
  $("auto-backorder").checked = settings.auto_backorder;
}

$("auto-backorder").addEventListener("change", (e) => {
  const box = e.target;
  const wanted = box.checked;
  act($("setup"), async () => {
    try {
      const settings = await api.call("PUT", "/settings", { auto_backorder: wanted });
      box.checked = settings.auto_backorder;
      say(settings.auto_backorder ? "Automatic back-ordering is on." : "Automatic back-ordering is off.");
    } catch (err) {
      box.checked = !wanted;
      throw err;
    }
  });
});

$("vendor-load").addEventListener("click", () => act($("vendor-form"), async () => {
  const id = $("vendor-id").value.trim();
  const v = await api.call("GET", `/vendors/${enc(id)}/settings`);
  $("vendor-default").checked = v.auto_backorder_default;
  $("vendor-lead").value = v.lead_time_days ?? "";
  $("vendor-pack").value = v.pack_size ?? "";
  $("vendor-min").value = v.min_order_units ?? "";
  say(`Vendor ${id} loaded.`);
}));

onSubmit("vendor-form", async () => {
  const id = $("vendor-id").value.trim();
  await api.call("PUT", `/vendors/${enc(id)}/settings`, {
    auto_backorder_default: $("vendor-default").checked,
    lead_time_days: numberOrNull($("vendor-lead")),
    pack_size: numberOrNull($("vendor-pack")),
    min_order_units: numberOrNull($("vendor-min")),
  });
  say(`Vendor ${id} saved.`);
});

// ---- SKU -------------------------------------------------------------------------------------

let currentSku = null;

async function allOrders(query) {
  const out = [];
  let cursor = "";
  for (let i = 0; i < 20; i++) {
    const page = await api.call("GET", `/replenishments?limit=100${query}${cursor}`);
    out.push(...page.items);
    if (!page.next_cursor) break;
    cursor = `&cursor=${enc(page.next_cursor)}`;
  }
  return out;
}

async function loadSku(sku) {
  const [settings, inventory, orders, waiting] = await Promise.all([
    api.call("GET", `/skus/${enc(sku)}/settings`),
    api.call("GET", `/skus/${enc(sku)}/inventory`),
    allOrders(`&sku=${enc(sku)}`),
    api.call("GET", `/skus/${enc(sku)}/awaiting?limit=100`),
  ]);
  currentSku = sku;
  $("sku-detail").hidden = false;
  $("sku-title").textContent = `SKU ${sku}`;
  $("sku-policy").value = settings.auto_backorder;
  $("sku-vendor").value = settings.vendor_id ?? "";
  $("sku-limit").value = settings.backorder_limit ?? "";
  $("sku-effective").textContent = settings.effective_auto_backorder
    ? `Sales of ${sku} beyond its stock are back-ordered (${POLICY_NAMES[settings.auto_backorder]}).`
    : `Sales of ${sku} are not back-ordered now (${POLICY_NAMES[settings.auto_backorder]}; see Setup).`;
  const outstanding = orders.filter((o) => o.receipt_status !== "received");
  const onOrder = outstanding.reduce((n, o) => n + Math.max(0, (o.ordered_quantity ?? o.quantity) - o.received), 0);
  const waitingUnits = waiting.items.reduce((n, w) => n + w.awaiting, 0);
  const expected = outstanding.map((o) => o.expected_at).filter(Boolean).sort()[0];
  const cells = $("sku-stock").querySelectorAll("tbody td");
  [inventory.on_hand, onOrder, waitingUnits, inventory.on_hand + onOrder, day(expected)]
    .forEach((v, i) => { cells[i].textContent = v; });
  const withSales = await Promise.all(orders.map(async (o) => ({
    ...o,
    sales: (await api.call("GET", `/replenishments/${enc(o.replenishment_id)}/sales?limit=100`)).items,
  })));
  drawChart($("sku-chart"), sku, withSales);
}

onSubmit("sku-pick", async () => {
  const sku = $("sku-id").value.trim();
  try {
    await loadSku(sku);
  } catch (err) {
    if (err.status !== 404) throw err;
    // A SKU not known yet: saving its settings or counting its stock creates it.
    currentSku = sku;
    $("sku-detail").hidden = false;
    $("sku-title").textContent = `SKU ${sku}`;
    say(`${sku} is not known yet: save its settings or count its stock to create it.`);
  }
});

onSubmit("sku-settings", async () => {
  const limit = numberOrNull($("sku-limit"));
  await api.call("PUT", `/skus/${enc(currentSku)}/settings`, {
    auto_backorder: $("sku-policy").value,
    vendor_id: $("sku-vendor").value.trim() || null,
    backorder_limit: limit,
  });
  await loadSku(currentSku);
  say(`${currentSku}: Automatically Backorder is ${POLICY_NAMES[$("sku-policy").value]}.`);
});

onSubmit("count-form", async () => {
  const counted = await api.call("PUT", `/skus/${enc(currentSku)}/inventory`, { on_hand: Number($("count-on-hand").value) });
  await loadSku(currentSku);
  say(`${currentSku} counted: ${counted.on_hand} on hand.`);
});

onSubmit("adjust-form", async () => {
  const reason = $("adjust-reason").value.trim();
  const adjusted = await api.call("POST", `/skus/${enc(currentSku)}/inventory/adjustments`, {
    delta: Number($("adjust-delta").value),
    ...(reason ? { reason } : {}),
  });
  await loadSku(currentSku);
  say(`${currentSku} adjusted: ${adjusted.on_hand} on hand.`);
});

// ---- New sale --------------------------------------------------------------------------------

function newSaleId() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `S-${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}-${Math.floor(Math.random() * 1000)}`;
}

function relabelLines() {
  [...$("sale-lines").tBodies[0].rows].forEach((row, i) => {
    const [sku, qty] = row.querySelectorAll("input");
    sku.setAttribute("aria-label", `SKU, line ${i + 1}`);
    sku.dataset.field = `lines[${i}].sku`;
    qty.setAttribute("aria-label", `Quantity, line ${i + 1}`);
    qty.dataset.field = `lines[${i}].quantity`;
    row.querySelector("button").setAttribute("aria-label", `Remove line ${i + 1}`);
  });
}

function addLine(sku = "", quantity = 1) {
  const row = document.createElement("tr");
  const skuCell = document.createElement("td");
  const skuInput = document.createElement("input");
  skuInput.autocomplete = "off";
  skuInput.value = sku;
  skuCell.append(skuInput);
  const qtyCell = document.createElement("td");
  const qtyInput = document.createElement("input");
  qtyInput.type = "number";
  qtyInput.value = quantity;
  qtyCell.append(qtyInput);
  const removeCell = document.createElement("td");
  const remove = text("button", "Remove", { type: "button" });
  remove.addEventListener("click", () => { row.remove(); relabelLines(); });
  removeCell.append(remove);
  row.append(skuCell, qtyCell, removeCell);
  $("sale-lines").tBodies[0].append(row);
  relabelLines();
  return skuInput;
}

$("add-line").addEventListener("click", () => addLine().focus());

onSubmit("sale-form", async () => {
  const saleId = $("sale-id").value.trim();
  const lines = [...$("sale-lines").tBodies[0].rows].map((row) => {
    const [sku, qty] = row.querySelectorAll("input");
    // Sent as typed: the API says what is wrong with a line, and names it.
    return { sku: sku.value.trim(), quantity: qty.value.trim() === "" ? null : Number(qty.value) };
  });
  const body = { lines };
  const customer = $("sale-customer").value.trim();
  const channel = $("sale-channel").value.trim();
  if (customer) body.customer = customer;
  if (channel) body.channel = channel;
  const sale = await api.call("POST", `/sales/${enc(saleId)}/finalize`, body);
  $("sale-result").hidden = false;
  const f = sale.fulfillment;
  const backordered = sale.lines.filter((l) => l.backordered > 0);
  $("sale-fulfillment").textContent = `Sale ${sale.sale_id}: fulfillment ${f.fulfillment_id} ${f.status}`
    + (f.stock_status ? `, ${f.stock_status === "ready" ? "ready to ship" : "awaiting stock"}` : "")
    + (backordered.length
      ? `. Back-ordered: ${backordered.map((l) => `${l.backordered} of ${l.sku} into order ${l.replenishment_id}`).join("; ")}.`
      : ". Nothing was back-ordered.");
  const tbody = $("sale-result-lines").tBodies[0];
  tbody.replaceChildren();
  for (const l of sale.lines) {
    const row = document.createElement("tr");
    row.append(text("td", l.sku), text("td", l.quantity), text("td", l.on_hand_after), text("td", l.backordered));
    const cell = document.createElement("td");
    if (l.replenishment_id) {
      const open = text("button", l.replenishment_id, { type: "button", "aria-label": `Open order ${l.replenishment_id}` });
      open.addEventListener("click", () => { show("orders"); act(null, () => openOrder(l.replenishment_id)); });
      cell.append(open);
    } else {
      cell.textContent = "—";
    }
    row.append(cell);
    tbody.append(row);
  }
  say(`Sale ${sale.sale_id} finalized.`);
  // A new sale starts from an empty form; the answer stays above.
  $("sale-id").value = newSaleId();
  $("sale-lines").tBodies[0].replaceChildren();
  addLine();
});

// ---- Replenishments --------------------------------------------------------------------------

let ordersCursor = null;

function orderQuery() {
  const q = new URLSearchParams();
  const showing = $("orders-show").value;
  if (showing === "open" || showing === "closed") q.set("status", showing);
  if (showing === "partly") q.set("receipt_status", "partially_received");
  if (showing === "auto") q.set("tag", "auto_backorder");
  const vendor = $("orders-vendor").value.trim();
  const sku = $("orders-sku").value.trim();
  if (vendor) q.set("vendor_id", vendor);
  if (sku) q.set("sku", sku);
  return q;
}

async function loadOrders(more = false) {
  const q = orderQuery();
  q.set("limit", "50");
  if (more && ordersCursor) q.set("cursor", ordersCursor);
  const page = await api.call("GET", `/replenishments?${q}`);
  const tbody = $("orders-table").tBodies[0];
  if (!more) tbody.replaceChildren();
  for (const o of page.items) {
    const row = document.createElement("tr");
    const idCell = document.createElement("td");
    const open = text("button", o.replenishment_id, { type: "button", "aria-label": `Open order ${o.replenishment_id}` });
    open.addEventListener("click", () => act(null, () => openOrder(o.replenishment_id)));
    idCell.append(open);
    const status = text("td", "");
    status.append(text("span", o.status, { class: `badge ${o.status}` }));
    if (o.receipt_status !== "not_received") status.append(text("span", o.receipt_status.replace("_", " "), { class: "badge receipt" }));
    const tags = text("td", "");
    for (const t of o.tags) tags.append(text("span", t, { class: "badge tag" }));
    row.append(idCell, text("td", o.sku), status, tags, text("td", o.vendor_id ?? "—"), text("td", o.quantity),
      text("td", o.ordered_quantity ?? "—"), text("td", o.received), text("td", day(o.expected_at)));
    tbody.append(row);
  }
  ordersCursor = page.next_cursor;
  $("orders-more").hidden = !ordersCursor;
  if (!more && !page.items.length) say("No orders match.");
}

onSubmit("orders-filter", () => loadOrders(false));
$("orders-more").addEventListener("click", () => act(null, () => loadOrders(true)));

let currentOrder = null;
let receiptKey = null;

async function openOrder(rid) {
  const [order, sales] = await Promise.all([
    api.call("GET", `/replenishments/${enc(rid)}`),
    api.call("GET", `/replenishments/${enc(rid)}/sales?limit=100`),
  ]);
  if (currentOrder !== rid) receiptKey = null;
  currentOrder = rid;
  $("order-detail").hidden = false;
  $("order-title").textContent = `Order ${rid}`;
  const facts = $("order-facts");
  facts.replaceChildren();
  for (const [k, v] of [
    ["SKU", order.sku], ["Vendor", order.vendor_id ?? "—"], ["Status", order.status],
    ["Tags", order.tags.join(", ") || "none (a regular order)"], ["Quantity (owed to sales)", order.quantity],
    ["Ordered", order.ordered_quantity ?? "— (set when it closes)"], ["Received", `${order.received} (${order.receipt_status.replace("_", " ")})`],
    ["Opened", date(order.created_at)], ["Closed", date(order.closed_at)], ["Expected date", day(order.expected_at)],
  ]) {
    facts.append(text("dt", k), text("dd", v));
  }
  $("order-close").hidden = order.status !== "open";
  $("receive-form").hidden = order.status !== "closed";
  const tbody = $("order-sales").tBodies[0];
  tbody.replaceChildren();
  for (const c of sales.items) {
    const row = document.createElement("tr");
    row.append(text("td", c.sale_id), text("td", c.units), text("td", c.released), text("td", date(c.at)));
    tbody.append(row);
  }
  $("order-detail").scrollIntoView({ block: "nearest" });
}

$("order-close").addEventListener("click", () => act($("order-detail"), async () => {
  const closed = await api.call("POST", `/replenishments/${enc(currentOrder)}/close`);
  await openOrder(currentOrder);
  await loadOrders(false);
  say(`Order ${closed.replenishment_id} closed: ${closed.ordered_quantity ?? closed.quantity} units ordered`
    + (closed.expected_at ? `, expected ${day(closed.expected_at)}.` : "."));
}));

$("receive-units").addEventListener("input", () => { receiptKey = null; });

onSubmit("receive-form", async () => {
  // One receipt id per receipt: sending it again after a lost answer records it once.
  receiptKey = receiptKey || `R-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const units = $("receive-units").value.trim() === "" ? null : Number($("receive-units").value);
  const done = await api.call("POST", `/replenishments/${enc(currentOrder)}/receipts`, { receipt_id: receiptKey, quantity: units });
  receiptKey = null;
  $("receive-units").value = "";
  await openOrder(currentOrder);
  await loadOrders(false);
  say(`Received ${units} on order ${done.replenishment_id}`
    + (done.released.length ? `; released ${done.released.map((r) => `${r.units} to ${r.sale_id}`).join(", ")}.` : "."));
});

// ---- Waiting ---------------------------------------------------------------------------------

onSubmit("waiting-form", async () => {
  const sku = $("waiting-sku").value.trim();
  const page = await api.call("GET", `/skus/${enc(sku)}/awaiting?limit=100`);
  const tbody = $("waiting-table").tBodies[0];
  tbody.replaceChildren();
  page.items.forEach((w, i) => {
    const row = document.createElement("tr");
    row.append(text("td", i + 1), text("td", w.sale_id), text("td", w.awaiting), text("td", w.replenishment_id),
      text("td", date(w.at)), text("td", day(w.expected_at)));
    tbody.append(row);
  });
  say(page.items.length ? `${page.items.length} sales wait on ${sku}, oldest first.` : `No sale waits on ${sku}.`);
});

// ---- start -----------------------------------------------------------------------------------

async function start() {
  await api.loadConfig();
  if (api.authMode() === "local") {
    $("account-form").hidden = false;
    $("account").value = api.account();
    $("account-form").addEventListener("submit", (e) => {
      e.preventDefault();
      api.setAccount($("account").value.trim() || "demo");
      show(location.hash.slice(1) || "setup");
      say(`Acting as account ${api.account()}.`);
    });
  } else {
    await api.finishSignIn().catch((err) => fail(err));
    const claims = api.claims();
    $("sign-in").hidden = Boolean(claims);
    $("sign-out").hidden = !claims;
    $("signed-in").hidden = !claims;
    if (claims) $("signed-in").textContent = `Signed in: ${claims.username || claims.email || claims.sub} (account ${claims.account_id ?? "none: ask for an account_id claim"})`;
    $("sign-in").addEventListener("click", () => {
      if (api.signInConfigured()) api.signIn();
      else fail(new api.ApiError(0, "not_configured", "sign-in is not set up: the stack needs ConsoleAuthorizeUrl, ConsoleTokenUrl and a client id"));
    });
    $("sign-out").addEventListener("click", () => { api.signOut(); location.reload(); });
  }
  $("sale-id").value = newSaleId();
  addLine();
  const first = location.hash.slice(1);
  show(screens.includes(first) ? first : "setup");
}

start();
