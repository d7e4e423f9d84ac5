// What the admin panels share: running an action, and the limits dialog for users and keys.

import { call, describe } from "./api.js";
import { $, say } from "./dom.js";

const LIMITS = ["requests_per_minute", "tokens_per_minute", "max_concurrent", "monthly_requests", "monthly_tokens"];

let editing = null; // { path, done } while the limits dialog is open

/** Run an admin action: errors go to the page's alert line; `done` reports success in the status line. */
export async function act(work, done) {
  say("admin-error", "");
  try {
    const result = await work();
    if (done) say("admin-status", typeof done === "function" ? done(result) : done);
    return result;
  } catch (error) {
    say("admin-error", describe(error));
    return undefined;
  }
}

/** A short text for a set of limits ("60/min, 5 at once"), "none" when none is set. */
export function limitsText(limits) {
  const parts = [];
  if (limits.requests_per_minute) parts.push(`${limits.requests_per_minute} req/min`);
  if (limits.tokens_per_minute) parts.push(`${limits.tokens_per_minute} tok/min`);
  if (limits.max_concurrent) parts.push(`${limits.max_concurrent} at once`);
  if (limits.monthly_requests) parts.push(`${limits.monthly_requests} req/month`);
  if (limits.monthly_tokens) parts.push(`${limits.monthly_tokens} tok/month`);
  return parts.join(", ") || "none";
}

/** Open the limits dialog for `what` (a title), filled with `limits`; saving PATCHes `path` then calls `done`. */
export function editLimits(what, path, limits, done) {
  const form = $("limits-form");
  $("limits-title").textContent = `Limits: ${what}`;
  for (const name of LIMITS) form.elements[name].value = limits[name] ?? "";
  say("limits-error", "");
  editing = { path, done };
  $("limits-dialog").showModal();
}

export function closeLimits() {
  editing = null;
}

export async function saveLimits() {
  if (!editing) return;
  const form = $("limits-form");
  const body = {};
  for (const name of LIMITS) {
    const value = form.elements[name].value.trim();
    body[name] = value ? Number(value) : null;
  }
  const { path, done } = editing;
  try {
    await call(path, { method: "PATCH", json: body });
    $("limits-dialog").close();
    say("admin-status", "Limits saved. Every server applies them within seconds.");
    await done();
  } catch (error) {
    say("limits-error", describe(error));
  }
}
