// Admin, models: load and unload catalogue models on the running server; movable aliases.

import { call, getJson } from "./api.js";
import { $, el, say } from "./dom.js";
import { act } from "./admin-common.js";
import { forgetModels } from "./models.js";

export function init() {
  $("load-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  $("alias-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setAlias();
  });
}

export async function show() {
  await Promise.all([loadModels(), loadAliases()]);
}

export function hide() {}

async function loadModels() {
  forgetModels();
  const listing = await act(() => getJson("v1/models"));
  if (!listing) return;
  $("models-table").tBodies[0].replaceChildren(
    ...listing.data.map((card) =>
      el("tr", {},
        el("th", { scope: "row" }, el("code", { text: card.id })),
        el("td", { text: card.task }),
        el("td", { text: card.error ? `${card.status}: ${card.error}` : card.status }),
        el("td", { text: [card.runtime, card.device].filter(Boolean).join(" on ") }),
        el("td", { text: card.aliases.join(", ") }),
        el("td", { class: "tools" }, el("button", { type: "button", class: "small danger", "aria-label": `Unload ${card.id}`,
          text: "Unload", onclick: () => unload(card.id) })),
      ),
    ),
  );
}

async function loadAliases() {
  const listing = await act(() => getJson("v1/admin/aliases"));
  if (!listing) return;
  $("aliases-table").tBodies[0].replaceChildren(
    ...listing.data.map((alias) =>
      el("tr", {},
        el("th", { scope: "row" }, el("code", { text: alias.alias })),
        el("td", {}, el("code", { text: alias.model })),
        el("td", { class: "tools" }, el("button", { type: "button", class: "small danger", "aria-label": `Remove alias ${alias.alias}`,
          text: "Remove", onclick: () => removeAlias(alias.alias) })),
      ),
    ),
  );
}

async function load() {
  const model = $("load-model").value.trim();
  if (!model) return;
  say("admin-status", `Loading ${model}… (a first load prepares the model; it can take minutes)`);
  const card = await act(() => getJson("v1/admin/models/load", { method: "POST", json: { model } }),
    (loaded) => `${loaded.id} is ${loaded.status}.`);
  if (card) $("load-model").value = "";
  await loadModels();
}

async function unload(model) {
  if (!window.confirm(`Stop serving ${model}? Requests already queued on it finish first.`)) return;
  await act(() => call("v1/admin/models/unload", { method: "POST", json: { model } }), `${model} unloaded.`);
  await loadModels();
}

async function setAlias() {
  const alias = $("alias-name").value.trim();
  const model = $("alias-model").value.trim();
  if (!alias || !model) return;
  say("admin-status", `Pointing ${alias} at ${model}…`);
  const done = await act(() => call(`v1/admin/aliases/${encodeURIComponent(alias)}`, { method: "PUT", json: { model } }),
    `${alias} now points at ${model}.`);
  if (done) $("alias-form").reset();
  await Promise.all([loadModels(), loadAliases()]);
}

async function removeAlias(alias) {
  await act(() => call(`v1/admin/aliases/${encodeURIComponent(alias)}`, { method: "DELETE" }), `Alias ${alias} removed.`);
  await Promise.all([loadModels(), loadAliases()]);
}
