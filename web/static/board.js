// The live odds board: loads /events and each event's markets, then follows /stream.
// Clicking a price puts it on the bet slip, which follows the same stream and asks
// POST /bets/check whether the bet can be taken.
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
    node.dataset.eventId = market.event_id;
    node.dataset.marketId = market.market_id;
    node.dataset.specifiers = market.specifiers;
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
    markSelected(cell, slip.has(selectionKey(key, outcome.id)));
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
  const cell = document.createElement("button");
  cell.type = "button";
  cell.className = "price";
  cell.setAttribute("aria-pressed", "false");
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
    slipMarketChanged(market);
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
    slipMarketChanged(withEvent);
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
  slipMarketChanged(market);
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
  slipEventChanged(summary.event_id);
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

// ---------------------------------------------------------------------------------------
// The bet slip. Its rows follow the markets held above (the same /stream): a change
// updates only the rows of its market. Placing asks POST /bets/check; a "pending" answer
// (a bet delay) is counted down and sent again with its ticket_id.

const POLICIES = new Set(["exact", "higher", "any"]);
const SELECTION_REASONS = {
  event_not_found: () => "Event not found",
  market_not_found: () => "Market no longer offered",
  outcome_not_found: () => "Selection no longer offered",
  market_not_active: (s) => `Market ${words(s.market_status || "not active")}`,
  outcome_inactive: () => "Selection not available",
  producer_down: () => "Odds feed interrupted",
  price_changed: (s) => typeof s.current_odds === "number"
    ? `Price changed to ${formatOdds(s.current_odds)}` : "Price changed",
  event_ended: () => "Event ended",
  suspended_during_delay: () => "Market suspended during the bet delay",
};
const TICKET_REASONS = {
  correlated: "Selections from the same event cannot be combined",
  ticket_unknown: "The ticket is unknown: place again",
  ticket_expired: "The ticket expired: place again",
  ticket_mismatch: "The ticket does not match the slip: place again",
};

const slip = new Map();  // selection key -> selection (see addSelection)
let placements = 0;
let placing = 0;         // the placement under way (0: none); a change to the slip abandons it
let countdownTimer = null;

const selectionKey = (key, outcomeId) => `${key}/${outcomeId}`;
const words = (code) => String(code).replaceAll("_", " ");

function markSelected(cell, selected) {
  if (cell.classList.contains("selected") === selected) return;
  cell.classList.toggle("selected", selected);
  cell.setAttribute("aria-pressed", String(selected));
}

function priceCell(selection) {
  const node = events.get(selection.event_id)?.node;
  return node?.querySelector(`.market[data-key="${CSS.escape(selection.market)}"]`
    + ` .price[data-outcome="${CSS.escape(selection.outcome_id)}"]`);
}

function setUpSlip() {
  document.getElementById("board").addEventListener("click", (click) => {
    const cell = click.target.closest(".price");
    const market = cell?.closest(".market");
    if (!market) return;
    toggleSelection(market.dataset.key, cell.dataset.outcome);
  });
  document.getElementById("slip-rows").addEventListener("click", (click) => {
    const row = click.target.closest(".slip-remove")?.closest(".slip-row");
    if (row) removeSelection(row.dataset.key);
  });
  document.getElementById("slip-stake").addEventListener("input", () => slipEdited());
  document.getElementById("slip-policy").addEventListener("change", () => slipEdited());
  document.getElementById("slip-place").addEventListener("click", () => placeSlip());
  renderSlip();
}

function toggleSelection(key, outcomeId) {
  const id = selectionKey(key, outcomeId);
  if (slip.has(id)) {
    removeSelection(id);
    return;
  }
  const market = markets.get(key);
  const outcome = market?.outcomes.find((o) => o.id === outcomeId);
  if (typeof outcome?.odds !== "number") return;  // nothing to ask for without a price
  const node = document.getElementById("slip-row-template").content.firstElementChild
    .cloneNode(true);
  node.dataset.key = id;
  const selection = {
    key: id, market: key, event_id: market.event_id, market_id: market.market_id,
    specifiers: market.specifiers, outcome_id: outcomeId,
    odds: outcome.odds, version: market.version, addedOdds: outcome.odds,
    answer: null, node,
  };
  slip.set(id, selection);
  document.getElementById("slip-rows").append(node);
  renderRow(selection);
  const cell = priceCell(selection);
  if (cell) markSelected(cell, true);
  slipEdited();
}

function removeSelection(id) {
  const selection = slip.get(id);
  if (!selection) return;
  slip.delete(id);
  selection.node.remove();
  const cell = priceCell(selection);
  if (cell) markSelected(cell, false);
  slipEdited();
}

// A market changed (stream, refetch or reload): update its rows only.
function slipMarketChanged(market) {
  if (slip.size === 0) return;
  const key = marketKey(market.event_id, market.market_id, market.specifiers);
  let changed = false;
  for (const selection of slip.values()) {
    if (selection.market === key) {
      renderRow(selection);
      changed = true;
    }
  }
  if (changed) renderTotals();
}

