// Admin, keys and users: list, create (a new key is shown once, then forgotten), revoke, limits.

import { call, getJson } from "./api.js";
import { $, announce, el, when } from "./dom.js";
import { act, editLimits, limitsText } from "./admin-common.js";

export function init() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createKey();
  });
  $("user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createUser();
  });
  $("key-copy").addEventListener("click", copyKey);
  $("key-done").addEventListener("click", () => {
    forgetKey();
    $("key-form").querySelector("button[type=submit]").focus();
  });
}

export async function show(sub) {
  await (sub === "users" ? loadUsers() : Promise.all([loadKeys(), loadUsers()]));
}

export function hide() {
  forgetKey();
}

export function reset() {
  forgetKey();
  $("keys-table").tBodies[0].replaceChildren();
  $("users-table").tBodies[0].replaceChildren();
}

/** The new key leaves the page: it was shown once. */
function forgetKey() {
  $("key-created-value").value = "";
  $("key-created").hidden = true;
}

function state(key) {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && Date.parse(key.expires_at) <= Date.now()) return "expired";
  return "active";
}

async function loadKeys() {
  const listing = await act(() => getJson("v1/admin/keys"));
  if (!listing) return;
  $("keys-table").tBodies[0].replaceChildren(...listing.data.map(keyRow));
}

function keyRow(key) {
  const status = state(key);
  const shown = `sk-${key.prefix}…`;
  const actions = el("td", { class: "tools" },
    el("button", { type: "button", class: "small ghost", "aria-label": `Limits of ${shown}`, text: "Limits",
      onclick: () => editLimits(shown, `v1/admin/keys/${key.id}/limits`, key.limits, loadKeys) }),
    status === "active" ? el("button", { type: "button", class: "small danger", "aria-label": `Revoke ${shown}`,
      text: "Revoke", onclick: () => revoke(key, shown) }) : null,
  );
  return el("tr", { class: status === "active" ? "" : "revoked", dataset: { prefix: key.prefix } },
    el("td", {}, el("code", { text: shown })),
    el("td", { text: key.user }),
    el("td", { text: key.name }),
    el("td", { text: key.scopes.join(", ") }),
    el("td", { class: "state", text: status }),
    el("td", { text: when(key.last_used_at) }),
    el("td", { text: limitsText(key.limits) }),
    actions,
  );
}

async function createKey() {
  const form = $("key-form");
  const scopes = [...form.querySelectorAll("input[name=scope]:checked")].map((box) => box.value);
  const body = { user: $("key-user").value.trim(), name: $("key-name").value.trim(), scopes };
  const days = $("key-expires").value;
  if (days) body.expires_in_days = Number(days);
  if (!body.user || !scopes.length) {
    await act(() => Promise.reject(new Error("Name a user and choose at least one scope.")));
    return;
  }
  const made = await act(() => getJson("v1/admin/keys", { method: "POST", json: body }),
    (key) => `Key sk-${key.prefix}… made for ${key.user}.`);
  if (!made) return;
  $("key-created-value").value = made.key;
  $("key-created").hidden = false;
  $("key-created-value").focus();
  $("key-created-value").select();
  form.reset();
  await loadKeys();
}

async function copyKey() {
  const field = $("key-created-value");
  try {
    await navigator.clipboard.writeText(field.value);
    announce("Copied.");
  } catch {
    field.select(); // no clipboard here (plain http): the key is selected for Ctrl+C
    announce("Selected: press Ctrl+C to copy.");
  }
}

async function revoke(key, shown) {
  if (!window.confirm(`Revoke ${shown} of ${key.user}? Every server refuses it within seconds.`)) return;
  await act(() => call(`v1/admin/keys/${key.id}`, { method: "DELETE" }), `Revoked ${shown}.`);
  await loadKeys();
}

async function loadUsers() {
  const listing = await act(() => getJson("v1/admin/users"));
  if (!listing) return;
  $("user-names").replaceChildren(...listing.data.map((user) => el("option", { value: user.name })));
  $("users-table").tBodies[0].replaceChildren(
    ...listing.data.map((user) =>
      el("tr", {},
        el("th", { scope: "row", text: user.name }),
        el("td", { text: when(user.created_at) }),
        el("td", { text: limitsText(user.limits) }),
        el("td", { class: "tools" }, el("button", { type: "button", class: "small ghost", "aria-label": `Limits of ${user.name}`,
          text: "Limits", onclick: () => editLimits(user.name, `v1/admin/users/${encodeURIComponent(user.name)}/limits`,
            user.limits, loadUsers) })),
      ),
    ),
  );
}

async function createUser() {
  const name = $("user-name").value.trim();
  if (!name) return;
  const made = await act(() => getJson("v1/admin/users", { method: "POST", json: { name } }), `User ${name} added.`);
  if (!made) return;
  $("user-name").value = "";
  await loadUsers();
}
