// The wall: one live stream (SSE) in, figures out. Frames are upserts keyed by window,
// so a replay after a reconnect, or a late window, corrects the charts in place.
import { drawDims, drawSeries, initCharts, resizeAll } from "./charts.js";
import { renderCatalog } from "./catalog.js";
import { REGIONS } from "./geo.js";

const KEEP_SECONDS = 300;
const SILENT_MS = 4000; // no frame for this long: the connection is down, reconnect
// Charts and maps redraw at most once a second (the figures above them follow every
// frame): redrawing both maps at each of four frames a second kept Chromium busy with
// half a core on the machine that also runs the server.
const CHARTS_MS = 1000;
const $ = (id) => document.getElementById(id);
const hashParams = new URLSearchParams(location.hash.slice(1));
const token = hashParams.get("token") || sessionStorage.getItem("warroom-token");
if (token) sessionStorage.setItem("warroom-token", token);

const state = {
  points: new Map(), frame: null, base: "CNY", rates: {}, currency: "CNY",
  lastId: null, lastFrameAt: 0, source: null, shownGmv: 0, anim: 0, gmvPaintAt: 0,
  chartsAt: -Infinity, chartsTimer: null,
};
// Read by tests and the benchmark: browser-side time of each rendered frame.
window.__wall = { frames: 0, renderedAt: 0, readCount: 0, lastFrame: null, log: [] };

function fmtInt(n) { return Number(n).toLocaleString("en-US"); }
function pct(x) { return x == null ? "–" : `${(x * 100).toFixed(2)}%`; }