function slipEventChanged(eventId) {
  for (const selection of slip.values()) {
    if (selection.event_id === eventId) renderRow(selection);
  }
}

function renderRow(selection) {
  const market = markets.get(selection.market);
  const node = selection.node;
  if (market) {
    const outcome = market.outcomes.find((o) => o.id === selection.outcome_id);
    const odds = typeof outcome?.odds === "number" ? outcome.odds : null;
    if (odds !== null && selection.odds !== null && odds !== selection.odds) {
      flash(node.querySelector(".slip-price"), odds > selection.odds ? "up" : "down");
    }
    selection.odds = odds;
    selection.version = market.version;
    let state = "active";
    if (market.status !== "active") state = market.status;
    else if (!outcome) state = "gone";
    else if (!outcome.active || odds === null) state = "inactive";
    node.dataset.state = state;
    const labels = OUTCOME_LABELS[market.market_id] || {};
    setText(node.querySelector(".slip-market"), marketLabel(market));
    setText(node.querySelector(".slip-outcome"),
      outcome?.name || labels[selection.outcome_id] || selection.outcome_id);
    setText(node.querySelector(".slip-state"), {
      active: "", gone: "no longer offered", inactive: "not available",
    }[state] ?? words(state));
  }
  const summary = events.get(selection.event_id)?.summary;
  setText(node.querySelector(".slip-event"), summary?.home
    ? (summary.away ? `${summary.home} – ${summary.away}` : summary.home) : selection.event_id);
  setText(node.querySelector(".slip-odds"), formatOdds(selection.odds));
  setText(node.querySelector(".slip-was"), selection.odds !== selection.addedOdds
    ? `was ${formatOdds(selection.addedOdds)}` : "");
  const answer = selection.answer;
  node.dataset.answer = answer?.status ?? "";
  let reason = "";
  if (answer?.status === "rejected" && answer.reason) {
    reason = (SELECTION_REASONS[answer.reason] || (() => words(answer.reason)))(answer);
  } else if (answer?.status === "rejected") {
    reason = "Not accepted";
  } else if (answer?.status === "accepted" && typeof answer.odds === "number") {
    // A leg that would be taken, of a ticket that was not (another leg was refused).
    reason = `${answer.ticket === "accepted" ? "Accepted" : "Available"} at ${formatOdds(answer.odds)}`;
  } else if (answer?.status === "pending") {
    reason = "Waiting for the bet delay";
  }
  setText(node.querySelector(".slip-reason"), reason);
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// Exact decimal arithmetic (BigInt), so that the return shown is the server's: stake x
// the product of the odds, rounded half-even to cents.
function decimal(value) {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(String(value).trim());
  if (!match) return null;
  const fraction = match[2] || "";
  return { digits: BigInt(match[1] + fraction), scale: fraction.length };
}

function product(values) {
  let digits = 1n;
  let scale = 0;
  for (const value of values) {
    const parsed = decimal(value);
    if (!parsed) return null;
    digits *= parsed.digits;
    scale += parsed.scale;
  }
  return { digits, scale };
}

function rounded({ digits, scale }, places) {
  let units = digits;
  if (scale <= places) {
    units *= 10n ** BigInt(places - scale);
  } else {
    const divisor = 10n ** BigInt(scale - places);
    units = digits / divisor;
    const twice = (digits % divisor) * 2n;
    if (twice > divisor || (twice === divisor && units % 2n === 1n)) units += 1n;
  }
  const text = units.toString().padStart(places + 1, "0");
  return places ? `${text.slice(0, -places)}.${text.slice(-places)}` : text;
}

// Combined odds: at least two decimals, at most four.
function formatCombined(value) {
  const exact = typeof value === "number" ? decimal(value) : value;
  if (!exact) return "–";
  const [whole, fraction] = rounded(exact, 4).split(".");
  return `${whole}.${fraction.replace(/0+$/, "").padEnd(2, "0")}`;
}

function formatMoney(value) {
  return typeof value === "number" ? value.toFixed(2) : "–";
}

function stakeValue() {
  const text = document.getElementById("slip-stake").value;
  const parsed = decimal(text);
  return parsed && parsed.digits > 0n ? text.trim() : null;
}

function renderTotals() {
  const selections = [...slip.values()];
  const odds = selections.map((s) => s.odds);
  const combined = selections.length && odds.every((o) => typeof o === "number")
    ? product(odds) : null;
  const stake = stakeValue();
  setText(document.getElementById("slip-odds"), combined ? formatCombined(combined) : "–");
  setText(document.getElementById("slip-return"), combined && stake
    ? rounded(product([...odds, stake]), 2) : "–");
  document.getElementById("slip-place").disabled =
    selections.length === 0 || stake === null || placing !== 0;
}

function renderSlip() {
  const count = slip.size;
  document.getElementById("slip").classList.toggle("is-empty", count === 0);
  setText(document.getElementById("slip-count"), count ? `(${count})` : "");
  renderTotals();
}

// The slip changed: an answer (or a placement under way) no longer describes it.
function slipEdited() {
  placing = 0;
  clearAnswer();
  for (const selection of slip.values()) {
    if (selection.answer) {
      selection.answer = null;
      renderRow(selection);
    }
  }
  renderSlip();
}

function clearAnswer() {
  clearInterval(countdownTimer);
  countdownTimer = null;
  const box = document.getElementById("slip-answer");
  box.hidden = true;
  box.dataset.status = "";
  for (const part of box.children) part.textContent = "";
}

function showAnswer(status, title, detail = "") {
  const box = document.getElementById("slip-answer");
  box.hidden = false;
  box.dataset.status = status;
  setText(box.querySelector(".answer-status"), title);
  setText(box.querySelector(".answer-detail"), detail);
  setText(box.querySelector(".answer-countdown"), "");
}

async function placeSlip() {
  const stake = stakeValue();
  const policy = document.getElementById("slip-policy").value;
  if (slip.size === 0 || stake === null || !POLICIES.has(policy)) return;
  clearAnswer();
  const run = ++placements;
  placing = run;
  renderTotals();
  const request = {
    selections: [...slip.values()].map((s) => ({
      event_id: s.event_id, market_id: s.market_id, specifiers: s.specifiers,
      outcome_id: s.outcome_id, odds: s.odds, version: s.version,
    })),
    stake: Number(stake),
    price_policy: policy,
    allow_same_event: false,
  };
  showAnswer("checking", "Checking…");
  try {
    let answer = await checkBets(request);
    while (placing === run && answer.status === "pending") {
      showPerSelection(answer);
      await countDown(answer, run);
      if (placing !== run) return;
      answer = await checkBets({ ...request, ticket_id: answer.ticket_id });
    }
    if (placing === run) showFinal(answer);
  } catch (err) {
    if (placing === run) showAnswer("error", "Could not check the bet", err.message);
  } finally {
    if (placing === run) {
      placing = 0;
      renderTotals();
    }
  }
}

async function checkBets(request) {
  const response = await fetch("/bets/check", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(request),
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok || !body || typeof body.status !== "string") {
    const message = body?.error?.message;
    throw new Error(message ? `${message} (HTTP ${response.status})` : `HTTP ${response.status}`);
  }
  return body;
}

function countDown(answer, run) {
  const wait = Math.max(0, Number(answer.check_after_ms) || 0);
  const deadline = performance.now() + wait;
  showAnswer("pending", "Pending", "The market has a bet delay; the bet is checked again after it.");
  const line = document.querySelector("#slip-answer .answer-countdown");
  const tick = () => {
    const left = Math.max(0, deadline - performance.now());
    line.dataset.remainingMs = String(Math.round(left));
    setText(line, `Checking again in ${(left / 1000).toFixed(1)} s`);
  };
  tick();
  clearInterval(countdownTimer);
  countdownTimer = setInterval(tick, 100);
  return new Promise((resolve) => setTimeout(() => {
    if (placing === run) {
      clearInterval(countdownTimer);
      countdownTimer = null;
    }
    resolve();
  }, wait));
}

function showPerSelection(answer) {
  const answers = new Map((answer.selections || []).map((s) => [
    selectionKey(marketKey(s.event_id, s.market_id, s.specifiers ?? ""), s.outcome_id), s]));
  for (const selection of slip.values()) {
    const found = answers.get(selection.key) || null;
    selection.answer = found && { ...found, ticket: answer.status };
    // The server's price is newer than the stream's: show it, and ask for it next time.
    if (found?.reason === "price_changed" && typeof found.current_odds === "number"
        && (found.current_version ?? 0) > (selection.version ?? 0)) {
      selection.odds = found.current_odds;
      selection.version = found.current_version;
    }
    renderRow(selection);
  }
  renderTotals();
}

function showFinal(answer) {
  showPerSelection(answer);
  if (answer.status === "accepted") {
    showAnswer("accepted", "Accepted",
      `Combined odds ${formatCombined(answer.combined_odds)} · potential return `
      + `${formatMoney(answer.potential_return)}`);
  } else if (answer.status === "rejected") {
    const refused = (answer.selections || []).filter((s) => s.status === "rejected").length;
    const reason = answer.reason
      ? TICKET_REASONS[answer.reason] || words(answer.reason)
      : `${refused === 1 ? "One selection was" : `${refused} selections were`} not accepted`;
    showAnswer("rejected", "Rejected", reason);
  } else {
    showAnswer("error", "Unexpected answer", words(answer.status));
  }
}

setUpSlip();
connect();
load().catch((err) => {
  document.getElementById("connection").textContent = `failed to load: ${err.message}`;
});
