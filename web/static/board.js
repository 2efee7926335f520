// The live odds board: loads /events and each event's markets, then follows /stream.
"use strict";

const LIVE = new Set(["live", "interrupted", "suspended"]);
const UPCOMING = new Set(["not_started", "delayed", "postponed"]);
const MAIN_MARKETS = new Set(["1", "18"]);
// Fallbacks for markets the descriptions do not name.
const NAMES = { "1": "1X2", "18": "Total", "186": "Winner", "219": "Winner incl. OT" };
const OUTCOME_LABELS = {
  "1": { "1": "1", "2": "X", "3": "2" }, "18": { "12": "Over", "13": "Under" },
  "186": { "4": "1", "5": "2" }, "219": { "4": "1", "5": "2" },
};
const PAGE = 200;
const MAX_EVENTS = 1000;

const events = new Map();   // event id -> {summary, node}
const markets = new Map();  // market key -> market view (with event_id)
let pending = [];           // stream records that arrived before the first load finished
let loaded = false;

const marketKey = (eventId, marketId, specifiers) => `${eventId}/${marketId}/${specifiers}`;
const group = (status) => LIVE.has(status) ? "live" : UPCOMING.has(status) ? "upcoming" : "finished";

async function getJson(url) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (response.status === 503 && attempt < 30) {  // worker starting or rebalancing
      await new Promise((resolve) => setTimeout(resolve, 500));
      continue;
    }
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }
}

function startLabel(ms) {
  if (ms == null) return "";
  return new Date(ms).toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
}

function formatOdds(odds) {
  return typeof odds === "number" ? odds.toFixed(2) : "–";
}

function renderEvent(summary) {
  let entry = events.get(summary.event_id);
  if (!entry) {
    const node = document.getElementById("event-template").content.firstElementChild.cloneNode(true);
    node.dataset.eventId = summary.event_id;
    entry = { summary, node };
    events.set(summary.event_id, entry);
  }
  entry.summary = summary;
  const node = entry.node;
  node.dataset.status = summary.status;
  node.dataset.start = summary.start_time ?? "";
  node.querySelector(".event-status").textContent = summary.status.replace("_", " ");
  node.querySelector(".event-clock").textContent =
    LIVE.has(summary.status) ? (summary.clock || "") : startLabel(summary.start_time);
  node.querySelector(".event-competition").textContent = summary.competition || summary.sport || "";
  node.querySelector(".home").textContent = summary.home || summary.event_id;
  node.querySelector(".away").textContent = summary.away || "";
  const score = summary.score || {};
  node.querySelector(".score").textContent =
    score.home == null ? "" : `${score.home} – ${score.away ?? 0}`;
  const total = Object.values(summary.market_counts || {}).reduce((a, b) => a + b, 0);
  const shown = node.querySelectorAll(".market").length;
  node.querySelector(".more").textContent = total > shown ? `+${total - shown} more markets` : "";
  place(node, group(summary.status));
}

function place(node, name) {
  const container = document.querySelector(`[data-group="${name}"] .events`);
  const key = (n) => [n.dataset.start === "" ? Infinity : Number(n.dataset.start), n.dataset.eventId];
  const [start, id] = key(node);
  let before = null;
  for (const other of container.children) {
    if (other === node) continue;
    const [otherStart, otherId] = key(other);
    if (otherStart > start || (otherStart === start && otherId > id)) { before = other; break; }
  }
  if (node.parentElement !== container || node.nextElementSibling !== before) {
    container.insertBefore(node, before);
  }
  for (const section of document.querySelectorAll(".group")) {
    section.classList.toggle("is-empty", section.querySelector(".events").children.length === 0);
  }
}

function marketLabel(market) {
  if (market.name) return market.name;
  const name = NAMES[market.market_id] || `Market ${market.market_id}`;
  return market.specifiers ? `${name} ${market.specifiers.replace(/^total=/, "")}` : name;
}