// Money arrives as exact decimal strings in the base currency. The other panels show a
// chosen currency as a view (converted at the day's fixed rate); the GMV counter and the
// by-currency panel show what was actually paid in each currency, exactly.
function money(text, short = false) {
  const r = state.rates[state.currency];
  const base = Number(text);
  const value = state.currency === state.base || !r ? base : base / r.rate;
  const digits = r ? r.digits : 2;
  if (short && value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (short && value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function exactBase(text) { // group digits of an exact decimal string without going through float
  const [int, frac] = text.split(".");
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return frac ? `${grouped}.${frac}` : grouped;
}

const symbolOf = (code) => (code === "CNY" ? "¥ " : `${code} `);

// The counter: `text` is exact, in `code`'s own units; it eases toward it and always
// comes to rest on the exact string. A figure arriving mid-way (frames come several
// times a second) eases on from the value on screen, not from the last figure, which
// was a visible jump forward.
function setGmv(text, code) {
  const el = $("gmv");
  const same = el.dataset.currency === code;
  el.dataset.exact = text;
  el.dataset.currency = code;
  const target = Number(text);
  const from = same ? state.shownGmv : target;
  const done = symbolOf(code) + exactBase(text);
  const run = ++state.anim; // a newer figure (or currency) stops an older animation
  if (from === target || document.hidden) {
    state.shownGmv = target;
    el.textContent = done;
    return;
  }
  const digits = (text.split(".")[1] || "").length;
  const start = performance.now();
  const step = (now) => {
    if (run !== state.anim) return;
    const k = Math.min(1, (now - start) / 800);
    // ~30 paints a second are smooth for a counter and half the work of 60
    if (k < 1 && now - state.gmvPaintAt < 30) { requestAnimationFrame(step); return; }
    state.gmvPaintAt = now;
    state.shownGmv = from + (target - from) * (1 - (1 - k) ** 3);
    el.textContent = k < 1 ? symbolOf(code) + state.shownGmv.toLocaleString("en-US",
      { minimumFractionDigits: digits, maximumFractionDigits: digits }) : done;
    if (k < 1) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

// GMV in the base currency (every record converted once), or, for another currency, the
// GMV of the orders placed in it: its own units, exact. The note says which one is shown.
function renderHero(frame) {
  const code = state.currency;
  if (code === state.base) {
    setGmv(frame.totals.gmv, code);
    $("gmv-note").textContent = `exact, ${state.base}: every currency converted once at the day's fixed rate`;
    return;
  }
  const row = (frame.currencies || []).find((r) => r.currency === code);
  const digits = state.rates[code]?.digits ?? 2;
  setGmv(row ? row.gmv : (0).toFixed(digits), code);
  const all = `all currencies ≈ ${code} ${money(frame.totals.gmv, true)} (converted from ${state.base}; so are the other panels)`;
  $("gmv-note").textContent = row
    ? `GMV of the orders in ${code} only, exact, in ${code} (payments received ${code} ${exactBase(row.payments)}) · ${pct(row.share)} of GMV · ${all}`
    : `nothing paid in ${code} yet · ${all}`;
}

// On demand: each currency's GMV, payments and refunds in its own units (exact), beside
// the same GMV in the base currency (each record converted once) and its share.
function renderCurrencies(frame) {
  const panel = $("by-currency");
  if (panel.hidden) return;
  const rows = frame.currencies || [];
  $("currency-base").textContent = `GMV in ${state.base}`;
  const td = (text, cls) => Object.assign(document.createElement("td"), { textContent: text, className: cls || "" });
  const trs = rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.currency = r.currency;
    tr.className = r.currency === state.currency ? "chosen" : "";
    tr.append(td(r.currency, "code"), td(exactBase(r.gmv)), td(exactBase(r.payments)),
      td(exactBase(r.refunds)), td(exactBase(r.gmv_base), "base"), td(pct(r.share)));
    tr.title = `${fmtInt(r.orders)} orders; payments ${exactBase(r.payments_base)} ${state.base}, refunds ${exactBase(r.refunds_base)} ${state.base}`;
    tr.onclick = () => chooseCurrency(r.currency);
    return tr;
  });
  if (!trs.length) {
    const tr = document.createElement("tr");
    tr.append(Object.assign(td("No money yet.", "quiet"), { colSpan: 6 }));
    trs.push(tr);
  }
  $("currency-rows").replaceChildren(...trs);
  const total = document.createElement("tr");
  total.className = "total";
  total.append(td(`all, in ${state.base}`, "code"), td(""), td(""), td(""),
    td(exactBase(frame.totals.gmv), "base"), td(rows.length ? "100%" : "–"));
  $("currency-total").replaceChildren(total);
}

function toggleCurrencies(show) {
  const panel = $("by-currency");
  panel.hidden = !show;
  $("by-currency-btn").setAttribute("aria-expanded", String(show));
  if (show && state.frame) renderCurrencies(state.frame);
}

function chooseCurrency(code) {
  $("currency").value = state.currency = code;
  if (state.frame) render(state.frame);
}

function render(frame) {
  const t = frame.totals;
  renderHero(frame);
  renderCurrencies(frame);
  $("orders").textContent = fmtInt(t.orders);
  $("pay-rate").textContent = pct(frame.payment_success_rate);
  $("pay-rate").style.color = frame.payment_success_rate != null && frame.payment_success_rate < 0.9 ? "#ff4d6a" : "";
  $("refunds").textContent = fmtInt(t.refunds);
  $("refund-rate").textContent = pct(frame.refund_rate);
  $("refund-rate").title = `refunds per order; refunded ${money(t.refund_amount)} ${state.currency}`;
  const rf = frame.refunds; // the refund guard: auto-approved share and the amount held
  const held = rf ? money(String(rf.held_amount_minor / 10 ** (state.rates[state.base]?.digits ?? 2)), true) : "";
  $("refund-guard").textContent = rf && rf.refunds
    ? `· auto ${(rf.auto_approved_share * 100).toFixed(1)}% · held ${held}`
    : "";
  $("refund-guard").title = rf ? `${fmtInt(rf.pending)} refunds held for review` : "";
  $("visits").textContent = fmtInt(t.visits);
  $("conversion").textContent = t.visits ? `conversion ${pct(t.orders / t.visits)}` : "–";
  if (frame.event_time) $("event-time").textContent = `${new Date(frame.event_time + 8 * 3600e3).toISOString().slice(11, 19)} +08:00`;
  const pts = [...state.points.values()];
  const last = pts[pts.length - 1];
  $("orders-rate").textContent = last ? fmtInt(last.orders) : "0";
  $("payments-rate").textContent = last ? fmtInt(last.pay_attempts) : "0";
  $("gmv-rate").textContent = last ? `GMV ${money(last.gmv, true)} / s` : "–";
  const c = frame.status.counters;
  $("ingest").textContent = `read ${fmtInt(c.read)} · accepted ${fmtInt(c.accepted)} · quarantined ${fmtInt(c.quarantined)} · duplicates ${fmtInt(c.duplicates)} · late ${fmtInt(c.late)}`;
  drawCharts();
  renderOverseas(frame.dims.region || []);
  renderAlerts(frame.alerts || []);
  renderCatalog(frame.catalog, money, token); // catalog.js: open catalog findings
  renderIncidents(frame.broadcast, frame.campaigns);
  banner(frame.status.stale ? "warn" : null,
    frame.status.seconds_since_last_batch == null ? "Waiting for the first events…"
      : `Stream stale: no new events for ${Math.round(frame.status.seconds_since_last_batch)} s`);
  window.__wall.frames += 1;
  window.__wall.renderedAt = performance.timeOrigin + performance.now();
  window.__wall.readCount = c.read;
  window.__wall.lastFrame = frame;
  window.__wall.log.push([window.__wall.renderedAt, frame.event_time]); // for `warroom bench-web`
  if (window.__wall.log.length > 20000) window.__wall.log.splice(0, 10000);
}

// The latest frame's charts, now if the last redraw is a second old, else when it is.
function drawCharts() {
  const wait = state.chartsAt + CHARTS_MS - performance.now();
  if (wait > 0) {
    state.chartsTimer ??= setTimeout(() => { state.chartsTimer = null; drawCharts(); }, wait);
    return;
  }
  state.chartsAt = performance.now();
  drawSeries([...state.points.values()]);
  drawDims(state.frame.dims, money);
}

// Overseas regions beside the world map: the map shades countries, and some (Singapore,
// Hong Kong) are too small for its shapes, so the regions are listed by name as well.
function renderOverseas(regions) {
  const abroad = regions.filter((r) => !r.key.startsWith("CN-") && r.key !== "unknown").slice(0, 5);
  $("overseas").replaceChildren(...abroad.map((r) => {
    const li = document.createElement("li");
    li.dataset.region = r.key;
    li.append(Object.assign(document.createElement("b"), { textContent: r.key }),
      ` ${REGIONS[r.key] || ""} `,
      Object.assign(document.createElement("span"), { textContent: money(r.gmv, true) }));
    li.title = `${r.key}: GMV ${money(r.gmv)} ${state.currency}, ${fmtInt(r.orders)} orders`;
    return li;
  }));
}

function renderAlerts(alerts) {
  const ul = $("alerts");
  ul.replaceChildren(...(alerts.length ? alerts.slice(0, 8).map((a) => {
    const li = document.createElement("li");
    li.className = `sev-${a.severity || "info"}`;
    li.textContent = `${a.state === "resolved" ? "✓" : "▲"} ${a.summary || a.metric}`;
    return li;
  }) : [Object.assign(document.createElement("li"), { className: "quiet", textContent: "No alerts — all quiet" })]));
}

function renderIncidents(broadcast, campaigns) {
  const box = $("incidents");
  const items = [];
  if (broadcast) {
    const div = document.createElement("div");
    div.className = "msg";
    div.textContent = `📣 ${broadcast.message}`;
    items.push(div);
  }
  if (campaigns && campaigns.length) items.push(campaignCards(campaigns));
  else items.push(Object.assign(document.createElement("div"), {
    textContent: "Incidents and campaigns appear here as command opens them.",
  }));
  box.replaceChildren(...items);
}

// Issue 8: one card per campaign — progress bar against target, a tick where the plan
// says it should be by now; behind plan in red; paused and cross-border badges.
function campaignCards(cards) {
  const grid = Object.assign(document.createElement("div"), { className: "camp-grid" });
  const order = [...cards].sort((a, b) => (b.behind - a.behind) || (a.vs_plan ?? 0) - (b.vs_plan ?? 0));
  for (const c of order) {
    const card = Object.assign(document.createElement("div"), {
      className: `camp${c.behind ? " behind" : ""}${c.paused ? " paused" : ""}`,
    });
    card.dataset.campaign = c.id;
    const head = Object.assign(document.createElement("div"), { className: "camp-head" });
    head.append(Object.assign(document.createElement("b"), { textContent: c.name }));
    if (c.paused) head.append(Object.assign(document.createElement("span"), { className: "badge paused", textContent: "paused" }));
    if (c.overseas) head.append(Object.assign(document.createElement("span"), { className: "badge overseas", textContent: "cross-border" }));
    const bar = Object.assign(document.createElement("div"), { className: "camp-bar" });
    const fill = Object.assign(document.createElement("div"), { className: "fill" });
    fill.style.width = `${Math.min(100, (c.progress || 0) * 100).toFixed(1)}%`;
    const plan = Object.assign(document.createElement("div"), { className: "plan" });
    plan.style.left = `${Math.min(100, (c.planned_share || 0) * 100).toFixed(1)}%`;
    bar.append(fill, plan);
    const value = c.primary === "gmv" ? money(String(c.actual ?? 0), true) : fmtInt(c.actual ?? 0);
    const gap = c.vs_plan == null ? "" : ` · ${c.vs_plan >= 0 ? "+" : ""}${(c.vs_plan * 100).toFixed(0)}% vs plan`;
    const meta = Object.assign(document.createElement("div"), {
      className: "camp-meta",
      textContent: `${c.commander} · ${c.primary} ${value} · ${((c.progress || 0) * 100).toFixed(0)}% of target${gap}`,
    });
    card.append(head, bar, meta);
    if (c.overseas) card.append(...abroadLines(c));
    grid.append(card);
  }
  return grid;
}

// A cross-border card: where its GMV came from (regions) and in which currencies (each
// in its own units, exact; the note says when that covers the whole campaign).
function abroadLines(c) {
  const out = [];
  const line = (cls, text, title) => Object.assign(document.createElement("div"),
    { className: `camp-meta ${cls}`, textContent: text, title: title || text });
  const regions = c.by_region || [];
  if (regions.length) {
    out.push(line("camp-regions", regions.map((r) => `${r.region} ${money(r.gmv, true)}`).join(" · ")));
  } else if (c.regions && c.regions.length) {
    out.push(line("camp-regions", c.regions.join(" · ")));
  }
  const cur = c.by_currency;
  if (cur && cur.rows.length) {
    const text = cur.rows.map((r) => `${r.currency} ${exactBase(r.gmv)}`).join(" · ");
    out.push(line("camp-currencies", text, `GMV by currency, each in its own units: ${cur.note}`));
  }
  return out;
}

function banner(kind, text) {
  const el = $("banner");
  if (!kind) { if (!el.classList.contains("down")) el.hidden = true; return; }
  el.className = `banner ${kind}`;
  el.textContent = text;
  el.hidden = false;
}

function upsert(points) {
  for (const p of points) state.points.set(p.t, p);
  const keys = [...state.points.keys()].sort((a, b) => a - b);
  const sorted = new Map(keys.slice(-KEEP_SECONDS).map((k) => [k, state.points.get(k)]));
  state.points = sorted;
}

function onFrame(ev, snapshot) {
  const frame = JSON.parse(ev.data);
  state.lastId = ev.lastEventId || state.lastId;
  state.lastFrameAt = Date.now();
  if (snapshot) {
    state.points = new Map();
    state.base = frame.base_currency;
    state.rates = frame.rates;
    fillCurrencies();
  }
  upsert(frame.points);
  state.frame = frame;
  connected(true);
  render(frame);
}

function fillCurrencies() {
  const sel = $("currency");
  if (sel.options.length) return;
  for (const code of Object.keys(state.rates)) {
    const label = code === state.base ? `${code} · all (base)` : `${code} · paid in ${code}`;
    sel.add(new Option(label, code, false, code === state.base));
  }
  sel.value = state.currency = state.base;
  sel.onchange = () => chooseCurrency(sel.value);
}

function connected(up) {
  $("conn").classList.toggle("down", !up);
  const el = $("banner");
  if (up && el.classList.contains("down")) { el.classList.remove("down"); el.hidden = true; }
  if (!up) {
    el.className = "banner down";
    el.textContent = "Connection lost — reconnecting…";
    el.hidden = false;
  }
}

function connect() {
  if (state.source) state.source.close();
  const q = new URLSearchParams();
  if (token) q.set("access_token", token);
  if (state.lastId) q.set("last_event_id", state.lastId); // a new EventSource sends no header
  const es = new EventSource(`/api/v1/stream?${q}`);
  es.addEventListener("snapshot", (ev) => onFrame(ev, true));
  es.addEventListener("tick", (ev) => onFrame(ev, false));
  es.onerror = () => { if (es.readyState !== EventSource.OPEN) connected(false); };
  state.source = es;
}

// Watchdog: EventSource gives up on some failures (a 5xx, a restart mid-handshake), and a
// silent half-open connection sends nothing; either way, start again after SILENT_MS.
setInterval(() => {
  if (Date.now() - state.lastFrameAt > SILENT_MS) {
    connected(false);
    state.lastFrameAt = Date.now();
    connect();
  }
}, 1000);

initCharts();
window.addEventListener("resize", resizeAll);
$("by-currency-btn").onclick = () => toggleCurrencies($("by-currency").hidden);
$("by-currency-close").onclick = () => toggleCurrencies(false);
document.addEventListener("keydown", (e) => { if (e.key === "Escape") toggleCurrencies(false); });
if (hashParams.has("currencies")) toggleCurrencies(true); // a wall screen may keep it open
state.lastFrameAt = Date.now();
renderIncidents(null);
renderAlerts([]);
connect();

// the other pages read the same token from the URL fragment
for (const a of document.querySelectorAll("nav.pages a")) a.href += location.hash;
