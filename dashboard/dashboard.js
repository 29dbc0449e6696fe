// The live dashboard: polls dashboard/data every second and redraws in place. No framework, no CDN:
// everything the page needs is served by the gateway itself.
import { renderHistogram, renderSparkline } from "./charts.js";
import { format, setText } from "./format.js";

const REFRESH_MS = 1000;
const WINDOW_KEY = "latency-slayer.window";

const byData = (kind, name) => document.querySelector(`[data-${kind}="${name}"]`);

let windowS = 900;
try {
  windowS = Number(localStorage.getItem(WINDOW_KEY)) || windowS;
} catch (_) {
  // storage can be off (private mode, file policy): the default window will do
}

const WRITTEN_BY = { refresh: "background refreshes", prefetch: "background prefetches", warming: "warmed" };

// The answers written without a client asking, by kind: how many (the gateway's own upstream calls, with the tokens
// they spent; a warming run's misses) and the hits later served from them, their yield (when there are any).
function background(spent, yields) {
  return Object.entries(yields).filter(([kind, got]) => got.written || got.hits || spent[kind]?.calls)
    .map(([kind, got]) => {
      const calls = spent[kind];
      const tokens = calls ? `${format.int(calls.tokens)} tokens, ` : "";
      return ` · ${format.int(calls ? calls.calls : got.written)} ${WRITTEN_BY[kind] || kind}` +
        ` (${tokens}yield ${format.int(got.hits)} ${got.hits === 1 ? "hit" : "hits"})`;
    }).join("");
}

function renderCards(summary) {
  const outcomes = summary.outcomes;
  setText(byData("metric", "requests"), format.int(summary.requests));
  setText(byData("metric", "outcomes"),
    `${format.int(outcomes.hit)} hits · ${format.int(outcomes.miss)} misses · ` +
    `${format.int(outcomes.bypass)} bypass · ${format.int(outcomes.error)} errors` +
    background(summary.background || {}, summary.yield || {}));
  setText(byData("metric", "hit-rate"), format.pct(summary.hit_rate));
  setText(byData("metric", "layers"),
    `${format.int(summary.layers.exact)} exact · ${format.int(summary.layers.semantic)} semantic · ` +
    `${format.int(summary.layers.flight)} shared in flight` +
    (summary.layers.stale ? ` · ${format.int(summary.layers.stale)} served stale` : ""));
  const stack = document.getElementById("hit-stack");
  const parts = [["exact", "var(--hit)", summary.layers.exact], ["shared in flight", "var(--hit)", summary.layers.flight],
    ["served stale", "var(--hit)", summary.layers.stale || 0],
    ["semantic", "var(--semantic)", summary.layers.semantic],
    ["miss", "var(--miss)", outcomes.miss], ["bypass", "var(--bypass)", outcomes.bypass],
    ["error", "var(--error)", outcomes.error]];
  stack.replaceChildren(...parts.map(([name, color, count]) => {
    const part = document.createElement("span");
    part.style.background = color;
    part.style.width = summary.requests ? `${(100 * count) / summary.requests}%` : "0";
    part.title = `${name}: ${count}`;
    return part;
  }));
  const hit = summary.latency.hit.p50;
  const miss = summary.latency.miss.p50;
  setText(byData("metric", "p50-hit"), format.ms(hit));
  setText(byData("metric", "p50-miss"), format.ms(miss));
  setText(byData("metric", "speedup"), hit && miss ? ` · ${format.int(Math.round(Math.max(miss / hit, 1)))}× faster` : "");
  setText(byData("metric", "tokens-saved"), format.compact(summary.tokens_saved));
  setText(byData("metric", "cost-saved"), `≈ ${format.usd(summary.cost_saved)} not spent upstream`);
  setText(byData("metric", "wait-saved"), format.duration(summary.wait_saved_ms));
}

function renderTable(summary) {
  const { latency, outcomes, ttfb } = summary;
  const share = (count) => (summary.requests ? format.pct(count / summary.requests) : "–");
  const cells = {
    "requests-all": format.int(summary.requests), "requests-hit": format.int(outcomes.hit),
    "requests-miss": format.int(outcomes.miss), "share-all": summary.requests ? "100%" : "–",
    "share-hit": share(outcomes.hit), "share-miss": share(outcomes.miss),
    "p50-all": format.ms(latency.all.p50), "p50-hit": format.ms(latency.hit.p50), "p50-miss": format.ms(latency.miss.p50),
    "p95-all": format.ms(latency.all.p95), "p95-hit": format.ms(latency.hit.p95), "p95-miss": format.ms(latency.miss.p95),
    "ttfb-hit": format.ms(ttfb.hit.p50), "ttfb-miss": format.ms(ttfb.miss.p50),
  };
  for (const [name, text] of Object.entries(cells)) setText(byData("cell", name), text);
}