function renderMarket(market) {
  const entry = events.get(market.event_id);
  const key = marketKey(market.event_id, market.market_id, market.specifiers);
  // An event without a 1X2 or total shows its first market instead.
  if (!entry || !(MAIN_MARKETS.has(market.market_id) || entry.fallback === key)) return;
  let node = entry.node.querySelector(`.market[data-key="${CSS.escape(key)}"]`);
  if (!node) {
    node = document.createElement("div");
    node.className = "market";
    node.dataset.key = key;
    node.dataset.order = `${market.market_id.padStart(6, "0")}/${market.specifiers}`;
    const container = entry.node.querySelector(".markets");
    const after = [...container.children].find((n) => n.dataset.order > node.dataset.order);
    container.insertBefore(node, after || null);
  }
  node.dataset.status = market.status;
  node.dataset.version = market.version;
  if (!node.firstElementChild) {
    const title = document.createElement("div");
    title.className = "market-name";
    const name = document.createElement("span");
    name.className = "market-label";
    const state = document.createElement("span");
    state.className = "market-state";
    title.append(name, state);
    const prices = document.createElement("div");
    prices.className = "prices";
    node.append(title, prices);
  }
  node.querySelector(".market-label").textContent = marketLabel(market);
  node.querySelector(".market-state").textContent =
    market.status === "active" ? "" : market.status.replace("_", " ");
  // Cells are updated in place so that a running flash survives the next change.
  const prices = node.querySelector(".prices");
  const cells = new Map([...prices.children].map((cell) => [cell.dataset.outcome, cell]));
  const labels = OUTCOME_LABELS[market.market_id] || {};
  const ordered = market.outcomes.map((outcome) => {
    const text = outcome.name || labels[outcome.id] || outcome.id;
    const cell = cells.get(outcome.id) || newCell(outcome.id, text);
    cells.delete(outcome.id);
    const label = cell.querySelector(".label");
    if (label.textContent !== text) label.textContent = text;
    label.title = text;
    cell.classList.toggle("inactive", !outcome.active);
    cell.querySelector(".odds").textContent = formatOdds(outcome.odds);
    const result = cell.querySelector(".result");
    cell.classList.remove("won", "lost", "undecided");
    if (market.status === "settled" && outcome.result) {
      const voided = outcome.void_factor ? ` void ${outcome.void_factor}` : "";
      const deadHeat = outcome.dead_heat_factor ? ` dh ${outcome.dead_heat_factor}` : "";
      result.textContent = `${outcome.result}${voided}${deadHeat}`;
      cell.classList.add(outcome.result);
    } else {
      result.textContent = "";
    }
    return cell;
  });
  for (const gone of cells.values()) gone.remove();
  ordered.forEach((cell, i) => {
    if (prices.children[i] !== cell) prices.insertBefore(cell, prices.children[i] || null);
  });
  renderEvent(entry.summary);
}

function newCell(outcomeId, text) {
  const cell = document.createElement("div");
  cell.className = "price";
  cell.dataset.outcome = outcomeId;
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = text;
  const odds = document.createElement("span");
  odds.className = "odds";
  const result = document.createElement("span");
  result.className = "result";
  cell.append(label, odds, result);
  return cell;
}

function flash(cell, direction) {
  cell.classList.remove("up", "down");
  void cell.offsetWidth;  // restart the animation
  cell.classList.add(direction);
  clearTimeout(cell.flashTimer);
  cell.flashTimer = setTimeout(() => cell.classList.remove("up", "down"), 3000);
}

async function refetchMarket(eventId, marketId, specifiers) {
  const query = specifiers ? `?specifiers=${encodeURIComponent(specifiers)}` : "";
  const market = await getJson(
    `/events/${encodeURIComponent(eventId)}/markets/${encodeURIComponent(marketId)}${query}`);
  if (market) {
    markets.set(marketKey(eventId, marketId, specifiers), market);
    renderMarket(market);
  }
}

