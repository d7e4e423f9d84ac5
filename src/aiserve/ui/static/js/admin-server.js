// Admin, live server: GET /v1/admin/state every 2 s while shown; rates from the difference of two readings.

import { getJson } from "./api.js";
import { $, cards, count, decimal, el } from "./dom.js";
import { act } from "./admin-common.js";
import { fit, plot } from "./charts.js";

const EVERY_MS = 2000;
const KEEP = 90; // readings on the chart: 3 minutes

let timer = null;
let previous = null; // { at, state }
let history = { x: [], tokens: [], queued: [] };

export function init() {
  fit($("chart-live"));
}

export async function show() {
  stop();
  await poll();
}

export function hide() {
  stop();
}

export function reset() {
  stop();
  previous = null;
  history = { x: [], tokens: [], queued: [] };
}

function stop() {
  clearTimeout(timer);
  timer = null;
}

async function poll() {
  const state = await act(() => getJson("v1/admin/state"));
  if (!state) return; // the error is on the page; polling stops until the panel is shown again
  draw(state, performance.now());
  timer = setTimeout(poll, EVERY_MS);
}

function rate(now, before, field, seconds) {
  return before && seconds > 0 ? Math.max(0, now[field] - before[field]) / seconds : 0;
}

function draw(state, at) {
  const seconds = previous ? (at - previous.at) / 1000 : 0;
  const before = new Map((previous?.state.models || []).map((m) => [m.key, m]));
  let tokensPerSecond = 0;
  let queued = 0;
  const rows = state.models.map((m) => {
    const last = before.get(m.key);
    const tokens = rate(m, last, "generated_tokens", seconds);
    const batches = last ? m.batches - last.batches : 0;
    const inputs = last ? m.batched_inputs - last.batched_inputs : 0;
    const meanBatch = batches > 0 ? inputs / batches : m.batches ? m.batched_inputs / m.batches : 0;
    tokensPerSecond += tokens;
    queued += m.queue_depth;
    return el("tr", {},
      el("th", { scope: "row" }, el("code", { text: m.model })),
      el("td", { text: m.task }),
      el("td", { text: m.status }),
      el("td", { class: "num", text: count(m.queue_depth) }),
      el("td", { class: "num", text: meanBatch ? decimal(meanBatch) : "–" }),
      el("td", { class: "num", text: count(m.batches) }),
      el("td", { class: "num", text: decimal(tokens) }),
      el("td", { class: "num", text: count(m.generated_tokens) }),
    );
  });
  $("state-models").tBodies[0].replaceChildren(...rows);
  const perSecond = previous ? rate(state, previous.state, "requests", seconds) : 0;
  cards($("state-totals"), [
    ["Up for", uptime(state.uptime_s)],
    ["In flight", count(state.in_flight)],
    ["Requests answered", count(state.requests)],
    ["Requests/s", decimal(perSecond)],
    ["Tokens/s", decimal(tokensPerSecond)],
    ["Queued inputs", count(queued)],
  ]);
  previous = { at, state };
  history.x.push(Date.now() / 1000);
  history.tokens.push(tokensPerSecond);
  history.queued.push(queued);
  for (const series of Object.values(history)) series.splice(0, Math.max(0, series.length - KEEP));
  plot($("chart-live"), {
    series: [
      { label: "Tokens/s", colour: "--bar" },
      { label: "Queued", colour: "--series-2" },
    ],
    xLabel: "Time",
    xRange: (u, min, max) => [Math.min(min, max - 30), max], // at least 30 s wide, up to the readings kept
  }, history.x, history.tokens, history.queued);
}

function uptime(seconds) {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${decimal(seconds / 3600)} h`;
  return `${decimal(seconds / 86400)} days`;
}
