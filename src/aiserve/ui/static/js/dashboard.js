// Dashboard: my usage (GET /v1/usage) over the chosen days, as totals, charts per day and bars per model.

import { describe, getJson } from "./api.js";
import { $, announce, bar, cards, count, decimal, el, percent, say } from "./dom.js";
import { fit, plot } from "./charts.js";

const DAY_S = 86400;
/** Half a day either side, so the first and last days' bars show whole. */
const DAYS = (u, min, max) => [min - DAY_S / 2, max + DAY_S / 2];

export async function init() {
  $("dashboard-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  $("dashboard-days").addEventListener("change", load);
  for (const id of ["chart-requests", "chart-tokens", "chart-success"]) fit($(id));
}

export async function show() {
  await load();
}

export function hide() {}

export function reset() {
  $("dashboard-totals").replaceChildren();
  $("chart-models").replaceChildren();
}

/** Midnight (UTC) `days - 1` days ago, in unix seconds: the first day shown. */
function firstDay(days) {
  const today = Math.floor(Date.now() / 1000 / DAY_S) * DAY_S;
  return today - (days - 1) * DAY_S;
}

async function load() {
  const days = Number($("dashboard-days").value);
  const start = firstDay(days);
  say("dashboard-error", "");
  say("dashboard-status", "Loading…");
  try {
    const report = await getJson("v1/usage", { query: { start: new Date(start * 1000).toISOString() } });
    draw(report, start, days);
    const said = `${count(report.total_requests)} requests in the last ${days} days.`;
    say("dashboard-status", said);
    announce(said);
  } catch (error) {
    say("dashboard-status", "");
    say("dashboard-error", describe(error));
  }
}

function draw(report, start, days) {
  cards($("dashboard-totals"), [
    ["Requests", count(report.total_requests)],
    ["Success rate", report.total_requests ? percent(report.success_rate) : "–"],
    ["Mean latency", `${decimal(report.avg_response_time_ms)} ms`],
    ["Input tokens", count(report.input_tokens)],
    ["Output tokens", count(report.output_tokens)],
    ["Images", count(report.images)],
  ]);
  const byDay = new Map(report.by_day.map((d) => [Date.parse(`${d.day}T00:00:00Z`) / 1000, d]));
  const x = Array.from({ length: days }, (_, i) => start + i * DAY_S);
  const get = (field) => x.map((t) => byDay.get(t)?.[field] ?? 0);
  const requests = get("requests");
  const ok = get("successful_requests");
  const success = requests.map((n, i) => (n ? (100 * ok[i]) / n : null));
  plot($("chart-requests"), { series: [{ label: "Requests", colour: "--bar" }], bars: true, xRange: DAYS }, x, requests);
  plot($("chart-tokens"), {
    series: [
      { label: "Input tokens", colour: "--bar" },
      { label: "Output tokens", colour: "--series-2" },
    ],
    xRange: DAYS,
  }, x, get("input_tokens"), get("output_tokens"));
  plot($("chart-success"), { series: [{ label: "Success %", colour: "--series-3" }], points: true, yRange: [0, 100], xRange: DAYS },
    x, success);
  const most = Math.max(1, ...report.by_model.map((m) => m.requests));
  $("chart-models").replaceChildren(
    ...report.by_model.map((m) => bar(m.model || "(none)", m.requests / most, count(m.requests))),
  );
  if (!report.by_model.length) $("chart-models").append(el("li", { class: "muted", text: "No requests yet." }));
  rows($("dashboard-days-table"), report.by_day.map((d) => [d.day, d]));
  rows($("dashboard-models-table"), report.by_model.map((m) => [m.model || "(none)", m]));
}

function rows(table, entries) {
  const fields = ["requests", "successful_requests", "input_tokens", "output_tokens", "images"];
  table.tBodies[0].replaceChildren(
    ...entries.map(([name, slice]) =>
      el("tr", {}, el("th", { scope: "row", text: name }), ...fields.map((f) => el("td", { class: "num", text: count(slice[f]) }))),
    ),
  );
}
