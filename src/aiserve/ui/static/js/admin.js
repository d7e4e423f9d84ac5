// Admin (admin keys only): the live server, keys, users, models; one panel per sub-route (#/admin/keys, ...).

import { $, say } from "./dom.js";
import { closeLimits, saveLimits } from "./admin-common.js";
import * as keys from "./admin-keys.js";
import * as models from "./admin-models.js";
import * as server from "./admin-server.js";

const PANELS = { "": ["admin-server", server], keys: ["admin-keys", keys], users: ["admin-users", keys], models: ["admin-models", models] };

let shown = null;

export async function init() {
  server.init();
  keys.init();
  models.init();
  $("limits-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveLimits();
  });
  $("limits-cancel").addEventListener("click", () => $("limits-dialog").close());
  $("limits-dialog").addEventListener("close", closeLimits);
}

export async function show(sub = "") {
  const [id, panel] = PANELS[sub] || PANELS[""];
  if (shown && shown !== panel) shown.hide();
  for (const [other] of Object.values(PANELS)) $(other).hidden = other !== id;
  for (const link of document.querySelectorAll(".tabs a")) {
    const current = link.getAttribute("href") === (sub ? `#/admin/${sub}` : "#/admin");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  say("admin-error", "");
  shown = panel;
  await panel.show(sub);
}

export function hide() {
  if (shown) shown.hide();
  shown = null;
}

export function reset() {
  hide();
  keys.reset();
  server.reset();
}