async function loadEvent(eventId) {
  const view = await getJson(`/events/${encodeURIComponent(eventId)}`);
  if (!view) return;
  renderEvent(events.get(eventId)?.summary ?? view);
  const entry = events.get(eventId);
  const first = view.markets[0];
  if (first && !view.markets.some((m) => MAIN_MARKETS.has(m.market_id))) {
    entry.fallback = marketKey(eventId, first.market_id, first.specifiers);
  }
  for (const market of view.markets) {
    const withEvent = { ...market, event_id: eventId };
    markets.set(marketKey(eventId, market.market_id, market.specifiers), withEvent);
    renderMarket(withEvent);
  }
}

// One odds-changes.v2 record: a market version with its price and status changes.
function applyChanges(record) {
  const key = marketKey(record.event_id, record.market_id, record.specifiers);
  const market = markets.get(key);
  if (!market) {
    const entry = events.get(record.event_id);
    if (entry && (MAIN_MARKETS.has(record.market_id) || entry.fallback === key)) {
      refetchMarket(record.event_id, record.market_id, record.specifiers);
    }
    return;
  }
  if (record.version <= market.version) return;  // already in the snapshot we hold
  if (record.version > market.version + 1) {     // we missed a version: read it whole
    refetchMarket(record.event_id, record.market_id, record.specifiers);
    return;
  }
  market.version = record.version;
  let refetch = false;
  const moves = [];
  for (const change of record.changes) {
    if (change.kind === "status") {
      market.status = change.new;
      if (["settled", "cancelled"].includes(change.new) || ["settled", "cancelled"].includes(change.old)) {
        refetch = true;
      }
      continue;
    }
    const outcome = market.outcomes.find((o) => o.id === change.outcome_id);
    if (!outcome) {
      refetch = true;
      continue;
    }
    outcome.odds = change.new;
    outcome.active = change.new != null;
    if (typeof change.old === "number" && typeof change.new === "number" && change.old !== change.new) {
      moves.push([outcome.id, change.new > change.old ? "up" : "down"]);
    }
  }
  renderMarket(market);
  const node = events.get(record.event_id)?.node;
  for (const [outcomeId, direction] of moves) {
    const cell = node?.querySelector(
      `.market[data-key="${CSS.escape(key)}"] .price[data-outcome="${CSS.escape(outcomeId)}"]`);
    if (cell) flash(cell, direction);
  }
  if (refetch) refetchMarket(record.event_id, record.market_id, record.specifiers);
}

function applyEvent(summary) {
  if (summary.deleted) return;
  const known = events.has(summary.event_id);
  renderEvent(summary);
  if (!known) loadEvent(summary.event_id);
}

function handle(kind, data) {
  const record = JSON.parse(data);
  if (!loaded) { pending.push([kind, record]); return; }
  if (kind === "event") applyEvent(record); else applyChanges(record);
}

async function load() {
  loaded = false;
  pending = [];
  for (const entry of events.values()) entry.node.remove();
  events.clear();
  markets.clear();
  const summaries = [];
  for (let offset = 0; offset < MAX_EVENTS; offset += PAGE) {
    const page = await getJson(`/events?limit=${PAGE}&offset=${offset}`);
    summaries.push(...page.events);
    if (offset + PAGE >= page.total) break;
  }
  summaries.forEach(renderEvent);
  const queue = summaries.map((s) => s.event_id);
  const workers = Array.from({ length: 6 }, async () => {
    while (queue.length) await loadEvent(queue.shift());
  });
  await Promise.all(workers);
  loaded = true;
  const buffered = pending;
  pending = [];
  for (const [kind, record] of buffered) {
    if (kind === "event") applyEvent(record); else applyChanges(record);
  }
  document.body.dataset.loaded = "true";
}

function connect() {
  const indicator = document.getElementById("connection");
  const source = new EventSource("/stream");
  for (const kind of ["changes", "event"]) {
    source.addEventListener(kind, (message) => handle(kind, message.data));
  }
  source.addEventListener("reset", () => load());
  source.onopen = () => { indicator.dataset.state = "live"; indicator.textContent = "live"; };
  source.onerror = () => {
    indicator.dataset.state = "reconnecting";
    indicator.textContent = "reconnecting…";
  };
}

connect();
load().catch((err) => {
  document.getElementById("connection").textContent = `failed to load: ${err.message}`;
});
