// The server's models (GET /v1/models), read once per sign-in, for the playground's model pickers.

import { getJson } from "./api.js";
import { fillSelect } from "./dom.js";

let listing = null;

/** Forget the list (on sign-out, or after an admin loaded or unloaded a model). */
export function forgetModels() {
  listing = null;
}

/** Every model card; read from the server the first time. */
export async function models() {
  if (!listing) {
    listing = getJson("v1/models").then((body) => body.data);
    listing.catch(() => {
      listing = null;
    });
  }
  return listing;
}

/** Fill `select` with the names of the models ready for `task` ("chat", "classification", ...). */
export async function pickModel(select, task) {
  const cards = (await models()).filter((card) => card.task === task && card.status === "ready");
  fillSelect(select, cards.map((card) => card.id));
  select.disabled = cards.length === 0;
  return cards.length;
}

/** The model chosen in `select`; while the list is still on its way, the list is awaited first. */
export async function chosenModel(select, task) {
  if (!select.value) await pickModel(select, task);
  if (!select.value) throw new Error("No model for this is ready on this server.");
  return select.value;
}