// `learning`: per route (summed over its tenants), what this worker learnt from feedback and shadow checks,
// shown under its hit rate.
function renderBreakdown(id, rows, label, learning = {}) {
  const table = document.getElementById(id);
  const head = document.createElement("thead");
  const headRow = head.insertRow();
  const wide = new Set(["p50 hit", "p50 miss"]); // dropped on a phone
  for (const name of [label, "Requests", "Hit rate", "p50 hit", "p50 miss", "Saved"]) {
    const th = document.createElement("th");
    th.textContent = name;
    if (wide.has(name)) th.className = "wide";
    headRow.appendChild(th);
  }
  const body = document.createElement("tbody");
  if (!rows.length) {
    const cell = body.insertRow().insertCell();
    cell.colSpan = 6;
    cell.className = "empty";
    cell.textContent = "No requests in this window yet";
  }
  for (const row of rows) {
    const tr = body.insertRow();
    const name = tr.insertCell();
    name.textContent = row.name;
    name.title = row.name;
    tr.insertCell().textContent = format.int(row.requests);
    const rate = tr.insertCell();
    const wrap = document.createElement("span");
    wrap.className = "rate";
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(row.hit_rate || 0) * 100}%`;
    bar.appendChild(fill);
    const text = document.createElement("span");
    text.textContent = format.pct(row.hit_rate);
    wrap.append(bar, text);
    rate.appendChild(wrap);
    if (learning[row.name]) rate.appendChild(precision(learning[row.name]));
    for (const value of [row.p50_hit, row.p50_miss]) {
      const latency = tr.insertCell();
      latency.className = "wide";
      latency.textContent = format.ms(value);
    }
    const saved = tr.insertCell();
    saved.textContent = format.usd(row.cost_saved);
    const tokens = document.createElement("small");
    tokens.textContent = `${format.compact(row.tokens_saved)} tokens`;
    saved.appendChild(tokens);
  }
  table.replaceChildren(head, body);
}

// Under a route's hit rate: how many of its semantic hits were judged right, and the threshold it learnt; under a
// wrong-hit budget, the wrong-hit rate measured at that threshold, its interval and the verdicts behind it.
function precision(state) {
  const judged = state.good + state.bad;
  const lines = judged ? [`${format.pct(state.precision)} right of ${judged}`] : [];
  if (state.threshold !== null) lines.push(state.threshold < 0 ? "exact only" : `threshold ${state.threshold.toFixed(3)}`);
  if (state.evidence !== undefined) lines.push(budgetLine(state));
  const note = document.createElement("small");
  note.textContent = lines.join(" · ");
  note.title = "Semantic hits judged by feedback, shadow checks and near misses, and the median threshold its " +
    "tenants learnt, on this worker" + (state.evidence !== undefined ? "; wrong hits at that threshold, with " +
    "their one-sided 95% exact bounds, against the route's budget" : "");
  return note;
}

function budgetLine(state) {
  const share = (value) => `${(value * 100).toFixed(2)}%`; // budgets are small: 1.00%, not 1%
  const budget = state.budget === null ? "" : ` (budget ${share(state.budget)})`;
  if (!state.evidence) return `wrong hits: no evidence yet${budget}`;
  return `wrong ${share(state.wrong_rate)} [${share(state.wrong_low)}–${share(state.wrong_high)}] ` +
    `of ${state.evidence}${budget}`;
}

function renderStatus(data) {
  const status = document.getElementById("status");
  status.className = "sub live";
  const sink = data.sink.backend === "redis" ? `Redis stream ${data.sink.stream}` : "in-process ring (this worker)";
  const workers = `${data.sources} worker${data.sources === 1 ? "" : "s"} reporting`;
  const last = data.last_event === null ? "no requests yet" : `last request ${format.duration(Math.max(data.now - data.last_event, 0))} ago`;
  setText(document.getElementById("status-text"), `Live · ${workers} · ${sink} · ${last}`);
  const stale = document.getElementById("stale");
  stale.hidden = !data.stale;
  setText(stale, data.stale ? `Metrics stream unavailable (${data.stale}); showing the last figures read.` : "");
  const worker = data.worker;
  setText(document.getElementById("footer"),
    `${format.int(data.summary.requests)} requests in the ${format.windowName(data.window_s)} · this worker wrote ` +
    `${format.int(worker.written)} events, dropped ${format.int(worker.dropped + worker.lost)} · ` +
    `cost estimates use list prices (METRICS_PRICES) · Prometheus: /metrics`);
}

function render(data) {
  renderCards(data.summary);
  renderTable(data.summary);
  renderSparkline(data.sparkline);
  renderHistogram(data.distances);
  renderBreakdown("by-model", data.by_model, "Model");
  renderBreakdown("by-route", data.by_route, "Route", data.learning);
  renderStatus(data);
  setText(document.getElementById("window-label"), format.windowName(data.window_s));
}

function selectWindow(seconds) {
  windowS = seconds;
  for (const button of document.querySelectorAll("#windows button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.window) === seconds));
  }
  try {
    localStorage.setItem(WINDOW_KEY, String(seconds));
  } catch (_) {
    // not remembered: harmless
  }
}

let timer = null;
async function refresh() {
  clearTimeout(timer);
  try {
    const asked = windowS;
    const response = await fetch(`dashboard/data?window=${asked}`, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    if (asked === windowS) render(data); // a window picked meanwhile: that answer is on its way
  } catch (error) {
    document.getElementById("status").className = "sub down";
    setText(document.getElementById("status-text"), `Gateway unreachable (${error.message}); retrying…`);
  } finally {
    clearTimeout(timer); // a click during a fetch must not leave two polling chains
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

document.getElementById("windows").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-window]");
  if (!button) return;
  selectWindow(Number(button.dataset.window));
  refresh();
});
const offered = [...document.querySelectorAll("#windows button")].map((button) => Number(button.dataset.window));
selectWindow(offered.includes(windowS) ? windowS : 900);
refresh();
